//! Processes that are not our children: a grandchild, whose pidfd its parent (our child)
//! sends us over a socket (`SCM_RIGHTS`), so no `pidfd_open` is needed and these run under the
//! container-eperm row too (where `PIDFD_INFO_EXIT` is refused: `wait` gives `Unsupported`).

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
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
    let status = child.wait().unwrap();
    std::process::exit(if status.code() == Some(5) { 0 } else { 1 });
}

/// A grandchild: our child (this test binary again, [`parent_helper`]) starts
/// `sh -c 'sleep A; exit 5'` and reaps it only at time B, so the grandchild is a zombie from A
/// to B (a shell would reap it at once). Returns our child's pidfd and the grandchild's.
fn grandchild(exit_after: f64, reaped_after: f64) -> (PidFd, PidFd) {
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
    (child.into_pidfd(), fd.expect("a pidfd with the message"))
}

#[test]
fn a_grandchild_is_waited_for() {
    rt().block_on(async {
        let start = Instant::now();
        let (sh_fd, fd) = grandchild(0.2, 0.6);
        let fd = AsyncPidFd::new(fd).unwrap();
        assert!(matches!(fd.pidfd().try_wait(), Err(pidfd::Error::NotChild)));

        // `exited` resolves at the exit, while the grandchild is still a zombie.
        fd.exited().await.unwrap();
        let exited_at = start.elapsed();
        assert!(exited_at >= Duration::from_millis(190), "{exited_at:?}");
        assert!(exited_at < Duration::from_millis(550), "{exited_at:?}: should not wait for the reap");

        if require(Feature::InfoExit) {
            // Still a zombie: not yet.
            assert_eq!(fd.try_wait().unwrap(), None);
            // `wait` resolves once `sh` has reaped it, with the status the kernel kept.
            let status = fd.wait().await.unwrap();
            let reaped_at = start.elapsed();
            assert_eq!(status.code(), Some(5));
            assert!(reaped_at >= Duration::from_millis(590), "{reaped_at:?}: resolved before the reap");
            assert_eq!(fd.wait().await.unwrap(), status);
        } else {
            let err = fd.wait().await.unwrap_err();
            assert!(matches!(err, Error::Pidfd(pidfd::Error::Unsupported { feature: Feature::InfoExit })), "{err}");
        }
        assert!(AsyncPidFd::new(sh_fd).unwrap().wait().await.unwrap().success());
    });
}

#[test]
fn a_grandchild_in_an_exit_set() {
    rt().block_on(async {
        let (sh_fd, fd) = grandchild(0.1, 0.3);
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
        let (sh_fd, fd) = grandchild(0.05, 0.2);
        let fd = AsyncPidFd::new(fd).unwrap();
        tokio::time::timeout(Duration::from_secs(5), fd.exited()).await.unwrap().unwrap();
        assert!(AsyncPidFd::new(sh_fd).unwrap().wait().await.unwrap().success());
    });
}
