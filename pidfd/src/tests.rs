//! The unit tests of `pidfd`, one file per topic under `tests/`: the fallbacks and their guards,
//! the probes, waiting, signals, the creation paths of `pidfd::Command` and its fast paths, the
//! cgroup lookups, the hardening of the spawn. Here: the helpers they share.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

use crate::sys::{Call, fault};
use crate::{Feature, PidFd};

fn without(f: Feature) -> fault::Guard {
    fault::inject(Call::Feature(f), libc::ENOSYS)
}

/// `host` on the host, `matrix` under the kernel matrix (`PIDFD_TEST_EXPECT` set), where each
/// process creation costs milliseconds under QEMU's software emulation and the whole matrix has
/// a time budget. The property tested is the same; the host run does the full count.
fn iterations(host: usize, matrix: usize) -> usize {
    if std::env::var_os("PIDFD_TEST_EXPECT").is_some() { matrix } else { host }
}

// The matrix's feature contract (`require`), shared with every crate's tests.
use crate::__private::require::{require, require_all};

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

    /// The cgroup's id: the kernfs node id, read here from the directory's own file handle
    /// (not through a pidfd's `/proc` route). Its low half is the directory's inode number, and
    /// where the kernel's `ino_t` is 64-bit all of it; a 32-bit kernel's inode number is only
    /// the low half (the high half is the node's generation), so the inode number is the id
    /// only on 64-bit targets, and only those fall back on it (a kernel without file handles).
    pub(crate) fn id(&self) -> u64 {
        use std::os::fd::AsRawFd as _;
        let dir = std::fs::File::open(&self.0).unwrap();
        let ino = std::os::unix::fs::MetadataExt::ino(&dir.metadata().unwrap());
        match crate::sys::name_to_handle(dir.as_raw_fd()) {
            Ok((pidfd_sys::FILEID_KERNFS, id)) => {
                assert_eq!(id & 0xffff_ffff, ino & 0xffff_ffff, "the handle's id and the inode number");
                if cfg!(target_pointer_width = "64") {
                    assert_eq!(id, ino, "a 64-bit kernel's inode number is the whole id");
                }
                id
            }
            other => {
                // Only a 64-bit kernel's inode number is the whole id.
                if cfg!(target_pointer_width = "32") {
                    panic!("no kernfs file handle for the cgroup: {other:?}");
                }
                ino
            }
        }
    }
}

impl Drop for TempCgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// Spawns `sh -c 'echo $$; read x'` and checks that the pidfd and the pid name the child that
/// reports its `getpid()` (the shell's `$$`); returns it running.
fn spawn_reporting(cmd: &mut crate::Command) -> (crate::Child, i32) {
    cmd.args(["-c", "echo $$; read x"]).stdin(crate::Stdio::Piped).stdout(crate::Stdio::Piped);
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let reported: i32 = line.trim().parse().unwrap();
    assert_eq!(child.pidfd().pid().unwrap(), reported);
    assert_eq!(child.id(), reported as u32);
    (child, reported)
}

fn finish(mut child: crate::Child) {
    child.stdin.take().unwrap().write_all(b"\n").unwrap();
    assert!(child.wait().unwrap().success());
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

/// Runs this test binary again for `test` alone (exact path) with the environment variable
/// `key=value`, standard streams closed but stderr, and returns its stderr once it succeeded:
/// the cases that need a process of their own (closed standard fds, a seccomp filter, a lost
/// dumpable flag, a mount namespace without /proc).
fn rerun(test: &str, key: &str, value: &str) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(key, value)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{test} with {key}={value}: {err}");
    err
}

mod cgroup;
mod fallbacks;
mod guards;
mod hardening;
mod probes;
mod signals;
mod spawn_fast_paths;
mod spawn_paths;
mod waiting;
