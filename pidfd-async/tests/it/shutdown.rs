//! Runtimes without I/O, and children that outlive their runtime: errors instead of panics,
//! and no zombie left behind.

use std::os::fd::AsFd;
use std::process::Stdio;
use std::time::{Duration, Instant};

use pidfd::{Feature, PidFd};
use pidfd_async::{AsyncPidFd, Command, Error, ExitSet};

use crate::support::{held, reaped, require, rt};
use crate::sys;

const NO_IO: &str = "PIDFD_ASYNC_TEST_NO_IO";

fn rt_without_io() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap()
}

/// Not a test of its own: run alone in a process of its own by
/// [`a_runtime_without_io_is_an_error_and_spawns_nothing`], so that "this process has no child
/// at all" is something it can check.
#[test]
fn no_io_helper() {
    if std::env::var_os(NO_IO).is_none() {
        return;
    }
    assert!(sys::no_children(), "the helper starts with children");
    // The same two runtimes, alternately: the check for an I/O driver runs once per runtime (its
    // tokio panic message, printed by the panic hook, appears once; the test counts it).
    let (without_io, with_io) = (rt_without_io(), rt());
    for round in 0..3 {
        without_io.block_on(async {
            // Checked before anything is spawned: no child, not even a zombie.
            let err = Command::new("true").spawn().unwrap_err();
            assert!(matches!(crate::command::inner(&err), Some(Error::NoIoDriver)), "round {round}: {err}");
            assert!(sys::no_children(), "round {round}: Command::spawn started a child");
            let err = Command::new("true").status().await.unwrap_err();
            assert!(matches!(crate::command::inner(&err), Some(Error::NoIoDriver)), "round {round}: {err}");
            assert!(sys::no_children(), "round {round}: Command::status started a child");

            // The pidfd is given back to nobody, but the process is untouched: still ours to reap.
            let mut child = pidfd::Command::new("sh").args(["-c", "exit 9"]).spawn().unwrap();
            let err = AsyncPidFd::new(child.pidfd().try_clone().unwrap()).unwrap_err();
            assert!(matches!(err, Error::NoIoDriver), "round {round}: {err}");
            assert_eq!(child.wait().unwrap().code(), Some(9));

            let err = ExitSet::<u8>::new().unwrap_err();
            assert!(matches!(err, Error::NoIoDriver), "round {round}: {err}");
            assert!(err.to_string().contains("enable_io"), "{err}");
        });
        // The answer is per runtime: on the same thread, a runtime with I/O works.
        with_io.block_on(async {
            let mut child = Command::new("sh").args(["-c", "exit 4"]).spawn().unwrap();
            assert_eq!(child.wait().await.unwrap().code(), Some(4));
        });
        assert!(sys::no_children(), "round {round}: a child is left");
    }
    println!("\nno-io-ok");
    std::process::exit(0);
}

#[test]
fn a_runtime_without_io_is_an_error_and_spawns_nothing() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "shutdown::no_io_helper", "--nocapture", "--test-threads=1"])
        .env(NO_IO, "1")
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stdout.contains("no-io-ok"), "{}\n{stdout}\n{stderr}", out.status);
    let probes = stderr.matches("IO is disabled").count();
    assert_eq!(probes, 1, "the runtime without I/O was probed {probes} times, not once:\n{stderr}");
}

/// Polls (blocking, every 10 ms) until the process behind `fd` is reaped, at most `limit` (a
/// hang guard).
fn until_reaped(fd: &PidFd, limit: Duration) -> bool {
    let start = Instant::now();
    while !reaped(fd) {
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

/// With `PIDFD_INFO_EXIT`, the status the reaper collected: `code` (so it was waited for, not
/// killed).
fn assert_exit_code(fd: &PidFd, code: i32) {
    if Feature::InfoExit.is_supported() {
        assert_eq!(fd.exit_status().unwrap().and_then(|s| s.code()), Some(code));
    }
}

/// `sh -c 'read x; exit <code>'` spawned through this crate: its `Child`, a dup of its pidfd to
/// watch it, and the write end of its stdin (close it to let the child exit).
fn spawn_held(code: i32) -> (pidfd_async::Child, PidFd, std::fs::File) {
    let (r, w) = test_support::pipe();
    let child = Command::new("sh")
        .args(["-c", &format!("read x; exit {code}")])
        .stdin(pidfd_async::Stdio::from(r))
        .spawn()
        .unwrap();
    let watch = child.pidfd().try_clone().unwrap();
    (child, watch, w)
}

#[test]
fn a_child_dropped_before_its_runtime_shuts_down_is_reaped_after() {
    let runtime = rt();
    let (watch, release) = runtime.block_on(async {
        let (child, watch, release) = spawn_held(4);
        // Still running: its background task waits on this runtime...
        drop(child);
        tokio::task::yield_now().await;
        (watch, release)
    });
    // ...which shuts down first. The task is dropped unfinished; the child goes to the reaper.
    drop(runtime);
    assert!(!reaped(&watch));
    drop(release);
    assert!(until_reaped(&watch, Duration::from_secs(10)), "the child was left a zombie");
    assert_exit_code(&watch, 4);
}

#[test]
fn a_child_dropped_after_its_runtime_is_gone_is_reaped() {
    let runtime = rt();
    let (child, watch, release) = runtime.block_on(async { spawn_held(5) });
    drop(runtime);
    // Still running, and no runtime to run a task on.
    drop(child);
    assert!(!reaped(&watch));
    drop(release);
    assert!(until_reaped(&watch, Duration::from_secs(10)), "the child was left a zombie");
    assert_exit_code(&watch, 5);

    // Already exited when dropped: reaped right in `Drop`.
    let runtime = rt();
    let (child, watch, release) = runtime.block_on(async { spawn_held(6) });
    drop(runtime);
    drop(release);
    assert!(sys::poll_readable(watch.as_fd(), 10_000), "the child did not exit");
    drop(child);
    assert!(reaped(&watch), "an exited child was not reaped in Drop");
    assert_exit_code(&watch, 6);

    // Kill-on-drop, after the runtime is gone: killed, then reaped.
    if !require(Feature::PidfdSendSignal) {
        return;
    }
    let runtime = rt();
    let (child, watch) = runtime.block_on(async {
        let child = Command::new("sleep").arg("30").kill_on_drop(true).spawn().unwrap();
        let watch = child.pidfd().try_clone().unwrap();
        (child, watch)
    });
    drop(runtime);
    drop(child);
    assert!(until_reaped(&watch, Duration::from_secs(10)), "the killed child was left a zombie");
    if Feature::InfoExit.is_supported() {
        assert_eq!(std::os::unix::process::ExitStatusExt::signal(&watch.exit_status().unwrap().unwrap()), Some(9));
    }
}

/// An `ExitSet` polled after its runtime is gone: its reactor fails, and every entry is reported
/// at once, the exited ones with their status, the running ones with the error, after which
/// they are reaped in the background when they exit (no zombie).
#[test]
fn an_exit_set_whose_reactor_failed_reports_everything_and_leaves_no_zombie() {
    let first = rt();
    let (mut set, watch_running, release) = first.block_on(async {
        let mut set = ExitSet::new().unwrap();
        let (done, release_done) = held(7);
        let watch_done = done.try_clone().unwrap();
        set.insert("done", done).unwrap();
        drop(release_done);
        assert!(sys::poll_readable(watch_done.as_fd(), 10_000), "the child did not exit");
        let (running, release) = held(8);
        let watch_running = running.try_clone().unwrap();
        set.insert("running", running).unwrap();
        (set, watch_running, release)
    });
    drop(first);
    let second = rt();
    let mut got = second.block_on(async {
        let mut got = Vec::new();
        while let Some((key, status)) = tokio::time::timeout(Duration::from_secs(10), set.next()).await.unwrap() {
            got.push((key, status));
        }
        got
    });
    got.sort_by_key(|(k, _)| *k);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].0, "done");
    assert_eq!(got[0].1.as_ref().unwrap().code(), Some(7), "{:?}", got[0].1);
    assert_eq!(got[1].0, "running");
    assert!(matches!(got[1].1, Err(Error::Io { .. })), "{:?}", got[1].1);
    assert!(set.is_empty());
    assert!(!reaped(&watch_running));
    drop(release);
    assert!(until_reaped(&watch_running, Duration::from_secs(10)), "the running child was left a zombie");
    assert_exit_code(&watch_running, 8);
}
