//! A readiness that is not a collectable exit, made for real, two ways:
//!
//! * another process ptrace-seizes our children, so when a child exits its pidfd turns
//!   readable while `waitid(WNOHANG)` has nothing for us (the tracer gets the zombie first);
//!   only when the tracer lets go can we reap it. The tracer must be another process (a tracer
//!   in our own thread group would let our `waitid` reap the tracee directly): it is this test
//!   binary, started again to run [`tracer_helper`]; the tracees are too ([`tracee_helper`]),
//!   and they allow any tracer (`PR_SET_PTRACER`), so Yama's `ptrace_scope = 1` does not refuse
//!   it. Nothing here needs `pidfd_open`: it runs under the container-eperm row too.
//! * without ptrace (6.15+): processes that are not our children, exited, but held as zombies
//!   by their parent ([`holder_helper`]) until we say so. Their pidfds are readable, and
//!   `PIDFD_INFO_EXIT` has nothing until the parent reaps them.
//!
//! Both start the waits *before* the exits, so the exit's wake-up reaches futures that are
//! pending, plus one wait started after the exit. While the exits are not collectable, the
//! same futures are driven for a while: they must stay pending, be polled only a handful of
//! times, and the runtime thread must park (sleep in `epoll_wait`) only a handful of times (a
//! wait that loops on a readiness it does not clear runs one of those counts into the
//! thousands, by tokio's cooperative budget or the reactor's re-reported readiness, whatever
//! the machine's load). Then, released, the very same futures resolve with the right statuses.

use std::cell::Cell;
use std::future::{Future, poll_fn};
use std::io::{BufRead, BufReader, Write};
use std::pin::pin;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use pidfd::{Feature, PidFd};
use pidfd_async::{AsyncPidFd, ExitSet};

use crate::support::{expected, reaped, require_all, rt};
use crate::sys;

const TRACEES: &str = "PIDFD_ASYNC_TEST_TRACEES";
const TRACEE_CODE: &str = "PIDFD_ASYNC_TEST_TRACEE_CODE";
const HOLDER: &str = "PIDFD_ASYNC_TEST_HOLDER";

/// How long the waits are driven while nothing is collectable.
const WINDOW: Duration = Duration::from_millis(300);
/// At most this many polls of each wait during [`WINDOW`]: one per real wake-up (the exit,
/// the tracer's own events), with room to spare.
const MAX_POLLS: usize = 10;
/// At most this many parks of the runtime thread during [`WINDOW`]: one per real wake-up of the
/// reactor (the two exits, the window's timer), with room to spare.
const MAX_PARKS: u64 = 20;

/// Not a test of its own: the tracer process. Seizes the pids in `$PIDFD_ASYNC_TEST_TRACEES`,
/// prints `seized`, waits for a line on stdin, then waits for each tracee as its tracer (which
/// hands the zombie back to the real parent) and prints `released <status>...`.
#[test]
fn tracer_helper() {
    let Ok(list) = std::env::var(TRACEES) else { return };
    let pids: Vec<i32> = list.split(',').map(|p| p.parse().unwrap()).collect();
    let mut out = std::io::stdout().lock();
    for &pid in &pids {
        if let Err(e) = sys::ptrace_seize(pid) {
            writeln!(out, "\nseize-failed {}", e.raw_os_error().unwrap_or(0)).unwrap();
            out.flush().unwrap();
            std::process::exit(0);
        }
    }
    writeln!(out, "\nseized").unwrap();
    out.flush().unwrap();
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
    let statuses: Vec<String> = pids.iter().map(|&p| sys::wait_traced(p).unwrap().to_string()).collect();
    writeln!(out, "released {}", statuses.join(" ")).unwrap();
    out.flush().unwrap();
    std::process::exit(0);
}

/// Not a test of its own: a tracee. Allows any tracer, prints `tracee-ready`, and exits with
/// `$PIDFD_ASYNC_TEST_TRACEE_CODE` after a line on stdin.
#[test]
fn tracee_helper() {
    let Ok(code) = std::env::var(TRACEE_CODE) else { return };
    sys::allow_any_tracer();
    println!("\ntracee-ready");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
    std::process::exit(code.parse().unwrap());
}

/// Not a test of its own: the parent of two shells that exit (`exit 7`, `exit 8`) after the
/// first line on stdin and stay zombies until the second; prints `zombies <pid> <pid>`, then
/// `exited` and `released`.
#[test]
fn holder_helper() {
    if std::env::var_os(HOLDER).is_none() {
        return;
    }
    let mut kids: Vec<std::process::Child> = [7, 8]
        .iter()
        .map(|c| Command::new("sh").args(["-c", &format!("read x; exit {c}")]).stdin(Stdio::piped()).spawn().unwrap())
        .collect();
    println!("\nzombies {} {}", kids[0].id(), kids[1].id());
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
    for k in &mut kids {
        drop(k.stdin.take());
    }
    println!("exited");
    line.clear();
    std::io::stdin().read_line(&mut line).unwrap();
    let ok = kids.iter_mut().zip([7, 8]).all(|(k, c)| k.wait().unwrap().code() == Some(c));
    println!("released");
    std::process::exit(if ok { 0 } else { 1 });
}

/// This test binary again, running `helper` alone, with `env` set and stdin/stdout piped.
fn helper(name: &str, env: &[(&str, String)]) -> (Child, ChildStdin, BufReader<ChildStdout>) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", name, "--nocapture", "--test-threads=1"]).stdin(Stdio::piped()).stdout(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let (stdin, stdout) = (child.stdin.take().unwrap(), BufReader::new(child.stdout.take().unwrap()));
    (child, stdin, stdout)
}

/// The next line of `out` that starts with `prefix`, without it.
fn line_after(out: &mut impl BufRead, prefix: &str) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "the helper ended before `{prefix}`");
        if let Some(rest) = line.trim().strip_prefix(prefix) {
            return rest.trim().to_owned();
        }
    }
}

/// Runs `f` (which drives a runtime) on a thread of its own and returns its result; fails the
/// test if it has not finished after 30 s. A wait that loops inside one poll on a readiness it
/// never clears does not yield to the timers that would end the test: the runtime thread is
/// stuck, and only another thread can tell.
fn watched<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(v) => v,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what}: the runtime thread is still busy after 30 s: a wait loops inside one poll")
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => panic!("{what}: the runtime thread panicked"),
    }
}

/// `a` waited through an `AsyncPidFd` (one wait pending before its exit, one started after),
/// `b` through an `ExitSet` (`next` pending before its exit). `exit` makes both exit without
/// being collectable; `release` makes them collectable: the waits stay pending without
/// spinning, then the same futures resolve with exit codes 7 and 8.
async fn not_yet_then_released(a: PidFd, b: PidFd, exit: impl FnOnce(), release: impl FnOnce()) {
    let a = AsyncPidFd::new(a).unwrap();
    let b_watch = AsyncPidFd::new(b.try_clone().unwrap()).unwrap();
    let mut set = ExitSet::new().unwrap();
    set.insert('b', b).unwrap();

    let polls = [Cell::new(0usize), Cell::new(0), Cell::new(0)];
    // The futures live in this block; the set is looked at again after it.
    let (early, late, next) = {
        let mut early = pin!(a.wait());
        let mut early = poll_fn(|cx| {
            polls[0].set(polls[0].get() + 1);
            early.as_mut().poll(cx)
        });
        let mut next = pin!(set.next());
        let mut next = poll_fn(|cx| {
            polls[1].set(polls[1].get() + 1);
            next.as_mut().poll(cx)
        });
        // Pending, with their interest registered, before anything exits.
        tokio::select! {
            biased;
            r = &mut early => panic!("a collected before its exit: {r:?}"),
            r = &mut next => panic!("b collected before its exit: {r:?}"),
            () = std::future::ready(()) => {}
        }

        exit();
        // The exits happened: `exited` resolves for both (that readiness is exactly the one that
        // is not collectable yet for `wait`), and has woken the pending futures.
        let (a_exited, b_exited) =
            tokio::time::timeout(Duration::from_secs(10), async { tokio::join!(a.exited(), b_watch.exited()) })
                .await
                .expect("a and b exited");
        a_exited.unwrap();
        b_exited.unwrap();
        let mut late = pin!(a.wait());
        let mut late = poll_fn(|cx| {
            polls[2].set(polls[2].get() + 1);
            late.as_mut().poll(cx)
        });

        // Nothing is collectable: all three stay pending, without spinning. Counted, not timed:
        // the futures' polls, and how many times this thread, which runs the runtime, parked
        // (went to sleep in `epoll_wait`): a wait that loops on a readiness it does not clear
        // makes either count run into the thousands, however loaded the machine.
        let metrics = tokio::runtime::Handle::current().metrics();
        let parked = metrics.worker_park_count(0);
        let start = Instant::now();
        tokio::select! {
            r = &mut early => panic!("a collected before the release: {r:?}"),
            r = &mut late => panic!("a collected before the release (late wait): {r:?}"),
            r = &mut next => panic!("b collected before the release: {r:?}"),
            () = tokio::time::sleep(WINDOW) => {}
        }
        let wall = start.elapsed();
        let parks = metrics.worker_park_count(0) - parked;
        let counts = polls.iter().map(Cell::get).collect::<Vec<_>>();
        eprintln!("not yet for {wall:?}: polls (early wait, next, late wait) {counts:?}, runtime parked {parks} times");
        assert!(counts.iter().all(|&n| n <= MAX_POLLS), "polled {counts:?} times in {wall:?}: a busy loop");
        assert!(parks <= MAX_PARKS, "the runtime thread parked {parks} times in {wall:?}: a busy loop");
        assert_eq!(a.try_wait().unwrap(), None);
        assert!(!reaped(a.pidfd()));

        // Released: the same futures resolve, each with its own status.
        release();
        tokio::time::timeout(Duration::from_secs(10), async { tokio::join!(&mut early, &mut late, &mut next) })
            .await
            .expect("collected once released")
    };
    assert_eq!(early.unwrap().code(), Some(7));
    assert_eq!(late.unwrap().code(), Some(7));
    let (key, b_status) = next.unwrap();
    assert_eq!((key, b_status.unwrap().code()), ('b', Some(8)));
    assert!(set.is_empty());
}

#[test]
fn a_tracer_holding_the_zombie_is_not_yet_and_does_not_spin() {
    // Two children, each exits (7, 8) when told; spawned with `pidfd::Command`.
    let spawn_tracee = |code: i32| {
        let mut child = pidfd::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "spurious::tracee_helper", "--nocapture", "--test-threads=1"])
            .env(TRACEE_CODE, code.to_string())
            .stdin(pidfd::Stdio::Piped)
            .stdout(pidfd::Stdio::Piped)
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        line_after(&mut out, "tracee-ready");
        (child.stdin.take().unwrap(), child.into_pidfd())
    };
    let (mut a_in, a_fd) = spawn_tracee(7);
    let (mut b_in, b_fd) = spawn_tracee(8);
    let pids = format!("{},{}", a_fd.pid().unwrap(), b_fd.pid().unwrap());

    let (mut tracer, mut tracer_in, mut tracer_out) = helper("spurious::tracer_helper", &[(TRACEES, pids)]);
    let mut line = String::new();
    loop {
        line.clear();
        assert!(tracer_out.read_line(&mut line).unwrap() > 0, "the tracer ended without a word");
        if let Some(errno) = line.trim().strip_prefix("seize-failed ") {
            let _ = tracer.wait();
            drop((a_in, b_in));
            let _ = (a_fd.wait(), b_fd.wait());
            // The matrix's VMs run as root: there, a refusal is a failure.
            assert!(expected().is_none(), "PTRACE_SEIZE refused (errno {errno}) under the kernel matrix");
            eprintln!(
                "skipped: PTRACE_SEIZE refused (errno {errno}; Yama ptrace_scope 2-3, seccomp, or no \
                 CAP_SYS_PTRACE); `a_non_child_zombie_is_not_yet_and_does_not_spin` covers the path on 6.15+"
            );
            return;
        }
        if line.trim() == "seized" {
            break;
        }
    }

    watched("traced children", move || {
        rt().block_on(not_yet_then_released(
            a_fd,
            b_fd,
            // Let both exit; the tracer holds their zombies.
            || {
                a_in.write_all(b"\n").unwrap();
                b_in.write_all(b"\n").unwrap();
            },
            || tracer_in.write_all(b"\n").unwrap(),
        ))
    });
    let statuses = line_after(&mut tracer_out, "released");
    assert_eq!(statuses.split(' ').count(), 2, "{statuses}");
    assert!(tracer.wait().unwrap().success());
}

#[test]
fn a_non_child_zombie_is_not_yet_and_does_not_spin() {
    // Their pidfds are opened by pid; their statuses come from PIDFD_INFO_EXIT.
    if !require_all(&[Feature::InfoExit, Feature::PidfdOpen]) {
        return;
    }
    let (mut holder, holder_in, mut holder_out) = helper("spurious::holder_helper", &[(HOLDER, "1".into())]);
    let pids = line_after(&mut holder_out, "zombies");
    // Not racy: they stay unreaped until the holder is told to reap them.
    let fds: Vec<PidFd> = pids.split(' ').map(|p| PidFd::open(p.parse().unwrap()).unwrap()).collect();
    let [a, b] = <[PidFd; 2]>::try_from(fds).unwrap();
    let mut holder_out = watched("non-child zombies", move || {
        rt().block_on(not_yet_then_released(
            a,
            b,
            || {
                (&holder_in).write_all(b"exit\n").unwrap();
                line_after(&mut holder_out, "exited");
            },
            || (&holder_in).write_all(b"reap\n").unwrap(),
        ));
        holder_out
    });
    line_after(&mut holder_out, "released");
    assert!(holder.wait().unwrap().success());
}
