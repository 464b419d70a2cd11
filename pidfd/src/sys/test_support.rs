//! Helpers the unit tests need that take `unsafe` (kept in `sys`, with the rest of it).

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicPtr, Ordering};

use pidfd_sys as uapi;

use super::clone::Stack;
use super::{RtPayload, RtSigInfo, owned};

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
    // SAFETY: both addresses lie inside the usable part of the mapping, above the guard page.
    unsafe {
        let top = stack.top().cast::<u8>().sub(1);
        let low = stack.base().cast::<u8>();
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
pub(crate) const SI_VALUE_OFFSET: usize = std::mem::offset_of!(RtSigInfo, rt) + std::mem::offset_of!(RtPayload, value);

/// `prctl(PR_GET_DUMPABLE)` of this process: 1 unless a credential change (in this process or
/// in a child sharing its memory) made the kernel mark it non-dumpable.
pub(crate) fn dumpable() -> i32 {
    // SAFETY: PR_GET_DUMPABLE takes no pointer.
    unsafe { libc::prctl(libc::PR_GET_DUMPABLE) }
}

/// The calling thread's blocked signals, as the kernel holds them (the raw call, so glibc's
/// reserved 32 and 33 show too).
pub(crate) fn blocked_signals() -> super::raw::KernelSigset {
    let mut set = [0; size_of::<super::raw::KernelSigset>() / 8];
    // SAFETY: a kernel sigset of the size passed; no new mask.
    unsafe { super::raw::sigprocmask(libc::SIG_BLOCK, std::ptr::null(), &mut set) }.unwrap();
    set
}

pub(crate) use super::clone::{block_all_signals, restore_signals};

/// Gives `cmd` a `pre_exec` hook that does nothing: the spawn takes the hooks' path (a fork,
/// the fds marked close-on-exec rather than closed) without changing the child.
pub(crate) fn add_noop_hook(cmd: &mut crate::Command) {
    // SAFETY: the hook touches nothing.
    unsafe {
        cmd.pre_exec(|| Ok(()));
    }
}

/// Whether this process runs as root (the credential tests drop to another user).
pub(crate) fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Sets this process's `RLIMIT_NOFILE` soft limit, at most the hard one (which stays), and
/// returns the hard limit.
#[allow(clippy::useless_conversion, reason = "rlim_t is u32 on 32-bit glibc targets, u64 elsewhere")]
pub(crate) fn set_nofile_soft(soft: u64) -> u64 {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `lim` is a writable rlimit.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    let max = u64::from(lim.rlim_max);
    // At most the hard limit, which fits in rlim_t.
    lim.rlim_cur = libc::rlim_t::try_from(soft.min(max)).unwrap_or(lim.rlim_max);
    // SAFETY: `lim` is a valid rlimit.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0, "{}", io::Error::last_os_error());
    max
}

/// Puts this process in a mount namespace of its own without `/proc` (the whole process: call
/// it in a single-purpose subprocess). `false` where that is not allowed.
pub(crate) fn hide_proc() -> bool {
    // SAFETY: flags and NUL-terminated paths; affects only this process's mount namespace.
    unsafe {
        libc::unshare(libc::CLONE_NEWNS) == 0
            && libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ) == 0
            && libc::umount2(c"/proc".as_ptr(), libc::MNT_DETACH) == 0
    }
}

/// Writes a pattern over `bytes` of this thread's stack below the caller's frame, so that a
/// struct built by the next call lies on bytes that are not zero.
#[inline(never)]
pub(crate) fn dirty_stack() {
    let mut junk = [0xa5u8; 16 * 1024];
    std::hint::black_box(&mut junk);
}

/// `rt_tgsigqueueinfo` to this thread with a payload built as `send_signal_with` builds it,
/// on a stack just dirtied; the signal must be blocked on this thread.
#[inline(never)]
pub(crate) fn queue_to_this_thread(sig: i32, value: usize) {
    dirty_stack();
    let info = RtSigInfo::new(sig, libc::SI_QUEUE, value);
    super::rt_tgsigqueueinfo(super::getpid(), super::gettid(), sig, &info).unwrap();
}

/// Sets and removes environment variables `rounds` times (another thread spawns meanwhile).
pub(crate) fn churn_environment(rounds: usize) {
    for i in 0..rounds {
        let key = format!("PIDFD_TEST_CHURN_{}", i % 7);
        // SAFETY: the test that calls this only reads the environment through std (whose lock
        // `set_var` takes) and through `pidfd::Command`, whose safety with it is under test.
        unsafe {
            std::env::set_var(&key, "x".repeat(i % 97));
            if i % 3 == 0 {
                std::env::remove_var(&key);
            }
        }
    }
}
