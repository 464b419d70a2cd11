//! Bad input: every public function of `pidfd` given out-of-range values returns an error and
//! never panics. Pids 0, -1, `i32::MIN`, `i32::MAX`; signals -1, 65, `i32::MAX`; fds -1,
//! `i32::MAX`; flags and options with bits the type does not define (`from_bits_retain`);
//! memory ranges that overflow; `Command` with NUL bytes, the "unchanged" id `u32::MAX`, fd
//! targets that are negative, standard, duplicated or out of reach.
//!
//! Each call runs under `catch_unwind`, so a panic is reported as such, with the input.

use std::fmt::Debug;
use std::os::fd::{AsRawFd, OwnedFd};
use std::panic::{AssertUnwindSafe, catch_unwind};

use pidfd::{
    Advice, Command, Error, Feature, MemoryRange, OpenFlags, PidFd, SigInfo, SigValue, SignalScope, Stdio, WaitOptions,
};

#[allow(dead_code)]
#[path = "it/support.rs"]
mod support;

const PIDS: [i32; 4] = [0, -1, i32::MIN, i32::MAX];
const BAD_SIGNALS: [i32; 6] = [-1, 65, 129, i32::MAX, i32::MIN, -65];
const SCOPES: [SignalScope; 4] =
    [SignalScope::Default, SignalScope::Thread, SignalScope::ThreadGroup, SignalScope::ProcessGroup];

/// `f()` must return an error, without panicking; returns it.
#[track_caller]
fn error<T: Debug, E>(what: &str, f: impl FnOnce() -> Result<T, E>) -> E {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Err(e)) => e,
        Ok(Ok(v)) => panic!("{what}: accepted, returned {v:?}"),
        Err(_) => panic!("{what}: panicked"),
    }
}

/// `f()` must return `Error::InvalidInput` (refused before any system call), typed or inside
/// the `io::Error` of the std-mirroring methods (of kind `InvalidInput`).
#[track_caller]
fn invalid<T: Debug, E: Into<std::io::Error>>(what: &str, f: impl FnOnce() -> Result<T, E>) {
    let e: std::io::Error = error(what, f).into();
    match e.get_ref().and_then(|e| e.downcast_ref::<Error>()) {
        Some(Error::InvalidInput(_)) if e.kind() == std::io::ErrorKind::InvalidInput => {}
        _ => panic!("{what}: {e:?}, not InvalidInput"),
    }
}

fn dev_null() -> OwnedFd {
    std::fs::File::open("/dev/null").unwrap().into()
}

/// Fds of every kind that is not a pidfd (nor a socket).
fn not_pidfds() -> Vec<(&'static str, OwnedFd)> {
    let (r, w) = test_support::pipe();
    let mut v: Vec<(&'static str, OwnedFd)> = vec![
        ("/dev/null", dev_null()),
        ("a directory", std::fs::File::open("/").unwrap().into()),
        ("/proc/self", std::fs::File::open("/proc/self").unwrap().into()),
        ("a pipe's read end", r.into()),
        ("a pipe's write end", w.into()),
    ];
    // SAFETY: plain integer arguments; a new fd or -1.
    let ev = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    if ev >= 0 {
        // SAFETY: a fresh fd owned by nobody else.
        v.push(("an eventfd", unsafe { std::os::fd::FromRawFd::from_raw_fd(ev) }));
    }
    // SAFETY: NUL-terminated path.
    let path = unsafe { libc::open(c"/".as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
    if path >= 0 {
        // SAFETY: as above.
        v.push(("an O_PATH fd", unsafe { std::os::fd::FromRawFd::from_raw_fd(path) }));
    }
    v
}

/// A child that waits for EOF on stdin, and its pidfd.
fn child() -> pidfd::Child {
    Command::new("sh").args(["-c", "read x; exit 0"]).stdin(Stdio::Piped).spawn().expect("spawn")
}

#[test]
fn pids_out_of_range() {
    for pid in PIDS {
        let e = error(&format!("PidFd::open({pid})"), || PidFd::open(pid));
        if pid <= 0 {
            assert!(matches!(e, Error::InvalidInput(_)), "open({pid}): {e:?}");
        }
        for flags in [OpenFlags::empty(), OpenFlags::NONBLOCK, OpenFlags::THREAD, OpenFlags::all()] {
            error(&format!("PidFd::open_with({pid}, {flags:?})"), || PidFd::open_with(pid, flags));
        }
    }
}

#[test]
fn open_flags_with_unknown_bits() {
    if !support::require(Feature::PidfdOpen) {
        return;
    }
    let me = std::process::id() as i32;
    let id = PidFd::from_self().unwrap().id().ok();
    let unknown = [
        1,
        libc::O_WRONLY as u32,
        libc::O_RDWR as u32,
        libc::O_TRUNC as u32,
        libc::O_PATH as u32,
        libc::O_DIRECTORY as u32,
        0x8000_0000,
        u32::MAX,
        OpenFlags::NONBLOCK.bits() | 1,
    ];
    for bits in unknown {
        let flags = OpenFlags::from_bits_retain(bits);
        invalid(&format!("PidFd::open_with(self, {bits:#x})"), || PidFd::open_with(me, flags));
        if let Some(id) = id {
            invalid(&format!("PidFd::open_by_id(self, {bits:#x})"), || PidFd::open_by_id(id, flags));
        }
    }
}

#[test]
fn ids_that_name_no_process() {
    // Not small ids: pidfs numbers processes from 1 up, so a fresh system's early processes
    // (pid 1 itself) have ids 1, 2, ... and open_by_id rightly opens them.
    for id in [0, u64::MAX, u64::MAX - 1, 1 << 62] {
        match error(&format!("PidFd::open_by_id({id:#x})"), || PidFd::open_by_id(id, OpenFlags::empty())) {
            Error::Exited | Error::Unsupported { .. } | Error::Os { .. } | Error::PermissionDenied { .. } => {}
            // A policy that refuses pidfd_open leaves the file-handle probe undecided.
            Error::Denied { feature: Feature::FileHandles, .. }
                if support::denied().iter().any(|f| f == "file_handles") => {}
            e => panic!("open_by_id({id:#x}): {e:?}"),
        }
    }
}

#[test]
fn signals_out_of_range() {
    if !support::require(Feature::PidfdOpen) {
        return;
    }
    let mut c = child();
    let me = PidFd::from_self().unwrap();
    for fd in [&me, c.pidfd()] {
        for sig in BAD_SIGNALS {
            invalid(&format!("send_signal({sig})"), || fd.send_signal(sig));
            invalid(&format!("signal_process_group({sig})"), || fd.signal_process_group(sig));
            for scope in SCOPES {
                invalid(&format!("send_signal_to({sig}, {scope:?})"), || fd.send_signal_to(sig, scope));
                let info = SigInfo::queue(SigValue::Int(1));
                invalid(&format!("send_signal_with({sig}, {scope:?})"), || fd.send_signal_with(sig, scope, info));
            }
        }
        for scope in SCOPES {
            let info = SigInfo::queue(SigValue::Ptr(usize::MAX));
            invalid(&format!("send_signal_with(0, {scope:?})"), || fd.send_signal_with(0, scope, info));
        }
    }
    for code in [0, 1, i32::MAX, libc::SI_TKILL] {
        invalid(&format!("SigInfo::with_code({code})"), || SigInfo::with_code(code, SigValue::Int(0)));
    }
    drop(c.stdin.take());
    assert!(c.wait().unwrap().success(), "no bad signal reached the child");
}

#[test]
fn fds_out_of_range_and_of_the_wrong_kind() {
    if !support::require(Feature::PidfdOpen) {
        return;
    }
    let me = PidFd::from_self().unwrap();
    for fd in [-1, -100, i32::MIN, i32::MAX, 1 << 20] {
        match error(&format!("get_fd({fd})"), || me.get_fd(fd)) {
            Error::InvalidInput(_) | Error::Unsupported { .. } | Error::PermissionDenied { .. } => {}
            e => panic!("get_fd({fd}): {e:?}"),
        }
    }
    for (what, fd) in not_pidfds() {
        let raw = fd.as_raw_fd();
        error(&format!("PidFd::from_peer({what})"), || PidFd::from_peer(&fd));
        error(&format!("set_pass_pidfd({what})"), || pidfd::set_pass_pidfd(&fd, true));
        error(&format!("send_pidfd({what})"), || pidfd::send_pidfd(&fd, &me, b"x"));
        error(&format!("recv_pidfd({what})"), || pidfd::recv_pidfd(&fd, &mut [0u8; 4]));
        let e = error(&format!("PidFd::try_from({what})"), || PidFd::try_from(fd));
        assert!(matches!(e, Error::NotPidfd), "PidFd::try_from({what}, fd {raw}): {e:?}");
    }
    // A connected socket, but nothing (or nothing to carry the fd) to send.
    let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    invalid("send_pidfd with no data", || pidfd::send_pidfd(&a, &me, b""));
}

#[test]
fn wait_options_with_unknown_bits() {
    if !support::require(Feature::PidfdOpen) {
        return;
    }
    let mut c = child();
    for bits in [libc::__WALL, libc::__WNOTHREAD, libc::__WCLONE, 0x100, 0x1_0000, -1, i32::MAX, i32::MIN] {
        let options = WaitOptions::from_bits_retain(libc::WEXITED | libc::WNOHANG | bits);
        invalid(&format!("wait_event({options:?})"), || c.pidfd().wait_event(options));
    }
    invalid("wait_event(empty)", || c.pidfd().wait_event(WaitOptions::empty()));
    invalid("wait_event(NOHANG)", || c.pidfd().wait_event(WaitOptions::NOHANG | WaitOptions::NOWAIT));
    drop(c.stdin.take());
    assert_eq!(c.wait().unwrap().code(), Some(0), "the child is still ours to wait for");
}

#[test]
fn memory_ranges_that_overflow() {
    if !support::require(Feature::PidfdOpen) {
        return;
    }
    let mut c = child();
    let me = PidFd::from_self().unwrap();
    let ranges: Vec<(&str, Vec<MemoryRange>)> = vec![
        ("addr usize::MAX", vec![MemoryRange { addr: usize::MAX, len: 4096 }]),
        ("len usize::MAX", vec![MemoryRange { addr: 4096, len: usize::MAX }]),
        ("addr + len wraps", vec![MemoryRange { addr: usize::MAX - 4095, len: 8192 }]),
        ("lengths summing past isize::MAX", vec![MemoryRange { addr: 0, len: isize::MAX as usize }; 3]),
        ("more ranges than IOV_MAX", vec![MemoryRange { addr: 4096, len: 4096 }; 1025]),
        ("unaligned", vec![MemoryRange { addr: 4097, len: 1 }]),
    ];
    for fd in [&me, c.pidfd()] {
        for (what, r) in &ranges {
            for advice in [Advice::Cold, Advice::PageOut, Advice::WillNeed, Advice::Collapse] {
                error(&format!("process_madvise({what}, {advice:?})"), || fd.process_madvise(r, advice));
            }
        }
    }
    drop(c.stdin.take());
    assert!(c.wait().unwrap().success());
}

#[test]
fn commands_with_bad_strings() {
    let nul = "a\0b";
    invalid("Command::new(NUL)", || Command::new(nul).spawn());
    invalid("Command::new(\"\")", || Command::new("").spawn());
    invalid("arg(NUL)", || Command::new("true").arg(nul).spawn());
    invalid("args(NUL)", || Command::new("true").args(["ok", nul]).spawn());
    invalid("arg0(NUL)", || Command::new("true").arg0(nul).spawn());
    invalid("env(NUL key)", || Command::new("true").env(nul, "v").spawn());
    invalid("env(NUL value)", || Command::new("true").env("K", nul).spawn());
    invalid("envs(NUL)", || Command::new("true").envs([("K", nul)]).spawn());
    invalid("current_dir(NUL)", || Command::new("true").current_dir(nul).spawn());
    invalid("PATH with NUL", || Command::new("true").env("PATH", "/bin\0/usr/bin").spawn());
    invalid("output() with NUL", || Command::new("true").arg(nul).output());
    invalid("status() with NUL", || Command::new("true").arg(nul).status());
    error("a program that does not exist", || Command::new("/nonexistent/program").spawn());
    error("a directory as the program", || Command::new("/").spawn());
}

#[test]
fn commands_with_ids_out_of_range() {
    // u32::MAX is "leave unchanged" to setresuid/setresgid: the child would keep our ids.
    invalid("uid(u32::MAX)", || Command::new("true").uid(u32::MAX).spawn());
    invalid("gid(u32::MAX)", || Command::new("true").gid(u32::MAX).spawn());
    invalid("uid and gid u32::MAX", || Command::new("true").uid(u32::MAX).gid(u32::MAX).status());
    invalid("groups with u32::MAX", || Command::new("true").groups(&[0, u32::MAX]).spawn());
    for pgid in [-1, i32::MIN] {
        error(&format!("process_group({pgid})"), || Command::new("true").process_group(pgid).spawn());
    }
    for sigs in [vec![0], vec![-1], vec![65], vec![i32::MAX], vec![i32::MIN], vec![1, 2, 129]] {
        invalid(&format!("signal_mask({sigs:?})"), || Command::new("true").signal_mask(&sigs).spawn());
    }
}

#[test]
fn commands_with_bad_fd_targets() {
    for target in [-1, i32::MIN, 0, 1, 2] {
        invalid(&format!("fd(_, {target})"), || Command::new("true").fd(dev_null(), target).spawn());
    }
    invalid("fd twice to 5", || Command::new("true").fd(dev_null(), 5).fd(dev_null(), 5).spawn());
    for target in [i32::MAX, i32::MAX - 1, 1 << 30] {
        error(&format!("fd(_, {target})"), || Command::new("true").fd(dev_null(), target).spawn());
    }
    // Any number of mappings is accepted (the child side has no fixed table): 197 arrive.
    let mut many = Command::new("true");
    for t in 3..200 {
        many.fd(dev_null(), t);
    }
    assert!(many.status().unwrap().success(), "197 fd mappings");
    error("a cgroup that is /dev/null", || Command::new("true").cgroup(dev_null()).spawn());
}

#[test]
fn proc_names_that_leave_the_directory() {
    if !support::require(Feature::PidfdOpen) {
        return;
    }
    let me = PidFd::from_self().unwrap();
    for name in ["", "/", "..", "../1/status", "/etc/passwd", "task/../../1", "a\0b"] {
        let r = me
            .access_proc(|d| {
                [
                    d.open_file(name).map(drop),
                    d.read(name).map(drop),
                    d.read_to_string(name).map(drop),
                    d.read_link(name).map(drop),
                ]
            })
            .unwrap();
        for e in r {
            assert_eq!(e.unwrap_err().kind(), std::io::ErrorKind::InvalidInput, "{name:?}");
        }
    }
}

#[test]
fn feature_names_that_do_not_exist() {
    for name in ["", "PIDFD_OPEN", "pidfd_open\0", "pidfd-open", " pidfd_open", "x".repeat(10_000).as_str()] {
        assert_eq!(Feature::from_name(name), None, "{name:?}");
    }
}
