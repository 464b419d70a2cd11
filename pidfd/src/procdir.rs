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
#[derive(Debug)]
pub struct ProcDir {
    fd: OwnedFd,
    pid: i32,
}

impl ProcDir {
    pub(crate) fn open(pid: i32) -> io::Result<ProcDir> {
        let mut path = [0u8; 64];
        let path = parse::path_with_number(&mut path, b"/proc/", pid.into(), b"");
        let path = std::ffi::CStr::from_bytes_with_nul(path).map_err(|_| io::ErrorKind::InvalidInput)?;
        let fd = sys::openat(libc::AT_FDCWD, path, libc::O_DIRECTORY)?;
        Ok(ProcDir { fd, pid })
    }

    /// The pid this directory is named after.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Opens the file `name` (e.g. `"status"`, `"ns/net"`) read-only.
    ///
    /// # Errors
    /// The `openat` error.
    pub fn open_file(&self, name: &str) -> io::Result<File> {
        let name = CString::new(name).map_err(|_| io::ErrorKind::InvalidInput)?;
        sys::openat(self.fd.as_raw_fd(), &name, 0).map(File::from)
    }

    /// Reads the file `name` whole.
    ///
    /// # Errors
    /// The `openat` or `read` error.
    pub fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.open_file(name)?.read_to_end(&mut out)?;
        Ok(out)
    }

    /// Reads the file `name` whole as UTF-8.
    ///
    /// # Errors
    /// The `openat` or `read` error; `InvalidData` for non-UTF-8 content.
    pub fn read_to_string(&self, name: &str) -> io::Result<String> {
        String::from_utf8(self.read(name)?).map_err(|_| io::ErrorKind::InvalidData.into())
    }

    /// Reads the symbolic link `name` (e.g. `"exe"`, `"cwd"`, `"ns/net"`).
    ///
    /// # Errors
    /// The `readlinkat` error.
    pub fn read_link(&self, name: &str) -> io::Result<PathBuf> {
        let name = CString::new(name).map_err(|_| io::ErrorKind::InvalidInput)?;
        let mut buf = vec![0u8; 4096];
        let n = sys::readlinkat(self.fd.as_raw_fd(), &name, &mut buf)?;
        buf.truncate(n);
        Ok(PathBuf::from(std::ffi::OsString::from_vec(buf)))
    }
}

impl AsFd for ProcDir {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
