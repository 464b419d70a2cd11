//! Pure parsers for the `/proc` fallbacks and the wait-status decoder. No I/O, no allocation,
//! safe code only, so they can run under Miri; a unit test feeds them arbitrary bytes.

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

/// Lines of `buf` (`\n`-separated; a last line without `\n` counts).
fn lines(buf: &[u8]) -> impl Iterator<Item = &[u8]> {
    buf.split(|&b| b == b'\n')
}

/// The value of the field `key` (e.g. `b"Pid:"`): the line's rest, leading blanks stripped.
fn field<'a>(buf: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    lines(buf).find_map(|l| l.strip_prefix(key)).map(|v| v.trim_ascii_start())
}

/// A decimal integer at the start of `s` (optional `-`), ending at a blank or the end.
fn int(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.strip_prefix(b"-") {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let end = digits.iter().position(|b| !b.is_ascii_digit()).unwrap_or(digits.len());
    if end == 0 || (end < digits.len() && !digits[end].is_ascii_whitespace()) {
        return None;
    }
    let mut v: i64 = 0;
    for &d in &digits[..end] {
        v = v.checked_mul(10)?.checked_add(i64::from(d - b'0'))?;
    }
    Some(if neg { -v } else { v })
}

/// Up to `N` blank-separated unsigned 32-bit integers.
fn uints<const N: usize>(s: &[u8]) -> Option<[u32; N]> {
    let mut out = [0u32; N];
    let mut words = s.split(|b| b.is_ascii_whitespace()).filter(|w| !w.is_empty());
    for slot in &mut out {
        *slot = u32::try_from(int(words.next()?)?).ok()?;
    }
    Some(out)
}

/// The `Pid:` line of `/proc/self/fdinfo/<pidfd>` (5.2): the pid in the procfs mount's PID
/// namespace; `0` when the process is not visible there; `-1` once it has been reaped (5.5).
/// `None` when the line is absent: the fd is not a pidfd.
pub(crate) fn fdinfo_pid(buf: &[u8]) -> Option<i32> {
    field(buf, b"Pid:").and_then(int).and_then(|v| i32::try_from(v).ok())
}

/// Whether fdinfo has an `NSpid:` line (5.5+, which also shows `Pid: -1` after the reap; before,
/// a reaped process keeps showing its old pid).
pub(crate) fn fdinfo_has_nspid(buf: &[u8]) -> bool {
    lines(buf).any(|l| l.starts_with(b"NSpid:"))
}

/// The fields of `/proc/<pid>/status` the fallbacks need.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Status {
    pub(crate) tgid: Option<i32>,
    pub(crate) ppid: Option<i32>,
    /// Real, effective, saved, filesystem.
    pub(crate) uid: Option<[u32; 4]>,
    /// Real, effective, saved, filesystem.
    pub(crate) gid: Option<[u32; 4]>,
}

pub(crate) fn status(buf: &[u8]) -> Status {
    let pid_field = |k: &[u8]| field(buf, k).and_then(int).and_then(|v| i32::try_from(v).ok());
    Status {
        tgid: pid_field(b"Tgid:"),
        ppid: pid_field(b"PPid:"),
        uid: field(buf, b"Uid:").and_then(uints::<4>),
        gid: field(buf, b"Gid:").and_then(uints::<4>),
    }
}

/// The cgroup v2 path from `/proc/<pid>/cgroup` (the `0::/path` line), without the leading `/`.
pub(crate) fn cgroup_v2_path(buf: &[u8]) -> Option<&[u8]> {
    lines(buf).find_map(|l| l.strip_prefix(b"0::/"))
}

/// The mount point of the first cgroup2 mount of `/proc/self/mountinfo` that shows the
/// hierarchy's root (root field `/`), with `\ooo` escapes decoded into `out`.
pub(crate) fn cgroup2_mount(mountinfo: &[u8], out: &mut Vec<u8>) -> bool {
    for line in lines(mountinfo) {
        let Some(sep) = line.windows(3).position(|w| w == b" - ") else { continue };
        let (head, tail) = (&line[..sep], &line[sep + 3..]);
        if tail.split(|&b| b == b' ').next() != Some(b"cgroup2") {
            continue;
        }
        let mut fields = head.split(|&b| b == b' ');
        let (Some(root), Some(mount)) = (fields.nth(3), fields.next()) else { continue };
        if root != b"/" {
            continue;
        }
        out.clear();
        let mut i = 0;
        while i < mount.len() {
            let oct =
                mount.get(i + 1..i + 4).filter(|d| mount[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
            match oct {
                Some(d) => {
                    let v = d.iter().fold(0u32, |a, c| a * 8 + u32::from(c - b'0'));
                    out.push(v as u8);
                    i += 4;
                }
                None => {
                    out.push(mount[i]);
                    i += 1;
                }
            }
        }
        return true;
    }
    false
}

/// What a `waitid` reported.
///
/// # Kernel support
/// Any kernel (returned by [`PidFd::wait_event`](crate::PidFd::wait_event), which documents the
/// kernels it needs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitEvent {
    /// The process terminated (exit code, killing signal, core dump: see [`ExitStatus`]).
    Exited(ExitStatus),
    /// The process was stopped by this signal (`WSTOPPED`).
    Stopped(i32),
    /// A traced process stopped with this signal (ptrace stop).
    Trapped(i32),
    /// The process was resumed by `SIGCONT` (`WCONTINUED`).
    Continued,
}

/// Decodes `si_code` / `si_status` of a `SIGCHLD` siginfo. `None` for a code that is not a child
/// state change (which the kernel does not produce; never made up).
pub(crate) fn wait_event(code: i32, status: i32) -> Option<WaitEvent> {
    Some(match code {
        libc::CLD_EXITED => WaitEvent::Exited(ExitStatus::from_raw((status & 0xff) << 8)),
        libc::CLD_KILLED => WaitEvent::Exited(ExitStatus::from_raw(status & 0x7f)),
        libc::CLD_DUMPED => WaitEvent::Exited(ExitStatus::from_raw((status & 0x7f) | 0x80)),
        libc::CLD_STOPPED => WaitEvent::Stopped(status),
        libc::CLD_TRAPPED => WaitEvent::Trapped(status),
        libc::CLD_CONTINUED => WaitEvent::Continued,
        _ => return None,
    })
}

/// Writes `prefix`, the decimal `n` and `suffix` plus a NUL into `buf`; returns the bytes with
/// the NUL. For building `/proc` paths without allocating.
pub(crate) fn path_with_number<'a>(buf: &'a mut [u8; 64], prefix: &[u8], n: i64, suffix: &[u8]) -> &'a [u8] {
    let mut digits = [0u8; 20];
    let mut len = 0;
    let neg = n < 0;
    let mut v = n.unsigned_abs();
    loop {
        digits[len] = b'0' + (v % 10) as u8;
        len += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let mut at = 0;
    let mut put = |bytes: &[u8]| {
        let bytes = &bytes[..bytes.len().min(63 - at)];
        buf[at..at + bytes.len()].copy_from_slice(bytes);
        at += bytes.len();
    };
    put(prefix);
    if neg {
        put(b"-");
    }
    for i in (0..len).rev() {
        put(&digits[i..=i]);
    }
    put(suffix);
    buf[at] = 0;
    &buf[..=at]
}

#[cfg(test)]
mod tests {
    use super::*;

    const FDINFO: &[u8] = b"pos:\t0\nflags:\t02000002\nmnt_id:\t15\nino:\t1057\nPid:\t1234\nNSpid:\t1234\t1\n";

    #[test]
    fn fdinfo() {
        assert_eq!(fdinfo_pid(FDINFO), Some(1234));
        assert_eq!(fdinfo_pid(b"Pid:\t-1\nNSpid:\t-1\n"), Some(-1));
        assert_eq!(fdinfo_pid(b"Pid:\t0\n"), Some(0));
        assert_eq!(fdinfo_pid(b"pos:\t0\nflags:\t02\n"), None);
        assert_eq!(fdinfo_pid(b"Pid:\t99999999999\n"), None);
        assert_eq!(fdinfo_pid(b"Pid:\t12x\n"), None);
        assert_eq!(fdinfo_pid(b"Pid:\t"), None);
        assert_eq!(fdinfo_pid(b"Pid:\t77"), Some(77));
        assert_eq!(fdinfo_pid(b"NSpid:\t5\n"), None);
        assert!(fdinfo_has_nspid(FDINFO));
        assert!(!fdinfo_has_nspid(b"pos:\t0\nPid:\t1234\n"));
    }

    #[test]
    fn status_fields() {
        let s = status(b"Name:\tcat\nTgid:\t10\nPid:\t10\nPPid:\t1\nUid:\t1000\t1001\t1002\t1003\nGid:\t5\t6\t7\t8\n");
        assert_eq!(s.tgid, Some(10));
        assert_eq!(s.ppid, Some(1));
        assert_eq!(s.uid, Some([1000, 1001, 1002, 1003]));
        assert_eq!(s.gid, Some([5, 6, 7, 8]));
        assert_eq!(status(b"Uid:\t1\t2\n").uid, None);
        assert_eq!(status(b"").ppid, None);
    }

    #[test]
    fn cgroup() {
        assert_eq!(cgroup_v2_path(b"0::/user.slice/a.scope\n"), Some(&b"user.slice/a.scope"[..]));
        assert_eq!(cgroup_v2_path(b"12:pids:/x\n0::/\n"), Some(&b""[..]));
        assert_eq!(cgroup_v2_path(b"12:pids:/x\n"), None);
    }

    #[test]
    fn cgroup2_mount_point() {
        let mi = b"22 1 0:21 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n\
            30 22 0:26 / /sys/fs/cgroup/unified rw,relatime shared:4 - cgroup2 cgroup2 rw\n";
        let mut out = Vec::new();
        assert!(cgroup2_mount(mi, &mut out));
        assert_eq!(out, b"/sys/fs/cgroup/unified");
        assert!(cgroup2_mount(b"1 2 0:1 / /a\\040b rw - cgroup2 x rw\n", &mut out));
        assert_eq!(out, b"/a b");
        assert!(!cgroup2_mount(b"1 2 0:1 /sub /c rw - cgroup2 x rw\n", &mut out));
        assert!(!cgroup2_mount(b"garbage\n - \n", &mut out));
    }

    #[test]
    fn wait_events() {
        let e = wait_event(libc::CLD_EXITED, 3).unwrap();
        assert!(matches!(e, WaitEvent::Exited(s) if s.code() == Some(3)));
        let e = wait_event(libc::CLD_KILLED, libc::SIGKILL).unwrap();
        assert!(matches!(e, WaitEvent::Exited(s) if s.signal() == Some(libc::SIGKILL) && !s.core_dumped()));
        let e = wait_event(libc::CLD_DUMPED, libc::SIGSEGV).unwrap();
        assert!(matches!(e, WaitEvent::Exited(s) if s.signal() == Some(libc::SIGSEGV) && s.core_dumped()));
        assert_eq!(wait_event(libc::CLD_STOPPED, libc::SIGSTOP), Some(WaitEvent::Stopped(libc::SIGSTOP)));
        assert_eq!(wait_event(libc::CLD_CONTINUED, libc::SIGCONT), Some(WaitEvent::Continued));
        assert_eq!(wait_event(0, 0), None);
    }

    #[test]
    fn paths() {
        let mut b = [0u8; 64];
        assert_eq!(path_with_number(&mut b, b"/proc/self/fdinfo/", 17, b""), b"/proc/self/fdinfo/17\0");
        assert_eq!(path_with_number(&mut b, b"/proc/", 0, b"/status"), b"/proc/0/status\0");
        assert_eq!(path_with_number(&mut b, b"/x/", -5, b""), b"/x/-5\0");
        let long = [b'a'; 80];
        assert_eq!(path_with_number(&mut b, &long, i64::MIN, b"/y").len(), 64);
    }

    /// Arbitrary bytes never panic any parser (a cheap stand-in for the fuzz target).
    #[test]
    fn arbitrary_bytes_do_not_panic() {
        let mut state: u64 = 0x9e3779b97f4a7c15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet = b"Pid:Uid:Gid:PPid:Tgid:0::/-0123456789\t\n x";
        for _ in 0..if cfg!(miri) { 50 } else { 20_000 } {
            let len = (next() % 96) as usize;
            let buf: Vec<u8> = (0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect();
            let _ = fdinfo_pid(&buf);
            let _ = fdinfo_has_nspid(&buf);
            let _ = status(&buf);
            let _ = cgroup_v2_path(&buf);
            let _ = cgroup2_mount(&buf, &mut Vec::new());
            let _ = wait_event((next() % 8) as i32, next() as i32);
        }
    }
}
