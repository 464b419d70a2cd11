//! File descriptors: thousands of succeeding and failing calls leave the fd table exactly as it
//! was (the same numbers, naming the same files), and every fd the library creates is
//! close-on-exec (a plain `std::process::Command` child, spawned while many library objects are
//! alive, holds nothing a child spawned before them did not).
//!
//! A binary of its own, and one test at a time (`SERIAL`): counting `/proc/self/fd` beside
//! other tests would race. Iterations: on the host as below (thousands of calls per test);
//! under the kernel matrix (`PIDFD_TEST_EXPECT` set, QEMU TCG) a hundredth, at least 3.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::time::Duration;

use pidfd::{
    Advice, Command, Error, Feature, MemoryRange, OpenFlags, PidFd, SigInfo, SigValue, SignalScope, Stdio, WaitEvent,
    WaitOptions,
};

#[allow(dead_code)]
#[path = "it/support.rs"]
mod support;

use fd_table::{fd_table, inherited, leaves_no_fd, serial};
use test_support::fd_table;

fn dev_null() -> OwnedFd {
    std::fs::File::open("/dev/null").unwrap().into()
}

/// A child that prints its pid and waits for a line (or EOF) on stdin before exiting 0.
fn held_child() -> (pidfd::Child, i32) {
    let mut child = Command::new("sh")
        .args(["-c", "echo $$; read x; exit 0"])
        .stdin(Stdio::Piped)
        .stdout(Stdio::Piped)
        .spawn()
        .expect("spawn");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let pid = line.trim().parse().unwrap();
    (child, pid)
}

/// Drops a running child: it goes to the background reaper (its pidfd with it), which reaps it
/// once it exits (at once: its stdin closes with the drop) and closes the pidfd. Returns once
/// the child is reaped, so no test counts the reaper's fd of another test's child.
fn drop_running_child() {
    let running = Command::new("sh").args(["-c", "read x"]).stdin(Stdio::Piped).spawn().unwrap();
    let observer = running.pidfd().try_clone().unwrap();
    drop(running);
    let reaped = (0..10_000).any(|_| {
        std::thread::sleep(Duration::from_millis(1));
        matches!(observer.pid(), Err(Error::Exited))
    });
    assert!(reaped, "the background reaper did not reap a dropped child");
}

#[test]
fn pidfd_queries_and_failures() {
    let _serial = serial();
    let Some(me) = support::self_pidfd() else { return };
    let (mut reaped, _) = held_child();
    drop(reaped.stdin.take());
    reaped.wait().unwrap();
    let reaped = reaped.into_pidfd();
    leaves_no_fd("pidfd queries", 1000, |_| {
        let _ = PidFd::open(i32::MAX);
        let _ = PidFd::open(-5);
        let _ = PidFd::open_with(std::process::id() as i32, OpenFlags::from_bits_retain(0x8000_0000));
        let fd = PidFd::from_self().unwrap();
        let _ = fd.pid();
        let _ = fd.ppid();
        let _ = fd.credentials();
        let _ = fd.cgroup_id();
        let _ = fd.id();
        let _ = fd.info();
        let _ = fd.exit_status();
        let _ = fd.is_thread();
        let _ = fd.is_nonblocking();
        let _ = fd.try_wait();
        let _ = fd.wait_with_rusage();
        let _ = fd.send_signal(0);
        let _ = fd.send_signal(-3);
        let _ = fd.access_proc(|d| d.read("comm").map(|v| v.len()));
        let _ = fd.access_proc(|d| d.read_link("exe"));
        let _ = fd.access_proc(|d| d.open_file("../1/status"));
        let _ = fd.access_proc(|d| d.read("no-such-file"));
        let _ = fd.process_mrelease();
        let _ = me.try_clone();
        let _ = PidFd::try_from(dev_null());
        // The /proc fallbacks of a reaped process, and its /proc failure paths.
        let _ = reaped.pid();
        let _ = reaped.ppid();
        let _ = reaped.credentials();
        let _ = reaped.cgroup_id();
        let _ = reaped.info();
        let _ = reaped.access_proc(|d| d.read("status"));
        let _ = reaped.get_fd(0);
        let _ = reaped.process_mrelease();
        let _ = reaped.send_signal_to(0, SignalScope::Thread);
        let _ = reaped.signal_process_group(0);
        let _ = pidfd::features();
    });
}

/// `open_with(tid)` of a thread that is not its group's leader: the `/proc` look-up that tells
/// `NotThreadGroupLeader` from other `EINVAL`s, and `PIDFD_THREAD` pidfds.
#[test]
fn thread_pidfds_and_not_a_leader() {
    let _serial = serial();
    let (tx, rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let t = std::thread::spawn(move || {
        // SAFETY: no arguments.
        tx.send(unsafe { libc::gettid() }).unwrap();
        let _ = stop_rx.recv();
    });
    let tid = rx.recv().unwrap();
    leaves_no_fd("thread pidfds", 1000, |_| {
        let _ = PidFd::open(tid);
        if let Ok(fd) = PidFd::open_with(tid, OpenFlags::THREAD) {
            let _ = fd.pid();
            let _ = fd.is_thread();
            let _ = fd.send_signal_to(0, SignalScope::Thread);
            let _ = fd.send_signal_to(0, SignalScope::ThreadGroup);
        }
    });
    drop(stop_tx);
    t.join().unwrap();
}

#[test]
fn get_fd_and_open_by_id() {
    let _serial = serial();
    let Some(me) = support::self_pidfd() else { return };
    if !support::require(Feature::PidfdGetfd) {
        return;
    }
    let (mut gone, _) = held_child();
    drop(gone.stdin.take());
    gone.wait().unwrap();
    let gone_id = gone.pidfd().id().ok();
    let my_id = me.id().ok();
    leaves_no_fd("get_fd / open_by_id", 1000, |_| {
        drop(me.get_fd(0));
        drop(me.get_fd(-1));
        drop(me.get_fd(i32::MAX));
        drop(me.get_fd(99_999));
        drop(gone.pidfd().get_fd(0));
        if let Some(id) = my_id {
            drop(PidFd::open_by_id(id, OpenFlags::empty()));
            drop(PidFd::open_by_id(id, OpenFlags::NONBLOCK));
            drop(PidFd::open_by_id(id, OpenFlags::from_bits_retain(libc::O_TRUNC as u32)));
        }
        if let Some(id) = gone_id {
            drop(PidFd::open_by_id(id, OpenFlags::empty()));
        }
        drop(PidFd::open_by_id(0, OpenFlags::empty()));
        drop(PidFd::open_by_id(u64::MAX, OpenFlags::empty()));
    });
}

#[test]
fn signals_in_every_scope() {
    let _serial = serial();
    let Some(me) = support::self_pidfd() else { return };
    if !support::require(Feature::PidfdSendSignal) {
        return;
    }
    let mut child = Command::new("sh").args(["-c", "read x"]).stdin(Stdio::Piped).process_group(0).spawn().unwrap();
    let (mut gone, _) = held_child();
    drop(gone.stdin.take());
    gone.wait().unwrap();
    leaves_no_fd("signals", 1000, |_| {
        for scope in [SignalScope::Default, SignalScope::Thread, SignalScope::ThreadGroup, SignalScope::ProcessGroup] {
            let _ = me.send_signal_to(0, scope);
            let _ = child.pidfd().send_signal_to(0, scope);
            let _ = child.pidfd().send_signal_to(libc::SIGCONT, scope);
            let _ = child.pidfd().send_signal_with(libc::SIGCONT, scope, SigInfo::queue(SigValue::Int(1)));
            let _ = gone.pidfd().send_signal_to(libc::SIGCONT, scope);
            let _ = gone.pidfd().send_signal_with(libc::SIGCONT, scope, SigInfo::queue(SigValue::Ptr(2)));
            let _ = child.pidfd().send_signal_to(99, scope);
        }
        let _ = child.pidfd().signal_process_group(0);
        let _ = me.signal_process_group(0);
    });
    drop(child.stdin.take());
    child.wait().unwrap();
}

/// Stop and continue events, on a blocking and a non-blocking pidfd (where a blocking
/// stop/continue wait reopens the process by its pidfs file handle, 6.14), exits with NOWAIT.
#[test]
fn wait_events_stop_and_continue() {
    let _serial = serial();
    if !support::require(Feature::PidfdSendSignal) {
        return;
    }
    leaves_no_fd("wait_event", 100, |_| {
        let (mut child, pid) = held_child();
        let fd = child.pidfd().try_clone().unwrap();
        fd.send_signal(libc::SIGSTOP).unwrap();
        assert_eq!(fd.wait_event(WaitOptions::STOPPED).unwrap(), Some(WaitEvent::Stopped(libc::SIGSTOP)));
        assert_eq!(fd.wait_event(WaitOptions::STOPPED | WaitOptions::NOHANG).unwrap(), None);
        fd.send_signal(libc::SIGCONT).unwrap();
        assert_eq!(fd.wait_event(WaitOptions::CONTINUED).unwrap(), Some(WaitEvent::Continued));
        if let Ok(nb) = PidFd::open_with(pid, OpenFlags::NONBLOCK) {
            nb.send_signal(libc::SIGSTOP).unwrap();
            assert_eq!(nb.wait_event(WaitOptions::STOPPED).unwrap(), Some(WaitEvent::Stopped(libc::SIGSTOP)));
            nb.send_signal(libc::SIGCONT).unwrap();
            assert_eq!(nb.wait_event(WaitOptions::CONTINUED).unwrap(), Some(WaitEvent::Continued));
            assert_eq!(nb.try_wait().unwrap(), None);
        }
        assert!(matches!(fd.wait_event(WaitOptions::empty()), Err(Error::InvalidInput(_))));
        drop(child.stdin.take());
        let ev = fd.wait_event(WaitOptions::EXITED | WaitOptions::NOWAIT).unwrap();
        assert!(matches!(ev, Some(WaitEvent::Exited(_))), "{ev:?}");
        assert!(fd.wait().unwrap().success());
        let _ = fd.wait_event(WaitOptions::EXITED | WaitOptions::STOPPED);
        let _ = child.wait();
    });
}

/// `process_madvise` on a child and on ourselves, with ranges it takes and ranges it refuses.
#[test]
fn memory_advice() {
    let _serial = serial();
    let Some(me) = support::self_pidfd() else { return };
    let (mut child, _) = held_child();
    let local = [0u8; 8192];
    let page = MemoryRange { addr: local.as_ptr() as usize & !4095, len: 4096 };
    leaves_no_fd("process_madvise", 1000, |_| {
        let _ = me.process_madvise(&[page], Advice::Cold);
        let _ = child.pidfd().process_madvise(&[page], Advice::PageOut);
        let _ = child.pidfd().process_madvise(&[MemoryRange { addr: usize::MAX - 4095, len: 8192 }], Advice::Cold);
        let _ = child.pidfd().process_madvise(&[page; 2000], Advice::WillNeed);
        let _ = child.pidfd().process_madvise(&[], Advice::Collapse);
    });
    drop(child.stdin.take());
    child.wait().unwrap();
}

/// `pidfd::Command` on its success and failure paths, and `pidfd::spawn`.
#[test]
fn spawning() {
    let _serial = serial();
    let cgroup = std::fs::File::open("/sys/fs/cgroup").ok().map(OwnedFd::from);
    leaves_no_fd("spawning", 200, |i| {
        let out = Command::new("true").stdin(Stdio::Null).stdout(Stdio::Piped).output().unwrap();
        assert!(out.status.success());
        let out = Command::new("sh")
            .args(["-c", "echo out; echo err >&2; read x"])
            .stdin(Stdio::Piped)
            .stderr(Stdio::Piped)
            .output()
            .unwrap();
        assert_eq!(out.stdout, b"out\n");
        assert!(
            Command::new("sh").args(["-c", "exit 3"]).stdin(Stdio::Fd(dev_null())).status().unwrap().code() == Some(3)
        );
        let mut mapped = Command::new("sh");
        mapped.args(["-c", "exec 7>&-"]).fd(dev_null(), 7).fd(dev_null(), 9);
        assert!(mapped.status().unwrap().success());
        let errno = |r: std::io::Result<pidfd::Child>| r.unwrap_err().raw_os_error();
        assert_eq!(errno(Command::new("/nonexistent").spawn()), Some(libc::ENOENT));
        assert_eq!(errno(Command::new("/dev/null").spawn()), Some(libc::EACCES));
        assert_eq!(errno(Command::new("true").current_dir("/nonexistent").spawn()), Some(libc::ENOENT));
        let invalid = |r: std::io::Result<pidfd::Child>| {
            let e = r.unwrap_err();
            e.kind() == std::io::ErrorKind::InvalidInput
                && matches!(e.get_ref().and_then(|e| e.downcast_ref()), Some(Error::InvalidInput(_)))
        };
        assert!(invalid(Command::new("tr\0ue").spawn()));
        assert!(invalid(Command::new("true").stdout(Stdio::Piped).arg("a\0b").spawn()));
        assert!(invalid(Command::new("true").fd(dev_null(), 1).spawn()));
        assert!(invalid(Command::new("true").fd(dev_null(), 5).fd(dev_null(), 5).spawn()));
        assert!(Command::new("true").cgroup(dev_null()).status().is_err(), "a cgroup that is /dev/null");
        if let Some(cg) = &cgroup {
            let _ = Command::new("true").cgroup(cg.try_clone().unwrap()).status();
        }
        // pidfd::spawn needs pidfd_open in the child; pidfd::Command above does not.
        if Feature::PidfdOpen.is_supported() {
            let (mut c, fd) = pidfd::spawn(&mut std::process::Command::new("true")).unwrap();
            fd.wait().unwrap();
            let _ = c.try_wait();
        }
        assert!(pidfd::spawn(&mut std::process::Command::new("/nonexistent")).is_err());
        drop_running_child();
        if i % 2 == 0 {
            let mut detached = Command::new("true").spawn().unwrap();
            detached.wait().unwrap();
            detached.detach();
        }
    });
}

/// `SO_PEERPIDFD`, `SO_PASSPIDFD` / `SCM_PIDFD`, pidfds passed with `SCM_RIGHTS`, and the ways
/// each can fail: not a socket, not connected, an fd that is not a pidfd, too many fds.
#[test]
fn socket_helpers() {
    let _serial = serial();
    let Some(me) = support::self_pidfd() else { return };
    leaves_no_fd("sockets", 1000, |_| {
        let (a, b) = UnixStream::pair().unwrap();
        let _ = PidFd::from_peer(&a);
        let _ = PidFd::from_peer(dev_null());
        let _ = PidFd::from_peer(UnixDatagram::unbound().unwrap());
        let _ = pidfd::set_pass_pidfd(&b, true);
        let _ = pidfd::set_pass_pidfd(dev_null(), true);
        // SCM_RIGHTS with a pidfd, then the sender's own pidfd (SCM_PIDFD, 6.5).
        pidfd::send_pidfd(&a, &me, b"x").unwrap();
        let mut buf = [0u8; 8];
        let (n, got) = pidfd::recv_pidfd(&b, &mut buf).unwrap();
        assert_eq!((n, got.is_some()), (1, true));
        (&a).write_all(b"y").unwrap();
        let _ = pidfd::recv_pidfd(&b, &mut buf).unwrap();
        let _ = pidfd::set_pass_pidfd(&b, false);
        assert!(matches!(pidfd::send_pidfd(&a, &me, b""), Err(Error::InvalidInput(_))));
        assert!(pidfd::send_pidfd(dev_null(), &me, b"x").is_err());
        assert!(pidfd::recv_pidfd(dev_null(), &mut buf).is_err());
        // SCM_RIGHTS with fds that are not all pidfds: NotPidfd, every received fd closed.
        send_raw_fds(&a, &[me.as_raw_fd(), dev_null().as_raw_fd(), me.as_raw_fd()]);
        assert!(matches!(pidfd::recv_pidfd(&b, &mut buf), Err(Error::NotPidfd)));
        // More fds than the receiver's control buffer holds: truncated, the ones that arrived
        // closed.
        let many: Vec<RawFd> = (0..20).map(|_| me.as_raw_fd()).collect();
        send_raw_fds(&a, &many);
        assert!(pidfd::recv_pidfd(&b, &mut buf).is_err());
    });
}

/// `sendmsg` with `fds` attached (`SCM_RIGHTS`) and one byte, as another program would send.
fn send_raw_fds(sock: &impl AsFd, fds: &[RawFd]) {
    // SAFETY: CMSG_SPACE is arithmetic on its argument.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of_val(fds) as u32) } as usize;
    let mut cbuf = vec![0u64; space.div_ceil(8)];
    let mut byte = [b'z'];
    let mut iov = libc::iovec { iov_base: byte.as_mut_ptr().cast(), iov_len: 1 };
    // SAFETY: all-zero is a valid msghdr; the pointers set below stay valid for the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: the control buffer has room for one header and `fds`.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of_val(fds) as u32) as _;
        std::ptr::copy_nonoverlapping(fds.as_ptr(), libc::CMSG_DATA(cmsg).cast::<RawFd>(), fds.len());
        assert_eq!(libc::sendmsg(sock.as_fd().as_raw_fd(), &msg, 0), 1, "{}", std::io::Error::last_os_error());
    }
}

/// Every fd the library creates is close-on-exec: a plain child spawned while many library
/// objects are alive inherits nothing beyond what a child spawned before them did.
#[test]
fn every_library_fd_is_close_on_exec() {
    let _serial = serial();
    let baseline = inherited();
    let mut alive: Vec<Box<dyn std::any::Any>> = Vec::new();
    let Some(me) = support::self_pidfd() else { return };
    let pid = std::process::id() as i32;
    alive.push(Box::new(PidFd::open(pid).unwrap()));
    if let Ok(fd) = PidFd::open_with(pid, OpenFlags::NONBLOCK) {
        alive.push(Box::new(fd));
    }
    // SAFETY: no arguments.
    if let Ok(fd) = PidFd::open_with(unsafe { libc::gettid() }, OpenFlags::THREAD) {
        alive.push(Box::new(fd));
    }
    alive.push(Box::new(me.try_clone().unwrap()));
    if let Ok(fd) = me.id().and_then(|id| PidFd::open_by_id(id, OpenFlags::empty())) {
        alive.push(Box::new(fd));
    }
    if let Ok(fd) = me.get_fd(0) {
        alive.push(Box::new(fd));
    }
    alive.push(Box::new(me.access_proc(|d| d.open_file("status")).unwrap().unwrap()));
    let (a, b) = UnixStream::pair().unwrap();
    if let Ok(fd) = PidFd::from_peer(&a) {
        alive.push(Box::new(fd));
    }
    let _ = pidfd::set_pass_pidfd(&b, true);
    pidfd::send_pidfd(&a, &me, b"x").unwrap();
    let mut buf = [0u8; 4];
    alive.push(Box::new(pidfd::recv_pidfd(&b, &mut buf).unwrap().1));
    (&a).write_all(b"y").unwrap();
    alive.push(Box::new(pidfd::recv_pidfd(&b, &mut buf).unwrap().1));
    // Children with every kind of stdio, and a dropped one (the background reaper's pipe).
    let mut children = Vec::new();
    for _ in 0..3 {
        let child = Command::new("sh")
            .args(["-c", "read x"])
            .stdin(Stdio::Piped)
            .stdout(Stdio::Piped)
            .stderr(Stdio::Piped)
            .spawn()
            .unwrap();
        children.push(child);
    }
    let null = Command::new("sh").args(["-c", "read x"]).stdin(Stdio::Null).stdout(Stdio::Null).spawn().unwrap();
    drop_running_child();
    let (std_child, spawned) = pidfd::spawn(&mut std::process::Command::new("true")).unwrap();
    alive.push(Box::new(spawned));
    let after = inherited();
    let leaked: BTreeMap<_, _> = after.iter().filter(|(fd, _)| !baseline.contains_key(fd)).collect();
    assert!(
        leaked.is_empty(),
        "a plain child inherited fds the library created without close-on-exec: {leaked:?}\n\
         (a child spawned before them held {baseline:?})"
    );
    drop(std_child);
    drop(null);
    for mut c in children {
        drop(c.stdin.take());
        c.wait().unwrap();
    }
    drop(alive);
}

/// Raw fds the test itself creates never confuse the count: a sanity check that the table
/// comparison sees a leak at all.
#[test]
fn the_fd_table_comparison_sees_a_leak() {
    let _serial = serial();
    let before = fd_table();
    // SAFETY: dup of stdin; the fd is closed below.
    let fd = unsafe { libc::dup(0) };
    assert_ne!(fd_table(), before);
    // SAFETY: our own fd.
    drop(unsafe { OwnedFd::from_raw_fd(fd) });
    assert_eq!(fd_table(), before);
}
