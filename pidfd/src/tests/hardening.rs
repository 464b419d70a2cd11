//! The hardening of the spawn and signal paths (an audit's findings), each proven on real
//! processes: no stack bytes in queued signals, a parent that stays dumpable, the pidfd sent to
//! the right peer, no pid-based reap of a program that ran, every signal blocked around the
//! clone, every fd closed without `close_range` and `/proc`, a guard page of the real page size,
//! and the environment read under std's lock.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::Command;

use super::{fds_of, finish, on_each_path, require, rerun, spawn_reporting, without};
use crate::sys::test_support as ts;
use crate::sys::{Call, Method, fault};
use crate::{Feature, PidFd};

/// Runs this test binary again for `test` alone with `PIDFD_TEST_CASE=case`, and checks that the
/// case ran to its end (its last line on stderr is `case <case>: done`) or said why it skipped.
fn in_subprocess(test: &str, case: &str) {
    let err = rerun(test, "PIDFD_TEST_CASE", case);
    let done = format!("case {case}: done");
    assert!(err.contains(&done) || err.contains("skipped:"), "case {case} did not run: {err}");
    if let Some(line) = err.lines().find(|l| l.contains("skipped:")) {
        eprintln!("{line}");
    }
}

/// The case this process runs, when it is a subprocess of [`in_subprocess`].
fn case() -> Option<String> {
    std::env::var("PIDFD_TEST_CASE").ok()
}

fn done(case: &str) {
    eprintln!("case {case}: done");
}

/// Where the padding of a queued signal's `siginfo_t` lies: between `si_code` (offset 8) and
/// the pointer-aligned union (offset 16) on 64-bit targets; 32-bit ones have none (the union
/// follows `si_code` at 12): an empty range there.
const HOLE: std::ops::Range<usize> = 12..if size_of::<usize>() == 8 { 16 } else { 12 };

/// The bytes the receiver of a queued signal gets are all the sender's fields: the 4 bytes of
/// alignment padding before the payload come as zero, not as the sender's stack.
#[test]
fn queued_signals_carry_no_stack_bytes() {
    ts::block_on_this_thread(libc::SIGUSR1);
    for round in 0..8 {
        // The raw path every payload takes (the rt_tgsigqueueinfo fallback's own call).
        ts::queue_to_this_thread(libc::SIGUSR1, 0x5eed + round);
        let info = ts::take_signal(libc::SIGUSR1);
        assert!(info[HOLE].iter().all(|&b| b == 0), "padding carried {:x?}", &info[HOLE]);
        let at = ts::SI_VALUE_OFFSET;
        assert_eq!(usize::from_ne_bytes(info[at..at + size_of::<usize>()].try_into().unwrap()), 0x5eed + round);
    }
    // And through the public call on a thread pidfd (6.9), where the kernel has one.
    if require(Feature::PidfdThread) {
        let me = PidFd::open_with(crate::sys::gettid(), crate::OpenFlags::THREAD).unwrap();
        for _ in 0..8 {
            ts::dirty_stack();
            let value = crate::SigInfo::queue(crate::SigValue::Int(-7));
            me.send_signal_with(libc::SIGUSR1, crate::SignalScope::Default, value).unwrap();
            let info = ts::take_signal(libc::SIGUSR1);
            assert!(info[HOLE].iter().all(|&b| b == 0), "padding carried {:x?}", &info[HOLE]);
        }
    }
}

/// A child that changes its credentials takes a path with memory of its own: the kernel marks
/// the memory of a process whose credentials change non-dumpable, and a vfork child's memory
/// is ours. Each credential in a fresh process (the flag, once lost, does not come back).
#[test]
fn credential_changes_leave_the_parent_dumpable() {
    const TEST: &str = "tests::hardening::credential_changes_leave_the_parent_dumpable";
    let Some(case) = case() else {
        if !ts::is_root() {
            eprintln!("skipped: changing a child's uid, gid or groups needs root");
            return;
        }
        for case in ["uid", "gid", "groups", "all"] {
            in_subprocess(TEST, case);
        }
        return;
    };
    assert_eq!(ts::dumpable(), 1, "dumpable before any spawn");
    let mut cmd = crate::Command::new("sh");
    match case.as_str() {
        "uid" => cmd.uid(65534),
        "gid" => cmd.gid(65534),
        "groups" => cmd.groups(&[65534]),
        _ => cmd.uid(65534).gid(65534).groups(&[65533, 65534]),
    };
    let (child, _) = spawn_reporting(&mut cmd);
    finish(child);
    let expected = if Feature::ClonePidfd.is_supported() { Method::ForkClone } else { Method::Fork };
    assert_eq!(fault::last_spawned(), Some(expected), "{case}: the path taken");
    assert_eq!(ts::dumpable(), 1, "{case}: the parent lost its dumpable flag");
    done(&case);
}

/// `pidfd::spawn` with the parent's fds 0 and 1 closed: its socket pair would land on them and
/// std's `dup2` of the child's stdout would replace the child's end, so the pidfd would go to
/// whatever stdout is. The child's end is moved above the standard streams first.
#[test]
fn spawn_with_closed_standard_fds_sends_the_pidfd_to_us() {
    const TEST: &str = "tests::hardening::spawn_with_closed_standard_fds_sends_the_pidfd_to_us";
    if !require(Feature::PidfdOpen) {
        return;
    }
    let Some(case) = case() else {
        in_subprocess(TEST, "closed");
        return;
    };
    // A socket for the child's stdout, made while 0 and 1 are still taken.
    let (ours, theirs) = std::os::unix::net::UnixDatagram::pair().unwrap();
    ours.set_nonblocking(true).unwrap();
    ts::close_fd(0);
    ts::close_fd(1);
    let mut cmd = Command::new("true");
    cmd.stdout(OwnedFd::from(theirs));
    let (mut child, fd) = crate::spawn(&mut cmd).unwrap();
    assert_eq!(fd.pid().unwrap(), child.id() as i32);
    assert!(fd.wait().unwrap().success());
    let mut buf = [0u8; 16];
    let stray = ours.recv(&mut buf);
    assert!(stray.is_err(), "something reached the child's stdout: {stray:?}");
    drop(child.try_wait());
    done(&case);
}

/// The fork path: the child waits while the parent opens its pidfd, so every later failure is
/// reaped through the pidfd. With `SIGCHLD` ignored (children auto-reaped) and a thread reaping
/// every child with `waitpid(-1)`, children that run and children that fail before exec all
/// come back right, and none of our other children is reaped by the spawn.
#[test]
fn fork_path_children_are_reaped_through_their_pidfd() {
    const TEST: &str = "tests::hardening::fork_path_children_are_reaped_through_their_pidfd";
    if !require(Feature::PidfdOpen) {
        return;
    }
    let Some(case) = case() else {
        in_subprocess(TEST, "fork");
        return;
    };
    let _g = without(Feature::ClonePidfd);
    // A long-lived child of ours the spawns must leave alone.
    let mut bystander = crate::Command::new("sleep").arg("30").spawn().unwrap();
    ts::ignore_sigchld();
    for i in 0..20 {
        if i % 2 == 0 {
            let (mut child, _) = spawn_reporting(&mut crate::Command::new("sh"));
            child.stdin.take().unwrap().write_all(b"\n").unwrap();
            // Auto-reaped (SIGCHLD ignored): the status is there only with PIDFD_INFO_EXIT.
            match child.wait() {
                Ok(status) => assert!(status.success()),
                Err(e) => assert!(e.raw_os_error() == Some(libc::ECHILD) && !Feature::InfoExit.is_supported(), "{e:?}"),
            }
        } else {
            let e = crate::Command::new("/nonexistent/pidfd-test").spawn_typed(false).unwrap_err();
            assert!(
                matches!(&e, crate::Error::Exec { source, .. } if source.raw_os_error() == Some(libc::ENOENT)),
                "{e:?}"
            );
        }
        assert_eq!(fault::last_spawned(), Some(Method::Fork));
    }
    assert_eq!(bystander.try_wait().unwrap(), None, "the bystander was reaped by a spawn");
    bystander.kill().unwrap();
    done(&case);
}

/// A kernel that ignores `CLONE_PIDFD` (before 5.2; here the fault seam drops the flag): the
/// vfork child sees no pidfd in our shared memory and exits before running anything, the
/// fork-like one waits for a go that never comes, and the fork path runs the program, once.
#[test]
fn an_ignored_clone_pidfd_runs_the_program_once() {
    if !require(Feature::PidfdOpen) {
        return;
    }
    let dir = std::env::temp_dir().join(format!("pidfd-once-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("ran");
    // No clone3 either (5.3), as on such a kernel.
    let _n = fault::inject(Call::Clone3, libc::ENOSYS);
    let _g = fault::inject(Call::IgnorePidfdFlag, libc::EINVAL);
    let status = crate::Command::new("sh").args(["-c", "echo ran >> \"$0\""]).arg(&log).status().unwrap();
    assert!(status.success());
    assert_eq!(fault::last_spawned(), Some(Method::Fork));
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "ran\n", "the program ran more than once");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Around the clone every signal is blocked, glibc's reserved 32 and 33 too (its
/// `pthread_sigmask` leaves them out): no handler of the parent can run in a child that shares
/// its memory before the child reset it. The spawning thread's mask comes back exactly.
#[test]
fn every_signal_is_blocked_around_the_clone() {
    ts::block_on_this_thread(libc::SIGUSR2);
    let before = ts::blocked_signals();
    let old = ts::block_all_signals();
    let during = ts::blocked_signals();
    ts::restore_signals(&old);
    assert_eq!(old, before);
    assert_eq!(ts::blocked_signals(), before, "the mask came back");
    for sig in (1..=64).filter(|&s| s != libc::SIGKILL && s != libc::SIGSTOP) {
        let bit = (sig - 1) as usize;
        assert_ne!(during[bit / 64] & 1 << (bit % 64), 0, "signal {sig} was not blocked");
    }
}

/// More fds than any fixed table: 100 mapped fds arrive at their targets on every path.
#[test]
fn a_hundred_mapped_fds_arrive() {
    on_each_path(|path| {
        let mut cmd = crate::Command::new("sh");
        for target in 10..110 {
            cmd.fd(std::fs::File::open("/dev/null").unwrap().into(), target);
        }
        cmd.args(["-c", "echo ready; read x"]).stdin(crate::Stdio::Piped).stdout(crate::Stdio::Piped);
        let mut child = cmd.spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
        let expected: Vec<i32> = [0, 1, 2].into_iter().chain(10..110).collect();
        assert_eq!(fds_of(child.id() as i32), expected, "{path}");
        finish(child);
    });
}

/// Without `close_range` (before 5.9) and without `/proc`, the child closes every fd the
/// process can hold: also those above the soft `RLIMIT_NOFILE` (a process may lower its soft
/// limit below fds it holds).
#[test]
fn fds_above_the_soft_limit_are_closed_without_close_range_and_proc() {
    const TEST: &str = "tests::hardening::fds_above_the_soft_limit_are_closed_without_close_range_and_proc";
    if !require(Feature::PidfdGetfd) {
        return;
    }
    let Some(case) = case() else {
        if !ts::is_root() {
            eprintln!("skipped: hiding /proc needs a mount namespace of our own (root)");
            return;
        }
        in_subprocess(TEST, "no-proc");
        return;
    };
    // An fd just below the hard limit (4096 for a VM's init), then the soft limit far below it.
    let hard = ts::set_nofile_soft(u64::MAX);
    let high_no = (hard.min(5001) - 1) as i32;
    let high = ts::inheritable_fd(high_no);
    assert_eq!(high.as_raw_fd(), high_no);
    ts::set_nofile_soft(64);
    // Every probe answered while /proc is there (on old kernels some read fdinfo): the spawns
    // and waits below then take their usual paths.
    let _ = crate::features();
    if !ts::hide_proc() {
        eprintln!("skipped: cannot unmount /proc in a mount namespace of our own here");
        return;
    }
    assert!(std::fs::read_dir("/proc/self/fd").is_err(), "/proc is still there");
    let _c = fault::inject(Call::CloseRange, libc::ENOSYS);
    // The paths whose choice needs no probe again (forcing a feature off would make every probe
    // run again, and on old kernels some read /proc): the default vfork clone(3), the vfork
    // clone, and the fork-like clone, a child with a copy of our fd table.
    // And a child with a `pre_exec` hook, whose fds are marked close-on-exec, one by one here.
    let paths: [(&str, Option<Call>, bool); 4] = [
        ("default", None, false),
        ("vfork clone", Some(Call::Clone3), false),
        ("fork-like", Some(Call::Vfork), false),
        ("pre_exec hook", None, true),
    ];
    for (path, refused, hook) in paths {
        let _r = refused.map(|call| fault::inject(call, libc::EPERM));
        let mut cmd = crate::Command::new("sh");
        cmd.args(["-c", "echo ready; read x"]).stdin(crate::Stdio::Piped).stdout(crate::Stdio::Piped);
        if hook {
            ts::add_noop_hook(&mut cmd);
        }
        let mut child = cmd.spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
        let got = child.pidfd().get_fd(high_no);
        assert!(got.is_err(), "{path}: fd {high_no} (above the soft limit) leaked into the child");
        finish(child);
    }
    drop(high);
    done(&case);
}

/// The child stack: its guard is one page of the real page size (`AT_PAGESZ`), and the whole
/// usable size lies above it, readable and writable.
#[test]
fn the_child_stack_guard_is_one_real_page() {
    static SLOT: std::sync::atomic::AtomicPtr<libc::c_void> = std::sync::atomic::AtomicPtr::new(std::ptr::null_mut());
    let stack = crate::sys::Stack::take(&SLOT).unwrap();
    let (guard, page) = stack.guard();
    // What the kernel holds: /proc/self/maps.
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let region = |addr: usize| {
        maps.lines().find_map(|l| {
            let (range, rest) = l.split_once(' ')?;
            let (lo, hi) = range.split_once('-')?;
            let (lo, hi) = (usize::from_str_radix(lo, 16).ok()?, usize::from_str_radix(hi, 16).ok()?);
            (lo <= addr && addr < hi).then(|| (lo, hi, rest[..4].to_owned()))
        })
    };
    let (lo, hi, perms) = region(guard).expect("the guard is mapped");
    assert_eq!((lo, perms.as_str()), (guard, "---p"), "the guard page");
    assert_eq!(hi - lo, page, "the guard is exactly one page");
    let base = stack.base() as usize;
    assert_eq!(base, guard + page);
    let (lo, hi, perms) = region(base).expect("the stack is mapped");
    assert!(lo <= base && hi >= base + crate::sys::Stack::SIZE, "the usable part is {:#x}..{hi:#x}", base);
    assert_eq!(perms, "rw-p");
    drop(stack);
}

/// The environment is copied under std's lock: spawning with the environment unchanged while
/// another thread sets and removes variables gives each child a whole environment (no torn or
/// freed entry), and never crashes.
///
/// In a process of its own: the other tests compare a child's environment with ours.
#[test]
fn spawning_while_another_thread_changes_the_environment() {
    const TEST: &str = "tests::hardening::spawning_while_another_thread_changes_the_environment";
    let Some(case) = case() else {
        in_subprocess(TEST, "churn");
        return;
    };
    let rounds = super::iterations(20_000, 2_000);
    let churn = std::thread::spawn(move || ts::churn_environment(rounds));
    let mut spawned = 0;
    while !churn.is_finished() || spawned < 10 {
        let mut out = String::new();
        let mut child =
            crate::Command::new("sh").args(["-c", "echo \"$PATH\""]).stdout(crate::Stdio::Piped).spawn().unwrap();
        child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        assert!(child.wait().unwrap().success());
        assert_eq!(out.trim_end(), std::env::var("PATH").unwrap_or_default(), "the child's PATH");
        spawned += 1;
    }
    churn.join().unwrap();
    done(&case);
}
