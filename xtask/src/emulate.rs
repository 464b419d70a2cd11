//! `cargo xtask emulate`: run a command so that this (newer) kernel answers
//! like an older one, or like a container's seccomp profile, as far as seccomp
//! can make it.
//!
//! ```text
//! cargo xtask emulate --kernel 5.4 -- cargo test -p pidfd
//! cargo xtask emulate --profile container-eperm -- target/debug/examples/features --kmatrix
//! cargo xtask emulate --kernel 5.10 --explain
//! ```
//!
//! The command runs under a seccomp filter (x86_64; `PR_SET_NO_NEW_PRIVS`,
//! then `SECCOMP_SET_MODE_FILTER`, installed in the child between fork and
//! exec, inherited by everything it starts), with `PIDFD_TEST_KERNEL` set to
//! the profile's label, `PIDFD_TEST_EXPECT` to the features the emulation
//! leaves present and `PIDFD_TEST_DENIED` to those it refuses (see
//! [`Profile::expectation`]).
//!
//! # `--kernel X.Y` (5.3 to 6.12)
//!
//! What the filter does by itself (register arguments only):
//! * syscalls newer than X.Y answer `ENOSYS`: `pidfd_getfd` (5.6),
//!   `process_madvise` (5.10), `process_mrelease` (5.15);
//! * newer flags answer `EINVAL`: `pidfd_open` flags other than
//!   `PIDFD_NONBLOCK` (5.10) and `PIDFD_THREAD` (6.9); `pidfd_send_signal`
//!   with any flag (scope flags are 6.9); `waitid(P_PIDFD)` (5.4);
//!   `clone(CLONE_PIDFD | CLONE_THREAD)` (6.9);
//! * the `PIDFD_SELF*` sentinels (-10000, -10001, -20000) answer `EBADF` in
//!   `pidfd_send_signal`, `process_madvise`, `process_mrelease` (6.15);
//!   `FD_PIDFS_ROOT` (-10002) in `open_by_handle_at` answers `EBADF` (6.17);
//! * pidfd ioctls (`ioctl` whose type byte is 0xFF and number 1 to 11) answer
//!   `ENOTTY` before 6.11; on 6.11/6.12 `PIDFD_GET_INFO` (number 11) answers
//!   `EINVAL` as those kernels do. (Any other driver's 0xFF-type ioctl with
//!   those numbers is hit too; none is known to matter.)
//! * `SO_PEERPIDFD` (getsockopt) and `SO_PASSPIDFD` (setsockopt) answer
//!   `ENOPROTOOPT` before 6.5.
//! * nsfs ioctls (type 0xB7) newer than X.Y answer `ENOTTY`: `NS_GET_MNTNS_ID`
//!   and the pid translations `NS_GET_{PID,TGID}_{FROM,IN}_PIDNS` (numbers 5 to
//!   9, 6.11), `NS_MNT_GET_{INFO,NEXT,PREV}` (10 to 12, 6.12), `NS_GET_ID` (13,
//!   6.18); `FD_NSFS_ROOT` (-10003) in `open_by_handle_at` answers `EBADF` (6.18).
//!
//! What needs the caller's memory or fd table goes to a supervisor thread in
//! the xtask through `SECCOMP_RET_USER_NOTIF`; it answers like the old kernel
//! would, or lets the host kernel carry on (`SECCOMP_USER_NOTIF_FLAG_CONTINUE`):
//! * `clone3`: `struct clone_args` bigger than X.Y's (64 bytes before 5.5, 80
//!   before 5.7, then 88) with non-zero bytes past that size answers `E2BIG`,
//!   exactly like `copy_struct_from_user` (so `CLONE_INTO_CGROUP` cannot be
//!   used before 5.7, while glibc's 88-byte calls with zeroed tails still
//!   work); flags X.Y does not know (`CLONE_CLEAR_SIGHAND` 5.5,
//!   `CLONE_INTO_CGROUP` 5.7, the 7.1 flags) answer `EINVAL`, and so does
//!   `CLONE_PIDFD | CLONE_THREAD` before 6.9;
//! * `fstatfs` on a pidfd before 6.9 reports the anon_inode file system
//!   (`0x09041934`) instead of pidfs, so pidfs probes see no pidfs; `fstatfs`
//!   on any other fd is untouched;
//! * `setns` on a pidfd answers `EINVAL` before 5.8;
//! * `name_to_handle_at(pidfd, "", ..., AT_EMPTY_PATH)` answers `EOPNOTSUPP`
//!   before 6.14, and on a namespace fd before 6.18 (other file handles are
//!   untouched).
//!
//! What stays visible (seccomp cannot change results it does not produce):
//! `fstat`/`statx` of a pidfd (pidfs' unique inode numbers, 6.9), `statfs` on
//! a `/proc/<pid>/fd/N` path, fdinfo contents, `POLLHUP` on reaped pidfds
//! (6.9), and error codes that changed for existing calls (the 6.16
//! `ENOENT`/`ESRCH` split of `pidfd_open`, 7.0's `EREMOTE`). None of these is a
//! feature of `pidfd::features()`, so the expected set for `--kernel X.Y` is
//! exactly X.Y's features (intersected with the host's).
//!
//! # `--profile container-eperm`
//!
//! Old Docker/containerd profiles: `pidfd_open`, `pidfd_send_signal` and
//! `pidfd_getfd` answer `EPERM`; `clone3` answers `ENOSYS`, as Docker and
//! containerd still do without CAP_SYS_ADMIN. Everything else is the host's.
//!
//! The expectation has three states (`PIDFD_TEST_EXPECT` lists what must be
//! present, `PIDFD_TEST_DENIED` what must probe `denied`, anything else must
//! probe `no`). A feature's state follows from how `pidfd::features()` probes
//! it, which [`PROBES`] restates (from `fn probe` in pidfd/src/compat.rs):
//!
//! * `denied`: the probe meets `EPERM` itself or through a feature it builds
//!   on. Directly: `pidfd_open` (`pidfd_open(getpid())`), `pidfd_send_signal`
//!   (`pidfd_send_signal(-1, 0)`), `pidfd_getfd` (`pidfd_getfd(-1)`) and
//!   `pidfd_self` (`pidfd_send_signal(PIDFD_SELF_THREAD, 0)`): the filter
//!   answers before the kernel looks at the fd. Through a pidfd of the probing
//!   process from `pidfd_open`: `pidfd_nonblock`,
//!   `pidfs`, `pidfd_thread` and `signal_scope` (which also sends through
//!   `pidfd_send_signal`); through `pidfs` (its pidfd again): `namespace_ioctls`,
//!   `get_info`, `file_handles` and every `PIDFD_GET_INFO` bit (`info_exit`,
//!   `info_coredump`, `supported_mask`, `coredump_signal`, `coredump_code`);
//!   through `file_handles`: `pidfs_root`. A probe that is refused is never
//!   cached and reports `denied` whatever the host kernel has.
//! * `no`: `clone3` (`ENOSYS` is what a kernel without it says), and what
//!   builds on it: `clone_into_cgroup`, `clone_autoreap`; also anything the
//!   host kernel lacks whose probe meets no refusal first.
//! * present: the host's answer for the probes that need none of those calls:
//!   `clone_pidfd` (a `clone(CLONE_PIDFD)` child), `waitid_pidfd` and
//!   `setns_pidfd` (the pidfd of such a child, reaped), `process_madvise` and
//!   `process_mrelease` (a bad fd), `so_peerpidfd` (a socket pair).
//!
//! The test suite skips, with the reason, a test that needs a feature listed
//! in `PIDFD_TEST_DENIED`; everything built on `pidfd::Command` (the vfork
//! `clone(CLONE_PIDFD)` path, `clone3` falling back on `ENOSYS`) and waiting
//! still runs.

use crate::matrix::config::{self, Config, Version};
use std::fs::File;
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd, RawFd};
use std::os::unix::fs::FileExt as _;
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

const USAGE: &str = "\
usage: cargo xtask emulate (--kernel X.Y | --profile container-eperm) [--explain] -- COMMAND [ARGS...]

Runs COMMAND under a seccomp filter that makes this kernel answer like Linux X.Y
(5.3 to 6.12) or like an old container profile, with PIDFD_TEST_KERNEL,
PIDFD_TEST_EXPECT and PIDFD_TEST_DENIED set for the test suite. --explain prints
what is hidden.";

/// What to emulate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Profile {
    /// An older mainline kernel.
    Kernel(Version),
    /// Old Docker/containerd: EPERM for the pidfd syscalls, ENOSYS for clone3.
    ContainerEperm,
}

/// A system call a profile may refuse, as far as the feature probes are concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Call {
    PidfdOpen,
    PidfdSendSignal,
    PidfdGetfd,
    Clone3,
}

/// How `pidfd::features()` probes each feature (`fn probe` in pidfd/src/compat.rs), reduced to
/// what a seccomp profile can change: `(feature, needs, calls)`. `needs` are the features the
/// probe asks first (`needs(Feature::X)?`, also inside `info_probe`/`supported_mask`), in
/// order: one that is refused makes this one `denied`, one that is absent makes it `no`. `calls`
/// are the system calls of [`Call`] the probe then makes itself, in order. Calls no profile
/// filters (`clone` with `CLONE_PIDFD`, `ioctl`, `fstatfs`, `getsockopt`, `process_madvise` and
/// `process_mrelease` with a bad fd, `name_to_handle_at`) are left out. The kernel matrix checks
/// this table every run: a probe that comes to need another call shows up as a measured value
/// that differs from the expectation.
const PROBES: &[(&str, &[&str], &[Call])] = &[
    ("pidfd_send_signal", &[], &[Call::PidfdSendSignal]),
    ("clone_pidfd", &[], &[]),
    ("pidfd_open", &[], &[Call::PidfdOpen]),
    ("clone3", &[], &[Call::Clone3]),
    // A reaped child's pidfd from clone(CLONE_PIDFD).
    ("waitid_pidfd", &["clone_pidfd"], &[]),
    ("pidfd_getfd", &[], &[Call::PidfdGetfd]),
    ("clone_into_cgroup", &["clone3"], &[Call::Clone3]),
    // A reaped child's pidfd from clone(CLONE_PIDFD).
    ("setns_pidfd", &["clone_pidfd"], &[]),
    ("pidfd_nonblock", &["pidfd_open"], &[Call::PidfdOpen]),
    ("process_madvise", &[], &[]),
    ("process_mrelease", &[], &[]),
    ("so_peerpidfd", &[], &[]),
    ("pidfs", &["pidfd_open"], &[Call::PidfdOpen]),
    ("pidfd_thread", &["pidfd_open"], &[Call::PidfdOpen]),
    ("signal_scope", &["pidfd_open"], &[Call::PidfdOpen, Call::PidfdSendSignal]),
    ("namespace_ioctls", &["pidfs"], &[Call::PidfdOpen]),
    ("get_info", &["pidfs"], &[Call::PidfdOpen]),
    ("file_handles", &["pidfs"], &[Call::PidfdOpen]),
    ("pidfd_self", &[], &[Call::PidfdSendSignal]),
    // supported_mask() (through pidfs), then needs(GetInfo), then a reaped child's pidfd.
    ("info_exit", &["pidfs", "get_info"], &[Call::PidfdOpen]),
    ("info_coredump", &["pidfs"], &[Call::PidfdOpen]),
    ("pidfs_root", &["file_handles"], &[Call::PidfdOpen]),
    ("supported_mask", &["pidfs"], &[Call::PidfdOpen]),
    ("coredump_signal", &["pidfs"], &[Call::PidfdOpen]),
    ("coredump_code", &["pidfs"], &[Call::PidfdOpen]),
    ("clone_autoreap", &["clone_into_cgroup"], &[Call::Clone3]),
];

/// What a profile makes a probe answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// The host kernel decides (present if the host has it).
    Host,
    /// `no`, whatever the host has.
    Absent,
    /// `denied` (a refusal, never cached).
    Denied,
}

/// The expected answers of `pidfd::features()` under a profile: features that must be present
/// (`PIDFD_TEST_EXPECT`) and features that must be refused (`PIDFD_TEST_DENIED`); every other
/// feature must be absent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Expectation {
    /// Present, in kernels.toml order.
    pub(crate) present: Vec<String>,
    /// Denied by the profile, in kernels.toml order.
    pub(crate) denied: Vec<String>,
}

/// How the container profile answers a call: refused (`EPERM`) or missing (`ENOSYS`).
fn container_answer(c: Call) -> Outcome {
    match c {
        Call::PidfdOpen | Call::PidfdSendSignal | Call::PidfdGetfd => Outcome::Denied,
        Call::Clone3 => Outcome::Absent,
    }
}

/// What the probe of `feature` answers when each [`Call`] answers as `call` says (`Host`: the
/// host kernel runs it); `host_has` is what the host kernel has. An unknown feature is `Host`
/// (and `probe_table_covers_every_feature` keeps [`PROBES`] complete).
fn probe_outcome(feature: &str, call: &dyn Fn(Call) -> Outcome, host_has: &[String]) -> Outcome {
    let Some((_, needs, calls)) = PROBES.iter().find(|(f, _, _)| *f == feature) else {
        return Outcome::Host;
    };
    for need in *needs {
        match probe_outcome(need, call, host_has) {
            Outcome::Host if host_has.iter().any(|h| h == need) => {}
            Outcome::Host | Outcome::Absent => return Outcome::Absent,
            Outcome::Denied => return Outcome::Denied,
        }
    }
    calls.iter().map(|&c| call(c)).find(|o| *o != Outcome::Host).unwrap_or(Outcome::Host)
}

const OLDEST: Version = Version(5, 3);
const NEWEST: Version = Version(6, 12);

impl Profile {
    /// From `--kernel` / `--profile` values (exactly one).
    pub(crate) fn parse(kernel: Option<&str>, profile: Option<&str>) -> Result<Self, String> {
        match (kernel, profile) {
            (Some(k), None) => {
                let v = Version::parse(k).ok_or_else(|| format!("--kernel {k}: expected X.Y"))?;
                if v < OLDEST || v > NEWEST {
                    return Err(format!(
                        "--kernel {v}: emulation covers {OLDEST} to {NEWEST} (older kernels have no \
                         pidfd_open; newer ones differ in PIDFD_GET_INFO results seccomp cannot rewrite)"
                    ));
                }
                Ok(Self::Kernel(v))
            }
            (None, Some("container-eperm")) => Ok(Self::ContainerEperm),
            (None, Some(p)) => Err(format!("unknown profile {p} (known: container-eperm)")),
            _ => Err(format!("give exactly one of --kernel and --profile\n\n{USAGE}")),
        }
    }

    /// `PIDFD_TEST_KERNEL`.
    pub(crate) fn label(&self) -> String {
        match self {
            Self::Kernel(v) => format!("emulated-{v}"),
            Self::ContainerEperm => "container-eperm".to_owned(),
        }
    }

    /// The `emulate` arguments selecting this profile.
    pub(crate) fn args(&self) -> String {
        match self {
            Self::Kernel(v) => format!("--kernel {v}"),
            Self::ContainerEperm => "--profile container-eperm".to_owned(),
        }
    }

    /// Present and denied features under this profile on a host kernel `host`
    /// (see the module documentation). `expect_add` / `expect_remove` of a
    /// matching `[[emulation]]` entry adjust the present set.
    pub(crate) fn expectation(&self, cfg: &Config, host: Version) -> Expectation {
        let (base, denied) = match self {
            // An older kernel answers ENOSYS/EINVAL/ENOTTY, never EPERM.
            Self::Kernel(v) => (cfg.features.for_version((*v).min(host)), Vec::new()),
            Self::ContainerEperm => {
                let host_has = cfg.features.for_version(host);
                let outcome = |f: &str| probe_outcome(f, &|c| container_answer(c), &host_has);
                let names = cfg.features.names();
                let present = names.iter().filter(|f| outcome(f) == Outcome::Host && host_has.contains(f)).cloned();
                let denied = names.iter().filter(|f| outcome(f) == Outcome::Denied).cloned().collect();
                (present.collect(), denied)
            }
        };
        let entry = cfg
            .emulations
            .iter()
            .find(|e| Profile::parse(e.kernel.as_deref(), e.profile.as_deref()).is_ok_and(|p| p == *self));
        let present = match entry {
            Some(e) => config::adjust(base, &e.expect_add, &e.expect_remove),
            None => base,
        };
        Expectation { present, denied }
    }

    fn needs_supervisor(&self) -> bool {
        matches!(self, Self::Kernel(_))
    }

    /// The filter's rules, first match wins; no match allows the call.
    fn rules(&self) -> Vec<Rule> {
        let mut r = Vec::new();
        let v = match self {
            Self::ContainerEperm => {
                for nr in [NR_PIDFD_OPEN, NR_PIDFD_SEND_SIGNAL, NR_PIDFD_GETFD] {
                    r.push(Rule::new(nr, vec![], errno(libc::EPERM)));
                }
                r.push(Rule::new(NR_CLONE3, vec![], errno(libc::ENOSYS)));
                return r;
            }
            Self::Kernel(v) => *v,
        };
        let before = |major, minor| v < Version(major, minor);
        let einval = errno(libc::EINVAL);
        let ebadf = errno(libc::EBADF);
        for (nr, since) in [
            (NR_PIDFD_GETFD, Version(5, 6)),
            (NR_PROCESS_MADVISE, Version(5, 10)),
            (NR_PROCESS_MRELEASE, Version(5, 15)),
        ] {
            if v < since {
                r.push(Rule::new(nr, vec![], errno(libc::ENOSYS)));
            }
        }
        // pidfd_open(pid, flags)
        let mut open_flags: u32 = 0;
        if !before(5, 10) {
            open_flags |= libc::O_NONBLOCK as u32;
        }
        if !before(6, 9) {
            open_flags |= libc::O_EXCL as u32; // PIDFD_THREAD
        }
        r.push(Rule::new(NR_PIDFD_OPEN, vec![Atom::LoAny(1, !open_flags)], einval));
        r.push(Rule::new(NR_PIDFD_OPEN, vec![Atom::HiNonzero(1)], einval));
        // pidfd_send_signal(pidfd, sig, info, flags): flags first, then the fd.
        if before(6, 9) {
            r.push(Rule::new(NR_PIDFD_SEND_SIGNAL, vec![Atom::LoAny(3, !0)], einval));
            r.push(Rule::new(NR_PIDFD_SEND_SIGNAL, vec![Atom::HiNonzero(3)], einval));
            // clone(CLONE_PIDFD | CLONE_THREAD)
            r.push(Rule::new(NR_CLONE, vec![Atom::LoAny(0, CLONE_PIDFD), Atom::LoAny(0, CLONE_THREAD)], einval));
        }
        if before(6, 15) {
            for nr in [NR_PIDFD_SEND_SIGNAL, NR_PROCESS_MADVISE, NR_PROCESS_MRELEASE] {
                for sentinel in [-10000i32, -10001, -20000] {
                    r.push(Rule::new(nr, vec![Atom::LoEq(0, sentinel as u32)], ebadf));
                }
            }
        }
        if before(6, 17) {
            r.push(Rule::new(NR_OPEN_BY_HANDLE_AT, vec![Atom::LoEq(0, -10002i32 as u32)], ebadf));
        }
        if before(5, 4) {
            r.push(Rule::new(NR_WAITID, vec![Atom::LoEq(0, P_PIDFD)], einval));
        }
        let enotty = errno(libc::ENOTTY);
        if before(6, 11) {
            r.push(Rule::new(NR_IOCTL, vec![Atom::Ioctl(PIDFS_IOCTL_TYPE, 1, 11)], enotty));
        } else if before(6, 13) {
            r.push(Rule::new(NR_IOCTL, vec![Atom::Ioctl(PIDFS_IOCTL_TYPE, 11, 11)], einval));
        }
        // nsfs: 1-4 are 4.9/4.11; 5-9 6.11; 10-12 6.12; 13 (NS_GET_ID) 6.18.
        for (first, last, since) in [(5, 9, Version(6, 11)), (10, 12, Version(6, 12)), (13, 13, Version(6, 18))] {
            if v < since {
                r.push(Rule::new(NR_IOCTL, vec![Atom::Ioctl(NSFS_IOCTL_TYPE, first, last)], enotty));
            }
        }
        if before(6, 18) {
            r.push(Rule::new(NR_OPEN_BY_HANDLE_AT, vec![Atom::LoEq(0, -10003i32 as u32)], ebadf));
        }
        if before(6, 5) {
            r.push(Rule::new(
                NR_GETSOCKOPT,
                vec![Atom::LoEq(1, libc::SOL_SOCKET as u32), Atom::LoEq(2, SO_PEERPIDFD)],
                errno(libc::ENOPROTOOPT),
            ));
            r.push(Rule::new(
                NR_SETSOCKOPT,
                vec![Atom::LoEq(1, libc::SOL_SOCKET as u32), Atom::LoEq(2, SO_PASSPIDFD)],
                errno(libc::ENOPROTOOPT),
            ));
        }
        // The supervisor's share (it needs memory or the fd table).
        r.push(Rule::new(NR_CLONE3, vec![], NOTIFY));
        if before(6, 9) {
            r.push(Rule::new(NR_FSTATFS, vec![], NOTIFY));
        }
        if before(5, 8) {
            r.push(Rule::new(NR_SETNS, vec![], NOTIFY));
        }
        if before(6, 18) {
            r.push(Rule::new(NR_NAME_TO_HANDLE_AT, vec![Atom::LoAny(4, AT_EMPTY_PATH)], NOTIFY));
        }
        r
    }
}

// x86_64 syscall numbers.
const NR_IOCTL: u32 = 16;
const NR_SETSOCKOPT: u32 = 54;
const NR_GETSOCKOPT: u32 = 55;
const NR_CLONE: u32 = 56;
const NR_FSTATFS: u32 = 138;
const NR_WAITID: u32 = 247;
const NR_NAME_TO_HANDLE_AT: u32 = 303;
const NR_OPEN_BY_HANDLE_AT: u32 = 304;
const NR_SETNS: u32 = 308;
const NR_PIDFD_SEND_SIGNAL: u32 = 424;
const NR_PIDFD_OPEN: u32 = 434;
const NR_CLONE3: u32 = 435;
const NR_PIDFD_GETFD: u32 = 438;
const NR_PROCESS_MADVISE: u32 = 440;
const NR_PROCESS_MRELEASE: u32 = 448;

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const X32_SYSCALL_BIT: u32 = 0x4000_0000;
const P_PIDFD: u32 = 3;
const CLONE_PIDFD: u32 = 0x1000;
const CLONE_THREAD: u32 = 0x10000;
const SO_PASSPIDFD: u32 = 76;
const SO_PEERPIDFD: u32 = 77;
const AT_EMPTY_PATH: u32 = 0x1000;
const PIDFS_MAGIC: i64 = 0x5049_4446;
const PIDFS_IOCTL_TYPE: u32 = 0xff;
const NSFS_IOCTL_TYPE: u32 = 0xb7;
const ANON_INODE_FS_MAGIC: i64 = 0x0904_1934;

const RET_ALLOW: u32 = 0x7fff_0000;
const NOTIFY: u32 = 0x7fc0_0000; // SECCOMP_RET_USER_NOTIF

fn errno(e: i32) -> u32 {
    0x0005_0000 | (e as u32 & 0xffff) // SECCOMP_RET_ERRNO
}

/// A condition on the syscall's arguments (`lo`/`hi`: 32-bit halves).
#[derive(Clone, Copy, Debug)]
enum Atom {
    /// `lo(arg) & mask != 0`.
    LoAny(usize, u32),
    /// `hi(arg) != 0`.
    HiNonzero(usize),
    /// `lo(arg) == value`.
    LoEq(usize, u32),
    /// `ioctl` cmd (arg 1) of type `.0` with number in `.1..=.2`.
    Ioctl(u32, u32, u32),
}

/// `nr` with all `atoms` true gets `action`.
#[derive(Clone, Debug)]
struct Rule {
    nr: u32,
    atoms: Vec<Atom>,
    action: u32,
}

impl Rule {
    fn new(nr: u32, atoms: Vec<Atom>, action: u32) -> Self {
        Self { nr, atoms, action }
    }
}

// Classic BPF.
const LD_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const JEQ: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JGE: u16 = 0x35;
const JGT: u16 = 0x25;
const JSET: u16 = 0x45;
const AND: u16 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const RET: u16 = 0x06; // BPF_RET | BPF_K
/// Jump target placeholder: "this rule does not apply".
const NEXT: u8 = 0xff;

fn insn(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

fn lo(arg: usize) -> u32 {
    16 + 8 * arg as u32 // offsetof(seccomp_data, args[arg]), little endian
}

fn compile_rule(r: &Rule) -> Vec<libc::sock_filter> {
    let mut v = vec![insn(LD_ABS, 0, 0, 0), insn(JEQ, r.nr, 0, NEXT)];
    for a in &r.atoms {
        match *a {
            Atom::LoAny(arg, mask) => {
                v.push(insn(LD_ABS, lo(arg), 0, 0));
                v.push(insn(JSET, mask, 0, NEXT));
            }
            Atom::HiNonzero(arg) => {
                v.push(insn(LD_ABS, lo(arg) + 4, 0, 0));
                v.push(insn(JEQ, 0, NEXT, 0));
            }
            Atom::LoEq(arg, value) => {
                v.push(insn(LD_ABS, lo(arg), 0, 0));
                v.push(insn(JEQ, value, 0, NEXT));
            }
            Atom::Ioctl(ty, first, last) => {
                v.push(insn(LD_ABS, lo(1), 0, 0));
                v.push(insn(AND, 0xff00, 0, 0));
                v.push(insn(JEQ, ty << 8, 0, NEXT));
                v.push(insn(LD_ABS, lo(1), 0, 0));
                v.push(insn(AND, 0xff, 0, 0));
                v.push(insn(JGE, first, 0, NEXT));
                v.push(insn(JGT, last, NEXT, 0));
            }
        }
    }
    v.push(insn(RET, r.action, 0, 0));
    let len = v.len();
    for (i, ins) in v.iter_mut().enumerate() {
        let to_next = u8::try_from(len - (i + 1)).expect("rules are short");
        if ins.code & 0x07 == 0x05 {
            if ins.jt == NEXT {
                ins.jt = to_next;
            }
            if ins.jf == NEXT {
                ins.jf = to_next;
            }
        }
    }
    v
}

/// The whole program: non-x86_64 and x32 calls are allowed untouched.
fn program(rules: &[Rule]) -> Vec<libc::sock_filter> {
    let mut p = vec![
        insn(LD_ABS, 4, 0, 0), // arch
        insn(JEQ, AUDIT_ARCH_X86_64, 1, 0),
        insn(RET, RET_ALLOW, 0, 0),
        insn(LD_ABS, 0, 0, 0), // nr
        insn(JGE, X32_SYSCALL_BIT, 0, 1),
        insn(RET, RET_ALLOW, 0, 0),
    ];
    for r in rules {
        p.extend(compile_rule(r));
    }
    p.push(insn(RET, RET_ALLOW, 0, 0));
    p
}

/// A command running under a profile.
pub(crate) struct Emulated {
    child: Child,
    supervisor: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
}

impl Emulated {
    /// The child process.
    pub(crate) fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Stops the supervisor (after the child was waited for).
    pub(crate) fn finish(self) {
        if let Some((stop, thread)) = self.supervisor {
            stop.store(true, Ordering::Relaxed);
            let _ = thread.join();
        }
    }
}

/// Installs the filter in the child; runs between fork and exec, so it only
/// makes async-signal-safe calls and does not allocate.
fn install(prog: &[libc::sock_filter], listener_sock: Option<RawFd>) -> std::io::Result<()> {
    let fprog = libc::sock_fprog {
        len: u16::try_from(prog.len()).map_err(|_| std::io::Error::from_raw_os_error(libc::E2BIG))?,
        filter: prog.as_ptr().cast_mut(),
    };
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let flags = if listener_sock.is_some() { libc::SECCOMP_FILTER_FLAG_NEW_LISTENER } else { 0 };
    // SAFETY: `fprog` points at `prog`, which outlives the call; the kernel copies it.
    let r = unsafe {
        libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, flags, &fprog as *const libc::sock_fprog)
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    if let Some(sock) = listener_sock {
        let fd = r as RawFd;
        let sent = send_fd(sock, fd);
        // SAFETY: `fd` is the listener we just got; the parent has its own copy now.
        unsafe { libc::close(fd) };
        sent?;
    }
    Ok(())
}

/// Space for one `SCM_RIGHTS` control message carrying one fd.
#[repr(C, align(8))]
struct CmsgBuf([u8; 32]);

fn send_fd(sock: RawFd, fd: RawFd) -> std::io::Result<()> {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec { iov_base: byte.as_mut_ptr().cast(), iov_len: 1 };
    let mut cbuf = CmsgBuf([0; 32]);
    // SAFETY: msghdr is plain data; all-zero is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.0.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE is arithmetic.
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(4) } as _;
    // SAFETY: the control buffer is 32 aligned bytes, more than CMSG_SPACE(4),
    // so the first header and its 4 data bytes lie inside it.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(4) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), fd);
    }
    // SAFETY: `msg` and everything it points to are valid for the call.
    if unsafe { libc::sendmsg(sock, &msg, 0) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn recv_fd(sock: RawFd) -> std::io::Result<OwnedFd> {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec { iov_base: byte.as_mut_ptr().cast(), iov_len: 1 };
    let mut cbuf = CmsgBuf([0; 32]);
    // SAFETY: msghdr is plain data; all-zero is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.0.as_mut_ptr().cast();
    msg.msg_controllen = cbuf.0.len() as _;
    // SAFETY: `msg` and its buffers are valid for the call.
    let n = unsafe { libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC | libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `msg` was filled by recvmsg; CMSG_FIRSTHDR checks msg_controllen.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if cmsg.is_null() || (*cmsg).cmsg_level != libc::SOL_SOCKET || (*cmsg).cmsg_type != libc::SCM_RIGHTS {
            return Err(std::io::Error::other("no seccomp listener fd from the child"));
        }
        let fd = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>());
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

/// Spawns `cmd` under `profile`; the caller waits for the child, then calls
/// [`Emulated::finish`].
pub(crate) fn spawn(profile: &Profile, mut cmd: Command) -> Result<Emulated, String> {
    if !cfg!(target_arch = "x86_64") {
        return Err("emulate: the seccomp filter is written for x86_64".to_owned());
    }
    let prog = program(&profile.rules());
    let socks = if profile.needs_supervisor() {
        let mut fds = [0; 2];
        // SAFETY: socketpair writes two fds into `fds`.
        let r =
            unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr()) };
        if r != 0 {
            return Err(format!("socketpair: {}", std::io::Error::last_os_error()));
        }
        // SAFETY: both fds are new and owned by nobody else.
        Some(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
    } else {
        None
    };
    let child_sock = socks.as_ref().map(|(_, c)| c.as_raw_fd());
    // SAFETY: the closure only calls async-signal-safe functions (prctl,
    // seccomp, sendmsg, close) on data prepared before the fork; it does not
    // allocate or take locks.
    unsafe {
        cmd.pre_exec(move || install(&prog, child_sock));
    }
    let program_name = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd.spawn().map_err(|e| format!("emulate: running {program_name}: {e}"))?;
    let supervisor = match socks {
        None => None,
        Some((parent, child_end)) => {
            drop(child_end);
            let listener = match recv_fd(parent.as_raw_fd()) {
                Ok(l) => l,
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("emulate: {e}"));
                }
            };
            let Profile::Kernel(v) = *profile else { unreachable!("only kernel profiles supervise") };
            let stop = Arc::new(AtomicBool::new(false));
            let stop2 = Arc::clone(&stop);
            let thread = std::thread::Builder::new()
                .name("seccomp-supervisor".to_owned())
                .spawn(move || supervise(&listener, v, &stop2))
                .map_err(|e| format!("emulate: supervisor thread: {e}"))?;
            Some((stop, thread))
        }
    };
    Ok(Emulated { child, supervisor })
}

/// The supervisor's answer to one notification.
enum Reply {
    /// Let the host kernel run the call.
    Continue,
    /// Fail with this errno.
    Errno(i32),
    /// Return 0 without running the call (results already written).
    Zero,
}

fn supervise(listener: &OwnedFd, v: Version, stop: &AtomicBool) {
    let fd = listener.as_raw_fd();
    while !stop.load(Ordering::Relaxed) {
        let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, 100) };
        if n <= 0 {
            continue;
        }
        if pfd.revents & libc::POLLIN == 0 {
            if pfd.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
                break; // every filtered task is gone
            }
            continue;
        }
        // SAFETY: seccomp_notif is plain data; the kernel wants it zeroed.
        let mut req: libc::seccomp_notif = unsafe { std::mem::zeroed() };
        // SAFETY: RECV fills `req`, whose size the ioctl number encodes.
        if unsafe { libc::ioctl(fd, libc::SECCOMP_IOCTL_NOTIF_RECV, &mut req) } != 0 {
            continue; // the caller died or was interrupted
        }
        let reply = decide(&req, v, fd);
        let mut resp = libc::seccomp_notif_resp { id: req.id, val: 0, error: 0, flags: 0 };
        match reply {
            Reply::Continue => resp.flags = libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32,
            Reply::Errno(e) => resp.error = -e,
            Reply::Zero => {}
        }
        // SAFETY: SEND reads `resp`; failure (the caller died) is harmless.
        unsafe { libc::ioctl(fd, libc::SECCOMP_IOCTL_NOTIF_SEND, &mut resp) };
    }
}

/// Whether notification `id` still refers to a live, blocked call.
fn still_valid(listener: RawFd, id: u64) -> bool {
    let mut id = id;
    // SAFETY: ID_VALID reads one u64.
    unsafe { libc::ioctl(listener, libc::SECCOMP_IOCTL_NOTIF_ID_VALID, &mut id) == 0 }
}

fn is_pidfd(pid: u32, fd: u64) -> bool {
    let fd = fd as i32;
    fd >= 0 && std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).is_ok_and(|l| l.as_os_str() == "anon_inode:[pidfd]")
}

/// A namespace fd: `/proc/<pid>/fd/N` reads `<type>:[<inode>]` (`net:[4026531840]`).
fn is_nsfd(pid: u32, fd: u64) -> bool {
    const KINDS: [&str; 10] =
        ["cgroup", "ipc", "mnt", "net", "pid", "pid_for_children", "time", "time_for_children", "user", "uts"];
    let fd = fd as i32;
    fd >= 0
        && std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).is_ok_and(|l| {
            let l = l.to_string_lossy();
            l.split_once(":[").is_some_and(|(kind, rest)| KINDS.contains(&kind) && rest.ends_with(']'))
        })
}

fn read_mem(pid: u32, addr: u64, len: usize) -> Option<Vec<u8>> {
    let mem = File::open(format!("/proc/{pid}/mem")).ok()?;
    let mut buf = vec![0; len];
    mem.read_exact_at(&mut buf, addr).ok()?;
    Some(buf)
}

fn decide(req: &libc::seccomp_notif, v: Version, listener: RawFd) -> Reply {
    let a = req.data.args;
    let pid = req.pid;
    match req.data.nr as u32 {
        NR_CLONE3 => {
            let size = a[1];
            let ksize: u64 = if v < Version(5, 5) {
                64
            } else if v < Version(5, 7) {
                80
            } else {
                88
            };
            if !(64..=4096).contains(&size) {
                return Reply::Continue; // the host kernel gives the same errors
            }
            let Some(args) = read_mem(pid, a[0], size as usize) else {
                return Reply::Continue; // EFAULT from the host kernel
            };
            if size > ksize && args[ksize as usize..].iter().any(|&b| b != 0) {
                return Reply::Errno(libc::E2BIG);
            }
            let flags = u64::from_le_bytes(args[..8].try_into().unwrap_or([0; 8]));
            let mut known: u64 = 0xffff_ffff;
            if v >= Version(5, 5) {
                known |= 1 << 32; // CLONE_CLEAR_SIGHAND
            }
            if v >= Version(5, 7) {
                known |= 1 << 33; // CLONE_INTO_CGROUP
            }
            if flags & !known != 0 {
                return Reply::Errno(libc::EINVAL);
            }
            let both = u64::from(CLONE_PIDFD | CLONE_THREAD);
            if v < Version(6, 9) && flags & both == both {
                return Reply::Errno(libc::EINVAL);
            }
            Reply::Continue
        }
        NR_SETNS if is_pidfd(pid, a[0]) => Reply::Errno(libc::EINVAL),
        NR_NAME_TO_HANDLE_AT if v < Version(6, 14) && is_pidfd(pid, a[0]) => Reply::Errno(libc::EOPNOTSUPP),
        NR_NAME_TO_HANDLE_AT if is_nsfd(pid, a[0]) => Reply::Errno(libc::EOPNOTSUPP),
        NR_FSTATFS if is_pidfd(pid, a[0]) => {
            let path = format!("/proc/{pid}/fd/{}\0", a[0] as i32);
            // SAFETY: statfs is plain data.
            let mut st: libc::statfs = unsafe { std::mem::zeroed() };
            // SAFETY: `path` is NUL-terminated; `st` is a valid out pointer.
            if unsafe { libc::statfs(path.as_ptr().cast(), &mut st) } != 0 {
                return Reply::Continue;
            }
            #[allow(clippy::unnecessary_cast)]
            if st.f_type as i64 == PIDFS_MAGIC {
                st.f_type = ANON_INODE_FS_MAGIC as _;
            }
            // SAFETY: viewing a plain-data struct as bytes.
            let bytes = unsafe {
                std::slice::from_raw_parts((&st as *const libc::statfs).cast::<u8>(), size_of::<libc::statfs>())
            };
            if !still_valid(listener, req.id) {
                return Reply::Continue;
            }
            let written = std::fs::OpenOptions::new()
                .write(true)
                .open(format!("/proc/{pid}/mem"))
                .and_then(|m| m.write_all_at(bytes, a[1]));
            match written {
                Ok(()) => Reply::Zero,
                Err(_) => Reply::Errno(libc::EFAULT),
            }
        }
        _ => Reply::Continue,
    }
}

/// Human-readable summary of a profile, for `--explain`.
fn explain(profile: &Profile) -> String {
    let mut s = format!("{} ({}):\n", profile.label(), profile.args());
    for r in profile.rules() {
        let action = match r.action {
            NOTIFY => "supervisor decides".to_owned(),
            a if a & 0xffff_0000 == 0x0005_0000 => {
                format!("errno {}", std::io::Error::from_raw_os_error((a & 0xffff) as i32))
            }
            a => format!("action {a:#x}"),
        };
        s.push_str(&format!("  syscall {:3} {:?} -> {action}\n", r.nr, r.atoms));
    }
    s
}

/// Entry point of `cargo xtask emulate`.
pub(crate) fn emulate(args: &[String]) -> Result<(), String> {
    let mut kernel = None;
    let mut profile = None;
    let mut explain_only = false;
    let mut it = args.iter();
    let mut command = Vec::new();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--kernel" => kernel = Some(it.next().ok_or("--kernel needs a version")?.clone()),
            "--profile" => profile = Some(it.next().ok_or("--profile needs a name")?.clone()),
            "--explain" => explain_only = true,
            "--help" | "-h" => {
                println!("{USAGE}");
                return Ok(());
            }
            "--" => {
                command.extend(it.by_ref().cloned());
            }
            other => return Err(format!("unknown argument {other}\n\n{USAGE}")),
        }
    }
    let profile = Profile::parse(kernel.as_deref(), profile.as_deref())?;
    let cfg = config::load()?;
    let host = crate::matrix::host_version()?;
    let expected = profile.expectation(&cfg, host);
    if explain_only {
        print!("{}", explain(&profile));
        println!(
            "PIDFD_TEST_KERNEL={}\nPIDFD_TEST_EXPECT={}\nPIDFD_TEST_DENIED={}",
            profile.label(),
            expected.present.join(","),
            expected.denied.join(",")
        );
        return Ok(());
    }
    let (program, rest) = command.split_first().ok_or_else(|| format!("no command given\n\n{USAGE}"))?;
    let mut cmd = Command::new(program);
    cmd.args(rest)
        .env("PIDFD_TEST_KERNEL", profile.label())
        .env("PIDFD_TEST_EXPECT", expected.present.join(","))
        .env("PIDFD_TEST_DENIED", expected.denied.join(","));
    let mut em = spawn(&profile, cmd)?;
    let status = em.child_mut().wait().map_err(|e| format!("waiting for {program}: {e}"))?;
    em.finish();
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{}` under {} exited with {status}", command.join(" "), profile.label()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(profile: Profile, script: &str) -> String {
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", script]).stdout(std::process::Stdio::piped());
        let mut em = spawn(&profile, cmd).unwrap();
        let mut out = String::new();
        use std::io::Read as _;
        em.child_mut().stdout.take().unwrap().read_to_string(&mut out).unwrap();
        em.child_mut().wait().unwrap();
        em.finish();
        out
    }

    /// errno of a raw syscall, 0 on success.
    fn sys(nr: libc::c_long, a: [libc::c_long; 5]) -> (i64, i32) {
        // SAFETY: the probes below pass valid pointers or none.
        let r = unsafe { libc::syscall(nr, a[0], a[1], a[2], a[3], a[4]) };
        let e = if r < 0 { std::io::Error::last_os_error().raw_os_error().unwrap_or(0) } else { 0 };
        (r, e)
    }

    /// Run by the tests below in a child under a profile: prints `PROBE name errno`.
    #[test]
    fn probe_child() {
        if std::env::var_os("EMULATE_PROBE").is_none() {
            return;
        }
        let me = i64::from(std::process::id());
        let (fd, e) = sys(libc::SYS_pidfd_open, [me, 0, 0, 0, 0]);
        println!("PROBE pidfd_open {e}");
        println!("PROBE pidfd_open_nonblock {}", sys(libc::SYS_pidfd_open, [me, 0x800, 0, 0, 0]).1);
        println!("PROBE pidfd_open_thread {}", sys(libc::SYS_pidfd_open, [me, 0x80, 0, 0, 0]).1);
        println!("PROBE pidfd_send_signal {}", sys(libc::SYS_pidfd_send_signal, [fd, 0, 0, 0, 0]).1);
        println!("PROBE send_signal_flags {}", sys(libc::SYS_pidfd_send_signal, [fd, 0, 0, 2, 0]).1);
        println!("PROBE send_signal_self {}", sys(libc::SYS_pidfd_send_signal, [-10000, 0, 0, 0, 0]).1);
        println!("PROBE pidfd_getfd {}", sys(libc::SYS_pidfd_getfd, [fd, 0, 0, 0, 0]).1);
        println!("PROBE process_madvise {}", sys(440, [fd, 0, 0, 0, 0]).1);
        println!("PROBE get_info {}", sys(libc::SYS_ioctl, [fd, 0xc040_ff0b, 0, 0, 0]).1);
        println!("PROBE ns_ioctl {}", sys(libc::SYS_ioctl, [fd, 0xff01, 0, 0, 0]).1);
        // SAFETY: statfs is plain data.
        let mut st: libc::statfs = unsafe { std::mem::zeroed() };
        let (_, e) = sys(libc::SYS_fstatfs, [fd, (&raw mut st) as libc::c_long, 0, 0, 0]);
        println!("PROBE fstatfs {e} {:#x}", st.f_type);
        let (_, e) = sys(libc::SYS_fstatfs, [1, (&raw mut st) as libc::c_long, 0, 0, 0]);
        println!("PROBE fstatfs_other {e}");
        // setns(own pidfd, CLONE_NEWUTS): re-enters our own UTS namespace (a
        // no-op) on 5.8+, EINVAL before.
        println!("PROBE setns {}", sys(libc::SYS_setns, [fd, 0x0400_0000, 0, 0, 0]).1);
        // clone3 with a non-zero cgroup field (offset 80): E2BIG before 5.7.
        let mut args = [0u64; 11];
        args[0] = 1 << 33; // CLONE_INTO_CGROUP
        args[10] = 1 << 40; // a cgroup fd the host would reject with EBADF
        let (_, e) = sys(libc::SYS_clone3, [(&raw mut args) as libc::c_long, 88, 0, 0, 0]);
        println!("PROBE clone3_cgroup {e}");
        let t = std::thread::spawn(|| 7).join().unwrap();
        println!("PROBE thread {}", if t == 7 { 0 } else { 1 });
    }

    fn probe(profile: Profile) -> std::collections::BTreeMap<String, String> {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args(["--exact", "emulate::tests::probe_child", "--nocapture", "--test-threads=1"])
            .env("EMULATE_PROBE", "1")
            .stdout(std::process::Stdio::piped());
        let mut em = spawn(&profile, cmd).unwrap();
        let mut out = String::new();
        use std::io::Read as _;
        em.child_mut().stdout.take().unwrap().read_to_string(&mut out).unwrap();
        assert!(em.child_mut().wait().unwrap().success(), "{out}");
        em.finish();
        out.lines()
            .filter_map(|l| l.find("PROBE ").map(|i| &l[i + 6..]))
            .filter_map(|l| l.split_once(' '))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    #[test]
    fn emulated_5_4_answers_like_5_4() {
        let p = probe(Profile::Kernel(Version(5, 4)));
        let e = |k: &str| p.get(k).map(String::as_str).unwrap_or("missing");
        assert_eq!(e("pidfd_open"), "0");
        assert_eq!(e("pidfd_open_nonblock"), libc::EINVAL.to_string());
        assert_eq!(e("pidfd_open_thread"), libc::EINVAL.to_string());
        assert_eq!(e("pidfd_send_signal"), "0");
        assert_eq!(e("send_signal_flags"), libc::EINVAL.to_string());
        assert_eq!(e("pidfd_getfd"), libc::ENOSYS.to_string());
        assert_eq!(e("process_madvise"), libc::ENOSYS.to_string());
        assert_eq!(e("get_info"), libc::ENOTTY.to_string());
        assert_eq!(e("ns_ioctl"), libc::ENOTTY.to_string());
        assert_eq!(e("fstatfs"), "0 0x9041934");
        assert_eq!(e("fstatfs_other"), "0");
        assert_eq!(e("setns"), libc::EINVAL.to_string());
        assert_eq!(e("clone3_cgroup"), libc::E2BIG.to_string());
        assert_eq!(e("thread"), "0");
    }

    #[test]
    fn emulated_5_10_keeps_5_10_features() {
        let p = probe(Profile::Kernel(Version(5, 10)));
        let e = |k: &str| p.get(k).map(String::as_str).unwrap_or("missing");
        assert_eq!(e("pidfd_open_nonblock"), "0");
        assert_eq!(e("pidfd_open_thread"), libc::EINVAL.to_string());
        assert_eq!(e("pidfd_getfd"), "0"); // duplicates our fd 0
        assert_ne!(e("clone3_cgroup"), libc::E2BIG.to_string());
        assert_eq!(e("send_signal_self"), libc::EBADF.to_string());
    }

    #[test]
    fn container_profile_denies() {
        let p = probe(Profile::ContainerEperm);
        let e = |k: &str| p.get(k).map(String::as_str).unwrap_or("missing");
        assert_eq!(e("pidfd_open"), libc::EPERM.to_string());
        assert_eq!(e("pidfd_getfd"), libc::EPERM.to_string());
        assert_eq!(e("clone3_cgroup"), libc::ENOSYS.to_string());
        assert_eq!(e("thread"), "0"); // glibc falls back to clone on ENOSYS
    }

    #[test]
    fn probe_table_covers_every_feature() {
        let cfg = config::load().unwrap();
        let table: Vec<&str> = PROBES.iter().map(|(f, _, _)| *f).collect();
        assert_eq!(table, cfg.features.names(), "PROBES must list kernels.toml's features, in order");
        for (f, needs, _) in PROBES {
            for n in *needs {
                assert!(table.contains(n), "{f} needs unknown feature {n}");
            }
        }
    }

    #[test]
    fn container_expectation_follows_the_probes() {
        let cfg = config::load().unwrap();
        let strs = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        // A host with every feature: what pidfd::features() measured under the profile on 6.18.
        let e = Profile::ContainerEperm.expectation(&cfg, Version(7, 3));
        assert_eq!(
            e.present,
            strs(&[
                "clone_pidfd",
                "waitid_pidfd",
                "setns_pidfd",
                "process_madvise",
                "process_mrelease",
                "so_peerpidfd"
            ])
        );
        let absent = ["clone3", "clone_into_cgroup", "clone_autoreap"];
        let denied: Vec<String> = cfg
            .features
            .names()
            .into_iter()
            .filter(|f| !e.present.contains(f) && !absent.contains(&f.as_str()))
            .collect();
        assert_eq!(e.denied, denied);
        assert!(e.denied.contains(&"pidfd_self".to_owned()) && e.denied.contains(&"pidfs_root".to_owned()));
        // A refused probe is refused whatever the host has; a host without SO_PEERPIDFD lacks it.
        let old = Profile::ContainerEperm.expectation(&cfg, Version(5, 10));
        assert_eq!(old.present, strs(&["clone_pidfd", "waitid_pidfd", "setns_pidfd", "process_madvise"]));
        assert_eq!(old.denied, e.denied);
        // Older kernels answer ENOSYS/EINVAL/ENOTTY: nothing is denied.
        let k = Profile::Kernel(Version(5, 4)).expectation(&cfg, Version(6, 18));
        assert!(k.denied.is_empty());
        assert_eq!(k.present, cfg.features.for_version(Version(5, 4)));
        // The host's own answers decide where no call is refused.
        let host = |_: Call| Outcome::Host;
        let h612 = cfg.features.for_version(Version(6, 12));
        assert_eq!(probe_outcome("info_exit", &host, &h612), Outcome::Absent);
        assert_eq!(probe_outcome("namespace_ioctls", &host, &h612), Outcome::Host);
    }

    #[test]
    fn rules_compile_with_short_jumps() {
        for p in [Profile::Kernel(Version(5, 3)), Profile::Kernel(Version(6, 12)), Profile::ContainerEperm] {
            let prog = program(&p.rules());
            assert!(prog.len() < 4096);
            assert_eq!(prog.last().unwrap().k, RET_ALLOW);
        }
    }

    #[test]
    fn ordinary_commands_still_work() {
        // sh forks (clone or clone3 with a zeroed tail) and execs under the filter.
        assert_eq!(run(Profile::Kernel(Version(5, 4)), "echo ok; /bin/true && echo ok2"), "ok\nok2\n");
        assert_eq!(run(Profile::ContainerEperm, "echo ok"), "ok\n");
    }
}
