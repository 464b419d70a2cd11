//! What a [`PidFd`] tells of its process: pid, parent, credentials, cgroup, unique id and the
//! `PIDFD_GET_INFO` snapshot, each from the kernel where it has `PIDFD_GET_INFO` (6.13), else
//! from `/proc` with the pidfd re-checked after the read.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use pidfd_sys as uapi;

use crate::error::{Error, Result, from_errno};
use crate::info::{Credentials, ProcessInfo, RawInfo};
use crate::{Feature, PidFd, parse, sys};

impl PidFd {
    /// The process's pid in the caller's PID namespace (a thread id for a thread pidfd).
    ///
    /// # Kernel support
    /// `PIDFD_GET_INFO` (6.13); before, the `Pid:` line of `/proc/self/fdinfo/<fd>` (5.2),
    /// read into a stack buffer, which needs `/proc`. Before 5.5 that line keeps a reaped
    /// process's pid (no `NSpid:` line): there the pid is returned only after
    /// `pidfd_send_signal(0)` shows the process is not reaped. Where 6.13/6.14 refuse a live
    /// process with `ESRCH` (its parent is outside the caller's PID namespace), fdinfo answers.
    ///
    /// # Errors
    /// [`Error::Exited`] once the process has been reaped (a zombie still has its pid);
    /// [`Error::OtherPidNamespace`] when the process is not visible in the caller's namespace
    /// (fdinfo `Pid: 0`, or `EREMOTE` from 7.0); [`Error::NotPidfd`].
    #[doc(alias = "pidfd_getpid")]
    pub fn pid(&self) -> Result<i32> {
        self.proc_pid().map(|p| p.pid)
    }

    /// [`PidFd::pid`], and where it came from, so that a `/proc` fallback re-checks it at the
    /// same place ([`PidFd::recheck`]).
    pub(crate) fn proc_pid(&self) -> Result<ProcPid> {
        if Feature::GetInfo.is_supported() {
            let mut raw = RawInfo::request(uapi::PIDFD_INFO_PID);
            match raw.fetch(self.as_raw_fd()) {
                Ok(()) => return raw.pid().map(|pid| ProcPid { pid, by_fdinfo: false }).ok_or(Error::Exited),
                // Reaped, another PID namespace, or (6.13, 6.14) a live process whose parent
                // is outside the caller's PID namespace: fdinfo tells which, and the pid.
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
                Err(e) => return Err(self.info_error(e)),
            }
        }
        self.fdinfo_pid().map(|pid| ProcPid { pid, by_fdinfo: true })
    }

    /// The fdinfo fallback of [`PidFd::pid`]: open + read into a stack buffer + close. Before
    /// 5.5 (no `NSpid:` line) a reaped process keeps showing its old pid: there the answer is
    /// checked through the pidfd (`pidfd_send_signal` with signal 0 fails with `ESRCH` after
    /// the reap), so a pid that may already be recycled is never returned.
    pub(crate) fn fdinfo_pid(&self) -> Result<i32> {
        match PidFd::fdinfo_of(self.as_raw_fd())? {
            (-1, _) => Err(Error::Exited),
            (0, _) => Err(Error::OtherPidNamespace),
            (pid, true) => Ok(pid),
            (pid, false) => self.unreaped().map(|()| pid),
        }
    }

    /// Whether the process is not reaped yet (a zombie is not reaped), through the pidfd:
    /// `pidfd_send_signal(fd, 0)`. `EPERM` means it exists but we may not signal it.
    pub(crate) fn unreaped(&self) -> Result<()> {
        match sys::pidfd_send_signal(self.as_raw_fd(), 0, None, 0) {
            Ok(()) => Ok(()),
            Err(e) => match e.raw_os_error() {
                Some(libc::EPERM) => Ok(()),
                Some(libc::ESRCH) => Err(Error::Exited),
                Some(libc::EINVAL) => Err(Error::OtherPidNamespace),
                Some(libc::EBADF) => Err(Error::NotPidfd),
                _ => Err(Error::os("pidfd_send_signal(0)", e)),
            },
        }
    }

    /// `PIDFD_GET_INFO` for `mask`, or the pid the `/proc` fallback reads under (from fdinfo)
    /// when the caller must take it: the kernel lacks the ioctl, or (6.13, 6.14) refuses with
    /// `ESRCH` a live process whose parent is outside the caller's PID namespace. One ioctl at
    /// most; the fallback's re-check then reads fdinfo again, not the ioctl that refused.
    fn kernel_info(&self, mask: u64) -> Result<std::result::Result<ProcessInfo, ProcPid>> {
        let fallback = || self.fdinfo_pid().map(|pid| Err(ProcPid { pid, by_fdinfo: true }));
        if !Feature::GetInfo.is_supported() {
            return fallback();
        }
        let mut raw = RawInfo::request(mask);
        match raw.fetch(self.as_raw_fd()) {
            Ok(()) => Ok(Ok(ProcessInfo::new(raw))),
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => fallback(),
            Err(e) => Err(self.info_error(e)),
        }
    }

    /// Maps a `PIDFD_GET_INFO` error. `ESRCH` is what a reaped process gives (6.13, 6.14), what
    /// 6.13-6.18.13 answer for a process in another PID namespace, and what 6.13 and 6.14
    /// answer for a live process whose parent is outside the caller's PID namespace; fdinfo
    /// tells them apart.
    fn info_error(&self, e: io::Error) -> Error {
        match e.raw_os_error() {
            Some(libc::ESRCH) => match self.fdinfo_pid() {
                Ok(_) => Error::Os { op: "ioctl(PIDFD_GET_INFO) on a live process", source: e },
                Err(Error::OtherPidNamespace) => Error::OtherPidNamespace,
                Err(_) => Error::Exited,
            },
            Some(libc::ENOTTY | libc::EINVAL | libc::EBADF) => Error::NotPidfd,
            _ => from_errno("ioctl(PIDFD_GET_INFO)", e),
        }
    }

    /// The parent's pid; 0 when the parent lives outside the caller's PID namespace (or for the
    /// namespace's init).
    ///
    /// # Kernel support
    /// `PIDFD_GET_INFO` (6.13); before (and where 6.13/6.14 refuse a live process with
    /// `ESRCH`), `/proc/<pid>/status`, then a re-check through the pidfd that it still names
    /// that pid and is not reaped (so the answer is never another process's).
    ///
    /// # Errors
    /// As [`PidFd::pid`]; [`Error::Os`] when `/proc/<pid>/status` cannot be read or lacks the
    /// field.
    pub fn ppid(&self) -> Result<i32> {
        let pid = match self.kernel_info(uapi::PIDFD_INFO_PID)? {
            Ok(info) => return info.ppid().ok_or(Error::Exited),
            Err(pid) => pid,
        };
        self.status_fallback(pid)?
            .ppid
            .ok_or(Error::Os { op: "parse /proc/<pid>/status", source: io::Error::from_raw_os_error(libc::ENODATA) })
    }

    /// Real, effective, saved and filesystem user and group ids, mapped into the caller's user
    /// namespace.
    ///
    /// # Kernel support
    /// `PIDFD_GET_INFO` (6.13); before (and where 6.13/6.14 refuse a live process with
    /// `ESRCH`), `/proc/<pid>/status` with the pidfd re-check of [`PidFd::ppid`].
    ///
    /// # Errors
    /// As [`PidFd::ppid`].
    pub fn credentials(&self) -> Result<Credentials> {
        let pid = match self.kernel_info(uapi::PIDFD_INFO_CREDS)? {
            Ok(info) => return info.credentials().ok_or(Error::Exited),
            Err(pid) => pid,
        };
        let st = self.status_fallback(pid)?;
        match (st.uid, st.gid) {
            (Some([ruid, euid, suid, fsuid]), Some([rgid, egid, sgid, fsgid])) => {
                Ok(Credentials { ruid, euid, suid, fsuid, rgid, egid, sgid, fsgid })
            }
            _ => Err(Error::Os { op: "parse /proc/<pid>/status", source: io::Error::from_raw_os_error(libc::ENODATA) }),
        }
    }

    /// The id of the process's cgroup v2 (the kernfs id of its cgroup directory; on 64-bit
    /// kernels also the directory's inode number).
    ///
    /// # Kernel support
    /// `PIDFD_GET_INFO` (6.13); before (and where 6.13/6.14 refuse a live process with
    /// `ESRCH`), the `0::` line of `/proc/<pid>/cgroup` resolved under the cgroup2 mount found
    /// in `/proc/self/mountinfo`, the id read from the directory's file handle
    /// (`name_to_handle_at`, the whole 64-bit id) or, on 64-bit targets where that fails, its
    /// inode number; then the pidfd re-check of [`PidFd::ppid`]. A 32-bit target never returns
    /// an inode number (a 32-bit kernel's is only the id's low half). On a cgroup-v1-only host
    /// the kernel reports the v2 root (1), and the fallback fails with `ENODATA`. Where the
    /// cgroup was removed after the process exited (the kernel then writes the path followed by
    /// ` (deleted)`), the fallback answers [`Error::Exited`]; a path ending so is taken as a
    /// live cgroup's name only when that cgroup lists the process in `cgroup.threads`.
    ///
    /// # Errors
    /// As [`PidFd::ppid`]; [`Error::Exited`] for a zombie whose cgroup was removed (fallback);
    /// [`Error::Os`] when the cgroup2 mount or directory cannot be found or identified
    /// (`ENODATA`; also for a cgroup outside the caller's cgroup namespace), or when the
    /// cgroup was removed while the process was exiting but not yet a zombie (`ENOENT`).
    pub fn cgroup_id(&self) -> Result<u64> {
        let at = match self.kernel_info(uapi::PIDFD_INFO_CGROUPID)? {
            Ok(info) => return info.cgroup_id().ok_or(Error::Exited),
            Err(at) => at,
        };
        let pid = at.pid;
        let mut path = [0u8; 64];
        let path = CStr::from_bytes_with_nul(parse::path_with_number(&mut path, b"/proc/", pid.into(), b"/cgroup"))
            .map_err(|_| Error::InvalidInput("proc path"))?;
        let mut buf = [0u8; 4096];
        let n = sys::read_file(path, &mut buf).map_err(|e| proc_error("read /proc/<pid>/cgroup", e))?;
        let no_data = |op| Error::Os { op, source: io::Error::from_raw_os_error(libc::ENODATA) };
        let rel = match parse::cgroup_v2(&buf[..n]) {
            Some(parse::Cgroup2::Live(rel)) => rel,
            Some(parse::Cgroup2::Deleted { literal }) => return self.removed_cgroup_id(at, literal),
            Some(parse::Cgroup2::OutsideNamespace) => {
                self.recheck(at)?;
                return Err(no_data("the cgroup v2 of /proc/<pid>/cgroup is outside the caller's cgroup namespace"));
            }
            None => {
                self.recheck(at)?;
                return Err(no_data("find cgroup v2 in /proc/<pid>/cgroup"));
            }
        };
        let id = cgroup_dir_id(&open_cgroup_dir(rel)?)?;
        self.recheck(at)?;
        Ok(id)
    }

    /// The `cgroup_id` fallback where the v2 line of `/proc/<pid>/cgroup` ends in ` (deleted)`:
    /// either the cgroup was removed, which cgroup2 allows only once the process has left it by
    /// exiting (a zombie stays shown in its cgroup), or the process is in a live cgroup whose
    /// name ends so (`literal`), whose `cgroup.threads` then lists it. Never the id of another
    /// directory: a live cgroup of the literal name that does not list the process is not its
    /// cgroup.
    fn removed_cgroup_id(&self, at: ProcPid, literal: Option<&[u8]>) -> Result<u64> {
        let pid = at.pid;
        if let Some(dir) = literal.and_then(|rel| open_cgroup_dir(rel).ok()).filter(|dir| cgroup_lists(dir, pid)) {
            let id = cgroup_dir_id(&dir)?;
            self.recheck(at)?;
            return Ok(id);
        }
        // Removed. Reaped (`Exited`), or a zombie: the pidfd polls readable once the process
        // has exited (since 5.3, the kernel of `pidfd_open`; before, a pidfd had no poll and
        // always read as readable, so the poll is not trusted there).
        self.recheck(at)?;
        if Feature::PidfdOpen.is_supported() && sys::poll_readable(self.as_raw_fd(), 0).unwrap_or(false) {
            return Err(Error::Exited);
        }
        // Between leaving its cgroup and turning into a zombie, or moved out of the literal
        // cgroup since the read.
        Err(Error::Os {
            op: "the cgroup v2 of /proc/<pid>/cgroup was removed",
            source: io::Error::from_raw_os_error(libc::ENOENT),
        })
    }

    /// The unique 64-bit id of the process, never reused while the system runs (the pidfs
    /// inode number). Equal for every pidfd of the same process.
    ///
    /// # Kernel support
    /// pidfs (6.9) on 64-bit targets: `fstat` `st_ino`. 32-bit targets, or where `fstat` fails:
    /// the pidfs file handle (6.14). Older kernels: [`Error::Unsupported`].
    ///
    /// # Errors
    /// [`Error::Unsupported`] naming pidfs (64-bit) or pidfs file handles (32-bit);
    /// [`Error::Os`] when `fstat` fails and there are no file handles; [`Error::NotPidfd`] for a
    /// handle that is not a pidfs one; errors of `name_to_handle_at` as in [`PidFd::pid`].
    pub fn id(&self) -> Result<u64> {
        if cfg!(target_pointer_width = "64") && Feature::Pidfs.is_supported() {
            match sys::fstat_ino(self.as_raw_fd()) {
                Ok(ino) => return Ok(ino),
                // A sandbox without fstat, or an inode number that does not fit: the file
                // handle carries the same id.
                Err(e) if !Feature::FileHandles.is_supported() => return Err(Error::os("fstat", e)),
                Err(_) => {}
            }
        }
        if Feature::FileHandles.is_supported() {
            return match sys::name_to_handle(self.as_raw_fd()) {
                Ok((uapi::FILEID_KERNFS, id)) => Ok(id),
                Ok(_) => Err(Error::NotPidfd),
                Err(e) => Err(from_errno("name_to_handle_at", e)),
            };
        }
        Err(Error::Unsupported {
            feature: if cfg!(target_pointer_width = "64") { Feature::Pidfs } else { Feature::FileHandles },
        })
    }

    /// Everything `PIDFD_GET_INFO` tells: pid, credentials, cgroup, exit status (after the
    /// reap), core-dump state, the supported mask. Each getter is `Some` exactly when the kernel
    /// returned the field.
    ///
    /// # Kernel support
    /// `PIDFD_GET_INFO` (6.13); exit status 6.15, core dump 6.16, supported mask 6.19. Older
    /// kernels: [`Error::Unsupported`] (the single getters such as [`PidFd::pid`] fall back).
    ///
    /// # Errors
    /// [`Error::Unsupported`] before 6.13 ([`Error::Denied`] / [`Error::Undetermined`] when the
    /// probe was refused or could not decide); [`Error::Exited`] for a reaped process on
    /// kernels without exit information (6.13, 6.14); [`Error::OtherPidNamespace`];
    /// [`Error::Os`] (`ESRCH`) when 6.13/6.14 refuse a live process whose parent is outside the
    /// caller's PID namespace (the single getters fall back to `/proc` there);
    /// [`Error::NotPidfd`].
    pub fn info(&self) -> Result<ProcessInfo> {
        Feature::GetInfo.require()?;
        self.get_info(
            uapi::PIDFD_INFO_PID
                | uapi::PIDFD_INFO_CREDS
                | uapi::PIDFD_INFO_CGROUPID
                | uapi::PIDFD_INFO_EXIT
                | uapi::PIDFD_INFO_COREDUMP
                | uapi::PIDFD_INFO_COREDUMP_SIGNAL
                | uapi::PIDFD_INFO_COREDUMP_CODE
                | uapi::PIDFD_INFO_SUPPORTED_MASK,
        )
    }

    pub(crate) fn get_info(&self, mask: u64) -> Result<ProcessInfo> {
        let mut raw = RawInfo::request(mask);
        raw.fetch(self.as_raw_fd()).map_err(|e| self.info_error(e))?;
        Ok(ProcessInfo::new(raw))
    }

    /// After reading `/proc/<pid>`: the pidfd still names `pid` and the process is not reaped
    /// (checked through the pidfd itself, since before 5.5 fdinfo keeps showing the pid of a
    /// reaped process). A pid is not recycled before its process is reaped, so what was read
    /// was this process's.
    pub(crate) fn recheck(&self, at: ProcPid) -> Result<()> {
        let now = if at.by_fdinfo { self.fdinfo_pid() } else { self.pid() };
        match now {
            Ok(now) if now == at.pid => self.unreaped(),
            Ok(_) | Err(Error::Exited) => Err(Error::Exited),
            Err(e) => Err(e),
        }
    }

    fn status_fallback(&self, at: ProcPid) -> Result<parse::Status> {
        let pid = at.pid;
        let mut path = [0u8; 64];
        let path = CStr::from_bytes_with_nul(parse::path_with_number(&mut path, b"/proc/", pid.into(), b"/status"))
            .map_err(|_| Error::InvalidInput("proc path"))?;
        let mut buf = [0u8; 4096];
        let n = sys::read_file(path, &mut buf).map_err(|e| proc_error("read /proc/<pid>/status", e))?;
        let st = parse::status(&buf[..n]);
        self.recheck(at)?;
        Ok(st)
    }
}

/// The cgroup v2 directory `rel` (relative to the hierarchy root), found through the cgroup2
/// mount of `/proc/self/mountinfo` and checked to be on cgroup2.
fn open_cgroup_dir(rel: &[u8]) -> Result<OwnedFd> {
    let no_data = |op| Error::Os { op, source: io::Error::from_raw_os_error(libc::ENODATA) };
    let mountinfo = std::fs::read("/proc/self/mountinfo").map_err(|e| Error::os("read /proc/self/mountinfo", e))?;
    let mut full = Vec::new();
    if !parse::cgroup2_mount(&mountinfo, &mut full) {
        return Err(no_data("find the cgroup2 mount"));
    }
    full.push(b'/');
    full.extend_from_slice(rel);
    full.push(0);
    let full = CStr::from_bytes_with_nul(&full).map_err(|_| Error::InvalidInput("cgroup path"))?;
    let dir =
        sys::openat(libc::AT_FDCWD, full, libc::O_DIRECTORY).map_err(|e| Error::os("open cgroup directory", e))?;
    if sys::fstatfs_type(dir.as_raw_fd()).map_err(|e| Error::os("fstatfs", e))? != CGROUP2_SUPER_MAGIC {
        return Err(no_data("the cgroup2 mount is not cgroup2"));
    }
    Ok(dir)
}

/// Whether the cgroup directory `dir` lists the task `pid` in its `cgroup.threads` (every
/// thread in the cgroup, a process's main thread by the process's pid). `false` when the file
/// cannot be read.
fn cgroup_lists(dir: &OwnedFd, pid: i32) -> bool {
    use std::io::Read;
    let Ok(file) = sys::openat(dir.as_raw_fd(), c"cgroup.threads", 0) else { return false };
    let mut buf = Vec::new();
    std::fs::File::from(file).read_to_end(&mut buf).is_ok() && parse::lists_pid(&buf, pid)
}

/// The id of the cgroup v2 directory `dir` (from [`open_cgroup_dir`]). The id is the kernfs
/// node id, which the directory's file handle carries whole (as systemd reads it); the inode
/// number equals it only where `ino_t` is 64-bit in the kernel, so it is the fallback on 64-bit
/// targets alone (a 32-bit kernel's inode number is the id's low half).
fn cgroup_dir_id(dir: &OwnedFd) -> Result<u64> {
    let no_data = |op| Error::Os { op, source: io::Error::from_raw_os_error(libc::ENODATA) };
    let handle = sys::name_to_handle(dir.as_raw_fd());
    match handle {
        Ok((uapi::FILEID_KERNFS, id)) => Ok(id),
        _ if cfg!(target_pointer_width = "64") => {
            sys::fstat_ino(dir.as_raw_fd()).map_err(|e| Error::os("fstat cgroup directory", e))
        }
        Ok(_) => Err(no_data("the cgroup directory's file handle is not a kernfs handle")),
        Err(e) => Err(Error::os("name_to_handle_at cgroup directory", e)),
    }
}

const CGROUP2_SUPER_MAGIC: u64 = 0x6367_7270;

/// Maps a `/proc/<pid>` access error: a missing directory means the process is gone.
pub(crate) fn proc_error(op: &'static str, e: io::Error) -> Error {
    match e.raw_os_error() {
        Some(libc::ENOENT | libc::ESRCH) => Error::Exited,
        _ => from_errno(op, e),
    }
}

/// The pid a `/proc` fallback reads under, and whether fdinfo gave it (the ioctl being absent or
/// refusing this process): the re-check after the read asks the same place.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ProcPid {
    pub(crate) pid: i32,
    by_fdinfo: bool,
}
