use std::os::fd::{AsRawFd, OwnedFd};

use pidfd::{Error, Feature, OpenFlags, PidFd};

use crate::support::{held, require, require_all, self_pidfd};

#[test]
fn open_self_names_self() {
    let Some(fd) = self_pidfd() else { return };
    assert_eq!(fd.pid().unwrap(), std::process::id() as i32);
    assert!(!fd.is_thread().unwrap());
}

#[test]
fn bad_pids_are_rejected() {
    assert!(matches!(PidFd::open(0), Err(Error::InvalidInput(_))));
    assert!(matches!(PidFd::open(-1), Err(Error::InvalidInput(_))));
    assert!(matches!(PidFd::open(i32::MIN), Err(Error::InvalidInput(_))));
    if !require(Feature::PidfdOpen) {
        return;
    }
    assert!(matches!(PidFd::open(i32::MAX), Err(Error::NoSuchProcess { pid: i32::MAX })));
    let e: std::io::Error = PidFd::open(i32::MAX).unwrap_err().into();
    assert_eq!(e.raw_os_error(), Some(libc::ESRCH));
}

#[test]
fn thread_ids_need_the_thread_flag() {
    if !require(Feature::PidfdOpen) {
        return;
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let t = std::thread::spawn(move || {
        let tid: i32 =
            std::fs::read_link("/proc/thread-self").unwrap().file_name().unwrap().to_str().unwrap().parse().unwrap();
        tx.send(tid).unwrap();
        done_rx.recv().unwrap();
    });
    let tid = rx.recv().unwrap();
    assert!(matches!(PidFd::open(tid), Err(Error::NotThreadGroupLeader { pid }) if pid == tid));
    if require(Feature::PidfdThread) {
        let fd = PidFd::open_with(tid, OpenFlags::THREAD).unwrap();
        assert!(fd.is_thread().unwrap());
        assert_eq!(fd.pid().unwrap(), tid);
    } else {
        assert!(matches!(
            PidFd::open_with(tid, OpenFlags::THREAD),
            Err(Error::Unsupported { feature: Feature::PidfdThread })
        ));
    }
    done_tx.send(()).unwrap();
    t.join().unwrap();
}

#[test]
fn nonblock_flag() {
    if !require_all(&[Feature::PidfdOpen, Feature::PidfdNonblock]) {
        return;
    }
    let fd = PidFd::open_with(std::process::id() as i32, OpenFlags::NONBLOCK).unwrap();
    assert!(fd.is_nonblocking().unwrap());
    let fd = PidFd::from_self().unwrap();
    assert!(!fd.is_nonblocking().unwrap());
}

#[test]
fn try_from_checks_the_fd_is_a_pidfd() {
    let file: OwnedFd = std::fs::File::open("/dev/null").unwrap().into();
    assert!(matches!(PidFd::try_from(file), Err(Error::NotPidfd)));
    let dir: OwnedFd = std::fs::File::open("/proc/self").unwrap().into();
    assert!(matches!(PidFd::try_from(dir), Err(Error::NotPidfd)));
    let Some(real) = self_pidfd() else { return };
    let real: OwnedFd = real.into();
    let back = PidFd::try_from(real).unwrap();
    assert_eq!(back.pid().unwrap(), std::process::id() as i32);
}

#[test]
fn unique_id_matches_fstat_and_is_shared() {
    if !require(Feature::PidfdOpen) {
        return;
    }
    if !require(Feature::Pidfs) {
        assert!(matches!(PidFd::from_self().unwrap().id(), Err(Error::Unsupported { .. })));
        return;
    }
    // A 32-bit target reads the 64-bit id from the pidfs file handle (6.14) alone.
    if cfg!(target_pointer_width = "32") && !require(Feature::FileHandles) {
        let id = PidFd::from_self().unwrap().id();
        assert!(matches!(id, Err(Error::Unsupported { feature: Feature::FileHandles })), "{id:?}");
        return;
    }
    let a = PidFd::from_self().unwrap();
    let b = PidFd::from_self().unwrap();
    let ino = std::fs::metadata(format!("/proc/self/fd/{}", a.as_raw_fd()));
    // The /proc/self/fd symlink resolves to the pidfs inode itself; a 32-bit kernel's inode
    // number is the id's low half.
    let ino = std::os::unix::fs::MetadataExt::ino(&ino.unwrap());
    if cfg!(target_pointer_width = "64") {
        assert_eq!(a.id().unwrap(), ino);
    } else {
        assert_eq!(a.id().unwrap() & 0xffff_ffff, ino & 0xffff_ffff);
    }
    assert_eq!(a.id().unwrap(), b.id().unwrap());
    let Some((h, c)) = held("exit 0") else { return };
    assert_ne!(c.id().unwrap(), a.id().unwrap());
    drop(h);
}

#[test]
fn reopen_by_id() {
    if !require(Feature::FileHandles) {
        assert!(PidFd::open_by_id(1, OpenFlags::empty()).is_err());
        return;
    }
    let Some((mut h, fd)) = held("exit 0") else { return };
    let again = PidFd::open_by_id(fd.id().unwrap(), OpenFlags::empty()).unwrap();
    assert_eq!(again.pid().unwrap(), h.pid);
    assert_eq!(again.id().unwrap(), fd.id().unwrap());
    h.release();
    fd.wait().unwrap();
    assert!(matches!(PidFd::open_by_id(fd.id().unwrap(), OpenFlags::empty()), Err(Error::Exited)));
}
