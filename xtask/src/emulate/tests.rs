//! The filter and the supervisor at work: a child under each profile probes the calls.

use super::*;
use crate::matrix::config::Version;

fn run(profile: Profile, script: &str) -> String {
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", script]).stdout(std::process::Stdio::piped());
    let mut em = spawn(&profile, cmd).unwrap();
    let mut out = String::new();
    use std::io::Read as _;
    em.child_mut().stdout.take().unwrap().read_to_string(&mut out).unwrap();
    em.child_mut().wait().unwrap();
    em.finish();
    out
}

/// errno of a raw syscall, 0 on success.
fn sys(nr: libc::c_long, a: [libc::c_long; 5]) -> (i64, i32) {
    // SAFETY: the probes below pass valid pointers or none.
    let r = unsafe { libc::syscall(nr, a[0], a[1], a[2], a[3], a[4]) };
    let e = if r < 0 { std::io::Error::last_os_error().raw_os_error().unwrap_or(0) } else { 0 };
    (r, e)
}

/// Run by the tests below in a child under a profile: prints `PROBE name errno`.
#[test]
fn probe_child() {
    if std::env::var_os("EMULATE_PROBE").is_none() {
        return;
    }
    let me = i64::from(std::process::id());
    let (fd, e) = sys(libc::SYS_pidfd_open, [me, 0, 0, 0, 0]);
    println!("PROBE pidfd_open {e}");
    println!("PROBE pidfd_open_nonblock {}", sys(libc::SYS_pidfd_open, [me, 0x800, 0, 0, 0]).1);
    println!("PROBE pidfd_open_thread {}", sys(libc::SYS_pidfd_open, [me, 0x80, 0, 0, 0]).1);
    println!("PROBE pidfd_send_signal {}", sys(libc::SYS_pidfd_send_signal, [fd, 0, 0, 0, 0]).1);
    println!("PROBE send_signal_flags {}", sys(libc::SYS_pidfd_send_signal, [fd, 0, 0, 2, 0]).1);
    println!("PROBE send_signal_self {}", sys(libc::SYS_pidfd_send_signal, [-10000, 0, 0, 0, 0]).1);
    println!("PROBE pidfd_getfd {}", sys(libc::SYS_pidfd_getfd, [fd, 0, 0, 0, 0]).1);
    println!("PROBE process_madvise {}", sys(440, [fd, 0, 0, 0, 0]).1);
    println!("PROBE get_info {}", sys(libc::SYS_ioctl, [fd, 0xc040_ff0b, 0, 0, 0]).1);
    println!("PROBE ns_ioctl {}", sys(libc::SYS_ioctl, [fd, 0xff01, 0, 0, 0]).1);
    // SAFETY: statfs is plain data.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    let (_, e) = sys(libc::SYS_fstatfs, [fd, (&raw mut st) as libc::c_long, 0, 0, 0]);
    println!("PROBE fstatfs {e} {:#x}", st.f_type);
    let (_, e) = sys(libc::SYS_fstatfs, [1, (&raw mut st) as libc::c_long, 0, 0, 0]);
    println!("PROBE fstatfs_other {e}");
    // setns(own pidfd, CLONE_NEWUTS): re-enters our own UTS namespace (a
    // no-op) on 5.8+, EINVAL before.
    println!("PROBE setns {}", sys(libc::SYS_setns, [fd, 0x0400_0000, 0, 0, 0]).1);
    // clone3 with a non-zero cgroup field (offset 80): E2BIG before 5.7.
    let mut args = [0u64; 11];
    args[0] = 1 << 33; // CLONE_INTO_CGROUP
    args[10] = 1 << 40; // a cgroup fd the host would reject with EBADF
    let (_, e) = sys(libc::SYS_clone3, [(&raw mut args) as libc::c_long, 88, 0, 0, 0]);
    println!("PROBE clone3_cgroup {e}");
    let t = std::thread::spawn(|| 7).join().unwrap();
    println!("PROBE thread {}", if t == 7 { 0 } else { 1 });
}

fn probe(profile: Profile) -> std::collections::BTreeMap<String, String> {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "emulate::tests::probe_child", "--nocapture", "--test-threads=1"])
        .env("EMULATE_PROBE", "1")
        .stdout(std::process::Stdio::piped());
    let mut em = spawn(&profile, cmd).unwrap();
    let mut out = String::new();
    use std::io::Read as _;
    em.child_mut().stdout.take().unwrap().read_to_string(&mut out).unwrap();
    assert!(em.child_mut().wait().unwrap().success(), "{out}");
    em.finish();
    out.lines()
        .filter_map(|l| l.find("PROBE ").map(|i| &l[i + 6..]))
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[test]
fn emulated_5_4_answers_like_5_4() {
    let p = probe(Profile::Kernel(Version(5, 4)));
    let e = |k: &str| p.get(k).map(String::as_str).unwrap_or("missing");
    assert_eq!(e("pidfd_open"), "0");
    assert_eq!(e("pidfd_open_nonblock"), libc::EINVAL.to_string());
    assert_eq!(e("pidfd_open_thread"), libc::EINVAL.to_string());
    assert_eq!(e("pidfd_send_signal"), "0");
    assert_eq!(e("send_signal_flags"), libc::EINVAL.to_string());
    assert_eq!(e("pidfd_getfd"), libc::ENOSYS.to_string());
    assert_eq!(e("process_madvise"), libc::ENOSYS.to_string());
    assert_eq!(e("get_info"), libc::ENOTTY.to_string());
    assert_eq!(e("ns_ioctl"), libc::ENOTTY.to_string());
    assert_eq!(e("fstatfs"), "0 0x9041934");
    assert_eq!(e("fstatfs_other"), "0");
    assert_eq!(e("setns"), libc::EINVAL.to_string());
    assert_eq!(e("clone3_cgroup"), libc::E2BIG.to_string());
    assert_eq!(e("thread"), "0");
}

#[test]
fn emulated_5_10_keeps_5_10_features() {
    let p = probe(Profile::Kernel(Version(5, 10)));
    let e = |k: &str| p.get(k).map(String::as_str).unwrap_or("missing");
    assert_eq!(e("pidfd_open_nonblock"), "0");
    assert_eq!(e("pidfd_open_thread"), libc::EINVAL.to_string());
    assert_eq!(e("pidfd_getfd"), "0"); // duplicates our fd 0
    assert_ne!(e("clone3_cgroup"), libc::E2BIG.to_string());
    assert_eq!(e("send_signal_self"), libc::EBADF.to_string());
}

#[test]
fn container_profile_denies() {
    let p = probe(Profile::ContainerEperm);
    let e = |k: &str| p.get(k).map(String::as_str).unwrap_or("missing");
    assert_eq!(e("pidfd_open"), libc::EPERM.to_string());
    assert_eq!(e("pidfd_getfd"), libc::EPERM.to_string());
    assert_eq!(e("clone3_cgroup"), libc::ENOSYS.to_string());
    assert_eq!(e("thread"), "0"); // glibc falls back to clone on ENOSYS
}

#[test]
fn ordinary_commands_still_work() {
    // sh forks (clone or clone3 with a zeroed tail) and execs under the filter.
    assert_eq!(run(Profile::Kernel(Version(5, 4)), "echo ok; /bin/true && echo ok2"), "ok\nok2\n");
    assert_eq!(run(Profile::ContainerEperm, "echo ok"), "ok\n");
}
