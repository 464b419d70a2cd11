//! Spurious readiness: a tracer (a separate process that `PTRACE_SEIZE`s our child, as strace
//! or a security agent does) holds the child's zombie for a while after the exit. The pidfd
//! polls readable at the exit, yet the parent cannot reap until the tracer lets go. A blocking
//! `PidFd::wait` (on a blocking pidfd and on a `PIDFD_NONBLOCK` one) must keep waiting and then
//! return the right status: no error, no `EAGAIN` surfaced, and no busy loop. The same for the
//! background reaper of dropped `pidfd::Child`ren. "No busy loop" is counted, not timed: the
//! waiter's `waitid` calls (through the crate's fault seam, which sees each one), and the
//! reaper's wake-ups; a loop on a readiness it cannot clear runs them into the thousands,
//! however loaded the machine.
//!
//! Without ptrace (Yama `ptrace_scope` 3, no `CAP_SYS_PTRACE` under scope 1 or 2, a seccomp
//! profile) those tests skip and say why; the waits on a child that simply takes its time run
//! everywhere.

use std::cell::Cell;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::process::ExitStatusExt;
use std::rc::Rc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pidfd::__private::fault;
use pidfd::{Feature, OpenFlags, PidFd};

#[allow(dead_code)]
#[path = "it/support.rs"]
mod support;

use support::require;

/// How long the tracer holds the zombie.
const HOLD: Duration = Duration::from_millis(300);

/// How many `waitid` calls a wait that took `elapsed` makes at most. A blocking pidfd: one,
/// which sleeps in the kernel. A non-blocking one (see `PidFd::wait`): one that says "not yet",
/// a `poll` that sleeps until the pidfd is readable, one after it, then one per sleep of the
/// backoff (1 ms doubling to 50 ms) while the readiness is not a reapable exit. The six
/// doubling sleeps add up to 63 ms, so `2 + 6 + (elapsed - 63 ms) / 50 ms` at most. A load that
/// stretches `elapsed` loosens the bound only in step with the sleeps it stretches; a busy loop
/// exceeds it by orders of magnitude.
fn max_waitids(elapsed: Duration) -> usize {
    8 + (elapsed.saturating_sub(Duration::from_millis(63)).as_millis() / 50) as usize
}

/// Runs `f` on a thread of its own, counting the `waitid` calls that thread makes; returns its
/// handle, which gives `f`'s result, the count and how long `f` took.
fn counted<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> JoinHandle<(T, usize, Duration)> {
    std::thread::spawn(move || {
        // The wait's own calls: the probe that picks its path (one `waitid` of its own, once
        // per process) runs before the count.
        let _ = Feature::WaitidPidfd.is_supported();
        let calls = Rc::new(Cell::new(0));
        let counter = Rc::clone(&calls);
        let _hook = fault::before(fault::Call::Waitid, move || counter.set(counter.get() + 1));
        let start = Instant::now();
        let result = f();
        (result, calls.get(), start.elapsed())
    })
}

use test_support::pipe;

/// A tracer process: seizes `pid`, lets it run (passing on any signal it stops for), and when
/// it has exited keeps the zombie for [`HOLD`] before reaping it as its tracer, which hands it
/// back to the real parent. Reports through a pipe: `S` seized (or `E` + errno), `Z` holding the
/// zombie, `R` letting go.
struct Tracer {
    pid: i32,
    report: std::fs::File,
}

impl Tracer {
    /// `None` (after printing why) when ptrace is refused here.
    fn attach(target: i32) -> Option<Tracer> {
        let (r, w) = pipe();
        let wfd = w.as_raw_fd();
        // SAFETY: the child makes only async-signal-safe calls (ptrace, waitid, nanosleep,
        // write) and leaves with _exit; this process may have other threads.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
        if pid == 0 {
            // SAFETY: as above.
            unsafe { trace(target, wfd) }
        }
        drop(w);
        let mut tracer = Tracer { pid, report: r };
        let mut first = [0u8; 5];
        std::io::Read::read_exact(&mut tracer.report, &mut first[..1]).unwrap();
        if first[0] == b'E' {
            std::io::Read::read_exact(&mut tracer.report, &mut first[1..]).unwrap();
            let errno = i32::from_ne_bytes(first[1..].try_into().unwrap());
            let _ = tracer.finish();
            eprintln!(
                "skipped: ptrace refused ({}): Yama ptrace_scope {}, or a seccomp profile",
                std::io::Error::from_raw_os_error(errno),
                std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope")
                    .map_or("absent".into(), |s| s.trim().to_owned())
            );
            return None;
        }
        assert_eq!(first[0], b'S');
        Some(tracer)
    }

    /// Blocks until the tracer reports `what`.
    fn expect(&mut self, what: u8) {
        let mut b = [0u8];
        std::io::Read::read_exact(&mut self.report, &mut b).unwrap();
        assert_eq!(b[0] as char, what as char, "tracer report");
    }

    /// Reaps the tracer; its exit code (0: it held and released the zombie as planned).
    fn finish(self) -> i32 {
        let mut status = 0;
        // SAFETY: `status` is writable; the tracer is our child, reaped only here.
        while unsafe { libc::waitpid(self.pid, &mut status, 0) } < 0 {}
        if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { 128 + libc::WTERMSIG(status) }
    }
}

/// The tracer's body.
///
/// # Safety
/// Only in a freshly forked child; never returns.
unsafe fn trace(target: i32, report: i32) -> ! {
    // SAFETY: raw system calls on locals; async-signal-safe.
    unsafe {
        let say = |b: &[u8]| libc::write(report, b.as_ptr().cast(), b.len());
        if libc::ptrace(libc::PTRACE_SEIZE, target, 0, 0) != 0 {
            let errno = *libc::__errno_location();
            let mut msg = [b'E', 0, 0, 0, 0];
            msg[1..].copy_from_slice(&errno.to_ne_bytes());
            say(&msg);
            libc::_exit(0);
        }
        say(b"S");
        let mut info: libc::siginfo_t = std::mem::zeroed();
        loop {
            // Look without consuming: the exit must stay a zombie we hold.
            if libc::waitid(
                libc::P_PID,
                target as u32,
                &mut info,
                libc::WEXITED | libc::WSTOPPED | libc::WNOWAIT | libc::__WALL,
            ) != 0
            {
                libc::_exit(2);
            }
            if info.si_code == libc::CLD_TRAPPED || info.si_code == libc::CLD_STOPPED {
                // A signal-delivery stop: consume it and pass the signal on.
                let sig = info.si_status();
                libc::waitid(libc::P_PID, target as u32, &mut info, libc::WSTOPPED | libc::__WALL);
                libc::ptrace(libc::PTRACE_CONT, target, 0, sig as libc::c_long);
                continue;
            }
            break;
        }
        say(b"Z");
        let hold = libc::timespec { tv_sec: 0, tv_nsec: HOLD.as_nanos() as libc::c_long };
        libc::nanosleep(&hold, std::ptr::null_mut());
        say(b"R");
        // Reaping a ptraced zombie as its tracer hands it back to the real parent.
        if libc::waitid(libc::P_PID, target as u32, &mut info, libc::WEXITED | libc::__WALL) != 0 {
            libc::_exit(3);
        }
        libc::_exit(0);
    }
}

/// While the tracer holds the zombie of our child `pid`: its pidfd polls readable, yet the
/// parent cannot reap it (`waitid(P_PID, WNOHANG | WNOWAIT)` finds nothing, on every kernel).
/// Proves the readiness the waiter met was spurious.
fn assert_readable_but_not_reapable(fd: &PidFd, pid: i32) {
    let mut p = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: one pollfd.
    assert_eq!(unsafe { libc::poll(&mut p, 1, 0) }, 1, "the pidfd of the exited, held child polls readable");
    assert!(p.revents & libc::POLLIN != 0);
    // SAFETY: all-zero is a valid siginfo, which waitid fills in.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is writable; WNOWAIT reaps nothing.
    let r = unsafe { libc::waitid(libc::P_PID, pid as u32, &mut info, libc::WEXITED | libc::WNOHANG | libc::WNOWAIT) };
    assert_eq!(r, 0, "waitid(P_PID) on our held child: {}", std::io::Error::last_os_error());
    // SAFETY: the union member waitid fills for any child state (zero when nothing was found).
    let si_pid = unsafe { info.si_pid() };
    assert_eq!(si_pid, 0, "the held zombie must not be reapable by its parent yet");
}

/// The scenario for one kind of pidfd: `open` gives the pidfd the waiter uses.
fn held_by_a_tracer(nonblocking: bool) {
    if !require(Feature::PidfdOpen) || (nonblocking && !require(Feature::PidfdNonblock)) {
        return;
    }
    let mut child =
        pidfd::Command::new("sh").args(["-c", "read x; exit 7"]).stdin(pidfd::Stdio::Piped).spawn().expect("spawn");
    let pid = child.id() as i32;
    let fd = if nonblocking {
        PidFd::open_with(pid, OpenFlags::NONBLOCK).unwrap()
    } else {
        child.pidfd().try_clone().unwrap()
    };
    assert_eq!(fd.is_nonblocking().unwrap(), nonblocking);
    let probe = fd.try_clone().unwrap();
    let Some(mut tracer) = Tracer::attach(pid) else { return };
    let waiter = counted(move || fd.wait());
    // Let the waiter reach its wait (it may also come later: it meets the held zombie then).
    std::thread::sleep(Duration::from_millis(20));
    child.stdin.take().unwrap().write_all(b"\n").unwrap();
    tracer.expect(b'Z');
    assert_readable_but_not_reapable(&probe, pid);
    // A non-blocking check in the meantime says "not yet", not an error.
    assert_eq!(probe.try_wait().unwrap(), None, "try_wait while the tracer holds the zombie");
    tracer.expect(b'R');
    let (result, waitids, elapsed) = waiter.join().unwrap();
    eprintln!("the waiter (nonblocking pidfd: {nonblocking}) made {waitids} waitid calls in {elapsed:?}");
    assert!(waitids <= max_waitids(elapsed), "{waitids} waitid calls in {elapsed:?}: a busy loop");
    let status = result.expect("wait through the spurious readiness");
    assert_eq!((status.code(), status.signal()), (Some(7), None), "{status:?}");
    assert_eq!(tracer.finish(), 0, "the tracer held the zombie and handed it back");
    drop(child);
}

#[test]
fn blocking_wait_on_a_blocking_pidfd_through_a_tracer_hold() {
    held_by_a_tracer(false);
}

#[test]
fn blocking_wait_on_a_nonblocking_pidfd_through_a_tracer_hold() {
    held_by_a_tracer(true);
}

/// Without ptrace: a child that takes its time. The blocking wait on a `PIDFD_NONBLOCK` pidfd
/// (where `waitid` answers `EAGAIN`) sleeps in `poll` instead of spinning.
#[test]
fn blocking_wait_on_a_nonblocking_pidfd_sleeps() {
    if !require(Feature::PidfdOpen) || !require(Feature::PidfdNonblock) {
        return;
    }
    let mut child =
        pidfd::Command::new("sh").args(["-c", "read x; exit 5"]).stdin(pidfd::Stdio::Piped).spawn().expect("spawn");
    let fd = PidFd::open_with(child.id() as i32, OpenFlags::NONBLOCK).unwrap();
    let waiter = counted(move || fd.wait());
    std::thread::sleep(HOLD);
    child.stdin.take().unwrap().write_all(b"\n").unwrap();
    let (result, waitids, _) = waiter.join().unwrap();
    assert_eq!(result.unwrap().code(), Some(5));
    // One `waitid` that says "not yet" (EAGAIN), a `poll` that sleeps until the exit, one
    // `waitid` that reaps (just the last if the waiter started after the exit).
    assert!(waitids <= 2, "{waitids} waitid calls: the wait did not sleep in poll");
    drop(child);
}

/// The id of this process's thread named `name`.
fn thread_named(name: &str) -> Option<i32> {
    for t in std::fs::read_dir("/proc/self/task").ok()? {
        // Other tests' threads come and go meanwhile: skip any that vanished.
        let Ok(t) = t else { continue };
        if std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == name) {
            return t.file_name().to_str()?.parse().ok();
        }
    }
    None
}

/// A dropped `pidfd::Child` goes to the background reaper, which polls the pidfds of the
/// children it adopted: a readiness that `poll_exit` cannot turn into a status (the tracer's
/// hold: `Running`, never `Busy`) must not make it spin, by wake-ups or by retries.
#[test]
fn the_background_reaper_does_not_spin_through_a_tracer_hold() {
    if !require(Feature::PidfdOpen) {
        return;
    }
    // Start the reaper with a child that runs until it is adopted.
    let mut first = pidfd::Command::new("sh").args(["-c", "read x"]).stdin(pidfd::Stdio::Piped).spawn().unwrap();
    let stdin = first.stdin.take();
    drop(first);
    drop(stdin);
    let mut child =
        pidfd::Command::new("sh").args(["-c", "read x; exit 7"]).stdin(pidfd::Stdio::Piped).spawn().expect("spawn");
    let pid = child.id() as i32;
    let observer = child.pidfd().try_clone().unwrap();
    let Some(mut tracer) = Tracer::attach(pid) else { return };
    let mut stdin = child.stdin.take().unwrap();
    drop(child);
    // The drop started the reaper; its thread names itself once it runs, which on a busy
    // machine can be a while after the drop returns (a bounded wait for that event).
    let named = (0..1000).any(|_| {
        thread_named("pidfd-reaper").is_some() || {
            std::thread::sleep(Duration::from_millis(10));
            false
        }
    });
    assert!(named, "the background reaper thread never ran (no thread named pidfd-reaper)");
    let rounds = pidfd::__private::reaper_rounds();
    stdin.write_all(b"\n").unwrap();
    tracer.expect(b'Z');
    assert_readable_but_not_reapable(&observer, pid);
    tracer.expect(b'R');
    // One wake-up for this exit, one for `first`'s (whenever it comes), none for the others of
    // this binary (their children are reaped before they are dropped): a reaper that looped on
    // the held zombie's readiness would wake thousands of times.
    let (now, retried) = pidfd::__private::reaper_rounds();
    let (rounds, retries) = (now - rounds.0, retried - rounds.1);
    eprintln!("the background reaper woke {rounds} times through the hold, {retries} of them busy retries");
    assert!(rounds <= 10, "the background reaper woke {rounds} times through the hold: a busy loop");
    // A hold is `Running` (its release wakes the pidfd): retrying it as `Busy` would wake every
    // 1 to 50 ms. At most the release itself can meet a retry.
    assert!(retries <= 2, "the background reaper retried {retries} times through the hold");
    assert_eq!(tracer.finish(), 0);
    // The reaper got the child back and reaped it (a bounded wait for that event, not a
    // timing assertion): the pidfd then names a reaped process.
    let reaped = (0..1000).any(|_| {
        std::thread::sleep(Duration::from_millis(10));
        matches!(observer.pid(), Err(pidfd::Error::Exited))
    });
    assert!(reaped, "the background reaper never reaped child {pid}");
}
