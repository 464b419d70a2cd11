//! Processes that are not our children: a grandchild, whose pidfd its parent (our child)
//! sends us over a socket (`SCM_RIGHTS`), so no `pidfd_open` is needed and these run under the
//! container-eperm row too (where `PIDFD_INFO_EXIT` is refused: `wait` gives `Unsupported`).

use std::future::Future;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use pidfd::{Feature, PidFd};
use pidfd_async::{AsyncPidFd, Error, ExitSet};

use crate::support::{require, rt};

const PARENT: &str = "PIDFD_ASYNC_TEST_PARENT";

/// Not a test of its own: the middle process of [`grandchild`]. Spawns
/// `sh -c 'sleep A; exit 5'`, sends its pidfd over the socket on stdin, sleeps until B, then
/// reaps it.
#[test]
fn parent_helper() {
    let Ok(times) = std::env::var(PARENT) else { return };
    let (a, b) = times.split_once(',').unwrap();
    let b: f64 = b.parse().unwrap();
    let start = Instant::now();
    let sock = UnixStream::from(std::io::stdin().as_fd().try_clone_to_owned().unwrap());
    let mut child = pidfd::Command::new("sh").args(["-c", &format!("sleep {a}; exit 5")]).spawn().unwrap();
    pidfd::send_pidfd(&sock, child.pidfd(), b"g").unwrap();
    std::thread::sleep(Duration::from_secs_f64(b).saturating_sub(start.elapsed()));
    // Reap only once the test says so (a byte), or at EOF.
    let _ = (&sock).read(&mut [0u8; 1]);
    let status = child.wait().unwrap();
    std::process::exit(if status.code() == Some(5) { 0 } else { 1 });
}

/// A grandchild: our child (this test binary again, [`parent_helper`]) starts
/// `sh -c 'sleep A; exit 5'` and reaps it only at time B, so the grandchild is a zombie from A
/// to B (a shell would reap it at once). Returns our child's pidfd and the grandchild's.
fn grandchild(exit_after: f64, reaped_after: f64) -> (PidFd, PidFd, UnixStream) {
    let (ours, theirs) = UnixStream::pair().unwrap();
    let child = pidfd::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "nonchild::parent_helper", "--nocapture", "--test-threads=1"])
        .env(PARENT, format!("{exit_after},{reaped_after}"))
        .stdin(pidfd::Stdio::Fd(OwnedFd::from(theirs)))
        .spawn()
        .unwrap();
    let mut buf = [0u8; 1];
    let (n, fd) = pidfd::recv_pidfd(&ours, &mut buf).unwrap();
    assert_eq!(n, 1, "the parent helper ended without sending the grandchild's pidfd");
    (child.into_pidfd(), fd.expect("a pidfd with the message"), ours)
}

#[test]
fn a_grandchild_is_waited_for() {
    rt().block_on(async {
        // The parent reaps the grandchild only when told (after 0.1 s at the earliest): every
        // "before the reap" below holds by construction, not by timing.
        let (sh_fd, fd, mut reap_now) = grandchild(0.05, 0.1);
        let fd = AsyncPidFd::new(fd).unwrap();
        assert!(matches!(fd.pidfd().try_wait(), Err(pidfd::Error::NotChild)));

        // `exited` resolves at the exit, while the grandchild is still a zombie.
        fd.exited().await.unwrap();
        assert!(fd.pidfd().pid().is_ok(), "exited() waited for the reap");

        if require(Feature::InfoExit) {
            // Still a zombie: not yet, and a wait stays pending.
            assert_eq!(fd.try_wait().unwrap(), None);
            let mut wait = std::pin::pin!(fd.wait());
            let early = std::future::poll_fn(|cx| std::task::Poll::Ready(wait.as_mut().poll(cx))).await;
            assert!(early.is_pending(), "resolved before the reap: {early:?}");
            // `wait` resolves once `sh` has reaped it, with the status the kernel kept.
            reap_now.write_all(b"r").unwrap();
            let status = wait.await.unwrap();
            assert_eq!(status.code(), Some(5));
            assert!(matches!(fd.pidfd().pid(), Err(pidfd::Error::Exited)));
            assert_eq!(fd.wait().await.unwrap(), status);
        } else {
            reap_now.write_all(b"r").unwrap();
            let err = fd.wait().await.unwrap_err();
            assert!(matches!(err, Error::Pidfd(pidfd::Error::Unsupported { feature: Feature::InfoExit })), "{err}");
        }
        assert!(AsyncPidFd::new(sh_fd).unwrap().wait().await.unwrap().success());
    });
}

#[test]
fn waiting_first_on_a_grandchild_resolves_at_its_exit_not_before() {
    rt().block_on(async {
        // The grandchild sleeps for a minute unless killed: it runs while we wait, by
        // construction; its parent reaps it only when told.
        let (sh_fd, fd, mut reap_now) = grandchild(60.0, 0.0);
        let pid = fd.pid().unwrap();
        let fd = AsyncPidFd::new(fd).unwrap();
        // The wait starts while the process runs: pending, on every kernel.
        let mut wait = std::pin::pin!(fd.wait());
        let early = std::future::poll_fn(|cx| std::task::Poll::Ready(wait.as_mut().poll(cx))).await;
        assert!(early.is_pending(), "resolved while the process runs: {early:?}");
        assert_eq!(fd.try_wait().unwrap(), None, "try_wait while the process runs");
        // Still our test's grandchild, unreaped (its parent waits for our byte): the pid is its.
        // SAFETY: a plain kill of a pid that cannot have been recycled.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
        if require(Feature::InfoExit) {
            // Resolves once its parent has reaped it, with the status the kernel kept.
            reap_now.write_all(b"r").unwrap();
            assert_eq!(wait.await.unwrap().signal(), Some(libc::SIGKILL));
        } else {
            // No status to be had: `Unsupported`, at the exit (the zombie is not reaped yet).
            let err = wait.await.unwrap_err();
            assert!(matches!(err, Error::Pidfd(pidfd::Error::Unsupported { feature: Feature::InfoExit })), "{err}");
            assert!(fd.pidfd().pid().is_ok(), "resolved at the exit, before the reap");
            reap_now.write_all(b"r").unwrap();
        }
        // The parent helper reaped it and saw a kill, not its `exit 5`: it exits 1.
        assert_eq!(AsyncPidFd::new(sh_fd).unwrap().wait().await.unwrap().code(), Some(1));
    });
}

#[test]
fn a_grandchild_in_an_exit_set() {
    rt().block_on(async {
        let (sh_fd, fd, _) = grandchild(0.1, 0.3);
        let mut set = ExitSet::new().unwrap();
        set.insert("grandchild", fd).unwrap();
        set.insert("sh", sh_fd).unwrap();
        let mut seen = Vec::new();
        while let Some((key, status)) = set.next().await {
            match key {
                "sh" => assert!(status.unwrap().success()),
                _ if Feature::InfoExit.is_supported() => assert_eq!(status.unwrap().code(), Some(5)),
                _ => assert!(matches!(status, Err(Error::Pidfd(pidfd::Error::Unsupported { .. })))),
            }
            seen.push(key);
        }
        seen.sort();
        assert_eq!(seen, ["grandchild", "sh"]);
    });
}

#[test]
fn exited_works_for_any_process() {
    rt().block_on(async {
        // A process that is neither our child nor ever reaped while we look: `exited` only.
        let (sh_fd, fd, _) = grandchild(0.05, 0.2);
        let fd = AsyncPidFd::new(fd).unwrap();
        tokio::time::timeout(Duration::from_secs(5), fd.exited()).await.unwrap().unwrap();
        assert!(AsyncPidFd::new(sh_fd).unwrap().wait().await.unwrap().success());
    });
}
