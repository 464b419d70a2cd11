use std::os::unix::process::ExitStatusExt;
use std::process::Command;

use pidfd::{Error, Feature, OpenFlags, PidFd, WaitEvent, WaitOptions};

use crate::support::{held, require, require_all, self_pidfd};

/// `pidfd::spawn` of `sh -c script`, or `None` (the test skips) when `pidfd_open`, which the
/// child calls on itself, is refused.
fn sh(script: &str) -> Option<(std::process::Child, PidFd)> {
    require(Feature::PidfdOpen).then(|| pidfd::spawn(Command::new("sh").args(["-c", script])).unwrap())
}

#[test]
fn exit_code() {
    let Some((_c, fd)) = sh("exit 3") else { return };
    let st = fd.wait().unwrap();
    assert_eq!(st.code(), Some(3));
    assert_eq!(st.signal(), None);
    assert_eq!(fd.wait().unwrap(), st, "wait twice gives the same status");
    assert_eq!(fd.try_wait().unwrap(), Some(st));
    if Feature::InfoExit.is_supported() {
        assert_eq!(fd.exit_status().unwrap(), Some(st));
    }
}

#[test]
fn killed_by_signal() {
    let Some((_c, fd)) = sh("kill -9 $$") else { return };
    let st = fd.wait().unwrap();
    assert_eq!(st.code(), None);
    assert_eq!(st.signal(), Some(libc::SIGKILL));
    assert!(!st.core_dumped());
}

#[test]
fn segfault_with_core_dump() {
    if !require(Feature::PidfdOpen) {
        return;
    }
    let pattern = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap_or_default();
    let dir = std::env::temp_dir().join(format!("pidfd-core-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (_c, fd) = pidfd::spawn(
        Command::new("sh").args(["-c", "ulimit -c unlimited 2>/dev/null; kill -SEGV $$"]).current_dir(&dir),
    )
    .unwrap();
    let st = fd.wait().unwrap();
    assert_eq!(st.signal(), Some(libc::SIGSEGV));
    // The kernel writes the dump (and sets the bit) only where core_pattern lets it.
    let plain_file = !pattern.starts_with('|') && !pattern.trim().is_empty() && !pattern.contains('/');
    if plain_file {
        assert!(st.core_dumped(), "core_pattern {pattern:?} writes into the cwd, yet no core dump was reported");
    } else {
        eprintln!("core dump bit not asserted: core_pattern is {pattern:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn try_wait_does_not_block() {
    let Some((mut h, fd)) = held("exit 5") else { return };
    assert_eq!(fd.try_wait().unwrap(), None);
    h.release();
    assert_eq!(fd.wait().unwrap().code(), Some(5));
    assert_eq!(fd.try_wait().unwrap().and_then(|s| s.code()), Some(5));
}

#[test]
fn nonblocking_pidfd_still_waits() {
    if !require(Feature::PidfdNonblock) {
        return;
    }
    let Some((mut h, _fd)) = held("exit 6") else { return };
    let fd = PidFd::open_with(h.pid, OpenFlags::NONBLOCK).unwrap();
    assert_eq!(fd.try_wait().unwrap(), None, "EAGAIN means not yet");
    h.release();
    assert_eq!(fd.wait().unwrap().code(), Some(6));
}

#[test]
fn stop_and_continue_events() {
    if !require_all(&[Feature::PidfdOpen, Feature::PidfdSendSignal]) {
        return;
    }
    let Some((_h, fd)) = held("exit 0") else { return };
    fd.send_signal(libc::SIGSTOP).unwrap();
    assert_eq!(fd.wait_event(WaitOptions::STOPPED).unwrap(), Some(WaitEvent::Stopped(libc::SIGSTOP)));
    fd.send_signal(libc::SIGCONT).unwrap();
    assert_eq!(fd.wait_event(WaitOptions::CONTINUED).unwrap(), Some(WaitEvent::Continued));
    assert_eq!(fd.wait_event(WaitOptions::STOPPED | WaitOptions::NOHANG).unwrap(), None);
    assert!(matches!(fd.wait_event(WaitOptions::NOHANG), Err(Error::InvalidInput(_))));
    fd.kill().unwrap();
    let ev = fd.wait_event(WaitOptions::EXITED | WaitOptions::NOWAIT).unwrap();
    assert!(matches!(ev, Some(WaitEvent::Exited(s)) if s.signal() == Some(libc::SIGKILL)));
    // NOWAIT left it waitable.
    assert_eq!(fd.wait().unwrap().signal(), Some(libc::SIGKILL));
}

#[test]
fn resource_usage() {
    let Some((_c, fd)) = sh("i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done") else { return };
    let (st, ru) = fd.wait_with_rusage().unwrap();
    assert!(st.success());
    assert!(ru.max_rss_kib > 0, "{ru:?}");
    assert!(ru.user_time + ru.system_time > std::time::Duration::ZERO);
    assert!(fd.wait_with_rusage().is_err(), "the usage went with the first reap");
}

#[test]
fn not_our_child() {
    let Some(me) = self_pidfd() else { return };
    assert!(matches!(me.wait(), Err(Error::NotChild)));
    assert!(matches!(me.try_wait(), Err(Error::NotChild)));
}

#[test]
fn concurrent_waits_agree() {
    let Some((mut h, fd)) = held("exit 9") else { return };
    let fd = std::sync::Arc::new(fd);
    let waiters: Vec<_> = (0..4)
        .map(|_| {
            let fd = fd.clone();
            std::thread::spawn(move || fd.wait().unwrap())
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(20));
    h.release();
    for w in waiters {
        assert_eq!(w.join().unwrap().code(), Some(9));
    }
}
