//! A readiness that is not a reapable exit, made for real: another process ptrace-seizes our
//! child, so when the child exits its pidfd turns readable while `waitid(WNOHANG)` has nothing
//! for us (the tracer gets the zombie first). Only when the tracer lets go can we reap it.
//!
//! The tracer must be another process: a tracer in our own thread group would let our
//! `waitid` reap the tracee directly. It is this test binary, started again to run
//! [`tracer_helper`].

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pidfd_async::{AsyncPidFd, ExitSet};

use crate::support::{rt, sh_piped};
use crate::sys;

const TRACEES: &str = "PIDFD_ASYNC_TEST_TRACEES";

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

#[test]
fn a_tracer_holding_the_zombie_is_not_yet_and_costs_no_cpu() {
    // Two children, one waited through `AsyncPidFd`, one through an `ExitSet`. Each prints its
    // pid, then exits when told (a line on stdin).
    let (mut a, a_fd, a_pid) = sh_piped("echo $$; read x; exit 7");
    let (mut b, b_fd, b_pid) = sh_piped("echo $$; read x; exit 8");

    let mut tracer = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "spurious::tracer_helper", "--nocapture", "--test-threads=1"])
        .env(TRACEES, format!("{a_pid},{b_pid}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut tracer_out = BufReader::new(tracer.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(tracer_out.read_line(&mut line).unwrap() > 0, "the tracer ended without a word");
        if let Some(errno) = line.trim().strip_prefix("seize-failed ") {
            let _ = tracer.wait();
            eprintln!("skipped: PTRACE_SEIZE refused (errno {errno}; Yama ptrace_scope or no CAP_SYS_PTRACE)");
            drop((a.stdin.take(), b.stdin.take()));
            return;
        }
        if line.trim() == "seized" {
            break;
        }
    }

    rt().block_on(async {
        let a_fd = AsyncPidFd::new(a_fd).unwrap();
        let mut set = ExitSet::new().unwrap();
        set.insert('b', b_fd).unwrap();

        // Let both exit; the tracer holds their zombies.
        a.stdin.take().unwrap().write_all(b"\n").unwrap();
        b.stdin.take().unwrap().write_all(b"\n").unwrap();

        // The exit happened: `exited` resolves (that readiness is exactly the spurious one
        // for `wait`)...
        tokio::time::timeout(Duration::from_secs(5), a_fd.exited()).await.expect("a exited").unwrap();

        // ...but nothing is reapable: both waits stay pending, without spinning.
        let cpu_before = sys::thread_cpu();
        let start = Instant::now();
        let both = async { tokio::join!(a_fd.wait(), set.next()) };
        assert!(tokio::time::timeout(Duration::from_millis(300), both).await.is_err(), "reaped past the tracer");
        let cpu = sys::thread_cpu() - cpu_before;
        let wall = start.elapsed();
        assert!(cpu < Duration::from_millis(30), "the runtime thread used {cpu:?} of CPU in {wall:?}: a busy loop");
        assert_eq!(a_fd.try_wait().unwrap(), None);
        assert!(!crate::support::reaped(a_fd.pidfd()));

        // The tracer lets go: both are reaped with their own statuses.
        let mut tracer_in = tracer.stdin.take().unwrap();
        tracer_in.write_all(b"\n").unwrap();
        let (a_status, b_next) =
            tokio::time::timeout(Duration::from_secs(10), async { tokio::join!(a_fd.wait(), set.next()) })
                .await
                .expect("reaped once the tracer let go");
        assert_eq!(a_status.unwrap().code(), Some(7));
        let (key, b_status) = b_next.unwrap();
        assert_eq!((key, b_status.unwrap().code()), ('b', Some(8)));
        assert!(set.is_empty());
    });
    line.clear();
    tracer_out.read_line(&mut line).unwrap();
    assert!(line.starts_with("released "), "{line}");
    assert!(tracer.wait().unwrap().success());
}
