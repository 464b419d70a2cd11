//! [`PidFd`]: obtaining one, converting it, and knowing the process it names.

use std::ffi::CStr;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd, OwnedFd, RawFd};
use std::process::{Child, ExitStatus};
use std::sync::{Mutex, OnceLock};

use bitflags::bitflags;
use pidfd_sys as uapi;

use crate::error::{Error, Result, from_errno};
use crate::info::{Credentials, ProcessInfo, RawInfo};
use crate::procdir::ProcDir;
use crate::{Feature, parse, sys};

bitflags! {
    /// Flags for [`PidFd::open_with`].
    ///
    /// # Kernel support
    /// `NONBLOCK` 5.10, `THREAD` 6.9; a flag the kernel lacks makes [`PidFd::open_with`] fail
    /// with [`Error::Unsupported`] naming it.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct OpenFlags: u32 {
        /// `PIDFD_NONBLOCK` (5.10): [`PidFd::wait`] keeps blocking, but a `waitid` on the fd
        /// answers `EAGAIN` instead of blocking, which async runtimes need.
        const NONBLOCK = uapi::PIDFD_NONBLOCK;
        /// `PIDFD_THREAD` (6.9): a pidfd for one thread (`pid` is a thread id); it becomes
        /// readable when that thread exits, and signals go to that thread.
        const THREAD = uapi::PIDFD_THREAD;
    }
}

/// An owned pidfd: a file descriptor that names one process (or thread) for its whole life,
/// so no operation through it can reach another process that reused the PID.
///
/// Once a wait has returned the exit status, the `PidFd` remembers it: later waits, and
/// [`exit_status`](PidFd::exit_status), return the same status.
///
/// # Kernel support
/// pidfds exist from 5.1 (`pidfd_send_signal` on `/proc/<pid>` fds) and 5.3 (`pidfd_open`); each
/// method documents the kernel it needs, its fallback, and what happens without either (the
/// crate-level table sums them up).
pub struct PidFd {
    fd: OwnedFd,
    exit: OnceLock<ExitStatus>,
    /// Held by a blocking wait, so `try_wait` never blocks and never races a reap.
    pub(crate) reaping: Mutex<()>,
}

impl fmt::Debug for PidFd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PidFd").field("fd", &self.fd.as_raw_fd()).field("exit", &self.exit.get()).finish()
    }
}

impl PidFd {
    /// Wraps an fd already known to be a pidfd.
    pub(crate) fn from_owned_unchecked(fd: OwnedFd) -> PidFd {
        PidFd { fd, exit: OnceLock::new(), reaping: Mutex::new(()) }
    }

    /// Opens a pidfd for the process `pid`.
    ///
    /// A PID alone can be recycled: the pidfd names whatever process has `pid` at the moment
    /// of the call. Use it for processes that cannot be reaped behind your back (your own
    /// unwaited children, yourself, processes whose parent you trust), or check the process
    /// (e.g. its start time) after opening. [`spawn`](crate::spawn) gets a pidfd without this race.
    ///
    /// # Kernel support
    /// `pidfd_open` (5.3); without it, [`Error::Unsupported`]. No fallback.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for `pid <= 0`; [`Error::NoSuchProcess`];
    /// [`Error::NotThreadGroupLeader`] for the id of a thread that does not lead its group
    /// (`ENOENT` from 6.16; before, `EINVAL`, mapped so only when `/proc/<pid>/status` shows the
    /// task belongs to another thread group, else kept as [`Error::Os`]); [`Error::Unsupported`]
    /// without `pidfd_open`; [`Error::Denied`] under a seccomp policy that refuses `pidfd_open`.
    ///
    /// # Example
    /// ```
    /// let me = pidfd::PidFd::open(std::process::id() as i32)?;
    /// assert_eq!(me.pid()?, std::process::id() as i32);
    /// # Ok::<(), pidfd::Error>(())
    /// ```
    pub fn open(pid: i32) -> Result<PidFd> {
        PidFd::open_with(pid, OpenFlags::empty())
    }

    /// Opens a pidfd with flags: [`OpenFlags::NONBLOCK`], [`OpenFlags::THREAD`].
    ///
    /// # Kernel support
    /// `pidfd_open` (5.3), `PIDFD_NONBLOCK` (5.10), `PIDFD_THREAD` (6.9). A flag the kernel
    /// lacks gives [`Error::Unsupported`] naming it (NONBLOCK falls back nowhere: the caller
    /// decides; [`PidFd::try_wait`] already uses `WNOHANG`).
    ///
    /// # Errors
    /// As [`PidFd::open`]; [`Error::InvalidInput`] for `flags` with bits [`OpenFlags`] does not
    /// define (`from_bits_retain`).
    pub fn open_with(pid: i32, flags: OpenFlags) -> Result<PidFd> {
        if pid <= 0 {
            return Err(Error::InvalidInput("pid must be positive"));
        }
        check_flags(flags)?;
        match sys::pidfd_open(pid, flags.bits()) {
            Ok(fd) => Ok(PidFd::from_owned_unchecked(fd)),
            Err(e) => Err(open_error(pid, flags, e)),
        }
    }

    /// A pidfd for the calling process.
    ///
    /// # Kernel support
    /// `pidfd_open` (5.3).
    ///
    /// # Errors
    /// As [`PidFd::open`].
    pub fn from_self() -> Result<PidFd> {
        PidFd::open(sys::getpid())
    }

    /// A pidfd for a child spawned by `std::process::Command`.
    ///
    /// Race-free only while nobody can reap the child: not after `child.wait()`/`try_wait()`
    /// returned its status, and not when another thread may call `waitpid(-1)` or `SIGCHLD` is
    /// ignored. [`spawn`](crate::spawn) has no such window.
    ///
    /// # Kernel support
    /// `pidfd_open` (5.3).
    ///
    /// # Errors
    /// As [`PidFd::open`]; [`Error::NoSuchProcess`] if the child was already reaped.
    pub fn from_child(child: &Child) -> Result<PidFd> {
        let pid = i32::try_from(child.id()).map_err(|_| Error::InvalidInput("child pid out of range"))?;
        PidFd::open(pid)
    }

    /// Reopens the process with the unique id [`PidFd::id`] returned (through a pidfs file
    /// handle), if it has not been reaped and is visible in the caller's PID namespace.
    ///
    /// # Kernel support
    /// pidfs file handles (6.14); `FD_PIDFS_ROOT` (6.17) as the mount fd, else a pidfd of the
    /// calling process. Older kernels: [`Error::Unsupported`].
    ///
    /// # Errors
    /// [`Error::Unsupported`] (before 6.14); [`Error::Denied`] / [`Error::Undetermined`] when
    /// the probe was refused or could not decide; [`Error::Exited`] when no such process exists
    /// any more (`ESTALE`); [`Error::PermissionDenied`] when the kernel refuses the handle (a
    /// process outside the caller's PID namespace); [`Error::InvalidInput`] for `flags` with
    /// bits [`OpenFlags`] does not define (`from_bits_retain`: `open_by_handle_at` would take
    /// some of them, such as `O_RDWR`, as open flags); [`Error::Os`] for other
    /// `open_by_handle_at` errors.
    pub fn open_by_id(id: u64, flags: OpenFlags) -> Result<PidFd> {
        check_flags(flags)?;
        Feature::FileHandles.require()?;
        let oflags = libc::O_RDONLY | libc::O_CLOEXEC | flags.bits() as i32;
        let result = if Feature::PidfsRoot.is_supported() {
            sys::open_by_handle(uapi::FD_PIDFS_ROOT, id, oflags)
        } else {
            let mount = PidFd::from_self()?;
            sys::open_by_handle(mount.as_raw_fd(), id, oflags)
        };
        match result {
            Ok(fd) => Ok(PidFd::from_owned_unchecked(fd)),
            Err(e) if e.raw_os_error() == Some(libc::ESTALE) => Err(Error::Exited),
            Err(e) => Err(from_errno("open_by_handle_at", e)),
        }
    }

    /// A second handle to the same process (a `dup` with `FD_CLOEXEC`), carrying the
    /// remembered exit status.
    ///
    /// # Kernel support
    /// Any kernel (`fcntl(F_DUPFD_CLOEXEC)`).
    ///
    /// # Errors
    /// [`Error::Os`] when the fd table is full.
    pub fn try_clone(&self) -> Result<PidFd> {
        let fd = sys::dup_cloexec(self.fd.as_fd()).map_err(|e| Error::os("dup", e))?;
        let copy = PidFd::from_owned_unchecked(fd);
        if let Some(&status) = self.exit.get() {
            let _ = copy.exit.set(status);
        }
        Ok(copy)
    }

    /// Whether the fd is non-blocking (`PIDFD_NONBLOCK` / `O_NONBLOCK`).
    ///
    /// # Kernel support
    /// Any kernel (`fcntl(F_GETFL)`).
    ///
    /// # Errors
    /// [`Error::Os`] from `fcntl`.
    pub fn is_nonblocking(&self) -> Result<bool> {
        let fl = sys::get_fl(self.as_raw_fd()).map_err(|e| Error::os("fcntl(F_GETFL)", e))?;
        Ok(fl & libc::O_NONBLOCK != 0)
    }

    /// Sets or clears `O_NONBLOCK` on the open file description (shared with every dup).
    ///
    /// # Kernel support
    /// `waitid` honours it from 5.10 (`EAGAIN` instead of blocking); older kernels ignore it
    /// for `waitid`, which [`PidFd::try_wait`] does not need.
    ///
    /// # Errors
    /// [`Error::Os`] from `fcntl`.
    pub fn set_nonblocking(&self, on: bool) -> Result<()> {
        let fl = sys::get_fl(self.as_raw_fd()).map_err(|e| Error::os("fcntl(F_GETFL)", e))?;
        let new = if on { fl | libc::O_NONBLOCK } else { fl & !libc::O_NONBLOCK };
        sys::set_fl(self.as_raw_fd(), new).map_err(|e| Error::os("fcntl(F_SETFL)", e))
    }

    /// Whether this is a thread pidfd ([`OpenFlags::THREAD`]).
    ///
    /// # Kernel support
    /// 6.9 (`PIDFD_THREAD`); older kernels have only process pidfds, so `false`.
    ///
    /// # Errors
    /// [`Error::Os`] from `fcntl`.
    pub fn is_thread(&self) -> Result<bool> {
        // Read from the flags alone, not gated on the `PidfdThread` probe (which a policy may
        // refuse): before 6.9 no pidfd carries the bit (`O_EXCL`, which open(2) never keeps).
        let fl = sys::get_fl(self.as_raw_fd()).map_err(|e| Error::os("fcntl(F_GETFL)", e))?;
        Ok(fl as u32 & uapi::PIDFD_THREAD != 0)
    }

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
    fn proc_pid(&self) -> Result<ProcPid> {
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

    /// The exit status of **any** process, child or not, once it has been reaped (by anyone);
    /// `None` while it runs or is a zombie. Remembers a status obtained by a wait.
    ///
    /// # Kernel support
    /// `PIDFD_INFO_EXIT` (6.15). Older kernels: [`Error::Unsupported`] (a parent can
    /// [`wait`](PidFd::wait)).
    ///
    /// # Errors
    /// [`Error::Unsupported`] before 6.15 ([`Error::Denied`] / [`Error::Undetermined`] when the
    /// probe was refused or could not decide); [`Error::OtherPidNamespace`];
    /// [`Error::NotPidfd`]; other `PIDFD_GET_INFO` errors as [`Error::Os`].
    pub fn exit_status(&self) -> Result<Option<ExitStatus>> {
        if let Some(&status) = self.exit.get() {
            return Ok(Some(status));
        }
        Feature::InfoExit.require()?;
        let status = self.get_info(uapi::PIDFD_INFO_EXIT)?.exit_status();
        Ok(status.map(|s| self.remember(s)))
    }

    /// Records the exit status (the first one wins) and returns the remembered one.
    pub(crate) fn remember(&self, status: ExitStatus) -> ExitStatus {
        *self.exit.get_or_init(|| status)
    }

    pub(crate) fn remembered(&self) -> Option<ExitStatus> {
        self.exit.get().copied()
    }

    /// Runs `f` on the process's `/proc/<pid>` directory, and returns its result only if the
    /// pidfd still names that process afterwards: whatever `f` read belongs to this process,
    /// even if its PID was recycled meanwhile.
    ///
    /// # Kernel support
    /// Any kernel with pidfds; needs `/proc` mounted for the caller's PID namespace. The
    /// re-check after `f` is [`PidFd::pid`] (same pid) plus `pidfd_send_signal(0)` (not reaped),
    /// which also covers kernels before 5.5 whose fdinfo keeps a reaped process's pid.
    ///
    /// # Errors
    /// [`Error::Exited`] if the process was reaped before or while `f` ran; as [`PidFd::pid`];
    /// [`Error::Os`] when `/proc/<pid>` cannot be opened.
    ///
    /// # Example
    /// ```
    /// let me = pidfd::PidFd::from_self()?;
    /// let name = me.access_proc(|dir| dir.read_to_string("comm"))?;
    /// assert!(!name.unwrap().is_empty());
    /// # Ok::<(), pidfd::Error>(())
    /// ```
    pub fn access_proc<T>(&self, f: impl FnOnce(&ProcDir) -> T) -> Result<T> {
        let at = self.proc_pid()?;
        let dir = ProcDir::open(at.pid).map_err(|e| proc_error("open /proc/<pid>", e))?;
        let result = f(&dir);
        self.recheck(at)?;
        Ok(result)
    }

    /// After reading `/proc/<pid>`: the pidfd still names `pid` and the process is not reaped
    /// (checked through the pidfd itself, since before 5.5 fdinfo keeps showing the pid of a
    /// reaped process). A pid is not recycled before its process is reaped, so what was read
    /// was this process's.
    fn recheck(&self, at: ProcPid) -> Result<()> {
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

    /// Duplicates the file descriptor `target_fd` of the process into the caller (with
    /// `FD_CLOEXEC`).
    ///
    /// # Kernel support
    /// `pidfd_getfd` (5.6); older kernels: [`Error::Unsupported`]. Needs ptrace access to the
    /// process (`PTRACE_MODE_ATTACH_REALCREDS`); containers without `CAP_SYS_PTRACE` refuse it.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when `target_fd` is negative or not open in the process;
    /// [`Error::Exited`]; [`Error::PermissionDenied`].
    #[doc(alias = "pidfd_getfd")]
    pub fn get_fd(&self, target_fd: RawFd) -> Result<OwnedFd> {
        if target_fd < 0 {
            return Err(Error::InvalidInput("target fd must not be negative"));
        }
        sys::pidfd_getfd(self.as_raw_fd(), target_fd).map_err(|e| match e.raw_os_error() {
            Some(libc::EBADF) => Error::InvalidInput("the target fd is not open in the process"),
            Some(libc::ENOSYS) => Error::Unsupported { feature: Feature::PidfdGetfd },
            _ => from_errno("pidfd_getfd", e),
        })
    }

    /// Advises the kernel about the process's memory (`process_madvise`): returns the number of
    /// bytes advised.
    ///
    /// # Kernel support
    /// `process_madvise` (5.10; any advice on self from 6.13). Older kernels:
    /// [`Error::Unsupported`]. Needs `PTRACE_MODE_READ` and `CAP_SYS_NICE` for other processes.
    ///
    /// # Errors
    /// [`Error::Exited`]; [`Error::PermissionDenied`]; [`Error::Os`] with `ENOMEM` when a range
    /// is not mapped, `EINVAL` for an advice the kernel refuses for this process.
    pub fn process_madvise(&self, ranges: &[MemoryRange], advice: Advice) -> Result<usize> {
        let ranges: Vec<(usize, usize)> = ranges.iter().map(|r| (r.addr, r.len)).collect();
        sys::process_madvise(self.as_raw_fd(), &ranges, advice.raw()).map_err(|e| match e.raw_os_error() {
            Some(libc::ENOSYS) => Error::Unsupported { feature: Feature::ProcessMadvise },
            _ => from_errno("process_madvise", e),
        })
    }

    /// Frees the memory of a process that is being killed, without waiting for it to exit
    /// (`process_mrelease`; send `SIGKILL` first).
    ///
    /// # Kernel support
    /// `process_mrelease` (5.15). Older kernels: [`Error::Unsupported`].
    ///
    /// # Errors
    /// [`Error::Os`] with `EINVAL` when the process is not dying; [`Error::Exited`] after the reap.
    pub fn process_mrelease(&self) -> Result<()> {
        sys::process_mrelease(self.as_raw_fd()).map_err(|e| match e.raw_os_error() {
            Some(libc::ENOSYS) => Error::Unsupported { feature: Feature::ProcessMrelease },
            _ => from_errno("process_mrelease", e),
        })
    }

    /// Whether `fd` is a pidfd: on pidfs (6.9) by the filesystem magic, before that by the
    /// anonymous inode and its fdinfo `Pid:` line.
    pub(crate) fn check_is_pidfd(fd: BorrowedFd<'_>) -> Result<()> {
        let fdinfo_check = || PidFd::fdinfo_of(fd.as_raw_fd()).map(drop);
        match sys::fstatfs_type(fd.as_raw_fd()) {
            Ok(t) if t == u64::from(uapi::PID_FS_MAGIC) => Ok(()),
            Ok(t) if t == u64::from(uapi::ANON_INODE_FS_MAGIC) => fdinfo_check(),
            Ok(_) => Err(Error::NotPidfd),
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => fdinfo_check(),
            Err(e) if e.raw_os_error() == Some(libc::EBADF) => Err(Error::NotPidfd),
            Err(e) => Err(Error::os("fstatfs", e)),
        }
    }

    /// The fdinfo `Pid:` value and whether an `NSpid:` line came with it (5.5+, whose `Pid:`
    /// turns -1 at the reap).
    fn fdinfo_of(fd: RawFd) -> Result<(i32, bool)> {
        let mut path = [0u8; 64];
        let path = CStr::from_bytes_with_nul(parse::path_with_number(&mut path, b"/proc/self/fdinfo/", fd.into(), b""))
            .map_err(|_| Error::InvalidInput("fd path"))?;
        let mut buf = [0u8; 512];
        let n = sys::read_file(path, &mut buf).map_err(|e| Error::os("read /proc/self/fdinfo", e))?;
        let pid = parse::fdinfo_pid(&buf[..n]).ok_or(Error::NotPidfd)?;
        Ok((pid, parse::fdinfo_has_nspid(&buf[..n])))
    }
}

/// Refuses bits [`OpenFlags`] does not define: passed on, the kernel would take them as other
/// open flags (`open_by_handle_at` accepts `O_WRONLY` / `O_RDWR`) or refuse them with an
/// `EINVAL` that reads like a missing feature.
fn check_flags(flags: OpenFlags) -> Result<()> {
    if flags.bits() & !OpenFlags::all().bits() != 0 {
        return Err(Error::InvalidInput("OpenFlags with bits it does not define"));
    }
    Ok(())
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
fn proc_error(op: &'static str, e: io::Error) -> Error {
    match e.raw_os_error() {
        Some(libc::ENOENT | libc::ESRCH) => Error::Exited,
        _ => from_errno(op, e),
    }
}

fn open_error(pid: i32, flags: OpenFlags, e: io::Error) -> Error {
    match e.raw_os_error() {
        Some(libc::ESRCH) => Error::NoSuchProcess { pid },
        // 6.16+: a thread that is not a group leader.
        Some(libc::ENOENT) => Error::NotThreadGroupLeader { pid },
        Some(libc::ENOSYS) => Error::Unsupported { feature: Feature::PidfdOpen },
        Some(libc::EPERM | libc::EACCES) => Error::Denied { feature: Feature::PidfdOpen, source: e },
        Some(libc::EINVAL) => {
            // A flag the kernel does not know, or (before 6.16) a thread id without THREAD:
            // that only when /proc shows `pid` is a thread of another thread group.
            if flags.contains(OpenFlags::THREAD) && !Feature::PidfdThread.is_supported() {
                Error::Unsupported { feature: Feature::PidfdThread }
            } else if flags.contains(OpenFlags::NONBLOCK) && !Feature::PidfdNonblock.is_supported() {
                Error::Unsupported { feature: Feature::PidfdNonblock }
            } else if !flags.contains(OpenFlags::THREAD) && thread_group_of(pid).is_some_and(|tgid| tgid != pid) {
                Error::NotThreadGroupLeader { pid }
            } else {
                Error::os("pidfd_open", e)
            }
        }
        _ => Error::os("pidfd_open", e),
    }
}

/// The thread group of the task `pid` (`Tgid:` of `/proc/<pid>/status`; a thread's directory
/// is there though not listed), or `None` when `/proc` cannot tell.
fn thread_group_of(pid: i32) -> Option<i32> {
    let mut path = [0u8; 64];
    let path = CStr::from_bytes_with_nul(parse::path_with_number(&mut path, b"/proc/", pid.into(), b"/status")).ok()?;
    let mut buf = [0u8; 4096];
    let n = sys::read_file(path, &mut buf).ok()?;
    parse::status(&buf[..n]).tgid
}

/// One range of the target process's address space, for [`PidFd::process_madvise`].
///
/// # Kernel support
/// Any kernel (plain data); `process_madvise` needs 5.10.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryRange {
    /// Start address in the target process.
    pub addr: usize,
    /// Length in bytes.
    pub len: usize,
}

/// The advice [`PidFd::process_madvise`] may give another process.
///
/// # Kernel support
/// `process_madvise` (5.10) takes `Cold`, `PageOut`, `WillNeed`; `Collapse` needs 6.1, and any
/// advice on the caller itself 6.13. The kernel answers `EINVAL` for one it refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Advice {
    /// `MADV_COLD`: deactivate the pages.
    Cold,
    /// `MADV_PAGEOUT`: reclaim the pages.
    PageOut,
    /// `MADV_WILLNEED`: prefetch the pages.
    WillNeed,
    /// `MADV_COLLAPSE`: collapse into transparent huge pages (6.1).
    Collapse,
}

impl Advice {
    fn raw(self) -> i32 {
        match self {
            Advice::Cold => libc::MADV_COLD,
            Advice::PageOut => libc::MADV_PAGEOUT,
            Advice::WillNeed => libc::MADV_WILLNEED,
            Advice::Collapse => 25,
        }
    }
}

/// The pidfd, for `poll` and the other fd-taking calls.
impl AsFd for PidFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// The pidfd's number.
impl AsRawFd for PidFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Gives up ownership of the fd (and the remembered exit status).
impl IntoRawFd for PidFd {
    fn into_raw_fd(self) -> RawFd {
        self.fd.into_raw_fd()
    }
}

/// Gives up the `PidFd` wrapper (and its remembered exit status), keeping the fd.
impl From<PidFd> for OwnedFd {
    fn from(p: PidFd) -> OwnedFd {
        p.fd
    }
}

/// Checks that the fd really is a pidfd (pidfs magic on 6.9+, the fdinfo `Pid:` line before);
/// on failure the fd is closed and [`Error::NotPidfd`] returned.
///
/// # Kernel support
/// pidfs (6.9): `fstatfs` magic; before, the anonymous inode's fdinfo `Pid:` line (5.2), which
/// needs `/proc`.
///
/// # Errors
/// [`Error::NotPidfd`] for any other fd; [`Error::Os`] when `fstatfs` or the fdinfo read
/// fails for another reason.
impl TryFrom<OwnedFd> for PidFd {
    type Error = Error;

    fn try_from(fd: OwnedFd) -> Result<PidFd> {
        PidFd::check_is_pidfd(fd.as_fd())?;
        Ok(PidFd::from_owned_unchecked(fd))
    }
}

/// Takes over std's (unstable) pidfd.
///
/// std hands out pidfds from 5.3; nothing is checked.
#[cfg(feature = "nightly")]
impl From<std::os::linux::process::PidFd> for PidFd {
    fn from(p: std::os::linux::process::PidFd) -> PidFd {
        PidFd::from_owned_unchecked(OwnedFd::from(p))
    }
}

/// Hands the fd to std's (unstable) pidfd type.
#[cfg(feature = "nightly")]
impl From<PidFd> for std::os::linux::process::PidFd {
    fn from(p: PidFd) -> std::os::linux::process::PidFd {
        std::os::linux::process::PidFd::from(p.fd)
    }
}

/// The pid a `/proc` fallback reads under, and whether fdinfo gave it (the ioctl being absent or
/// refusing this process): the re-check after the read asks the same place.
#[derive(Clone, Copy, Debug)]
struct ProcPid {
    pid: i32,
    by_fdinfo: bool,
}
