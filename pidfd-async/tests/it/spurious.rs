//! A readiness that is not a collectable exit, made for real, two ways:
//!
//! * another process ptrace-seizes our child, so when the child exits its pidfd turns readable
//!   while `waitid(WNOHANG)` has nothing for us (the tracer gets the zombie first); only when
//!   the tracer lets go can we reap it. The tracer must be another process (a tracer in our own
//!   thread group would let our `waitid` reap the tracee directly): it is this test binary,
//!   started again to run [`tracer_helper`]; the tracees are too ([`tracee_helper`]), and they
//!   allow any tracer (`PR_SET_PTRACER`), so Yama's `ptrace_scope = 1` does not refuse it.
//! * without ptrace (6.15+): processes that are not our children, exited, but held as zombies
//!   by their parent ([`holder_helper`]) until we say so. Their pidfds are readable, and
//!   `PIDFD_INFO_EXIT` has nothing until the parent reaps them.
//!
//! Both check that the waits stay pending without spinning (the runtime thread's CPU time is
//! measured while they wait), then resolve with the right statuses once released.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use pidfd::{Feature, PidFd};
use pidfd_async::{AsyncPidFd, ExitSet};

use crate::support::{expected, reaped, require, rt};
use crate::sys;

const TRACEES: &str = "PIDFD_ASYNC_TEST_TRACEES";
const TRACEE_CODE: &str = "PIDFD_ASYNC_TEST_TRACEE_CODE";
const HOLDER: &str = "PIDFD_ASYNC_TEST_HOLDER";

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

/// Not a test of its own: the parent of two processes that exit at once (`exit 7`, `exit 8`)
/// and stay zombies until a line on stdin; prints `zombies <pid> <pid>`, then `released`.
#[test]
fn holder_helper() {
    if std::env::var_os(HOLDER).is_none() {
        return;
    }
    let mut kids: Vec<std::process::Child> =
        [7, 8].iter().map(|c| Command::new("sh").args(["-c", &format!("exit {c}")]).spawn().unwrap()).collect();
    println!("\nzombies {} {}", kids[0].id(), kids[1].id());
    let mut line = String::new();
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
fn line_after(out: &mut BufReader<ChildStdout>, prefix: &str) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "the helper ended before `{prefix}`");
        if let Some(rest) = line.trim().strip_prefix(prefix) {
            return rest.trim().to_owned();
        }
    }
}

/// `a` waited through an `AsyncPidFd`, `b` through an `ExitSet`, both exited but not
/// collectable until `release` is called: the waits stay pending without spinning, then resolve
/// with exit codes 7 and 8.
async fn not_yet_then_released(a: PidFd, b: PidFd, release: impl FnOnce()) {
    let a = AsyncPidFd::new(a).unwrap();
    let mut set = ExitSet::new().unwrap();
    set.insert('b', b).unwrap();

    // The exit happened: `exited` resolves (that readiness is exactly the one that is not
    // collectable yet for `wait`)...
    tokio::time::timeout(Duration::from_secs(10), a.exited()).await.expect("a exited").unwrap();

    // ...but nothing is collectable: both waits stay pending, without spinning.
    let cpu_before = sys::thread_cpu();
    let start = Instant::now();
    let both = async { tokio::join!(a.wait(), set.next()) };
    assert!(tokio::time::timeout(Duration::from_millis(300), both).await.is_err(), "collected before the release");
    let cpu = sys::thread_cpu() - cpu_before;
    let wall = start.elapsed();
    assert!(cpu < Duration::from_millis(30), "the runtime thread used {cpu:?} of CPU in {wall:?}: a busy loop");
    assert_eq!(a.try_wait().unwrap(), None);
    assert!(!reaped(a.pidfd()));

    // Released: both resolve with their own statuses.
    release();
    let (a_status, b_next) =
        tokio::time::timeout(Duration::from_secs(10), async { tokio::join!(a.wait(), set.next()) })
            .await
            .expect("collected once released");
    assert_eq!(a_status.unwrap().code(), Some(7));
    let (key, b_status) = b_next.unwrap();
    assert_eq!((key, b_status.unwrap().code()), ('b', Some(8)));
    assert!(set.is_empty());
}

#[test]
fn a_tracer_holding_the_zombie_is_not_yet_and_costs_no_cpu() {
    // Two children, each exits (7, 8) when told.
    let spawn_tracee = |code: i32| {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args(["--exact", "spurious::tracee_helper", "--nocapture", "--test-threads=1"])
            .env(TRACEE_CODE, code.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        let (mut child, fd) = pidfd::spawn(&mut cmd).unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        line_after(&mut out, "tracee-ready");
        (child, fd)
    };
    let (mut a, a_fd) = spawn_tracee(7);
    let (mut b, b_fd) = spawn_tracee(8);
    let pids = format!("{},{}", a_fd.pid().unwrap(), b_fd.pid().unwrap());

    let (mut tracer, mut tracer_in, mut tracer_out) = helper("spurious::tracer_helper", &[(TRACEES, pids)]);
    let mut line = String::new();
    loop {
        line.clear();
        assert!(tracer_out.read_line(&mut line).unwrap() > 0, "the tracer ended without a word");
        if let Some(errno) = line.trim().strip_prefix("seize-failed ") {
            let _ = tracer.wait();
            drop((a.stdin.take(), b.stdin.take()));
            let _ = (a.wait(), b.wait());
            // The matrix's VMs run as root: there, a refusal is a failure.
            assert!(expected().is_none(), "PTRACE_SEIZE refused (errno {errno}) under the kernel matrix");
            eprintln!(
                "skipped: PTRACE_SEIZE refused (errno {errno}; Yama ptrace_scope 2-3, seccomp, or no \
                 CAP_SYS_PTRACE); `a_non_child_zombie_is_not_yet_and_costs_no_cpu` covers the path on 6.15+"
            );
            return;
        }
        if line.trim() == "seized" {
            break;
        }
    }

    rt().block_on(async {
        // Let both exit; the tracer holds their zombies.
        a.stdin.take().unwrap().write_all(b"\n").unwrap();
        b.stdin.take().unwrap().write_all(b"\n").unwrap();
        not_yet_then_released(a_fd, b_fd, || tracer_in.write_all(b"\n").unwrap()).await;
    });
    let statuses = line_after(&mut tracer_out, "released");
    assert_eq!(statuses.split(' ').count(), 2, "{statuses}");
    assert!(tracer.wait().unwrap().success());
}

#[test]
fn a_non_child_zombie_is_not_yet_and_costs_no_cpu() {
    if !require(Feature::InfoExit) {
        return;
    }
    let (mut holder, mut holder_in, mut holder_out) = helper("spurious::holder_helper", &[(HOLDER, "1".into())]);
    let pids = line_after(&mut holder_out, "zombies");
    // Not racy: they stay zombies until the holder is told to reap them.
    let fds: Vec<PidFd> = pids.split(' ').map(|p| PidFd::open(p.parse().unwrap()).unwrap()).collect();
    let [a, b] = <[PidFd; 2]>::try_from(fds).unwrap();
    rt().block_on(not_yet_then_released(a, b, || holder_in.write_all(b"\n").unwrap()));
    line_after(&mut holder_out, "released");
    assert!(holder.wait().unwrap().success());
}
