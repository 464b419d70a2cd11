use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};

use pidfd::{Error, Feature, PidFd, SigInfo, SigValue, SignalScope};

use crate::support::{held, require_all, self_pidfd};

/// Every test here signals through a pidfd: `pidfd_send_signal` (and a pidfd from `pidfd_open`,
/// which `pidfd::spawn`'s child and `PidFd::open` use).
fn can_signal() -> bool {
    require_all(&[Feature::PidfdOpen, Feature::PidfdSendSignal])
}

#[test]
fn signals_reach_the_process() {
    if !can_signal() {
        return;
    }
    let Some((_h, fd)) = held("exit 0") else { return };
    fd.send_signal(0).unwrap();
    fd.send_signal(libc::SIGTERM).unwrap();
    assert_eq!(fd.wait().unwrap().signal(), Some(libc::SIGTERM));
    assert!(matches!(fd.send_signal(libc::SIGTERM), Err(Error::Exited)));
}

#[test]
fn bad_signals_are_rejected() {
    let Some(fd) = self_pidfd() else { return };
    assert!(matches!(fd.send_signal(-1), Err(Error::InvalidInput(_))));
    assert!(matches!(fd.send_signal(libc::SIGRTMAX() + 1), Err(Error::InvalidInput(_))));
    assert!(matches!(fd.send_signal(i32::MAX), Err(Error::InvalidInput(_))));
    assert!(matches!(
        fd.send_signal_with(0, SignalScope::Default, SigInfo::queue(SigValue::Int(1))),
        Err(Error::InvalidInput(_))
    ));
}

#[test]
fn kill_and_payload() {
    if !can_signal() {
        return;
    }
    let Some((_h, fd)) = held("exit 0") else { return };
    fd.send_signal_with(libc::SIGUSR1, SignalScope::Default, SigInfo::queue(SigValue::Ptr(42))).unwrap();
    assert_eq!(fd.wait().unwrap().signal(), Some(libc::SIGUSR1));
    let Some((_h, fd)) = held("exit 0") else { return };
    fd.kill().unwrap();
    assert_eq!(fd.wait().unwrap().signal(), Some(libc::SIGKILL));
}

/// A group leader with two more members; every member must die from one call.
fn group() -> (std::process::Child, PidFd, Vec<PidFd>) {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "sleep 30 & echo $!; sleep 30 & echo $!; wait"]).stdout(Stdio::piped()).process_group(0);
    let (mut child, fd) = pidfd::spawn(&mut cmd).unwrap();
    let out = std::io::BufReader::new(child.stdout.take().unwrap());
    let members = std::io::BufRead::lines(out)
        .take(2)
        .map(|l| PidFd::open(l.unwrap().trim().parse().unwrap()).unwrap())
        .collect();
    (child, fd, members)
}

fn assert_group_dead(fd: &PidFd, members: &[PidFd]) {
    assert_eq!(fd.wait().unwrap().signal(), Some(libc::SIGKILL));
    for m in members {
        // Each member's pidfd becomes readable once it is gone.
        let mut pfd = libc::pollfd { fd: std::os::fd::AsRawFd::as_raw_fd(m), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, 5000) };
        assert_eq!(n, 1, "a group member survived");
    }
}

#[test]
fn process_group_is_first_class() {
    if !can_signal() {
        return;
    }
    let (mut child, fd, members) = group();
    // PIDFD_SIGNAL_PROCESS_GROUP on 6.9+, killpg after a liveness check before.
    fd.signal_process_group(libc::SIGKILL).unwrap();
    assert_group_dead(&fd, &members);
    let _ = child.wait();
}

#[test]
fn process_group_of_a_non_leader() {
    if !can_signal() {
        return;
    }
    let Some((_h, fd)) = held("exit 0") else { return };
    // `held` children share our process group: they lead none.
    assert!(matches!(fd.signal_process_group(0), Err(Error::Exited)));
    fd.kill().unwrap();
    fd.wait().unwrap();
}

#[test]
fn thread_scope() {
    if !can_signal() {
        return;
    }
    let Some((_h, fd)) = held("exit 0") else { return };
    fd.send_signal_to(libc::SIGTERM, SignalScope::Thread).unwrap();
    assert_eq!(fd.wait().unwrap().signal(), Some(libc::SIGTERM));
    let Some((_h, fd)) = held("exit 0") else { return };
    fd.send_signal_to(libc::SIGTERM, SignalScope::ThreadGroup).unwrap();
    assert_eq!(fd.wait().unwrap().signal(), Some(libc::SIGTERM));
}
