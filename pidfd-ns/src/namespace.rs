//! [`Namespace`] (the ten kinds a process has) and [`NamespaceSet`] (the ones `setns` enters).

use std::fmt;

use bitflags::bitflags;
use pidfd_sys as uapi;

/// One of the namespaces of a process, as listed in `/proc/<pid>/ns`.
///
/// The `*ForChildren` kinds are the namespaces the process's future children will be created
/// in; they are PID and time namespaces like the others ([`NsFd::namespace_type`] reports
/// [`Namespace::Pid`] / [`Namespace::Time`] for them).
///
/// # Kernel support
/// Each kind appeared in `/proc/<pid>/ns` with a kernel of its own (see [`Namespace::since`]):
/// IPC, network and UTS 3.0; mount, PID and user 3.8; cgroup 4.6; `pid_for_children` 4.12;
/// time and `time_for_children` 5.6. A kind the running kernel lacks (too old, or built
/// without it) makes the operations on it fail with
/// [`Error::NamespaceDisabled`](crate::Error::NamespaceDisabled).
///
/// [`NsFd::namespace_type`]: crate::NsFd::namespace_type
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Namespace {
    /// The cgroup namespace (`CLONE_NEWCGROUP`, 4.6).
    Cgroup,
    /// The System V IPC and POSIX message queue namespace (`CLONE_NEWIPC`, 3.0).
    Ipc,
    /// The mount namespace (`CLONE_NEWNS`, `/proc/<pid>/ns/mnt`, 3.8).
    Mount,
    /// The network namespace (`CLONE_NEWNET`, 3.0).
    Net,
    /// The PID namespace the process lives in (`CLONE_NEWPID`, 3.8).
    Pid,
    /// The PID namespace of the process's future children (`pid_for_children`, 4.12).
    PidForChildren,
    /// The time namespace (`CLONE_NEWTIME`, 5.6).
    Time,
    /// The time namespace of the process's future children (`time_for_children`, 5.6).
    TimeForChildren,
    /// The user namespace (`CLONE_NEWUSER`, 3.8).
    User,
    /// The hostname and NIS domain name namespace (`CLONE_NEWUTS`, 3.0).
    Uts,
}

impl Namespace {
    /// Every kind, in the order of `/proc/<pid>/ns`.
    pub const ALL: [Namespace; 10] = [
        Namespace::Cgroup,
        Namespace::Ipc,
        Namespace::Mount,
        Namespace::Net,
        Namespace::Pid,
        Namespace::PidForChildren,
        Namespace::Time,
        Namespace::TimeForChildren,
        Namespace::User,
        Namespace::Uts,
    ];

    /// The file name in `/proc/<pid>/ns`: `"cgroup"`, `"ipc"`, `"mnt"`, `"net"`, `"pid"`,
    /// `"pid_for_children"`, `"time"`, `"time_for_children"`, `"user"`, `"uts"`.
    pub const fn proc_name(self) -> &'static str {
        match self {
            Namespace::Cgroup => "cgroup",
            Namespace::Ipc => "ipc",
            Namespace::Mount => "mnt",
            Namespace::Net => "net",
            Namespace::Pid => "pid",
            Namespace::PidForChildren => "pid_for_children",
            Namespace::Time => "time",
            Namespace::TimeForChildren => "time_for_children",
            Namespace::User => "user",
            Namespace::Uts => "uts",
        }
    }

    /// Looks a kind up by its [`proc_name`](Namespace::proc_name).
    pub fn from_proc_name(name: &str) -> Option<Namespace> {
        Namespace::ALL.into_iter().find(|n| n.proc_name() == name)
    }

    /// The `CLONE_NEW*` flag of the namespace type (`CLONE_NEWPID` for both PID kinds,
    /// `CLONE_NEWTIME` for both time kinds), as `setns`, `unshare` and `NS_GET_NSTYPE` use it.
    pub const fn clone_flag(self) -> libc::c_int {
        match self {
            Namespace::Cgroup => libc::CLONE_NEWCGROUP,
            Namespace::Ipc => libc::CLONE_NEWIPC,
            Namespace::Mount => libc::CLONE_NEWNS,
            Namespace::Net => libc::CLONE_NEWNET,
            Namespace::Pid | Namespace::PidForChildren => libc::CLONE_NEWPID,
            Namespace::Time | Namespace::TimeForChildren => uapi::CLONE_NEWTIME,
            Namespace::User => libc::CLONE_NEWUSER,
            Namespace::Uts => libc::CLONE_NEWUTS,
        }
    }

    /// The namespace type a `CLONE_NEW*` value names (what `NS_GET_NSTYPE` returns): one of
    /// the eight types, never a `*ForChildren` kind. `None` for any other value.
    pub const fn from_clone_flag(flag: libc::c_int) -> Option<Namespace> {
        Some(match flag {
            libc::CLONE_NEWCGROUP => Namespace::Cgroup,
            libc::CLONE_NEWIPC => Namespace::Ipc,
            libc::CLONE_NEWNS => Namespace::Mount,
            libc::CLONE_NEWNET => Namespace::Net,
            libc::CLONE_NEWPID => Namespace::Pid,
            uapi::CLONE_NEWTIME => Namespace::Time,
            libc::CLONE_NEWUSER => Namespace::User,
            libc::CLONE_NEWUTS => Namespace::Uts,
            _ => return None,
        })
    }

    /// The first mainline kernel with this kind in `/proc/<pid>/ns` (for messages).
    pub const fn since(self) -> &'static str {
        match self {
            Namespace::Ipc | Namespace::Net | Namespace::Uts => "3.0",
            Namespace::Mount | Namespace::Pid | Namespace::User => "3.8",
            Namespace::Cgroup => "4.6",
            Namespace::PidForChildren => "4.12",
            Namespace::Time | Namespace::TimeForChildren => "5.6",
        }
    }

    /// The pidfs ioctl that opens this namespace of a process (6.11).
    pub(crate) const fn pidfd_ioctl(self) -> u32 {
        match self {
            Namespace::Cgroup => uapi::PIDFD_GET_CGROUP_NAMESPACE,
            Namespace::Ipc => uapi::PIDFD_GET_IPC_NAMESPACE,
            Namespace::Mount => uapi::PIDFD_GET_MNT_NAMESPACE,
            Namespace::Net => uapi::PIDFD_GET_NET_NAMESPACE,
            Namespace::Pid => uapi::PIDFD_GET_PID_NAMESPACE,
            Namespace::PidForChildren => uapi::PIDFD_GET_PID_FOR_CHILDREN_NAMESPACE,
            Namespace::Time => uapi::PIDFD_GET_TIME_NAMESPACE,
            Namespace::TimeForChildren => uapi::PIDFD_GET_TIME_FOR_CHILDREN_NAMESPACE,
            Namespace::User => uapi::PIDFD_GET_USER_NAMESPACE,
            Namespace::Uts => uapi::PIDFD_GET_UTS_NAMESPACE,
        }
    }

    /// A PID namespace (either kind): the pid translations apply.
    pub(crate) const fn is_pid(self) -> bool {
        matches!(self, Namespace::Pid | Namespace::PidForChildren)
    }

    /// A time namespace (either kind).
    pub(crate) const fn is_time(self) -> bool {
        matches!(self, Namespace::Time | Namespace::TimeForChildren)
    }
}

impl fmt::Display for Namespace {
    /// The [`proc_name`](Namespace::proc_name).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.proc_name())
    }
}

bitflags! {
    /// A set of namespace types to enter, as `setns(pidfd, flags)` takes them: the values are
    /// the `CLONE_NEW*` flags.
    ///
    /// Entering [`PID`](NamespaceSet::PID) sets the PID namespace of the caller's future
    /// children to the process's own PID namespace; [`TIME`](NamespaceSet::TIME) enters the
    /// process's time namespace (for the caller and its children).
    ///
    /// # Kernel support
    /// `setns(pidfd, flags)` takes the set at once from 5.8
    /// ([`pidfd::Feature::SetnsPidfd`]); before, this crate enters one namespace fd per kind.
    /// `TIME` needs 5.6 and `CGROUP` 4.6.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct NamespaceSet: u32 {
        /// `CLONE_NEWCGROUP`.
        const CGROUP = libc::CLONE_NEWCGROUP as u32;
        /// `CLONE_NEWIPC`.
        const IPC = libc::CLONE_NEWIPC as u32;
        /// `CLONE_NEWNS`.
        const MOUNT = libc::CLONE_NEWNS as u32;
        /// `CLONE_NEWNET`.
        const NET = libc::CLONE_NEWNET as u32;
        /// `CLONE_NEWPID` (children only).
        const PID = libc::CLONE_NEWPID as u32;
        /// `CLONE_NEWTIME`.
        const TIME = uapi::CLONE_NEWTIME as u32;
        /// `CLONE_NEWUSER`.
        const USER = libc::CLONE_NEWUSER as u32;
        /// `CLONE_NEWUTS`.
        const UTS = libc::CLONE_NEWUTS as u32;
    }
}

impl NamespaceSet {
    /// The order in which the per-namespace fallback enters them: the other kinds in the order
    /// `nsenter` uses, then the user namespace. The fallback makes two passes: every other kind first, with
    /// the caller's own privileges (entering a user namespace first would give up those over
    /// namespaces owned by an ancestor user namespace), then the user namespace, then again the
    /// kinds refused with `EPERM` in the first pass (an unprivileged owner of the user
    /// namespace has the capabilities over what it owns only inside it).
    pub(crate) const ENTRY_ORDER: [(NamespaceSet, Namespace); 8] = [
        (NamespaceSet::CGROUP, Namespace::Cgroup),
        (NamespaceSet::IPC, Namespace::Ipc),
        (NamespaceSet::UTS, Namespace::Uts),
        (NamespaceSet::NET, Namespace::Net),
        (NamespaceSet::PID, Namespace::Pid),
        (NamespaceSet::MOUNT, Namespace::Mount),
        (NamespaceSet::TIME, Namespace::Time),
        (NamespaceSet::USER, Namespace::User),
    ];

    /// The namespaces of a process that `setns(pidfd, self)` enters: the process's own PID and
    /// time namespaces for [`PID`](NamespaceSet::PID) and [`TIME`](NamespaceSet::TIME). The
    /// other kinds in the order `nsenter` uses, then the user namespace (the order in which the
    /// per-namespace fallback of
    /// [`PidFdNsExt::enter_namespaces`](crate::PidFdNsExt::enter_namespaces) first tries them).
    pub fn namespaces(self) -> impl Iterator<Item = Namespace> {
        NamespaceSet::ENTRY_ORDER.into_iter().filter(move |(flag, _)| self.contains(*flag)).map(|(_, ns)| ns)
    }
}

impl From<Namespace> for NamespaceSet {
    /// The flag that enters a namespace of this type (`PID` for both PID kinds, `TIME` for both
    /// time kinds).
    fn from(ns: Namespace) -> NamespaceSet {
        NamespaceSet::from_bits_retain(ns.clone_flag() as u32)
    }
}
