//! Fallback paths and errno mappings, forced through the fault-injection seam of `sys` on
//! whatever kernel runs the tests: a pidfd feature is made to look absent (or a call to fail
//! with the errno an older kernel, a zombie or a policy gives), and the real fallback then
//! runs against real processes in real namespaces.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::process::{Child, Command, Stdio};

use pidfd::{Feature, PidFd};

use crate::sys::{Call, fault, fixture};
use crate::{Error, Namespace, NamespaceSet, NsFd, NsFeature, PidFdNsExt, run_in_namespaces};

fn without(f: Feature) -> fault::Guard {
    fault::inject(Call::Feature(f), libc::ENOSYS)
}

/// A `sh` child that has unshared `flags` (and set its hostname) before exec, and waits for
/// EOF on stdin.
struct Held {
    child: Child,
    fd: PidFd,
    pid: i32,
}

impl Held {
    fn new(flags: libc::c_int, hostname: Option<&'static [u8]>) -> Held {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo ready; read x"]).stdin(Stdio::piped()).stdout(Stdio::piped());
        fixture::unshare_before_exec(&mut cmd, flags, hostname);
        let mut child = cmd.spawn().expect("spawn sh in new namespaces");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready");
        let fd = PidFd::from_child(&child).unwrap();
        let pid = child.id() as i32;
        Held { child, fd, pid }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn zombie_state(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z')))
        .unwrap_or(false)
}

fn proc_ino(pid: i32, ns: Namespace) -> Option<u64> {
    std::fs::metadata(format!("/proc/{pid}/ns/{}", ns.proc_name())).ok().map(|m| m.ino())
}

fn thread_ino(ns: Namespace) -> u64 {
    std::fs::metadata(format!("/proc/thread-self/ns/{}", ns.proc_name())).unwrap().ino()
}

/// Whether the running kernel has namespaces of kind `ns`.
fn kernel_has(ns: Namespace) -> bool {
    std::path::Path::new("/proc/self/ns").join(ns.proc_name()).exists()
}

/// Every `CLONE_NEW*` flag of a type the kernel has.
fn all_new() -> libc::c_int {
    Namespace::ALL.into_iter().filter(|&ns| kernel_has(ns)).fold(0, |flags, ns| flags | ns.clone_flag())
}

#[test]
fn proc_fallback_agrees_with_the_ioctl_and_proc_for_every_kind() {
    let held = Held::new(all_new(), None);
    for ns in Namespace::ALL {
        let Some(expected) = proc_ino(held.pid, ns) else {
            eprintln!("no /proc/<pid>/ns/{ns} on this kernel");
            continue;
        };
        // unshare(CLONE_NEWPID) moves only the children; exec moves into time_for_children.
        if ns == Namespace::Pid {
            assert_eq!(expected, thread_ino(ns), "{ns}");
        } else {
            assert_ne!(expected, thread_ino(ns), "{ns}: the child should be in a new namespace");
        }
        if Feature::NamespaceIoctls.is_supported() {
            let via_ioctl = held.fd.namespace(ns).unwrap();
            assert_eq!(via_ioctl.id().unwrap(), expected, "{ns} via the ioctl");
        }
        let _g = without(Feature::NamespaceIoctls);
        let via_proc = held.fd.namespace(ns).unwrap();
        assert_eq!(via_proc.namespace(), ns);
        assert_eq!(via_proc.id().unwrap(), expected, "{ns} via /proc");
    }
}

/// After `unshare(CLONE_NEWPID)` and before any process exists in the new namespace, /proc
/// hides `pid_for_children`: the fallback says so instead of inventing an answer.
#[test]
fn unpopulated_pid_for_children() {
    let held = Held::new(libc::CLONE_NEWPID, None);
    assert_eq!(proc_ino(held.pid, Namespace::PidForChildren), None);
    eprintln!("ioctl: {:?}", held.fd.namespace(Namespace::PidForChildren).map(|f| f.id()));
    let _g = without(Feature::NamespaceIoctls);
    match held.fd.namespace(Namespace::PidForChildren) {
        Err(Error::Os { op, source }) => {
            assert!(op.contains("no process exists"), "{op}");
            assert_eq!(source.raw_os_error(), Some(libc::ENOENT));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn proc_fallback_for_a_zombie_and_a_reaped_process_is_exited() {
    let mut held = Held::new(0, None);
    drop(held.child.stdin.take());
    for _ in 0..500 {
        if zombie_state(held.pid) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(zombie_state(held.pid), "the child should be a zombie now");
    for ns in Namespace::ALL {
        assert!(matches!(held.fd.namespace(ns), Err(Error::Exited)), "zombie, ioctl: {ns}");
        let _g = without(Feature::NamespaceIoctls);
        let r = held.fd.namespace(ns);
        assert!(matches!(r, Err(Error::Exited)), "zombie, /proc: {ns}: {r:?}");
    }
    held.child.wait().unwrap();
    assert!(matches!(held.fd.namespace(Namespace::Net), Err(Error::Exited)));
    let _g = without(Feature::NamespaceIoctls);
    assert!(matches!(held.fd.namespace(Namespace::Net), Err(Error::Exited)), "reaped, /proc");
}

#[test]
fn proc_fallback_errno_mapping() {
    let me = PidFd::from_self().unwrap();
    let _g = without(Feature::NamespaceIoctls);
    {
        let _g = fault::inject(Call::Open, libc::EACCES);
        assert!(matches!(me.namespace(Namespace::Net), Err(Error::PermissionDenied { .. })));
    }
    {
        // No /proc/<pid>/ns/<name>, and no /proc/self/ns either: /proc is not mounted.
        let _o = fault::inject(Call::Open, libc::ENOENT);
        let _s = fault::inject(Call::Stat, libc::ENOENT);
        let e = me.namespace(Namespace::Net).unwrap_err();
        assert!(matches!(e, Error::Os { .. }), "{e:?}");
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
    }
    {
        let _g = fault::inject(Call::Fstatfs, libc::EIO);
        assert!(matches!(me.namespace(Namespace::Net), Err(Error::Os { .. })));
    }
    {
        let _g = fault::inject(Call::Poll, libc::ENOMEM);
        assert!(matches!(me.namespace(Namespace::Net), Err(Error::Os { op: "poll(pidfd)", .. })));
    }
    // A missing file while /proc/self/ns exists: the kernel has no such namespaces.
    let e = crate::nsfd::missing_ns_file(Namespace::Time, std::io::Error::from_raw_os_error(libc::ENOENT));
    assert!(matches!(e, Error::NamespaceDisabled { namespace: Namespace::Time }));
    assert_eq!(e.raw_os_error(), Some(libc::EOPNOTSUPP));
    assert!(e.to_string().contains("5.6"), "{e}");
}

#[test]
fn ioctl_errno_mapping() {
    let me = PidFd::from_self().unwrap();
    if !Feature::NamespaceIoctls.is_supported() {
        return;
    }
    type Check = fn(&Error) -> bool;
    let cases: [(i32, Check); 5] = [
        (libc::EOPNOTSUPP, |e| matches!(e, Error::NamespaceDisabled { namespace: Namespace::Cgroup })),
        (libc::ESRCH, |e| matches!(e, Error::Exited)),
        (libc::EACCES, |e| matches!(e, Error::PermissionDenied { .. })),
        (libc::EREMOTE, |e| matches!(e, Error::OtherPidNamespace)),
        (libc::ENOTTY, |e| matches!(e, Error::Os { .. })),
    ];
    for (errno, ok) in cases {
        let _g = fault::inject(Call::PidfdNsIoctl, errno);
        let e = me.namespace(Namespace::Cgroup).unwrap_err();
        assert!(ok(&e), "errno {errno}: {e:?}");
        assert_eq!(e.raw_os_error(), Some(errno), "{e:?}");
        assert_eq!(std::io::Error::from(e).raw_os_error(), Some(errno));
    }
}

#[test]
fn nsfs_ioctls_missing_are_unsupported() {
    let me = PidFd::from_self().unwrap();
    let user = me.namespace(Namespace::User).unwrap();
    let pid = me.namespace(Namespace::Pid).unwrap();
    let net = me.namespace(Namespace::Net).unwrap();
    let mnt = me.namespace(Namespace::Mount).unwrap();
    let _g = fault::inject(Call::NsfsIoctl, libc::ENOTTY);
    let unsupported = |r: crate::Result<()>, f: NsFeature| match r {
        Err(Error::Unsupported { feature }) => assert_eq!(feature, f),
        other => panic!("{f:?}: {other:?}"),
    };
    unsupported(net.owning_user_namespace().map(drop), NsFeature::Hierarchy);
    unsupported(user.parent().map(drop), NsFeature::Hierarchy);
    unsupported(net.namespace_type().map(drop), NsFeature::NamespaceType);
    unsupported(user.owner_uid().map(drop), NsFeature::OwnerUid);
    unsupported(pid.pid_in_namespace(1).map(drop), NsFeature::PidTranslation);
    unsupported(net.unique_id().map(drop), NsFeature::NamespaceId);
    unsupported(mnt.unique_id().map(drop), NsFeature::MountNamespaceId);
    let e = Error::Unsupported { feature: NsFeature::PidTranslation };
    assert!(e.to_string().contains("6.11"), "{e}");
    assert_eq!(std::io::Error::from(e).kind(), std::io::ErrorKind::Unsupported);
}

#[test]
fn wrong_kind_is_invalid_input_without_a_syscall() {
    let me = PidFd::from_self().unwrap();
    let net = me.namespace(Namespace::Net).unwrap();
    // Any syscall would fail with EIO: the check comes first.
    let _g = fault::inject(Call::NsfsIoctl, libc::EIO);
    assert!(matches!(net.parent(), Err(Error::InvalidInput(_))));
    assert!(matches!(net.owner_uid(), Err(Error::InvalidInput(_))));
    assert!(matches!(net.pid_in_namespace(1), Err(Error::InvalidInput(_))));
    let pid = me.namespace(Namespace::Pid).unwrap();
    assert!(matches!(pid.pid_from_namespace(0), Err(Error::InvalidInput(_))));
    assert!(matches!(pid.tgid_in_namespace(-1), Err(Error::InvalidInput(_))));
    assert!(matches!(me.enter_namespaces(NamespaceSet::empty()), Err(Error::InvalidInput(_))));
    assert!(matches!(
        me.enter_namespaces(NamespaceSet::from_bits_retain(libc::CLONE_VM as u32)),
        Err(Error::InvalidInput(_))
    ));
}

#[test]
fn setns_errno_mapping() {
    let me = PidFd::from_self().unwrap();
    let uts = NsFd::of_current_thread(Namespace::Uts).unwrap();
    if let Ok(time) = NsFd::of_current_thread(Namespace::Time) {
        let _g = fault::inject(Call::Setns, libc::EUSERS);
        assert!(matches!(time.enter(), Err(Error::MultiThreaded { namespace: Namespace::Time })));
    }
    let _g = fault::inject(Call::Setns, libc::EPERM);
    assert!(matches!(uts.enter(), Err(Error::PermissionDenied { .. })));
    assert!(matches!(me.enter_namespaces(NamespaceSet::UTS), Err(Error::PermissionDenied { .. })));
    drop(_g);
    let _g = fault::inject(Call::Setns, libc::ESRCH);
    assert!(matches!(me.enter_namespaces(NamespaceSet::NET), Err(Error::Exited)));
    drop(_g);
    // The user namespace the thread is in: the kernel refuses it again (EINVAL), said clearly.
    let user = NsFd::of_current_thread(Namespace::User).unwrap();
    let e = user.enter().unwrap_err();
    assert!(matches!(e, Error::InvalidInput(_)), "{e:?}");
    // Entering a mount namespace prepares the thread; a failing unshare is reported as such.
    let mnt = NsFd::of_current_thread(Namespace::Mount).unwrap();
    let _g = fault::inject(Call::Unshare, libc::ENOMEM);
    match mnt.enter() {
        Err(Error::Os { op, .. }) => assert!(op.contains("unshare"), "{op}"),
        other => panic!("{other:?}"),
    }
}

/// The per-namespace fallback of `enter_namespaces` on a kernel without `setns(pidfd)`,
/// on a dedicated thread (its namespaces change).
#[test]
fn enter_namespaces_one_by_one_without_setns_pidfd() {
    let held = Held::new(libc::CLONE_NEWUTS | libc::CLONE_NEWNET | libc::CLONE_NEWIPC, Some(b"ns-fallback"));
    let before = thread_ino(Namespace::Uts);
    std::thread::scope(|s| {
        s.spawn(|| {
            let _g = without(Feature::SetnsPidfd);
            let _n = without(Feature::NamespaceIoctls);
            held.fd.enter_namespaces(NamespaceSet::UTS | NamespaceSet::NET | NamespaceSet::IPC).unwrap();
            assert_eq!(fixture::hostname(), "ns-fallback");
            for ns in [Namespace::Uts, Namespace::Net, Namespace::Ipc] {
                assert_eq!(Some(thread_ino(ns)), proc_ino(held.pid, ns), "{ns}");
            }
        });
    });
    assert_eq!(thread_ino(Namespace::Uts), before, "only the helper thread moved");
}

/// `run_in_namespaces` decides on the caller's thread: the fault seam reaches it.
#[test]
fn run_in_namespaces_without_setns_pidfd() {
    let held = Held::new(libc::CLONE_NEWUTS | libc::CLONE_NEWNET, Some(b"ns-run-fallback"));
    let _g = without(Feature::SetnsPidfd);
    let _n = without(Feature::NamespaceIoctls);
    let (name, net) = run_in_namespaces(&held.fd, NamespaceSet::UTS | NamespaceSet::NET, || {
        (fixture::hostname(), thread_ino(Namespace::Net))
    })
    .unwrap();
    assert_eq!(name, "ns-run-fallback");
    assert_eq!(Some(net), proc_ino(held.pid, Namespace::Net));
    assert_ne!(fixture::hostname(), "ns-run-fallback");
}

/// The fallback enters the other namespaces before the user namespace; a multi-threaded
/// process is then refused the user namespace with the clear error (and the thread keeps
/// what it entered before: the fallback is not atomic).
#[test]
fn fallback_enters_others_before_the_user_namespace() {
    let held = Held::new(libc::CLONE_NEWUSER | libc::CLONE_NEWUTS, Some(b"ns-userfirst"));
    std::thread::scope(|s| {
        s.spawn(|| {
            let _g = without(Feature::SetnsPidfd);
            let e = held.fd.enter_namespaces(NamespaceSet::USER | NamespaceSet::UTS).unwrap_err();
            assert!(matches!(e, Error::MultiThreaded { namespace: Namespace::User }), "{e:?}");
            assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
            assert!(e.to_string().contains("multi-threaded"), "{e}");
            assert_eq!(fixture::hostname(), "ns-userfirst");
        });
    });
    // The atomic path refuses everything.
    std::thread::scope(|s| {
        s.spawn(|| {
            if !Feature::SetnsPidfd.is_supported() {
                return;
            }
            let e = held.fd.enter_namespaces(NamespaceSet::USER | NamespaceSet::UTS).unwrap_err();
            assert!(matches!(e, Error::MultiThreaded { namespace: Namespace::User }), "{e:?}");
            assert_ne!(fixture::hostname(), "ns-userfirst");
        });
    });
}

#[test]
fn own_user_and_time_namespaces_are_left_out() {
    let me = PidFd::from_self().unwrap();
    let time = if kernel_has(Namespace::Time) { NamespaceSet::TIME } else { NamespaceSet::empty() };
    // Entering one's own user namespace is refused by the kernel; as part of a set it is
    // skipped, like nsenter does, so a multi-threaded process can run this.
    let user =
        run_in_namespaces(&me, NamespaceSet::USER | NamespaceSet::UTS | time, || thread_ino(Namespace::User)).unwrap();
    assert_eq!(user, thread_ino(Namespace::User));
    let _g = without(Feature::SetnsPidfd);
    me.enter_namespaces(NamespaceSet::USER | time).unwrap();
    if time.is_empty() {
        let e = me.enter_namespaces(NamespaceSet::TIME).unwrap_err();
        assert!(matches!(e, Error::NamespaceDisabled { namespace: Namespace::Time }), "{e:?}");
    }
}

#[test]
fn error_conversions_keep_the_errno() {
    let cases = [
        (Error::Exited, Some(libc::ESRCH)),
        (Error::NamespaceDisabled { namespace: Namespace::Net }, Some(libc::EOPNOTSUPP)),
        (Error::MultiThreaded { namespace: Namespace::User }, Some(libc::EINVAL)),
        (Error::MultiThreaded { namespace: Namespace::Time }, Some(libc::EUSERS)),
        (Error::OtherPidNamespace, Some(libc::EREMOTE)),
        (Error::NoSuchProcess { pid: 7 }, Some(libc::ESRCH)),
        (Error::PermissionDenied { source: std::io::Error::from_raw_os_error(libc::EACCES) }, Some(libc::EACCES)),
        (Error::os("x", std::io::Error::from_raw_os_error(libc::EBADF)), Some(libc::EBADF)),
        (Error::InvalidInput("x"), None),
    ];
    for (e, errno) in cases {
        assert_eq!(e.raw_os_error(), errno, "{e:?}");
        let io = std::io::Error::from(e);
        assert_eq!(io.raw_os_error(), errno);
    }
    let from_pidfd = Error::from(pidfd::Error::Unsupported { feature: Feature::SetnsPidfd });
    assert!(matches!(from_pidfd, Error::Unsupported { feature: NsFeature::Pidfd(Feature::SetnsPidfd) }));
    assert!(from_pidfd.to_string().contains("5.8"), "{from_pidfd}");
    assert!(matches!(Error::from(pidfd::Error::Exited), Error::Exited));
    assert!(matches!(Error::from(pidfd::Error::NotPidfd), Error::Pidfd(pidfd::Error::NotPidfd)));
}
