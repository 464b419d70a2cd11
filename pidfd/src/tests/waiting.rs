//! Waiting.

use std::io::Write;

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
