//! [`ProcDir`]: a process's `/proc/<pid>` directory, handed out by [`PidFd::access_proc`].
//!
//! [`PidFd::access_proc`]: crate::PidFd::access_proc

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use crate::{parse, sys};

/// An open `/proc/<pid>` directory. Files are opened relative to it, so they belong to the
/// process whose directory was opened even if the pid is reused later.
///
/// Names are relative to the directory and may not leave it: an absolute name or one with a
/// `..` component is refused (`"ns/net"`, `"task/12/status"` are fine; `"../1/environ"` and
/// `"/etc/passwd"` are not). The magic links of the directory (`cwd`, `root`, `exe`, `fd/N`)
/// lead where the process's own links lead, as `/proc` defines them.
///
/// # Kernel support
/// Any kernel; needs `/proc` mounted for the caller's PID namespace. Handed out by
/// [`PidFd::access_proc`], which re-checks through the pidfd that what was read belongs to
/// the process.
///
/// [`PidFd::access_proc`]: crate::PidFd::access_proc
#[derive(Debug)]
pub struct ProcDir {
    fd: OwnedFd,
    pid: i32,
}

/// Refuses a name that is empty, absolute, or has a `..` component: it could name a file
/// outside the process's directory (another process's, or any file).
fn inside(name: &str) -> io::Result<CString> {
    if name.is_empty() || name.starts_with('/') || name.split('/').any(|c| c == "..") {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the name must be relative to /proc/<pid> and have no `..` component",
        ));
    }
    CString::new(name).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in the name"))
}

impl ProcDir {
    pub(crate) fn open(pid: i32) -> io::Result<ProcDir> {
        let mut path = [0u8; 64];
        let path = parse::path_with_number(&mut path, b"/proc/", pid.into(), b"");
        let path = std::ffi::CStr::from_bytes_with_nul(path).map_err(|_| io::ErrorKind::InvalidInput)?;
        let fd = sys::openat(libc::AT_FDCWD, path, libc::O_DIRECTORY)?;
        Ok(ProcDir { fd, pid })
    }

    /// The pid this directory is named after (in the caller's PID namespace).
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Opens the file `name` (e.g. `"status"`, `"ns/net"`) read-only, close-on-exec.
    ///
    /// # Kernel support
    /// Any kernel; which files exist depends on the kernel and its configuration.
    ///
    /// # Errors
    /// `InvalidInput` for an absolute name, a `..` component or a NUL byte (nothing is opened);
    /// otherwise the `openat` error (`ENOENT` for a missing file or a process that is gone,
    /// `EACCES` where the kernel's ptrace access check refuses).
    pub fn open_file(&self, name: &str) -> io::Result<File> {
        let name = inside(name)?;
        sys::openat(self.fd.as_raw_fd(), &name, 0).map(File::from)
    }

    /// Reads the file `name` whole.
    ///
    /// # Kernel support
    /// As [`ProcDir::open_file`].
    ///
    /// # Errors
    /// As [`ProcDir::open_file`], and the `read` error (`ESRCH` when the process exits meanwhile).
    pub fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.open_file(name)?.read_to_end(&mut out)?;
        Ok(out)
    }

    /// Reads the file `name` whole as UTF-8.
    ///
    /// # Kernel support
    /// As [`ProcDir::open_file`].
    ///
    /// # Errors
    /// As [`ProcDir::read`]; `InvalidData` for content that is not UTF-8.
    pub fn read_to_string(&self, name: &str) -> io::Result<String> {
        String::from_utf8(self.read(name)?).map_err(|_| io::ErrorKind::InvalidData.into())
    }

    /// Reads the symbolic link `name` (e.g. `"exe"`, `"cwd"`, `"ns/net"`).
    ///
    /// # Kernel support
    /// Any kernel (`readlinkat` under the open `/proc/<pid>` directory); which links exist depends
    /// on the kernel and its configuration.
    ///
    /// # Errors
    /// As [`ProcDir::open_file`] for the name; otherwise the `readlinkat` error (`EINVAL` for a
    /// name that is not a link, `EACCES` where the ptrace access check refuses).
    pub fn read_link(&self, name: &str) -> io::Result<PathBuf> {
        let name = inside(name)?;
        let mut buf = vec![0u8; 4096];
        let n = sys::readlinkat(self.fd.as_raw_fd(), &name, &mut buf)?;
        buf.truncate(n);
        Ok(PathBuf::from(std::ffi::OsString::from_vec(buf)))
    }
}

/// The open `/proc/<pid>` directory (for `openat` of your own).
impl AsFd for ProcDir {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_leave_the_directory() {
        let me = ProcDir::open(std::process::id() as i32).unwrap();
        for bad in ["../1/environ", "/etc/passwd", "..", "task/../../1/status", "a/..", ""] {
            assert_eq!(me.open_file(bad).unwrap_err().kind(), io::ErrorKind::InvalidInput, "{bad}");
            assert_eq!(me.read(bad).unwrap_err().kind(), io::ErrorKind::InvalidInput, "{bad}");
            assert_eq!(me.read_to_string(bad).unwrap_err().kind(), io::ErrorKind::InvalidInput, "{bad}");
            assert_eq!(me.read_link(bad).unwrap_err().kind(), io::ErrorKind::InvalidInput, "{bad}");
        }
        // What may be read: files, subdirectories, magic links, names with dots that are not `..`.
        assert!(me.read_to_string("status").unwrap().contains("Tgid:"));
        assert!(me.read_link("ns/net").unwrap().to_string_lossy().starts_with("net:["));
        let tid = std::fs::read_link("/proc/thread-self").unwrap();
        let task = format!("task/{}/./comm", tid.file_name().unwrap().to_str().unwrap());
        assert!(!me.read(&task).unwrap().is_empty());
        assert_eq!(me.open_file("..foo").unwrap_err().raw_os_error(), Some(libc::ENOENT));
    }
}
