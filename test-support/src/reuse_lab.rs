//! The PID-reuse laboratory: a child PID namespace in which a process A dies, is reaped by a
//! plain `waitpid` (not through its pidfd), and its pid is handed to a new process B by writing
//! `ns_last_pid`. The tests then use A's pidfd and check that nothing reaches B.
//!
//! B is made to be the worst possible victim: a child of the same parent (a pid-based wait
//! would reap it), the leader of a process group whose id is A's pid (a `killpg` by A's pid
//! would reach it), in UTS and IPC namespaces of its own (a `setns` by A's pid would move the
//! caller there), with every catchable signal blocked, so any signal sent to it stays visible
//! as pending in `/proc/<pid>/status` (and `SIGKILL` / `SIGSTOP` show in its state and exit
//! status).
//!
//! Used by `pidfd/tests/pid_reuse.rs` and `pidfd-ns/tests/pid_reuse.rs` (harness = false: the
//! lab needs a single-threaded process to create a user namespace and to fork).

use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use pidfd::{Feature, OpenFlags, PidFd};

/// Who owns the lab's PID namespace.
#[derive(Clone, Copy, Debug)]
pub enum Owner {
    /// The initial user namespace: the test runs as root.
    Root,
    /// A new user namespace in which the caller is root (the way an unprivileged user does it).
    UserNamespace,
}

/// A's exit code: the only status an operation on A's pidfd may report.
pub const A_CODE: i32 = 42;
/// B's exit code when it is let go: it proves B was neither killed, stopped nor reaped early.
pub const B_CODE: i32 = 77;
/// B's host name, in the UTS namespace of its own.
pub const B_HOSTNAME: &str = "pidfd-reuse-victim";

fn check(r: libc::c_int, what: &str) -> Result<(), String> {
    if r == 0 { Ok(()) } else { Err(format!("{what}: {}", std::io::Error::last_os_error())) }
}

/// In a case process (single-threaded, just started): enters a new PID and mount namespace
/// owned by `owner`, forks the namespace's init, which mounts a private `/proc` and runs
/// `body`, and waits for it. Returns when `body` passed; exits the process with a failure when
/// it failed; prints `skipped: <why>` and returns when the lab cannot be built here (not root,
/// user namespaces refused).
pub fn run_as_init(owner: Owner, body: fn()) {
    if let Err(why) = enter(owner) {
        eprintln!("skipped: cannot build the PID namespace lab ({owner:?}): {why}");
        return;
    }
    // SAFETY: this process is single-threaded (a case process that has started no thread);
    // the child runs ordinary Rust code, which is safe after a fork of such a process.
    let init = unsafe { libc::fork() };
    assert!(init >= 0, "fork: {}", std::io::Error::last_os_error());
    if init == 0 {
        let code = match std::panic::catch_unwind(|| as_init(owner, body)) {
            Ok(()) => 0,
            Err(_) => 101,
        };
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
        // SAFETY: leaves the forked child without running the parent's exit handlers twice.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: `status` is writable; `init` is our child, reaped here only.
    while unsafe { libc::waitpid(init, &mut status, 0) } < 0 {}
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        eprintln!("the lab's init (the test body) failed: wait status {status:#x}");
        let _ = std::io::stderr().flush();
        std::process::exit(101);
    }
}

fn enter(owner: Owner) -> Result<(), String> {
    // SAFETY: no arguments.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    match owner {
        Owner::Root => {
            if uid != 0 {
                return Err(format!("not root (euid {uid})"));
            }
            // SAFETY: plain integer argument.
            check(unsafe { libc::unshare(libc::CLONE_NEWPID | libc::CLONE_NEWNS) }, "unshare(NEWPID|NEWNS)")
        }
        Owner::UserNamespace => {
            let flags = libc::CLONE_NEWUSER | libc::CLONE_NEWPID | libc::CLONE_NEWNS;
            // SAFETY: plain integer argument.
            check(unsafe { libc::unshare(flags) }, "unshare(NEWUSER|NEWPID|NEWNS)")?;
            match std::fs::write("/proc/self/setgroups", "deny") {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("write /proc/self/setgroups: {e}")),
            }
            std::fs::write("/proc/self/uid_map", format!("0 {uid} 1")).map_err(|e| format!("uid_map: {e}"))?;
            std::fs::write("/proc/self/gid_map", format!("0 {gid} 1")).map_err(|e| format!("gid_map: {e}"))?;
            Ok(())
        }
    }
}

/// The init of the new PID namespace: a private `/proc` for it, then the body.
fn as_init(owner: Owner, body: fn()) {
    assert_eq!(std::process::id(), 1, "the lab's init must be pid 1 of its namespace");
    // SAFETY: NUL-terminated strings and null pointers, as mount(2) takes them.
    let private = unsafe {
        libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        )
    };
    let proc_mounted = check(private, "make / private").and_then(|()| {
        // SAFETY: as above.
        check(
            unsafe {
                libc::mount(
                    c"proc".as_ptr(),
                    c"/proc".as_ptr(),
                    c"proc".as_ptr(),
                    libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                    std::ptr::null(),
                )
            },
            "mount a procfs for the new PID namespace",
        )
    });
    match (proc_mounted, owner) {
        (Ok(()), _) => {}
        (Err(why), Owner::UserNamespace) => {
            eprintln!("skipped: cannot build the PID namespace lab ({owner:?}): {why}");
            return;
        }
        (Err(why), Owner::Root) => panic!("{why}"),
    }
    assert_eq!(
        std::fs::read_link("/proc/self").unwrap().to_str(),
        Some("1"),
        "the /proc of the lab must be the new PID namespace's"
    );
    body();
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let (r, w) = crate::pipe();
    (r.into(), w.into())
}

/// Waits for our child `pid` (plain `waitpid`) and returns its raw wait status.
pub fn reap(pid: i32) -> i32 {
    let mut status = 0;
    loop {
        // SAFETY: `status` is writable.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            return status;
        }
        let e = std::io::Error::last_os_error();
        assert_eq!(e.raw_os_error(), Some(libc::EINTR), "waitpid({pid}): {e}");
    }
}

/// Blocks until `fd` reaches end of file. Async-signal-safe.
///
/// # Safety
/// `fd` must be a readable fd.
unsafe fn read_until_eof(fd: RawFd) {
    let mut byte = 0u8;
    loop {
        // SAFETY: one byte into a local.
        let n = unsafe { libc::read(fd, (&raw mut byte).cast(), 1) };
        if n == 0 || (n < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR)) {
            return;
        }
    }
}

/// A process that died and was reaped by `waitpid`, and whose pid now names [`Victim`] B.
pub struct Recycled {
    /// The pid A had and B has now.
    pub pid: i32,
    /// A's pidfd, opened while A was alive (a process cannot be reaped behind the back of the
    /// only thread that waits for it: no race).
    pub a: PidFd,
    /// Another pidfd of A, opened with `PIDFD_NONBLOCK` (5.10), if the kernel has it.
    pub a_nonblocking: Option<PidFd>,
    /// A's unique id, read while it was alive (pidfs, 6.9), if the kernel has it.
    pub a_id: Option<u64>,
    /// B.
    pub b: Victim,
}

/// B: alive, blocking every catchable signal, in a process group and UTS / IPC namespaces of
/// its own, until [`Victim::finish`] lets it exit with [`B_CODE`].
pub struct Victim {
    /// B's pid: A's pid, recycled.
    pub pid: i32,
    ctl: Option<OwnedFd>,
}

/// Creates A, reaps it by pid, forces its pid onto B. `None` (after printing why) when the
/// kernel has no `ns_last_pid` (`CONFIG_CHECKPOINT_RESTORE=n`). Needs `pidfd_open`.
pub fn recycle() -> Option<Recycled> {
    if !std::path::Path::new("/proc/sys/kernel/ns_last_pid").exists() {
        eprintln!("skipped: no /proc/sys/kernel/ns_last_pid (a kernel without CONFIG_CHECKPOINT_RESTORE)");
        return None;
    }
    // Every probe now, so none forks a child (and takes a pid) in the middle of the lab.
    let _ = pidfd::features();
    let (hold_r, hold_w) = pipe();
    // SAFETY: the child makes only async-signal-safe calls and leaves with _exit.
    let a = unsafe { libc::fork() };
    assert!(a >= 0, "fork A: {}", std::io::Error::last_os_error());
    if a == 0 {
        drop(hold_w);
        // SAFETY: plain calls on our own fds; _exit never returns.
        unsafe {
            libc::setpgid(0, 0);
            read_until_eof(hold_r.as_raw_fd());
            libc::_exit(A_CODE);
        }
    }
    drop(hold_r);
    // A is our child, alive (it waits for hold_w to close) and waited for by nobody else.
    let a_fd = PidFd::open(a).expect("pidfd_open(A)");
    assert_eq!(a_fd.pid().expect("pid() of A, alive"), a);
    let a_nonblocking = Feature::PidfdNonblock
        .is_supported()
        .then(|| PidFd::open_with(a, OpenFlags::NONBLOCK).expect("pidfd_open(A, PIDFD_NONBLOCK)"));
    let a_id = a_fd.id().ok();
    drop(hold_w);
    let status = reap(a);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == A_CODE,
        "A should have exited with {A_CODE}: status {status:#x}"
    );
    for _ in 0..100 {
        std::fs::write("/proc/sys/kernel/ns_last_pid", (a - 1).to_string()).expect("write ns_last_pid");
        let b = Victim::spawn();
        if b.pid == a {
            assert_eq!(settled_state(a), Some('S'), "B (pid {a}) sleeps, waiting to be let go");
            return Some(Recycled { pid: a, a: a_fd, a_nonblocking, a_id, b });
        }
        b.finish();
    }
    panic!("the kernel did not give pid {a} to a new process after 100 tries of ns_last_pid");
}

impl Victim {
    fn spawn() -> Victim {
        let (ready_r, ready_w) = pipe();
        let (ctl_r, ctl_w) = pipe();
        // SAFETY: the child makes only async-signal-safe calls and leaves with _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork B: {}", std::io::Error::last_os_error());
        if pid == 0 {
            drop(ready_r);
            drop(ctl_w);
            // SAFETY: raw system calls on locals and our own fds; _exit never returns.
            unsafe {
                let mut all: libc::sigset_t = std::mem::zeroed();
                libc::sigfillset(&mut all);
                let ok = libc::sigprocmask(libc::SIG_SETMASK, &all, std::ptr::null_mut()) == 0
                    && libc::setpgid(0, 0) == 0
                    && libc::unshare(libc::CLONE_NEWUTS | libc::CLONE_NEWIPC) == 0
                    && libc::sethostname(B_HOSTNAME.as_ptr().cast(), B_HOSTNAME.len()) == 0;
                if ok {
                    libc::write(ready_w.as_raw_fd(), b"r".as_ptr().cast(), 1);
                    read_until_eof(ctl_r.as_raw_fd());
                    libc::_exit(B_CODE);
                }
                libc::_exit(1);
            }
        }
        drop(ready_w);
        drop(ctl_r);
        let mut byte = [0u8];
        let mut ready = std::fs::File::from(ready_r);
        let n = std::io::Read::read(&mut ready, &mut byte).unwrap();
        if n != 1 {
            let status = reap(pid);
            panic!("B could not set itself up (block signals, own process group, unshare UTS+IPC): status {status:#x}");
        }
        Victim { pid, ctl: Some(ctl_w) }
    }

    /// B is alive and asleep, has received no signal (none pending: it blocks them all), is
    /// not traced, and still leads its own process group.
    pub fn assert_untouched(&self) {
        let pid = self.pid;
        assert_eq!(settled_state(pid), Some('S'), "B (pid {pid}) must still sleep, untouched");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let field = |key: &str| {
            status.lines().find_map(|l| l.strip_prefix(key)).map(str::trim).unwrap_or_else(|| panic!("{key}"))
        };
        assert_eq!(u64::from_str_radix(field("SigPnd:"), 16).unwrap(), 0, "a signal reached B (thread-directed)");
        assert_eq!(u64::from_str_radix(field("ShdPnd:"), 16).unwrap(), 0, "a signal reached B");
        assert_eq!(field("TracerPid:"), "0", "B is traced");
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let after = stat.rsplit_once(") ").unwrap().1;
        let pgrp: i32 = after.split_whitespace().nth(2).unwrap().parse().unwrap();
        assert_eq!(pgrp, pid, "B leads the process group whose id is A's old pid");
    }

    /// The inode of B's namespace `name` (`/proc/<pid>/ns/<name>`).
    pub fn ns_inode(&self, name: &str) -> u64 {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(format!("/proc/{}/ns/{name}", self.pid)).unwrap().ino()
    }

    /// Lets B exit and checks it exits with [`B_CODE`], reaped here: no signal killed or
    /// stopped it, and nobody else reaped it.
    pub fn finish(mut self) {
        drop(self.ctl.take());
        let status = reap(self.pid);
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == B_CODE,
            "B must exit on its own with {B_CODE}: status {status:#x}"
        );
    }
}

/// The state letter of `/proc/<pid>/stat`.
pub fn state(pid: i32) -> Option<char> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    s.rsplit_once(") ")?.1.chars().next()
}

/// The state of `pid` once it is not running (B runs only on its way to its `read`, or when
/// something woke it).
fn settled_state(pid: i32) -> Option<char> {
    for _ in 0..1000 {
        match state(pid) {
            Some('R') => std::thread::sleep(std::time::Duration::from_millis(1)),
            other => return other,
        }
    }
    state(pid)
}

/// The calling thread's namespace inode `name`.
pub fn my_ns_inode(name: &str) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/proc/thread-self/ns/{name}")).unwrap().ino()
}
