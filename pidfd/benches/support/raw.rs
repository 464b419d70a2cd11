//! The raw system calls each library call is measured against, and the raw process-creation
//! floors (plus diagnostic re-implementations of the library's pieces, which are not library
//! code).
#![allow(clippy::useless_conversion)] // `c_long` is `i32` on 32-bit targets: `.into()` is needed on 64-bit ones.

use std::collections::BTreeMap;
use std::ffi::{CString, OsString};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::RawFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use pidfd_sys as uapi;

fn ok(ret: libc::c_long, what: &str) -> libc::c_long {
    assert!(ret >= 0, "{what}: {}", io::Error::last_os_error());
    ret
}

/// One `ioctl(fd, PIDFD_GET_INFO, &info)` with the struct size the library passes (88 bytes,
/// so the kernel does the same work on both sides of the pair).
pub(crate) fn get_info(fd: RawFd, mask: u64) -> uapi::pidfd_info_v3 {
    let mut info = uapi::pidfd_info_v3 { mask, ..Default::default() };
    // SAFETY: `info` is writable for its whole size, which is the size encoded in the command.
    let r = unsafe { libc::ioctl(fd, uapi::PIDFD_GET_INFO_VER3 as _, &mut info as *mut uapi::pidfd_info_v3) };
    ok(r.into(), "ioctl(PIDFD_GET_INFO)");
    info
}

/// `pidfd_send_signal(fd, sig, NULL, 0)`.
pub(crate) fn send_signal(fd: RawFd, sig: i32) {
    // SAFETY: integer arguments and a null siginfo pointer.
    let r = unsafe { libc::syscall(uapi::SYS_pidfd_send_signal, fd, sig, std::ptr::null::<u8>(), 0u32) };
    ok(r, "pidfd_send_signal");
}

/// `pidfd_open(pid, 0)`.
pub(crate) fn pidfd_open(pid: i32) -> RawFd {
    // SAFETY: integer arguments.
    let r = unsafe { libc::syscall(uapi::SYS_pidfd_open, pid, 0u32) };
    ok(r, "pidfd_open") as RawFd
}

pub(crate) fn close(fd: RawFd) {
    // SAFETY: the caller owns `fd` and does not use it afterwards.
    unsafe { libc::close(fd) };
}

/// `fstat(fd).st_ino`.
pub(crate) fn fstat_ino(fd: RawFd) -> u64 {
    let mut st = MaybeUninit::<libc::stat64>::uninit();
    // SAFETY: `st` is writable; it is read only after fstat64 succeeded.
    unsafe {
        ok(libc::fstat64(fd, st.as_mut_ptr()).into(), "fstat");
        st.assume_init().st_ino
    }
}

/// `open(path)` + one `read` into a 512-byte stack buffer + `close`: the floor of the fdinfo
/// fallback. Returns the bytes read.
pub(crate) fn open_read_close(path: &CString) -> usize {
    let mut buf = [0u8; 512];
    // SAFETY: `path` is NUL-terminated; `buf` is writable for its length; the fd is ours and
    // closed at once.
    unsafe {
        let fd = ok(libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC).into(), "open") as RawFd;
        let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
        libc::close(fd);
        ok(n as libc::c_long, "read") as usize
    }
}

/// Diagnostic variant: as [`open_read_close`] but reads until EOF (a second `read` that
/// returns 0), as the library's `read_all` does.
pub(crate) fn open_read_until_eof_close(path: &CString) -> usize {
    let mut buf = [0u8; 512];
    let mut n = 0;
    // SAFETY: as in `open_read_close`; every read writes inside `buf[n..]`.
    unsafe {
        let fd = ok(libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC).into(), "open") as RawFd;
        while n < buf.len() {
            let r = libc::read(fd, buf[n..].as_mut_ptr().cast(), buf.len() - n);
            if r <= 0 {
                break;
            }
            n += r as usize;
        }
        libc::close(fd);
    }
    n
}

/// `waitid(P_PIDFD, fd, WEXITED)`: reaps the child, returns `si_status` (checked to be a
/// normal exit).
pub(crate) fn waitid_pidfd(fd: RawFd) -> i32 {
    let mut info = MaybeUninit::<libc::siginfo_t>::zeroed();
    loop {
        // SAFETY: `info` is a writable siginfo_t; no rusage pointer.
        let r = unsafe {
            libc::syscall(libc::SYS_waitid, uapi::P_PIDFD, fd, info.as_mut_ptr(), libc::WEXITED, std::ptr::null::<u8>())
        };
        if r < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        ok(r, "waitid(P_PIDFD)");
        break;
    }
    // SAFETY: waitid succeeded and filled the SIGCHLD member of the union.
    let (code, status) = unsafe {
        let info = info.assume_init();
        (info.si_code, info.si_status())
    };
    assert_eq!(code, libc::CLD_EXITED, "the child did not exit normally");
    status
}

/// What a raw child executes: path, argv, envp prepared once.
pub(crate) struct Exec {
    path: CString,
    argv: Vec<*const libc::c_char>,
    envp: Vec<*const libc::c_char>,
    _strings: Vec<CString>,
}

impl Exec {
    /// Builds argv and envp the way the library's `Command::prepare` did before it passed
    /// `environ` as it is (the environment collected into a `BTreeMap`, each `K=V` copied into a
    /// `CString`): the per-spawn cost of `FloorEnvRebuild`.
    pub(crate) fn new(program: &str) -> Exec {
        let path = CString::new(program).unwrap();
        let mut strings = vec![path.clone()];
        let vars: BTreeMap<OsString, OsString> = std::env::vars_os().collect();
        for (k, v) in &vars {
            let mut kv = k.clone().into_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            strings.push(CString::new(kv).unwrap());
        }
        let argv = vec![strings[0].as_ptr(), std::ptr::null()];
        let envp = strings[1..].iter().map(|s| s.as_ptr()).chain([std::ptr::null()]).collect();
        Exec { path, argv, envp, _strings: strings }
    }
}

/// A child stack with a guard page (mapped once and reused by the raw floor).
pub(crate) struct Stack {
    base: *mut libc::c_void,
    len: usize,
}

impl Stack {
    pub(crate) fn new() -> Stack {
        let len = 128 * 1024;
        // SAFETY: an anonymous private mapping; checked for MAP_FAILED.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        assert!(base != libc::MAP_FAILED, "mmap: {}", io::Error::last_os_error());
        // SAFETY: the first page of our own mapping becomes a guard page, as in the library.
        unsafe { libc::mprotect(base, 4096, libc::PROT_NONE) };
        Stack { base, len }
    }

    fn top(&self) -> *mut libc::c_void {
        // SAFETY: one past the end of our own mapping (stacks grow down).
        unsafe { self.base.cast::<u8>().add(self.len).cast() }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: our own mapping, no child runs on it any more.
        unsafe { libc::munmap(self.base, self.len) };
    }
}

/// What the raw vfork child does before `execve`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChildWork {
    /// Nothing: the floor of issue 4.
    Exec,
    /// `close_range(3, ~0, CLOSE_RANGE_UNSHARE)` (with `CLONE_FILES`): the fd-flat floor.
    Unshare,
    /// Diagnostic: one `rt_sigaction(sig, NULL, &old)` query per signal 1..=64, as the library's
    /// child does to find the caught signals where it cannot use `CLONE_CLEAR_SIGHAND`.
    SigQuery,
    /// What the library's child did for a plain spawn before the spawn fixes (unshare keeping
    /// 0-2, the signal query loop resetting caught signals and SIGPIPE, restoring the parent's
    /// mask); the parent blocks every signal around the clone, as the library does.
    LibraryLike,
}

struct ChildArg<'a> {
    exec: &'a Exec,
    work: ChildWork,
    /// The parent's signal mask, for `LibraryLike`.
    mask: libc::sigset_t,
}

const CLOSE_RANGE_UNSHARE: libc::c_uint = 2;

extern "C" fn raw_child(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the `ChildArg` of the parent, suspended by CLONE_VFORK until we exec or
    // exit; only raw system calls are made (no allocation, no locks).
    unsafe {
        let a = &*(arg as *const ChildArg<'_>);
        let unshare_from =
            |from: RawFd| libc::syscall(libc::SYS_close_range, from as libc::c_uint, !0u32, CLOSE_RANGE_UNSHARE) == 0;
        let fine = match a.work {
            ChildWork::Exec => true,
            ChildWork::Unshare => unshare_from(3),
            ChildWork::SigQuery => {
                for sig in 1..65 {
                    let mut old: libc::sigaction = std::mem::zeroed();
                    libc::sigaction(sig, std::ptr::null(), &mut old);
                }
                true
            }
            ChildWork::LibraryLike => {
                let fine = unshare_from(3);
                for sig in 1..65 {
                    if sig == libc::SIGKILL || sig == libc::SIGSTOP {
                        continue;
                    }
                    let mut old: libc::sigaction = std::mem::zeroed();
                    if libc::sigaction(sig, std::ptr::null(), &mut old) != 0 {
                        continue;
                    }
                    let caught = old.sa_sigaction != libc::SIG_DFL && old.sa_sigaction != libc::SIG_IGN;
                    if caught || sig == libc::SIGPIPE {
                        let dfl: libc::sigaction = std::mem::zeroed();
                        libc::sigaction(sig, &dfl, std::ptr::null_mut());
                    }
                }
                libc::pthread_sigmask(libc::SIG_SETMASK, &a.mask, std::ptr::null_mut());
                fine
            }
        };
        if fine {
            libc::execve(a.exec.path.as_ptr(), a.exec.argv.as_ptr(), a.exec.envp.as_ptr());
        }
        libc::_exit(127)
    }
}

/// `clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD [| CLONE_FILES] | SIGCHLD)` on `stack`, the child
/// doing `work` then `execve`, and `waitid(P_PIDFD)`. Returns the exit code.
pub(crate) fn vfork_spawn_wait(exec: &Exec, stack: &Stack, work: ChildWork) -> i32 {
    // SAFETY: sigset_t is plain data; all-zero is the empty set.
    let mut arg = ChildArg { exec, work, mask: unsafe { std::mem::zeroed() } };
    let mut flags = libc::CLONE_VM | libc::CLONE_VFORK | uapi::CLONE_PIDFD as libc::c_int | libc::SIGCHLD;
    if !matches!(work, ChildWork::Exec | ChildWork::SigQuery) {
        flags |= libc::CLONE_FILES;
    }
    let block = work == ChildWork::LibraryLike;
    if block {
        // SAFETY: sigset_t values written by the calls.
        unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut arg.mask);
        }
    }
    let mut pidfd: libc::c_int = -1;
    let arg_ptr = &arg as *const ChildArg<'_> as *mut libc::c_void;
    // SAFETY: the child runs `raw_child` on its own stack with `arg`, which outlives it (the
    // parent is suspended until the child execs or exits); the kernel writes the pidfd into
    // `pidfd` (CLONE_PIDFD uses the parent_tid argument).
    let pid = unsafe { libc::clone(raw_child, stack.top(), flags, arg_ptr, &mut pidfd) };
    if block {
        // SAFETY: restoring the mask saved above.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &arg.mask, std::ptr::null_mut()) };
    }
    ok(pid.into(), "clone");
    assert!(pidfd >= 0, "clone did not return a pidfd");
    let status = waitid_pidfd(pidfd);
    close(pidfd);
    status
}

/// `fork` + `execve` in the child, then `pidfd_open` + `waitid(P_PIDFD)` in the parent.
pub(crate) fn fork_spawn_wait(exec: &Exec) -> i32 {
    // SAFETY: the child only calls execve and _exit (async-signal-safe) on data prepared before
    // the fork.
    let pid = unsafe {
        let pid = libc::fork();
        if pid == 0 {
            libc::execve(exec.path.as_ptr(), exec.argv.as_ptr(), exec.envp.as_ptr());
            libc::_exit(127);
        }
        pid
    };
    ok(pid.into(), "fork");
    let fd = pidfd_open(pid);
    let status = waitid_pidfd(fd);
    close(fd);
    status
}

/// `std::process::Command::spawn` + `pidfd_open` + `waitid(P_PIDFD)`.
#[expect(clippy::zombie_processes, reason = "the child is reaped by waitid(P_PIDFD) on its pidfd")]
pub(crate) fn std_spawn_wait(program: &str, null: bool) -> i32 {
    let mut cmd = std::process::Command::new(program);
    if null {
        cmd.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null());
    }
    let child = cmd.spawn().expect("std spawn");
    let fd = pidfd_open(child.id() as i32);
    let status = waitid_pidfd(fd);
    close(fd);
    status
}

/// Pins the calling thread (and the children it creates) to the highest CPU it may run on;
/// returns that CPU. Spawn timings are much steadier when parent and child share one CPU.
pub(crate) fn pin_to_last_cpu() -> Option<usize> {
    // SAFETY: cpu_set_t is plain data, written by sched_getaffinity and read by the CPU_*
    // helpers within its size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return None;
        }
        let cpu = (0..libc::CPU_SETSIZE as usize).rev().find(|&c| libc::CPU_ISSET(c, &set))?;
        libc::CPU_ZERO(&mut set);
        libc::CPU_SET(cpu, &mut set);
        (libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) == 0).then_some(cpu)
    }
}

/// Whether the kernel has `close_range` (5.9), which the raw variants that unshare the fd
/// table use.
pub(crate) fn has_close_range() -> bool {
    // SAFETY: closing an empty range of fd numbers no process can hold; no effect either way.
    unsafe { libc::syscall(libc::SYS_close_range, u32::MAX - 1, u32::MAX - 1, 0u32) == 0 }
}
