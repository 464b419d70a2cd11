//! The only module of this crate that contains `unsafe` code.
//!
//! One thin function per system call or ioctl. Each returns `io::Result` with the raw `errno`
//! kept (EINTR retried) and does nothing but the call: the policy (which mechanism, fallbacks,
//! error mapping) lives in the safe modules. In test builds every wrapper first consults a
//! per-thread fault-injection table ([`fault`]), so the fallbacks run on any kernel.
#![allow(unsafe_code)]

use std::ffi::CStr;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// Every wrapped call, as named by the fault-injection seam.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) enum Call {
    /// `PIDFD_GET_*_NAMESPACE`.
    PidfdNsIoctl,
    /// The nsfs `NS_GET_*` ioctls.
    NsfsIoctl,
    Setns,
    Unshare,
    /// `open` of a `/proc/<pid>/ns/<name>` path.
    Open,
    Stat,
    Fstatfs,
    Poll,
    /// Makes a pidfd feature look absent to this crate, to exercise the fallback on any kernel.
    Feature(pidfd::Feature),
}

/// Per-thread fault injection: `inject(Call::Setns, EPERM)` makes every `setns` of the current
/// thread fail with `EPERM` until the guard drops. Compiled only in test builds.
#[cfg(test)]
pub(crate) mod fault {
    use super::Call;
    use std::cell::RefCell;

    thread_local! {
        static FAULTS: RefCell<Vec<(Call, i32)>> = const { RefCell::new(Vec::new()) };
    }

    /// Removes the injected fault when dropped.
    pub(crate) struct Guard(Call);

    impl Drop for Guard {
        fn drop(&mut self) {
            FAULTS.with(|f| f.borrow_mut().retain(|(c, _)| *c != self.0));
        }
    }

    /// Makes `call` fail with `errno` on this thread.
    #[must_use]
    pub(crate) fn inject(call: Call, errno: i32) -> Guard {
        FAULTS.with(|f| f.borrow_mut().push((call, errno)));
        Guard(call)
    }

    pub(crate) fn check(call: Call) -> std::io::Result<()> {
        FAULTS.with(|f| match f.borrow().iter().find(|(c, _)| *c == call) {
            Some(&(_, errno)) => Err(std::io::Error::from_raw_os_error(errno)),
            None => Ok(()),
        })
    }
}

#[cfg(not(test))]
pub(crate) mod fault {
    use super::Call;

    #[inline(always)]
    pub(crate) fn check(_call: Call) -> std::io::Result<()> {
        Ok(())
    }
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
    fault::check(Call::PidfdNsIoctl)?;
    // SAFETY: the command takes an integer argument, passed explicitly as 0; no memory is passed.
    retry(|| cvt(unsafe { libc::ioctl(pidfd, cmd as _, 0 as libc::c_ulong) })).map(owned)
}

/// An nsfs ioctl that returns a new fd (`NS_GET_USERNS`, `NS_GET_PARENT`; argument 0).
pub(crate) fn ns_ioctl_fd(fd: RawFd, cmd: u32) -> io::Result<OwnedFd> {
    fault::check(Call::NsfsIoctl)?;
    // SAFETY: these commands take no argument; 0 is passed and no memory is involved.
    retry(|| cvt(unsafe { libc::ioctl(fd, cmd as _, 0 as libc::c_ulong) })).map(owned)
}

/// An nsfs ioctl with an integer argument and an integer result (`NS_GET_NSTYPE` with 0, the
/// pid translations with the pid).
pub(crate) fn ns_ioctl_int(fd: RawFd, cmd: u32, arg: libc::c_ulong) -> io::Result<libc::c_int> {
    fault::check(Call::NsfsIoctl)?;
    // SAFETY: the commands take a plain integer argument; no memory is passed.
    retry(|| cvt(unsafe { libc::ioctl(fd, cmd as _, arg) }))
}

/// `NS_GET_OWNER_UID`: the kernel writes a `uid_t`.
pub(crate) fn ns_ioctl_uid(fd: RawFd, cmd: u32) -> io::Result<libc::uid_t> {
    fault::check(Call::NsfsIoctl)?;
    let mut uid: libc::uid_t = 0;
    // SAFETY: `uid` is a writable uid_t, which is what the command writes.
    retry(|| cvt(unsafe { libc::ioctl(fd, cmd as _, &mut uid as *mut libc::uid_t) }))?;
    Ok(uid)
}

/// `NS_GET_ID`, `NS_GET_MNTNS_ID`: the kernel writes a `__u64`.
pub(crate) fn ns_ioctl_u64(fd: RawFd, cmd: u32) -> io::Result<u64> {
    fault::check(Call::NsfsIoctl)?;
    let mut id: u64 = 0;
    // SAFETY: `id` is a writable u64, which is what the command writes.
    retry(|| cvt(unsafe { libc::ioctl(fd, cmd as _, &mut id as *mut u64) }))?;
    Ok(id)
}

/// `setns(fd, nstype)`: an nsfd with its type (or 0), or a pidfd with `CLONE_NEW*` flags (5.8).
pub(crate) fn setns(fd: RawFd, nstype: libc::c_int) -> io::Result<()> {
    fault::check(Call::Setns)?;
    // SAFETY: plain integer arguments.
    retry(|| cvt(unsafe { libc::setns(fd, nstype) })).map(drop)
}

/// `unshare(flags)` on the calling thread.
pub(crate) fn unshare(flags: libc::c_int) -> io::Result<()> {
    fault::check(Call::Unshare)?;
    // SAFETY: plain integer argument.
    retry(|| cvt(unsafe { libc::unshare(flags) })).map(drop)
}

/// `open(path, O_RDONLY | O_CLOEXEC)`.
#[inline]
pub(crate) fn open_ns_file(path: &CStr) -> io::Result<OwnedFd> {
    fault::check(Call::Open)?;
    // SAFETY: `path` is NUL-terminated.
    retry(|| cvt(unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) })).map(owned)
}

/// `(st_dev, st_ino)` of what `path` names (symlinks followed).
pub(crate) fn stat_id(path: &CStr) -> io::Result<(u64, u64)> {
    fault::check(Call::Stat)?;
    let mut st = MaybeUninit::<libc::stat64>::uninit();
    // SAFETY: `path` is NUL-terminated, `st` is writable.
    retry(|| cvt(unsafe { libc::stat64(path.as_ptr(), st.as_mut_ptr()) }))?;
    // SAFETY: stat64 succeeded and filled `st`.
    let st = unsafe { st.assume_init() };
    #[allow(clippy::unnecessary_cast)]
    Ok((st.st_dev as u64, st.st_ino as u64))
}

/// `(st_dev, st_ino)` of an fd.
pub(crate) fn fstat_id(fd: RawFd) -> io::Result<(u64, u64)> {
    fault::check(Call::Stat)?;
    let mut st = MaybeUninit::<libc::stat64>::uninit();
    // SAFETY: `st` is writable.
    retry(|| cvt(unsafe { libc::fstat64(fd, st.as_mut_ptr()) }))?;
    // SAFETY: fstat64 succeeded and filled `st`.
    let st = unsafe { st.assume_init() };
    #[allow(clippy::unnecessary_cast)]
    Ok((st.st_dev as u64, st.st_ino as u64))
}

/// `fstatfs(fd).f_type`, truncated to the 32 bits every magic fits in.
#[inline]
pub(crate) fn fstatfs_type(fd: RawFd) -> io::Result<u32> {
    fault::check(Call::Fstatfs)?;
    let mut st = MaybeUninit::<libc::statfs64>::uninit();
    // SAFETY: `st` is writable.
    retry(|| cvt(unsafe { libc::fstatfs64(fd, st.as_mut_ptr()) }))?;
    // SAFETY: fstatfs64 succeeded and filled `st`.
    #[allow(clippy::unnecessary_cast)]
    Ok(unsafe { st.assume_init() }.f_type as u32)
}

/// `poll(fd, POLLIN, 0)`: whether the fd is readable now (a pidfd: the process has exited).
pub(crate) fn poll_readable_now(fd: RawFd) -> io::Result<bool> {
    fault::check(Call::Poll)?;
    let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    // SAFETY: `pfd` is one valid, writable pollfd.
    let n = retry(|| cvt(unsafe { libc::poll(&mut pfd, 1, 0) }))?;
    Ok(n > 0 && pfd.revents & libc::POLLIN != 0)
}

/// Test fixtures that need `unsafe` (a `pre_exec` hook), kept here with the rest of it.
#[cfg(test)]
pub(crate) mod fixture {
    use std::os::unix::process::CommandExt;
    use std::process::Command;

    /// Makes the child `unshare(flags)` before exec, then set its hostname to `hostname`
    /// when given (for a new UTS namespace).
    pub(crate) fn unshare_before_exec(cmd: &mut Command, flags: libc::c_int, hostname: Option<&'static [u8]>) {
        let hook = move || -> std::io::Result<()> {
            // SAFETY: plain integer argument; async-signal-safe.
            if unsafe { libc::unshare(flags) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if let Some(name) = hostname {
                // SAFETY: `name` is valid for `name.len()` bytes; async-signal-safe.
                if unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) } != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        };
        // SAFETY: the hook makes only async-signal-safe system calls (unshare, sethostname) and
        // allocates nothing, unless a call fails (then std builds an io::Error from the errno,
        // which does not allocate either).
        unsafe { cmd.pre_exec(hook) };
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
