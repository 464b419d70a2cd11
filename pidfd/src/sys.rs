//! The only module of this crate that contains `unsafe` code.
//!
//! One thin function per system call or ioctl. Each returns `io::Result` with the raw `errno`
//! kept, and does nothing but the call: the policy (probes, fallbacks, error mapping) lives in
//! the safe modules. In test builds every wrapper first consults a per-thread fault-injection
//! table ([`fault`]), so the fallbacks can be exercised on any kernel.
#![allow(unsafe_code)]

use std::ffi::CStr;
use std::io;
use std::mem::{MaybeUninit, size_of};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

use pidfd_sys as uapi;

/// Every wrapped call, as named by the fault-injection seam.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) enum Call {
    PidfdOpen,
    PidfdSendSignal,
    Waitid,
    GetInfo,
    Fstat,
    Fstatfs,
    NameToHandleAt,
    OpenByHandleAt,
    PidfdGetfd,
    ProcessMadvise,
    ProcessMrelease,
    /// `clone3` of `pidfd::Command`: the vfork one (`CLONE_CLEAR_SIGHAND`) and the one into a
    /// cgroup (not the probes: force a feature off for those).
    Clone3,
    /// `clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD)` of `pidfd::Command` (not the probes).
    Clone,
    /// `close_range` in a `pidfd::Command` child (decided by the parent before the spawn).
    CloseRange,
    Setns,
    NsIoctl,
    ReadFile,
    GetSockOpt,
    Kill,
    /// Makes a feature's probe answer "unsupported", to exercise the fallback on any kernel.
    Feature(crate::Feature),
}

/// Per-thread fault injection: `inject(Call::GetInfo, ENOTTY)` makes every `GetInfo` call of
/// the current thread fail with `ENOTTY` until the guard drops; `inject_on_fd` limits the fault
/// to calls on one fd (so a probe on its own pidfd is not hit); `fake_file` makes `read_file`
/// of one path return given bytes (what an older kernel would have written there). Compiled
/// only in test builds.
#[cfg(test)]
pub(crate) mod fault {
    use super::Call;
    use std::cell::{Cell, RefCell};
    use std::ffi::{CStr, CString};
    use std::os::fd::RawFd;

    enum Fault {
        Call { call: Call, errno: i32, fd: Option<RawFd> },
        File { path: CString, content: Vec<u8> },
    }

    thread_local! {
        static FAULTS: RefCell<Vec<(u64, Fault)>> = const { RefCell::new(Vec::new()) };
        static NEXT: Cell<u64> = const { Cell::new(0) };
        static SPAWNED: Cell<Option<super::Method>> = const { Cell::new(None) };
        static STACKS_MAPPED: Cell<u64> = const { Cell::new(0) };
    }

    /// Records the method that created this thread's last `pidfd::Command` child.
    pub(crate) fn note_spawned(method: super::Method) {
        SPAWNED.with(|m| m.set(Some(method)));
    }

    /// The method that created this thread's last `pidfd::Command` child (which path a test
    /// really took).
    pub(crate) fn last_spawned() -> Option<super::Method> {
        SPAWNED.with(Cell::get)
    }

    /// Counts the child stacks this thread mapped (rather than took from the slot).
    pub(crate) fn note_stack_mapped() {
        STACKS_MAPPED.with(|n| n.set(n.get() + 1));
    }

    /// How many child stacks this thread has mapped.
    pub(crate) fn stacks_mapped() -> u64 {
        STACKS_MAPPED.with(Cell::get)
    }

    /// Removes the injected fault when dropped.
    pub(crate) struct Guard(u64);

    impl Drop for Guard {
        fn drop(&mut self) {
            FAULTS.with(|f| f.borrow_mut().retain(|(id, _)| *id != self.0));
        }
    }

    fn add(fault: Fault) -> Guard {
        let id = NEXT.with(|n| {
            n.set(n.get() + 1);
            n.get()
        });
        FAULTS.with(|f| f.borrow_mut().push((id, fault)));
        Guard(id)
    }

    /// Makes `call` fail with `errno` on this thread.
    pub(crate) fn inject(call: Call, errno: i32) -> Guard {
        add(Fault::Call { call, errno, fd: None })
    }

    /// Makes `call` fail with `errno` on this thread, only when it is made on `fd`.
    pub(crate) fn inject_on_fd(call: Call, fd: RawFd, errno: i32) -> Guard {
        add(Fault::Call { call, errno, fd: Some(fd) })
    }

    /// Makes `read_file(path)` on this thread return `content`.
    pub(crate) fn fake_file(path: &str, content: impl Into<Vec<u8>>) -> Guard {
        add(Fault::File { path: CString::new(path).unwrap(), content: content.into() })
    }

    /// Whether any fault is active on this thread (probe results must then not be cached).
    pub(crate) fn active() -> bool {
        FAULTS.with(|f| !f.borrow().is_empty())
    }

    fn find(call: Call, on: Option<RawFd>) -> std::io::Result<()> {
        FAULTS.with(|f| {
            let hit = f.borrow().iter().find_map(|(_, fault)| match fault {
                Fault::Call { call: c, errno, fd } if *c == call && (fd.is_none() || *fd == on) => Some(*errno),
                _ => None,
            });
            match hit {
                Some(errno) => Err(std::io::Error::from_raw_os_error(errno)),
                None => Ok(()),
            }
        })
    }

    pub(crate) fn check(call: Call) -> std::io::Result<()> {
        find(call, None)
    }

    pub(crate) fn check_fd(call: Call, fd: RawFd) -> std::io::Result<()> {
        find(call, Some(fd))
    }

    /// The fake content of `path`, copied into `buf`, if a test set one.
    pub(crate) fn file(path: &CStr, buf: &mut [u8]) -> Option<usize> {
        FAULTS.with(|f| {
            f.borrow().iter().find_map(|(_, fault)| match fault {
                Fault::File { path: p, content } if p.as_c_str() == path => {
                    let n = content.len().min(buf.len());
                    buf[..n].copy_from_slice(&content[..n]);
                    Some(n)
                }
                _ => None,
            })
        })
    }
}

#[cfg(not(test))]
pub(crate) mod fault {
    use super::Call;

    #[inline(always)]
    pub(crate) fn note_spawned(_method: super::Method) {}

    #[inline(always)]
    pub(crate) fn note_stack_mapped() {}

    #[inline(always)]
    pub(crate) fn active() -> bool {
        false
    }

    #[inline(always)]
    pub(crate) fn check(_call: Call) -> std::io::Result<()> {
        Ok(())
    }

    #[inline(always)]
    pub(crate) fn check_fd(_call: Call, _fd: std::os::fd::RawFd) -> std::io::Result<()> {
        Ok(())
    }

    #[inline(always)]
    pub(crate) fn file(_path: &std::ffi::CStr, _buf: &mut [u8]) -> Option<usize> {
        None
    }
}

fn cvt(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret < 0 { Err(io::Error::last_os_error()) } else { Ok(ret) }
}

fn cvt_int(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 { Err(io::Error::last_os_error()) } else { Ok(ret) }
}

/// Wraps a fresh fd returned by the kernel.
fn owned(fd: libc::c_long) -> OwnedFd {
    // SAFETY: the kernel just returned this fd to us, nobody else owns it.
    unsafe { OwnedFd::from_raw_fd(fd as RawFd) }
}

/// Retries a call while it fails with EINTR.
fn retry<T>(mut f: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match f() {
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            other => return other,
        }
    }
}

pub(crate) fn getpid() -> i32 {
    // SAFETY: getpid has no preconditions.
    unsafe { libc::getpid() }
}

pub(crate) fn gettid() -> i32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}

/// `pidfd_open(pid, flags)` (5.3).
pub(crate) fn pidfd_open(pid: i32, flags: u32) -> io::Result<OwnedFd> {
    fault::check(Call::PidfdOpen)?;
    // SAFETY: plain integer arguments.
    let ret = unsafe { libc::syscall(uapi::SYS_pidfd_open, pid, flags) };
    cvt(ret).map(owned)
}

/// The kernel's `siginfo_t` for `rt_sigqueueinfo`-style payloads: the header and the `_rt`
/// member of the union. 128 bytes on every architecture.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct RtSigInfo {
    signo: i32,
    /// `si_errno`, except on MIPS where `si_code` comes second.
    second: i32,
    third: i32,
    rt: RtPayload,
}

/// The union member; pointer-aligned, so on 64-bit targets it starts at offset 16.
#[repr(C)]
#[derive(Clone, Copy)]
struct RtPayload {
    pid: i32,
    uid: u32,
    value: usize,
    rest: [usize; RT_REST],
}

const RT_REST: usize = (128 - 2 * (8 + size_of::<usize>())) / size_of::<usize>();
const _: () = assert!(size_of::<RtSigInfo>() == 128);

impl RtSigInfo {
    pub(crate) fn new(signo: i32, code: i32, value: usize) -> Self {
        // SAFETY: getuid has no preconditions.
        let uid = unsafe { libc::getuid() };
        let mips =
            cfg!(any(target_arch = "mips", target_arch = "mips64", target_arch = "mips32r6", target_arch = "mips64r6"));
        let (second, third) = if mips { (code, 0) } else { (0, code) };
        RtSigInfo { signo, second, third, rt: RtPayload { pid: getpid(), uid, value, rest: [0; RT_REST] } }
    }
}

/// `pidfd_send_signal(fd, sig, info, flags)` (5.1; flags 6.9).
#[inline]
pub(crate) fn pidfd_send_signal(fd: RawFd, sig: i32, info: Option<&RtSigInfo>, flags: u32) -> io::Result<()> {
    fault::check_fd(Call::PidfdSendSignal, fd)?;
    let info_ptr = info.map_or(std::ptr::null(), |i| i as *const RtSigInfo);
    // SAFETY: `info_ptr` is null or points to a 128-byte siginfo that outlives the call.
    let ret = unsafe { libc::syscall(uapi::SYS_pidfd_send_signal, fd, sig, info_ptr, flags) };
    cvt(ret).map(drop)
}

/// `kill(pid, sig)`, `tgkill`, `killpg`: the pid-based fallbacks.
pub(crate) fn kill(pid: i32, sig: i32) -> io::Result<()> {
    fault::check(Call::Kill)?;
    // SAFETY: plain integer arguments.
    cvt_int(unsafe { libc::kill(pid, sig) }).map(drop)
}

pub(crate) fn tgkill(tgid: i32, tid: i32, sig: i32) -> io::Result<()> {
    fault::check(Call::Kill)?;
    // SAFETY: plain integer arguments.
    cvt(unsafe { libc::syscall(libc::SYS_tgkill, tgid, tid, sig) }).map(drop)
}

pub(crate) fn rt_tgsigqueueinfo(tgid: i32, tid: i32, sig: i32, info: &RtSigInfo) -> io::Result<()> {
    fault::check(Call::Kill)?;
    // SAFETY: `info` points to a valid 128-byte siginfo for the duration of the call.
    cvt(unsafe { libc::syscall(libc::SYS_rt_tgsigqueueinfo, tgid, tid, sig, info as *const RtSigInfo) }).map(drop)
}

/// What `waitid` reported: `si_code`, `si_status`, `si_pid`. `pid == 0` means nothing to report.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WaitInfo {
    pub(crate) code: i32,
    pub(crate) status: i32,
    pub(crate) pid: i32,
}

/// Resource usage as returned by the kernel with `waitid`.
pub(crate) type Rusage = libc::rusage;

/// The raw `waitid` system call (which, unlike the libc wrapper, can return resource usage).
/// EINTR is retried.
pub(crate) fn waitid(idtype: u32, id: i32, options: i32, rusage: Option<&mut Rusage>) -> io::Result<WaitInfo> {
    fault::check(Call::Waitid)?;
    let ru_ptr = rusage.map_or(std::ptr::null_mut(), |r| r as *mut Rusage);
    retry(|| {
        let mut info = MaybeUninit::<libc::siginfo_t>::zeroed();
        // SAFETY: `info` is a writable siginfo_t, `ru_ptr` is null or a writable rusage.
        let ret = unsafe { libc::syscall(libc::SYS_waitid, idtype, id, info.as_mut_ptr(), options, ru_ptr) };
        cvt(ret)?;
        // SAFETY: zero-initialised and possibly filled by the kernel: a valid siginfo_t.
        let info = unsafe { info.assume_init() };
        // SAFETY: waitid fills the SIGCHLD member of the union (or leaves zeroes for WNOHANG).
        let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
        Ok(WaitInfo { code: info.si_code, status, pid })
    })
}

/// `ioctl(fd, PIDFD_GET_INFO(size), info)`: the kernel fills at most `size` bytes of `info`.
pub(crate) fn pidfd_get_info(fd: RawFd, info: &mut uapi::pidfd_info_v3, size: usize) -> io::Result<()> {
    fault::check_fd(Call::GetInfo, fd)?;
    assert!(size <= size_of::<uapi::pidfd_info_v3>());
    let cmd = uapi::pidfd_get_info_cmd(size);
    // SAFETY: `info` is writable for `size` bytes (checked above), the size encoded in `cmd`.
    let ret = unsafe { libc::ioctl(fd, cmd as _, info as *mut uapi::pidfd_info_v3) };
    cvt_int(ret).map(drop)
}

/// An ioctl that returns a new fd and takes no argument (the pidfs namespace ioctls; arg 0).
pub(crate) fn ioctl_new_fd(fd: RawFd, cmd: u32) -> io::Result<OwnedFd> {
    fault::check(Call::NsIoctl)?;
    // SAFETY: the command takes an integer argument that must be 0; no memory is passed.
    let ret = unsafe { libc::ioctl(fd, cmd as _, 0 as libc::c_ulong) };
    cvt_int(ret).map(|fd| owned(fd as libc::c_long))
}

/// `fstat(fd).st_ino`.
pub(crate) fn fstat_ino(fd: RawFd) -> io::Result<u64> {
    fault::check(Call::Fstat)?;
    let mut st = MaybeUninit::<libc::stat64>::uninit();
    // SAFETY: `st` is writable.
    cvt_int(unsafe { libc::fstat64(fd, st.as_mut_ptr()) })?;
    // SAFETY: fstat64 succeeded and filled `st`.
    Ok(unsafe { st.assume_init() }.st_ino)
}

/// `fstatfs(fd).f_type`.
pub(crate) fn fstatfs_type(fd: RawFd) -> io::Result<u64> {
    fault::check(Call::Fstatfs)?;
    let mut st = MaybeUninit::<libc::statfs64>::uninit();
    // SAFETY: `st` is writable.
    cvt_int(unsafe { libc::fstatfs64(fd, st.as_mut_ptr()) })?;
    // SAFETY: fstatfs64 succeeded and filled `st`.
    #[allow(clippy::unnecessary_cast)]
    Ok(unsafe { st.assume_init() }.f_type as u64 & 0xffff_ffff)
}

/// `fcntl(fd, F_GETFL)`.
pub(crate) fn get_fl(fd: RawFd) -> io::Result<i32> {
    // SAFETY: F_GETFL takes no argument.
    cvt_int(unsafe { libc::fcntl(fd, libc::F_GETFL) })
}

/// `fcntl(fd, F_SETFL, flags)`.
pub(crate) fn set_fl(fd: RawFd, flags: i32) -> io::Result<()> {
    // SAFETY: F_SETFL takes an int.
    cvt_int(unsafe { libc::fcntl(fd, libc::F_SETFL, flags) }).map(drop)
}

/// `fcntl(fd, F_DUPFD_CLOEXEC, 3)`.
pub(crate) fn dup_cloexec(fd: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    fd.try_clone_to_owned()
}

#[repr(C)]
struct FileHandle8 {
    handle_bytes: u32,
    handle_type: i32,
    f_handle: [u8; 8],
}

/// `name_to_handle_at(fd, "", ..., AT_EMPTY_PATH)` with an 8-byte buffer: `(handle_type, payload)`.
pub(crate) fn name_to_handle(fd: RawFd) -> io::Result<(i32, u64)> {
    fault::check(Call::NameToHandleAt)?;
    let mut fh = FileHandle8 { handle_bytes: 8, handle_type: 0, f_handle: [0; 8] };
    let mut mount_id: libc::c_int = 0;
    // SAFETY: `fh` has room for the 8 bytes announced in `handle_bytes`; the path is "".
    let ret = unsafe {
        libc::syscall(
            libc::SYS_name_to_handle_at,
            fd,
            c"".as_ptr(),
            &mut fh as *mut FileHandle8,
            &mut mount_id as *mut libc::c_int,
            libc::AT_EMPTY_PATH,
        )
    };
    cvt(ret)?;
    if fh.handle_bytes != 8 {
        return Err(io::Error::from_raw_os_error(libc::EOVERFLOW));
    }
    Ok((fh.handle_type, u64::from_ne_bytes(fh.f_handle)))
}

/// `open_by_handle_at(mount_fd, {8, FILEID_KERNFS, id}, flags)`.
pub(crate) fn open_by_handle(mount_fd: RawFd, id: u64, flags: i32) -> io::Result<OwnedFd> {
    fault::check(Call::OpenByHandleAt)?;
    let mut fh = FileHandle8 { handle_bytes: 8, handle_type: uapi::FILEID_KERNFS, f_handle: id.to_ne_bytes() };
    // SAFETY: `fh` is a valid file_handle with 8 payload bytes.
    let ret = unsafe { libc::syscall(libc::SYS_open_by_handle_at, mount_fd, &mut fh as *mut FileHandle8, flags) };
    cvt(ret).map(owned)
}

/// `pidfd_getfd(pidfd, targetfd, 0)` (5.6).
pub(crate) fn pidfd_getfd(fd: RawFd, target: RawFd) -> io::Result<OwnedFd> {
    fault::check(Call::PidfdGetfd)?;
    // SAFETY: plain integer arguments.
    cvt(unsafe { libc::syscall(uapi::SYS_pidfd_getfd, fd, target, 0) }).map(owned)
}

/// `process_madvise(pidfd, iov, n, advice, 0)` (5.10) over `(address, length)` ranges.
pub(crate) fn process_madvise(fd: RawFd, ranges: &[(usize, usize)], advice: i32) -> io::Result<usize> {
    fault::check(Call::ProcessMadvise)?;
    let iov: Vec<libc::iovec> =
        ranges.iter().map(|&(addr, len)| libc::iovec { iov_base: addr as *mut libc::c_void, iov_len: len }).collect();
    // SAFETY: `iov` is a valid array of `iov.len()` iovecs; the kernel only reads it and
    // interprets the addresses in the target process, never dereferencing them in ours.
    let ret = unsafe { libc::syscall(uapi::SYS_process_madvise, fd, iov.as_ptr(), iov.len(), advice, 0) };
    cvt(ret).map(|n| n as usize)
}

/// `process_mrelease(pidfd, 0)` (5.15).
pub(crate) fn process_mrelease(fd: RawFd) -> io::Result<()> {
    fault::check(Call::ProcessMrelease)?;
    // SAFETY: plain integer arguments.
    cvt(unsafe { libc::syscall(uapi::SYS_process_mrelease, fd, 0) }).map(drop)
}

/// `setns(fd, nstype)`.
pub(crate) fn setns(fd: RawFd, nstype: i32) -> io::Result<()> {
    fault::check(Call::Setns)?;
    // SAFETY: plain integer arguments.
    cvt_int(unsafe { libc::setns(fd, nstype) }).map(drop)
}

/// `clone3(args, size)` used only by probes whose arguments make the kernel refuse before a
/// process exists. Should the kernel create one anyway, the child exits at once and the parent
/// reaps it, so the probe never leaves a process behind.
#[allow(clippy::unnecessary_cast)] // `c_long` is `i32` on 32-bit targets.
pub(crate) fn clone3_probe(args: Option<&mut uapi::clone_args>, size: usize) -> io::Result<()> {
    let ptr = args.map_or(std::ptr::null_mut(), |a| a as *mut uapi::clone_args);
    // SAFETY: `ptr` is null or a valid clone_args of at least `size` bytes. If a child is
    // created it shares nothing (no CLONE_VM) and only calls `_exit`, which is async-signal-safe.
    let ret = unsafe { libc::syscall(uapi::SYS_clone3, ptr, size) };
    match ret {
        0 => {
            // SAFETY: we are the freshly created child; leave without running any Rust code.
            unsafe { libc::_exit(0) }
        }
        pid if pid > 0 => {
            let _ = reap_raw(pid as i32);
            Ok(())
        }
        _ => Err(io::Error::last_os_error()),
    }
}

/// Reaps a child by pid (`__WALL`, EINTR retried). `Err(ECHILD)` when someone else reaped it.
fn reap_raw(pid: i32) -> io::Result<()> {
    loop {
        let mut status = 0;
        // SAFETY: `status` is writable.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::__WALL) };
        if r >= 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

/// A fork-like `clone` (with `CLONE_PIDFD` if `with_pidfd`) whose child `_exit`s at once, with
/// exit signal 0: the child is not auto-reaped when `SIGCHLD` is ignored (or `SA_NOCLDWAIT`
/// set), and a careless `waitpid(-1)` elsewhere cannot reap it (only `__WALL`/`__WCLONE` waits
/// see it). Returns the child's pid and the pidfd the kernel wrote (-1 without `with_pidfd`, or
/// when the kernel ignored `CLONE_PIDFD`, before 5.2). The caller must reap the child.
#[allow(clippy::unnecessary_cast)] // `c_long` is `i32` on 32-bit targets.
fn clone_exits_at_once(with_pidfd: bool) -> io::Result<(i32, libc::c_int)> {
    let mut pidfd: libc::c_int = -1;
    let flags = if with_pidfd { uapi::CLONE_PIDFD as libc::c_long } else { 0 };
    let pidfd_ptr = &mut pidfd as *mut libc::c_int;
    // SAFETY: fork-like clone (no CLONE_VM, stack 0: the child runs on a copy of our stack);
    // the child only calls `_exit`. `pidfd_ptr` is valid for the kernel to write an int. The
    // parent_tid pointer is the third argument on every architecture but s390 (stack first).
    #[cfg(not(target_arch = "s390x"))]
    let ret = unsafe {
        libc::syscall(libc::SYS_clone, flags, 0 as libc::c_long, pidfd_ptr, 0 as libc::c_long, 0 as libc::c_long)
    };
    // SAFETY: as above; s390 passes the stack before the flags.
    #[cfg(target_arch = "s390x")]
    let ret = unsafe {
        libc::syscall(libc::SYS_clone, 0 as libc::c_long, flags, pidfd_ptr, 0 as libc::c_long, 0 as libc::c_long)
    };
    match ret {
        0 => {
            // SAFETY: we are the child; leave at once.
            unsafe { libc::_exit(0) }
        }
        pid if pid > 0 => Ok((pid as i32, pidfd)),
        _ => Err(io::Error::last_os_error()),
    }
}

/// The `clone(CLONE_PIDFD)` probe: does the kernel hand out a pidfd through `parent_tid`?
/// Before 5.2 the flag is silently ignored and the fd stays -1. Returns the pidfd (of an
/// already reaped child) if one was given.
pub(crate) fn clone_pidfd_probe() -> io::Result<Option<OwnedFd>> {
    let (pid, pidfd) = clone_exits_at_once(true)?;
    let fd = (pidfd >= 0).then(|| owned(pidfd as libc::c_long));
    let _ = reap_raw(pid);
    Ok(fd)
}

/// A pidfd of a child that has exited and been reaped by us: the fixture of the probes that
/// need a dead process (exit info, setns on a pidfd). The child has exit signal 0, so an
/// ignored `SIGCHLD` cannot auto-reap it behind our back, nor a careless `waitpid(-1)`: its
/// pid stays ours until our `__WALL` reap. The pidfd comes from `CLONE_PIDFD`; where that flag
/// is refused (`EINVAL`, a sandbox) or ignored, from `pidfd_open` on the still unreaped child.
/// `EAGAIN` when someone else reaped it first (the reap may not be complete yet: the fixture
/// cannot be trusted).
pub(crate) fn reaped_child_pidfd() -> io::Result<OwnedFd> {
    let (pid, pidfd) = match clone_exits_at_once(true) {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => clone_exits_at_once(false)?,
        other => other?,
    };
    let fd = if pidfd >= 0 { Ok(owned(pidfd as libc::c_long)) } else { pidfd_open(pid, 0) };
    match reap_raw(pid) {
        Ok(()) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ECHILD) => Err(io::Error::from_raw_os_error(libc::EAGAIN)),
        Err(e) => Err(e),
    }
}

/// Opens `path` read-only, reads it into `buf` with one `read`, closes it. EINTR is retried.
/// No allocation: this is the hot path of the `/proc` fallbacks.
///
/// One `read` is the whole file for the files read here (`/proc/self/fdinfo/<fd>`,
/// `/proc/<pid>/status`, `/proc/<pid>/cgroup`): each is a single-record seq_file
/// (`single_open`), which the kernel formats whole before copying, so a read that leaves room
/// in `buf` has returned all of it, and no second `read` is needed to see EOF. A read that
/// fills `buf` means the file was larger than `buf` (truncated, as before).
pub(crate) fn read_file(path: &CStr, buf: &mut [u8]) -> io::Result<usize> {
    fault::check(Call::ReadFile)?;
    if let Some(n) = fault::file(path, buf) {
        return Ok(n);
    }
    // SAFETY: `path` is NUL-terminated.
    let fd = retry(|| cvt_int(unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) }))?;
    let fd = owned(fd as libc::c_long);
    read_once(fd.as_raw_fd(), buf)
}

/// One `read` from `fd` into `buf` (EINTR retried): the bytes read.
fn read_once(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is writable for `buf.len()` bytes.
    retry(|| cvt(unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) } as libc::c_long)).map(|n| n as usize)
}

/// `openat(dir, name, O_RDONLY | O_CLOEXEC | extra)`.
pub(crate) fn openat(dir: RawFd, name: &CStr, extra: i32) -> io::Result<OwnedFd> {
    // SAFETY: `name` is NUL-terminated.
    retry(|| cvt_int(unsafe { libc::openat(dir, name.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC | extra) }))
        .map(|fd| owned(fd as libc::c_long))
}

/// `readlinkat(dir, name)` into `buf`, returning the length.
pub(crate) fn readlinkat(dir: RawFd, name: &CStr, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `name` is NUL-terminated, `buf` is writable for its length.
    let r = unsafe { libc::readlinkat(dir, name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    cvt(r as libc::c_long).map(|n| n as usize)
}

/// `poll` for readability, with a timeout in milliseconds (-1: forever). EINTR is retried.
pub(crate) fn poll_readable(fd: RawFd, timeout_ms: i32) -> io::Result<bool> {
    let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    // SAFETY: `pfd` is one valid pollfd.
    let n = retry(|| cvt_int(unsafe { libc::poll(&mut pfd, 1, timeout_ms) }))?;
    Ok(n > 0)
}

/// `poll` for a hang-up only (`events` 0: the kernel reports `POLLHUP` regardless), with a
/// timeout in milliseconds. On a pidfd that is the reap of the process (6.9). EINTR is retried.
pub(crate) fn poll_hangup(fd: RawFd, timeout_ms: i32) -> io::Result<bool> {
    let mut pfd = libc::pollfd { fd, events: 0, revents: 0 };
    // SAFETY: `pfd` is one valid pollfd.
    let n = retry(|| cvt_int(unsafe { libc::poll(&mut pfd, 1, timeout_ms) }))?;
    Ok(n > 0 && pfd.revents & libc::POLLHUP != 0)
}

/// `getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD)` (6.5).
pub(crate) fn peer_pidfd(sock: RawFd) -> io::Result<OwnedFd> {
    fault::check(Call::GetSockOpt)?;
    let mut fd: libc::c_int = -1;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `fd` and `len` are writable and `len` holds the size of `fd`.
    let ret = unsafe {
        libc::getsockopt(sock, libc::SOL_SOCKET, uapi::SO_PEERPIDFD, (&mut fd as *mut libc::c_int).cast(), &mut len)
    };
    cvt_int(ret)?;
    if fd < 0 {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    Ok(owned(fd as libc::c_long))
}

/// `setsockopt(fd, SOL_SOCKET, opt, int)`.
pub(crate) fn set_sock_int(sock: RawFd, opt: i32, value: i32) -> io::Result<()> {
    // SAFETY: `value` is a readable int of the size passed.
    let ret = unsafe {
        libc::setsockopt(
            sock,
            libc::SOL_SOCKET,
            opt,
            (&value as *const i32).cast(),
            size_of::<i32>() as libc::socklen_t,
        )
    };
    cvt_int(ret).map(drop)
}

/// A `socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC)`.
pub(crate) fn seqpacket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for two fds.
    cvt_int(unsafe {
        libc::socketpair(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr())
    })?;
    Ok((owned(fds[0] as libc::c_long), owned(fds[1] as libc::c_long)))
}

/// Room for a control message with up to 4 ints.
#[repr(C, align(8))]
struct CmsgBuf([u8; 64]);

/// Sends `data` with one fd attached as `SCM_RIGHTS`. Async-signal-safe (used between fork and
/// exec): no allocation.
pub(crate) fn send_with_fd(sock: RawFd, data: &[u8], fd: RawFd) -> io::Result<usize> {
    let mut cbuf = CmsgBuf([0; 64]);
    let mut iov = libc::iovec { iov_base: data.as_ptr() as *mut libc::c_void, iov_len: data.len() };
    // SAFETY: an all-zero msghdr is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.0.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE is a pure computation.
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(size_of::<libc::c_int>() as u32) } as _;
    // SAFETY: msg_control points to a buffer of at least msg_controllen bytes, so the first
    // header is in bounds and has room for one int of data.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(size_of::<libc::c_int>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>(), fd);
    }
    // SAFETY: `msg` describes valid buffers.
    let ret = retry(|| cvt(unsafe { libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) } as libc::c_long));
    ret.map(|n| n as usize)
}

/// A received fd-carrying control message: `SCM_RIGHTS` fds are owned; an `SCM_PIDFD` payload is
/// an fd or, before 6.16 when the sender was already reaped, a negative errno.
#[derive(Debug)]
pub(crate) enum Received {
    Rights(OwnedFd),
    Pidfd(Result<OwnedFd, i32>),
}

/// `recvmsg(sock, MSG_CMSG_CLOEXEC)`: the bytes read and the fds that came with them.
pub(crate) fn recv_with_fds(sock: RawFd, data: &mut [u8], out: &mut Vec<Received>) -> io::Result<usize> {
    let mut cbuf = CmsgBuf([0; 64]);
    let mut iov = libc::iovec { iov_base: data.as_mut_ptr().cast(), iov_len: data.len() };
    // SAFETY: an all-zero msghdr is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.0.as_mut_ptr().cast();
    msg.msg_controllen = cbuf.0.len() as _;
    // SAFETY: `msg` describes valid writable buffers.
    let n = retry(|| cvt(unsafe { libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC) } as libc::c_long))?;
    // SAFETY: the kernel filled msg_control/msg_controllen; CMSG_* walk within those bounds.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            let header_len = libc::CMSG_LEN(0) as usize;
            let len = (*cmsg).cmsg_len as usize;
            let count = len.saturating_sub(header_len) / size_of::<libc::c_int>();
            let data_ptr = libc::CMSG_DATA(cmsg).cast::<libc::c_int>();
            if (*cmsg).cmsg_level == libc::SOL_SOCKET {
                for i in 0..count {
                    let fd = std::ptr::read_unaligned(data_ptr.add(i));
                    match (*cmsg).cmsg_type {
                        libc::SCM_RIGHTS => out.push(Received::Rights(owned(fd as libc::c_long))),
                        t if t == uapi::SCM_PIDFD => {
                            out.push(Received::Pidfd(if fd >= 0 { Ok(owned(fd as libc::c_long)) } else { Err(-fd) }))
                        }
                        _ => {}
                    }
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    if msg.msg_flags & libc::MSG_CTRUNC != 0 {
        return Err(io::Error::from_raw_os_error(libc::EMSGSIZE));
    }
    Ok(n as usize)
}

/// Arranges for a `std::process::Command` child to open a pidfd of itself and send it over
/// the socket whose number `slot` holds at fork time (-1: do nothing, for later spawns of the
/// same Command). Everything in the hook is async-signal-safe.
pub(crate) fn pre_exec_send_self_pidfd(
    cmd: &mut std::process::Command,
    slot: std::sync::Arc<std::sync::atomic::AtomicI32>,
) {
    use std::os::unix::process::CommandExt;
    let hook = move || -> io::Result<()> {
        let sock = slot.load(std::sync::atomic::Ordering::SeqCst);
        if sock < 0 {
            return Ok(());
        }
        // SAFETY: raw syscalls only; no allocation, no locks.
        let ret = unsafe { libc::syscall(uapi::SYS_pidfd_open, libc::getpid(), 0) };
        let fd = cvt(ret)? as RawFd;
        let sent = send_with_fd(sock, b"p", fd);
        // SAFETY: closing the fd we just opened (exec would close it anyway: it is CLOEXEC).
        unsafe { libc::close(fd) };
        sent.map(drop)
    };
    // SAFETY: the hook only performs async-signal-safe system calls (pidfd_open, sendmsg, close)
    // and an atomic load; it allocates nothing and takes no lock.
    unsafe { cmd.pre_exec(hook) };
}

/// Checks at compile time that `RawFd` is what the kernel's fd type is.
const _: () = assert!(size_of::<RawFd>() == size_of::<libc::c_int>());

/// Wraps a raw fd as a `PidFd`. The caller promises `fd` is an open pidfd it owns (I/O
/// safety); nothing is checked: use `PidFd::try_from(OwnedFd)` to check. (`FromRawFd` needs
/// `unsafe`, so it lives here.)
///
/// # Kernel support
/// Any kernel.
///
/// # Errors
/// None; an fd that is not a pidfd makes later operations fail (mostly with
/// [`Error::NotPidfd`](crate::Error::NotPidfd)).
impl FromRawFd for crate::PidFd {
    unsafe fn from_raw_fd(fd: RawFd) -> Self {
        // SAFETY: the caller guarantees `fd` is open and owned by nobody else.
        crate::PidFd::from_owned_unchecked(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

pub(crate) fn zeroed_rusage() -> Rusage {
    // SAFETY: rusage is plain integers and timevals; all-zero is a valid value.
    unsafe { std::mem::zeroed() }
}

// ---------------------------------------------------------------------------------------------
// Process creation for `pidfd::Command`.
//
// The child side (`child_exec`) runs between clone/fork and execve: in the vfork case on a
// dedicated stack, sharing the parent's memory (the parent is suspended until the exec). It
// may only make async-signal-safe system calls on data the parent prepared: no allocation, no
// locks, no panics.
// ---------------------------------------------------------------------------------------------

/// Everything the child needs, prepared by the parent.
pub(crate) struct ChildPlan {
    /// Paths to try with execve, in order (PATH lookup done by the parent).
    pub(crate) candidates: Vec<std::ffi::CString>,
    /// NULL-terminated argv pointing into CStrings the caller keeps alive.
    pub(crate) argv: Vec<*const libc::c_char>,
    /// NULL-terminated envp pointing into CStrings the caller keeps alive and into the
    /// process's `environ` strings; `None`: the child passes `environ` itself, as read right
    /// before its `execve` (the environment unmodified).
    pub(crate) envp: Option<Vec<*const libc::c_char>>,
    pub(crate) cwd: Option<std::ffi::CString>,
    /// `(source, target)`: the child gets `source` at `target`.
    pub(crate) fd_map: Vec<(RawFd, RawFd)>,
    /// The standard streams the child connects to `/dev/null`, which it opens itself (read-only
    /// for stdin, write-only for stdout and stderr) once it has its own fd table: no fd of the
    /// parent is involved, so the table it copies stays 0-2.
    pub(crate) null: [bool; 3],
    pub(crate) setsid: bool,
    pub(crate) pgroup: Option<i32>,
    pub(crate) uid: Option<u32>,
    pub(crate) gid: Option<u32>,
    pub(crate) groups: Option<Vec<libc::gid_t>>,
    /// Signals to block in the child; `None`: the parent thread's mask.
    pub(crate) sigmask: Option<Vec<i32>>,
    /// Reset every disposition to the default (else only caught signals, and SIGPIPE).
    pub(crate) reset_all_signals: bool,
    /// An open `cgroup.procs` to write "0" to (the fallback of CLONE_INTO_CGROUP).
    pub(crate) cgroup_procs: Option<RawFd>,
    /// Where a fork-like child reports (seqpacket socket): its pidfd (fork path) and errno.
    pub(crate) report: Option<RawFd>,
    /// The fork path: the child opens its own pidfd and sends it over `report` first.
    pub(crate) send_own_pidfd: bool,
    /// The child shares the parent's fd table (CLONE_FILES) and must unshare it first.
    pub(crate) files_shared: bool,
    /// The errno of the failed step, written by a vfork child (shared memory).
    pub(crate) err: std::sync::atomic::AtomicI32,
    /// The parent's signal mask, filled in at spawn time.
    parent_mask: libc::sigset_t,
    /// The kernel already reset every caught signal to the default (`CLONE_CLEAR_SIGHAND`):
    /// the child need not query each disposition.
    handlers_cleared: bool,
    /// Every fd below this is copied when the child unshares its fd table; all fds the child
    /// needs are below it.
    keep_below: RawFd,
    /// Do not use `close_range` in the child (set by the fault seam in tests, to exercise the
    /// fallback of kernels before 5.9).
    no_close_range: bool,
    /// The errno a fork child's own `pidfd_open` meets instead of calling it (the fault seam,
    /// for tests: `Call::PidfdOpen` injected in the parent); 0 normally.
    own_pidfd_errno: i32,
}

impl ChildPlan {
    pub(crate) fn new() -> ChildPlan {
        ChildPlan {
            candidates: Vec::new(),
            argv: Vec::new(),
            envp: None,
            cwd: None,
            fd_map: Vec::new(),
            null: [false; 3],
            setsid: false,
            pgroup: None,
            uid: None,
            gid: None,
            groups: None,
            sigmask: None,
            reset_all_signals: false,
            cgroup_procs: None,
            report: None,
            send_own_pidfd: false,
            files_shared: false,
            err: std::sync::atomic::AtomicI32::new(0),
            // SAFETY: sigset_t is plain data; all-zero is the empty set.
            parent_mask: unsafe { std::mem::zeroed() },
            handlers_cleared: false,
            keep_below: 3,
            no_close_range: false,
            own_pidfd_errno: 0,
        }
    }

    fn finish(&mut self) {
        let mut hi = 2;
        for &(s, t) in &self.fd_map {
            hi = hi.max(s).max(t);
        }
        for fd in [self.cgroup_procs, self.report].into_iter().flatten() {
            hi = hi.max(fd);
        }
        // Saturating: a target of i32::MAX is refused by the child's dup (EINVAL), not by an
        // overflow here.
        self.keep_below = hi.saturating_add(1);
        self.no_close_range = fault::check(Call::CloseRange).is_err();
        self.own_pidfd_errno = fault::check(Call::PidfdOpen).err().and_then(|e| e.raw_os_error()).unwrap_or(0);
        self.err.store(0, std::sync::atomic::Ordering::SeqCst);
    }
}

const CLOSE_RANGE_UNSHARE: libc::c_uint = 2;

/// One more than the highest signal number (`_NSIG + 1`): 64 signals, 128 on MIPS.
const NSIG: i32 =
    if cfg!(any(target_arch = "mips", target_arch = "mips64", target_arch = "mips32r6", target_arch = "mips64r6")) {
        129
    } else {
        65
    };

/// The 32-bit-id variants of the credential calls. On x86, arm and sparc the plain numbers are
/// the legacy 16-bit calls (m68k's libc already maps the plain names to the 32-bit ones).
#[cfg(any(target_arch = "x86", target_arch = "arm", target_arch = "sparc"))]
mod id_calls {
    pub(super) const SETGROUPS: libc::c_long = libc::SYS_setgroups32;
    pub(super) const SETRESGID: libc::c_long = libc::SYS_setresgid32;
    pub(super) const SETRESUID: libc::c_long = libc::SYS_setresuid32;
}
#[cfg(not(any(target_arch = "x86", target_arch = "arm", target_arch = "sparc")))]
mod id_calls {
    pub(super) const SETGROUPS: libc::c_long = libc::SYS_setgroups;
    pub(super) const SETRESGID: libc::c_long = libc::SYS_setresgid;
    pub(super) const SETRESUID: libc::c_long = libc::SYS_setresuid;
}

/// The child side. Returns the errno of the step that failed (execve only returns on failure),
/// after writing it to the report socket of a fork-like child.
///
/// # Safety
/// Must run in a freshly created child (vfork or fork) of a process whose `plan` is valid;
/// only async-signal-safe calls are made.
unsafe fn child_exec(plan: &ChildPlan) -> i32 {
    let mut report = plan.report.unwrap_or(-1);
    // SAFETY: same contract as ours.
    let e = unsafe { child_steps(plan, &mut report) };
    if report >= 0 {
        let bytes = e.to_ne_bytes();
        // SAFETY: writing 4 bytes from a local array to our report socket.
        unsafe { libc::write(report, bytes.as_ptr().cast(), bytes.len()) };
    }
    e
}

/// The steps of [`child_exec`]; `report` follows the report fd when it is moved.
///
/// # Safety
/// As [`child_exec`].
unsafe fn child_steps(plan: &ChildPlan, report: &mut RawFd) -> i32 {
    let errno = || io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO);
    // SAFETY: (the whole body) raw system calls on fds and memory the parent prepared; every
    // pointer passed comes from `plan`, which outlives the child's use of it.
    unsafe {
        if plan.files_shared {
            // Get our own fd table holding only the fds below keep_below (5.9), else a full copy.
            let r = if plan.no_close_range {
                -1
            } else {
                libc::syscall(libc::SYS_close_range, plan.keep_below as libc::c_uint, !0u32, CLOSE_RANGE_UNSHARE)
            };
            if r < 0 && libc::unshare(libc::CLONE_FILES) < 0 {
                return errno();
            }
        }
        if plan.send_own_pidfd {
            if plan.own_pidfd_errno != 0 {
                return plan.own_pidfd_errno;
            }
            let fd = libc::syscall(uapi::SYS_pidfd_open, libc::getpid(), 0);
            if fd < 0 {
                return errno();
            }
            let sent = send_with_fd(*report, &0i32.to_ne_bytes(), fd as RawFd);
            libc::close(fd as RawFd);
            if let Err(e) = sent {
                return e.raw_os_error().unwrap_or(libc::EIO);
            }
        }
        // Signal dispositions: a handler of the parent must never run in the child.
        if plan.reset_all_signals {
            for sig in 1..NSIG {
                if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                    // The raw call also reaches the signals libc reserves for itself (32, 33).
                    raw_sig_default(sig);
                }
            }
        } else if plan.handlers_cleared {
            // CLONE_CLEAR_SIGHAND reset every caught signal; ignored ones stay ignored, except
            // SIGPIPE (which Rust's runtime ignores), as std does.
            raw_sig_default(libc::SIGPIPE);
        } else {
            for sig in 1..NSIG {
                if sig == libc::SIGKILL || sig == libc::SIGSTOP {
                    continue;
                }
                if sig == libc::SIGPIPE || raw_sig_caught(sig) {
                    raw_sig_default(sig);
                }
            }
        }
        if plan.setsid && libc::setsid() < 0 {
            return errno();
        }
        if let Some(pg) = plan.pgroup
            && libc::setpgid(0, pg) < 0
        {
            return errno();
        }
        if let Some(fd) = plan.cgroup_procs
            && libc::write(fd, b"0".as_ptr().cast(), 1) != 1
        {
            return errno();
        }
        // fds: first lift every source (and the report fd) above all targets, so no dup2 can
        // clobber a source; then place them. dup2 clears FD_CLOEXEC on the target.
        let lift = |fd: RawFd| libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, plan.keep_below);
        if *report >= 0 {
            let moved = lift(*report);
            if moved < 0 {
                return errno();
            }
            *report = moved;
        }
        let mut lifted = [(-1, -1); 64];
        if plan.fd_map.len() > lifted.len() {
            return libc::EMFILE;
        }
        for (i, &(src, dst)) in plan.fd_map.iter().enumerate() {
            let tmp = lift(src);
            if tmp < 0 {
                return errno();
            }
            lifted[i] = (tmp, dst);
        }
        for &(tmp, dst) in &lifted[..plan.fd_map.len()] {
            if libc::dup2(tmp, dst) < 0 {
                return errno();
            }
            libc::close(tmp);
        }
        // Null streams: /dev/null opened here, read-only for stdin, write-only for the others.
        if plan.null[0]
            && let Err(e) = null_onto(libc::O_RDONLY, &[0])
        {
            return e;
        }
        let mut outs = [0 as RawFd; 2];
        let mut n_outs = 0;
        for target in [1, 2] {
            if plan.null[target as usize] {
                outs[n_outs] = target;
                n_outs += 1;
            }
        }
        if let Err(e) = null_onto(libc::O_WRONLY, &outs[..n_outs]) {
            return e;
        }
        // Only 0-2, the mapped targets and the (close-on-exec) report fd stay: sources, pipes
        // of other children and every fd without close-on-exec are closed, on every path.
        let mut keep = [0 as RawFd; 65];
        let mut n = 0;
        for &(_, dst) in &plan.fd_map {
            if dst >= 3 {
                keep[n] = dst;
                n += 1;
            }
        }
        if *report >= 0 {
            keep[n] = *report;
            n += 1;
        }
        if let Err(e) = close_all_but(&mut keep[..n], plan.no_close_range) {
            return e;
        }
        if let Some(groups) = &plan.groups {
            if libc::syscall(id_calls::SETGROUPS, groups.len(), groups.as_ptr()) < 0 {
                return errno();
            }
        } else if plan.uid.is_some() {
            // Like std: dropping to another user drops the supplementary groups where allowed.
            libc::syscall(id_calls::SETGROUPS, 0usize, std::ptr::null::<libc::gid_t>());
        }
        // Raw syscalls: glibc's setuid would broadcast to the parent's threads.
        if let Some(g) = plan.gid
            && libc::syscall(id_calls::SETRESGID, g, g, g) < 0
        {
            return errno();
        }
        if let Some(u) = plan.uid
            && libc::syscall(id_calls::SETRESUID, u, u, u) < 0
        {
            return errno();
        }
        if let Some(dir) = &plan.cwd
            && libc::chdir(dir.as_ptr()) < 0
        {
            return errno();
        }
        let mut mask: libc::sigset_t = plan.parent_mask;
        if let Some(sigs) = &plan.sigmask {
            libc::sigemptyset(&mut mask);
            for &s in sigs {
                libc::sigaddset(&mut mask, s);
            }
        }
        libc::pthread_sigmask(libc::SIG_SETMASK, &mask, std::ptr::null_mut());
        let mut result = libc::ENOENT;
        let mut saw_eacces = false;
        // The environment unmodified: `environ` itself, read now (see `environ_entries`).
        let envp = match &plan.envp {
            Some(envp) => envp.as_ptr(),
            None => environ_now(),
        };
        for path in &plan.candidates {
            libc::execve(path.as_ptr(), plan.argv.as_ptr(), envp);
            match errno() {
                libc::EACCES => saw_eacces = true,
                e @ (libc::ENOENT | libc::ENOTDIR | libc::ELOOP | libc::ENAMETOOLONG | libc::ESTALE) => result = e,
                e => {
                    result = e;
                    saw_eacces = false;
                    break;
                }
            }
        }
        if saw_eacces { libc::EACCES } else { result }
    }
}

/// Opens `/dev/null` with `mode` and puts it at each of `targets` (standard stream numbers), in
/// the child. The fd is opened without close-on-exec, since it may itself land on a target (the
/// lowest free number, when a standard stream is closed); otherwise it is closed after the
/// `dup2`s. Returns the errno of a failed step.
///
/// # Safety
/// Only in a freshly created child with its own fd table; async-signal-safe.
unsafe fn null_onto(mode: libc::c_int, targets: &[RawFd]) -> Result<(), i32> {
    if targets.is_empty() {
        return Ok(());
    }
    let errno = || io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO);
    // SAFETY: a NUL-terminated literal path; the fd is ours.
    let fd = unsafe { libc::open(c"/dev/null".as_ptr(), mode) };
    if fd < 0 {
        return Err(errno());
    }
    let mut landed = false;
    for &t in targets {
        if t == fd {
            landed = true;
            continue;
        }
        // SAFETY: duplicating our own fd onto a number of our own table.
        if unsafe { libc::dup2(fd, t) } < 0 {
            return Err(errno());
        }
    }
    if !landed {
        // SAFETY: closing the fd opened above.
        unsafe { libc::close(fd) };
    }
    Ok(())
}

unsafe extern "C" {
    /// The process's environment (POSIX): a NULL-terminated array of `KEY=VALUE` strings that
    /// libc's `setenv`/`putenv`/`unsetenv` (and `std::env::set_var`/`remove_var`) replace.
    #[link_name = "environ"]
    static mut ENVIRON: *mut *mut libc::c_char;
}

/// The current value of `environ`. Async-signal-safe (one load).
fn environ_now() -> *const *const libc::c_char {
    // SAFETY: reads the pointer value only (no reference to the static is formed).
    unsafe { std::ptr::addr_of!(ENVIRON).read_volatile() as *const *const libc::c_char }
}

/// Calls `f` with each entry of the process's environment, in `environ`'s order, as a C string
/// that lives as long as nobody modifies the environment.
///
/// Like `getenv`, `posix_spawn` and std's spawn, this reads `environ` without a lock that C code
/// would honour: a concurrent `setenv`/`putenv`/`unsetenv` in another thread may free what it
/// reads. That is why `std::env::set_var` and `remove_var` are `unsafe` since Rust 2024: their
/// callers must ensure no other thread reads the environment meanwhile.
pub(crate) fn environ_entries(mut f: impl FnMut(&CStr)) {
    let mut p = environ_now();
    if p.is_null() {
        return;
    }
    // SAFETY: `environ` is a NULL-terminated array of NUL-terminated strings (POSIX), valid
    // while no other thread modifies the environment (the caller's contract above, the same as
    // `set_var`'s).
    unsafe {
        while !(*p).is_null() {
            f(CStr::from_ptr(*p));
            p = p.add(1);
        }
    }
}

/// Closes every fd from 3 up except those in `keep` (sorted here), in the child: one
/// `close_range` per gap between kept fds (5.9), so the cost does not grow with the number of
/// fds the parent holds. Without `close_range`: the numbers listed in `/proc/self/fd`, read
/// with `getdents64` into a stack buffer (no allocation); without `/proc`: every number below
/// the `RLIMIT_NOFILE` soft limit. Returns the errno of a failure that leaves fds open.
///
/// # Safety
/// Only in a freshly created child with its own fd table; async-signal-safe.
unsafe fn close_all_but(keep: &mut [RawFd], no_close_range: bool) -> Result<(), i32> {
    keep.sort_unstable();
    if !no_close_range {
        let mut lo: libc::c_uint = 3;
        let mut ok = true;
        for &k in keep.iter() {
            let k = k as libc::c_uint;
            if k > lo {
                // SAFETY: closing fds of our own (unshared) table.
                if unsafe { libc::syscall(libc::SYS_close_range, lo, k - 1, 0 as libc::c_uint) } < 0 {
                    ok = false;
                    break;
                }
            }
            lo = lo.max(k + 1);
        }
        // SAFETY: as above.
        if ok && unsafe { libc::syscall(libc::SYS_close_range, lo, !0 as libc::c_uint, 0 as libc::c_uint) } == 0 {
            return Ok(());
        }
    }
    let kept = |fd: RawFd| fd < 3 || keep.binary_search(&fd).is_ok();
    // SAFETY: NUL-terminated path; the fd is ours.
    let dir = unsafe { libc::open(c"/proc/self/fd".as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) };
    if dir >= 0 {
        let mut buf = [0u8; 2048];
        loop {
            // SAFETY: `buf` is writable for its length.
            let n = unsafe { libc::syscall(libc::SYS_getdents64, dir, buf.as_mut_ptr(), buf.len()) };
            if n <= 0 {
                break;
            }
            let mut at = 0usize;
            while at + 19 < n as usize {
                // struct linux_dirent64: u64 ino, i64 off, u16 reclen, u8 type, name.
                let reclen = u16::from_ne_bytes([buf[at + 16], buf[at + 17]]) as usize;
                if reclen == 0 {
                    break;
                }
                let name = &buf[at + 19..(at + reclen).min(n as usize)];
                let mut fd: i64 = 0;
                let mut digits = 0;
                for &c in name.iter().take_while(|&&c| c != 0) {
                    if !c.is_ascii_digit() || fd > i64::from(i32::MAX) {
                        digits = 0;
                        break;
                    }
                    fd = fd * 10 + i64::from(c - b'0');
                    digits += 1;
                }
                if digits > 0 && fd <= i64::from(i32::MAX) && fd as RawFd != dir && !kept(fd as RawFd) {
                    // SAFETY: closing an fd of our own table.
                    unsafe { libc::close(fd as RawFd) };
                }
                at += reclen;
            }
        }
        // SAFETY: our own directory fd.
        unsafe { libc::close(dir) };
        return Ok(());
    }
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `lim` is writable.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } < 0 {
        return Err(io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO));
    }
    let top = lim.rlim_cur.min(1 << 20) as RawFd;
    let highest_kept = keep.last().copied().unwrap_or(0);
    for fd in 3..top.max(highest_kept + 1) {
        if !kept(fd) {
            // SAFETY: closing an fd of our own table (EBADF for numbers not open).
            unsafe { libc::close(fd) };
        }
    }
    Ok(())
}

/// mips lays out the kernel's `struct sigaction` and `sigset_t` differently from the others.
const MIPS: bool =
    cfg!(any(target_arch = "mips", target_arch = "mips64", target_arch = "mips32r6", target_arch = "mips64r6"));

/// The raw `rt_sigaction` system call: `act` and `old` point to the kernel's `struct sigaction`
/// (or are null). Never libc's `sigaction`: musl's takes a lock for `SIGABRT`, which another
/// thread may hold at the instant a fork-like child is created without libc's `fork` (the
/// raw clone3 into a cgroup), so the child would wait for it forever.
///
/// # Safety
/// `act`, if not null, points to a kernel `struct sigaction` ([`KSIGACTION_BYTES`] readable
/// bytes); `old`, if not null, to as many writable ones.
unsafe fn raw_rt_sigaction(sig: i32, act: *const u8, old: *mut u8) -> libc::c_long {
    // The kernel's sigset_t: 128 signals on mips, 64 elsewhere.
    const SIGSET_BYTES: usize = if MIPS { 16 } else { 8 };
    // SAFETY: the caller's pointers; sparc takes a restorer before the size (null: none).
    unsafe {
        if cfg!(any(target_arch = "sparc", target_arch = "sparc64")) {
            libc::syscall(libc::SYS_rt_sigaction, sig, act, old, std::ptr::null::<u8>(), SIGSET_BYTES)
        } else {
            libc::syscall(libc::SYS_rt_sigaction, sig, act, old, SIGSET_BYTES)
        }
    }
}

/// More bytes than any architecture's kernel `struct sigaction`.
const KSIGACTION_BYTES: usize = 64;

/// `rt_sigaction(sig, SIG_DFL)` with an all-zero kernel `struct sigaction` (handler SIG_DFL, no
/// flags, empty mask: the same bytes in every architecture's layout).
fn raw_sig_default(sig: i32) {
    let zero = [0u64; KSIGACTION_BYTES / 8];
    // SAFETY: a zeroed buffer as large as any kernel sigaction; no old action.
    unsafe { raw_rt_sigaction(sig, zero.as_ptr().cast(), std::ptr::null_mut()) };
}

/// Whether `sig` has a handler (neither `SIG_DFL` nor `SIG_IGN`), from the raw system call; an
/// invalid signal has none.
fn raw_sig_caught(sig: i32) -> bool {
    // The handler leads the kernel's struct, except on mips, where an int of flags comes
    // first (padded to the pointer's alignment).
    const HANDLER_AT: usize = if MIPS { size_of::<usize>() } else { 0 };
    let mut old = [0u64; KSIGACTION_BYTES / 8];
    // SAFETY: `old` is writable for KSIGACTION_BYTES; no new action.
    if unsafe { raw_rt_sigaction(sig, std::ptr::null(), old.as_mut_ptr().cast()) } != 0 {
        return false;
    }
    // SAFETY: HANDLER_AT + a pointer's size lies inside `old`; the read is unaligned-safe.
    let handler = unsafe { old.as_ptr().cast::<u8>().add(HANDLER_AT).cast::<usize>().read_unaligned() };
    handler != libc::SIG_DFL && handler != libc::SIG_IGN
}

extern "C" fn vfork_child_entry(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the `ChildPlan` the suspended parent passed to clone; we are the child.
    unsafe {
        let plan = &*(arg as *const ChildPlan);
        let e = child_exec(plan);
        plan.err.store(e, std::sync::atomic::Ordering::SeqCst);
        libc::_exit(127)
    }
}

/// Blocks every signal on the calling thread, returning the previous mask.
fn block_all_signals() -> libc::sigset_t {
    // SAFETY: sigset_t values are plain data written by the calls.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        old
    }
}

fn restore_signals(old: &libc::sigset_t) {
    // SAFETY: `old` is a valid mask returned by block_all_signals.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, old, std::ptr::null_mut()) };
}

/// The cached child stack of the vfork paths (null: none cached). A spawn takes it, leaving
/// null, and puts it back once the clone has returned, i.e. once the vfork child has exec'd or
/// exited and no longer runs on it. A spawn that finds the slot empty (another thread's spawn
/// holds the stack) maps its own; one that finds the slot refilled when it is done unmaps its
/// own. So no two children ever run on one stack, and at most one stays mapped between spawns.
static STACK_SLOT: AtomicPtr<libc::c_void> = AtomicPtr::new(std::ptr::null_mut());

/// A child stack: mmap'd, with a guard page at the bottom; taken from `slot` (or mapped when
/// the slot is empty) and given back to it when dropped (or unmapped when the slot is full).
pub(crate) struct Stack {
    base: *mut libc::c_void,
    slot: &'static AtomicPtr<libc::c_void>,
}

impl Stack {
    const SIZE: usize = 128 * 1024;

    pub(crate) fn take(slot: &'static AtomicPtr<libc::c_void>) -> io::Result<Stack> {
        let base = slot.swap(std::ptr::null_mut(), Ordering::Acquire);
        if !base.is_null() {
            return Ok(Stack { base, slot });
        }
        // SAFETY: anonymous private mapping; checked for MAP_FAILED.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                Stack::SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the first page of our own mapping becomes the guard.
        unsafe { libc::mprotect(base, 4096, libc::PROT_NONE) };
        fault::note_stack_mapped();
        Ok(Stack { base, slot })
    }

    pub(crate) fn base(&self) -> *mut libc::c_void {
        self.base
    }

    fn top(&self) -> *mut libc::c_void {
        // SAFETY: one past the end of our mapping; stacks grow down (on every Linux target
        // Rust supports except hppa, which Rust does not support).
        unsafe { self.base.cast::<u8>().add(Stack::SIZE).cast() }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // No child runs on the stack any more (the vfork child has exec'd or exited): back to
        // the slot if it is empty, else unmapped.
        if self.slot.compare_exchange(std::ptr::null_mut(), self.base, Ordering::Release, Ordering::Relaxed).is_err() {
            // SAFETY: unmapping our own mapping, which nobody else references.
            unsafe { libc::munmap(self.base, Stack::SIZE) };
        }
    }
}

/// Set when the kernel answered the vfork clone3 with a definite "no": `ENOSYS`, or `EINVAL`
/// (no `CLONE_CLEAR_SIGHAND` before 5.5). Only the kernel's answers are remembered, never an
/// `EPERM` (a policy may change) nor an error injected by the fault seam (it returns before the
/// call).
static CLONE3_VFORK_REFUSED: AtomicBool = AtomicBool::new(false);

/// Whether the kernel refused the vfork clone3 for good (see [`CLONE3_VFORK_REFUSED`]).
pub(crate) fn clone3_vfork_refused() -> bool {
    CLONE3_VFORK_REFUSED.load(Ordering::Relaxed)
}

/// Whether this architecture has the [`clone3_vfork`] trampoline (x86_64 and aarch64); the
/// others create the vfork child with `clone` only.
pub(crate) const CLONE3_VFORK: bool =
    cfg!(any(all(target_arch = "x86_64", target_pointer_width = "64"), target_arch = "aarch64"));

/// `clone3(args)` for a child on its own stack that shares our memory (`CLONE_VM`). In the child
/// the system call returns 0 on the new stack, where no Rust frame of ours exists: the
/// assembly calls `f(arg)` there (frame pointer and return address zeroed) and exits with its
/// result should it return. Returns what the kernel returned in the parent: the child's pid or
/// `-errno`.
///
/// # Safety
/// `args` must name a mapped stack (`stack`, `stack_size`) that nothing else uses until the
/// child has exec'd or exited (with `CLONE_VFORK`, until this returns), with a 16-byte aligned
/// top; `f` must only make async-signal-safe calls; `arg` must stay valid for the child's use.
#[cfg(all(target_arch = "x86_64", target_pointer_width = "64"))]
unsafe fn clone3_vfork(
    args: &mut uapi::clone_args,
    f: extern "C" fn(*mut libc::c_void) -> libc::c_int,
    arg: *mut libc::c_void,
) -> libc::c_long {
    let ret: libc::c_long;
    // SAFETY: the caller's contract. In the parent only rax (the result), rcx and r11 (the
    // syscall instruction) change and nothing is pushed. The child never leaves the assembly:
    // it runs `f` on the new stack, whose top the kernel put in rsp (16-byte aligned, so `call`
    // leaves the alignment the ABI expects), then `exit`s.
    unsafe {
        std::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "xor ebp, ebp",
            "mov rdi, r12",
            "call r13",
            "mov edi, eax",
            "mov eax, {exit}",
            "syscall",
            "ud2",
            "2:",
            exit = const libc::SYS_exit,
            inlateout("rax") uapi::SYS_clone3 => ret,
            in("rdi") args as *mut uapi::clone_args,
            in("rsi") uapi::CLONE_ARGS_SIZE_VER0,
            in("r12") arg,
            in("r13") f,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

/// As the x86_64 version: `svc` returns 0 in x0 in the child, on the new stack (16-byte
/// aligned top), where it calls `f(arg)` with frame pointer and link register zeroed.
///
/// # Safety
/// As the x86_64 version.
#[cfg(target_arch = "aarch64")]
unsafe fn clone3_vfork(
    args: &mut uapi::clone_args,
    f: extern "C" fn(*mut libc::c_void) -> libc::c_int,
    arg: *mut libc::c_void,
) -> libc::c_long {
    let ret: libc::c_long;
    // SAFETY: the caller's contract. In the parent only x0 (the result) changes (`svc`
    // preserves every other register) and nothing is pushed. The child never leaves the
    // assembly: it runs `f` on the new stack, then `exit`s.
    unsafe {
        std::arch::asm!(
            "svc #0",
            "cbnz x0, 2f",
            "mov x29, xzr",
            "mov x30, xzr",
            "mov x0, x2",
            "blr x3",
            "mov x8, #{exit}",
            "svc #0",
            "brk #1",
            "2:",
            exit = const libc::SYS_exit,
            inlateout("x0") args as *mut uapi::clone_args => ret,
            in("x1") uapi::CLONE_ARGS_SIZE_VER0,
            in("x2") arg,
            in("x3") f,
            in("x8") uapi::SYS_clone3,
            options(nostack),
        );
    }
    ret
}

/// Architectures without a trampoline never choose [`Method::Clone3Vfork`]; should one get
/// here, the answer is "no clone3".
#[cfg(not(any(all(target_arch = "x86_64", target_pointer_width = "64"), target_arch = "aarch64")))]
unsafe fn clone3_vfork(
    _args: &mut uapi::clone_args,
    _f: extern "C" fn(*mut libc::c_void) -> libc::c_int,
    _arg: *mut libc::c_void,
) -> libc::c_long {
    -libc::c_long::from(libc::ENOSYS)
}

/// How the child was created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Method {
    /// clone3(CLONE_VM | CLONE_VFORK | CLONE_FILES | CLONE_PIDFD | CLONE_CLEAR_SIGHAND), 5.5,
    /// where this architecture has the trampoline ([`CLONE3_VFORK`]): the kernel resets the
    /// caught signals, so the child does not query each disposition.
    Clone3Vfork,
    /// clone(CLONE_VM | CLONE_VFORK | CLONE_FILES | CLONE_PIDFD), 5.2.
    VforkClone,
    /// clone3(CLONE_PIDFD | CLONE_INTO_CGROUP), fork semantics, 5.7.
    Clone3Cgroup { cgroup: RawFd },
    /// fork; the child sends its own pidfd.
    Fork,
}

/// Why [`spawn_child`] failed.
#[derive(Debug)]
pub(crate) enum SpawnError {
    /// No process was created (clone/fork failed, or the kernel ignored `CLONE_PIDFD`): the errno.
    Create(i32),
    /// The child was created but a step before or at `execve` failed with this errno. `child`
    /// holds its pid and pidfd for the caller to reap; `None` when it has been reaped already.
    Child { errno: i32, child: Option<(i32, OwnedFd)> },
}

/// Creates the child. On success: `(pid, pidfd)`, after the `execve` succeeded.
pub(crate) fn spawn_child(plan: &mut ChildPlan, method: Method) -> Result<(i32, OwnedFd), SpawnError> {
    let result = create_child(plan, method);
    if !matches!(result, Err(SpawnError::Create(_))) {
        fault::note_spawned(method);
    }
    result
}

fn create_child(plan: &mut ChildPlan, method: Method) -> Result<(i32, OwnedFd), SpawnError> {
    let errno_of = |e: io::Error| e.raw_os_error().unwrap_or(libc::EIO);
    match method {
        Method::Clone3Vfork | Method::VforkClone => {
            let clone3 = method == Method::Clone3Vfork;
            if let Err(e) = fault::check(if clone3 { Call::Clone3 } else { Call::Clone }) {
                return Err(SpawnError::Create(errno_of(e)));
            }
            plan.files_shared = true;
            plan.report = None;
            plan.send_own_pidfd = false;
            plan.handlers_cleared = clone3;
            plan.finish();
            let stack = Stack::take(&STACK_SLOT).map_err(|e| SpawnError::Create(errno_of(e)))?;
            let mut pidfd: libc::c_int = -1;
            let old = block_all_signals();
            plan.parent_mask = old;
            let arg: *mut libc::c_void = (plan as *mut ChildPlan).cast();
            let (pid, clone_errno) = if clone3 {
                let mut args = uapi::clone_args {
                    flags: (libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_FILES) as u64
                        | uapi::CLONE_PIDFD
                        | uapi::CLONE_CLEAR_SIGHAND,
                    pidfd: &mut pidfd as *mut libc::c_int as u64,
                    exit_signal: libc::SIGCHLD as u64,
                    stack: stack.base() as usize as u64,
                    stack_size: Stack::SIZE as u64,
                    ..Default::default()
                };
                // SAFETY: the child runs `vfork_child_entry` on the stack `args` names, which
                // this thread alone holds until the call returns (the parent is suspended until
                // the child has exec'd or exited: CLONE_VFORK), with `plan`, which stays alive
                // and unmoved meanwhile; `pidfd` is a valid int for the kernel to write.
                let r = unsafe { clone3_vfork(&mut args, vfork_child_entry, arg) };
                if r < 0 {
                    let errno = (-r) as i32;
                    if errno == libc::ENOSYS || errno == libc::EINVAL {
                        CLONE3_VFORK_REFUSED.store(true, Ordering::Relaxed);
                    }
                    (-1, errno)
                } else {
                    (r as i32, 0)
                }
            } else {
                let flags =
                    libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_FILES | uapi::CLONE_PIDFD as i32 | libc::SIGCHLD;
                // SAFETY: the child runs `vfork_child_entry` on its own stack with `plan`,
                // which stays alive and unmoved while the parent is suspended (CLONE_VFORK);
                // `pidfd` is a valid int for the kernel to write (CLONE_PIDFD uses the
                // parent_tid argument).
                let pid =
                    unsafe { libc::clone(vfork_child_entry, stack.top(), flags, arg, &mut pidfd as *mut libc::c_int) };
                (pid, if pid < 0 { errno_of(io::Error::last_os_error()) } else { 0 })
            };
            restore_signals(&old);
            drop(stack);
            if pid < 0 {
                return Err(SpawnError::Create(clone_errno));
            }
            if pidfd < 0 {
                // The kernel ignored CLONE_PIDFD (the probe said it would not): no pidfd names
                // this child for certain. It has exec'd or exited; reap it by pid, which is
                // ours alone until that reap.
                let _ = reap_raw(pid);
                return Err(SpawnError::Create(libc::ENOSYS));
            }
            let fd = owned(pidfd as libc::c_long);
            match plan.err.load(std::sync::atomic::Ordering::SeqCst) {
                0 => Ok((pid, fd)),
                e => Err(SpawnError::Child { errno: e, child: Some((pid, fd)) }),
            }
        }
        Method::Clone3Cgroup { cgroup } => {
            if let Err(e) = fault::check(Call::Clone3) {
                return Err(SpawnError::Create(errno_of(e)));
            }
            let (parent_end, child_end) = seqpacket_pair().map_err(|e| SpawnError::Create(errno_of(e)))?;
            plan.files_shared = false;
            plan.send_own_pidfd = false;
            plan.handlers_cleared = false;
            plan.report = Some(child_end.as_raw_fd());
            plan.finish();
            let mut pidfd: libc::c_int = -1;
            let mut args = uapi::clone_args {
                flags: uapi::CLONE_PIDFD | uapi::CLONE_INTO_CGROUP,
                pidfd: &mut pidfd as *mut libc::c_int as u64,
                exit_signal: libc::SIGCHLD as u64,
                cgroup: cgroup as u64,
                ..Default::default()
            };
            let old = block_all_signals();
            plan.parent_mask = old;
            // SAFETY: fork semantics (no CLONE_VM, stack 0): the child continues here on a
            // copy of our memory and only runs `child_exec` (async-signal-safe) then `_exit`.
            let pid = unsafe {
                libc::syscall(uapi::SYS_clone3, &mut args as *mut uapi::clone_args, uapi::CLONE_ARGS_SIZE_VER2)
            };
            if pid == 0 {
                // SAFETY: we are the child.
                unsafe {
                    child_exec(plan);
                    libc::_exit(127)
                }
            }
            let clone_err = io::Error::last_os_error();
            restore_signals(&old);
            drop(child_end);
            if pid < 0 {
                return Err(SpawnError::Create(errno_of(clone_err)));
            }
            let fd = owned(pidfd as libc::c_long);
            collect_report(&parent_end, pid as i32, fd)
        }
        Method::Fork => {
            let (parent_end, child_end) = seqpacket_pair().map_err(|e| SpawnError::Create(errno_of(e)))?;
            plan.files_shared = false;
            plan.send_own_pidfd = true;
            plan.handlers_cleared = false;
            plan.report = Some(child_end.as_raw_fd());
            plan.finish();
            let old = block_all_signals();
            plan.parent_mask = old;
            // SAFETY: the child only runs `child_exec` (async-signal-safe) then `_exit`.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                // SAFETY: we are the child.
                unsafe {
                    child_exec(plan);
                    libc::_exit(127)
                }
            }
            let fork_err = io::Error::last_os_error();
            restore_signals(&old);
            drop(child_end);
            if pid < 0 {
                return Err(SpawnError::Create(errno_of(fork_err)));
            }
            let mut got = Vec::new();
            let mut first = [0u8; 4];
            let received = recv_with_fds(parent_end.as_raw_fd(), &mut first, &mut got);
            let fd = match (received, got.pop()) {
                (Ok(_), Some(Received::Rights(fd))) => fd,
                (received, _) => {
                    // The child failed before sending its pidfd (its 4-byte report says why), or
                    // died without a word. The pid is ours alone until this reap.
                    let _ = reap_raw(pid);
                    let errno = match received {
                        Ok(4) => i32::from_ne_bytes(first),
                        Ok(_) => libc::EIO,
                        Err(e) => errno_of(e),
                    };
                    return Err(SpawnError::Child { errno, child: None });
                }
            };
            collect_report(&parent_end, pid, fd)
        }
    }
}

/// Reads a fork-like child's report: EOF means the exec succeeded, 4 bytes are its errno.
fn collect_report(sock: &OwnedFd, pid: i32, fd: OwnedFd) -> Result<(i32, OwnedFd), SpawnError> {
    let mut buf = [0u8; 4];
    let mut got = Vec::new();
    match recv_with_fds(sock.as_raw_fd(), &mut buf, &mut got) {
        Ok(0) => Ok((pid, fd)),
        Ok(_) => Err(SpawnError::Child { errno: i32::from_ne_bytes(buf), child: Some((pid, fd)) }),
        Err(e) => Err(SpawnError::Child { errno: e.raw_os_error().unwrap_or(libc::EIO), child: Some((pid, fd)) }),
    }
}

/// `poll` on several fds for readability (EINTR retried); marks the ready ones.
pub(crate) fn poll_many(fds: &mut [(RawFd, bool)], timeout_ms: i32) -> io::Result<()> {
    let mut pfds: Vec<libc::pollfd> =
        fds.iter().map(|&(fd, _)| libc::pollfd { fd, events: libc::POLLIN, revents: 0 }).collect();
    // SAFETY: `pfds` is a valid array of pollfds of the length passed.
    retry(|| cvt_int(unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout_ms) }))?;
    for (slot, p) in fds.iter_mut().zip(&pfds) {
        slot.1 = p.revents != 0;
    }
    Ok(())
}

/// Helpers the unit tests need that take `unsafe` (kept here, with the rest of it).
#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    /// A `/dev/null` fd without close-on-exec, numbered `min` or more: what a careless part of
    /// a program leaves open, and a spawned child must not inherit.
    pub(crate) fn inheritable_fd(min: RawFd) -> OwnedFd {
        let null = std::fs::File::open("/dev/null").unwrap();
        // SAFETY: F_DUPFD takes an int and returns a new fd (without FD_CLOEXEC) that we own.
        let fd = unsafe { libc::fcntl(null.as_raw_fd(), libc::F_DUPFD, min) };
        assert!(fd >= min, "F_DUPFD: {}", io::Error::last_os_error());
        owned(fd as libc::c_long)
    }

    /// Sets `SIGCHLD` to `SIG_IGN` for the whole process (children are then auto-reaped).
    pub(crate) fn ignore_sigchld() {
        // SAFETY: installing SIG_IGN runs no code of ours.
        unsafe { libc::signal(libc::SIGCHLD, libc::SIG_IGN) };
    }

    /// Blocks `sig` on the calling thread only.
    pub(crate) fn block_on_this_thread(sig: i32) {
        // SAFETY: sigset_t is plain data written by the calls.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, sig);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        }
    }

    /// Takes a pending `sig` of the calling thread (where it is blocked) and returns the
    /// received `siginfo_t` as bytes, exactly as the kernel wrote it.
    pub(crate) fn take_signal(sig: i32) -> [u8; 128] {
        // SAFETY: sigset_t and siginfo_t are plain data; sigwaitinfo writes `info`.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, sig);
            let mut info = MaybeUninit::<libc::siginfo_t>::zeroed();
            let got = loop {
                let r = libc::sigwaitinfo(&set, info.as_mut_ptr());
                if r >= 0 || io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                    break r;
                }
            };
            assert_eq!(got, sig, "sigwaitinfo: {}", io::Error::last_os_error());
            std::mem::transmute::<libc::siginfo_t, [u8; 128]>(info.assume_init())
        }
    }

    /// libc's `sigaction(sig, NULL, &old)`: a query (musl's takes a lock for `SIGABRT`).
    pub(crate) fn libc_sigaction_query(sig: i32) {
        // SAFETY: no new action; `old` is plain data the call writes.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            libc::sigaction(sig, std::ptr::null(), &mut old);
        }
    }

    /// Closes `fd` of this process (the subprocess tests that run with closed standard fds).
    pub(crate) fn close_fd(fd: RawFd) {
        // SAFETY: closing a number of our own table; the caller owns whatever it named.
        unsafe { libc::close(fd) };
    }

    /// Writes to the highest and lowest usable byte of a child stack (which must be mapped and
    /// writable above its guard page) and returns them read back.
    pub(crate) fn touch_stack(stack: &Stack) -> (u8, u8) {
        // SAFETY: both addresses lie inside the mapping, above the 4096-byte guard page.
        unsafe {
            let top = stack.top().cast::<u8>().sub(1);
            let low = stack.base().cast::<u8>().add(4096);
            top.write_volatile(0xa5);
            low.write_volatile(0x5a);
            (top.read_volatile(), low.read_volatile())
        }
    }

    /// What `slot` holds (null: no stack cached).
    pub(crate) fn slot_holds(slot: &AtomicPtr<libc::c_void>) -> *mut libc::c_void {
        slot.load(Ordering::Acquire)
    }

    extern "C" fn noop_handler(_sig: libc::c_int) {}

    /// Sets the disposition of `sig` for the whole process: `Some(true)` a (no-op) handler,
    /// `Some(false)` ignored, `None` the default.
    pub(crate) fn set_disposition(sig: i32, handler: Option<bool>) {
        let action = match handler {
            Some(true) => noop_handler as extern "C" fn(libc::c_int) as libc::sighandler_t,
            Some(false) => libc::SIG_IGN,
            None => libc::SIG_DFL,
        };
        // SAFETY: the handler does nothing (async-signal-safe); the others run no code.
        unsafe { libc::signal(sig, action) };
    }

    /// Makes the kernel answer `errno` to every `clone3` of the calling thread (and the
    /// processes it creates) whose size is `CLONE_ARGS_SIZE_VER0`: the vfork clone3 of
    /// `pidfd::Command` (the probes and the cgroup clone3 pass other sizes). A seccomp filter:
    /// it stays for the thread's life, so only for a subprocess test. Little-endian targets
    /// (the size's low half is read at `args[1]`'s offset); `false` if it cannot be installed.
    pub(crate) fn refuse_vfork_clone3(errno: i32) -> bool {
        const ARGS1: u32 = 16 + 8; // offsetof(struct seccomp_data, args[1])
        let stmt = |code: u32, k: u32| libc::sock_filter { code: code as u16, jt: 0, jf: 0, k };
        let jeq = |k: u32, jt: u8, jf: u8| libc::sock_filter {
            code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
            jt,
            jf,
            k,
        };
        let filter = [
            stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0),
            jeq(uapi::SYS_clone3 as u32, 0, 3),
            stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, ARGS1),
            jeq(uapi::CLONE_ARGS_SIZE_VER0 as u32, 0, 1),
            stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ERRNO | errno as u32),
            stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW),
        ];
        let prog = libc::sock_fprog { len: filter.len() as u16, filter: filter.as_ptr() as *mut libc::sock_filter };
        // SAFETY: `prog` points to `filter`, both alive for the calls; the kernel copies them.
        unsafe {
            libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
                && libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &prog as *const libc::sock_fprog) == 0
        }
    }

    /// Where `si_value` lies in a `siginfo_t` (the `_rt` member of the union).
    pub(crate) const SI_VALUE_OFFSET: usize =
        std::mem::offset_of!(RtSigInfo, rt) + std::mem::offset_of!(RtPayload, value);
}
