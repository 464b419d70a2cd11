//! Spawning and waiting while a rogue thread reaps every child it can with `waitpid(-1)`, like a
//! careless library in the same process. A binary of its own: the rogue would reap the
//! children of any test running beside it.
//!
//! What must hold, for `pidfd::Command` and `pidfd::spawn`, for thousands of children that each
//! exit with a code of their own (`i % 200`):
//! - the pidfd names the child it was spawned with (its pid is what the child reports);
//! - `wait` returns exactly that child's status, or `NotChild` only when the rogue reaped it
//!   (the rogue's record then holds that pid with that status), and never `NotChild` where the
//!   kernel keeps the exit status of a reaped process (`PIDFD_INFO_EXIT`, 6.15);
//! - every child the rogue reaped is one of ours, with the status we expected;
//! - nothing hangs (the test finishes).
//!
//! Every fourth child is left to the rogue on purpose (we wait until it has reaped it), so the
//! path where someone else reaped our child runs on every run, not only when the rogue wins a
//! race.
//!
//! Iterations: 2000 children per spawn function and rogue kind on the host (over 10,000 in
//! all); under the kernel matrix (`PIDFD_TEST_EXPECT` set, QEMU TCG) 8, to keep the binary to
//! a few seconds per VM.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use pidfd::{Error, Feature, PidFd};

#[allow(dead_code)]
#[path = "it/support.rs"]
mod support;

use support::require;

/// One rogue at a time: two would still only reap this binary's children, but the tests
/// count what their own rogue reaped.
static SERIAL: Mutex<()> = Mutex::new(());

/// Children per spawn function and rogue kind (see the module documentation).
fn children() -> usize {
    if support::expected().is_some() { 8 } else { 2000 }
}

/// How the rogue waits.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// `waitpid(-1, WNOHANG)` in a tight loop.
    Polling,
    /// `waitpid(-1, 0)`: sleeps in the kernel until any child exits, then reaps it.
    Blocking,
}

/// A thread that reaps every child of the process as soon as it can, and records what it
/// reaped: `(pid, raw wait status)`, in order.
struct RogueReaper {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Vec<(i32, i32)>>>,
}

impl RogueReaper {
    fn start(kind: Kind) -> RogueReaper {
        // Every probe now: a probe child reaped by the rogue would leave it undecided.
        let _ = pidfd::features();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut reaped = Vec::new();
            let flags = match kind {
                Kind::Polling => libc::WNOHANG,
                Kind::Blocking => 0,
            };
            while !s.load(Ordering::SeqCst) {
                let mut status = 0;
                // SAFETY: `status` is writable.
                let pid = unsafe { libc::waitpid(-1, &mut status, flags) };
                if pid > 0 {
                    reaped.push((pid, status));
                } else if pid == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD) {
                    // Nothing to reap right now (no child yet, or none exited).
                    std::thread::yield_now();
                }
            }
            reaped
        });
        RogueReaper { stop, thread: Some(thread) }
    }

    /// Stops the rogue (a blocking one is woken by one more child, which it reaps) and returns
    /// what it reaped, without that last child.
    fn stop(mut self) -> Vec<(i32, i32)> {
        self.halt()
    }

    fn halt(&mut self) -> Vec<(i32, i32)> {
        let Some(thread) = self.thread.take() else { return Vec::new() };
        self.stop.store(true, Ordering::SeqCst);
        let waker = Command::new("true").spawn().expect("spawn the child that wakes the rogue");
        let waker_pid = waker.id() as i32;
        let mut reaped = thread.join().unwrap();
        match reaped.last() {
            Some(&(pid, _)) if pid == waker_pid => {
                reaped.pop();
            }
            // The rogue saw the flag before the waker exited: reap it here.
            _ => drop(waker.wait_with_output()),
        }
        reaped
    }
}

/// A test that fails stops its rogue too, so it cannot reap the next test's children.
impl Drop for RogueReaper {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Waits until the rogue has reaped the (exited) child behind `fd`: then the pidfd names a
/// reaped process (`pid()` answers `Exited`, on every kernel). Only the rogue reaps while we
/// wait here, so every fourth child is certainly reaped by it: the `NotChild` / exit-info path
/// runs on every run, not only when the rogue wins a race. A bounded wait for that event.
fn until_reaped_by_the_rogue(fd: &PidFd) {
    for _ in 0..10_000 {
        if matches!(fd.pid(), Err(Error::Exited)) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    panic!("the rogue did not reap an exited child within 10 s");
}

/// What became of one child.
struct Outcome {
    /// The pid the child reported itself (`echo $$`).
    pid: i32,
    code: i32,
    /// `ECHILD` for [`pidfd::Error::NotChild`] (as `Child::wait` reports it).
    waited: std::io::Result<ExitStatus>,
}

/// Spawns `sh -c 'echo $$; read x; exit CODE'` with `pidfd::Command`, checks that the pidfd names
/// it while it is alive (it waits for a line, so nobody can reap it yet), lets it exit, waits.
fn through_command(code: i32, rogue_takes_it: bool) -> Outcome {
    let mut child = pidfd::Command::new("sh")
        .args(["-c", &format!("echo $$; read x; exit {code}")])
        .stdin(pidfd::Stdio::Piped)
        .stdout(pidfd::Stdio::Piped)
        .spawn()
        .expect("pidfd::Command::spawn");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let pid: i32 = line.trim().parse().unwrap();
    assert_eq!(child.id(), pid as u32, "Child::id is not the child's pid");
    assert_eq!(child.pidfd().pid().unwrap(), pid, "the pidfd names another process than the child");
    child.stdin.take().unwrap().write_all(b"\n").unwrap();
    if rogue_takes_it {
        until_reaped_by_the_rogue(child.pidfd());
    }
    Outcome { pid, code, waited: child.wait() }
}

/// The same with `pidfd::spawn` (std's `Command`, the child sends its own pidfd).
fn through_spawn(code: i32, rogue_takes_it: bool) -> Outcome {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &format!("echo $$; read x; exit {code}")]).stdin(Stdio::piped()).stdout(Stdio::piped());
    let (mut child, fd) = pidfd::spawn(&mut cmd).expect("pidfd::spawn");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let pid: i32 = line.trim().parse().unwrap();
    assert_eq!(child.id() as i32, pid);
    assert_eq!(fd.pid().unwrap(), pid, "the pidfd names another process than the child");
    child.stdin.take().unwrap().write_all(b"\n").unwrap();
    if rogue_takes_it {
        until_reaped_by_the_rogue(&fd);
    }
    Outcome { pid, code, waited: fd.wait().map_err(Into::into) }
}

/// Children that exit at once (`sh -c 'echo $$; exit CODE'`, spawned with `pidfd::Command`):
/// the pidfd may only be checked through the status, since the rogue may reap the child
/// before the pidfd is even looked at.
fn exiting_at_once(code: i32, rogue_takes_it: bool) -> Outcome {
    let mut child = pidfd::Command::new("sh")
        .args(["-c", &format!("echo $$; exit {code}")])
        .stdout(pidfd::Stdio::Piped)
        .spawn()
        .expect("pidfd::Command::spawn");
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    let pid: i32 = out.trim().parse().unwrap();
    assert_eq!(child.id(), pid as u32, "Child::id is not the child's pid");
    match child.pidfd().pid() {
        Ok(p) => assert_eq!(p, pid, "the pidfd names another process than the child"),
        Err(Error::Exited) => {}
        Err(e) => panic!("pid() of a child that may have been reaped: {e}"),
    }
    if rogue_takes_it {
        until_reaped_by_the_rogue(child.pidfd());
    }
    Outcome { pid, code, waited: child.wait() }
}

/// Spawns `n` children with `spawn_one` on two threads while a rogue of `kind` reaps, then
/// checks every outcome against what the rogue recorded.
fn run(kind: Kind, n: usize, spawn_one: fn(i32, bool) -> Outcome) {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let rogue = RogueReaper::start(kind);
    let workers: Vec<_> = (0..2)
        .map(|w| {
            std::thread::spawn(move || {
                (0..n).filter(|i| i % 2 == w).map(|i| (i, spawn_one((i % 200) as i32, i % 4 == 0))).collect::<Vec<_>>()
            })
        })
        .collect();
    let mut outcomes: Vec<(usize, Outcome)> = workers.into_iter().flat_map(|w| w.join().unwrap()).collect();
    let reaped = rogue.stop();
    outcomes.sort_by_key(|(i, _)| *i);
    check(kind, &outcomes, &reaped);
}

/// Matches the outcomes with the rogue's record, per (pid, exit code): a pid can come back
/// within one run (the pid counter wraps), so the match is by count, not by order.
/// - Every child the rogue reaped is one of ours and exited as we expected: for each
///   (pid, code), the rogue reaped at most as many as we spawned.
/// - A wait that answered `NotChild` was for a child the rogue reaped: at most as many
///   `NotChild` as the rogue's reaps, per (pid, code).
/// - Without `PIDFD_INFO_EXIT`, a child is reaped either by our wait (which then returns its
///   status) or by the rogue (our wait answers `NotChild`): the counts are equal.
fn check(kind: Kind, outcomes: &[(usize, Outcome)], reaped: &[(i32, i32)]) {
    #[derive(Default, Debug)]
    struct Count {
        spawned: usize,
        not_child: usize,
        rogue: usize,
    }
    let info_exit = Feature::InfoExit.is_supported();
    let mut counts: HashMap<(i32, i32), Count> = HashMap::new();
    for (i, o) in outcomes {
        let c = counts.entry((o.pid, o.code)).or_default();
        c.spawned += 1;
        match &o.waited {
            Ok(st) => assert_eq!(
                (st.code(), st.signal()),
                (Some(o.code), None),
                "child {i} (pid {}) exited with {}, but wait returned {st:?}",
                o.pid,
                o.code
            ),
            Err(e) if e.raw_os_error() == Some(libc::ECHILD) => {
                assert!(!info_exit, "child {i} (pid {}): NotChild, though the kernel has PIDFD_INFO_EXIT", o.pid);
                c.not_child += 1;
            }
            Err(e) => panic!("child {i} (pid {}): wait failed: {e:?}", o.pid),
        }
    }
    for &(pid, status) in reaped {
        let st = ExitStatus::from_raw(status);
        let code = st.code().unwrap_or_else(|| panic!("the rogue reaped pid {pid} with {st:?}: none of ours ends so"));
        counts.entry((pid, code)).or_default().rogue += 1;
    }
    for ((pid, code), c) in &counts {
        assert!(c.rogue <= c.spawned, "the rogue reaped pid {pid} (exit {code}) more often than we spawned it: {c:?}");
        assert!(c.not_child <= c.rogue, "NotChild for pid {pid} (exit {code}), which the rogue did not reap: {c:?}");
        if !info_exit {
            assert_eq!(
                c.not_child, c.rogue,
                "pid {pid} (exit {code}): reaped by the rogue, yet wait returned it: {c:?}"
            );
        }
    }
    let not_child: usize = counts.values().map(|c| c.not_child).sum();
    eprintln!(
        "{kind:?} rogue: {} children, the rogue reaped {}, {not_child} waits answered NotChild (info_exit: {info_exit})",
        outcomes.len(),
        reaped.len(),
    );
    assert!(!reaped.is_empty(), "the rogue never reaped: the test proved nothing");
}

#[test]
fn command_against_a_polling_rogue() {
    if !require(Feature::PidfdOpen) {
        return;
    }
    run(Kind::Polling, children(), through_command);
}

#[test]
fn command_against_a_blocking_rogue() {
    if !require(Feature::PidfdOpen) {
        return;
    }
    run(Kind::Blocking, children(), through_command);
}

#[test]
fn spawn_against_a_polling_rogue() {
    if !require(Feature::PidfdOpen) {
        return;
    }
    run(Kind::Polling, children(), through_spawn);
}

#[test]
fn spawn_against_a_blocking_rogue() {
    if !require(Feature::PidfdOpen) {
        return;
    }
    run(Kind::Blocking, children(), through_spawn);
}

/// Children that exit at once: a spawn that opened the pidfd by pid after the fact could name
/// a recycled pid; the status each wait returns shows whose pidfd it is.
#[test]
fn children_exiting_at_once_against_both_rogues() {
    if !require(Feature::PidfdOpen) {
        return;
    }
    run(Kind::Polling, children() / 2, exiting_at_once);
    run(Kind::Blocking, children() / 2, exiting_at_once);
}

/// A pidfd opened by `PidFd::open` for a child nobody else could reap yet still reports the
/// child's own status (or NotChild, matched in the rogue's record) after the rogue took it.
#[test]
fn pidfd_open_of_a_held_child_against_a_rogue() {
    if !require(Feature::PidfdOpen) {
        return;
    }
    fn one(code: i32, rogue_takes_it: bool) -> Outcome {
        let mut child = pidfd::Command::new("sh")
            .args(["-c", &format!("echo $$; read x; exit {code}")])
            .stdin(pidfd::Stdio::Piped)
            .stdout(pidfd::Stdio::Piped)
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let pid: i32 = line.trim().parse().unwrap();
        // Alive and waiting for a line: the pid cannot have been recycled.
        let opened = PidFd::open(pid).unwrap();
        assert_eq!(opened.pid().unwrap(), pid);
        child.stdin.take().unwrap().write_all(b"\n").unwrap();
        if rogue_takes_it {
            until_reaped_by_the_rogue(&opened);
        }
        Outcome { pid, code, waited: opened.wait().map_err(Into::into) }
    }
    run(Kind::Polling, children() / 4, one);
}
