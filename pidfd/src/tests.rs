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

/// `sh -c 'echo $$; read x; <then>'` with its pidfd and reported pid.
fn held(then: &str) -> (Child, PidFd, i32) {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &format!("echo $$; read x; {then}")]).stdin(Stdio::piped()).stdout(Stdio::piped());
    let (mut child, fd) = crate::spawn(&mut cmd).unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    (child, fd, line.trim().parse().unwrap())
}

fn release(child: &mut Child) {
    child.stdin.take().unwrap().write_all(b"\n").unwrap();
}

#[test]
fn pid_from_fdinfo() {
    let _g = without(Feature::GetInfo);
    let (mut child, fd, pid) = held("exit 0");
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
    let (mut child, fd, pid) = held("exit 0");
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
    let _g = without(Feature::WaitidPidfd);
    let (mut child, fd, _) = held("exit 3");
    assert_eq!(fd.try_wait().unwrap(), None);
    release(&mut child);
    assert_eq!(fd.wait().unwrap().code(), Some(3));
    assert_eq!(fd.wait().unwrap().code(), Some(3));
    let (_child, fd, _) = held("exit 0");
    fd.kill().unwrap();
    assert_eq!(fd.wait().unwrap().signal(), Some(libc::SIGKILL));
    let me = PidFd::from_self().unwrap();
    assert!(matches!(me.wait(), Err(Error::NotChild)));
}

#[test]
fn scoped_signals_without_pidfd_signal_flags() {
    let _g = without(Feature::SignalScope);
    let (_child, fd, _) = held("exit 0");
    fd.send_signal_to(libc::SIGTERM, SignalScope::Thread).unwrap();
    assert_eq!(fd.wait().unwrap().signal(), Some(libc::SIGTERM));

    let (_child, fd, _) = held("exit 0");
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
    let _g = without(Feature::InfoExit);
    let me = PidFd::from_self().unwrap();
    assert!(matches!(me.exit_status(), Err(Error::Unsupported { feature: Feature::InfoExit })));
}

#[test]
fn no_pidfs_no_unique_id() {
    let _g = without(Feature::Pidfs);
    let me = PidFd::from_self().unwrap();
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
    assert_eq!(Feature::PidfdOpen.support(), Support::Supported);
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
    let _g = fault::inject(Call::Fstatfs, libc::ENOSYS);
    let real: OwnedFd = PidFd::from_self().unwrap().into();
    assert!(PidFd::try_from(real).is_ok());
    let file: OwnedFd = std::fs::File::open("/dev/null").unwrap().into();
    assert!(matches!(PidFd::try_from(file), Err(Error::NotPidfd)));
}

#[test]
fn old_kernel_errnos_map_to_unsupported() {
    let me = PidFd::from_self().unwrap();
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
    let (mut gone_child, gone, _) = held("exit 0");
    release(&mut gone_child);
    gone.wait().unwrap();
    let (mut other_child, other, other_pid) = held("exit 0");
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
    let (mut gone_child, gone, _) = held("exit 0");
    let gone_again = gone.try_clone().unwrap();
    release(&mut gone_child);
    gone.wait().unwrap();
    // A zombie child of ours, waitable by pid.
    let (mut heir_child, heir, heir_pid) = held("exit 7");
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
    let (mut child, fd, pid) = held("exit 0");
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
    let (mut child, fd, pid) = held("exit 0");
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
    let (mut child, fd, _) = held("exit 0");
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
    let me = PidFd::from_self().unwrap();
    let dependents = [
        Feature::WaitidPidfd,
        Feature::SetnsPidfd,
        Feature::PidfdNonblock,
        Feature::Pidfs,
        Feature::PidfdThread,
        Feature::SignalScope,
        Feature::GetInfo,
        Feature::FileHandles,
    ];
    {
        let _g = fault::inject(Call::PidfdOpen, libc::EPERM);
        for f in dependents {
            assert_eq!(f.support(), Support::Denied { errno: libc::EPERM }, "{f:?}");
        }
        assert!(matches!(me.info(), Err(Error::Denied { feature: Feature::GetInfo, .. })));
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
    for i in 0..1000 {
        let dead = PidFd::from_owned_unchecked(crate::sys::reaped_child_pidfd().unwrap());
        assert!(matches!(dead.pid(), Err(Error::Exited)), "iteration {i}: {:?}", dead.pid());
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
        let (mut child, fd, pid) = held("kill -STOP $$; read y; exit 0");
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
    let (mut child, fd, pid) = held("exit 4");
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
    // The vfork clone.
    let (child, _) = spawn_reporting(&mut crate::Command::new("sh"));
    finish(child);
    // CLONE_PIDFD not honoured: fork, the child sends its own pidfd.
    {
        let _g = without(Feature::ClonePidfd);
        let (child, _) = spawn_reporting(&mut crate::Command::new("sh"));
        finish(child);
    }
    // The vfork clone refused at spawn time (ENOSYS, a seccomp EPERM): fork instead.
    for errno in [libc::ENOSYS, libc::EPERM] {
        let _g = fault::inject(Call::Clone, errno);
        let (child, _) = spawn_reporting(&mut crate::Command::new("sh"));
        finish(child);
    }
    // A resource error is reported, not papered over.
    {
        let _g = fault::inject(Call::Clone, libc::EAGAIN);
        let e = crate::Command::new("true").spawn().unwrap_err();
        assert!(matches!(&e, Error::Os { source, .. } if source.raw_os_error() == Some(libc::EAGAIN)), "{e:?}");
    }
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
    {
        let _g = without(Feature::CloneIntoCgroup);
        run("vfork clone, the child writes cgroup.procs");
        let _h = without(Feature::ClonePidfd);
        run("fork, the child writes cgroup.procs");
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
    let many: Vec<PidFd> = (0..300).map(|_| PidFd::from_self().unwrap()).collect();
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
        check(&format!("vfork clone, close_range {close_range}"), false);
        {
            let _g = without(Feature::ClonePidfd);
            check(&format!("fork, close_range {close_range}"), false);
        }
        if tmp.is_some() && Feature::CloneIntoCgroup.is_supported() {
            check(&format!("clone3 into a cgroup, close_range {close_range}"), true);
        }
    }
    drop((low, high, many));
}
