//! The profiles: an older mainline kernel or an old container policy, and the filter rules
//! each one installs.

use super::USAGE;
use super::filter::{
    AT_EMPTY_PATH, Atom, CLONE_PIDFD, CLONE_THREAD, NOTIFY, NR_CLONE, NR_CLONE3, NR_FSTATFS, NR_GETSOCKOPT, NR_IOCTL,
    NR_NAME_TO_HANDLE_AT, NR_OPEN_BY_HANDLE_AT, NR_PIDFD_GETFD, NR_PIDFD_OPEN, NR_PIDFD_SEND_SIGNAL,
    NR_PROCESS_MADVISE, NR_PROCESS_MRELEASE, NR_SETNS, NR_SETSOCKOPT, NR_WAITID, NSFS_IOCTL_TYPE, P_PIDFD,
    PIDFS_IOCTL_TYPE, Rule, SO_PASSPIDFD, SO_PEERPIDFD, errno,
};
use crate::matrix::config::Version;

/// What to emulate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Profile {
    /// An older mainline kernel.
    Kernel(Version),
    /// Old Docker/containerd: EPERM for the pidfd syscalls, ENOSYS for clone3.
    ContainerEperm,
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

    pub(super) fn needs_supervisor(&self) -> bool {
        matches!(self, Self::Kernel(_))
    }

    /// The filter's rules, first match wins; no match allows the call.
    pub(super) fn rules(&self) -> Vec<Rule> {
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
