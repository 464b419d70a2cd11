//! Guards and re-checks of the fallbacks.

use std::os::fd::AsRawFd;

use super::{TempCgroup, held, release, without};
use crate::sys::{Call, fault};
use crate::{Error, Feature, PidFd};

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
    assert_eq!(by_handle, tmp.id());
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
