use std::future::Future;
use std::os::unix::process::ExitStatusExt;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use pidfd::PidFd;
use pidfd_async::{AsyncPidFd, Error};

use crate::support::{Flag, held, poll_with, reaped, require, rt, rt_mt, sh};

#[test]
fn exit_codes_come_back() {
    rt().block_on(async {
        for code in [0, 1, 42, 127, 255] {
            let fd = sh(&format!("exit {code}"));
            let fd = AsyncPidFd::new(fd).unwrap();
            let status = fd.wait().await.unwrap();
            assert_eq!(status.code(), Some(code), "{status:?}");
            assert!(reaped(fd.pidfd()));
        }
    });
}

#[test]
fn signals_come_back() {
    if !require(pidfd::Feature::PidfdSendSignal) {
        return;
    }
    rt().block_on(async {
        for sig in [libc::SIGKILL, libc::SIGTERM, libc::SIGUSR1, libc::SIGHUP] {
            let fd = sh("exec sleep 30");
            let fd = AsyncPidFd::new(fd).unwrap();
            fd.send_signal(sig).unwrap();
            let status = fd.wait().await.unwrap();
            assert_eq!(status.signal(), Some(sig), "{status:?}");
            assert_eq!(status.code(), None);
        }
        let fd = sh("exec sleep 30");
        let fd = AsyncPidFd::new(fd).unwrap();
        fd.kill().unwrap();
        assert_eq!(fd.wait().await.unwrap().signal(), Some(libc::SIGKILL));
        // Signalling a reaped process is an error naming that, not a signal to a recycled pid.
        assert!(matches!(fd.kill(), Err(Error::Pidfd(pidfd::Error::Exited))));
    });
}

#[test]
fn wait_twice_and_try_wait_agree() {
    rt().block_on(async {
        let fd = sh("sleep 0.1; exit 9");
        let fd = AsyncPidFd::new(fd).unwrap();
        assert_eq!(fd.try_wait().unwrap(), None);
        let first = fd.wait().await.unwrap();
        let second = fd.wait().await.unwrap();
        assert_eq!(first, second);
        assert_eq!(first.code(), Some(9));
        assert_eq!(fd.try_wait().unwrap(), Some(first));
        // The status survives the way back to a plain PidFd, too.
        let plain = fd.into_inner();
        assert_eq!(plain.wait().unwrap(), first);
    });
}

#[test]
fn new_makes_the_fd_nonblocking_where_supported() {
    rt().block_on(async {
        let fd = sh("exit 0");
        let fd = AsyncPidFd::new(fd).unwrap();
        assert_eq!(fd.pidfd().is_nonblocking().unwrap(), pidfd::Feature::PidfdNonblock.is_supported());
        assert!(fd.wait().await.unwrap().success());
    });
}

#[test]
fn a_dropped_wait_loses_nothing() {
    rt().block_on(async {
        // Dropped before the exit.
        let fd = sh("sleep 0.3; exit 5");
        let fd = AsyncPidFd::new(fd).unwrap();
        for _ in 0..3 {
            assert!(tokio::time::timeout(Duration::from_millis(30), fd.wait()).await.is_err());
        }
        assert_eq!(fd.wait().await.unwrap().code(), Some(5));

        // Dropped between the readiness and the collection: the wait is pending on the pidfd,
        // the exit wakes it (its waker fires), and it is dropped without running again. The
        // dropped future neither reaped the child nor took the readiness with it: the next
        // wait collects the status.
        let (fd, release) = held(6);
        let fd = AsyncPidFd::new(fd).unwrap();
        {
            let (woken, waker) = Flag::waker();
            let mut first = pin!(fd.wait());
            assert!(poll_with(first.as_mut(), &waker).is_none(), "resolved before the exit");
            drop(release);
            woken.until_set(Duration::from_secs(10), "the exit did not wake the pending wait").await;
        }
        assert!(!reaped(fd.pidfd()), "the dropped future reaped the child");
        let status = tokio::time::timeout(Duration::from_secs(10), fd.wait()).await.expect("the readiness was lost");
        assert_eq!(status.unwrap().code(), Some(6));

        // Dropped after the collection: a wait polled once after the exit collects (reaps) the
        // status in that poll, and its result is thrown away with the future. Later waits and
        // try_wait return the same status.
        let (fd, release) = held(7);
        let fd = AsyncPidFd::new(fd).unwrap();
        drop(release);
        fd.exited().await.unwrap();
        assert!(!reaped(fd.pidfd()));
        {
            let (_, waker) = Flag::waker();
            let mut first = pin!(fd.wait());
            let got = poll_with(first.as_mut(), &waker).expect("an exited child is collected in one poll");
            assert_eq!(got.unwrap().code(), Some(7));
        }
        assert!(reaped(fd.pidfd()), "the collecting poll reaped the child");
        assert_eq!(fd.wait().await.unwrap().code(), Some(7));
        assert_eq!(fd.try_wait().unwrap().and_then(|s| s.code()), Some(7));

        // Collected by a `try_wait` whose result is dropped: the same.
        let (fd, release) = held(8);
        let fd = AsyncPidFd::new(fd).unwrap();
        drop(release);
        fd.exited().await.unwrap();
        let _ = fd.try_wait().unwrap().expect("exited");
        assert!(reaped(fd.pidfd()));
        assert_eq!(fd.wait().await.unwrap().code(), Some(8));
    });
}

/// A thread waits through the `PidFd` itself (a blocking [`pidfd::PidFd::wait`], or a
/// `try_wait` loop) while `AsyncPidFd::wait` is pending: both get the same status, and the
/// async wait does not hang.
///
/// The race: the exit wakes both; `PidFd` serializes its reaps with a lock, so the async side's
/// `try_wait` can find the lock taken and answer "not yet" while the thread reaps. Before 6.9
/// the reap wakes nobody, so an async wait that then cleared its readiness waited forever. From
/// 6.9 on the hang-up at the reap wakes the pidfd again, so on those kernels this test passes
/// either way; the kernel matrix runs it on 5.10 and 6.1, where it fails without the fix.
#[test]
fn waiting_through_the_pidfd_meanwhile_loses_no_wake_up() {
    const ROUNDS: i32 = 40;
    for runtime in [rt(), rt_mt()] {
        runtime.block_on(async {
            for round in 0..ROUNDS {
                let (fd, release) = held(round);
                let fd = Arc::new(AsyncPidFd::new(fd).unwrap());
                let blocking = round % 2 == 0;
                let other = {
                    let fd = Arc::clone(&fd);
                    std::thread::spawn(move || {
                        if blocking {
                            return fd.pidfd().wait().unwrap();
                        }
                        loop {
                            if let Some(status) = fd.pidfd().try_wait().unwrap() {
                                return status;
                            }
                            std::thread::yield_now();
                        }
                    })
                };
                let mut wait = pin!(fd.wait());
                assert!(poll_once(wait.as_mut()).await.is_none(), "resolved before the exit");
                drop(release);
                let status = tokio::time::timeout(Duration::from_secs(10), wait)
                    .await
                    .unwrap_or_else(|_| panic!("round {round}: the async wait hung after a concurrent reap"))
                    .unwrap();
                let theirs = other.join().unwrap();
                assert_eq!(status.code(), Some(round), "round {round}");
                assert_eq!(theirs, status, "round {round}");
                assert!(reaped(fd.pidfd()));
            }
        });
    }
}

/// Polls `f` once; `Some` if it completed.
async fn poll_once<F: Future>(mut f: Pin<&mut F>) -> Option<F::Output> {
    std::future::poll_fn(|cx| {
        Poll::Ready(match f.as_mut().poll(cx) {
            Poll::Ready(v) => Some(v),
            Poll::Pending => None,
        })
    })
    .await
}

#[test]
fn exited_resolves_before_the_reap() {
    rt().block_on(async {
        let fd = sh("sleep 0.05; exit 4");
        let fd = AsyncPidFd::new(fd).unwrap();
        fd.exited().await.unwrap();
        assert!(!reaped(fd.pidfd()), "exited() must not reap");
        fd.exited().await.unwrap();
        assert_eq!(fd.wait().await.unwrap().code(), Some(4));
        fd.exited().await.unwrap();
    });
}

#[test]
fn many_tasks_wait_on_one_pidfd_from_a_multi_thread_runtime() {
    rt_mt().block_on(async {
        let fd = sh("sleep 0.1; exit 11");
        let fd = Arc::new(AsyncPidFd::new(fd).unwrap());
        let mut tasks = Vec::new();
        for i in 0..8 {
            let fd = Arc::clone(&fd);
            // `tokio::spawn` needs the futures to be `Send`.
            tasks.push(tokio::spawn(async move {
                if i % 2 == 0 { fd.wait().await.map(|s| s.code()) } else { fd.exited().await.map(|()| Some(11)) }
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap(), Some(11));
        }
    });
}

#[test]
fn the_futures_are_send() {
    fn send<T: Send>(_: &T) {}
    rt().block_on(async {
        let fd = sh("exit 0");
        let fd = AsyncPidFd::new(fd).unwrap();
        send(&fd.wait());
        send(&fd.exited());
        let mut set = pidfd_async::ExitSet::<u8>::new().unwrap();
        send(&set.next());
        let mut cmd = pidfd_async::Command::new("true");
        send(&cmd.status());
        send(&cmd.output());
        let mut child = cmd.spawn().unwrap();
        send(&child.wait());
        send(&child);
        fd.wait().await.unwrap();
    });
}

#[test]
fn wait_does_not_block_the_runtime_thread() {
    rt().block_on(async {
        let fd = sh("sleep 0.5");
        let fd = AsyncPidFd::new(fd).unwrap();
        let start = Instant::now();
        let ticker = async {
            let mut ticks = 0;
            while start.elapsed() < Duration::from_millis(300) {
                tokio::time::sleep(Duration::from_millis(10)).await;
                ticks += 1;
            }
            ticks
        };
        tokio::select! {
            ticks = ticker => assert!(ticks >= 10, "the timer ran only {ticks} times"),
            _ = fd.wait() => panic!("sleep 0.5 exited early"),
        }
        assert!(fd.wait().await.unwrap().success());
    });
}

#[test]
fn outside_a_runtime_is_an_error_not_a_panic() {
    let fd = sh("exit 0");
    let err = AsyncPidFd::new(fd).unwrap_err();
    assert!(matches!(err, Error::NoRuntime), "{err}");
    assert!(matches!(pidfd_async::ExitSet::<()>::new(), Err(Error::NoRuntime)));
    let spawn = pidfd_async::Command::new("true").spawn().unwrap_err();
    assert!(matches!(crate::command::inner(&spawn), Some(Error::NoRuntime)), "{spawn}");
    let io: std::io::Error = err.into();
    assert_eq!(io.kind(), std::io::ErrorKind::Other);
}

#[test]
fn errors_convert_to_io_errors_with_the_errno() {
    let e = Error::from(pidfd::Error::NotChild);
    assert_eq!(e.raw_os_error(), Some(libc::ECHILD));
    assert_eq!(std::io::Error::from(e).raw_os_error(), Some(libc::ECHILD));
    let e = Error::from(pidfd::Error::Unsupported { feature: pidfd::Feature::InfoExit });
    let io = std::io::Error::from(e);
    assert_eq!(io.kind(), std::io::ErrorKind::Unsupported);
    // The feature stays reachable inside, and `?` brings the typed error back whole.
    let inner = io.get_ref().and_then(|e| e.downcast_ref::<pidfd::Error>());
    assert!(matches!(inner, Some(pidfd::Error::Unsupported { feature: pidfd::Feature::InfoExit })), "{inner:?}");
    fn typed(io: std::io::Error) -> pidfd_async::Result<()> {
        Err(io)?
    }
    let back = typed(io).unwrap_err();
    assert!(matches!(back, Error::Pidfd(pidfd::Error::Unsupported { feature: pidfd::Feature::InfoExit })), "{back:?}");
}

/// The first `AsyncPidFd` of a runtime sets up the runtime's hub from inside a task whose
/// cooperative budget is spent (where tokio answers a readiness poll with "pending"): the hub
/// arms all the same, and the wait completes.
#[test]
fn the_first_registration_from_a_task_out_of_budget() {
    rt().block_on(async {
        let fd = sh("sleep 0.1; exit 4");
        let fd = std::future::poll_fn(|cx| {
            // Spend the task's budget within this one poll.
            while pin!(tokio::task::consume_budget()).poll(cx).is_ready() {}
            Poll::Ready(AsyncPidFd::new(fd.try_clone().unwrap()))
        })
        .await
        .unwrap();
        let status = tokio::time::timeout(Duration::from_secs(20), fd.wait()).await.expect("the wait ended");
        assert_eq!(status.unwrap().code(), Some(4));
    });
}

/// Runtimes one after another, each with waits in flight: each gets a working hub, and the
/// pidfds of one runtime never wake the tasks of another.
#[test]
fn runtimes_in_succession_each_wait() {
    for round in 0..3 {
        let rt = if round % 2 == 0 { rt() } else { rt_mt() };
        rt.block_on(async {
            let fds: Vec<AsyncPidFd> =
                (0..5).map(|i| AsyncPidFd::new(sh(&format!("sleep 0.0{i}; exit {i}"))).unwrap()).collect();
            for (i, fd) in fds.iter().enumerate() {
                let status = tokio::time::timeout(Duration::from_secs(20), fd.wait()).await.expect("ended");
                assert_eq!(status.unwrap().code(), Some(i as i32), "round {round}");
            }
        });
    }
}

/// A wait polled after its runtime is gone ends with an error instead of hanging, and the
/// status is still there to collect through the pidfd.
#[test]
fn a_wait_after_its_runtime_is_gone_is_an_error() {
    let rt = rt();
    let (fd, release) = rt.block_on(async {
        let (fd, release) = held(6);
        (AsyncPidFd::new(fd).unwrap(), release)
    });
    drop(rt);
    drop(release);
    let other = rt_mt();
    let err = other.block_on(async {
        tokio::time::timeout(Duration::from_secs(20), fd.wait()).await.expect("an answer, not a hang")
    });
    assert!(matches!(err, Err(Error::Io { .. })), "{err:?}");
    assert_eq!(fd.into_inner().wait().unwrap().code(), Some(6));
}

/// Duplicates of one pidfd, each dropped while another lives on, come back under the same fd
/// number: the kernel still holds the first one's epoll entry (closing removes it only with
/// the file's last fd), and each new `AsyncPidFd` takes it over instead of failing with
/// `EEXIST`; the last one gets the exit.
#[test]
fn a_new_duplicate_under_a_number_just_closed_is_accepted() {
    use std::os::fd::AsFd;
    rt().block_on(async {
        let (orig, release) = held(9);
        for round in 0..3 {
            let dup = PidFd::try_from(crate::sys::dup_at(orig.as_fd(), 731)).unwrap();
            assert_eq!(std::os::fd::AsRawFd::as_raw_fd(&dup), 731);
            let fd = AsyncPidFd::new(dup).unwrap_or_else(|e| panic!("round {round}: {e}"));
            if round < 2 {
                // Still running: not ready, and the entry is left behind by the drop.
                assert!(tokio::time::timeout(Duration::from_millis(20), fd.exited()).await.is_err());
                continue;
            }
            drop(release);
            let status = tokio::time::timeout(Duration::from_secs(20), fd.wait()).await.expect("the wait ended");
            assert_eq!(status.unwrap().code(), Some(9));
            return;
        }
    });
}

/// Waits cancelled while pending leave nothing behind: each wait registered its own waker with
/// the hub, and once dropped the hub holds none of them (one stays only while its wait lives).
#[test]
fn cancelled_waits_leave_no_waker_behind() {
    rt().block_on(async {
        let (fd, release) = held(3);
        let fd = AsyncPidFd::new(fd).unwrap();
        let flags: Vec<Arc<Flag>> = (0..100).map(|_| Arc::new(Flag::default())).collect();
        for flag in &flags {
            let waker = std::task::Waker::from(Arc::clone(flag));
            let mut wait = pin!(fd.wait());
            assert!(poll_with(wait.as_mut(), &waker).is_none());
            let mut exited = pin!(fd.exited());
            assert!(poll_with(exited.as_mut(), &waker).is_none());
            drop(waker);
            // Registered while pending: the hub holds a clone.
            assert!(Arc::strong_count(flag) > 1);
        }
        for (i, flag) in flags.iter().enumerate() {
            assert_eq!(Arc::strong_count(flag), 1, "wait {i}: its waker is still held after the wait was dropped");
        }
        drop(release);
        assert_eq!(fd.wait().await.unwrap().code(), Some(3));
    });
}
