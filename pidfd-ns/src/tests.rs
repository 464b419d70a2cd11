//! Fallback paths and errno mappings, forced through the fault-injection seam of `sys` on
//! whatever kernel runs the tests: a pidfd feature is made to look absent (or a call to fail
//! with the errno an older kernel, a zombie or a policy gives), and the real fallback then
//! runs against real processes in real namespaces.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::process::{Child, Command, Stdio};

use pidfd::{Feature, PidFd};

use crate::sys::{Call, fault, fixture};
use crate::{Error, Namespace, NamespaceSet, NsFd, PidFdNsExt, run_in_namespaces};

/// Makes `f` look absent: `pidfd`'s probe answers "unsupported" on this thread.
fn without(f: Feature) -> fault::Guard {
    fault::inject(fault::Call::Feature(f), libc::ENOSYS)
}

// The matrix's feature contract (`require`), shared with every crate's tests (`__test-util`).
use pidfd::__private::require::require;

/// Whether the test may take pidfds (`pidfd_open`): every [`Held`] and `PidFd::from_self`.
fn can_open_pidfds() -> bool {
    require(Feature::PidfdOpen)
}

/// A pidfd of this process, or `None` (the test skips) where `pidfd_open` is refused.
fn self_pidfd() -> Option<PidFd> {
    can_open_pidfds().then(|| PidFd::from_self().unwrap())
}

/// A `/proc` path for the `Call::Path` seam (it keys faults by `&'static str`).
fn leak(path: String) -> &'static str {
    Box::leak(path.into_boxed_str())
}

/// A `sh` child that has unshared `flags` (and set its hostname) before exec, and waits for
/// EOF on stdin. With `CLONE_NEWTIME` it lives in its new time namespace on every kernel.
struct Held {
    child: Child,
    fd: PidFd,
    pid: i32,
}

/// The parts of a [`Held`], for a test that reaps the child itself.
fn spawn_held(flags: libc::c_int, hostname: Option<&'static [u8]>) -> (Child, PidFd, i32) {
    spawn_held_as(flags, hostname, None)
}

/// [`spawn_held`], the child running as `uid` (and that gid) when given.
fn spawn_held_as(flags: libc::c_int, hostname: Option<&'static [u8]>, uid: Option<u32>) -> (Child, PidFd, i32) {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "echo ready; read x"]).stdin(Stdio::piped()).stdout(Stdio::piped());
    if let Some(uid) = uid {
        std::os::unix::process::CommandExt::uid(&mut cmd, uid);
        std::os::unix::process::CommandExt::gid(&mut cmd, uid);
    }
    fixture::unshare_before_exec(&mut cmd, flags, hostname);
    let mut child = cmd.spawn().expect("spawn sh in new namespaces");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    let fd = PidFd::from_child(&child).unwrap();
    let pid = child.id() as i32;
    (child, fd, pid)
}

impl Held {
    fn new(flags: libc::c_int, hostname: Option<&'static [u8]>) -> Held {
        let (child, fd, pid) = spawn_held(flags, hostname);
        Held { child, fd, pid }
    }

    /// Kills and reaps the child.
    fn reap(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.reap();
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
    if !can_open_pidfds() {
        return;
    }
    let held = Held::new(all_new(), None);
    for ns in Namespace::ALL {
        let Some(expected) = proc_ino(held.pid, ns) else {
            assert!(!kernel_has(ns) || ns == Namespace::PidForChildren, "{ns}: the kernel has the kind");
            eprintln!("no /proc/<pid>/ns/{ns} here");
            continue;
        };
        // unshare(CLONE_NEWPID) moves only the children; the fixture moved the child into
        // its new time namespace itself.
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
/// hides `pid_for_children` before 7.1 and shows it from 7.1 on. Either way the fallback
/// answers exactly what /proc shows: the namespace with that inode, or the documented error
/// (and never a namespace /proc does not show).
#[test]
fn unpopulated_pid_for_children() {
    if !can_open_pidfds() {
        return;
    }
    let held = Held::new(libc::CLONE_NEWPID, None);
    let shown = proc_ino(held.pid, Namespace::PidForChildren);
    let via_ioctl = held.fd.namespace(Namespace::PidForChildren);
    if Feature::NamespaceIoctls.is_supported() {
        // The ioctl never hides it: it is the namespace the child unshared, not ours.
        let fd = via_ioctl.unwrap();
        assert_ne!(fd.id().unwrap(), thread_ino(Namespace::Pid));
        if let Some(ino) = shown {
            assert_eq!(fd.id().unwrap(), ino);
        }
    }
    let _g = without(Feature::NamespaceIoctls);
    match (shown, held.fd.namespace(Namespace::PidForChildren)) {
        (Some(ino), Ok(fd)) => {
            eprintln!("/proc shows pid_for_children of an unpopulated PID namespace (7.1+)");
            assert_eq!(fd.id().unwrap(), ino);
            assert_ne!(ino, thread_ino(Namespace::Pid));
        }
        (None, Err(Error::Pidfd(pidfd::Error::Os { op, source }))) => {
            eprintln!("/proc hides pid_for_children of an unpopulated PID namespace (before 7.1)");
            assert!(op.contains("no process exists"), "{op}");
            assert_eq!(source.raw_os_error(), Some(libc::ENOENT));
        }
        (shown, other) => panic!("/proc shows {shown:?}, the fallback says {other:?}"),
    }
}

#[test]
fn proc_fallback_for_a_zombie_and_a_reaped_process_is_exited() {
    if !can_open_pidfds() {
        return;
    }
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
        assert!(matches!(held.fd.namespace(ns), Err(Error::Pidfd(pidfd::Error::Exited))), "zombie, ioctl: {ns}");
        let _g = without(Feature::NamespaceIoctls);
        let r = held.fd.namespace(ns);
        assert!(matches!(r, Err(Error::Pidfd(pidfd::Error::Exited))), "zombie, /proc: {ns}: {r:?}");
    }
    held.child.wait().unwrap();
    assert!(matches!(held.fd.namespace(Namespace::Net), Err(Error::Pidfd(pidfd::Error::Exited))));
    let _g = without(Feature::NamespaceIoctls);
    assert!(matches!(held.fd.namespace(Namespace::Net), Err(Error::Pidfd(pidfd::Error::Exited))), "reaped, /proc");
}

/// The race the fallback must survive: between reading the pid and opening
/// `/proc/<pid>/ns/<name>`, the process is reaped and the path comes to name another process
/// (simulated: the seam reaps the child for real just before the open, then opens another
/// live process's file in its place, as a reused pid would). The answer is `Exited`, never the
/// other process's namespace.
#[test]
fn proc_fallback_never_answers_for_a_process_that_took_the_pid() {
    if !can_open_pidfds() {
        return;
    }
    let (child, fd, pid) = spawn_held(libc::CLONE_NEWNET, None);
    let other = Held::new(libc::CLONE_NEWNET, None);
    let others_net = proc_ino(other.pid, Namespace::Net).unwrap();
    let path = leak(format!("{pid}/ns/net"));
    let mut child = Some(child);
    let _n = without(Feature::NamespaceIoctls);
    let _reap = fault::before(Call::Path(path), move || {
        if let Some(mut c) = child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    });
    let _redirect = fault::redirect(path, leak(format!("/proc/{}/ns/net", other.pid)));
    match fd.namespace(Namespace::Net) {
        Err(Error::Pidfd(pidfd::Error::Exited)) => {}
        Ok(ns) => {
            panic!("answered after the reap, with net:[{}] (the other's is net:[{others_net}])", ns.id().unwrap())
        }
        Err(e) => panic!("{e:?}"),
    }
    assert_eq!(fault::redirected(), 1, "the open went to the other process's file");
    assert!(matches!(fd.pid(), Err(pidfd::Error::Exited)), "the seam reaped the child before the open");
}

/// With `/proc` of an ancestor PID namespace (a process in a new PID namespace that still
/// sees its parent's `/proc`): the pid the fallback uses is the one that `/proc` shows, not
/// the caller's. Runs [`in_a_child_pid_namespace_with_the_parents_proc`] as pid 1 of a new
/// PID namespace.
#[test]
fn proc_fallback_with_the_proc_of_an_ancestor_pid_namespace() {
    if !can_open_pidfds() {
        return;
    }
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "tests::in_a_child_pid_namespace_with_the_parents_proc", "--ignored", "--nocapture"])
        .args(["--test-threads", "1"])
        .env("PIDFD_NS_CHILD_PIDNS", "1");
    fixture::exec_in_new_pid_namespace(&mut cmd);
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stdout.contains("1 passed"), "{}\n{stdout}\n{stderr}", out.status);
}

#[test]
#[ignore = "run by proc_fallback_with_the_proc_of_an_ancestor_pid_namespace, as pid 1 of a new PID namespace"]
fn in_a_child_pid_namespace_with_the_parents_proc() {
    if !can_open_pidfds() {
        return;
    }
    assert!(
        std::env::var_os("PIDFD_NS_CHILD_PIDNS").is_some(),
        "run by proc_fallback_with_the_proc_of_an_ancestor_pid_namespace"
    );
    assert_eq!(std::process::id(), 1, "pid 1 of a new PID namespace");
    let outer = std::fs::read_link("/proc/self").unwrap();
    assert_ne!(outer.to_str(), Some("1"), "/proc is the parent's: it shows another pid for us");
    // The child reports its own network namespace through /proc/self (right in any /proc).
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "readlink /proc/self/ns/net; read x"]).stdin(Stdio::piped()).stdout(Stdio::piped());
    fixture::unshare_before_exec(&mut cmd, libc::CLONE_NEWNET, None);
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let ino: u64 = line.trim().trim_start_matches("net:[").trim_end_matches(']').parse().unwrap();
    let fd = PidFd::from_child(&child).unwrap();
    eprintln!("the child: pid {} here, {:?} as the pidfd says, net:[{ino}]", child.id(), fd.pid());
    let _g = without(Feature::NamespaceIoctls);
    let net = fd.namespace(Namespace::Net).unwrap();
    assert_eq!(net.id().unwrap(), ino, "the child's own network namespace");
    drop(child.stdin.take());
    child.wait().unwrap();
}

/// `/proc` mounted with `hidepid=2` hides a live process from a caller without
/// `PTRACE_MODE_READ` access: the fallback says permission denied, as the ioctl does, and
/// never that the process has exited.
#[test]
fn a_process_hidden_by_hidepid_is_permission_denied_not_exited() {
    if !can_open_pidfds() {
        return;
    }
    let (child, fd, pid) = spawn_held_as(0, None, Some(65534));
    let mut held = Held { child, fd, pid };
    std::thread::scope(|s| {
        s.spawn(|| {
            fixture::thread_with_hidepid_proc(65534).unwrap();
            // The kernel's witness: this thread's /proc hides the child (it shows ourselves).
            assert!(std::fs::metadata("/proc/self/ns/net").is_ok());
            let hidden = std::fs::metadata(format!("/proc/{}", held.pid)).unwrap_err();
            assert_eq!(hidden.raw_os_error(), Some(libc::ENOENT), "hidepid hides the child");
            if Feature::NamespaceIoctls.is_supported() {
                let e = held.fd.namespace(Namespace::Net).unwrap_err();
                assert!(matches!(e, Error::Pidfd(pidfd::Error::PermissionDenied { .. })), "ioctl: {e:?}");
            }
            let _g = without(Feature::NamespaceIoctls);
            let e = held.fd.namespace(Namespace::Net).unwrap_err();
            assert!(matches!(e, Error::Pidfd(pidfd::Error::PermissionDenied { .. })), "/proc: {e:?}");
            assert_eq!(e.raw_os_error(), Some(libc::ENOENT), "the source is what the open said");
        });
    });
    // Alive before and after, so alive in between.
    assert!(held.child.try_wait().unwrap().is_none(), "the child is alive");
    assert_eq!(held.fd.namespace(Namespace::Net).unwrap().id().unwrap(), proc_ino(held.pid, Namespace::Net).unwrap());
}

#[test]
fn proc_fallback_errno_mapping() {
    let Some(me) = self_pidfd() else { return };
    let pid = std::process::id();
    let _g = without(Feature::NamespaceIoctls);
    let net = leak(format!("{pid}/ns/net"));
    {
        let _g = fault::inject(Call::Path(net), libc::EACCES);
        assert!(matches!(me.namespace(Namespace::Net), Err(Error::Pidfd(pidfd::Error::PermissionDenied { .. }))));
    }
    {
        // No /proc at all.
        let _g = fault::inject(Call::Path("/proc"), libc::ENOENT);
        let e = me.namespace(Namespace::Net).unwrap_err();
        assert!(matches!(e, Error::Pidfd(pidfd::Error::Os { .. })), "{e:?}");
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
    }
    {
        // A /proc in which the caller has no /proc/self (of another PID namespace).
        let _g = fault::inject(Call::Fdinfo, libc::ENOENT);
        match me.namespace(Namespace::Net) {
            Err(Error::Pidfd(pidfd::Error::Os { op, source })) => {
                assert!(op.contains("PID namespace"), "{op}");
                assert_eq!(source.raw_os_error(), Some(libc::ENOENT));
            }
            other => panic!("{other:?}"),
        }
    }
    {
        // No such file, and none of the kind for the caller either, while /proc/self/ns
        // exists: the kernel has no such namespaces.
        let _o = fault::inject(Call::Path(net), libc::ENOENT);
        let _s = fault::inject(Call::Path("thread-self/ns/net"), libc::ENOENT);
        let e = me.namespace(Namespace::Net).unwrap_err();
        assert!(matches!(e, Error::NamespaceDisabled { namespace: Namespace::Net }), "{e:?}");
        // ... and no /proc/self/ns either: a /proc without it.
        let _d = fault::inject(Call::Path("/proc/self/ns"), libc::ENOENT);
        let e = me.namespace(Namespace::Net).unwrap_err();
        assert!(matches!(e, Error::Pidfd(pidfd::Error::Os { .. })), "{e:?}");
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
    }
    {
        let _g = fault::inject(Call::Fstatfs, libc::EIO);
        assert!(matches!(me.namespace(Namespace::Net), Err(Error::Pidfd(pidfd::Error::Os { .. }))));
    }
    {
        let _g = fault::inject(Call::Poll, libc::ENOMEM);
        assert!(matches!(me.namespace(Namespace::Net), Err(Error::Pidfd(pidfd::Error::Os { op: "poll(pidfd)", .. }))));
    }
    // A missing file while /proc/self/ns exists: the kernel has no such namespaces.
    let e = crate::nsfd::missing_ns_file(Namespace::Time, std::io::Error::from_raw_os_error(libc::ENOENT));
    assert!(matches!(e, Error::NamespaceDisabled { namespace: Namespace::Time }));
    assert_eq!(e.raw_os_error(), Some(libc::EOPNOTSUPP));
    assert!(e.to_string().contains("5.6"), "{e}");
}

#[test]
fn ioctl_errno_mapping() {
    if !can_open_pidfds() {
        return;
    }
    if !require(Feature::NamespaceIoctls) {
        eprintln!(
            "skipped: the PIDFD_GET_*_NAMESPACE error mapping needs the ioctls to run (the seam cannot add them)"
        );
        return;
    }
    let me = PidFd::from_self().unwrap();
    type Check = fn(&Error) -> bool;
    let cases: [(i32, Check); 5] = [
        (libc::EOPNOTSUPP, |e| matches!(e, Error::NamespaceDisabled { namespace: Namespace::Cgroup })),
        (libc::ESRCH, |e| matches!(e, Error::Pidfd(pidfd::Error::Exited))),
        (libc::EACCES, |e| matches!(e, Error::Pidfd(pidfd::Error::PermissionDenied { .. }))),
        (libc::EREMOTE, |e| matches!(e, Error::Pidfd(pidfd::Error::OtherPidNamespace))),
        (libc::ENOTTY, |e| matches!(e, Error::Pidfd(pidfd::Error::Os { .. }))),
    ];
    for (errno, ok) in cases {
        let _g = fault::inject(Call::PidfdNsIoctl, errno);
        let e = me.namespace(Namespace::Cgroup).unwrap_err();
        assert!(ok(&e), "errno {errno}: {e:?}");
        assert_eq!(e.raw_os_error(), Some(errno), "{e:?}");
        assert_eq!(std::io::Error::from(e).raw_os_error(), Some(errno));
    }
}

/// A kind the kernel was built without: `setns(pidfd)` answers `EINVAL`, and the answer is
/// `NamespaceDisabled` for that kind, as on the per-namespace path.
#[test]
fn a_kind_the_kernel_lacks_is_namespace_disabled_on_both_paths() {
    let Some(me) = self_pidfd() else { return };
    let pid = std::process::id();
    let set = NamespaceSet::CGROUP | NamespaceSet::UTS;
    std::thread::scope(|s| {
        s.spawn(|| {
            // The per-namespace path: no /proc/<pid>/ns/cgroup, none for the caller either.
            let _g = without(Feature::SetnsPidfd);
            let _n = without(Feature::NamespaceIoctls);
            let _o = fault::inject(Call::Path(leak(format!("{pid}/ns/cgroup"))), libc::ENOENT);
            let _s = fault::inject(Call::Path("thread-self/ns/cgroup"), libc::ENOENT);
            let e = me.enter_namespaces(set).unwrap_err();
            assert!(matches!(e, Error::NamespaceDisabled { namespace: Namespace::Cgroup }), "{e:?}");
        });
    });
    if !require(Feature::SetnsPidfd) {
        return;
    }
    std::thread::scope(|s| {
        s.spawn(|| {
            let _g = fault::inject(Call::Setns, libc::EINVAL);
            // EINVAL while the kernel has every kind: not a disabled kind.
            let e = me.enter_namespaces(set).unwrap_err();
            assert!(matches!(e, Error::Pidfd(pidfd::Error::Os { .. })), "{e:?}");
            assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
            // EINVAL and no /proc/thread-self/ns/cgroup: the kernel lacks cgroup namespaces.
            let _s = fault::inject(Call::Path("/proc/thread-self/ns/cgroup"), libc::ENOENT);
            let e = me.enter_namespaces(set).unwrap_err();
            assert!(matches!(e, Error::NamespaceDisabled { namespace: Namespace::Cgroup }), "{e:?}");
            assert!(e.to_string().contains("4.6"), "{e}");
            assert_eq!(fault::setns_journal().last(), Some(&(set.bits() as libc::c_int)), "one setns(pidfd)");
        });
    });
}

/// The per-namespace fallback with a user namespace: the other kinds first; the user
/// namespace; then the kinds refused for privilege in the first pass, again. (Entering a user
/// namespace is pretended: a multi-threaded test process cannot; the other kinds are entered
/// for real.)
#[test]
fn the_fallback_retries_inside_the_user_namespace_what_it_was_refused() {
    if !can_open_pidfds() {
        return;
    }
    let held = Held::new(libc::CLONE_NEWUSER | libc::CLONE_NEWUTS | libc::CLONE_NEWNET, Some(b"ns-two-pass"));
    let set = NamespaceSet::USER | NamespaceSet::UTS | NamespaceSet::NET;
    let (user, uts, net) = (libc::CLONE_NEWUSER, libc::CLONE_NEWUTS, libc::CLONE_NEWNET);
    std::thread::scope(|s| {
        s.spawn(|| {
            let my_user = thread_ino(Namespace::User);
            let _g = without(Feature::SetnsPidfd);
            let _u = fault::pretend(Call::SetnsType(user));
            let _e = fault::inject_times(Call::SetnsType(uts), libc::EPERM, 1);
            let _ = fault::setns_journal();
            held.fd.enter_namespaces(set).unwrap();
            assert_eq!(
                fault::setns_journal(),
                [uts, net, user, uts],
                "UTS refused, then retried after the user namespace"
            );
            assert_eq!(fixture::hostname(), "ns-two-pass", "the retry entered the UTS namespace for real");
            assert_eq!(Some(thread_ino(Namespace::Net)), proc_ino(held.pid, Namespace::Net));
            assert_eq!(thread_ino(Namespace::User), my_user, "pretended");
        });
        s.spawn(|| {
            // Refused again inside the user namespace: that second answer is the error.
            let _g = without(Feature::SetnsPidfd);
            let _u = fault::pretend(Call::SetnsType(user));
            let _e = fault::inject_times(Call::SetnsType(uts), libc::EPERM, 1);
            let _e2 = fault::inject(Call::SetnsType(uts), libc::EINVAL);
            let _ = fault::setns_journal();
            let e = held.fd.enter_namespaces(set).unwrap_err();
            assert!(
                matches!(&e, Error::Pidfd(pidfd::Error::Os { .. })) && e.raw_os_error() == Some(libc::EINVAL),
                "{e:?}"
            );
            assert_eq!(fault::setns_journal(), [uts, net, user, uts]);
        });
        s.spawn(|| {
            // Any other refusal in the first pass is returned at once: the user namespace
            // could not lift it, and nothing more is entered.
            let _g = without(Feature::SetnsPidfd);
            let _u = fault::pretend(Call::SetnsType(user));
            let _e = fault::inject(Call::SetnsType(uts), libc::EINVAL);
            let _ = fault::setns_journal();
            let before = thread_ino(Namespace::Net);
            let e = held.fd.enter_namespaces(set).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "{e:?}");
            assert_eq!(fault::setns_journal(), [uts]);
            assert_eq!(thread_ino(Namespace::Net), before);
        });
        s.spawn(|| {
            // A refusal without a user namespace in the set is the answer.
            let _g = without(Feature::SetnsPidfd);
            let _e = fault::inject_times(Call::SetnsType(uts), libc::EPERM, 1);
            let e = held.fd.enter_namespaces(NamespaceSet::UTS | NamespaceSet::NET).unwrap_err();
            assert!(matches!(e, Error::Pidfd(pidfd::Error::PermissionDenied { .. })), "{e:?}");
        });
    });
}

/// After an `ENOTTY` from a pid translation, a second translation tells a kernel without the
/// ioctls (`Unsupported`) from one that answers `ENOTTY` for a pid without a task (6.16 to
/// 6.19 before a fix: `NoSuchProcess`).
#[test]
fn enotty_from_a_pid_translation_is_told_apart() {
    if !can_open_pidfds() {
        return;
    }
    let mine = PidFd::from_self().unwrap().namespace(Namespace::Pid).unwrap();
    let me = std::process::id() as i32;
    let has_translation = match mine.pid_in_namespace(me) {
        Ok(p) => {
            assert_eq!(p, me, "our own PID namespace maps our pid to itself");
            true
        }
        Err(Error::Pidfd(pidfd::Error::Unsupported { feature: pidfd::Feature::NsPidTranslation })) => {
            assert!(!require(Feature::NamespaceIoctls), "translation came with the 6.11 namespace ioctls");
            false
        }
        Err(e) => panic!("{e:?}"),
    };
    {
        let _g = fault::inject_times(Call::NsfsIoctl, libc::ENOTTY, 1);
        match mine.pid_from_namespace(me) {
            Err(Error::Pidfd(pidfd::Error::NoSuchProcess { pid })) if has_translation => assert_eq!(pid, me),
            Err(Error::Pidfd(pidfd::Error::Unsupported { feature: pidfd::Feature::NsPidTranslation }))
                if !has_translation => {}
            other => panic!("translation {has_translation}: {other:?}"),
        }
    }
    let _g = fault::inject(Call::NsfsIoctl, libc::ENOTTY);
    assert!(matches!(
        mine.pid_from_namespace(me),
        Err(Error::Pidfd(pidfd::Error::Unsupported { feature: pidfd::Feature::NsPidTranslation }))
    ));
}

#[test]
fn nsfs_ioctls_missing_are_unsupported() {
    let Some(me) = self_pidfd() else { return };
    let user = me.namespace(Namespace::User).unwrap();
    let pid = me.namespace(Namespace::Pid).unwrap();
    let net = me.namespace(Namespace::Net).unwrap();
    let mnt = me.namespace(Namespace::Mount).unwrap();
    let _g = fault::inject(Call::NsfsIoctl, libc::ENOTTY);
    let unsupported = |r: crate::Result<()>, f: pidfd::Feature| match r {
        Err(Error::Pidfd(pidfd::Error::Unsupported { feature })) => assert_eq!(feature, f),
        other => panic!("{f:?}: {other:?}"),
    };
    unsupported(net.owning_user_namespace().map(drop), pidfd::Feature::NsHierarchy);
    unsupported(user.parent().map(drop), pidfd::Feature::NsHierarchy);
    unsupported(net.namespace_type().map(drop), pidfd::Feature::NsType);
    unsupported(user.owner_uid().map(drop), pidfd::Feature::NsOwnerUid);
    unsupported(pid.pid_in_namespace(1).map(drop), pidfd::Feature::NsPidTranslation);
    unsupported(net.unique_id().map(drop), pidfd::Feature::NsId);
    unsupported(mnt.unique_id().map(drop), pidfd::Feature::NsMountId);
    let e = Error::Pidfd(pidfd::Error::Unsupported { feature: pidfd::Feature::NsPidTranslation });
    assert!(e.to_string().contains("6.11"), "{e}");
    assert_eq!(std::io::Error::from(e).kind(), std::io::ErrorKind::Unsupported);
}

#[test]
fn wrong_kind_is_invalid_input_without_a_syscall() {
    let Some(me) = self_pidfd() else { return };
    let net = me.namespace(Namespace::Net).unwrap();
    // Any syscall would fail with EIO: the check comes first.
    let _g = fault::inject(Call::NsfsIoctl, libc::EIO);
    assert!(matches!(net.parent(), Err(Error::Pidfd(pidfd::Error::InvalidInput(_)))));
    assert!(matches!(net.owner_uid(), Err(Error::Pidfd(pidfd::Error::InvalidInput(_)))));
    assert!(matches!(net.pid_in_namespace(1), Err(Error::Pidfd(pidfd::Error::InvalidInput(_)))));
    let pid = me.namespace(Namespace::Pid).unwrap();
    assert!(matches!(pid.pid_from_namespace(0), Err(Error::Pidfd(pidfd::Error::InvalidInput(_)))));
    assert!(matches!(pid.tgid_in_namespace(-1), Err(Error::Pidfd(pidfd::Error::InvalidInput(_)))));
    assert!(matches!(me.enter_namespaces(NamespaceSet::empty()), Err(Error::Pidfd(pidfd::Error::InvalidInput(_)))));
    assert!(matches!(
        me.enter_namespaces(NamespaceSet::from_bits_retain(libc::CLONE_VM as u32)),
        Err(Error::Pidfd(pidfd::Error::InvalidInput(_)))
    ));
}

#[test]
fn setns_errno_mapping() {
    let Some(me) = self_pidfd() else { return };
    let uts = NsFd::of_current_thread(Namespace::Uts).unwrap();
    if let Ok(time) = NsFd::of_current_thread(Namespace::Time) {
        let _g = fault::inject(Call::Setns, libc::EUSERS);
        assert!(matches!(time.enter(), Err(Error::MultiThreaded { namespace: Namespace::Time })));
    }
    let _g = fault::inject(Call::Setns, libc::EPERM);
    assert!(matches!(uts.enter(), Err(Error::Pidfd(pidfd::Error::PermissionDenied { .. }))));
    assert!(matches!(me.enter_namespaces(NamespaceSet::UTS), Err(Error::Pidfd(pidfd::Error::PermissionDenied { .. }))));
    drop(_g);
    let _g = fault::inject(Call::Setns, libc::ESRCH);
    assert!(matches!(me.enter_namespaces(NamespaceSet::NET), Err(Error::Pidfd(pidfd::Error::Exited))));
    drop(_g);
    // The user namespace the thread is in: the kernel refuses it again (EINVAL), said clearly.
    let user = NsFd::of_current_thread(Namespace::User).unwrap();
    let e = user.enter().unwrap_err();
    assert!(matches!(e, Error::Pidfd(pidfd::Error::InvalidInput(_))), "{e:?}");
    // Entering a mount namespace prepares the thread; a failing unshare is reported as such.
    let mnt = NsFd::of_current_thread(Namespace::Mount).unwrap();
    let _g = fault::inject(Call::Unshare, libc::ENOMEM);
    match mnt.enter() {
        Err(Error::Pidfd(pidfd::Error::Os { op, .. })) => assert!(op.contains("unshare"), "{op}"),
        other => panic!("{other:?}"),
    }
}

/// The per-namespace fallback of `enter_namespaces` on a kernel without `setns(pidfd)`,
/// on a dedicated thread (its namespaces change).
#[test]
fn enter_namespaces_one_by_one_without_setns_pidfd() {
    if !can_open_pidfds() {
        return;
    }
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
    if !can_open_pidfds() {
        return;
    }
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
    if !can_open_pidfds() {
        return;
    }
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
    let Some(me) = self_pidfd() else { return };
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
        (Error::Pidfd(pidfd::Error::Exited), Some(libc::ESRCH)),
        (Error::NamespaceDisabled { namespace: Namespace::Net }, Some(libc::EOPNOTSUPP)),
        (Error::MultiThreaded { namespace: Namespace::User }, Some(libc::EINVAL)),
        (Error::MultiThreaded { namespace: Namespace::Time }, Some(libc::EUSERS)),
        (Error::Pidfd(pidfd::Error::OtherPidNamespace), Some(libc::EREMOTE)),
        (Error::Pidfd(pidfd::Error::NoSuchProcess { pid: 7 }), Some(libc::ESRCH)),
        (
            Error::Pidfd(pidfd::Error::PermissionDenied { source: std::io::Error::from_raw_os_error(libc::EACCES) }),
            Some(libc::EACCES),
        ),
        (Error::os("x", std::io::Error::from_raw_os_error(libc::EBADF)), Some(libc::EBADF)),
        (Error::Pidfd(pidfd::Error::InvalidInput("x")), None),
    ];
    for (e, errno) in cases {
        assert_eq!(e.raw_os_error(), errno, "{e:?}");
        let io = std::io::Error::from(e);
        assert_eq!(io.raw_os_error(), errno);
    }
    let from_pidfd = Error::from(pidfd::Error::Unsupported { feature: Feature::SetnsPidfd });
    assert!(matches!(from_pidfd, Error::Pidfd(pidfd::Error::Unsupported { feature: Feature::SetnsPidfd })));
    assert!(from_pidfd.to_string().contains("5.8"), "{from_pidfd}");
    assert!(matches!(Error::from(pidfd::Error::Exited), Error::Pidfd(pidfd::Error::Exited)));
    assert!(matches!(Error::from(pidfd::Error::NotPidfd), Error::Pidfd(pidfd::Error::NotPidfd)));
}
