//! The fd table is left as it was after thousands of succeeding and failing calls. A binary of
//! its own with a single test: counting `/proc/self/fd` beside other tests would race.

use std::os::fd::OwnedFd;

use pidfd::{Command, PidFd, Stdio};

fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn no_fd_leaks_on_any_path() {
    let _ = pidfd::features();
    let me = PidFd::from_self().unwrap();
    let before = fd_count();
    for _ in 0..1000 {
        let _ = PidFd::open(i32::MAX);
        let _ = PidFd::open(-5);
        let fd = PidFd::from_self().unwrap();
        let _ = fd.pid();
        let _ = fd.ppid();
        let _ = fd.credentials();
        let _ = fd.cgroup_id();
        let _ = fd.id();
        let _ = fd.info();
        let _ = fd.try_wait();
        let _ = fd.send_signal(0);
        let _ = fd.send_signal(-3);
        let _ = fd.get_fd(99_999);
        let _ = fd.access_proc(|d| d.read("comm").map(|v| v.len()));
        let _ = me.try_clone();
        let file: OwnedFd = std::fs::File::open("/dev/null").unwrap().into();
        let _ = PidFd::try_from(file);
    }
    for _ in 0..200 {
        let out = Command::new("true").stdin(Stdio::Null).stdout(Stdio::Piped).output().unwrap();
        assert!(out.status.success());
        let _ = Command::new("/nonexistent").spawn();
        let (_c, fd) = pidfd::spawn(&mut std::process::Command::new("true")).unwrap();
        fd.wait().unwrap();
    }
    assert_eq!(fd_count(), before);
}
