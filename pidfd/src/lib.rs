//! Safe Linux pidfds, correct on every kernel from 5.3 to the newest.
//!
//! A pidfd is a file descriptor that names one process for the whole life of that process.
//! A PID is only a number that the kernel hands to the next process once the old one is reaped;
//! anything done by PID (signal, wait, read `/proc/<pid>`) can reach the wrong process. Anything
//! done through a [`PidFd`] cannot.
//!
//! Every operation uses the best mechanism the running kernel has, found by a [`Feature`] probe
//! (run once, cached, never by parsing the kernel version), and falls back where a fallback
//! keeps the guarantee. Where none does, the error says which feature and which kernel brings
//! it ([`Error::Unsupported`]). No value is ever made up: a field the kernel did not report is
//! `None` or an error.
//!
//! ```
//! use std::os::unix::process::ExitStatusExt;
//! use std::process::Command;
//!
//! // Spawn race-free: the pidfd names this child even if another thread reaps with waitpid(-1).
//! let (mut child, fd) = pidfd::spawn(Command::new("sleep").arg("30"))?;
//! assert_eq!(fd.pid()?, child.id() as i32);
//! println!("ppid {} credentials {:?}", fd.ppid()?, fd.credentials()?);
//! fd.kill()?;
//! let status = fd.wait()?;
//! assert_eq!(status.signal(), Some(libc::SIGKILL));
//! # drop(child.try_wait());
//! # Ok::<(), pidfd::Error>(())
//! ```
//!
//! # Kernel support
//!
//! | operation | best (first kernel) | fallback |
//! |---|---|---|
//! | open | `pidfd_open` (5.3) | none: [`Error::Unsupported`] |
//! | spawn race-free ([`spawn`]) | child opens its own pidfd and sends it (5.3) | none |
//! | spawn at vfork speed ([`Command`]) | `clone3(CLONE_VM\|CLONE_VFORK\|CLONE_PIDFD\|CLONE_CLEAR_SIGHAND)` (5.5; x86_64, aarch64), else `clone(CLONE_VM\|CLONE_VFORK\|CLONE_PIDFD)` (5.2); into a cgroup `clone3(CLONE_INTO_CGROUP)` (5.7) | fork, the child sends its own pidfd (5.3); the child writes `cgroup.procs` |
//! | pid | `PIDFD_GET_INFO` (6.13) | `/proc/self/fdinfo/<fd>` `Pid:` (5.2; -1 exited, 0 other PID namespace; before 5.5 checked with `pidfd_send_signal(0)`) |
//! | ppid, credentials | `PIDFD_GET_INFO` (6.13) | `/proc/<pid>/status`, then re-check the pidfd still names that pid and is not reaped |
//! | cgroup id | `PIDFD_GET_INFO` (6.13) | `/proc/<pid>/cgroup` v2 path resolved to its id (file handle; inode on 64-bit), re-checked |
//! | unique id | `fstat` inode on pidfs (6.9, 64-bit) | pidfs file handle (6.14; the only way on 32-bit), else unsupported |
//! | reopen by id | `open_by_handle_at(FD_PIDFS_ROOT)` (6.17) | own pidfd as mount fd (6.14), else unsupported |
//! | signal | `pidfd_send_signal` (5.1) | none needed |
//! | scoped signals (thread, group, process group) | `PIDFD_SIGNAL_*` (6.9) | `tgkill` / `killpg` after a liveness check (residual race) |
//! | wait | `waitid(P_PIDFD)` (5.4) | own child by pid: `WNOWAIT`, re-check through the pidfd, reap |
//! | stop/continue wait on a non-blocking pidfd | blocking reopen by pidfs file handle (6.14) | `waitid(WNOHANG)` with a backoff of at most 10 ms |
//! | exit status of any process | `PIDFD_INFO_EXIT` (6.15) | unsupported |
//! | non-blocking | `PIDFD_NONBLOCK` (5.10) | `WNOHANG` |
//! | duplicate a remote fd | `pidfd_getfd` (5.6) | unsupported |
//! | memory advice / release | `process_madvise` (5.10), `process_mrelease` (5.15) | unsupported |
//! | peer of a unix socket | `SO_PEERPIDFD`, `SCM_PIDFD` (6.5) | unsupported (PID-based would be racy) |
//!
//! [`features()`] prints what the running kernel has and which mechanism each operation uses.
//!
//! # Errors
//!
//! One [`Error`] type; it converts into [`std::io::Error`] keeping the OS error.
//!
//! # Features
//!
//! - `nightly` (off by default; needs a nightly compiler): conversions between [`PidFd`] and
//!   std's unstable `std::os::linux::process::PidFd` (`feature(linux_pidfd)`), both ways.
//!
//! Features whose names start with `__` (`__bench-internals`, `__test-util`) serve this
//! workspace's benches and tests: they are not part of the API, have no semver guarantee, and a
//! user never needs them.
//!
//! # Rust and Linux versions
//!
//! Rust 1.85 or later (the conversions from `std::io::PipeReader`/`PipeWriter` where std has
//! them, from 1.87). Linux and Android only: on another system the crate stops at one
//! `compile_error!`; at run time it needs Linux 5.3 (`pidfd_open`), and uses what newer kernels
//! add (the table above).
#![cfg_attr(feature = "nightly", feature(linux_pidfd))]
#![deny(unsafe_code)]
#![warn(missing_docs)]

#[cfg(not(any(target_os = "linux", target_os = "android")))]
compile_error!(
    "pidfd-core (the `pidfd` library) supports Linux (and Android) only: pidfds are a Linux kernel interface (Linux 5.3 or later)"
);

/// Everything of the crate is compiled on Linux and Android only: elsewhere, the one error above
/// instead of an error for every missing system call and constant.
macro_rules! linux_only {
    ($($item:item)*) => { $(#[cfg(any(target_os = "linux", target_os = "android"))] $item)* };
}

linux_only! {
    mod backoff;
    mod child;
    mod command;
    mod compat;
    mod error;
    mod ids;
    mod info;
    mod method;
    mod parse;
    mod pidfd;
    mod poll_exit;
    mod procdir;
    mod reaper;
    mod signal;
    mod socket;
    mod spawn;
    mod stdio;
    mod sys;
    mod wait;

    pub use child::Child;
    pub use command::{Command, CommandArgs, CommandEnvs};
    #[cfg(target_os = "android")]
    pub use compat::allow_probing_on_android;
    pub use compat::{Feature, FeatureReport, Support, features};
    pub use error::{Error, Result};
    pub use info::{Coredump, Credentials, ProcessInfo};
    pub use parse::WaitEvent;
    pub use pidfd::{Advice, MemoryRange, OpenFlags, PidFd};
    pub use poll_exit::ExitPoll;
    pub use procdir::ProcDir;
    pub use signal::{SigInfo, SigValue, SignalScope};
    pub use socket::{recv_pidfd, send_pidfd, set_pass_pidfd};
    pub use spawn::spawn;
    pub use stdio::Stdio;
    pub use wait::{ResourceUsage, WaitOptions};
    /// std's own types that [`Command`] and [`Child`] hand out, so that a `use std::process::{..}`
    /// line that also names them moves by its path alone.
    pub use std::process::{ChildStderr, ChildStdin, ChildStdout, ExitStatus, Output};

    /// Helpers `pidfd-ns` calls instead of re-implementing them; not part of the API.
    #[doc(hidden)]
    #[path = "private.rs"]
    pub mod __private;

    #[cfg(feature = "__bench-internals")]
    #[doc(hidden)]
    #[path = "bench_internals.rs"]
    pub mod __bench;

    #[cfg(test)]
    mod tests;
}
