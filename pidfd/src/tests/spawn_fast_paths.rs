//! `pidfd::Command`'s fast paths: the vfork clone3 (`CLONE_CLEAR_SIGHAND`), `/dev/null` opened by
//! the child, the environment passed as it is, the cached child stack.

use std::os::unix::process::ExitStatusExt;

use super::{TempCgroup, fds_of, finish, iterations, on_each_path, rerun, spawn_reporting, without};
use crate::Feature;
use crate::sys::{Call, fault};

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
    let pid = child.id() as i32;
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
    let err =
        rerun("tests::spawn_fast_paths::null_stdio_when_the_parent_has_its_standard_fds_closed", CLOSED_STD_FDS, "1");
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
        let test = "tests::spawn_fast_paths::clone3_refused_by_the_kernel_falls_back_and_is_remembered_if_definite";
        let err = rerun(test, CLONE3_REFUSAL, &errno.to_string());
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
