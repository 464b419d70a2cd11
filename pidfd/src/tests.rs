//! Fallback paths, forced through the fault-injection seam of `sys` on whatever kernel runs
//! the tests: a feature's probe is made to answer "unsupported" (or a call to fail with the
//! errno an older kernel or a seccomp policy gives), and the real fallback then runs against
//! real processes.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, Stdio};

use crate::sys::{Call, fault};
use crate::{Error, Feature, PidFd, SignalScope, Support};

fn without(f: Feature) -> fault::Guard {
    fault::inject(Call::Feature(f), libc::ENOSYS)
}

/// `host` on the host, `matrix` under the kernel matrix (`PIDFD_TEST_EXPECT` set), where each
/// process creation costs milliseconds under QEMU's software emulation and the whole matrix has
/// a time budget. The property tested is the same; the host run does the full count.
fn iterations(host: usize, matrix: usize) -> usize {
    if std::env::var_os("PIDFD_TEST_EXPECT").is_some() { matrix } else { host }
}

// The matrix's feature contract (`require`), shared with every crate's integration tests.
#[allow(dead_code)]
#[path = "../tests/common/require.rs"]
mod contract;
use contract::{require, require_all};

/// A pidfd of this process, or `None` (the test skips) where `pidfd_open` is refused.
fn self_pidfd() -> Option<PidFd> {
    require(Feature::PidfdOpen).then(|| PidFd::from_self().unwrap())
}

/// `sh -c 'echo $$; read x; <then>'` with its pidfd and reported pid, or `None` (the test skips)
/// where `pidfd_open` is refused: `crate::spawn`'s child opens its own pidfd.
fn held(then: &str) -> Option<(Child, PidFd, i32)> {
    if !require(Feature::PidfdOpen) {
        return None;
    }
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &format!("echo $$; read x; {then}")]).stdin(Stdio::piped()).stdout(Stdio::piped());
    let (mut child, fd) = crate::spawn(&mut cmd).unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    Some((child, fd, line.trim().parse().unwrap()))
}

fn release(child: &mut Child) {
    child.stdin.take().unwrap().write_all(b"\n").unwrap();
}

#[test]
fn pid_from_fdinfo() {
    let Some((mut child, fd, pid)) = held("exit 0") else { return };
    let _g = without(Feature::GetInfo);
    assert_eq!(fd.pid().unwrap(), pid);
    release(&mut child);
    fd.wait().unwrap();
    assert!(matches!(fd.pid(), Err(Error::Exited)), "fdinfo says -1 after the reap");
}

/// A fresh cgroup v2 directory (removed on drop), when the host lets us make one.
pub(crate) struct TempCgroup(pub(crate) std::path::PathBuf);

impl TempCgroup {
    pub(crate) fn new(tag: &str) -> Option<TempCgroup> {
        let mi = std::fs::read("/proc/self/mountinfo").ok()?;
        let mut root = Vec::new();
        if !crate::parse::cgroup2_mount(&mi, &mut root) {
            return None;
        }
        let root = std::path::PathBuf::from(String::from_utf8(root).ok()?);
        let dir = root.join(format!("pidfd-{tag}-{}", std::process::id()));
        std::fs::create_dir(&dir).ok()?;
        Some(TempCgroup(dir))
    }

    pub(crate) fn add(&self, pid: i32) {
        std::fs::write(self.0.join("cgroup.procs"), pid.to_string()).unwrap();
    }

    pub(crate) fn inode(&self) -> u64 {
        std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&self.0).unwrap())
    }
}

impl Drop for TempCgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
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
                    assert_eq!(a, t.inode());
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
    assert!(matches!(child.kill(), Err(Error::Exited)));
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
    assert_eq!(super::compat::cached_state(Support::Denied { errno: libc::EPERM }), None);
    assert_eq!(super::compat::cached_state(Support::Undetermined { errno: libc::EMFILE }), None);
    assert!(super::compat::cached_state(Support::Supported).is_some());
    assert!(super::compat::cached_state(Support::Unsupported).is_some());
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
        crate::sys::pidfd_get_info(me.as_raw_fd(), raw.as_mut(), size).unwrap();
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

// ---------------------------------------------------------------------------------------------
// Guards and re-checks of the fallbacks.
// ---------------------------------------------------------------------------------------------

/// Before 6.9 the process-group scope goes through `kill(-pgid)`. For pid 1 that would be
/// `kill(-1)`: every process. It must be refused before any kill is attempted (the injected
/// `EDOM` would show that one was).
#[test]
fn process_group_of_pid_1_never_becomes_kill_minus_1() {
    let init = match PidFd::open(1) {
        Ok(fd) => fd,
        Err(e) => {
            eprintln!("skipped: cannot open a pidfd of pid 1 here: {e}");
            return;
        }
    };
    let _g = without(Feature::SignalScope);
    let _k = fault::inject(Call::Kill, libc::EDOM);
    let e = init.signal_process_group(0).unwrap_err();
    assert!(matches!(e, Error::Unsupported { feature: Feature::SignalScope }), "{e:?}");
}

/// What the fdinfo of a pidfd reads like before 5.5: no `NSpid:` line, and after the reap the
/// old pid stays. Here the pid is a live process's, as when the pid has been recycled.
fn stale_fdinfo(fd: &PidFd, pid: i32) -> fault::Guard {
    fault::fake_file(
        &format!("/proc/self/fdinfo/{}", fd.as_raw_fd()),
        format!("pos:\t0\nflags:\t02000002\nmnt_id:\t15\nPid:\t{pid}\n"),
    )
}

/// A reaped process whose (pre-5.5) fdinfo names a pid now used by another live process: no
/// `/proc` fallback may answer with that process's data.
#[test]
fn proc_fallbacks_never_answer_for_a_recycled_pid() {
    let Some((mut gone_child, gone, _)) = held("exit 0") else { return };
    release(&mut gone_child);
    gone.wait().unwrap();
    let Some((mut other_child, other, other_pid)) = held("exit 0") else { return };
    let _g = without(Feature::GetInfo);
    {
        let _f = stale_fdinfo(&gone, other_pid);
        assert!(matches!(gone.pid(), Err(Error::Exited)), "{:?}", gone.pid());
        assert!(matches!(gone.ppid(), Err(Error::Exited)), "{:?}", gone.ppid());
        assert!(matches!(gone.credentials(), Err(Error::Exited)));
        assert!(matches!(gone.cgroup_id(), Err(Error::Exited)));
        assert!(matches!(gone.access_proc(|d| d.read_to_string("status").unwrap()), Err(Error::Exited)));
    }
    // The same fdinfo for the live process itself (a kernel without NSpid): still answered.
    let _f = stale_fdinfo(&other, other_pid);
    assert_eq!(other.pid().unwrap(), other_pid);
    assert_eq!(other.ppid().unwrap(), std::process::id() as i32);
    assert_eq!(other.access_proc(|d| d.pid()).unwrap(), other_pid);
    release(&mut other_child);
    other.wait().unwrap();
}

/// 5.3: the pid-based wait must not reap another child of ours that got the pid of the
/// pidfd's (already reaped) process.
#[test]
fn wait_by_pid_never_reaps_the_child_that_got_a_recycled_pid() {
    let Some((mut gone_child, gone, _)) = held("exit 0") else { return };
    let gone_again = gone.try_clone().unwrap();
    release(&mut gone_child);
    gone.wait().unwrap();
    // A zombie child of ours, waitable by pid.
    let Some((mut heir_child, heir, heir_pid)) = held("exit 7") else { return };
    release(&mut heir_child);
    assert!(crate::sys::poll_readable(heir.as_raw_fd(), -1).unwrap());
    {
        let _g = without(Feature::WaitidPidfd);
        let _h = without(Feature::InfoExit);
        let _i = without(Feature::GetInfo);
        let _f = stale_fdinfo(&gone_again, heir_pid);
        assert!(matches!(gone_again.wait(), Err(Error::NotChild)));
        assert!(matches!(gone_again.try_wait(), Err(Error::NotChild)));
    }
    assert_eq!(heir.wait().unwrap().code(), Some(7), "the heir was reaped through another pidfd");
}

/// 6.13 and 6.14 answer `ESRCH` for a live process whose parent is outside the caller's PID
/// namespace: the getters must then fall back to `/proc`, not report an exit.
#[test]
fn get_info_esrch_for_a_live_process_falls_back_to_proc() {
    if !Feature::GetInfo.is_supported() {
        return;
    }
    let Some((mut child, fd, pid)) = held("exit 0") else { return };
    let (creds, cg) = (fd.credentials().unwrap(), fd.cgroup_id());
    {
        let _g = fault::inject_on_fd(Call::GetInfo, fd.as_raw_fd(), libc::ESRCH);
        assert_eq!(fd.pid().unwrap(), pid);
        assert_eq!(fd.ppid().unwrap(), std::process::id() as i32);
        assert_eq!(fd.credentials().unwrap(), creds);
        if let Ok(cg) = cg {
            assert_eq!(fd.cgroup_id().unwrap(), cg);
        }
        let e = fd.info().unwrap_err();
        assert!(matches!(&e, Error::Os { source, .. } if source.raw_os_error() == Some(libc::ESRCH)), "{e:?}");
    }
    release(&mut child);
    fd.wait().unwrap();
    let _g = fault::inject_on_fd(Call::GetInfo, fd.as_raw_fd(), libc::ESRCH);
    assert!(matches!(fd.pid(), Err(Error::Exited)));
    assert!(matches!(fd.ppid(), Err(Error::Exited)));
}

/// `EINVAL` from `pidfd_open` without `PIDFD_THREAD` means "a thread, not a leader" before 6.16
/// only when the pid is such a thread.
#[test]
fn einval_means_not_a_leader_only_for_threads() {
    let (tx, rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let t = std::thread::spawn(move || {
        tx.send(crate::sys::gettid()).unwrap();
        done_rx.recv().unwrap();
    });
    let tid = rx.recv().unwrap();
    let _g = fault::inject(Call::PidfdOpen, libc::EINVAL);
    let me = std::process::id() as i32;
    let e = PidFd::open(me).unwrap_err();
    assert!(
        matches!(&e, Error::Os { op: "pidfd_open", source } if source.raw_os_error() == Some(libc::EINVAL)),
        "{e:?}"
    );
    assert!(matches!(PidFd::open(tid), Err(Error::NotThreadGroupLeader { pid }) if pid == tid));
    done_tx.send(()).unwrap();
    t.join().unwrap();
}

/// The cgroup id from `/proc`: the directory's file handle, or (64-bit) its inode number; both
/// equal to what `PIDFD_GET_INFO` reports.
#[test]
fn cgroup_id_fallback_by_file_handle_and_by_inode() {
    let Some(tmp) = TempCgroup::new("cgid") else {
        eprintln!("skipped: cannot create a cgroup here");
        return;
    };
    let Some((mut child, fd, pid)) = held("exit 0") else { return };
    tmp.add(pid);
    let kernel = fd.cgroup_id();
    let _g = without(Feature::GetInfo);
    let by_handle = {
        let _f = fault::inject(Call::Fstat, libc::ENOSYS);
        fd.cgroup_id().unwrap()
    };
    assert_eq!(by_handle, tmp.inode());
    if let Ok(k) = kernel {
        assert_eq!(by_handle, k);
    }
    if cfg!(target_pointer_width = "64") {
        let _f = fault::inject(Call::NameToHandleAt, libc::EOPNOTSUPP);
        assert_eq!(fd.cgroup_id().unwrap(), by_handle);
    }
    release(&mut child);
    fd.wait().unwrap();
}

/// `id()` through the pidfs file handle when `fstat` cannot be used.
#[test]
fn unique_id_from_the_file_handle() {
    if !Feature::FileHandles.is_supported() {
        return;
    }
    let Some((mut child, fd, _)) = held("exit 0") else { return };
    let ino =
        std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap());
    {
        let _f = fault::inject(Call::Fstat, libc::ENOSYS);
        assert_eq!(fd.id().unwrap(), ino);
    }
    assert_eq!(fd.id().unwrap(), ino);
    release(&mut child);
    fd.wait().unwrap();
}

// ---------------------------------------------------------------------------------------------
// Probes.
// ---------------------------------------------------------------------------------------------

/// A refusal of the probe a feature builds on is reported as a refusal by the dependents, and
/// an inconclusive probe as `Error::Undetermined`, never as "denied" or "unsupported".
#[test]
fn dependent_probes_propagate_refusals_and_inconclusive_answers() {
    let Some(me) = self_pidfd() else { return };
    let dependents = [
        Feature::PidfdNonblock,
        Feature::Pidfs,
        Feature::PidfdThread,
        Feature::SignalScope,
        Feature::GetInfo,
        Feature::FileHandles,
    ];
    let clone_probed = [Feature::WaitidPidfd, Feature::SetnsPidfd].map(|f| (f, f.support()));
    assert!(clone_probed.iter().all(|(_, s)| matches!(s, Support::Supported | Support::Unsupported)));
    {
        let _g = fault::inject(Call::PidfdOpen, libc::EPERM);
        for f in dependents {
            assert_eq!(f.support(), Support::Denied { errno: libc::EPERM }, "{f:?}");
        }
        assert!(matches!(me.info(), Err(Error::Denied { feature: Feature::GetInfo, .. })));
        // These two probe a reaped child's pidfd from clone(CLONE_PIDFD): a policy that
        // refuses pidfd_open (old container profiles) does not change their answer.
        for (f, unfaulted) in clone_probed {
            assert_eq!(f.support(), unfaulted, "{f:?}");
        }
    }
    // ... but a kernel without CLONE_PIDFD (before 5.2) has neither (both are younger).
    {
        let _g = fault::inject(Call::Feature(Feature::ClonePidfd), libc::ENOSYS);
        for f in [Feature::WaitidPidfd, Feature::SetnsPidfd] {
            assert_eq!(f.support(), Support::Unsupported, "{f:?}");
        }
    }
    {
        let _g = fault::inject(Call::PidfdOpen, libc::EMFILE);
        for f in dependents {
            assert_eq!(f.support(), Support::Undetermined { errno: libc::EMFILE }, "{f:?}");
        }
        let e = me.info().unwrap_err();
        assert!(matches!(&e, Error::Undetermined { feature: Feature::GetInfo, .. }), "{e:?}");
        assert_eq!(e.raw_os_error(), Some(libc::EMFILE));
        assert!(e.to_string().contains("could not determine"), "{e}");
    }
    // Nothing of that was cached.
    for f in dependents {
        assert!(matches!(f.support(), Support::Supported | Support::Unsupported), "{f:?}: {}", f.support());
    }
    assert_eq!(Feature::PidfdOpen.support(), Support::Supported);
}

const SIGCHLD_IGNORED: &str = "PIDFD_TEST_SIGCHLD_IGNORED";

/// With `SIGCHLD` ignored, children are auto-reaped: the probe fixture of a dead process must
/// still hold a pidfd of *its* child and give definite answers. Runs in a fresh copy of this
/// test binary, since the disposition is process-wide.
#[test]
fn probe_fixture_survives_an_ignored_sigchld() {
    if std::env::var_os(SIGCHLD_IGNORED).is_none() {
        let out = Command::new(std::env::current_exe().unwrap())
            .args(["tests::probe_fixture_survives_an_ignored_sigchld", "--exact", "--test-threads=1", "--nocapture"])
            .env(SIGCHLD_IGNORED, "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
        assert!(text.contains("1 passed"), "the inner test did not run: {text}");
        return;
    }
    crate::sys::test_support::ignore_sigchld();
    // A fixture made by fork + pidfd_open + waitpid failed about once in a hundred here (the
    // child auto-reaped before pidfd_open, or not yet released when waitpid said ECHILD).
    for i in 0..iterations(1000, 200) {
        let dead = PidFd::from_owned_unchecked(crate::sys::reaped_child_pidfd().unwrap());
        assert!(matches!(dead.pid(), Err(Error::Exited)), "iteration {i}: {:?}", dead.pid());
    }
    // Both probes build on pidfd_open: where a policy refuses it they answer `Denied` (checked
    // by require) and have nothing definite to give.
    if !require_all(&[Feature::InfoExit, Feature::SetnsPidfd]) {
        return;
    }
    for _ in 0..20 {
        let _g = without(Feature::InfoCoredump);
        let _h = without(Feature::SupportedMask);
        for f in [Feature::InfoExit, Feature::SetnsPidfd] {
            assert!(matches!(f.support(), Support::Supported | Support::Unsupported), "{f:?}: {}", f.support());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Waiting.
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Signals.
// ---------------------------------------------------------------------------------------------

/// `si_value` arrives where the receiver reads it: an `Int` as `sival_int`, a `Ptr` as
/// `sival_ptr`. Sent to this thread alone through a thread pidfd, with the signal blocked here.
#[test]
fn sigqueue_value_reads_back_through_its_member() {
    if !Feature::PidfdThread.is_supported() {
        return;
    }
    let at = crate::sys::test_support::SI_VALUE_OFFSET;
    crate::sys::test_support::block_on_this_thread(libc::SIGUSR2);
    let me = PidFd::open_with(crate::sys::gettid(), crate::OpenFlags::THREAD).unwrap();
    me.send_signal_with(libc::SIGUSR2, SignalScope::Default, crate::SigInfo::queue(crate::SigValue::Int(-7))).unwrap();
    let info = crate::sys::test_support::take_signal(libc::SIGUSR2);
    assert_eq!(i32::from_ne_bytes(info[at..at + 4].try_into().unwrap()), -7, "sival_int");
    let code = if cfg!(any(target_arch = "mips", target_arch = "mips64")) { 4 } else { 8 };
    assert_eq!(i32::from_ne_bytes(info[code..code + 4].try_into().unwrap()), libc::SI_QUEUE);
    let ptr = 0x5eed_f00d_usize;
    me.send_signal_with(libc::SIGUSR2, SignalScope::Default, crate::SigInfo::queue(crate::SigValue::Ptr(ptr))).unwrap();
    let info = crate::sys::test_support::take_signal(libc::SIGUSR2);
    const W: usize = std::mem::size_of::<usize>();
    assert_eq!(usize::from_ne_bytes(info[at..at + W].try_into().unwrap()), ptr, "sival_ptr");
}

// ---------------------------------------------------------------------------------------------
// pidfd::Command: every creation path, each spawning a real child that reports its own pid.
// ---------------------------------------------------------------------------------------------

/// Spawns `sh -c 'echo $$; read x'` and checks that the pidfd and the pid name the child that
/// reports its `getpid()` (the shell's `$$`); returns it running.
fn spawn_reporting(cmd: &mut crate::Command) -> (crate::Child, i32) {
    cmd.args(["-c", "echo $$; read x"]).stdin(crate::Stdio::Piped).stdout(crate::Stdio::Piped);
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let reported: i32 = line.trim().parse().unwrap();
    assert_eq!(child.pidfd().pid().unwrap(), reported);
    assert_eq!(child.id(), reported);
    (child, reported)
}

fn finish(mut child: crate::Child) {
    child.stdin.take().unwrap().write_all(b"\n").unwrap();
    assert!(child.wait().unwrap().success());
}

#[test]
fn command_on_every_creation_path() {
    use crate::sys::Method;
    let took = |expected: Method, what: &str| {
        let (child, _) = spawn_reporting(&mut crate::Command::new("sh"));
        finish(child);
        assert_eq!(fault::last_spawned(), Some(expected), "{what}");
    };
    // The default: the vfork clone3 (CLONE_CLEAR_SIGHAND) where the architecture and the kernel
    // have it, else the vfork clone.
    let (child, _) = spawn_reporting(&mut crate::Command::new("sh"));
    finish(child);
    let default = if crate::method::clone3_vfork_usable() { Method::Clone3Vfork } else { Method::VforkClone };
    assert_eq!(fault::last_spawned(), Some(default));
    // The vfork clone3 missing (the probe), or refused at spawn time (ENOSYS, a seccomp EPERM,
    // EINVAL without CLONE_CLEAR_SIGHAND before 5.5): the vfork clone.
    {
        let _g = without(Feature::Clone3);
        took(Method::VforkClone, "without clone3");
    }
    for errno in [libc::ENOSYS, libc::EPERM, libc::EINVAL] {
        let _g = fault::inject(Call::Clone3, errno);
        took(Method::VforkClone, &format!("clone3 refused with {errno}"));
    }
    // The fork paths: the child opens its own pidfd (pidfd_open).
    if require(Feature::PidfdOpen) {
        // CLONE_PIDFD not honoured: fork, the child sends its own pidfd.
        {
            let _g = without(Feature::ClonePidfd);
            took(Method::Fork, "without CLONE_PIDFD");
        }
        // Both vfork clones refused at spawn time (ENOSYS, a seccomp EPERM): fork instead.
        for errno in [libc::ENOSYS, libc::EPERM] {
            let _g3 = fault::inject(Call::Clone3, errno);
            let _g = fault::inject(Call::Clone, errno);
            took(Method::Fork, &format!("clone3 and clone refused with {errno}"));
        }
    }
    // A resource error is reported, not papered over, whichever vfork clone meets it.
    let eagain = |what: &str| {
        let e = crate::Command::new("true").spawn().unwrap_err();
        assert!(matches!(&e, Error::Os { source, .. } if source.raw_os_error() == Some(libc::EAGAIN)), "{what}: {e:?}");
    };
    if default == Method::Clone3Vfork {
        let _g = fault::inject(Call::Clone3, libc::EAGAIN);
        eagain("clone3");
    }
    {
        let _g3 = fault::inject(Call::Clone3, libc::ENOSYS);
        let _g = fault::inject(Call::Clone, libc::EAGAIN);
        eagain("clone");
    }
}

/// Under the kernel matrix, on a kernel with `CLONE_CLEAR_SIGHAND` (5.5; every kernel with
/// `pidfd_getfd`, 5.6, has it) and an architecture with the trampoline (x86_64, aarch64), the
/// default spawn is the vfork clone3: a trampoline or flag set that the kernel refused would
/// otherwise pass every other test through the fallback.
#[test]
fn the_vfork_clone3_is_the_default_where_the_kernel_has_it() {
    use crate::sys::Method;
    let Some(expected) = contract::expected() else {
        eprintln!("skipped: only the kernel matrix knows whether this kernel must take the vfork clone3");
        return;
    };
    let has = |f: Feature| expected.iter().any(|e| e == f.name());
    if !crate::sys::CLONE3_VFORK || !has(Feature::Clone3) || !has(Feature::PidfdGetfd) {
        eprintln!("skipped: this architecture or kernel has no vfork clone3 (CLONE_CLEAR_SIGHAND is 5.5)");
        return;
    }
    let (child, _) = spawn_reporting(&mut crate::Command::new("sh"));
    finish(child);
    assert_eq!(fault::last_spawned(), Some(Method::Clone3Vfork), "refused: {}", crate::method::clone3_vfork_refused());
}

/// The fork path's child cannot open its own pidfd: an `Exec` error with that errno.
#[test]
fn fork_child_failing_before_its_pidfd_is_an_exec_error() {
    let _g = without(Feature::ClonePidfd);
    let _o = fault::inject(Call::PidfdOpen, libc::EPERM);
    let e = crate::Command::new("true").spawn().unwrap_err();
    assert!(matches!(&e, Error::Exec { source, .. } if source.raw_os_error() == Some(libc::EPERM)), "{e:?}");
}

/// The cgroup the child runs in, from its own `/proc/<pid>/cgroup`.
fn cgroup_of(pid: i32) -> String {
    let s = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    s.lines().find_map(|l| l.strip_prefix("0::")).unwrap().to_owned()
}

#[test]
fn command_into_a_cgroup_on_every_creation_path() {
    let Some(tmp) = TempCgroup::new("paths") else {
        eprintln!("skipped: cannot create a cgroup here");
        return;
    };
    let name = tmp.0.file_name().unwrap().to_str().unwrap().to_owned();
    let run = |what: &str| {
        let mut cmd = crate::Command::new("sh");
        cmd.cgroup(std::fs::File::open(&tmp.0).unwrap().into());
        let (child, pid) = spawn_reporting(&mut cmd);
        assert!(cgroup_of(pid).ends_with(&format!("/{name}")), "{what}: {}", cgroup_of(pid));
        finish(child);
    };
    if Feature::CloneIntoCgroup.is_supported() {
        run("clone3(CLONE_INTO_CGROUP)");
    }
    for errno in [libc::ENOSYS, libc::EPERM] {
        let _g = fault::inject(Call::Clone3, errno);
        run("clone3 refused at spawn time");
    }
    let fork = require(Feature::PidfdOpen); // the fork path's child opens its own pidfd
    {
        let _g = without(Feature::CloneIntoCgroup);
        run("vfork clone, the child writes cgroup.procs");
        if fork {
            let _h = without(Feature::ClonePidfd);
            run("fork, the child writes cgroup.procs");
        }
    }
}

/// The fds of a running child, as the kernel lists them.
fn fds_of(pid: i32) -> Vec<i32> {
    let mut fds: Vec<i32> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_str().unwrap().parse().unwrap())
        .collect();
    fds.sort();
    fds
}

/// With fds open in the parent that lack close-on-exec (low and high numbers) and many pidfds,
/// a child holds exactly 0-2 and its mapped fd, on every creation path and without
/// `close_range` (kernels before 5.9).
#[test]
fn child_inherits_only_stdio_and_mapped_fds_on_every_path() {
    let low = crate::sys::test_support::inheritable_fd(3);
    let high = crate::sys::test_support::inheritable_fd(700);
    // Many pidfds, or (where pidfd_open is refused) as many other fds.
    let fork = require(Feature::PidfdOpen); // the fork path's child opens its own pidfd
    let many: Vec<OwnedFd> = (0..300)
        .map(|_| match fork {
            true => PidFd::from_self().unwrap().into(),
            false => std::fs::File::open("/dev/null").unwrap().into(),
        })
        .collect();
    let tmp = TempCgroup::new("fds");
    let check = |what: &str, cgroup: bool| {
        let (r, w) = std::io::pipe().unwrap();
        let pipe = std::fs::read_link(format!("/proc/self/fd/{}", r.as_raw_fd())).unwrap();
        // A shell that says it runs: by then the dynamic loader has closed what it opened.
        let mut cmd = crate::Command::new("sh");
        cmd.args(["-c", "echo ready; read x"]).fd(w.into(), 7);
        cmd.stdin(crate::Stdio::Piped).stdout(crate::Stdio::Piped);
        if let (true, Some(t)) = (cgroup, &tmp) {
            cmd.cgroup(std::fs::File::open(&t.0).unwrap().into());
        }
        let mut child = cmd.spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line, "ready\n");
        assert_eq!(fds_of(child.id()), [0, 1, 2, 7], "{what}");
        assert_eq!(std::fs::read_link(format!("/proc/{}/fd/7", child.id())).unwrap(), pipe, "{what}");
        finish(child);
    };
    for close_range in [true, false] {
        let _c = (!close_range).then(|| fault::inject(Call::CloseRange, libc::ENOSYS));
        check(&format!("default vfork clone(3), close_range {close_range}"), false);
        {
            let _g = fault::inject(Call::Clone3, libc::ENOSYS);
            check(&format!("vfork clone, close_range {close_range}"), false);
        }
        if fork {
            let _g = without(Feature::ClonePidfd);
            check(&format!("fork, close_range {close_range}"), false);
        }
        if tmp.is_some() && Feature::CloneIntoCgroup.is_supported() {
            check(&format!("clone3 into a cgroup, close_range {close_range}"), true);
        }
    }
    drop((low, high, many));
}

// ---------------------------------------------------------------------------------------------
// pidfd::Command's fast paths: the vfork clone3 (CLONE_CLEAR_SIGHAND), /dev/null opened by the
// child, the environment passed as it is, the cached child stack.
// ---------------------------------------------------------------------------------------------

/// Runs `check` once on each creation path this system has, saying which (the paths without
/// a cgroup: the default vfork clone3, the vfork clone, the fork-like clone, the fork), and
/// checks the path taken.
fn on_each_path(mut check: impl FnMut(&str)) {
    use crate::sys::Method;
    check("default");
    let default = if crate::method::clone3_vfork_usable() { Method::Clone3Vfork } else { Method::VforkClone };
    assert_eq!(fault::last_spawned(), Some(default));
    {
        let _g = fault::inject(Call::Clone3, libc::ENOSYS);
        check("vfork clone");
        assert_eq!(fault::last_spawned(), Some(Method::VforkClone));
    }
    {
        let _g = fault::inject(Call::Vfork, libc::EPERM);
        check("fork-like clone");
        assert_eq!(fault::last_spawned(), Some(Method::ForkClone));
    }
    if Feature::PidfdOpen.is_supported() {
        let _g = without(Feature::ClonePidfd);
        check("fork");
        assert_eq!(fault::last_spawned(), Some(Method::Fork));
    }
}

/// The access mode (`O_RDONLY`, `O_WRONLY`, `O_RDWR`) of fd `fd` of `pid`, from its fdinfo.
fn access_mode(pid: i32, fd: i32) -> i32 {
    let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).unwrap();
    let flags = info.lines().find_map(|l| l.strip_prefix("flags:")).unwrap().trim();
    i32::from_str_radix(flags, 8).unwrap() & libc::O_ACCMODE
}

/// Spawns `sleep 100` configured by `configure` and checks the child's fds: exactly the numbers
/// of `expected` (once its dynamic loader has closed what it opened), each `(fd, Some(mode))`
/// being `/dev/null` open with that access mode. Then kills and reaps it.
fn check_child_fds(what: &str, configure: impl FnOnce(&mut crate::Command), expected: &[(i32, Option<i32>)]) {
    let mut cmd = crate::Command::new("sleep");
    cmd.arg("100");
    configure(&mut cmd);
    let mut child = cmd.spawn().unwrap();
    let pid = child.id();
    // Killed by pid (our unreaped child: the pid cannot be reused) even when an assertion
    // below fails, or where a policy refuses pidfd_send_signal: a `sleep 100` left behind
    // would hold the streams it inherited (a caller reading them to EOF would wait for it).
    struct KillOnDrop(i32);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = crate::sys::kill(self.0, libc::SIGKILL);
        }
    }
    let guard = KillOnDrop(pid);
    let numbers: Vec<i32> = expected.iter().map(|&(fd, _)| fd).collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let fds = fds_of(pid);
        if fds == numbers {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{what}: the child holds fds {fds:?}, not {numbers:?}");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    for &(fd, mode) in expected {
        let Some(mode) = mode else { continue };
        let link = std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).unwrap();
        assert_eq!(link, std::path::Path::new("/dev/null"), "{what}: fd {fd}");
        assert_eq!(access_mode(pid, fd), mode, "{what}: fd {fd}");
    }
    drop(guard);
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL), "{what}");
}

/// `Stdio::Null`: the child opens `/dev/null` itself, read-only as stdin and write-only as
/// stdout and stderr, on every creation path, with and without `close_range`, and holds no
/// other fd (the parent opens none for it).
#[test]
fn null_stdio_is_opened_by_the_child_on_every_path() {
    let high = crate::sys::test_support::inheritable_fd(900);
    let (r, w) = (libc::O_RDONLY, libc::O_WRONLY);
    let all_null = |c: &mut crate::Command| {
        c.stdin(crate::Stdio::Null).stdout(crate::Stdio::Null).stderr(crate::Stdio::Null);
    };
    let tmp = TempCgroup::new("null");
    for close_range in [true, false] {
        let _c = (!close_range).then(|| fault::inject(Call::CloseRange, libc::ENOSYS));
        on_each_path(|path| {
            let what = format!("{path}, close_range {close_range}");
            check_child_fds(&what, all_null, &[(0, Some(r)), (1, Some(w)), (2, Some(w))]);
        });
        if let (Some(t), true) = (&tmp, Feature::CloneIntoCgroup.is_supported()) {
            let cgroup = |c: &mut crate::Command| {
                all_null(c);
                c.cgroup(std::fs::File::open(&t.0).unwrap().into());
            };
            check_child_fds("clone3 into a cgroup", cgroup, &[(0, Some(r)), (1, Some(w)), (2, Some(w))]);
            assert!(matches!(fault::last_spawned(), Some(crate::sys::Method::Clone3Cgroup { .. })));
        }
    }
    // One stream null, the others inherited as they are.
    let std_fd = |fd: i32| std::fs::read_link(format!("/proc/self/fd/{fd}")).is_ok().then_some((fd, None));
    let expected: Vec<(i32, Option<i32>)> = [std_fd(0), Some((1, Some(w))), std_fd(2)].into_iter().flatten().collect();
    check_child_fds(
        "stdout null only",
        |c| {
            c.stdout(crate::Stdio::Null);
        },
        &expected,
    );
    drop(high);
}

/// A fork-like child (the raw clone3 into a cgroup, which bypasses libc's `fork`, and the fork
/// path) calls no libc function that takes a lock: another thread may hold it at the instant of
/// the clone, and the child, holding a copy of it locked by a thread it does not have, would
/// wait for it forever (its parent with it). musl's `sigaction` takes a lock for `SIGABRT`, so
/// a thread querying that disposition in a loop meanwhile catches a child that calls it (the
/// kernel matrix runs musl binaries; glibc's `sigaction` takes none). Each path spawns in a
/// worker thread so that a child stuck this way fails the test instead of hanging it.
#[test]
fn fork_like_children_take_no_libc_lock_another_thread_may_hold() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let tmp = TempCgroup::new("locks");
    let mut paths: Vec<&str> = Vec::new();
    if Feature::PidfdOpen.is_supported() {
        paths.push("fork");
    }
    if tmp.is_some() && Feature::CloneIntoCgroup.is_supported() {
        paths.push("clone3 into a cgroup");
    }
    if paths.is_empty() {
        eprintln!("skipped: neither fork-like path is usable here (no pidfd_open, no writable cgroup2 with clone3)");
        return;
    }
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let churn = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                crate::sys::test_support::libc_sigaction_query(libc::SIGABRT);
            }
        })
    };
    for path in paths {
        let cgroup = tmp.as_ref().map(|t| t.0.clone());
        let (done, finished) = std::sync::mpsc::channel();
        let n = iterations(200, 40);
        std::thread::spawn(move || {
            let _g = (path == "fork").then(|| without(Feature::ClonePidfd));
            for _ in 0..n {
                let mut cmd = crate::Command::new("true");
                if let (true, Some(dir)) = (path != "fork", &cgroup) {
                    cmd.cgroup(std::fs::File::open(dir).unwrap().into());
                }
                let mut child = cmd.spawn().unwrap();
                assert!(child.wait().unwrap().success());
            }
            done.send(()).unwrap();
        });
        let waited = finished.recv_timeout(std::time::Duration::from_secs(60));
        assert!(
            waited.is_ok(),
            "{path}: {n} spawns did not finish in 60 s: a child waits for a lock held at its creation"
        );
    }
    stop.store(true, Ordering::Relaxed);
    churn.join().unwrap();
}

const CLOSED_STD_FDS: &str = "PIDFD_TEST_CLOSED_STD_FDS";
const CLOSED_STD_FDS_DONE: &str = "closed standard fds: every case checked";

/// `Stdio::Null` in a parent whose fds 0 and 1 are closed: the child's `/dev/null` may land on
/// its own target (kept), or on a closed standard fd that is not a target (closed again after
/// the `dup2`). Runs in a subprocess (this test binary re-executed for this test alone), since
/// closing fds 0 and 1 would disturb the other tests.
#[test]
fn null_stdio_when_the_parent_has_its_standard_fds_closed() {
    if std::env::var_os(CLOSED_STD_FDS).is_some() {
        closed_std_fds_cases();
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "tests::null_stdio_when_the_parent_has_its_standard_fds_closed", "--nocapture"])
        .env(CLOSED_STD_FDS, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains(CLOSED_STD_FDS_DONE), "the subprocess did not run the cases: {err}");
}

fn closed_std_fds_cases() {
    crate::sys::test_support::close_fd(0);
    crate::sys::test_support::close_fd(1);
    assert!(std::fs::read_link("/proc/self/fd/0").is_err() && std::fs::read_link("/proc/self/fd/1").is_err());
    let (r, w) = (libc::O_RDONLY, libc::O_WRONLY);
    on_each_path(|path| {
        check_child_fds(
            &format!("{path}: stdin and stdout null"),
            |c| {
                c.stdin(crate::Stdio::Null).stdout(crate::Stdio::Null);
            },
            &[(0, Some(r)), (1, Some(w)), (2, None)],
        );
        check_child_fds(
            &format!("{path}: stdout null, stdin closed"),
            |c| {
                c.stdout(crate::Stdio::Null);
            },
            &[(1, Some(w)), (2, None)],
        );
        check_child_fds(
            &format!("{path}: stdin null, stdout closed"),
            |c| {
                c.stdin(crate::Stdio::Null);
            },
            &[(0, Some(r)), (2, None)],
        );
        check_child_fds(
            &format!("{path}: stdin null, stdout piped"),
            |c| {
                c.stdin(crate::Stdio::Null).stdout(crate::Stdio::Piped);
            },
            &[(0, Some(r)), (1, None), (2, None)],
        );
    });
    eprintln!("{CLOSED_STD_FDS_DONE}");
}

/// The process's environment as std sees it, entry by entry, in `environ`'s order.
fn parent_environ() -> Vec<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    std::env::vars_os().map(|(k, v)| [k.as_bytes(), b"=", v.as_bytes()].concat()).collect()
}

/// The environment a child got: `cat /proc/self/environ`, entry by entry.
fn child_environ(cmd: &mut crate::Command) -> Vec<Vec<u8>> {
    let out = cmd.arg("/proc/self/environ").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out.stdout.split(|&b| b == 0).filter(|e| !e.is_empty()).map(<[u8]>::to_vec).collect()
}

/// Without env settings the child gets the environment std sees, entry for entry and in order; with
/// them, the parent's other entries in order, then the set ones; `env_clear` gives exactly
/// the set ones. On every creation path.
#[test]
fn environment_passed_as_it_is_or_changed_exactly() {
    use std::os::unix::ffi::OsStrExt;
    let parent = parent_environ();
    let key_of = |e: &[u8]| e.iter().skip(1).position(|&b| b == b'=').map(|eq| e[..eq + 1].to_vec());
    let keys: Vec<Vec<u8>> = parent.iter().filter_map(|e| key_of(e)).collect();
    let added = b"PIDFD_TEST_ADDED".to_vec();
    on_each_path(|path| {
        assert_eq!(child_environ(&mut crate::Command::new("cat")), parent, "{path}: unmodified");

        let mut cmd = crate::Command::new("cat");
        let mut set: Vec<Vec<u8>> = vec![[added.as_slice(), b"=1"].concat()];
        let mut changed = vec![added.clone()];
        cmd.env(std::ffi::OsStr::from_bytes(&added), "1");
        if let Some(k) = keys.first() {
            cmd.env(std::ffi::OsStr::from_bytes(k), "overridden");
            set.push([k.as_slice(), b"=overridden"].concat());
            changed.push(k.clone());
        }
        if let Some(k) = keys.iter().find(|k| !changed.contains(k)) {
            cmd.env_remove(std::ffi::OsStr::from_bytes(k));
            changed.push(k.clone());
        }
        set.sort();
        let mut expected: Vec<Vec<u8>> =
            parent.iter().filter(|e| key_of(e).is_some_and(|k| !changed.contains(&k))).cloned().collect();
        expected.extend(set);
        assert_eq!(child_environ(&mut cmd), expected, "{path}: modified");

        let cleared = child_environ(crate::Command::new("cat").env_clear().env("ONLY", "this"));
        assert_eq!(cleared, [b"ONLY=this".to_vec()], "{path}: cleared");
    });
}

/// The dispositions a child starts with: caught signals reset (by `CLONE_CLEAR_SIGHAND` or the
/// child's own loop), ignored ones kept but SIGPIPE, all reset with `reset_signals(true)`: the
/// same on every creation path.
#[test]
fn signal_dispositions_are_the_same_on_every_path() {
    use crate::sys::test_support::set_disposition;
    let (caught, ignored) = (libc::SIGRTMIN() + 5, libc::SIGRTMIN() + 6);
    struct Restore(i32, i32);
    impl Drop for Restore {
        fn drop(&mut self) {
            set_disposition(self.0, None);
            set_disposition(self.1, None);
        }
    }
    set_disposition(caught, Some(true));
    set_disposition(ignored, Some(false));
    let _restore = Restore(caught, ignored);
    let bit = |sig: i32| 1u64 << (sig - 1);
    let masks = |cmd: &mut crate::Command| {
        let out = cmd.arg("/proc/self/status").output().unwrap();
        let out = String::from_utf8(out.stdout).unwrap();
        let field = |key: &str| {
            let v = out.lines().find_map(|l| l.strip_prefix(key)).unwrap();
            u64::from_str_radix(v.trim(), 16).unwrap()
        };
        (field("SigIgn:"), field("SigCgt:"))
    };
    on_each_path(|path| {
        let (ign, cgt) = masks(&mut crate::Command::new("cat"));
        assert_ne!(ign & bit(ignored), 0, "{path}: an ignored signal stays ignored");
        assert_eq!(ign & bit(libc::SIGPIPE), 0, "{path}: SIGPIPE is reset");
        assert_eq!((ign | cgt) & bit(caught), 0, "{path}: a caught signal is reset");
        let (ign, _) = masks(crate::Command::new("cat").reset_signals(true));
        assert_eq!(ign, 0, "{path}: reset_signals(true) resets every disposition");
    });
}

/// The child-stack slot: a stack taken is nobody else's until given back; a second taker gets
/// its own mapping; giving back keeps one cached (the other unmapped); the cached one is reused.
#[test]
fn child_stack_slot_lends_each_stack_to_one_user() {
    use crate::sys::Stack;
    use crate::sys::test_support::{slot_holds, touch_stack};
    static SLOT: std::sync::atomic::AtomicPtr<libc::c_void> = std::sync::atomic::AtomicPtr::new(std::ptr::null_mut());
    let mapped = fault::stacks_mapped();
    let a = Stack::take(&SLOT).unwrap();
    assert!(slot_holds(&SLOT).is_null());
    let b = Stack::take(&SLOT).unwrap();
    assert_ne!(a.base(), b.base());
    assert_eq!(fault::stacks_mapped(), mapped + 2);
    assert_eq!(touch_stack(&a), (0xa5, 0x5a));
    assert_eq!(touch_stack(&b), (0xa5, 0x5a));
    let a_base = a.base();
    drop(a);
    assert_eq!(slot_holds(&SLOT), a_base);
    drop(b);
    assert_eq!(slot_holds(&SLOT), a_base, "a second stack given back is unmapped, not cached");
    let c = Stack::take(&SLOT).unwrap();
    assert_eq!(c.base(), a_base);
    assert_eq!(fault::stacks_mapped(), mapped + 2, "the cached stack is reused, not mapped again");
    assert!(slot_holds(&SLOT).is_null());
    assert_eq!(touch_stack(&c), (0xa5, 0x5a));
}

/// Spawns from several threads at once, on both vfork paths, with the environment passed as it
/// is and changed: each child runs what it was given (no two children share a stack).
#[test]
fn concurrent_spawns_from_many_threads() {
    let threads: Vec<_> = (0..6)
        .map(|t| {
            std::thread::spawn(move || {
                let _g = (t % 2 == 1).then(|| fault::inject(Call::Clone3, libc::ENOSYS));
                for i in 0..iterations(20, 6) {
                    let value = format!("{t}-{i}");
                    let out = if i % 2 == 0 {
                        crate::Command::new("echo").arg(&value).output().unwrap()
                    } else {
                        crate::Command::new("sh")
                            .args(["-c", "echo \"$PIDFD_TEST_SPAWNER\""])
                            .env("PIDFD_TEST_SPAWNER", &value)
                            .output()
                            .unwrap()
                    };
                    assert!(out.status.success(), "{value}: {:?}", out.status);
                    assert_eq!(String::from_utf8(out.stdout).unwrap(), format!("{value}\n"));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

const CLONE3_REFUSAL: &str = "PIDFD_TEST_CLONE3_REFUSAL";
const CLONE3_REFUSAL_DONE: &str = "clone3 refusal: checked";
const CLONE3_REFUSAL_SKIPPED: &str = "clone3 refusal: skipped";

/// The kernel itself (here a seccomp filter on the vfork clone3) answering `EINVAL` (no
/// `CLONE_CLEAR_SIGHAND` before 5.5) or `ENOSYS`: the spawn falls back to the vfork clone and
/// later spawns go there at once; an `EPERM` (a policy, which may change) falls back but is
/// asked again. Each in a subprocess (the filter stays on its thread; the memory is global).
#[test]
fn clone3_refused_by_the_kernel_falls_back_and_is_remembered_if_definite() {
    if let Some(errno) = std::env::var_os(CLONE3_REFUSAL) {
        clone3_refusal_case(errno.to_str().unwrap().parse().unwrap());
        return;
    }
    for errno in [libc::EINVAL, libc::ENOSYS, libc::EPERM] {
        let out = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "tests::clone3_refused_by_the_kernel_falls_back_and_is_remembered_if_definite"])
            .arg("--nocapture")
            .env(CLONE3_REFUSAL, errno.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "errno {errno}: {err}");
        assert!(
            err.contains(CLONE3_REFUSAL_DONE) || err.contains(CLONE3_REFUSAL_SKIPPED),
            "errno {errno}: the subprocess did not run the case: {err}"
        );
    }
}

fn clone3_refusal_case(errno: i32) {
    use crate::sys::Method;
    let spawn = || {
        let (child, _) = spawn_reporting(&mut crate::Command::new("sh"));
        finish(child);
        fault::last_spawned()
    };
    if !cfg!(target_endian = "little") || !crate::method::clone3_vfork_usable() {
        eprintln!("{CLONE3_REFUSAL_SKIPPED}: no vfork clone3 here");
        return;
    }
    if spawn() != Some(Method::Clone3Vfork) {
        // The kernel itself refused it (before 5.5 `CLONE_CLEAR_SIGHAND` is EINVAL; the
        // emulated 5.4 row says so too): that refusal is definite and remembered.
        assert!(crate::method::clone3_vfork_refused(), "errno {errno}: the vfork clone3 was not used, nor refused");
        eprintln!("{CLONE3_REFUSAL_SKIPPED}: the kernel refuses the vfork clone3 already");
        return;
    }
    if !crate::sys::test_support::refuse_vfork_clone3(errno) {
        eprintln!("{CLONE3_REFUSAL_SKIPPED}: cannot install a seccomp filter here");
        return;
    }
    assert_eq!(spawn(), Some(Method::VforkClone), "errno {errno}: falls back");
    let definite = errno != libc::EPERM;
    assert_eq!(crate::method::clone3_vfork_refused(), definite, "errno {errno}: remembered");
    assert_eq!(crate::method::clone3_vfork_usable(), !definite, "errno {errno}");
    assert_eq!(spawn(), Some(Method::VforkClone), "errno {errno}: the next spawn");
    eprintln!("{CLONE3_REFUSAL_DONE}");
}

mod cgroup;
mod hardening;
