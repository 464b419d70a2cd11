use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use pidfd_async::ExitSet;

use crate::support::{reaped, rt, sh};

#[test]
fn reports_in_exit_order_with_keys() {
    rt().block_on(async {
        let mut set = ExitSet::new().unwrap();
        for (key, delay) in [("c", 0.3), ("a", 0.1), ("b", 0.2)] {
            set.insert(key, sh(&format!("sleep {delay}; exit {}", delay * 10.0)).1).unwrap();
        }
        assert_eq!(set.len(), 3);
        let mut got = Vec::new();
        while let Some((key, status)) = set.next().await {
            got.push((key, status.unwrap().code().unwrap()));
        }
        assert_eq!(got, [("a", 1), ("b", 2), ("c", 3)]);
        assert!(set.is_empty());
        assert!(set.next().await.is_none());
    });
}

#[test]
fn next_is_cancellation_safe() {
    rt().block_on(async {
        let mut set = ExitSet::new().unwrap();
        set.insert(1, sh("sleep 0.2; exit 1").1).unwrap();
        set.insert(2, sh("exec sleep 30").1).unwrap();
        for _ in 0..4 {
            assert!(tokio::time::timeout(Duration::from_millis(20), set.next()).await.is_err());
        }
        let (key, status) = set.next().await.unwrap();
        assert_eq!((key, status.unwrap().code()), (1, Some(1)));
        let ids: Vec<_> = set.iter().map(|(id, k, fd)| (id, *k, fd.kill())).collect();
        assert_eq!(ids.len(), 1);
        assert!(ids[0].2.is_ok());
        let (key, status) = set.next().await.unwrap();
        assert_eq!((key, status.unwrap().signal()), (2, Some(libc::SIGKILL)));
        assert!(set.next().await.is_none());
    });
}

#[test]
fn remove_and_get() {
    rt().block_on(async {
        let mut set = ExitSet::new().unwrap();
        let keep = set.insert("keep", sh("sleep 0.1; exit 3").1).unwrap();
        let gone = set.insert("gone", sh("exit 4").1).unwrap();
        assert_eq!(set.get(keep).map(|(k, _)| *k), Some("keep"));
        let (key, fd) = set.remove(gone).unwrap();
        assert_eq!(key, "gone");
        assert!(set.remove(gone).is_none());
        assert!(set.get(gone).is_none());
        // The slot is reused; the old id does not reach the new entry.
        let new = set.insert("new", sh("exit 5").1).unwrap();
        assert_ne!(new, gone);
        assert!(set.get(gone).is_none());
        // The removed pidfd is the caller's again, with its process intact.
        assert_eq!(fd.wait().unwrap().code(), Some(4));
        let mut got = Vec::new();
        while let Some((key, status)) = set.next().await {
            got.push((key, status.unwrap().code().unwrap()));
        }
        got.sort();
        assert_eq!(got, [("keep", 3), ("new", 5)]);
    });
}

#[test]
fn already_reaped_and_duplicated_pidfds() {
    rt().block_on(async {
        let mut set = ExitSet::new().unwrap();
        // Waited for before it went in: reported with the remembered status.
        let (_c, done) = sh("exit 12");
        assert_eq!(done.wait().unwrap().code(), Some(12));
        set.insert("done", done).unwrap();
        // We keep a dup: closing the set's copy does not drop its epoll item, so later events of
        // that pidfd must not reach whichever entry reuses the slot.
        let (_c, dup_src) = sh("exit 13");
        let dup = dup_src.try_clone().unwrap();
        set.insert("dup", dup_src).unwrap();
        let mut got = Vec::new();
        while let Some((key, status)) = set.next().await {
            got.push((key, status.unwrap().code().unwrap()));
            if key == "dup" {
                set.insert("late", sh("sleep 0.1; exit 14").1).unwrap();
            }
        }
        got.sort();
        assert_eq!(got, [("done", 12), ("dup", 13), ("late", 14)]);
        assert!(reaped(&dup));
    });
}

#[test]
fn asyncpidfd_and_child_go_into_a_set() {
    rt().block_on(async {
        let mut set = ExitSet::new().unwrap();
        let afd = pidfd_async::AsyncPidFd::new(sh("exit 21").1).unwrap();
        set.insert(1, afd).unwrap();
        let child = pidfd_async::Command::new("sh").args(["-c", "exit 22"]).spawn().unwrap();
        set.insert(2, child.into_async_pidfd()).unwrap();
        let mut got = Vec::new();
        while let Some((key, status)) = set.next().await {
            got.push((key, status.unwrap().code().unwrap()));
        }
        got.sort();
        assert_eq!(got, [(1, 21), (2, 22)]);
    });
}
