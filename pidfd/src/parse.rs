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

/// The process's cgroup v2 as `/proc/<pid>/cgroup` shows it (the one `0::` line).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cgroup2<'a> {
    /// `0::/path`: the path under the hierarchy root of the reader's cgroup namespace, without
    /// the leading `/` (empty for the root).
    Live(&'a [u8]),
    /// The line ends in ` (deleted)`, which the kernel appends when the cgroup was removed (only
    /// zombies can be left in it). A live cgroup whose name itself ends in ` (deleted)` gives the
    /// same line: `literal` is then its path (suffix included, no leading `/`). `None` for
    /// `0:: (deleted)`, no path at all (the form a proposed `proc_cgroup_show` change writes for
    /// a hierarchy gone during the read; never a path either way).
    Deleted { literal: Option<&'a [u8]> },
    /// The path starts with `/..`: the cgroup is outside the reader's cgroup namespace.
    OutsideNamespace,
}

/// The suffix `proc_cgroup_show` writes after the path of a removed cgroup v2.
const DELETED: &[u8] = b" (deleted)";

/// The cgroup v2 of `/proc/<pid>/cgroup`, parsed exactly as `proc_cgroup_show` writes the file:
/// lines `hierarchy-ID:controller-list:path`, each ending in `\n`; the ID is decimal without
/// leading zeros; the v2 line is the one with ID `0`, an empty controller list and a path that
/// is absolute (`/` and names, none empty, `.` only as `..` at the start), maybe followed by
/// ` (deleted)`, or is ` (deleted)` alone. Cgroup names cannot hold a `\n` (`cgroup_mkdir`
/// refuses it), so lines split exactly; they may hold `:` and blanks. `None` for a file that is
/// not this (a line without its `\n`, as a truncated read leaves it, a malformed line, no v2
/// line, two of them).
pub(crate) fn cgroup_v2(buf: &[u8]) -> Option<Cgroup2<'_>> {
    let body = buf.strip_suffix(b"\n")?;
    let mut found = None;
    for line in body.split(|&b| b == b'\n') {
        let mut parts = line.splitn(3, |&b| b == b':');
        let (id, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        // `%d` of the hierarchy's (non-negative) `int` ID.
        let decimal = !id.is_empty() && id.iter().all(u8::is_ascii_digit) && (id == b"0" || id[0] != b'0');
        if !decimal || int(id).and_then(|v| i32::try_from(v).ok()).is_none() {
            return None;
        }
        if id != b"0" {
            // A v1 hierarchy (controllers or `name=`): its path may be ` (deleted)` alone too.
            if controllers.is_empty() || !(path == DELETED || cgroup_path(path).is_some()) {
                return None;
            }
            continue;
        }
        if !controllers.is_empty() || found.is_some() {
            return None;
        }
        found = Some(if path == DELETED {
            Cgroup2::Deleted { literal: None }
        } else if let Some(stripped) = path.strip_suffix(DELETED) {
            match (cgroup_path(stripped), cgroup_path(path)?) {
                // Outside the namespace either way.
                (_, None) => Cgroup2::OutsideNamespace,
                // `/a/ (deleted)`: no removed cgroup has the path `/a/`; a live one is named so.
                (None, Some(literal)) => Cgroup2::Live(literal),
                (Some(_), Some(literal)) => Cgroup2::Deleted { literal: Some(literal) },
            }
        } else {
            match cgroup_path(path)? {
                Some(rel) => Cgroup2::Live(rel),
                None => Cgroup2::OutsideNamespace,
            }
        });
    }
    found
}

/// A path as `cgroup_path_ns` writes it: `None` when malformed, `Some(None)` when it starts with
/// `/..` (outside the reader's cgroup namespace: `..` only ever leads, and no cgroup is named
/// `.` or `..`), else `Some(Some(rel))`, the path without its leading `/`.
fn cgroup_path(path: &[u8]) -> Option<Option<&[u8]>> {
    let rel = path.strip_prefix(b"/")?;
    if rel.is_empty() {
        return Some(Some(rel));
    }
    let mut leading = true;
    let mut outside = false;
    for name in rel.split(|&b| b == b'/') {
        match name {
            b"" | b"." => return None,
            b".." if leading => outside = true,
            b".." => return None,
            _ => leading = false,
        }
    }
    Some((!outside).then_some(rel))
}

/// Whether a `cgroup.procs` / `cgroup.threads` listing (one decimal pid a line, each ending in
/// `\n`) has the line `pid`.
pub(crate) fn lists_pid(buf: &[u8], pid: i32) -> bool {
    let mut digits = [0u8; 64];
    let want = path_with_number(&mut digits, b"", pid.into(), b"\n");
    let want = &want[..want.len() - 1];
    pid > 0 && buf.split_inclusive(|&b| b == b'\n').any(|l| l == want)
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

/// The highest signal number a wait status can carry: `SIGRTMAX` (64; 127 on MIPS, where 127
/// itself would read as the "stopped" marker `0x7f`, so 126).
const MAX_SIGNAL: i32 =
    if cfg!(any(target_arch = "mips", target_arch = "mips64", target_arch = "mips32r6", target_arch = "mips64r6")) {
        126
    } else {
        64
    };

/// Decodes `si_code` / `si_status` of a `SIGCHLD` siginfo. `None` for a code that is not a child
/// state change, an exit code outside `0..=255` or a killing signal outside `1..=SIGRTMAX`
/// (which the kernel does not produce; a status is decoded whole or not at all, never made up
/// by masking).
pub(crate) fn wait_event(code: i32, status: i32) -> Option<WaitEvent> {
    let signal = (1..=MAX_SIGNAL).contains(&status);
    Some(match code {
        libc::CLD_EXITED if (0..=0xff).contains(&status) => WaitEvent::Exited(ExitStatus::from_raw(status << 8)),
        libc::CLD_KILLED if signal => WaitEvent::Exited(ExitStatus::from_raw(status)),
        libc::CLD_DUMPED if signal => WaitEvent::Exited(ExitStatus::from_raw(status | 0x80)),
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
        use Cgroup2::*;
        assert_eq!(cgroup_v2(b"0::/user.slice/a.scope\n"), Some(Live(&b"user.slice/a.scope"[..])));
        assert_eq!(cgroup_v2(b"12:pids:/x\n0::/\n"), Some(Live(&b""[..])));
        assert_eq!(cgroup_v2(b"12:pids:/x\n"), None);
        // Names may hold `:` and blanks.
        assert_eq!(cgroup_v2(b"0::/a:b/0::/c d\n"), Some(Live(&b"a:b/0::/c d"[..])));
        assert_eq!(cgroup_v2(b"2:cpu,cpuacct:/\n1:name=systemd:/user.slice\n0::/x\n"), Some(Live(&b"x"[..])));
        assert_eq!(cgroup_v2(b"2147483647:pids:/\n0::/x\n"), Some(Live(&b"x"[..])));
    }

    /// What the kernel writes for a removed cgroup v2 (` (deleted)` after the path) is never a
    /// path: the suffix is reported, with the literal path for a live cgroup named so.
    #[test]
    fn cgroup_deleted() {
        use Cgroup2::*;
        assert_eq!(cgroup_v2(b"0::/a/b (deleted)\n"), Some(Deleted { literal: Some(&b"a/b (deleted)"[..]) }));
        assert_eq!(cgroup_v2(b"0::/ (deleted)\n"), Some(Deleted { literal: Some(&b" (deleted)"[..]) }));
        assert_eq!(cgroup_v2(b"0:: (deleted)\n"), Some(Deleted { literal: None }));
        assert_eq!(
            cgroup_v2(b"0::/x (deleted) (deleted)\n"),
            Some(Deleted { literal: Some(&b"x (deleted) (deleted)"[..]) })
        );
        // `/a/` is no cgroup's path: only a live cgroup named ` (deleted)` in `a` is written so.
        assert_eq!(cgroup_v2(b"0::/a/ (deleted)\n"), Some(Live(&b"a/ (deleted)"[..])));
        // Not the suffix: part of the name.
        assert_eq!(cgroup_v2(b"0::/a (deleted)b\n"), Some(Live(&b"a (deleted)b"[..])));
        assert_eq!(cgroup_v2(b"0::/a(deleted)\n"), Some(Live(&b"a(deleted)"[..])));
        // A v1 hierarchy gone while the file was written (6.7+) is no v2 line.
        assert_eq!(cgroup_v2(b"3:pids: (deleted)\n0::/x\n"), Some(Live(&b"x"[..])));
    }

    /// Outside the reader's cgroup namespace (`/..` first), and everything the kernel does not
    /// write: no `\n` at the end, two v2 lines, a v2 line with controllers, malformed IDs and
    /// paths, malformed v1 lines.
    #[test]
    fn cgroup_exact() {
        use Cgroup2::*;
        assert_eq!(cgroup_v2(b"0::/../../x\n"), Some(OutsideNamespace));
        assert_eq!(cgroup_v2(b"0::/..\n"), Some(OutsideNamespace));
        assert_eq!(cgroup_v2(b"0::/../x (deleted)\n"), Some(OutsideNamespace));
        assert_eq!(cgroup_v2(b"0::/.. (deleted)\n"), Some(Deleted { literal: Some(&b".. (deleted)"[..]) }));
        for bad in [
            &b""[..],
            b"\n",
            b"0::/x",
            b"0::/x\n12:pids:/y",
            b"0::/x\n0::/y\n",
            b"0::/x\n0::/x\n",
            b"0:cpu:/x\n",
            b"00::/x\n",
            b"1::/y\n0::/x\n",
            b"01:pids:/y\n0::/x\n",
            b"-1:pids:/y\n0::/x\n",
            b"+1:pids:/y\n0::/x\n",
            b"2147483648:pids:/y\n0::/x\n",
            b" 0::/x\n",
            b"0::x\n",
            b"0::\n",
            b"0::/x/\n",
            b"0::/x//y\n",
            b"0::/x/./y\n",
            b"0::/x/../y\n",
            b"0::/.\n",
            b"0::/x\n\n",
            b"\n0::/x\n",
            b"0::/x\nnot a line\n",
            b"12:pids\n0::/x\n",
            b"12:pids:y\n0::/x\n",
            b"0:: (deleted) \n",
            b"0::(deleted)\n",
        ] {
            assert_eq!(cgroup_v2(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn pid_listing() {
        assert!(lists_pid(b"1\n22\n333\n", 22));
        assert!(lists_pid(b"7\n", 7));
        assert!(!lists_pid(b"1\n222\n", 22));
        assert!(!lists_pid(b"122\n", 22));
        assert!(!lists_pid(b"22", 22), "a line ends in a newline");
        assert!(!lists_pid(b"022\n", 22));
        assert!(!lists_pid(b"", 1));
        assert!(!lists_pid(b"-1\n0\n", -1));
        assert!(!lists_pid(b"0\n", 0));
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

    // ---- Property tests ------------------------------------------------------------------
    //
    // A small deterministic PRNG drives three kinds of input for every parser: arbitrary
    // bytes, valid inputs generated with a known answer (which must come back exactly), and
    // structured mutations of valid inputs (whose answer must agree with an oracle written
    // from the format's definition with std's own number parsing, or be `None`). Thousands of
    // cases each on the host (see `cases`); a handful under Miri, which CI runs on this
    // module.

    /// Cases per property: thousands on the host, a few hundred under the kernel matrix
    /// (`PIDFD_TEST_EXPECT` set, QEMU TCG), a handful under Miri (which checks the parsers'
    /// memory accesses, not their coverage).
    fn cases() -> usize {
        if cfg!(miri) {
            8
        } else if std::env::var_os("PIDFD_TEST_EXPECT").is_some() {
            300
        } else {
            4000
        }
    }

    /// xorshift64*: deterministic, so a failure names the case that reproduces it.
    struct Rng(u64);

    impl Rng {
        fn new(seed: u64) -> Rng {
            Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
        }

        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn chance(&mut self, percent: u64) -> bool {
            self.next() % 100 < percent
        }

        fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
            &items[self.below(items.len())]
        }

        /// Bytes of any value, or (half the time) from an alphabet of the formats' own
        /// characters, so keys and numbers appear by chance too.
        fn bytes(&mut self, max: usize) -> Vec<u8> {
            const ALPHABET: &[u8] = b"PidNSpUGTgcro:-+0123456789\t\n \r\\/x\x00\xff";
            let len = self.below(max + 1);
            let any = self.chance(50);
            (0..len).map(|_| if any { self.next() as u8 } else { *self.pick(ALPHABET) }).collect()
        }

        /// A number the way `/proc` never prints it, or does.
        fn number(&mut self) -> String {
            match self.below(8) {
                0 => "-1".into(),
                1 => "0".into(),
                2 => i32::MAX.to_string(),
                3 => "99999999999999999999".into(),
                4 => (self.next() as i64).to_string(),
                5 => u32::MAX.to_string(),
                _ => (self.below(4_194_304) as i64).to_string(),
            }
        }
    }

    /// Mutates `input` 1 to 4 times: flip, delete, insert or duplicate bytes, truncate, swap
    /// or drop lines, spoil digits, add signs, blanks, NULs, carriage returns, huge numbers.
    fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
        let mut v = input.to_vec();
        for _ in 0..1 + rng.below(4) {
            let at = if v.is_empty() { 0 } else { rng.below(v.len()) };
            match rng.below(12) {
                0 if !v.is_empty() => v[at] ^= 1 << rng.below(8),
                1 if !v.is_empty() => drop(v.remove(at)),
                2 => v.insert(at, rng.next() as u8),
                3 => v.truncate(at),
                4 if !v.is_empty() => {
                    let end = (at + rng.below(16)).min(v.len());
                    let copy = v[at..end].to_vec();
                    v.splice(at..at, copy);
                }
                5 => {
                    let mut lines: Vec<Vec<u8>> = v.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
                    let (i, j) = (rng.below(lines.len()), rng.below(lines.len()));
                    lines.swap(i, j);
                    if rng.chance(30) {
                        lines.remove(i);
                    }
                    v = lines.join(&b'\n');
                }
                6 => {
                    if let Some(d) = v.iter().position(u8::is_ascii_digit) {
                        v[d] = *rng.pick(b"x-+ .\t\0");
                    }
                }
                7 => v.insert(at, *rng.pick(b"-+")),
                8 => v.splice(at..at, rng.number().into_bytes()).for_each(drop),
                9 => v.insert(at, *rng.pick(b"\t \0\r\x0b\x0c")),
                10 => v
                    .splice(
                        at..at,
                        rng.pick(&[&b"Pid:"[..], b"NSpid:", b"Uid:", b"0::/", b" - ", b"\\0"]).iter().copied(),
                    )
                    .for_each(drop),
                _ => v.extend_from_slice(&rng.bytes(8)),
            }
        }
        v
    }

    /// The value after `key` on the first line that starts with it, blanks skipped: the
    /// format's definition, restated.
    fn oracle_field<'a>(buf: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
        let line = buf.split(|&b| b == b'\n').find(|l| l.starts_with(key))?;
        let rest = &line[key.len()..];
        let start = rest.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(rest.len());
        Some(&rest[start..])
    }

    /// A decimal integer: its first blank-separated word, an optional `-` and digits only,
    /// parsed by std (which would also take a `+`, refused here as `/proc` never prints one).
    fn oracle_int(s: &[u8]) -> Option<i64> {
        let word = s.split(|b| b.is_ascii_whitespace()).next()?;
        if word.first() == Some(&b'+') {
            return None;
        }
        std::str::from_utf8(word).ok()?.parse::<i64>().ok()
    }

    fn oracle_pid(buf: &[u8], key: &[u8]) -> Option<i32> {
        oracle_int(oracle_field(buf, key)?).and_then(|v| i32::try_from(v).ok())
    }

    fn oracle_ids(buf: &[u8], key: &[u8]) -> Option<[u32; 4]> {
        let mut words = oracle_field(buf, key)?.split(|b| b.is_ascii_whitespace()).filter(|w| !w.is_empty());
        let mut out = [0u32; 4];
        for slot in &mut out {
            *slot = u32::try_from(oracle_int(words.next()?)?).ok()?;
        }
        Some(out)
    }

    fn check_fdinfo(buf: &[u8], case: &str) {
        assert_eq!(fdinfo_pid(buf), oracle_pid(buf, b"Pid:"), "{case}: {:?}", String::from_utf8_lossy(buf));
        let nspid = buf.split(|&b| b == b'\n').any(|l| l.starts_with(b"NSpid:"));
        assert_eq!(fdinfo_has_nspid(buf), nspid, "{case}");
    }

    fn check_status(buf: &[u8], case: &str) {
        let st = status(buf);
        let lossy = String::from_utf8_lossy(buf);
        assert_eq!(st.tgid, oracle_pid(buf, b"Tgid:"), "{case}: {lossy:?}");
        assert_eq!(st.ppid, oracle_pid(buf, b"PPid:"), "{case}: {lossy:?}");
        assert_eq!(st.uid, oracle_ids(buf, b"Uid:"), "{case}: {lossy:?}");
        assert_eq!(st.gid, oracle_ids(buf, b"Gid:"), "{case}: {lossy:?}");
    }

    /// A cgroup path as the kernel writes it: `/`, or `/` and names (none empty, none `.`),
    /// where `..` only leads (out of the reader's cgroup namespace). `Some(outside)`.
    fn oracle_cgroup_path(path: &[u8]) -> Option<bool> {
        if path == b"/" {
            return Some(false);
        }
        let names: Vec<&[u8]> = path.strip_prefix(b"/")?.split(|&b| b == b'/').collect();
        let ups = names.iter().take_while(|n| **n == b"..").count();
        if names[ups..].iter().any(|n| n.is_empty() || *n == b"." || *n == b"..") {
            return None;
        }
        Some(ups > 0)
    }

    /// `/proc/<pid>/cgroup` by its definition: every line `ID:controllers:path\n` (decimal ID
    /// as `%d` prints it; controllers for v1, none for v2; a path or ` (deleted)`), exactly one
    /// line of ID 0, whose path is classified.
    fn oracle_cgroup(buf: &[u8]) -> Option<Cgroup2<'_>> {
        let mut v2 = Vec::new();
        for line in buf.strip_suffix(b"\n")?.split(|&b| b == b'\n') {
            let first = line.iter().position(|&b| b == b':')?;
            let second = first + 1 + line[first + 1..].iter().position(|&b| b == b':')?;
            let (id, controllers, path) = (&line[..first], &line[first + 1..second], &line[second + 1..]);
            let id_text = std::str::from_utf8(id).ok()?;
            let n: i32 = id_text.parse().ok()?;
            if n < 0 || n.to_string() != id_text {
                return None;
            }
            if n == 0 {
                if !controllers.is_empty() {
                    return None;
                }
                v2.push(path);
            } else if controllers.is_empty() || (path != b" (deleted)" && oracle_cgroup_path(path).is_none()) {
                return None;
            }
        }
        let [path] = v2[..] else { return None };
        if path == b" (deleted)" {
            return Some(Cgroup2::Deleted { literal: None });
        }
        let outside = oracle_cgroup_path(path);
        let removed = path.strip_suffix(b" (deleted)").and_then(oracle_cgroup_path).is_some();
        Some(match outside? {
            true => Cgroup2::OutsideNamespace,
            false if removed => Cgroup2::Deleted { literal: Some(&path[1..]) },
            false => Cgroup2::Live(&path[1..]),
        })
    }

    fn check_cgroup(buf: &[u8], case: &str) {
        assert_eq!(cgroup_v2(buf), oracle_cgroup(buf), "{case}: {:?}", String::from_utf8_lossy(buf));
    }

    /// A parsed cgroup v2, owned: (kind, path).
    fn owned_cgroup(c: Option<Cgroup2<'_>>) -> Option<(&'static str, Option<Vec<u8>>)> {
        c.map(|c| match c {
            Cgroup2::Live(p) => ("live", Some(p.to_vec())),
            Cgroup2::Deleted { literal } => ("deleted", literal.map(<[u8]>::to_vec)),
            Cgroup2::OutsideNamespace => ("outside", None),
        })
    }

    /// A valid fdinfo of a pidfd (5.2 to 7.x layouts), its lines in any order: the pid and
    /// whether `NSpid:` is there.
    fn gen_fdinfo(rng: &mut Rng) -> (Vec<u8>, i32, bool) {
        let pid = match rng.below(4) {
            0 => -1,
            1 => 0,
            2 => i32::MAX,
            _ => 1 + rng.below(4_194_303) as i32,
        };
        let nspid = rng.chance(70);
        let mut lines = vec![
            "pos:\t0".to_owned(),
            format!("flags:\t0{:o}", 0o2000002 | if rng.chance(20) { 0o4000 } else { 0 }),
            format!("mnt_id:\t{}", rng.below(100)),
            format!("ino:\t{}", rng.next() >> 20),
            format!("Pid:\t{pid}"),
        ];
        if nspid {
            lines.push(format!("NSpid:\t{pid}{}", if rng.chance(30) { "\t1" } else { "" }));
        }
        for i in (1..lines.len()).rev() {
            lines.swap(i, rng.below(i + 1));
        }
        let mut text = lines.join("\n");
        if rng.chance(80) {
            text.push('\n');
        }
        (text.into_bytes(), pid, nspid)
    }

    /// A valid `/proc/<pid>/status` (with a process name that may look like other fields).
    fn gen_status(rng: &mut Rng) -> (Vec<u8>, Status) {
        let name = rng.pick(&["sh", "Uid:\t1 2 3 4", "PPid: 7", "a b", "Tgid:9"]);
        let tgid = 1 + rng.below(4_194_303) as i32;
        let ppid = rng.below(4_194_303) as i32;
        let id = |rng: &mut Rng| if rng.chance(20) { u32::MAX - 1 } else { rng.below(70_000) as u32 };
        let uid = [id(rng), id(rng), id(rng), id(rng)];
        let gid = [id(rng), id(rng), id(rng), id(rng)];
        let text = format!(
            "Name:\t{name}\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t{tgid}\nNgid:\t0\nPid:\t{tgid}\nPPid:\t{ppid}\n\
             TracerPid:\t0\nUid:\t{}\t{}\t{}\t{}\nGid:\t{}\t{}\t{}\t{}\nFDSize:\t64\nGroups:\t{}\n\
             NSpid:\t{tgid}\nVmRSS:\t  1234 kB\nThreads:\t1\nSigQ:\t0/1000\n",
            uid[0], uid[1], uid[2], uid[3], gid[0], gid[1], gid[2], gid[3], gid[0]
        );
        (text.into_bytes(), Status { tgid: Some(tgid), ppid: Some(ppid), uid: Some(uid), gid: Some(gid) })
    }

    /// A valid `/proc/<pid>/cgroup` (every line ending in `\n`): v1 lines, and the v2 line or not
    /// (a live path, a removed one with ` (deleted)`, ` (deleted)` alone, a path outside the
    /// cgroup namespace); what `cgroup_v2` must answer, owned.
    #[allow(clippy::type_complexity)]
    fn gen_cgroup(rng: &mut Rng) -> (Vec<u8>, Option<(&'static str, Option<Vec<u8>>)>) {
        let mut lines: Vec<Vec<u8>> = (0..rng.below(5))
            .map(|i| {
                let path = *rng.pick(&["/x/", "/", "/../y", " (deleted)", "/z (deleted)"]);
                let controllers = rng.pick(&["pids", "cpu,cpuacct", "name=systemd", "memory"]);
                format!("{}:{controllers}:{path}{}", i + 1, if path == "/x/" { i.to_string() } else { String::new() })
                    .into_bytes()
            })
            .collect();
        let mut want = None;
        if rng.chance(80) {
            let parts = rng.below(4);
            let mut path = (0..parts)
                .map(|_| rng.pick(&[&b"user.slice"[..], b"a b", b"x:y", b"0::", b"\xff", b"(deleted)", b"\r"]).to_vec())
                .collect::<Vec<_>>()
                .join(&b'/');
            let mut line = b"0::".to_vec();
            match rng.below(10) {
                0 => {
                    line.extend_from_slice(b" (deleted)");
                    want = Some(("deleted", None));
                }
                1 => {
                    line.extend_from_slice(b"/../..");
                    if !path.is_empty() {
                        line.push(b'/');
                    }
                    line.extend_from_slice(&path);
                    want = Some(("outside", None));
                }
                2..=4 => {
                    path.extend_from_slice(b" (deleted)");
                    line.push(b'/');
                    line.extend_from_slice(&path);
                    want = Some(("deleted", Some(path)));
                }
                _ => {
                    line.push(b'/');
                    line.extend_from_slice(&path);
                    want = Some(("live", Some(path)));
                }
            }
            let at = rng.below(lines.len() + 1);
            lines.insert(at, line);
        }
        let mut text = Vec::new();
        for l in lines {
            text.extend_from_slice(&l);
            text.push(b'\n');
        }
        (text, want)
    }

    /// A path as mountinfo prints it: space, tab, newline and backslash as `\ooo`.
    fn mangle(path: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for &b in path {
            if matches!(b, b' ' | b'\t' | b'\n' | b'\\') {
                out.extend_from_slice(format!("\\{b:03o}").as_bytes());
            } else {
                out.push(b);
            }
        }
        out
    }

    /// A valid mountinfo with a cgroup2 mount of the hierarchy's root somewhere (or not),
    /// maybe after cgroup2 mounts of subtrees (which do not count).
    fn gen_mountinfo(rng: &mut Rng) -> (Vec<u8>, Option<Vec<u8>>) {
        let mut lines = Vec::new();
        let mut want = None;
        for i in 0..1 + rng.below(8) {
            let mount: Vec<u8> = (0..1 + rng.below(3))
                .flat_map(|_| {
                    let mut c = b"/".to_vec();
                    let names: [&[u8]; 8] =
                        [b"sys", b"fs", b"cgroup", b"a b", b"tab\there", b"back\\slash", b"nl\n", b"\xc3\xa9"];
                    let name: &[u8] = names[rng.below(names.len())];
                    c.extend_from_slice(name);
                    c
                })
                .collect();
            let fstype = *rng.pick(&["cgroup2", "tmpfs", "proc", "cgroup", "cgroup2x"]);
            let root: &[u8] = if rng.chance(70) { b"/" } else { b"/sub dir" };
            let optional = *rng.pick(&["", " shared:4", " master:1 propagate_from:2", " unbindable"]);
            let mut line = format!("{} {} 0:{} ", 20 + i, 1 + i, 30 + i).into_bytes();
            line.extend_from_slice(&mangle(root));
            line.push(b' ');
            line.extend_from_slice(&mangle(&mount));
            line.extend_from_slice(
                format!(" rw,nosuid,relatime{optional} - {fstype} {fstype} rw,nsdelegate").as_bytes(),
            );
            if want.is_none() && fstype == "cgroup2" && root == b"/" {
                want = Some(mount);
            }
            lines.push(line);
        }
        (lines.join(&b'\n'), want)
    }

    /// Generated inputs come back exactly.
    #[test]
    fn valid_inputs_parse_exactly() {
        let mut rng = Rng::new(1);
        for case in 0..cases() {
            let (fdinfo, pid, nspid) = gen_fdinfo(&mut rng);
            assert_eq!(fdinfo_pid(&fdinfo), Some(pid), "case {case}: {:?}", String::from_utf8_lossy(&fdinfo));
            assert_eq!(fdinfo_has_nspid(&fdinfo), nspid, "case {case}");
            let (st, want) = gen_status(&mut rng);
            assert_eq!(status(&st), want, "case {case}: {:?}", String::from_utf8_lossy(&st));
            let (cg, path) = gen_cgroup(&mut rng);
            assert_eq!(owned_cgroup(cgroup_v2(&cg)), path, "case {case}: {:?}", String::from_utf8_lossy(&cg));
            let (mi, mount) = gen_mountinfo(&mut rng);
            let mut out = vec![b'?'];
            let found = cgroup2_mount(&mi, &mut out);
            assert_eq!(found.then_some(out), mount, "case {case}: {:?}", String::from_utf8_lossy(&mi));
        }
    }

    /// Mutated valid inputs: the answer agrees with the oracle (which says `None` for what is no
    /// longer a well-formed field), and nothing panics.
    #[test]
    fn mutated_inputs_agree_with_the_oracle() {
        let mut rng = Rng::new(2);
        for case in 0..cases() {
            let valid = gen_fdinfo(&mut rng).0;
            let fdinfo = mutate(&mut rng, &valid);
            check_fdinfo(&fdinfo, &format!("fdinfo case {case}"));
            let valid = gen_status(&mut rng).0;
            let st = mutate(&mut rng, &valid);
            check_status(&st, &format!("status case {case}"));
            let valid = gen_cgroup(&mut rng).0;
            let cg = mutate(&mut rng, &valid);
            check_cgroup(&cg, &format!("cgroup case {case}"));
            let valid = gen_mountinfo(&mut rng).0;
            let mi = mutate(&mut rng, &valid);
            let mut out = Vec::new();
            if cgroup2_mount(&mi, &mut out) {
                // Escapes only shrink the mount point: never more bytes than the line had.
                assert!(out.len() < mi.len(), "mountinfo case {case}");
            }
        }
    }

    /// Arbitrary bytes: never a panic, and the oracle's answer (mostly `None`: garbage has no
    /// well-formed field). A buffer without the key always gives `None`.
    #[test]
    fn arbitrary_bytes_give_none_or_the_oracles_answer() {
        let mut rng = Rng::new(3);
        for case in 0..cases() {
            let buf = rng.bytes(200);
            check_fdinfo(&buf, &format!("bytes case {case}"));
            check_status(&buf, &format!("bytes case {case}"));
            check_cgroup(&buf, &format!("bytes case {case}"));
            let _ = cgroup2_mount(&buf, &mut Vec::new());
            if !buf.split(|&b| b == b'\n').any(|l| l.starts_with(b"Pid:")) {
                assert_eq!(fdinfo_pid(&buf), None, "bytes case {case}");
            }
        }
        // Numbers that do not fit, or are not numbers.
        for v in
            ["2147483648", "-2147483649", "99999999999999999999", "+5", "--5", "-", "5-", "0x10", "1e3", "٣", "7\0"]
        {
            assert_eq!(fdinfo_pid(format!("Pid:\t{v}\n").as_bytes()), None, "{v}");
        }
        for v in ["4294967296", "-1", "99999999999999999999", "+5", "--5", "-", "5-", "0x10", "1e3", "٣", "7\0"] {
            assert_eq!(status(format!("Uid:\t{v}\t0\t0\t0\n").as_bytes()).uid, None, "{v}");
        }
        assert_eq!(status(b"Uid:\t0\t0\t0\n").uid, None, "three ids of four");
    }

    /// Round trip of the mount point escapes, byte by byte: every `\ooo` of three octal digits
    /// is one byte, anything else is itself.
    #[test]
    fn mountinfo_escapes() {
        let mut out = Vec::new();
        for (field, want) in [
            (&b"/a\\040b"[..], &b"/a b"[..]),
            (b"/t\\011\\012\\134", b"/t\t\n\\"),
            (b"/x\\04", b"/x\\04"),
            (b"/x\\", b"/x\\"),
            (b"/x\\08a", b"/x\\08a"),
            (b"/\\1234", b"/S4"),
        ] {
            let mut line = b"1 2 0:1 / ".to_vec();
            line.extend_from_slice(field);
            line.extend_from_slice(b" rw - cgroup2 c rw");
            assert!(cgroup2_mount(&line, &mut out), "{field:?}");
            assert_eq!(out, want, "{:?}", String::from_utf8_lossy(field));
        }
    }

    /// The wait-status decoder over every code and many statuses: a status is decoded whole,
    /// or it is `None`; never a status made up by masking garbage.
    #[test]
    fn wait_events_for_any_code_and_status() {
        let mut rng = Rng::new(4);
        let mut statuses: Vec<i32> = if cfg!(miri) { (-2..70).collect() } else { (-2..300).collect() };
        statuses.extend([i32::MIN, i32::MAX, 0x7f, 0x80, 0x17f, 0x1_0000]);
        statuses.extend((0..cases()).map(|_| rng.next() as i32));
        for code in -1..10 {
            for &status in &statuses {
                let ev = wait_event(code, status);
                let want = match code {
                    libc::CLD_EXITED if (0..=255).contains(&status) => Some("exited"),
                    libc::CLD_KILLED | libc::CLD_DUMPED if (1..=MAX_SIGNAL).contains(&status) => Some("signaled"),
                    libc::CLD_STOPPED | libc::CLD_TRAPPED | libc::CLD_CONTINUED => Some("state"),
                    _ => None,
                };
                match (want, ev) {
                    (None, None) => {}
                    (Some("exited"), Some(WaitEvent::Exited(st))) => {
                        assert_eq!((st.code(), st.signal()), (Some(status), None), "{code} {status}");
                    }
                    (Some("signaled"), Some(WaitEvent::Exited(st))) => {
                        assert_eq!(st.signal(), Some(status), "{code} {status}");
                        assert_eq!(st.code(), None);
                        assert_eq!(st.core_dumped(), code == libc::CLD_DUMPED);
                    }
                    (Some("state"), Some(WaitEvent::Stopped(s))) => assert_eq!((code, s), (libc::CLD_STOPPED, status)),
                    (Some("state"), Some(WaitEvent::Trapped(s))) => assert_eq!((code, s), (libc::CLD_TRAPPED, status)),
                    (Some("state"), Some(WaitEvent::Continued)) => assert_eq!(code, libc::CLD_CONTINUED),
                    (want, ev) => panic!("wait_event({code}, {status:#x}) = {ev:?}, want {want:?}"),
                }
            }
        }
    }

    /// `/proc` paths: always NUL-terminated within the buffer, exact when they fit, a prefix of
    /// the exact path when they do not.
    #[test]
    fn paths_for_any_number_and_length() {
        let mut rng = Rng::new(5);
        let mut b = [0u8; 64];
        for case in 0..cases() {
            let prefix = vec![b'p'; rng.below(70)];
            let suffix = vec![b's'; rng.below(70)];
            let n = match rng.below(4) {
                0 => i64::MIN,
                1 => i64::MAX,
                _ => rng.next() as i64 >> rng.below(64),
            };
            let out = path_with_number(&mut b, &prefix, n, &suffix).to_vec();
            let mut full = prefix.clone();
            full.extend_from_slice(n.to_string().as_bytes());
            full.extend_from_slice(&suffix);
            full.truncate(63);
            full.push(0);
            assert_eq!(out, full, "case {case}: {} {n} {}", prefix.len(), suffix.len());
        }
    }
}
