//! Fallback paths, forced through the fault-injection seam of `sys` on whatever kernel runs
//! the tests: a feature's probe is made to answer "unsupported" (or a call to fail with the
//! errno an older kernel or a seccomp policy gives), and the real fallback then runs against
//! real processes.

use std::io::{BufRead, BufReader};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};

use super::{TempCgroup, held, release, require, require_all, self_pidfd, without};
use crate::sys::{Call, fault};
use crate::{Error, Feature, PidFd, SignalScope, Support};

#[test]
fn pid_from_fdinfo() {
    let Some((mut child, fd, pid)) = held("exit 0") else { return };
    let _g = without(Feature::GetInfo);
    assert_eq!(fd.pid().unwrap(), pid);
    release(&mut child);
    fd.wait().unwrap();
    assert!(matches!(fd.pid(), Err(Error::Exited)), "fdinfo says -1 after the reap");
}

#[test]
fn proc_fallbacks_agree_with_the_ioctl() {
    let Some((mut child, fd, pid)) = held("exit 0") else { return };
    let tmp_cg = TempCgroup::new("fallback");
    if let Some(t) = &tmp_cg {
        t.add(pid);
    }
    let (ppid, creds, cg) = (fd.ppid(), fd.credentials(), fd.cgroup_id());
    {
        let _g = without(Feature::GetInfo);
        assert_eq!(fd.ppid().unwrap(), ppid.unwrap());
        assert_eq!(fd.credentials().unwrap(), creds.unwrap());
        match (fd.cgroup_id(), cg) {
            // The ioctl (when the kernel has it), /proc + stat, and the directory agree.
            (Ok(a), Ok(b)) => {
                assert_eq!(a, b);
                if let Some(t) = &tmp_cg {
                    assert_eq!(a, t.id());
                }
            }
            (Err(e), _) => eprintln!("cgroup fallback unavailable here: {e}"),
            (Ok(_), Err(e)) => panic!("{e}"),
        }
        assert!(matches!(fd.info(), Err(Error::Unsupported { feature: Feature::GetInfo })));
    }
    release(&mut child);
    fd.wait().unwrap();
    drop(tmp_cg);
    let _g = without(Feature::GetInfo);
    assert!(matches!(fd.ppid(), Err(Error::Exited)));
    assert!(matches!(fd.credentials(), Err(Error::Exited)));
}

#[test]
fn wait_by_pid_without_p_pidfd() {
    if !require_all(&[Feature::PidfdOpen, Feature::PidfdSendSignal]) {
        return;
    }
    let _g = without(Feature::WaitidPidfd);
    let (mut child, fd, _) = held("exit 3").unwrap();
    assert_eq!(fd.try_wait().unwrap(), None);
    release(&mut child);
    assert_eq!(fd.wait().unwrap().code(), Some(3));
    assert_eq!(fd.wait().unwrap().code(), Some(3));
    let (_child, fd, _) = held("exit 0").unwrap();
    fd.kill().unwrap();
    assert_eq!(fd.wait().unwrap().signal(), Some(libc::SIGKILL));
    let me = PidFd::from_self().unwrap();
    assert!(matches!(me.wait(), Err(Error::NotChild)));
}

#[test]
fn scoped_signals_without_pidfd_signal_flags() {
    if !require_all(&[Feature::PidfdOpen, Feature::PidfdSendSignal]) {
        return;
    }
    let _g = without(Feature::SignalScope);
    let (_child, fd, _) = held("exit 0").unwrap();
    fd.send_signal_to(libc::SIGTERM, SignalScope::Thread).unwrap();
    assert_eq!(fd.wait().unwrap().signal(), Some(libc::SIGTERM));

    let (_child, fd, _) = held("exit 0").unwrap();
    fd.send_signal_with(libc::SIGUSR1, SignalScope::Thread, crate::SigInfo::queue(crate::SigValue::Int(7))).unwrap();
    assert_eq!(fd.wait().unwrap().signal(), Some(libc::SIGUSR1));

    let mut cmd = Command::new("sh");
    cmd.args(["-c", "sleep 30 & echo $!; wait"]).stdout(Stdio::piped()).process_group(0);
    let (mut child, fd) = crate::spawn(&mut cmd).unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let member = PidFd::open(line.trim().parse().unwrap()).unwrap();
    fd.signal_process_group(libc::SIGKILL).unwrap();
    assert_eq!(fd.wait().unwrap().signal(), Some(libc::SIGKILL));
    assert!(crate::sys::poll_readable(member.as_raw_fd(), 5000).unwrap(), "the group member survived");
    assert!(matches!(
        fd.send_signal_with(libc::SIGUSR1, SignalScope::ProcessGroup, crate::SigInfo::queue(crate::SigValue::Int(1))),
        Err(Error::Unsupported { feature: Feature::SignalScope })
    ));
}

#[test]
fn no_exit_info_is_unsupported_not_invented() {
    let Some(me) = self_pidfd() else { return };
    let _g = without(Feature::InfoExit);
    assert!(matches!(me.exit_status(), Err(Error::Unsupported { feature: Feature::InfoExit })));
}

#[test]
fn no_pidfs_no_unique_id() {
    let Some(me) = self_pidfd() else { return };
    let _g = without(Feature::Pidfs);
    assert!(matches!(me.id(), Err(Error::Unsupported { .. })));
}

#[test]
fn reopen_without_fd_pidfs_root() {
    if !Feature::FileHandles.is_supported() {
        return;
    }
    let me = PidFd::from_self().unwrap();
    let id = me.id().unwrap();
    let _g = without(Feature::PidfsRoot);
    let again = PidFd::open_by_id(id, crate::OpenFlags::empty()).unwrap();
    assert_eq!(again.pid().unwrap(), me.pid().unwrap());
}

#[test]
fn seccomp_eperm_is_denied_not_unsupported() {
    let _g = fault::inject(Call::PidfdOpen, libc::EPERM);
    assert_eq!(Feature::PidfdOpen.support(), Support::Denied { errno: libc::EPERM });
    assert!(matches!(PidFd::from_self(), Err(Error::Denied { feature: Feature::PidfdOpen, .. })));
    drop(_g);
    let _g = fault::inject(Call::PidfdOpen, libc::ENOSYS);
    assert_eq!(Feature::PidfdOpen.support(), Support::Unsupported);
    assert!(matches!(PidFd::from_self(), Err(Error::Unsupported { feature: Feature::PidfdOpen })));
    drop(_g);
    // Without the injection: the real answer, probed again (nothing above was cached).
    if require(Feature::PidfdOpen) {
        assert_eq!(Feature::PidfdOpen.support(), Support::Supported);
    }
}

/// Where a policy refuses `pidfd_send_signal` itself (`EPERM`; its probe answers `Denied`), a
/// signal to our own child goes by `kill(pid)` while the child is unreaped. Once reaped it is
/// `Exited` for the `PidFd` that reaped it, and a duplicate that did not (its pid may name
/// another process by then) gets the refusal.
#[test]
fn a_refused_pidfd_send_signal_reaches_an_unreaped_child_by_pid() {
    if !require(Feature::WaitidPidfd) {
        return;
    }
    let mut child = crate::Command::new("sleep").arg("30").spawn().unwrap();
    let dup = child.pidfd().try_clone().unwrap();
    let _g = fault::inject(Call::PidfdSendSignal, libc::EPERM);
    assert_eq!(Feature::PidfdSendSignal.support(), Support::Denied { errno: libc::EPERM });
    child.pidfd().send_signal(0).unwrap();
    child.pidfd().send_signal_to(0, SignalScope::Default).unwrap();
    assert_eq!(child.try_wait().unwrap(), None);
    child.pidfd().send_signal(libc::SIGTERM).unwrap();
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGTERM));
    assert!(matches!(child.pidfd().send_signal(0), Err(Error::Exited)));
    assert!(matches!(child.pidfd().kill(), Err(Error::Exited)));
    // `Child::kill` answers as std's: the child has exited.
    child.kill().unwrap();
    let e = dup.send_signal(libc::SIGTERM).unwrap_err();
    assert!(matches!(&e, Error::PermissionDenied { .. }) && e.raw_os_error() == Some(libc::EPERM), "{e:?}");
}

/// The same refusal for a process that is not our child (a grandchild): no pid-based retry,
/// nothing is sent.
#[test]
fn a_refused_pidfd_send_signal_does_not_reach_a_non_child() {
    if !require_all(&[Feature::WaitidPidfd, Feature::PidfdOpen]) {
        return;
    }
    let mut parent = crate::Command::new("sh")
        .args(["-c", "sleep 30 & echo $!; wait $!"])
        .stdout(crate::Stdio::Piped)
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(parent.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let grandchild = PidFd::open(line.trim().parse().unwrap()).unwrap();
    {
        let _g = fault::inject(Call::PidfdSendSignal, libc::EPERM);
        let e = grandchild.send_signal(libc::SIGTERM).unwrap_err();
        assert!(matches!(&e, Error::PermissionDenied { .. }) && e.raw_os_error() == Some(libc::EPERM), "{e:?}");
    }
    // The shell reports how the grandchild died: by the SIGKILL sent now, not by a SIGTERM
    // that went by pid before (which would be 128 + 15).
    grandchild.kill().unwrap();
    assert_eq!(parent.wait().unwrap().code(), Some(128 + libc::SIGKILL));
}

/// An `EPERM` from `pidfd_send_signal` while the call itself is allowed (the probe answers
/// `Supported`) is the kernel's own refusal to signal that process: no pid-based retry.
#[test]
fn a_kernel_eperm_from_pidfd_send_signal_is_not_retried_by_pid() {
    if !require_all(&[Feature::WaitidPidfd, Feature::PidfdSendSignal]) {
        return;
    }
    let mut child = crate::Command::new("sleep").arg("30").spawn().unwrap();
    {
        let _g = fault::inject_on_fd(Call::PidfdSendSignal, child.pidfd().as_raw_fd(), libc::EPERM);
        assert_eq!(Feature::PidfdSendSignal.support(), Support::Supported);
        let e = child.pidfd().send_signal(libc::SIGTERM).unwrap_err();
        assert!(matches!(&e, Error::PermissionDenied { .. }), "{e:?}");
        assert_eq!(child.try_wait().unwrap(), None, "the child was signalled anyway");
    }
    child.kill().unwrap();
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
}

#[test]
fn only_definite_answers_are_cached() {
    assert_eq!(crate::compat::cached_state(Support::Denied { errno: libc::EPERM }), None);
    assert_eq!(crate::compat::cached_state(Support::Undetermined { errno: libc::EMFILE }), None);
    assert!(crate::compat::cached_state(Support::Supported).is_some());
    assert!(crate::compat::cached_state(Support::Unsupported).is_some());
}

#[test]
fn pidfd_check_without_statfs_uses_fdinfo() {
    let Some(real) = self_pidfd() else { return };
    let _g = fault::inject(Call::Fstatfs, libc::ENOSYS);
    let real: OwnedFd = real.into();
    assert!(PidFd::try_from(real).is_ok());
    let file: OwnedFd = std::fs::File::open("/dev/null").unwrap().into();
    assert!(matches!(PidFd::try_from(file), Err(Error::NotPidfd)));
}

#[test]
fn old_kernel_errnos_map_to_unsupported() {
    let Some(me) = self_pidfd() else { return };
    let _g = fault::inject(Call::PidfdGetfd, libc::ENOSYS);
    assert!(matches!(me.get_fd(0), Err(Error::Unsupported { feature: Feature::PidfdGetfd })));
    let _g = fault::inject(Call::ProcessMrelease, libc::ENOSYS);
    assert!(matches!(me.process_mrelease(), Err(Error::Unsupported { feature: Feature::ProcessMrelease })));
    let _g = fault::inject(Call::GetSockOpt, libc::ENOPROTOOPT);
    let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    assert!(matches!(PidFd::from_peer(&a), Err(Error::Unsupported { feature: Feature::SoPeerPidfd })));
}

/// The kernel accepts every struct size from 64 to 88 bytes, and the view honours the size.
#[test]
fn every_pidfd_info_size() {
    if !Feature::GetInfo.is_supported() {
        return;
    }
    let me = PidFd::from_self().unwrap();
    for size in [64, 72, 80, 88] {
        let mut raw = crate::info::RawInfo::request_sized(
            pidfd_sys::PIDFD_INFO_PID | pidfd_sys::PIDFD_INFO_COREDUMP | pidfd_sys::PIDFD_INFO_SUPPORTED_MASK,
            size,
        );
        raw.fetch(me.as_raw_fd()).unwrap();
        let info = crate::ProcessInfo::new(raw);
        assert_eq!(info.pid(), Some(std::process::id() as i32), "size {size}");
        if size == 64 {
            assert_eq!(info.coredump(), None, "coredump_mask lies beyond a 64-byte request");
        }
        if size < 88 {
            assert_eq!(info.supported_mask(), None);
        } else {
            assert_eq!(info.supported_mask().is_some(), Feature::SupportedMask.is_supported());
        }
    }
}

/// The `/proc` fallback of `ppid()` reads each source once: fdinfo for the pid, the status
/// file, fdinfo again for the re-check; where `PIDFD_GET_INFO` refuses the process (`ESRCH`, as
/// 6.13 and 6.14 do when its parent is outside our PID namespace), one ioctl before that, and the
/// re-check does not ask the ioctl that refused.
#[test]
fn the_info_fallback_reads_each_source_once() {
    let Some(me) = self_pidfd() else { return };
    let has_info = Feature::GetInfo.is_supported();
    let count = || (fault::calls(Call::GetInfo, Some(me.as_raw_fd())), fault::calls(Call::ReadFile, None));
    {
        let _g = without(Feature::GetInfo);
        let before = count();
        me.ppid().unwrap();
        let after = count();
        assert_eq!((after.0 - before.0, after.1 - before.1), (0, 3), "ioctls, file reads without PIDFD_GET_INFO");
    }
    if has_info {
        let _g = fault::inject_on_fd(Call::GetInfo, me.as_raw_fd(), libc::ESRCH);
        let before = count();
        assert_eq!(me.ppid().unwrap(), std::os::unix::process::parent_id() as i32);
        let after = count();
        assert_eq!((after.0 - before.0, after.1 - before.1), (1, 3), "ioctls, file reads where the ioctl refuses");
    }
}
