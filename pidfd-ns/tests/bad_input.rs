//! Bad input: every public function of `pidfd-ns` given out-of-range values returns an error
//! and never panics: pids 0, negative, `i32::MIN`, `i32::MAX` for the pid translations; queries
//! on namespace kinds that do not have them; `NamespaceSet`s with bits that are no namespace
//! type (`from_bits_retain`) or none at all; fds that are not namespace fds; names and clone
//! flags that name no namespace.
//!
//! Each call runs under `catch_unwind`, so a panic is reported as such, with the input.

#[allow(dead_code, unreachable_pub)]
#[path = "it/support.rs"]
mod support;

use std::fmt::Debug;
use std::os::fd::OwnedFd;
use std::panic::{AssertUnwindSafe, catch_unwind};

use pidfd::{Feature, PidFd};
use pidfd_ns::{Error, Namespace, NamespaceSet, NsFd, PidFdNsExt, run_in_namespaces};
use support::require;

/// `f()` must return an error, without panicking; returns it.
#[track_caller]
fn error<T: Debug>(what: &str, f: impl FnOnce() -> pidfd_ns::Result<T>) -> Error {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Err(e)) => e,
        Ok(Ok(v)) => panic!("{what}: accepted, returned {v:?}"),
        Err(_) => panic!("{what}: panicked"),
    }
}

/// `f()` must return `pidfd::Error::InvalidInput` (refused before any system call).
#[track_caller]
fn invalid<T: Debug>(what: &str, f: impl FnOnce() -> pidfd_ns::Result<T>) {
    match error(what, f) {
        Error::Pidfd(pidfd::Error::InvalidInput(_)) => {}
        e => panic!("{what}: {e:?}, not InvalidInput"),
    }
}

/// Every kind of namespace fd of this thread the kernel has.
fn my_namespaces() -> Vec<NsFd> {
    Namespace::ALL.iter().filter_map(|&ns| NsFd::of_current_thread(ns).ok()).collect()
}

#[test]
fn pid_translation_with_pids_out_of_range() {
    for ns in my_namespaces() {
        let kind = ns.namespace();
        for pid in [0, -1, -2, i32::MIN, i32::MIN + 1] {
            invalid(&format!("{kind}: pid_in_namespace({pid})"), || ns.pid_in_namespace(pid));
            invalid(&format!("{kind}: tgid_in_namespace({pid})"), || ns.tgid_in_namespace(pid));
            invalid(&format!("{kind}: pid_from_namespace({pid})"), || ns.pid_from_namespace(pid));
            invalid(&format!("{kind}: tgid_from_namespace({pid})"), || ns.tgid_from_namespace(pid));
        }
        // A pid no process has: NoSuchProcess, or Unsupported before 6.11; InvalidInput for a
        // namespace that is not a PID namespace.
        for pid in [i32::MAX, 4_194_304] {
            for (what, r) in [
                ("pid_in_namespace", catch_unwind(AssertUnwindSafe(|| ns.pid_in_namespace(pid)))),
                ("tgid_in_namespace", catch_unwind(AssertUnwindSafe(|| ns.tgid_in_namespace(pid)))),
                ("pid_from_namespace", catch_unwind(AssertUnwindSafe(|| ns.pid_from_namespace(pid)))),
                ("tgid_from_namespace", catch_unwind(AssertUnwindSafe(|| ns.tgid_from_namespace(pid)))),
            ] {
                match r {
                    Ok(Err(Error::Pidfd(pidfd::Error::NoSuchProcess { pid: p }))) => assert_eq!(p, pid),
                    Ok(Err(Error::Pidfd(pidfd::Error::Unsupported { .. }))) => {}
                    Ok(Err(Error::Pidfd(pidfd::Error::InvalidInput(_)))) => {
                        assert!(!matches!(kind, Namespace::Pid | Namespace::PidForChildren))
                    }
                    other => panic!("{kind}: {what}({pid}): {other:?}"),
                }
            }
        }
    }
}

#[test]
fn queries_on_kinds_that_do_not_have_them() {
    for ns in my_namespaces() {
        let kind = ns.namespace();
        if kind != Namespace::User {
            invalid(&format!("{kind}: owner_uid"), || ns.owner_uid());
        }
        if !matches!(kind, Namespace::Pid | Namespace::PidForChildren | Namespace::User) {
            invalid(&format!("{kind}: parent"), || ns.parent());
        }
        if matches!(kind, Namespace::Pid | Namespace::User) {
            // The initial namespaces have no parent the caller may see: EPERM from the kernel
            // (or Unsupported before 4.9), never a made-up namespace.
            let initial = if kind == Namespace::Pid { pidfd_sys::PID_NS_INIT_INO } else { pidfd_sys::USER_NS_INIT_INO };
            if ns.id().ok() == Some(u64::from(initial)) {
                error(&format!("{kind}: parent of the initial namespace"), || ns.parent());
            }
        }
    }
}

#[test]
fn namespace_sets_with_unknown_bits() {
    if !require(Feature::PidfdOpen) {
        return;
    }
    let me = PidFd::from_self().unwrap();
    let unknown = [
        libc::CLONE_VM as u32,
        libc::CLONE_THREAD as u32,
        libc::CLONE_NEWUTS as u32 | libc::CLONE_FILES as u32,
        1,
        0x8000_0000,
        u32::MAX,
    ];
    for bits in unknown {
        let set = NamespaceSet::from_bits_retain(bits);
        invalid(&format!("enter_namespaces({bits:#x})"), || me.enter_namespaces(set));
        invalid(&format!("run_in_namespaces({bits:#x})"), || run_in_namespaces(&me, set, || ()));
    }
    invalid("enter_namespaces(empty)", || me.enter_namespaces(NamespaceSet::empty()));
    invalid("run_in_namespaces(empty)", || run_in_namespaces(&me, NamespaceSet::empty(), || ()));
}

#[test]
fn fds_that_are_not_namespace_fds() {
    let (r, w) = test_support::pipe();
    let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    let mut fds: Vec<(&str, OwnedFd)> = vec![
        ("/dev/null", std::fs::File::open("/dev/null").unwrap().into()),
        ("a directory", std::fs::File::open("/").unwrap().into()),
        ("/proc/self/ns (the directory)", std::fs::File::open("/proc/self/ns").unwrap().into()),
        ("a pipe's read end", r.into()),
        ("a pipe's write end", w.into()),
        ("a socket", a.into()),
    ];
    if let Ok(fd) = PidFd::from_self() {
        fds.push(("a pidfd", fd.into()));
    }
    for (what, fd) in fds {
        error(&format!("NsFd::try_from({what})"), || NsFd::try_from(fd));
    }
}

#[test]
fn names_and_flags_that_name_no_namespace() {
    for name in ["", "NET", "net\0", " net", "net/", "../net", "pid_for_children2", "mount", "x".repeat(5000).as_str()]
    {
        assert_eq!(Namespace::from_proc_name(name), None, "{name:?}");
    }
    for flag in [
        0,
        -1,
        i32::MIN,
        i32::MAX,
        libc::CLONE_VM,
        libc::CLONE_THREAD,
        libc::CLONE_NEWNET | libc::CLONE_NEWUTS,
        libc::CLONE_NEWPID | libc::CLONE_NEWUSER,
    ] {
        assert_eq!(Namespace::from_clone_flag(flag), None, "{flag:#x}");
    }
}
