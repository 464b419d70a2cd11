//! The only module of this crate that contains `unsafe` code.
//!
//! One thin function per system call or ioctl. Each returns `io::Result` with the raw `errno`
//! kept, and does nothing but the call: the policy (probes, fallbacks, error mapping) lives in
//! the safe modules. In test builds every wrapper first consults a per-thread fault-injection
//! table ([`fault`]), so the fallbacks can be exercised on any kernel.
//!
//! - `mod.rs`: the thin wrappers the safe modules call;
//! - [`fault`]: the fault-injection seam of the unit tests;
//! - `socket.rs`: peer pidfds and fd passing;
//! - `raw.rs`: the raw system calls allowed between clone and `execve`;
//! - `child.rs`: the child side of `pidfd::Command`, on those raw calls only;
//! - `clone.rs`: the creation paths, the child stack, and `trampoline/` (the vfork `clone3` for
//!   x86_64 and aarch64);
//! - `test_support.rs`: what the unit tests need that takes `unsafe`.
#![allow(unsafe_code)]

mod child;
mod clone;
mod epoll;
pub(crate) mod fault;
mod raw;
mod socket;
#[cfg(test)]
pub(crate) mod test_support;

pub(crate) use child::{ChildPlan, Hook};
#[cfg(test)]
pub(crate) use clone::Stack;
pub(crate) use clone::{CLONE3_VFORK, Method, SpawnError, exec_in_place, spawn_child};
pub use epoll::{Epoll, Event, event_buffer};
pub(crate) use socket::{
    Received, peer_pidfd, pre_exec_send_self_pidfd, recv_with_fds, send_with_fd, seqpacket_pair, set_sock_int,
};

use std::ffi::CStr;
use std::io;
use std::mem::{MaybeUninit, size_of};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use pidfd_sys as uapi;

/// Every wrapped call, as named by the fault-injection seam.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(test), allow(dead_code))]
#[cfg_attr(not(feature = "__test-util"), allow(unreachable_pub))]
pub enum Call {
    /// `pidfd_open`.
    PidfdOpen,
    /// `pidfd_send_signal` (on the fd, for `inject_on_fd`).
    PidfdSendSignal,
    /// `waitid`.
    Waitid,
    /// `PIDFD_GET_INFO` (on the fd).
    GetInfo,
    /// `fstat`.
    Fstat,
    /// `fstatfs`.
    Fstatfs,
    /// `name_to_handle_at`.
    NameToHandleAt,
    /// `open_by_handle_at`.
    OpenByHandleAt,
    /// `pidfd_getfd`.
    PidfdGetfd,
    /// `process_madvise`.
    ProcessMadvise,
    /// `process_mrelease`.
    ProcessMrelease,
    /// `clone3` of `pidfd::Command`: the vfork one (`CLONE_CLEAR_SIGHAND`) and the one into a
    /// cgroup (not the probes: force a feature off for those).
    Clone3,
    /// `clone(CLONE_PIDFD)` of `pidfd::Command`, the vfork one and the fork-like one (not the
    /// probes).
    Clone,
    /// The vfork creation paths of `pidfd::Command` (`clone3` and `clone` with `CLONE_VM`), as a
    /// policy that filters `CLONE_VM` would refuse them.
    Vfork,
    /// `CLONE_PIDFD` dropped from `pidfd::Command`'s clones, as a kernel before 5.2 ignores it.
    IgnorePidfdFlag,
    /// `close_range` in a `pidfd::Command` child (decided by the parent before the spawn).
    CloseRange,
    /// `setns` (the probe of `setns(pidfd)`).
    Setns,
    /// An ioctl that returns a new fd.
    NsIoctl,
    /// Reading a `/proc` file.
    ReadFile,
    /// `getsockopt`.
    GetSockOpt,
    /// `kill`, `tgkill`, `rt_tgsigqueueinfo`.
    Kill,
    /// Makes a feature's probe answer "unsupported", to exercise the fallback on any kernel.
    Feature(crate::Feature),
    /// A call of `pidfd-ns` (the seam is shared through the `__test-util` feature).
    #[cfg(any(test, feature = "__test-util"))]
    Ns(fault::NsCall),
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
/// member of the union. 128 bytes on every architecture, with no implicit padding (asserted
/// below): the bytes the kernel hands the receiver are all ours, so no stack garbage of the
/// sender travels with a signal.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct RtSigInfo {
    signo: i32,
    /// `si_errno`, except on MIPS where `si_code` comes second.
    second: i32,
    third: i32,
    /// Where the pointer-aligned union would leave a hole (4 bytes on 64-bit targets), zeroed.
    hole: [u8; RT_HOLE],
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

const RT_HOLE: usize = size_of::<usize>() - 4;
const RT_REST: usize = (128 - 2 * (8 + size_of::<usize>())) / size_of::<usize>();
const _: () = assert!(size_of::<RtSigInfo>() == 128);
// No implicit padding anywhere: the fields' sizes add up to the struct's.
const _: () = assert!(
    3 * 4 + RT_HOLE + size_of::<RtPayload>() == size_of::<RtSigInfo>()
        && 4 + 4 + size_of::<usize>() * (1 + RT_REST) == size_of::<RtPayload>()
);

impl RtSigInfo {
    pub(crate) fn new(signo: i32, code: i32, value: usize) -> Self {
        // SAFETY: getuid has no preconditions.
        let uid = unsafe { libc::getuid() };
        let mips =
            cfg!(any(target_arch = "mips", target_arch = "mips64", target_arch = "mips32r6", target_arch = "mips64r6"));
        let (second, third) = if mips { (code, 0) } else { (0, code) };
        RtSigInfo {
            signo,
            second,
            third,
            hole: [0; RT_HOLE],
            rt: RtPayload { pid: getpid(), uid, value, rest: [0; RT_REST] },
        }
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

/// The seam's check for the nsfs ioctls, which `pidfd-ns`'s tests name `NsCall::NsfsIoctl` (the
/// probes of the `Ns*` features make them too).
fn nsfs_seam() -> io::Result<()> {
    #[cfg(any(test, feature = "__test-util"))]
    fault::check(Call::Ns(fault::NsCall::NsfsIoctl))?;
    Ok(())
}

/// An nsfs ioctl that returns a new fd (`NS_GET_USERNS`, `NS_GET_PARENT`; argument 0).
pub(crate) fn ns_ioctl_fd(fd: RawFd, cmd: u32) -> io::Result<OwnedFd> {
    nsfs_seam()?;
    // SAFETY: these commands take no argument; 0 is passed and no memory is involved.
    let ret = retry(|| cvt_int(unsafe { libc::ioctl(fd, cmd as _, 0 as libc::c_ulong) }))?;
    Ok(owned(ret as libc::c_long))
}

/// An nsfs ioctl with an integer argument and an integer result (`NS_GET_NSTYPE` with 0, the
/// pid translations with the pid).
pub(crate) fn ns_ioctl_int(fd: RawFd, cmd: u32, arg: libc::c_ulong) -> io::Result<libc::c_int> {
    nsfs_seam()?;
    // SAFETY: the commands take a plain integer argument; no memory is passed.
    retry(|| cvt_int(unsafe { libc::ioctl(fd, cmd as _, arg) }))
}

/// `NS_GET_OWNER_UID`: the kernel writes a `uid_t`.
pub(crate) fn ns_ioctl_uid(fd: RawFd, cmd: u32) -> io::Result<libc::uid_t> {
    nsfs_seam()?;
    let mut uid: libc::uid_t = 0;
    // SAFETY: `uid` is a writable uid_t, which is what the command writes.
    retry(|| cvt_int(unsafe { libc::ioctl(fd, cmd as _, &mut uid as *mut libc::uid_t) }))?;
    Ok(uid)
}

/// `NS_GET_ID`, `NS_GET_MNTNS_ID`: the kernel writes a `__u64`.
pub(crate) fn ns_ioctl_u64(fd: RawFd, cmd: u32) -> io::Result<u64> {
    nsfs_seam()?;
    let mut id: u64 = 0;
    // SAFETY: `id` is a writable u64, which is what the command writes.
    retry(|| cvt_int(unsafe { libc::ioctl(fd, cmd as _, &mut id as *mut u64) }))?;
    Ok(id)
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

/// `pipe2(O_CLOEXEC)`: (read end, write end). What `std::io::pipe` (Rust 1.87) does, for the
/// compilers this crate supports before it.
pub(crate) fn pipe() -> io::Result<(std::fs::File, std::fs::File)> {
    let mut fds = [-1 as libc::c_int; 2];
    // SAFETY: pipe2 writes two fds into the array it is given, which has room for two.
    cvt_int(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    let [r, w] = fds.map(|fd| std::fs::File::from(owned(fd.into())));
    Ok((r, w))
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

/// `setns(fd, nstype)`. EINTR is retried.
pub(crate) fn setns(fd: RawFd, nstype: i32) -> io::Result<()> {
    fault::check(Call::Setns)?;
    // SAFETY: plain integer arguments.
    retry(|| cvt_int(unsafe { libc::setns(fd, nstype) })).map(drop)
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
fn clone_exits_at_once(with_pidfd: bool) -> io::Result<(i32, libc::c_int)> {
    let mut pidfd: libc::c_int = -1;
    let flags = if with_pidfd { uapi::CLONE_PIDFD as libc::c_long } else { 0 };
    match clone::fork_clone(flags, &mut pidfd) {
        0 => raw::exit(0),
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

/// `pollfd` has no padding: every byte handed to the kernel is a field's.
const _: () = assert!(size_of::<libc::pollfd>() == size_of::<libc::c_int>() + 2 * size_of::<libc::c_short>());

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

/// Checks at compile time that `RawFd` is what the kernel's fd type is.
const _: () = assert!(size_of::<RawFd>() == size_of::<libc::c_int>());

/// Wraps a raw fd as a `PidFd`. The caller promises `fd` is an open pidfd it owns (I/O
/// safety); nothing is checked: use `PidFd::try_from(OwnedFd)` to check. (`FromRawFd` needs
/// `unsafe`, so it lives here.)
///
/// An fd that is not a pidfd makes later operations fail (mostly with
/// [`Error::NotPidfd`](crate::Error::NotPidfd)).
impl FromRawFd for crate::PidFd {
    unsafe fn from_raw_fd(fd: RawFd) -> Self {
        // SAFETY: the caller guarantees `fd` is open and owned by nobody else.
        crate::PidFd::from_owned_unchecked(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

impl crate::Command {
    /// Schedules `f` to run in the child just before the program is executed, after every
    /// other setting took effect (stdio, credentials, working directory, signal mask), as
    /// `std::os::unix::process::CommandExt::pre_exec`. Hooks run in the order they were added;
    /// the first error stops the spawn: [`spawn`](crate::Command::spawn) reports its errno
    /// (`EINVAL` when it has none) as it reports a failed exec, and the child is reaped.
    ///
    /// A command with a hook spawns by a fork (`clone(CLONE_PIDFD)` without `CLONE_VM`, else
    /// `fork`), never by the vfork paths: the hook runs in a copy of this process's memory,
    /// so whatever it does cannot reach the parent. That costs what a fork costs (it grows with
    /// the parent's memory).
    ///
    /// The hook sees every fd of this process, as std's does, so it can `dup2` one to the
    /// number the program expects; such a copy (without close-on-exec) is the program's. The
    /// other fds still never reach the program (see [`fd`](crate::Command::fd)): before the
    /// hooks, the spawn marks them close-on-exec instead of closing them, and the fds it moves
    /// go to free numbers only (`close_range(CLOSE_RANGE_CLOEXEC)`, 5.11; before, one `fcntl`
    /// per fd `/proc/self/fd` lists, or without `/proc` per number below the larger
    /// `RLIMIT_NOFILE` limit).
    ///
    /// # Safety
    /// As std's `pre_exec`: the hook runs in a copy of a possibly multi-threaded process at
    /// the instant of the fork. It must not touch a lock another thread might have held then
    /// (the allocator's included: no allocation, no `println!`), nor rely on any thread but
    /// its own; it may only make async-signal-safe calls (most raw system calls are).
    pub unsafe fn pre_exec<F>(&mut self, f: F) -> &mut crate::Command
    where
        F: FnMut() -> io::Result<()> + Send + Sync + 'static,
    {
        self.hooks.push(Box::new(f));
        self
    }
}

/// [`Stdio::Fd`](crate::Stdio::Fd) of a raw fd, as `std::process::Stdio`'s `FromRawFd`: the
/// caller promises `fd` is open and owned by nobody else (I/O safety). (`FromRawFd` needs
/// `unsafe`, so it lives here.)
impl FromRawFd for crate::Stdio {
    unsafe fn from_raw_fd(fd: RawFd) -> Self {
        // SAFETY: the caller guarantees `fd` is open and owned by nobody else.
        crate::Stdio::Fd(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

pub(crate) fn zeroed_rusage() -> Rusage {
    // SAFETY: rusage is plain integers and timevals; all-zero is a valid value.
    unsafe { std::mem::zeroed() }
}

/// `poll` on several fds for readability (EINTR retried): which are ready. A negative fd is
/// skipped, as `poll` does. A fixed array: no allocation per call.
pub(crate) fn poll_many<const N: usize>(fds: [RawFd; N], timeout_ms: i32) -> io::Result<[bool; N]> {
    let mut pfds = fds.map(|fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 });
    // SAFETY: `pfds` is a valid array of pollfds of the length passed.
    retry(|| cvt_int(unsafe { libc::poll(pfds.as_mut_ptr(), N as libc::nfds_t, timeout_ms) }))?;
    Ok(pfds.map(|p| p.revents != 0))
}
