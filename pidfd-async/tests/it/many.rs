//! Load: 10,000 concurrent children waited on one `current_thread` runtime, through
//! `AsyncPidFd::wait` and through one `ExitSet`, each child with a known exit code (`i % 200`):
//! every status right, every child reaped, no zombie left (the process has no child at all at
//! the end: `waitid(P_ALL, WNOHANG | WNOWAIT)` answers `ECHILD`), the memory each pending
//! waiter costs reported. And the same with the waits cancelled over and over while the exits
//! arrive: each wait is raced against a random short timer (the timer polled first, so an exit
//! whose wake-up has arrived is regularly dropped with the future), then waited again; each
//! child's final status must still be exactly its code, reported exactly once.
//!
//! Each scenario runs in a process of its own (this test binary again, [`load_helper`]), one
//! at a time: "no child at all" can only be checked where no other test spawns, and two sets
//! of 10,000 shells at once would crowd the pid space. The children are spawned with
//! `pidfd::Command` (no `pidfd_open`: these run under the container-eperm row too).
//!
//! Counts: 10,000 children on the host; under the kernel matrix (`PIDFD_TEST_EXPECT` set: small
//! VMs, software-emulated, where each binary must take a few seconds) 32.
//! `PIDFD_ASYNC_TEST_MANY` overrides both; `PIDFD_ASYNC_TEST_SEED` fixes the random timers
//! (the seed is printed).

use std::future::Future;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::pin::pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pidfd::PidFd;
use pidfd_async::{AsyncPidFd, ExitSet};

use crate::support::{reaped, rt, under_matrix};
use crate::sys;

const LOAD: &str = "PIDFD_ASYNC_TEST_LOAD";

/// The exit code of child `i`.
fn code(i: usize) -> i32 {
    (i % 200) as i32
}

/// 10,000 on the host; 32 under the kernel matrix (each child costs tens of milliseconds
/// under QEMU TCG, and the four scenarios must take a few seconds there);
/// `PIDFD_ASYNC_TEST_MANY` overrides.
fn how_many() -> usize {
    if let Some(n) = std::env::var("PIDFD_ASYNC_TEST_MANY").ok().and_then(|v| v.parse().ok()) {
        return n;
    }
    if under_matrix() { 32 } else { 10_000 }
}

/// How long a scenario may take before its process gives up (a lost exit fails sooner, at
/// [`lost_after`]).
fn limit() -> Duration {
    if under_matrix() { Duration::from_secs(90) } else { Duration::from_secs(600) }
}

/// How long the waits may take after the last child was released before the exits still
/// missing count as lost.
fn lost_after() -> Duration {
    if under_matrix() { Duration::from_secs(30) } else { Duration::from_secs(120) }
}

/// `VmRSS` of this process, KiB.
fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = s.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// xorshift64*: the random timers, reproducible from the printed seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

fn seed() -> u64 {
    std::env::var("PIDFD_ASYNC_TEST_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
    })
}

/// `n` shells blocked reading one shared pipe; child `i` exits with [`code`]`(i)` after
/// reading one line, or at end-of-file. Returns the write end and the pidfds.
fn blocked_children(n: usize) -> (std::fs::File, Vec<PidFd>) {
    let (read, write) = test_support::pipe();
    // One command for all: its stdin fd stays low, so no spawn copies a big fd table.
    let mut cmd = pidfd::Command::new("sh");
    cmd.args(["-c", "read x; exit $CODE"])
        .stdin(pidfd::Stdio::Fd(OwnedFd::from(read)))
        .stdout(pidfd::Stdio::Null)
        .stderr(pidfd::Stdio::Null);
    let fds = (0..n)
        .map(|i| {
            cmd.env("CODE", code(i).to_string());
            cmd.spawn().unwrap_or_else(|e| panic!("spawning child {i} of {n}: {e}")).into_pidfd()
        })
        .collect();
    (write, fds)
}

/// Releases the children gradually, `n / 50` at a time (one line each) every 2 ms, then all
/// that are left (end-of-file), so the exits arrive while the waits are being polled,
/// cancelled and restarted.
async fn release_gradually(mut release: std::fs::File, n: usize) {
    let batch = vec![b'\n'; (n / 50).max(1)];
    for _ in 0..50 {
        // A few hundred bytes into an empty pipe: never blocks.
        release.write_all(&batch).unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    drop(release);
}

/// Checks what every scenario ends with: each child reported exactly once with its code, and
/// this process without any child left, zombie or not (so every child was reaped).
fn check_all(n: usize, got: &[Option<i32>]) {
    for (i, c) in got.iter().enumerate() {
        assert_eq!(*c, Some(code(i)), "child {i} of {n}");
    }
    assert!(sys::no_children(), "a child of this process is left (a zombie?)");
}

/// `AsyncPidFd::wait` on every child, each in a task, all pending before any child exits.
fn load_wait(n: usize) {
    let start = Instant::now();
    let (release, fds) = blocked_children(n);
    let spawned = start.elapsed();
    let got = rt().block_on(async {
        let rss_before = rss_kib();
        let mut tasks = Vec::with_capacity(n);
        // The first poll of each wait: [pending, resolved].
        let first_polls = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
        let finished = Arc::new(AtomicUsize::new(0));
        for (i, fd) in fds.into_iter().enumerate() {
            let fd = AsyncPidFd::new(fd).unwrap();
            let (first_polls, finished) = (Arc::clone(&first_polls), Arc::clone(&finished));
            tasks.push(tokio::spawn(async move {
                let status = {
                    let mut wait = pin!(fd.wait());
                    let mut first = true;
                    std::future::poll_fn(|cx| {
                        let poll = wait.as_mut().poll(cx);
                        if std::mem::take(&mut first) {
                            first_polls[usize::from(poll.is_ready())].fetch_add(1, Ordering::SeqCst);
                        }
                        poll
                    })
                    .await
                };
                finished.fetch_add(1, Ordering::SeqCst);
                (i, status, fd)
            }));
        }
        // Every wait has been polled once and is pending (registered with the reactor) before
        // any child exits: the children are blocked on the pipe until `release` closes.
        let polled = || first_polls[0].load(Ordering::SeqCst) + first_polls[1].load(Ordering::SeqCst);
        while polled() < n {
            tokio::task::yield_now().await;
        }
        assert_eq!(first_polls[1].load(Ordering::SeqCst), 0, "waits resolved before the release");
        let rss_pending = rss_kib();
        eprintln!(
            "load: wait: RSS +{} KiB for {n} pending waits (AsyncPidFd + task): {} bytes per waiter",
            rss_pending.saturating_sub(rss_before),
            rss_pending.saturating_sub(rss_before) * 1024 / n as u64
        );
        let released = Instant::now();
        drop(release);
        let mut got = vec![None; n];
        let all = async {
            for t in tasks {
                let (i, status, fd) = t.await.unwrap();
                got[i] = Some(status.unwrap().code().unwrap_or(-1));
                assert!(reaped(fd.pidfd()), "child {i} is not reaped");
            }
        };
        if tokio::time::timeout(lost_after(), all).await.is_err() {
            let missing = n - finished.load(Ordering::SeqCst);
            panic!("{missing} of {n} exits not reported {:?} after the release", lost_after());
        }
        eprintln!(
            "load: wait: {n} children spawned in {spawned:?}, all reaped {:?} after the release",
            released.elapsed()
        );
        got
    });
    check_all(n, &got);
}

/// One `ExitSet` with every child.
fn load_exit_set(n: usize) {
    let start = Instant::now();
    let (release, fds) = blocked_children(n);
    let spawned = start.elapsed();
    let got = rt().block_on(async {
        let rss_before = rss_kib();
        let mut set = ExitSet::new().unwrap();
        for (i, fd) in fds.into_iter().enumerate() {
            set.insert(i, fd).unwrap();
        }
        assert!(tokio::time::timeout(Duration::from_millis(20), set.next()).await.is_err(), "an exit before release");
        let rss_pending = rss_kib();
        eprintln!(
            "load: exit set: RSS +{} KiB for {n} entries: {} bytes per entry",
            rss_pending.saturating_sub(rss_before),
            rss_pending.saturating_sub(rss_before) * 1024 / n as u64
        );
        let released = Instant::now();
        drop(release);
        let mut got = vec![None; n];
        let all = async {
            while let Some((i, status)) = set.next().await {
                assert!(got[i].is_none(), "child {i} reported twice");
                got[i] = Some(status.unwrap().code().unwrap_or(-1));
            }
        };
        if tokio::time::timeout(lost_after(), all).await.is_err() {
            panic!("{} of {n} exits not reported {:?} after the release", set.len(), lost_after());
        }
        eprintln!(
            "load: exit set: {n} children spawned in {spawned:?}, all reported {:?} after the release",
            released.elapsed()
        );
        got
    });
    check_all(n, &got);
}

/// `AsyncPidFd::wait` raced against random timers (0 to 2.5 ms, the timer polled first) or a
/// single yield, dropped when it loses, and started again, while the children are released
/// gradually; the status is then asked once more and must be the same.
fn load_cancel_wait(n: usize) {
    let seed = seed();
    eprintln!("load: cancel wait: seed {seed} (PIDFD_ASYNC_TEST_SEED)");
    let (release, fds) = blocked_children(n);
    let got = rt().block_on(async {
        let cancels = Arc::new(AtomicUsize::new(0));
        let finished = Arc::new(AtomicUsize::new(0));
        // Cancellations while the child had exited: its wake-up dropped with the future.
        let with_exit = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::with_capacity(n);
        for (i, fd) in fds.into_iter().enumerate() {
            let fd = AsyncPidFd::new(fd).unwrap();
            let (cancels, with_exit, finished) = (Arc::clone(&cancels), Arc::clone(&with_exit), Arc::clone(&finished));
            let mut rng = Rng::new(seed ^ i as u64);
            tasks.push(tokio::spawn(async move {
                let status = loop {
                    let yield_once = rng.below(4) == 0;
                    let timer = tokio::time::sleep(Duration::from_micros(rng.below(2500)));
                    tokio::select! {
                        biased;
                        () = timer, if !yield_once => {}
                        () = tokio::task::yield_now(), if yield_once => {}
                        status = fd.wait() => break status,
                    }
                    cancels.fetch_add(1, Ordering::Relaxed);
                    if sys::poll_readable(fd.as_fd(), 0) {
                        with_exit.fetch_add(1, Ordering::Relaxed);
                    }
                };
                // Waited again: the same status.
                let again = fd.wait().await;
                finished.fetch_add(1, Ordering::SeqCst);
                (i, status, again)
            }));
        }
        let released = Instant::now();
        tokio::spawn(release_gradually(release, n));
        let mut got = vec![None; n];
        let all = async {
            for t in tasks {
                let (i, status, again) = t.await.unwrap();
                let status = status.unwrap();
                assert_eq!(again.unwrap(), status, "child {i}: a second wait disagrees");
                got[i] = Some(status.code().unwrap_or(-1));
            }
        };
        if tokio::time::timeout(lost_after(), all).await.is_err() {
            let missing = n - finished.load(Ordering::SeqCst);
            panic!("{missing} of {n} exits lost while their waits were being cancelled");
        }
        let (cancels, with_exit) = (cancels.load(Ordering::Relaxed), with_exit.load(Ordering::Relaxed));
        eprintln!(
            "load: cancel wait: {n} children, {cancels} waits cancelled, {with_exit} of them after the exit; all \
             reported {:?} after the release began",
            released.elapsed()
        );
        // Not vacuous: waits were cancelled, and (with thousands of children, where it always
        // happens) some of them after their child's exit had woken them.
        assert!(cancels > 0, "no wait was cancelled: the scenario did not happen");
        assert!(n < 1000 || with_exit > 0, "no wait was cancelled after its child's exit: the scenario did not happen");
        got
    });
    check_all(n, &got);
}

/// `ExitSet::next` raced against random timers (0 to 2.5 ms, the timer polled first) or a
/// single yield, dropped when it loses, over and over, while the children are released
/// gradually.
fn load_cancel_exit_set(n: usize) {
    let seed = seed();
    eprintln!("load: cancel exit set: seed {seed} (PIDFD_ASYNC_TEST_SEED)");
    let (release, fds) = blocked_children(n);
    let got = rt().block_on(async {
        let mut set = ExitSet::new().unwrap();
        for (i, fd) in fds.into_iter().enumerate() {
            set.insert(i, fd).unwrap();
        }
        let mut rng = Rng::new(seed);
        let released = Instant::now();
        tokio::spawn(release_gradually(release, n));
        let mut got = vec![None; n];
        let (mut cancels, mut reports) = (0usize, 0usize);
        let all = async {
            while !set.is_empty() {
                let yield_once = rng.below(4) == 0;
                let timer = tokio::time::sleep(Duration::from_micros(rng.below(2500)));
                tokio::select! {
                    biased;
                    () = timer, if !yield_once => cancels += 1,
                    () = tokio::task::yield_now(), if yield_once => cancels += 1,
                    next = set.next() => {
                        let (i, status) = next.expect("a non-empty set yields");
                        assert!(got[i].is_none(), "child {i} reported twice");
                        got[i] = Some(status.unwrap().code().unwrap_or(-1));
                        reports += 1;
                    }
                }
            }
        };
        if tokio::time::timeout(lost_after(), all).await.is_err() {
            panic!("{} of {n} exits lost while `next` was being cancelled", set.len());
        }
        assert!(set.next().await.is_none());
        eprintln!(
            "load: cancel exit set: {n} children, `next` cancelled {cancels} times; {reports} reported {:?} after \
             the release began",
            released.elapsed()
        );
        assert!(cancels > 0, "`next` was never cancelled: the scenario did not happen");
        got
    });
    check_all(n, &got);
}

/// Not a test of its own: runs the scenario `$PIDFD_ASYNC_TEST_LOAD` in a process of its own
/// (see the module documentation) and prints `load-ok`.
#[test]
fn load_helper() {
    let Ok(mode) = std::env::var(LOAD) else { return };
    assert!(sys::no_children(), "the helper starts with children");
    let n = how_many();
    let nofile = sys::raise_nofile();
    assert!(nofile >= n as u64 + 100, "RLIMIT_NOFILE hard limit {nofile} is too low for {n} pidfds");
    let (limit, what) = (limit(), mode.clone());
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        eprintln!("load: {what}: still running after {limit:?}: a lost exit or a stuck runtime thread");
        std::process::exit(3);
    });
    match mode.as_str() {
        "wait" => load_wait(n),
        "exit-set" => load_exit_set(n),
        "cancel-wait" => load_cancel_wait(n),
        "cancel-exit-set" => load_cancel_exit_set(n),
        other => panic!("unknown load scenario {other}"),
    }
    println!("\nload-ok");
    std::process::exit(0);
}

/// One scenario at a time (see the module documentation).
static SERIAL: Mutex<()> = Mutex::new(());

/// Runs [`load_helper`] for `mode`; its report lines go to our stderr.
fn run_load(mode: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let started = Instant::now();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "many::load_helper", "--nocapture", "--test-threads=1"])
        .env(LOAD, mode)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    for line in stderr.lines().filter(|l| l.starts_with("load:")) {
        eprintln!("{line}");
    }
    eprintln!("load: {mode}: {} children, {:?} in all", how_many(), started.elapsed());
    assert!(out.status.success() && stdout.contains("load-ok"), "{mode}: {}\n{stdout}\n{stderr}", out.status);
}

#[test]
fn ten_thousand_concurrent_waits_on_a_current_thread_runtime() {
    run_load("wait");
}

#[test]
fn ten_thousand_in_one_exit_set() {
    run_load("exit-set");
}

#[test]
fn cancelled_waits_lose_no_exit_under_load() {
    run_load("cancel-wait");
}

#[test]
fn a_cancelled_next_loses_no_exit_under_load() {
    run_load("cancel-exit-set");
}
