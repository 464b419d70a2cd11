//! File descriptors: thousands of async operations on their success, cancellation and failure
//! paths (spawning with pipes, waiting, cancelled waits, `ExitSet` insert/remove/next, children
//! dropped before and after their runtime, a failed reactor, `NoRuntime`, `NoIoDriver`, spawn
//! errors) leave the fd table exactly as it was (the same numbers, naming the same files); and
//! every fd the crate creates (pidfds made non-blocking, stdio pipes, the `ExitSet`'s epoll
//! instance, the orphan reaper's) is close-on-exec: a plain `std::process::Command` child,
//! spawned while all of them are alive, holds nothing a child spawned before them did not.
//!
//! A binary of its own, and one test at a time (`SERIAL`): counting `/proc/self/fd` beside other
//! tests would race. Iterations: on the host as below; under the kernel matrix
//! (`PIDFD_TEST_EXPECT` set, QEMU TCG) a hundredth, at least 3. Spawning needs no `pidfd_open`
//! (`pidfd::Command`): this runs under the container-eperm row too, minus the kill-on-drop and
//! `From<std::process::Command>` steps where their features are refused.

use std::collections::BTreeMap;
use std::time::Duration;

use pidfd::Feature;
use pidfd_async::{AsyncPidFd, Command, Error, ExitSet, Stdio};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[allow(dead_code)]
#[path = "it/support.rs"]
mod support;

use fd_table::{fd_table, inherited, leaves_no_fd, serial};
use test_support::fd_table;

/// This crate's error inside an `io::Error` of `Command` or `Child`.
fn async_error(e: &std::io::Error) -> Option<&Error> {
    e.get_ref().and_then(|e| e.downcast_ref())
}

#[allow(dead_code)]
#[path = "it/sys.rs"]
mod sys;

/// Whether the process behind `fd` has been reaped (by anyone).
fn reaped(fd: &pidfd::PidFd) -> bool {
    matches!(fd.pid(), Err(pidfd::Error::Exited))
}

/// Waits (driving the runtime) until every process of `watch` is reaped: a dropped child is
/// reaped by a task on its runtime, which runs only while the runtime is driven. The task
/// closes its pidfd in the same poll as the reap.
async fn until_reaped(watch: Vec<pidfd::PidFd>) {
    for _ in 0..10_000 {
        if watch.iter().all(reaped) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("a dropped child was not reaped in the background");
}

/// As [`until_reaped`], blocking, for children handed to the orphan reaper's thread; then a
/// moment for that thread to close its pidfd.
fn until_reaped_blocking(watch: Vec<pidfd::PidFd>) {
    assert!(
        (0..10_000).any(|_| {
            std::thread::sleep(Duration::from_millis(1));
            watch.iter().all(reaped)
        }),
        "an orphaned child was not reaped"
    );
    std::thread::sleep(Duration::from_millis(5));
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// `sh -c 'read x; exit <code>'` through this crate, with its stdin from a pipe: it exits when
/// the returned write end is written to or closed.
fn held(code: i32) -> (pidfd_async::Child, std::fs::File) {
    let (r, w) = test_support::pipe();
    let child = Command::new("sh").args(["-c", &format!("read x; exit {code}")]).stdin(Stdio::from(r)).spawn();
    (child.unwrap(), w)
}

/// Spawning with every kind of stdio, waiting, cancelled waits, dropped children, `ExitSet`,
/// and the error paths.
#[test]
fn async_operations_leave_the_fd_table_as_it_was() {
    let _serial = serial();
    let runtime = rt();
    let without_io = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let signals = Feature::PidfdSendSignal.is_supported();
    let std_spawn = Feature::PidfdOpen.is_supported();
    eprintln!(
        "(tokio's panic message \"IO is disabled\" below is expected: pidfd-async checks a runtime for \
         an I/O driver under catch_unwind, once per runtime)"
    );
    leaves_no_fd("async operations", 300, |i| {
        runtime.block_on(async {
            // Piped stdio both ways, read and written asynchronously.
            let mut child = Command::new("sh")
                .args(["-c", "read line; echo \"$line\"; echo err >&2; exit 3"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            child.stdin.take().unwrap().write_all(b"hi\n").await.unwrap();
            let mut out = String::new();
            child.stdout.take().unwrap().read_to_string(&mut out).await.unwrap();
            assert_eq!(out, "hi\n");
            assert_eq!(child.wait().await.unwrap().code(), Some(3));
            let out = Command::new("sh").args(["-c", "echo out; echo err >&2"]).output().await.unwrap();
            assert_eq!(out.stdout, b"out\n");
            let status = Command::new("true").stdin(Stdio::null()).stdout(Stdio::null()).status().await.unwrap();
            assert!(status.success());
            // One child feeding another.
            let mut first = Command::new("echo").arg("x").stdout(Stdio::piped()).spawn().unwrap();
            let pipe = Stdio::try_from(first.stdout.take().unwrap()).unwrap();
            let out = Command::new("cat").stdin(pipe).output().await.unwrap();
            assert_eq!(out.stdout, b"x\n");
            first.wait().await.unwrap();

            // Spawn failures.
            assert_eq!(Command::new("/nonexistent").spawn().unwrap_err().raw_os_error(), Some(libc::ENOENT));
            assert!(Command::new("true").current_dir("/nonexistent").stdout(Stdio::piped()).spawn().is_err());
            assert!(Command::new("true").arg("a\0b").stdin(Stdio::piped()).spawn().is_err());
            let mut refused = Command::from(std::process::Command::new("true"));
            assert!(refused.setsid(true).spawn().is_err());
            if std_spawn {
                let mut std_cmd = std::process::Command::new("sh");
                std_cmd.args(["-c", "echo std"]).stdout(std::process::Stdio::piped());
                let out = Command::from(std_cmd).spawn().unwrap().wait_with_output().await.unwrap();
                assert_eq!(out.stdout, b"std\n");
                assert!(Command::from(std::process::Command::new("/nonexistent")).spawn().is_err());
            }

            // Cancelled waits, then the status.
            let (mut child, release) = held(4);
            for _ in 0..3 {
                assert!(tokio::time::timeout(Duration::from_millis(1), child.wait()).await.is_err());
            }
            drop(release);
            assert_eq!(child.wait().await.unwrap().code(), Some(4));

            // Dropped children: running (reaped by a task once it exits, at the release), exited,
            // killed.
            let (running, release) = held(5);
            let mut watch = vec![running.pidfd().try_clone().unwrap()];
            drop(running);
            drop(release);
            let exited = Command::new("true").spawn().unwrap();
            exited.async_pidfd().exited().await.unwrap();
            drop(exited);
            if signals {
                // Far longer than any test: only the kill ends it.
                let killed = Command::new("sleep").arg("100000").kill_on_drop(true).spawn().unwrap();
                watch.push(killed.pidfd().try_clone().unwrap());
                drop(killed);
            }
            until_reaped(watch).await;

            // AsyncPidFd on its own, and back.
            let fd = AsyncPidFd::new(pidfd::Command::new("true").spawn().unwrap().into_pidfd()).unwrap();
            assert!(fd.wait().await.unwrap().success());
            drop(fd.into_inner());

            // ExitSet: insert, remove, report; a Child's pidfd in a set.
            let mut set = ExitSet::new().unwrap();
            let gone = set.insert(0, pidfd::Command::new("true").spawn().unwrap().into_pidfd()).unwrap();
            set.insert(1, Command::new("true").spawn().unwrap().into_async_pidfd()).unwrap();
            set.insert(2, pidfd::Command::new("sh").args(["-c", "exit 2"]).spawn().unwrap().into_pidfd()).unwrap();
            let (_, removed) = set.remove(gone).unwrap();
            assert!(removed.wait().unwrap().success());
            // A `next` dropped at its first poll, whatever it found.
            if let Ok(Some((_, status))) = tokio::time::timeout(Duration::ZERO, set.next()).await {
                status.unwrap();
            }
            while let Some((_, status)) = set.next().await {
                status.unwrap();
            }
        });

        // Outside a runtime: NoRuntime, and nothing spawned or leaked.
        let child = pidfd::Command::new("true").spawn().unwrap();
        let dup = child.pidfd().try_clone().unwrap();
        assert!(matches!(AsyncPidFd::new(dup), Err(Error::NoRuntime)));
        assert!(matches!(ExitSet::<u8>::new(), Err(Error::NoRuntime)));
        let err = Command::new("true").stdout(Stdio::piped()).spawn().unwrap_err();
        assert!(matches!(async_error(&err), Some(Error::NoRuntime)), "{err}");
        // A runtime without I/O: NoIoDriver.
        without_io.block_on(async {
            let dup = child.pidfd().try_clone().unwrap();
            assert!(matches!(AsyncPidFd::new(dup), Err(Error::NoIoDriver)));
            assert!(matches!(ExitSet::<u8>::new(), Err(Error::NoIoDriver)));
            let err = Command::new("true").stdin(Stdio::piped()).spawn().unwrap_err();
            assert!(matches!(async_error(&err), Some(Error::NoIoDriver)), "{err}");
        });
        assert!(child.into_pidfd().wait().unwrap().success());

        // Children outliving their runtime (every tenth iteration: a runtime each): dropped
        // after it is gone (to the orphan reaper), and in an ExitSet polled after it is gone
        // (the reactor fails; the running entry goes to the orphan reaper).
        if i % 10 == 0 {
            let short = rt();
            let (child, mut set, release) = short.block_on(async {
                let (r, w) = test_support::pipe();
                let mut set = ExitSet::new().unwrap();
                let c = Command::new("sh").args(["-c", "read x"]).stdin(Stdio::from(r)).spawn().unwrap();
                let mut watch = vec![c.pidfd().try_clone().unwrap()];
                set.insert("set", c.into_async_pidfd()).unwrap();
                let (child, release) = held(6);
                watch.push(child.pidfd().try_clone().unwrap());
                (child, set, (w, release, watch))
            });
            drop(short);
            drop(child);
            let other = rt();
            other.block_on(async {
                let (key, status) = set.next().await.unwrap();
                assert!(key == "set" && status.is_err());
            });
            drop(other);
            let (w, release, watch) = release;
            drop((w, release));
            until_reaped_blocking(watch);
        }
    });
    drop(runtime);
    drop(without_io);
}

/// Every fd the crate creates is close-on-exec: a plain child spawned while they are all alive
/// inherits nothing beyond what a child spawned before them did.
#[test]
fn every_crate_fd_is_close_on_exec() {
    let _serial = serial();
    let baseline = inherited();
    // The orphan reaper's thread and epoll instance: a running child dropped after its runtime
    // is gone. It stays running (and in the reaper's epoll set) until `reaper_release` closes.
    let gone = rt();
    let (orphan, reaper_release) = gone.block_on(async {
        let (r, w) = test_support::pipe();
        (Command::new("sh").args(["-c", "read x"]).stdin(Stdio::from(r)).spawn().unwrap(), w)
    });
    drop(gone);
    let orphan_watch = orphan.pidfd().try_clone().unwrap();
    drop(orphan);

    let runtime = rt();
    let alive = runtime.block_on(async {
        let mut alive: Vec<Box<dyn std::any::Any>> = Vec::new();
        // Children with every kind of stdio, through pidfd::Command and through std.
        let piped = Command::new("sh")
            .args(["-c", "read x"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        alive.push(Box::new(Command::new("true").stdin(Stdio::null()).stdout(Stdio::null()).spawn().unwrap()));
        if Feature::PidfdOpen.is_supported() {
            let mut std_cmd = std::process::Command::new("sh");
            std_cmd.args(["-c", "read x"]).stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped());
            alive.push(Box::new(Command::from(std_cmd).spawn().unwrap()));
        }
        // A registered, non-blocking pidfd, and an ExitSet (its epoll instance) with entries.
        // Two shells reading one pipe: both exit when `w` closes.
        let (r, w) = test_support::pipe();
        let mut reader = pidfd::Command::new("sh");
        reader.args(["-c", "read x"]).stdin(pidfd::Stdio::Fd(r.into()));
        let held = AsyncPidFd::new(reader.spawn().unwrap().into_pidfd()).unwrap();
        let mut set = ExitSet::new().unwrap();
        set.insert(0, reader.spawn().unwrap().into_pidfd()).unwrap();
        drop(reader);
        alive.push(Box::new(w));
        (alive, piped, held, set)
    });
    let after = inherited();
    let leaked: BTreeMap<_, _> = after.iter().filter(|(fd, _)| !baseline.contains_key(fd)).collect();
    assert!(
        leaked.is_empty(),
        "a plain child inherited fds the crate created without close-on-exec: {leaked:?}\n\
         (a child spawned before them held {baseline:?})"
    );
    runtime.block_on(async {
        let (alive, mut piped, held, mut set) = alive;
        drop(alive);
        drop(piped.stdin.take());
        piped.wait().await.unwrap();
        held.wait().await.unwrap();
        set.next().await.unwrap().1.unwrap();
    });
    // The reaper reaps the orphan and closes its pidfd: done before the next test counts fds.
    drop(reaper_release);
    assert!((0..1000).any(|_| {
        std::thread::sleep(Duration::from_millis(10));
        matches!(orphan_watch.pid(), Err(pidfd::Error::Exited))
    }));
    std::thread::sleep(Duration::from_millis(10));
}

/// The table comparison sees a leak at all: a sanity check of the test itself.
#[test]
fn the_fd_table_comparison_sees_a_leak() {
    let _serial = serial();
    let before = fd_table();
    let leak = std::fs::File::open("/dev/null").unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&leak);
    // (`fd_table` itself holds the lowest free number while it reads: `/proc/<pid>/fd`.)
    assert_ne!(before.get(&fd).map(String::as_str), Some("/dev/null"));
    assert_eq!(fd_table().get(&fd).map(String::as_str), Some("/dev/null"));
    assert_ne!(fd_table(), before);
    drop(leak);
    assert_ne!(fd_table().get(&fd).map(String::as_str), Some("/dev/null"));
}
