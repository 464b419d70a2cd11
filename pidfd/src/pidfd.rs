//! [`PidFd`]: obtaining one, converting it, and the calls that act on its process (getfd,
//! `process_madvise`, `process_mrelease`); what it tells of the process is in `ids.rs`.

use std::ffi::CStr;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd, OwnedFd, RawFd};
use std::process::{Child, ExitStatus};
use std::sync::{Mutex, OnceLock};

use bitflags::bitflags;
use pidfd_sys as uapi;

use crate::error::{Error, Result, from_errno};

use crate::ids::proc_error;
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
    pub(crate) fn fdinfo_of(fd: RawFd) -> Result<(i32, bool)> {
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
