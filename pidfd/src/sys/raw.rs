//! Raw system calls for the code that runs between clone and `execve` (`child.rs`, and the
//! `pre_exec` hook of [`crate::spawn`]).
//!
//! Each function is one `libc::syscall` and nothing else: no glibc wrapper (glibc's `open`,
//! `close`, `write`, ... are cancellation points: a pending `pthread_cancel` would unwind the
//! parent's stack from inside a child that shares its memory), no lock, no allocation. A failure
//! is `Err(errno)`, read from the calling thread's `errno`, which is the only memory they write
//! besides what the caller hands them. The gate's `tidy` step checks that this file and
//! `child.rs` call no `libc::` function but `libc::syscall`.
//!
//! # Safety
//! Every function here is `unsafe`: the caller passes valid pointers (NUL-terminated paths,
//! buffers of the given length) and owns the fds it names.

use std::os::fd::RawFd;

use pidfd_sys as uapi;

/// The result of `libc::syscall`: the value, or the `errno` it left.
fn check(ret: libc::c_long) -> Result<libc::c_long, i32> {
    if ret < 0 { Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)) } else { Ok(ret) }
}

/// `AT_FDCWD` widened as the kernel reads it (an `int` in a long register).
const AT_FDCWD: libc::c_long = libc::AT_FDCWD as libc::c_long;

/// The kernel's `sigset_t`: 128 signals on mips, 64 elsewhere (not libc's 1024-bit type).
#[cfg(any(target_arch = "mips", target_arch = "mips64", target_arch = "mips32r6", target_arch = "mips64r6"))]
pub(crate) type KernelSigset = [u64; 2];
#[cfg(not(any(target_arch = "mips", target_arch = "mips64", target_arch = "mips32r6", target_arch = "mips64r6")))]
pub(crate) type KernelSigset = [u64; 1];

/// Every signal: the set glibc's own `posix_spawn` blocks (its `sigfillset` and
/// `pthread_sigmask` would leave out 32 and 33, which glibc reserves for itself).
pub(crate) const ALL_SIGNALS: KernelSigset = [!0; size_of::<KernelSigset>() / 8];

/// Adds `sig` (1-based) to `set`; a number outside the set is ignored.
pub(crate) const fn sigset_add(set: &mut KernelSigset, sig: i32) {
    let bit = sig as usize - 1;
    if sig > 0 && bit < set.len() * 64 {
        set[bit / 64] |= 1 << (bit % 64);
    }
}

/// `rt_sigprocmask(how, set, old)` on the calling thread.
pub(crate) unsafe fn sigprocmask(how: i32, set: *const KernelSigset, old: *mut KernelSigset) -> Result<(), i32> {
    // SAFETY: the caller's pointers (null or a kernel sigset of the size passed).
    check(unsafe { libc::syscall(libc::SYS_rt_sigprocmask, how, set, old, size_of::<KernelSigset>()) }).map(drop)
}

/// `getpid()`.
pub(crate) fn getpid() -> i32 {
    // SAFETY: no arguments.
    unsafe { libc::syscall(libc::SYS_getpid) as i32 }
}

/// `pidfd_open(getpid(), 0)`: a pidfd of the calling process (5.3).
pub(crate) fn pidfd_open_self() -> Result<RawFd, i32> {
    // SAFETY: plain integer arguments.
    check(unsafe { libc::syscall(uapi::SYS_pidfd_open, getpid(), 0) }).map(|fd| fd as RawFd)
}

/// `openat(AT_FDCWD, path, flags)`.
pub(crate) unsafe fn open(path: *const libc::c_char, flags: i32) -> Result<RawFd, i32> {
    // SAFETY: `path` is NUL-terminated (the caller's contract).
    check(unsafe { libc::syscall(libc::SYS_openat, AT_FDCWD, path, flags, 0) }).map(|fd| fd as RawFd)
}

/// `close(fd)`; the result is ignored (the fd is gone either way).
pub(crate) unsafe fn close(fd: RawFd) {
    // SAFETY: the caller owns `fd`.
    unsafe { libc::syscall(libc::SYS_close, fd) };
}

/// `read(fd, buf, len)`, `EINTR` retried.
pub(crate) unsafe fn read(fd: RawFd, buf: *mut u8, len: usize) -> Result<usize, i32> {
    loop {
        // SAFETY: `buf` is writable for `len` bytes (the caller's contract).
        match check(unsafe { libc::syscall(libc::SYS_read, fd, buf, len) }) {
            Err(libc::EINTR) => continue,
            r => return r.map(|n| n as usize),
        }
    }
}

/// `write(fd, buf, len)`, `EINTR` retried.
pub(crate) unsafe fn write(fd: RawFd, buf: *const u8, len: usize) -> Result<usize, i32> {
    loop {
        // SAFETY: `buf` is readable for `len` bytes (the caller's contract).
        match check(unsafe { libc::syscall(libc::SYS_write, fd, buf, len) }) {
            Err(libc::EINTR) => continue,
            r => return r.map(|n| n as usize),
        }
    }
}

/// `dup3(old, new, flags)` (`old != new`: the kernel refuses equal numbers).
pub(crate) unsafe fn dup3(old: RawFd, new: RawFd, flags: i32) -> Result<(), i32> {
    // SAFETY: fd numbers of the caller's table.
    check(unsafe { libc::syscall(libc::SYS_dup3, old, new, flags) }).map(drop)
}

/// `fcntl(fd, F_DUPFD_CLOEXEC, min)`: a close-on-exec copy of `fd` at the lowest free number
/// from `min` up.
pub(crate) unsafe fn dupfd_cloexec(fd: RawFd, min: RawFd) -> Result<RawFd, i32> {
    // SAFETY: fd numbers of the caller's table; no memory is passed.
    check(unsafe { libc::syscall(libc::SYS_fcntl, fd, libc::F_DUPFD_CLOEXEC, min) }).map(|fd| fd as RawFd)
}

/// `fcntl(fd, F_SETFD, FD_CLOEXEC)`.
pub(crate) unsafe fn set_cloexec(fd: RawFd) {
    // SAFETY: an fd number of the caller's table (EBADF for one not open); no memory is passed.
    let _ = unsafe { libc::syscall(libc::SYS_fcntl, fd, libc::F_SETFD, libc::FD_CLOEXEC) };
}

/// `close_range(first, last, flags)` (5.9; `CLOSE_RANGE_UNSHARE` 5.9).
pub(crate) unsafe fn close_range(first: u32, last: u32, flags: u32) -> Result<(), i32> {
    // SAFETY: closes fds of the caller's table.
    check(unsafe { libc::syscall(libc::SYS_close_range, first, last, flags) }).map(drop)
}

/// `unshare(flags)`.
pub(crate) unsafe fn unshare(flags: i32) -> Result<(), i32> {
    // SAFETY: plain integer argument.
    check(unsafe { libc::syscall(libc::SYS_unshare, flags) }).map(drop)
}

/// `getdents64(fd, buf, len)`: the bytes of directory entries written to `buf`.
pub(crate) unsafe fn getdents64(fd: RawFd, buf: *mut u8, len: usize) -> Result<usize, i32> {
    // SAFETY: `buf` is writable for `len` bytes (the caller's contract).
    check(unsafe { libc::syscall(libc::SYS_getdents64, fd, buf, len) }).map(|n| n as usize)
}

/// The `RLIMIT_NOFILE` limits `(soft, hard)` of the calling process (`prlimit64`, which every
/// architecture has, unlike `getrlimit`).
pub(crate) fn nofile_limits() -> Result<(u64, u64), i32> {
    let mut lim = [0u64; 2];
    // SAFETY: pid 0 (ourselves), no new limit, `lim` is a writable `struct rlimit64`.
    check(unsafe {
        libc::syscall(libc::SYS_prlimit64, 0, libc::RLIMIT_NOFILE, std::ptr::null::<u64>(), lim.as_mut_ptr())
    })?;
    Ok((lim[0], lim[1]))
}

/// `setsid()`.
pub(crate) fn setsid() -> Result<(), i32> {
    // SAFETY: no arguments.
    check(unsafe { libc::syscall(libc::SYS_setsid) }).map(drop)
}

/// `setpgid(0, pgid)`.
pub(crate) fn setpgid_self(pgid: i32) -> Result<(), i32> {
    // SAFETY: plain integer arguments.
    check(unsafe { libc::syscall(libc::SYS_setpgid, 0, pgid) }).map(drop)
}

/// `chdir(path)`.
pub(crate) unsafe fn chdir(path: *const libc::c_char) -> Result<(), i32> {
    // SAFETY: `path` is NUL-terminated (the caller's contract).
    check(unsafe { libc::syscall(libc::SYS_chdir, path) }).map(drop)
}

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

/// `setgroups(len, list)` (the 32-bit-id call). Raw: glibc's would broadcast to the parent's
/// threads (`SIGSETXID`).
pub(crate) unsafe fn setgroups(groups: *const libc::gid_t, len: usize) -> Result<(), i32> {
    // SAFETY: `groups` is null with `len` 0, or points to `len` readable gids.
    check(unsafe { libc::syscall(id_calls::SETGROUPS, len, groups) }).map(drop)
}

/// `setresgid(g, g, g)` (the 32-bit-id call).
pub(crate) fn setresgid(g: u32) -> Result<(), i32> {
    // SAFETY: plain integer arguments.
    check(unsafe { libc::syscall(id_calls::SETRESGID, g, g, g) }).map(drop)
}

/// `setresuid(u, u, u)` (the 32-bit-id call).
pub(crate) fn setresuid(u: u32) -> Result<(), i32> {
    // SAFETY: plain integer arguments.
    check(unsafe { libc::syscall(id_calls::SETRESUID, u, u, u) }).map(drop)
}

/// `execve(path, argv, envp)`: returns only on failure, with its errno.
pub(crate) unsafe fn execve(
    path: *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
) -> i32 {
    // SAFETY: NUL-terminated path and NULL-terminated arrays of NUL-terminated strings (the
    // caller's contract).
    match check(unsafe { libc::syscall(libc::SYS_execve, path, argv, envp) }) {
        Err(e) => e,
        Ok(_) => libc::EIO,
    }
}

/// `exit_group(code)`: the calling process ends here (no atexit handler, no stdio flush).
pub(crate) fn exit(code: i32) -> ! {
    // SAFETY: ends the calling process; nothing of ours runs after it.
    unsafe { libc::syscall(libc::SYS_exit_group, code) };
    loop {
        // SAFETY: exit_group does not return; should it ever, the plain exit of this thread.
        unsafe { libc::syscall(libc::SYS_exit, code) };
    }
}

/// mips lays out the kernel's `struct sigaction` and `sigset_t` differently from the others.
const MIPS: bool =
    cfg!(any(target_arch = "mips", target_arch = "mips64", target_arch = "mips32r6", target_arch = "mips64r6"));

/// More bytes than any architecture's kernel `struct sigaction`.
const KSIGACTION_BYTES: usize = 64;

/// The raw `rt_sigaction` system call: `act` and `old` point to the kernel's `struct sigaction`
/// (or are null). Never libc's `sigaction`: musl's takes a lock for `SIGABRT`, which another
/// thread may hold at the instant a fork-like child is created without libc's `fork`.
///
/// # Safety
/// `act`, if not null, points to [`KSIGACTION_BYTES`] readable bytes; `old`, if not null, to as
/// many writable ones.
unsafe fn rt_sigaction(sig: i32, act: *const u8, old: *mut u8) -> libc::c_long {
    // SAFETY: the caller's pointers; sparc takes a restorer before the size (null: none).
    unsafe {
        if cfg!(any(target_arch = "sparc", target_arch = "sparc64")) {
            libc::syscall(libc::SYS_rt_sigaction, sig, act, old, std::ptr::null::<u8>(), size_of::<KernelSigset>())
        } else {
            libc::syscall(libc::SYS_rt_sigaction, sig, act, old, size_of::<KernelSigset>())
        }
    }
}

/// `rt_sigaction(sig, SIG_DFL)` with an all-zero kernel `struct sigaction` (handler SIG_DFL, no
/// flags, empty mask: the same bytes in every architecture's layout).
pub(crate) fn sig_default(sig: i32) {
    let zero = [0u64; KSIGACTION_BYTES / 8];
    // SAFETY: a zeroed buffer as large as any kernel sigaction; no old action.
    unsafe { rt_sigaction(sig, zero.as_ptr().cast(), std::ptr::null_mut()) };
}

/// Whether `sig` has a handler (neither `SIG_DFL` nor `SIG_IGN`); an invalid signal has none.
pub(crate) fn sig_caught(sig: i32) -> bool {
    // The handler leads the kernel's struct, except on mips, where an int of flags comes
    // first (padded to the pointer's alignment).
    const HANDLER_AT: usize = if MIPS { size_of::<usize>() } else { 0 };
    let mut old = [0u64; KSIGACTION_BYTES / 8];
    // SAFETY: `old` is writable for KSIGACTION_BYTES; no new action.
    if unsafe { rt_sigaction(sig, std::ptr::null(), old.as_mut_ptr().cast()) } != 0 {
        return false;
    }
    // SAFETY: HANDLER_AT + a pointer's size lies inside `old`; the read is unaligned-safe.
    let handler = unsafe { old.as_ptr().cast::<u8>().add(HANDLER_AT).cast::<usize>().read_unaligned() };
    handler != libc::SIG_DFL && handler != libc::SIG_IGN
}

/// Room for a control message with one int, aligned for `cmsghdr`.
#[repr(C, align(8))]
pub(crate) struct OneFdCmsg(pub(crate) [u8; 32]);

/// `sendmsg(sock, data, SCM_RIGHTS fd, MSG_NOSIGNAL)`, `EINTR` retried: the bytes sent.
/// Everything it hands the kernel starts zeroed (`msghdr` padding included).
pub(crate) unsafe fn send_fd(sock: RawFd, data: &[u8], fd: RawFd) -> Result<usize, i32> {
    let mut cbuf = OneFdCmsg([0; 32]);
    let mut iov = libc::iovec { iov_base: data.as_ptr() as *mut libc::c_void, iov_len: data.len() };
    // SAFETY: an all-zero msghdr is valid (and has no uninitialised padding).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.0.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE is a pure computation (a Rust function of the libc crate, not libc's).
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(size_of::<libc::c_int>() as u32) } as _;
    // SAFETY: msg_control points to a zeroed buffer of at least msg_controllen bytes, so the
    // first header is in bounds and has room for one int of data (pure pointer arithmetic).
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(size_of::<libc::c_int>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>(), fd);
    }
    loop {
        // SAFETY: `msg` describes valid buffers that outlive the call.
        match check(unsafe { libc::syscall(libc::SYS_sendmsg, sock, &msg as *const libc::msghdr, libc::MSG_NOSIGNAL) })
        {
            Err(libc::EINTR) => continue,
            r => return r.map(|n| n as usize),
        }
    }
}
