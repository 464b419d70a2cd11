//! Waiting.

use std::io::Write;
use std::os::fd::AsRawFd;

use super::{held, release, without};
use crate::sys::{Call, fault};
use crate::{Error, Feature, PidFd};

/// Waits until the thread `tid` of this process sleeps (blocked in a system call), so that an
/// event that follows reaches a waiter that is already waiting. No clock involved.
fn until_sleeping(tid: i32) {
    loop {
        let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap();
        let state = stat[stat.rfind(')').unwrap() + 2..].chars().next().unwrap();
        if state == 'S' {
            return;
        }
        std::thread::yield_now();
    }
}

/// A stop and a continue reach a waiter on a non-blocking pidfd that was already waiting (a
/// non-blocking pidfd polls readable only at the exit), with and without the blocking reopen.
#[test]
fn stop_and_continue_on_a_nonblocking_pidfd() {
    if !Feature::PidfdNonblock.is_supported() {
        return;
    }
    for reopen in [true, false] {
        let Some((mut child, fd, pid)) = held("kill -STOP $$; read y; exit 0") else { return };
        let nb = std::sync::Arc::new(PidFd::open_with(pid, crate::OpenFlags::NONBLOCK).unwrap());
        let waiter = |opts: crate::WaitOptions| {
            let nb = nb.clone();
            let (tx, rx) = std::sync::mpsc::channel();
            let t = std::thread::spawn(move || {
                let _g = (!reopen).then(|| without(Feature::FileHandles));
                tx.send(crate::sys::gettid()).unwrap();
                nb.wait_event(opts)
            });
            (t, rx.recv().unwrap())
        };
        let (t, tid) = waiter(crate::WaitOptions::STOPPED);
        until_sleeping(tid);
        child.stdin.as_mut().unwrap().write_all(b"\n").unwrap(); // the child stops itself
        assert_eq!(t.join().unwrap().unwrap(), Some(crate::WaitEvent::Stopped(libc::SIGSTOP)), "reopen {reopen}");
        let (t, tid) = waiter(crate::WaitOptions::CONTINUED);
        until_sleeping(tid);
        fd.send_signal(libc::SIGCONT).unwrap();
        assert_eq!(t.join().unwrap().unwrap(), Some(crate::WaitEvent::Continued), "reopen {reopen}");
        child.stdin.take().unwrap().write_all(b"\n").unwrap();
        assert_eq!(fd.wait().unwrap().code(), Some(0));
    }
}

/// Without `PIDFD_NONBLOCK`, opening non-blocking says so, and `try_wait` on a blocking pidfd
/// (the `WNOHANG` fallback) answers at once.
#[test]
fn without_pidfd_nonblock_try_wait_uses_wnohang() {
    let Some((mut child, fd, pid)) = held("exit 4") else { return };
    {
        let _g = without(Feature::PidfdNonblock);
        let _o = fault::inject(Call::PidfdOpen, libc::EINVAL);
        assert!(matches!(
            PidFd::open_with(pid, crate::OpenFlags::NONBLOCK),
            Err(Error::Unsupported { feature: Feature::PidfdNonblock })
        ));
    }
    let _g = without(Feature::PidfdNonblock);
    assert!(!fd.is_nonblocking().unwrap());
    assert_eq!(fd.try_wait().unwrap(), None);
    release(&mut child);
    assert_eq!(fd.wait().unwrap().code(), Some(4));
}

/// `poll_exit`: `Running` while the child runs, `Busy` while another caller holds the reaping
/// lock over its exit, `Exited` once collected (and again, remembered); `Running` for a process
/// that is not our child and still runs, on every kernel.
#[test]
fn poll_exit_tells_running_busy_and_exited() {
    use crate::ExitPoll;
    let (mut child, _) = super::spawn_reporting(&mut crate::Command::new("sh"));
    let mut stdin = child.stdin.take().unwrap();
    let fd = child.pidfd();
    assert_eq!(fd.poll_exit().unwrap(), ExitPoll::Running, "blocked in `read`");
    {
        // Another caller holds the lock: whatever the process does, `Busy`.
        let _held = fd.reaping.lock().unwrap();
        assert_eq!(fd.poll_exit().unwrap(), ExitPoll::Busy);
        stdin.write_all(b"\n").unwrap();
        crate::sys::poll_readable(std::os::fd::AsRawFd::as_raw_fd(fd), -1).unwrap();
        assert_eq!(fd.poll_exit().unwrap(), ExitPoll::Busy, "exited, but the lock holder collects it");
    }
    let status = match fd.poll_exit().unwrap() {
        ExitPoll::Exited(s) => s,
        other => panic!("the lock is free and the child exited: {other:?}"),
    };
    assert!(status.success());
    assert_eq!(fd.poll_exit().unwrap(), ExitPoll::Exited(status), "remembered");
    // Ourselves: not our child, running.
    if super::require(Feature::PidfdOpen) {
        assert_eq!(PidFd::from_self().unwrap().poll_exit().unwrap(), ExitPoll::Running);
    }
}

/// Before 6.15 (forced through the seam), a process that is not our child gives no status:
/// `poll_exit` is `Running` while it runs and `Unsupported` once it has exited, never before.
#[test]
fn poll_exit_on_a_non_child_without_info_exit() {
    use crate::ExitPoll;
    let _g = without(Feature::InfoExit);
    if !super::require(Feature::PidfdOpen) {
        return;
    }
    assert_eq!(PidFd::from_self().unwrap().poll_exit().unwrap(), ExitPoll::Running);
    // Our child, reaped by someone else (here: by pid): from then on not ours to collect.
    let Some((mut child, fd, pid)) = held("exit 3") else { return };
    release(&mut child);
    crate::sys::poll_readable(std::os::fd::AsRawFd::as_raw_fd(&fd), -1).unwrap();
    let reaped = crate::sys::waitid(libc::P_PID, pid, libc::WEXITED, None).unwrap();
    assert_eq!(reaped.pid, pid);
    let e = fd.poll_exit().unwrap_err();
    assert!(matches!(e, Error::Unsupported { feature: Feature::InfoExit }), "{e:?}");
    drop(child);
}

/// The background reaper asks `poll_exit` after each wake-up, and a `Busy` answer (someone else
/// is collecting the exit, whose reap wakes nobody before 6.9) is asked again after a short
/// sleep instead of waiting for a wake-up that may never come. The "someone else" is the seam:
/// the first `waitid` finds nothing although the child is a zombie, as when another thread's
/// reap is in progress; the peek that follows sees the exit. (The fault is added by a hook at
/// that first call: a fault present before it would make the feature probes run again, and
/// the probe's `waitid` would take it.)
#[test]
fn the_reaper_asks_again_about_an_exit_someone_else_is_collecting() {
    use crate::reaper::{Reaper, Round};
    use std::cell::RefCell;
    use std::rc::Rc;
    if !Feature::WaitidPidfd.is_supported() {
        return;
    }
    let fd = crate::Command::new("true").spawn().unwrap().into_pidfd();
    crate::sys::poll_readable(fd.as_raw_fd(), -1).unwrap(); // a zombie now
    let observer = fd.try_clone().unwrap();
    let reaper = Reaper::new().unwrap();
    let key = reaper.add(fd).expect("added to the epoll instance");
    let mut round = Round::new();
    {
        let fault: Rc<RefCell<Option<fault::Guard>>> = Rc::default();
        let slot = Rc::clone(&fault);
        let _first_finds_nothing = fault::before(Call::Waitid, move || {
            slot.borrow_mut().get_or_insert_with(|| fault::inject_times(Call::Waitid, libc::EAGAIN, 1));
        });
        // The add reported the exit: one wake-up, answered `Busy`.
        assert_eq!(round.next(&reaper), 1);
        assert!(fault.borrow().is_some(), "the seam was reached");
        assert!(round.is_busy(key) && reaper.holds(key), "a busy exit is kept for a retry");
    }
    // No new wake-up comes (edge-triggered, the exit was reported): the retry settles it.
    assert_eq!(round.next(&reaper), 1);
    assert!(!round.is_busy(key) && !reaper.holds(key), "the retry reaped the child");
    assert!(matches!(observer.pid(), Err(Error::Exited)), "reaped: {:?}", observer.pid());
}
