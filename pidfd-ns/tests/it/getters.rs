//! The getter: every kind, through the ioctl (or the fallback where the kernel lacks it), is
//! the namespace `/proc/<pid>/ns/<name>` names; exited processes are `Exited`.

use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;

use pidfd::{Feature, PidFd};
use pidfd_ns::{Error, Namespace, NsFd, PidFdNsExt};

use crate::support::{
    Held, Setup, all_new, can_hold_an_init, can_open_pidfds, kernel_has, proc_ino, raw_ns_u64, require, self_pidfd,
};

#[test]
fn every_kind_of_self_is_what_proc_shows() {
    let Some(me) = self_pidfd() else { return };
    let pid = std::process::id() as i32;
    for ns in Namespace::ALL {
        let Some(expected) = proc_ino(pid, ns) else {
            assert!(matches!(me.namespace(ns), Err(Error::NamespaceDisabled { .. })), "{ns}");
            continue;
        };
        let fd = me.namespace(ns).unwrap();
        assert_eq!(fd.namespace(), ns);
        assert_eq!(fd.id().unwrap(), expected, "{ns}");
    }
}

#[test]
fn every_kind_of_a_child_in_new_namespaces_is_what_proc_shows() {
    if !can_hold_an_init() {
        return;
    }
    let _ = require(Feature::NamespaceIoctls);
    // With an init in its new PID namespace: before one exists, /proc shows no
    // pid_for_children.
    let held = Held::with_init(all_new(), Setup { hostname: Some("ns-getters"), ..Setup::default() });
    let me = PidFd::from_self().unwrap();
    let mut checked = 0;
    for ns in Namespace::ALL {
        let Some(expected) = proc_ino(held.pid, ns) else { continue };
        let theirs = held.fd.namespace(ns).unwrap();
        assert_eq!(theirs.id().unwrap(), expected, "{ns}");
        let ours = me.namespace(ns).unwrap();
        // unshare(CLONE_NEWPID) moves only the children of the caller.
        assert_eq!(theirs.is_same_namespace(&ours).unwrap(), ns == Namespace::Pid, "{ns}");
        checked += 1;
    }
    assert_eq!(checked, Namespace::ALL.iter().filter(|&&ns| kernel_has(ns)).count(), "every kind the kernel has");
}

#[test]
fn namespace_type_and_conversions() {
    let Some(me) = self_pidfd() else { return };
    for ns in Namespace::ALL {
        let fd = match me.namespace(ns) {
            Ok(fd) => fd,
            Err(Error::NamespaceDisabled { .. }) => continue,
            Err(e) => panic!("{ns}: {e}"),
        };
        let ty = fd.namespace_type().unwrap();
        let want = match ns {
            Namespace::PidForChildren => Namespace::Pid,
            Namespace::TimeForChildren => Namespace::Time,
            other => other,
        };
        assert_eq!(ty, want);
        assert_eq!(ty.clone_flag(), ns.clone_flag());
        assert_eq!(Namespace::from_proc_name(ns.proc_name()), Some(ns));
        // Back and forth through OwnedFd: the type comes from the kernel.
        let id = fd.id().unwrap();
        let raw: OwnedFd = fd.into();
        let again = NsFd::try_from(raw).unwrap();
        assert_eq!(again.namespace(), want);
        assert_eq!(again.id().unwrap(), id);
        assert_eq!(again.try_clone().unwrap().id().unwrap(), id);
    }
    let file: OwnedFd = std::fs::File::open("/dev/null").unwrap().into();
    assert!(matches!(NsFd::try_from(file), Err(Error::Pidfd(pidfd::Error::InvalidInput(_)))));
    let opened: OwnedFd = std::fs::File::open("/proc/self/ns/uts").unwrap().into();
    assert_eq!(NsFd::try_from(opened).unwrap().namespace(), Namespace::Uts);
}

#[test]
fn current_thread_namespaces() {
    for ns in Namespace::ALL {
        // A kernel built without a namespace type (32-bit ARM has no time namespaces) has no
        // /proc entry for it, and the getter says so.
        if !std::path::Path::new(&format!("/proc/thread-self/ns/{}", ns.proc_name())).exists() {
            let got = NsFd::of_current_thread(ns);
            assert!(matches!(got, Err(Error::NamespaceDisabled { namespace }) if namespace == ns), "{got:?}");
            eprintln!("{ns}: this kernel has no such namespace");
            continue;
        }
        let fd = NsFd::of_current_thread(ns).unwrap();
        let want = std::fs::metadata(format!("/proc/thread-self/ns/{}", ns.proc_name())).unwrap().ino();
        assert_eq!(fd.id().unwrap(), want);
    }
}

/// `unique_id` answers exactly what the kernel answers to the ioctl itself (asked here
/// directly): the same id where the kernel has `NS_GET_ID` (6.18) or, for mount namespaces,
/// `NS_GET_MNTNS_ID` (6.11, with the namespace ioctls), and `Unsupported` only where it has
/// neither. Two namespaces have two ids; one namespace seen twice, one id.
#[test]
fn unique_ids_are_per_namespace() {
    if !can_open_pidfds() {
        return;
    }
    let held = Held::waiting(libc::CLONE_NEWNET | libc::CLONE_NEWNS, Setup::default());
    let me = PidFd::from_self().unwrap();
    for ns in [Namespace::Net, Namespace::Mount] {
        let (a, b) = (me.namespace(ns).unwrap(), NsFd::of_current_thread(ns).unwrap());
        let c = held.fd.namespace(ns).unwrap();
        let raw = |fd: &NsFd| {
            raw_ns_u64(fd, pidfd_sys::NS_GET_ID).or_else(|| {
                if ns != Namespace::Mount {
                    return None;
                }
                raw_ns_u64(fd, pidfd_sys::NS_GET_MNTNS_ID).or_else(|| raw_ns_u64(fd, pidfd_sys::NS_GET_MNTNS_ID_6_11))
            })
        };
        match (raw(&a), raw(&c)) {
            (Some(ra), Some(rc)) => {
                assert_eq!(a.unique_id().unwrap(), ra, "{ns}: the kernel's id");
                assert_eq!(b.unique_id().unwrap(), ra, "{ns}: same namespace, same id");
                assert_eq!(c.unique_id().unwrap(), rc, "{ns}: the kernel's id");
                assert_ne!(ra, rc, "{ns}: another namespace, another id");
            }
            (None, None) => {
                // NS_GET_MNTNS_ID came with the pidfd namespace ioctls (6.11).
                if ns == Namespace::Mount {
                    assert!(!require(Feature::NamespaceIoctls), "{ns}: 6.11 kernel without NS_GET_MNTNS_ID");
                }
                let e = a.unique_id().unwrap_err();
                let want = if ns == Namespace::Mount { pidfd::Feature::NsMountId } else { pidfd::Feature::NsId };
                assert!(!require(want), "{ns}: the probe says {want} is there, yet the id is missing");
                assert!(
                    matches!(e, Error::Pidfd(pidfd::Error::Unsupported { feature }) if feature == want),
                    "{ns}: {e:?}"
                );
                eprintln!("skipped: {ns}: the kernel has no unique namespace id ({want}, Linux {}+)", want.since());
            }
            other => panic!("{ns}: the kernel answered one namespace but not the other: {other:?}"),
        }
    }
}

#[test]
fn a_zombie_and_a_reaped_process_have_no_namespaces() {
    if !can_open_pidfds() {
        return;
    }
    let mut held = Held::waiting(libc::CLONE_NEWUTS, Setup::default());
    held.wait_zombie();
    for ns in Namespace::ALL {
        let r = held.fd.namespace(ns);
        assert!(matches!(r, Err(Error::Pidfd(pidfd::Error::Exited))), "zombie {ns}: {r:?}");
    }
    held.child.wait().unwrap();
    for ns in Namespace::ALL {
        assert!(matches!(held.fd.namespace(ns), Err(Error::Pidfd(pidfd::Error::Exited))), "reaped {ns}");
    }
    let e = held.fd.namespace(Namespace::Net).unwrap_err();
    assert_eq!(std::io::Error::from(e).raw_os_error(), Some(libc::ESRCH));
}

/// A namespace fd outlives the process it came from.
#[test]
fn a_namespace_fd_outlives_its_process() {
    if !can_open_pidfds() {
        return;
    }
    let mut held = Held::waiting(libc::CLONE_NEWUTS, Setup { hostname: Some("ns-outlives"), ..Setup::default() });
    let uts = held.fd.namespace(Namespace::Uts).unwrap();
    let id = uts.id().unwrap();
    held.release();
    held.child.wait().unwrap();
    assert_eq!(uts.id().unwrap(), id);
    let name = std::thread::spawn(move || {
        uts.enter().unwrap();
        crate::support::hostname()
    })
    .join()
    .unwrap();
    assert_eq!(name, "ns-outlives");
}

/// The ioctl path passes 0 as its argument: many calls, no error (a wrapper that leaves the
/// third argument to chance fails here with EINVAL). 20,000 calls on the host, 2,000 under the
/// kernel matrix (software emulation), which boots every kernel with a time budget.
#[test]
fn the_getter_never_fails_spuriously() {
    let Some(me) = self_pidfd() else { return };
    let calls = if std::env::var_os("PIDFD_TEST_EXPECT").is_some() { 2_000 } else { 20_000 };
    // The namespace types this kernel was built with (32-bit ARM has no time namespaces).
    let kinds: Vec<Namespace> = Namespace::ALL
        .into_iter()
        .filter(|ns| std::path::Path::new(&format!("/proc/self/ns/{}", ns.proc_name())).exists())
        .collect();
    for i in 0..calls {
        let ns = kinds[i % kinds.len()];
        me.namespace(ns).unwrap_or_else(|e| panic!("call {i} ({ns}): {e}"));
    }
}
