//! PID reuse: every operation on the pidfd of a process A that died and was reaped by a plain
//! `waitpid` reports that A exited (or, for a wait, `NotChild` or A's own status from
//! `PIDFD_INFO_EXIT`), and none reaches the process B that now has A's pid, in a child PID
//! namespace where `ns_last_pid` forces the reuse (see `test-support/src/reuse_lab.rs` for how B is made
//! the worst possible victim).
//!
//! `harness = false`: each case runs in a fresh single-threaded process (this binary
//! re-executed), which creates the PID namespace (as root, or inside a new user namespace) and
//! forks its init. On kernels before 6.13 the answers come from the fdinfo and `/proc`
//! fallbacks, before 6.9 the scoped signals from `tgkill` / `killpg`: the kernel matrix runs
//! this binary on 5.10 too.

use test_support::harness;
use test_support::reuse_lab as lab;
#[allow(dead_code)]
#[path = "it/support.rs"]
mod support;

use std::cell::Cell;
use std::fmt::Debug;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use lab::{A_CODE, Owner, Recycled};
use pidfd::{
    Advice, Error, Feature, MemoryRange, OpenFlags, PidFd, SigInfo, SigValue, SignalScope, WaitEvent, WaitOptions,
};
use support::require;

fn main() {
    harness::main(&[
        ("every_pidfd_operation_on_a_recycled_pid_as_root", || lab::run_as_init(Owner::Root, operations)),
        ("every_pidfd_operation_on_a_recycled_pid_in_a_user_namespace", || {
            lab::run_as_init(Owner::UserNamespace, operations)
        }),
    ]);
}

/// `Err(Exited)`, or `Err(Unsupported)` naming `feature` when the kernel lacks it.
#[track_caller]
fn exited<T: Debug>(what: &str, r: pidfd::Result<T>, feature: Option<Feature>) {
    match r {
        Err(Error::Exited) => {}
        Err(Error::Unsupported { feature: f }) if Some(f) == feature && !f.is_supported() => {}
        other => panic!("{what} on the pidfd of a reaped process whose pid was reused: {other:?}, not Exited"),
    }
}

fn is_a(st: ExitStatus) -> bool {
    st.code() == Some(A_CODE) && st.signal().is_none()
}

/// A wait on A's pidfd: A's own status (only where the kernel keeps it: `PIDFD_INFO_EXIT`),
/// or `NotChild`; never anything of B's.
#[track_caller]
fn waited(what: &str, r: pidfd::Result<Option<ExitStatus>>) {
    match r {
        Ok(Some(st)) if is_a(st) && Feature::InfoExit.is_supported() => {}
        Err(Error::NotChild) if !Feature::InfoExit.is_supported() => {}
        other => panic!(
            "{what} on the pidfd of a reaped process: {other:?} (want {} with info_exit {})",
            if Feature::InfoExit.is_supported() { "A's status (exit 42)" } else { "NotChild" },
            Feature::InfoExit.is_supported()
        ),
    }
}

fn operations() {
    if !require(Feature::PidfdOpen) || !require(Feature::PidfdSendSignal) {
        return;
    }
    let Some(Recycled { pid, a, a_nonblocking, a_id, b }) = lab::recycle() else { return };
    // Fresh handles for the waits, taken before any wait could remember a status.
    let fresh: Vec<PidFd> = (0..8).map(|_| a.try_clone().unwrap()).collect();

    // Signals, in every scope, with and without a payload.
    for sig in [0, libc::SIGUSR1, libc::SIGTERM, libc::SIGCONT, libc::SIGSTOP, libc::SIGKILL] {
        exited(&format!("send_signal({sig})"), a.send_signal(sig), None);
    }
    exited("kill", a.kill(), None);
    exited("signal_process_group", a.signal_process_group(libc::SIGUSR2), None);
    for scope in [SignalScope::Default, SignalScope::Thread, SignalScope::ThreadGroup, SignalScope::ProcessGroup] {
        exited(&format!("send_signal_to({scope:?})"), a.send_signal_to(libc::SIGUSR1, scope), None);
        exited(&format!("send_signal_to(0, {scope:?})"), a.send_signal_to(0, scope), None);
        let info = SigInfo::queue(SigValue::Int(7));
        let r = a.send_signal_with(libc::SIGUSR2, scope, info);
        // A process-group payload has no fallback before 6.9; it is refused before any pid is used.
        exited(&format!("send_signal_with({scope:?})"), r, Some(Feature::SignalScope));
    }

    // What the pidfd tells about the process.
    exited("pid", a.pid(), None);
    exited("ppid", a.ppid(), None);
    exited("credentials", a.credentials(), None);
    exited("cgroup_id", a.cgroup_id(), None);
    match (a.id(), a_id) {
        (Ok(id), Some(before)) => assert_eq!(id, before, "id() is A's own unique id, read while it lived"),
        (Err(Error::Unsupported { .. }), None) => {}
        (r, before) => panic!("id() after the reuse: {r:?}, while alive: {before:?}"),
    }
    match a.info() {
        Ok(info) => {
            assert!(Feature::InfoExit.is_supported(), "6.13/6.14 have no information on a reaped process: {info:?}");
            assert_eq!(info.pid(), None, "info() must never show the pid (it is B's now): {info:?}");
            assert_eq!(info.tgid(), None, "{info:?}");
            assert_eq!(info.ppid(), None, "{info:?}");
            assert_eq!(info.credentials(), None, "{info:?}");
            let st = info.exit_status().expect("with PIDFD_INFO_EXIT, a reaped process has its exit status");
            assert!(is_a(st), "info() shows A's exit status, not {st:?}");
        }
        r => exited("info", r, Some(Feature::GetInfo)),
    }
    match a.exit_status() {
        Ok(Some(st)) if is_a(st) => assert!(Feature::InfoExit.is_supported()),
        r => exited("exit_status", r, Some(Feature::InfoExit)),
    }
    let ran = Cell::new(false);
    exited("access_proc", a.access_proc(|d| ran.set(d.read("status").is_ok())), None);
    assert!(!ran.get(), "access_proc ran the closure on /proc/{pid}, which is B's");
    for fd in [0, 1, 2] {
        exited(&format!("get_fd({fd})"), a.get_fd(fd), Some(Feature::PidfdGetfd));
    }
    let local = 0u8;
    let page = MemoryRange { addr: std::ptr::addr_of!(local) as usize & !4095, len: 4096 };
    for advice in [Advice::Cold, Advice::PageOut, Advice::WillNeed] {
        exited(
            &format!("process_madvise({advice:?})"),
            a.process_madvise(&[page], advice),
            Some(Feature::ProcessMadvise),
        );
    }
    exited("process_mrelease", a.process_mrelease(), Some(Feature::ProcessMrelease));
    if let Some(id) = a_id {
        for flags in [OpenFlags::empty(), OpenFlags::NONBLOCK] {
            match PidFd::open_by_id(id, flags) {
                Err(Error::Exited) => {}
                Err(Error::Unsupported { feature: Feature::FileHandles }) if !Feature::FileHandles.is_supported() => {}
                Ok(fd) => panic!("open_by_id(A's id) opened a process (pid {:?}): B has A's pid", fd.pid()),
                Err(e) => panic!("open_by_id(A's id): {e:?}, not Exited"),
            }
        }
    }

    // Waits: B is our child too, with A's pid. Each on a handle that remembers nothing yet.
    let mut fresh = fresh.into_iter();
    let mut next = || fresh.next().unwrap();
    let (w1, w2, w3, w4, w5, w6, w7) = (next(), next(), next(), next(), next(), next(), next());
    waited("try_wait", w1.try_wait().map(|st| st.or(Some(ExitStatus::from_raw(-1)))));
    let exited_event = |r: pidfd::Result<Option<WaitEvent>>| {
        r.map(|e| match e {
            Some(WaitEvent::Exited(st)) => Some(st),
            other => panic!("a wait on A's pidfd reported {other:?}"),
        })
    };
    waited("wait_event(EXITED | NOHANG)", exited_event(w2.wait_event(WaitOptions::EXITED | WaitOptions::NOHANG)));
    waited("wait_event(EXITED | NOWAIT)", exited_event(w3.wait_event(WaitOptions::EXITED | WaitOptions::NOWAIT)));
    waited(
        "wait_event(STOPPED | CONTINUED)",
        exited_event(w4.wait_event(WaitOptions::STOPPED | WaitOptions::CONTINUED)),
    );
    waited("wait_event(EXITED)", exited_event(w5.wait_event(WaitOptions::EXITED)));
    match w6.wait_with_rusage() {
        Err(Error::NotChild) => {}
        other => panic!("wait_with_rusage on a process someone else reaped: {other:?}, not NotChild"),
    }
    waited("wait", w7.wait().map(Some));
    if let Some(nb) = &a_nonblocking {
        waited("try_wait (PIDFD_NONBLOCK)", nb.try_wait().map(|st| st.or(Some(ExitStatus::from_raw(-1)))));
        waited("wait (PIDFD_NONBLOCK)", nb.wait().map(Some));
    }
    waited("wait", a.wait().map(Some));

    b.assert_untouched();
    b.finish();
}
