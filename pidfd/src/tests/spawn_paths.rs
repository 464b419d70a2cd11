//! `pidfd::Command`: every creation path, each spawning a real child that reports its own pid.

use std::io::{BufRead, BufReader};
use std::os::fd::{AsRawFd, OwnedFd};

use super::{TempCgroup, fds_of, finish, require, spawn_reporting, without};
use crate::sys::{Call, fault};
use crate::{Error, Feature, PidFd};

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
    // A refusal the seam injected is not the kernel's: it is not remembered.
    assert_eq!(
        crate::method::clone3_vfork_usable(),
        default == Method::Clone3Vfork,
        "an injected refusal was remembered"
    );
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
        let e = crate::Command::new("true").spawn_typed(false).unwrap_err();
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

/// Under the kernel matrix, the default spawn path, stated per architecture: on an architecture
/// with the trampoline (x86_64, aarch64) and a kernel with `CLONE_CLEAR_SIGHAND` (5.5; every
/// kernel with `pidfd_getfd`, 5.6, has it), the vfork clone3: a trampoline or flag set that the
/// kernel refused would otherwise pass every other test through the fallback. Everywhere else
/// (i386, armhf, powerpc64, riscv64, s390x, ...: no trampoline; or an older kernel) the vfork
/// `clone(CLONE_PIDFD)` (5.2), which must then be what ran, not the fork paths.
#[test]
fn the_vfork_clone3_is_the_default_where_the_kernel_has_it() {
    use crate::sys::Method;
    let Some(expected) = crate::__private::require::expected() else {
        eprintln!("skipped: only the kernel matrix knows whether this kernel must take the vfork clone3");
        return;
    };
    let has = |f: Feature| expected.iter().any(|e| e == f.name());
    let arch = std::env::consts::ARCH;
    let trampoline = matches!(arch, "x86_64" | "aarch64") && cfg!(target_pointer_width = "64");
    assert_eq!(crate::sys::CLONE3_VFORK, trampoline, "{arch}: the architectures with the trampoline");
    let want = if crate::sys::CLONE3_VFORK && has(Feature::Clone3) && has(Feature::PidfdGetfd) {
        Method::Clone3Vfork
    } else if has(Feature::ClonePidfd) {
        Method::VforkClone
    } else {
        Method::Fork
    };
    let (child, _) = spawn_reporting(&mut crate::Command::new("sh"));
    finish(child);
    assert_eq!(
        fault::last_spawned(),
        Some(want),
        "{arch}: the default spawn path (clone3 refused: {})",
        crate::method::clone3_vfork_refused()
    );
    // The matrix's `spawn` column: written past libtest's capture (which takes the print
    // macros' output only), so that each row says which path its architecture ran.
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "KMATRIX-SPAWN {arch} {want:?}");
}

/// The fork path's child cannot open its own pidfd: an `Exec` error with that errno.
#[test]
fn fork_child_failing_before_its_pidfd_is_an_exec_error() {
    let _g = without(Feature::ClonePidfd);
    let _o = fault::inject(Call::PidfdOpen, libc::EPERM);
    let e = crate::Command::new("true").spawn_typed(false).unwrap_err();
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
    let check = |what: &str, cgroup: bool, hook: bool| {
        let (r, w) = crate::sys::pipe().unwrap();
        let pipe = std::fs::read_link(format!("/proc/self/fd/{}", r.as_raw_fd())).unwrap();
        // A shell that says it runs: by then the dynamic loader has closed what it opened.
        let mut cmd = crate::Command::new("sh");
        cmd.args(["-c", "echo ready; read x"]).fd(w.into(), 7);
        cmd.stdin(crate::Stdio::Piped).stdout(crate::Stdio::Piped);
        if let (true, Some(t)) = (cgroup, &tmp) {
            cmd.cgroup(std::fs::File::open(&t.0).unwrap().into());
        }
        if hook {
            crate::sys::test_support::add_noop_hook(&mut cmd);
        }
        let mut child = cmd.spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line, "ready\n");
        assert_eq!(fds_of(child.id() as i32), [0, 1, 2, 7], "{what}");
        assert_eq!(std::fs::read_link(format!("/proc/{}/fd/7", child.id())).unwrap(), pipe, "{what}");
        finish(child);
    };
    for close_range in [true, false] {
        let _c = (!close_range).then(|| fault::inject(Call::CloseRange, libc::ENOSYS));
        check(&format!("default vfork clone(3), close_range {close_range}"), false, false);
        {
            let _g = fault::inject(Call::Clone3, libc::ENOSYS);
            check(&format!("vfork clone, close_range {close_range}"), false, false);
        }
        if fork {
            let _g = without(Feature::ClonePidfd);
            check(&format!("fork, close_range {close_range}"), false, false);
        }
        if tmp.is_some() && Feature::CloneIntoCgroup.is_supported() {
            check(&format!("clone3 into a cgroup, close_range {close_range}"), true, false);
        }
        // A `pre_exec` hook: the fds are marked close-on-exec (`CLOSE_RANGE_CLOEXEC`, 5.11, else
        // one `fcntl` per listed fd), and the exec closes them.
        check(&format!("fork-like with a pre_exec hook, close_range {close_range}"), false, true);
    }
    drop((low, high, many));
}
