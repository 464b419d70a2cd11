//! The only module of this crate that contains `unsafe` code.
//!
//! One thin function per system call or ioctl. Each returns `io::Result` with the raw `errno`
//! kept (EINTR retried) and does nothing but the call: the policy (which mechanism, fallbacks,
//! error mapping) lives in the safe modules. In test builds every wrapper first consults the
//! per-thread fault-injection table (`pidfd`'s seam, see [`seam!`]), so the fallbacks run on any
//! kernel.
#![allow(unsafe_code)]

use std::ffi::CStr;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// The fault-injection seam: `pidfd`'s, through its `__test-util` feature (this crate's
/// dev-dependency enables it), with this crate's calls named by `NsCall` (here `Call`).
/// Compiled only in test builds; elsewhere [`seam!`] is nothing.
#[cfg(test)]
pub(crate) use pidfd::__private::fault::{self, NsCall as Call};

/// `seam!(Call)`, `seam!(Call, path)`: in test builds, returns the error the seam injected for
/// this call (on this path); nothing in other builds.
macro_rules! seam {
    ($call:ident) => {
        #[cfg(test)]
        fault::check(Call::$call)?;
    };
    ($call:ident, $path:expr) => {
        #[cfg(test)]
        fault::check_path(Call::$call, $path)?;
    };
}

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 { Err(io::Error::last_os_error()) } else { Ok(ret) }
}

/// Retries a call while it fails with EINTR.
#[inline]
fn retry<T>(mut f: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match f() {
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            other => return other,
        }
    }
}

/// Wraps a fresh fd returned by the kernel.
#[inline]
fn owned(fd: libc::c_int) -> OwnedFd {
    // SAFETY: the kernel just returned this fd to us (a successful call's result), nobody else
    // owns it.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// `ioctl(pidfd, PIDFD_GET_*_NAMESPACE, 0)` (6.11): a new nsfs fd. The third argument must be
/// 0: pidfs answers `EINVAL` to anything else.
#[inline]
pub(crate) fn pidfd_get_namespace(pidfd: RawFd, cmd: u32) -> io::Result<OwnedFd> {
    seam!(PidfdNsIoctl);
    // SAFETY: the command takes an integer argument, passed explicitly as 0; no memory is passed.
    retry(|| cvt(unsafe { libc::ioctl(pidfd, cmd as _, 0 as libc::c_ulong) })).map(owned)
}

/// The nsfs ioctls: `pidfd`'s wrappers, which the probes of its `Ns*` features make too (the
/// seam names them `NsfsIoctl`).
pub(crate) use pidfd::__private::{ns_ioctl_fd, ns_ioctl_int, ns_ioctl_u64, ns_ioctl_uid};

/// `setns(fd, nstype)`: an nsfd with its type (or 0), or a pidfd with `CLONE_NEW*` flags (5.8).
/// The call is `pidfd`'s; in test builds the seam journals it first and may refuse or pretend it.
pub(crate) fn setns(fd: BorrowedFd<'_>, nstype: libc::c_int) -> io::Result<()> {
    #[cfg(test)]
    {
        fault::record_setns(nstype);
        seam!(Setns);
        if let Some(pretended_or_failed) = fault::outcome(Call::SetnsType(nstype)) {
            return pretended_or_failed;
        }
    }
    pidfd::__private::setns(fd, nstype)
}

/// `unshare(flags)` on the calling thread.
pub(crate) fn unshare(flags: libc::c_int) -> io::Result<()> {
    seam!(Unshare);
    // SAFETY: plain integer argument.
    retry(|| cvt(unsafe { libc::unshare(flags) })).map(drop)
}

/// `open(path, O_RDONLY | O_CLOEXEC)`.
#[inline]
pub(crate) fn open_ns_file(path: &CStr) -> io::Result<OwnedFd> {
    seam!(Open, path);
    // SAFETY: `path` is NUL-terminated.
    retry(|| cvt(unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) })).map(owned)
}

/// `open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC)`: the procfs the `/proc` fallback reads
/// everything through (one superblock, so one PID namespace, for all of its paths).
pub(crate) fn open_proc() -> io::Result<OwnedFd> {
    let path = c"/proc";
    seam!(Open, path);
    // SAFETY: `path` is NUL-terminated.
    retry(|| cvt(unsafe { libc::open(path.as_ptr(), libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) })).map(owned)
}

/// `openat(dir, path, O_RDONLY | O_CLOEXEC)`.
pub(crate) fn openat_ns_file(dir: RawFd, path: &CStr) -> io::Result<OwnedFd> {
    seam!(Open, path);
    #[cfg(test)]
    if let Some(to) = fault::redirection(path) {
        // SAFETY: `to` is NUL-terminated.
        return retry(|| cvt(unsafe { libc::open(to.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) })).map(owned);
    }
    // SAFETY: `path` is NUL-terminated.
    retry(|| cvt(unsafe { libc::openat(dir, path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) })).map(owned)
}

/// Reads the file `path` (relative to `dir`) into `buf` from its start, up to `buf.len()`
/// bytes; returns how many.
pub(crate) fn read_at(dir: RawFd, path: &CStr, buf: &mut [u8]) -> io::Result<usize> {
    seam!(Fdinfo, path);
    // SAFETY: `path` is NUL-terminated.
    let fd = retry(|| cvt(unsafe { libc::openat(dir, path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) })).map(owned)?;
    let mut n = 0;
    while n < buf.len() {
        let rest = &mut buf[n..];
        // SAFETY: `rest` is writable for `rest.len()` bytes; `fd` is open.
        let r = unsafe { libc::read(fd.as_raw_fd(), rest.as_mut_ptr().cast(), rest.len()) };
        match r {
            0 => break,
            r if r > 0 => n += r as usize,
            _ => match io::Error::last_os_error() {
                e if e.raw_os_error() == Some(libc::EINTR) => continue,
                e => return Err(e),
            },
        }
    }
    Ok(n)
}

/// Whether `path` (relative to `dir`) exists: `fstatat` succeeding (symlinks not followed).
pub(crate) fn exists_at(dir: RawFd, path: &CStr) -> io::Result<()> {
    seam!(Stat, path);
    let mut st = MaybeUninit::<libc::stat64>::zeroed();
    // SAFETY: `path` is NUL-terminated, `st` is writable (and zeroed, padding included, like every
    // struct handed to the kernel).
    retry(|| cvt(unsafe { libc::fstatat64(dir, path.as_ptr(), st.as_mut_ptr(), libc::AT_SYMLINK_NOFOLLOW) })).map(drop)
}

/// `(st_dev, st_ino)` of what `path` names (symlinks followed).
pub(crate) fn stat_id(path: &CStr) -> io::Result<(u64, u64)> {
    seam!(Stat, path);
    let mut st = MaybeUninit::<libc::stat64>::zeroed();
    // SAFETY: `path` is NUL-terminated, `st` is writable (and zeroed, padding included, like every
    // struct handed to the kernel).
    retry(|| cvt(unsafe { libc::stat64(path.as_ptr(), st.as_mut_ptr()) }))?;
    // SAFETY: stat64 succeeded and filled `st`.
    let st = unsafe { st.assume_init() };
    #[allow(clippy::unnecessary_cast)]
    Ok((st.st_dev as u64, st.st_ino as u64))
}

/// `(st_dev, st_ino)` of an fd.
pub(crate) fn fstat_id(fd: RawFd) -> io::Result<(u64, u64)> {
    seam!(Stat);
    let mut st = MaybeUninit::<libc::stat64>::zeroed();
    // SAFETY: `st` is writable (and zeroed, padding included, like every struct handed to the kernel).
    retry(|| cvt(unsafe { libc::fstat64(fd, st.as_mut_ptr()) }))?;
    // SAFETY: fstat64 succeeded and filled `st`.
    let st = unsafe { st.assume_init() };
    #[allow(clippy::unnecessary_cast)]
    Ok((st.st_dev as u64, st.st_ino as u64))
}

/// `fstatfs(fd).f_type`, truncated to the 32 bits every magic fits in.
#[inline]
pub(crate) fn fstatfs_type(fd: RawFd) -> io::Result<u32> {
    seam!(Fstatfs);
    let mut st = MaybeUninit::<libc::statfs64>::zeroed();
    // SAFETY: `st` is writable (and zeroed, padding included, like every struct handed to the kernel).
    retry(|| cvt(unsafe { libc::fstatfs64(fd, st.as_mut_ptr()) }))?;
    // SAFETY: fstatfs64 succeeded and filled `st`.
    #[allow(clippy::unnecessary_cast)]
    Ok(unsafe { st.assume_init() }.f_type as u32)
}

/// `poll(fd, POLLIN, 0)`: whether the fd is readable now (a pidfd: the process has exited).
/// The call is `pidfd`'s.
pub(crate) fn poll_readable_now(fd: BorrowedFd<'_>) -> io::Result<bool> {
    seam!(Poll);
    pidfd::__private::poll_readable(fd, 0)
}

/// Test fixtures that need `unsafe` (a `pre_exec` hook), kept here with the rest of it.
#[cfg(test)]
pub(crate) mod fixture {
    use std::os::unix::process::CommandExt;
    use std::process::Command;

    /// Makes the child `unshare(flags)` before exec, then set its hostname to `hostname`
    /// when given (for a new UTS namespace). With `CLONE_NEWTIME` the child also enters the
    /// new time namespace itself (`setns` to its `time_for_children`): before 6.2 `exec` does
    /// not move a process into its `time_for_children` (6.2's "fs/exec: switch timens when a
    /// task gets a new mm" does), and the child must live in the namespace on every kernel.
    pub(crate) fn unshare_before_exec(cmd: &mut Command, flags: libc::c_int, hostname: Option<&'static [u8]>) {
        let hook = move || -> std::io::Result<()> {
            // SAFETY: plain integer argument; async-signal-safe.
            if unsafe { libc::unshare(flags) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if flags & pidfd_sys::CLONE_NEWTIME != 0 {
                enter_own_time_for_children()?;
            }
            if let Some(name) = hostname {
                // SAFETY: `name` is valid for `name.len()` bytes; async-signal-safe.
                if unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) } != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        };
        // SAFETY: the hook makes only async-signal-safe system calls (unshare, open, setns,
        // close, sethostname) and allocates nothing, unless a call fails (then std builds an
        // io::Error from the errno, which does not allocate either).
        unsafe { cmd.pre_exec(hook) };
    }

    /// In a fresh child (single-threaded, after `unshare(CLONE_NEWTIME)`): enters the process's
    /// own `time_for_children`, so the process itself lives in its new time namespace.
    /// Async-signal-safe.
    fn enter_own_time_for_children() -> std::io::Result<()> {
        let path = c"/proc/self/ns/time_for_children";
        // SAFETY: `path` is NUL-terminated; async-signal-safe.
        let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` is the nsfd just opened; plain integer arguments.
        let r = unsafe { libc::setns(fd, pidfd_sys::CLONE_NEWTIME) };
        let e = std::io::Error::last_os_error();
        // SAFETY: `fd` is ours and closed once.
        unsafe { libc::close(fd) };
        if r != 0 { Err(e) } else { Ok(()) }
    }

    /// Makes the command run as the first process of a new PID namespace whose `/proc` is
    /// still the parent's: the forked child unshares `CLONE_NEWPID` and forks once more; the
    /// grandchild (pid 1 in the new namespace) goes on to exec, the child waits for it and
    /// exits with its status.
    pub(crate) fn exec_in_new_pid_namespace(cmd: &mut Command) {
        let hook = || -> std::io::Result<()> {
            // SAFETY: plain integer argument; async-signal-safe.
            if unsafe { libc::unshare(libc::CLONE_NEWPID) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // SAFETY: fork in a single-threaded child; both sides only make async-signal-safe
            // calls until exec or _exit.
            match unsafe { libc::fork() } {
                -1 => Err(std::io::Error::last_os_error()),
                0 => Ok(()),
                pid => {
                    let mut status = 0;
                    // SAFETY: `status` is writable; `pid` is our child.
                    while unsafe { libc::waitpid(pid, &mut status, 0) } < 0 {}
                    let code = if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { 128 };
                    // SAFETY: leaves the child at once, as a forked child must.
                    unsafe { libc::_exit(code) }
                }
            }
        };
        // SAFETY: the hook makes only async-signal-safe calls (unshare, fork, waitpid, _exit)
        // and allocates nothing unless a call fails.
        unsafe { cmd.pre_exec(hook) };
    }

    /// On the calling thread only: its own mount namespace with a fresh procfs mounted on
    /// `/proc` with `hidepid=2`, then the thread's groups set to just `gid` (so it is not in the
    /// procfs's exempt group, root's by default) and `CAP_SYS_PTRACE` dropped: it keeps uid 0
    /// (so it still owns the files of its own process in `/proc`), and loses `PTRACE_MODE_READ`
    /// access to processes of other users, which `hidepid=2` then hides. Raw system calls: the
    /// libc wrappers would change every thread of the process. The thread cannot come back:
    /// run it on a thread that ends afterwards.
    pub(crate) fn thread_with_hidepid_proc(gid: u32) -> std::io::Result<()> {
        let check = |r: libc::c_long| if r == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) };
        // SAFETY: plain integer arguments (unshare of this thread's fs context and mount
        // namespace; a thread may do both).
        check(unsafe { libc::unshare(libc::CLONE_FS | libc::CLONE_NEWNS) }.into())?;
        // SAFETY: NUL-terminated strings or NULL, as mount(2) takes them.
        let private = unsafe {
            libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            )
        };
        check(private.into())?;
        let data = c"hidepid=2";
        // SAFETY: as above; the data is a NUL-terminated option string.
        let proc =
            unsafe { libc::mount(c"proc".as_ptr(), c"/proc".as_ptr(), c"proc".as_ptr(), 0, data.as_ptr().cast()) };
        check(proc.into())?;
        // The 32-bit-id calls: on x86, arm and sparc the plain numbers are the legacy 16-bit ones
        // (setgroups would read the list as 16-bit ids), as in pidfd's sys/raw.rs.
        #[cfg(any(target_arch = "x86", target_arch = "arm", target_arch = "sparc"))]
        let (setgroups, setresgid) = (libc::SYS_setgroups32, libc::SYS_setresgid32);
        #[cfg(not(any(target_arch = "x86", target_arch = "arm", target_arch = "sparc")))]
        let (setgroups, setresgid) = (libc::SYS_setgroups, libc::SYS_setresgid);
        let gid_list = [gid as libc::gid_t];
        // SAFETY: the raw system call reads one gid_t from the pointer; this thread only.
        check(unsafe { libc::syscall(setgroups, 1 as libc::c_long, gid_list.as_ptr()) })?;
        // SAFETY: three integer ids (gid_t, 32 bits); this thread only.
        check(unsafe { libc::syscall(setresgid, gid, gid, gid) })?;
        #[repr(C)]
        struct Header {
            version: u32,
            pid: libc::c_int,
        }
        #[repr(C)]
        #[derive(Clone, Copy)]
        struct Data {
            effective: u32,
            permitted: u32,
            inheritable: u32,
        }
        // No padding in either: every byte capget/capset reads is a field's.
        const _: () = assert!(std::mem::size_of::<Header>() == 4 + std::mem::size_of::<libc::c_int>());
        const _: () = assert!(std::mem::size_of::<Data>() == 3 * 4);
        let mut header = Header { version: 0x2008_0522, pid: 0 };
        let mut data = [Data { effective: 0, permitted: 0, inheritable: 0 }; 2];
        // SAFETY: a version-3 header and two data structs, as capget writes them.
        check(unsafe { libc::syscall(libc::SYS_capget, &mut header as *mut Header, data.as_mut_ptr()) })?;
        let ptrace = 1u32 << 19; // CAP_SYS_PTRACE
        data[0].effective &= !ptrace;
        data[0].permitted &= !ptrace;
        data[0].inheritable &= !ptrace;
        // SAFETY: as above, read by capset; pid 0 is the calling thread.
        check(unsafe { libc::syscall(libc::SYS_capset, &mut header as *mut Header, data.as_ptr()) })
    }

    /// The calling thread's hostname (`gethostname`).
    pub(crate) fn hostname() -> String {
        let mut buf = [0u8; 256];
        // SAFETY: `buf` is writable for its length.
        let r = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
        assert_eq!(r, 0, "gethostname: {}", std::io::Error::last_os_error());
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end]).into_owned()
    }
}
