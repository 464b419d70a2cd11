use std::future::Future;
use std::os::fd::OwnedFd;
use std::pin::pin;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use pidfd_async::{AsyncPidFd, ExitSet};

use crate::support::{reaped, rt};
use crate::sys;

/// `n` children blocked reading one shared pipe; child `i` exits with `i % 256` once the
/// write end closes. Returns the write end and the pidfds.
fn blocked_children(n: usize) -> (OwnedFd, Vec<pidfd::PidFd>) {
    let (read, write) = std::io::pipe().unwrap();
    let read = OwnedFd::from(read);
    let mut fds = Vec::with_capacity(n);
    for i in 0..n {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "read x; exit $1", "sh", &(i % 256).to_string()])
            .stdin(Stdio::from(read.try_clone().unwrap()))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let (_child, fd) = pidfd::spawn(&mut cmd).unwrap();
        fds.push(fd);
    }
    (OwnedFd::from(write), fds)
}

/// 10,000 on a normal machine; 300 in the kernel matrix's small VMs (512 MiB, maybe emulated),
/// where 10,000 shells do not fit; `PIDFD_ASYNC_TEST_MANY` overrides.
fn how_many() -> usize {
    if let Some(n) = std::env::var("PIDFD_ASYNC_TEST_MANY").ok().and_then(|v| v.parse().ok()) {
        return n;
    }
    if std::env::var_os("PIDFD_TEST_EXPECT").is_some() || std::env::var_os("PIDFD_TEST_KERNEL").is_some() {
        300
    } else {
        10_000
    }
}

#[test]
fn ten_thousand_concurrent_waits_on_a_current_thread_runtime() {
    let n = how_many();
    let limit = sys::raise_nofile();
    assert!(limit >= n as u64 + 200, "RLIMIT_NOFILE hard limit {limit} is too low for {n} pidfds");
    let start = Instant::now();
    rt().block_on(async {
        let (release, fds) = blocked_children(n);
        let spawned = start.elapsed();
        let mut tasks = Vec::with_capacity(n);
        // The first poll of each wait: [pending, resolved].
        let first_polls = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
        for (i, fd) in fds.into_iter().enumerate() {
            let fd = AsyncPidFd::new(fd).unwrap();
            let first_polls = Arc::clone(&first_polls);
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
        assert_eq!(first_polls[0].load(Ordering::SeqCst), n);
        drop(release);
        for t in tasks {
            let (i, status, fd) = t.await.unwrap();
            let status = status.unwrap();
            assert_eq!(status.code(), Some((i % 256) as i32), "child {i}: {status:?}");
            assert!(reaped(fd.pidfd()), "child {i} is not reaped");
        }
        eprintln!("{n} children: spawned in {spawned:?}, all reaped after {:?}", start.elapsed());
    });
}

#[test]
fn two_thousand_in_one_exit_set() {
    let n = how_many().min(2_000);
    sys::raise_nofile();
    rt().block_on(async {
        let (release, fds) = blocked_children(n);
        let mut set = ExitSet::new().unwrap();
        let mut checks = Vec::with_capacity(n);
        for (i, fd) in fds.into_iter().enumerate() {
            checks.push(fd.try_clone().unwrap());
            set.insert(i, fd).unwrap();
        }
        drop(release);
        let mut seen = vec![false; n];
        while let Some((i, status)) = set.next().await {
            assert_eq!(status.unwrap().code(), Some((i % 256) as i32), "child {i}");
            assert!(!std::mem::replace(&mut seen[i], true), "child {i} reported twice");
        }
        assert!(seen.iter().all(|&s| s));
        assert!(checks.iter().all(reaped), "a child is left unreaped");
    });
}
