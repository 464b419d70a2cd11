//! The namespaces of a process, through its pidfd: race-free on every kernel.
//!
//! `/proc/<pid>/ns/*` names a process by PID, and a PID can be reused by another process as
//! soon as the first one is reaped. Through a [`pidfd::PidFd`] the namespace fds this crate
//! returns are the process's own: with the pidfs ioctls where the kernel has them, and
//! otherwise from `/proc`, at the pid that `/proc` shows for the pidfd, accepted only if the
//! pidfd shows that the process had still not exited after the open (so it still held that
//! pid).
//!
//! - [`Namespace`]: the ten kinds (`/proc/<pid>/ns` name, `CLONE_NEW*` flag).
//! - [`NsFd`]: an owned namespace fd: [`id`](NsFd::id), [`enter`](NsFd::enter), and the nsfs
//!   queries (owning user namespace, parent, type, owner uid, pid translation).
//! - [`PidFdNsExt`]: [`namespace`](PidFdNsExt::namespace) and
//!   [`enter_namespaces`](PidFdNsExt::enter_namespaces) on a `PidFd`, with a
//!   [`NamespaceSet`].
//! - [`run_in_namespaces`]: a closure on a fresh thread inside a process's namespaces.
//!
//! ```
//! use std::os::unix::fs::MetadataExt;
//!
//! use pidfd::PidFd;
//! use pidfd_ns::{Error, Namespace, NamespaceSet, PidFdNsExt, run_in_namespaces};
//!
//! let me = PidFd::from_self()?;
//! let net = me.namespace(Namespace::Net)?;
//! // The same namespace `readlink /proc/self/ns/net` shows.
//! assert_eq!(net.id()?, std::fs::metadata("/proc/self/ns/net")?.ino());
//! println!("user namespace owned by uid {}", me.namespace(Namespace::User)?.owner_uid()?);
//!
//! // A closure on a fresh thread in the process's UTS and network namespaces (entering needs
//! // CAP_SYS_ADMIN, even into one's own).
//! match run_in_namespaces(&me, NamespaceSet::UTS | NamespaceSet::NET, || {
//!     std::fs::read_to_string("/proc/sys/kernel/hostname")
//! }) {
//!     Ok(hostname) => println!("hostname there: {}", hostname?.trim()),
//!     Err(Error::Pidfd(pidfd::Error::PermissionDenied { .. })) => println!("entering needs CAP_SYS_ADMIN"),
//!     Err(e) => return Err(e.into()),
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Kernel support
//!
//! Each operation uses the best mechanism the running kernel has, found by a probe (the
//! cached [`pidfd::Feature`] probes, or the nsfs ioctl itself answering `ENOTTY`), never by
//! the kernel version.
//!
//! | operation | best (first kernel) | fallback |
//! |---|---|---|
//! | a process's namespace fd ([`PidFdNsExt::namespace`]) | `PIDFD_GET_*_NAMESPACE` ioctl, third argument 0 (6.11) | `/proc/<pid>/ns/<name>` with the pid `/proc` itself shows for the pidfd (fdinfo), accepted only if the process still has not exited after the open |
//! | enter several namespaces ([`PidFdNsExt::enter_namespaces`], [`run_in_namespaces`]) | `setns(pidfd, flags)`, atomic (5.8) | one `setns` per namespace fd in two passes as `nsenter`: the others first, then the user namespace, then those refused for privilege again (not atomic) |
//! | enter one ([`NsFd::enter`]) | `setns(nsfd, type)` (3.0; 3.8 mount, PID, user) | none needed |
//! | [`NsFd::id`] (nsfs inode) | `fstat` (any kernel) | none needed |
//! | [`NsFd::unique_id`] (never reused) | `NS_GET_ID` (6.18) | mount namespaces: `NS_GET_MNTNS_ID` (6.11); else unsupported |
//! | owning user namespace, parent | `NS_GET_USERNS`, `NS_GET_PARENT` (4.9) | unsupported |
//! | namespace type, owner uid | `NS_GET_NSTYPE`, `NS_GET_OWNER_UID` (4.11) | unsupported |
//! | pid translation into / out of a PID namespace | `NS_GET_{PID,TGID}_{IN,FROM}_PIDNS` (6.11) | unsupported (no race-free way) |
//!
//! The kinds themselves: IPC, network, UTS (3.0); mount, PID, user (3.8); cgroup (4.6);
//! `pid_for_children` (4.12); time and `time_for_children` (5.6). A kind the kernel was built
//! without is [`Error::NamespaceDisabled`] (`EOPNOTSUPP`), not
//! [`pidfd::Error::Unsupported`].
//!
//! # Threads
//!
//! `setns` moves only the calling thread, and the kernel has rules per kind: a mount
//! namespace needs a filesystem context of the thread's own (this crate calls
//! `unshare(CLONE_FS)` first); user and time namespaces can be entered only by a
//! single-threaded process ([`Error::MultiThreaded`]); PID namespaces apply to the thread's
//! future children only. [`NsFd::enter`] details them.
//!
//! # Errors
//!
//! One [`Error`] type; it converts into [`std::io::Error`] keeping the OS error, and from
//! [`pidfd::Error`].
//!
//! # Features
//!
//! None for users. `__bench-internals` (the leading `__`: internal) exposes a fallback path to
//! this workspace's bench; it is not part of the API and has no semver guarantee.
//!
//! # Rust and Linux versions
//!
//! Rust 1.85 or later; Linux and Android only (one `compile_error!` elsewhere).
#![deny(unsafe_code)]
#![warn(missing_docs)]

#[cfg(not(any(target_os = "linux", target_os = "android")))]
compile_error!("pidfd-ns supports Linux (and Android) only: pidfds are a Linux kernel interface (Linux 5.3 or later)");

/// Everything of the crate is compiled on Linux and Android only: elsewhere, the one error above
/// instead of an error for every missing system call and constant.
macro_rules! linux_only {
    ($($item:item)*) => { $(#[cfg(any(target_os = "linux", target_os = "android"))] $item)* };
}

linux_only! {
    mod enter;
    mod error;
    mod ext;
    mod namespace;
    mod nsfd;
    mod open;
    mod path;
    mod sys;

    pub use enter::run_in_namespaces;
    pub use error::{Error, Result};
    pub use ext::PidFdNsExt;
    pub use namespace::{Namespace, NamespaceSet};
    pub use nsfd::NsFd;
}

/// Internals for the bench (`--features __bench-internals`); not part of the API.
#[cfg(all(feature = "__bench-internals", any(target_os = "linux", target_os = "android")))]
#[doc(hidden)]
pub mod __bench {
    use crate::{Namespace, NsFd, Result};

    /// The `/proc/<pid>/ns/<name>` fallback of [`PidFdNsExt::namespace`](crate::PidFdNsExt::namespace),
    /// whatever the kernel has.
    ///
    /// # Kernel support
    /// Any kernel with `/proc` mounted (the fallback path itself; for the bench only).
    ///
    /// # Errors
    /// As the operation it measures.
    pub fn proc_namespace(pidfd: &pidfd::PidFd, ns: Namespace) -> Result<NsFd> {
        crate::open::proc_namespace(pidfd, ns)
    }
}

#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
mod tests;
