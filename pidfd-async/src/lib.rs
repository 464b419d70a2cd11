//! Waiting on processes with tokio through pidfds, from one process to tens of thousands.
//!
//! * [`AsyncPidFd`]: one pidfd, waited on through the runtime's pidfd hub (one epoll instance
//!   per runtime, registered once with the reactor). [`wait`](AsyncPidFd::wait)
//!   reaps a child, or reports the exit status of any other process once its parent has reaped
//!   it (6.15+); [`exited`](AsyncPidFd::exited) resolves on the exit of any process on any
//!   kernel.
//! * [`Command`] / [`Child`] / [`Stdio`]: `tokio::process` with its signatures (moving code
//!   means changing the imports), race-free and at vfork speed ([`pidfd::Command`] is the
//!   builder: the pidfd comes from `clone3`/`clone` with `CLONE_PIDFD`, so it also works where a
//!   container refuses `pidfd_open` or `clone3`), tokio's own stdio pipe types,
//!   [`Child::wait_with_output`], kill-on-drop, no zombie left behind by a dropped child, and a
//!   status never lost with a runtime.
//! * [`ExitSet`]: many processes under keys, yielding `(key, status)` as they exit, with one
//!   reactor registration for the whole set and O(1) work per exit.
//!
//! Waiting never blocks a runtime thread: readiness comes from epoll, statuses are collected
//! with `waitid(WNOHANG)` (spawning itself, a vfork-style clone and exec, is synchronous as in
//! std and tokio). A readiness that is not an exit (a tracer attached, a thread-group
//! leader exec) is "not yet", never an error, a panic or a polling loop. The futures are `Send`
//! and cancellation-safe, so timeouts compose with `tokio::time::timeout` and `select!`.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! use std::time::Duration;
//!
//! use pidfd_async::{Command, Stdio};
//! use tokio::io::AsyncReadExt;
//!
//! let mut child = Command::new("sh").args(["-c", "sleep 0.1; echo bye; exit 7"]).stdout(Stdio::piped()).spawn()?;
//! let early = tokio::time::timeout(Duration::from_millis(10), child.wait()).await;
//! assert!(early.is_err()); // timed out; nothing is lost
//! let mut said = String::new();
//! child.stdout.take().unwrap().read_to_string(&mut said).await?;
//! assert_eq!(said, "bye\n");
//! assert_eq!(child.wait().await?.code(), Some(7));
//! # Ok(())
//! # }
//! ```
//!
//! # A supervisor
//!
//! Spawn a group of workers, restart the ones that die, and on Ctrl-C stop them all through
//! their process groups. The full program is `examples/supervisor.rs`
//! (`cargo run -p pidfd-async --example supervisor`); this short version stops after 0.7 s
//! instead of waiting for Ctrl-C:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::os::unix::process::ExitStatusExt;
//! use std::time::Duration;
//!
//! use pidfd_async::ExitSet;
//!
//! /// Worker `k` dies after k tenths of a second. Each leads its own process group, so a
//! /// signal to the group also reaches whatever the worker started (here: `sleep`).
//! fn start(k: u32) -> std::io::Result<pidfd::PidFd> {
//!     let mut cmd = pidfd::Command::new("sh");
//!     cmd.arg("-c").arg(format!("sleep 0.{k}; exit 1")).process_group(0);
//!     Ok(cmd.spawn()?.into_pidfd())
//! }
//!
//! let mut workers = ExitSet::new()?;
//! for k in 1..=3 {
//!     workers.insert(k, start(k)?)?;
//! }
//! // A real supervisor waits for `tokio::signal::ctrl_c()` here.
//! let mut shutdown = std::pin::pin!(tokio::time::sleep(Duration::from_millis(700)));
//! let mut restarts = 0;
//! loop {
//!     tokio::select! {
//!         // `next` is cancellation-safe: losing the race to `shutdown` loses no exit.
//!         Some((k, status)) = workers.next() => {
//!             println!("worker {k} died ({}), restarting", status?);
//!             workers.insert(k, start(k)?)?;
//!             restarts += 1;
//!         }
//!         _ = &mut shutdown => break,
//!     }
//! }
//! for (_, k, fd) in workers.iter() {
//!     if let Err(e) = fd.signal_process_group(libc::SIGTERM) {
//!         eprintln!("worker {k}: {e}"); // it died meanwhile; `next` reports it
//!     }
//! }
//! while let Some((k, status)) = workers.next().await {
//!     let status = status?;
//!     assert!(status.signal() == Some(libc::SIGTERM) || status.code() == Some(1), "worker {k}: {status}");
//! }
//! assert!(restarts >= 4);
//! # Ok(())
//! # }
//! ```
//!
//! # Costs
//!
//! Per process: an [`AsyncPidFd`] is a slot in its runtime's pidfd hub (one `epoll_ctl` to add
//! it; `close` takes it out) and a 56-byte future while waited on; an [`ExitSet`] entry is a
//! slot of the set. Per exit: `waitid` and `close`, plus the wake-ups, which exits arriving
//! together share: tokio's `epoll_wait` and one on the hub or set. Measured by
//! `benches/reap/` (N children exiting one per millisecond; 2 vCPUs, nested virtualization),
//! against a hand-written epoll + `waitid` loop, over several runs: parent CPU 1.01-1.17x the
//! loop for an `ExitSet` from N = 1000 to 10000 (1.13-1.36x at N = 100) and 1.12-1.41x for an
//! `AsyncPidFd` in a task per child, where `tokio::process` pays 1.09-1.36x in the same rounds
//! (the same loop behind a second epoll level, without tokio: 1.02-1.23x); 2.0-2.7 system calls
//! per child when exits come together (the loop: 2.0; `tokio::process`: 3.05), 3.7-4.0 when
//! every exit is a wake-up of its own (the loop: 2.9; behind a second epoll level: 3.7-3.9;
//! `tokio::process`: 3.9-4.0); 0.1-0.35 KiB per pending child in an `ExitSet`, 0.7-0.85 KiB
//! for an `AsyncPidFd` with its task (`tokio::process`: 1.3 KiB); no thread.
//!
//! # Kernel support
//!
//! | operation | mechanism (first kernel) | before that |
//! |---|---|---|
//! | spawn ([`Command`]) | `clone3` / `clone(CLONE_PIDFD)`, vfork-style ([`pidfd::Command`]; 5.2) | fork, the child opens and sends its own pidfd (5.3); a command converted from std: [`pidfd::spawn`] (5.3) |
//! | readiness on exit | pidfd polls readable (5.3) | no pidfds: [`pidfd::Error::Unsupported`] |
//! | reap a child | `waitid(P_PIDFD, WNOHANG)` (5.4) | 5.3: `waitid(P_PID)` re-checked through the pidfd |
//! | non-blocking pidfd | `O_NONBLOCK` honoured by `waitid` (5.10) | not needed: `WNOHANG` |
//! | notice the reap of a non-child | `POLLHUP` on reap (6.9) | — |
//! | status of a non-child | `PIDFD_INFO_EXIT` (6.15) | [`wait`](AsyncPidFd::wait) gives `Unsupported` at the exit; [`exited`](AsyncPidFd::exited) works |
//! | signals | `pidfd_send_signal` (5.1), process groups `PIDFD_SIGNAL_PROCESS_GROUP` (6.9) | `killpg` after a liveness check |
//!
//! Support is probed with [`pidfd::Feature`], never read from the kernel version.
//!
//! # Errors
//!
//! [`Command`] and [`Child`] return [`std::io::Result`] wherever tokio's do: an errno stays an OS
//! error (`raw_os_error()`, `kind()`), and an error that says more is a custom `io::Error` with
//! the typed error inside (`get_ref()`, `downcast`): a [`pidfd::Error`] (as `pidfd`'s
//! conversion does), or this crate's [`Error`] for a missing runtime ([`Error::NoRuntime`]) or
//! a runtime built without I/O ([`Error::NoIoDriver`]), both found before anything is spawned,
//! not tokio's panic. [`AsyncPidFd`] and [`ExitSet`] return [`Error`]: the `pidfd` layer's
//! errors inside [`Error::Pidfd`], plus the async layer's own (no runtime, a runtime without
//! I/O, reactor I/O); it converts into [`std::io::Error`] by the same rule.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let e = pidfd_async::Command::new("/nonexistent").status().await.unwrap_err();
//! assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
//! let e = pidfd_async::Command::new("a\0b").spawn().unwrap_err();
//! assert!(matches!(e.get_ref().and_then(|e| e.downcast_ref()), Some(pidfd::Error::InvalidInput(_))));
//! # }
//! ```
//!
//! # Features and versions
//!
//! No features. Rust 1.85 or later (the conversions from `std::io::PipeReader`/`PipeWriter`
//! where std has them, from 1.87), tokio 1.54 or later; Linux and Android only (one
//! `compile_error!` elsewhere).
#![deny(unsafe_code)]
#![warn(missing_docs)]

#[cfg(not(any(target_os = "linux", target_os = "android")))]
compile_error!(
    "pidfd-async supports Linux (and Android) only: pidfds are a Linux kernel interface (Linux 5.3 or later)"
);

/// Everything of the crate is compiled on Linux and Android only: elsewhere, the one error above
/// instead of an error for every missing system call and constant.
macro_rules! linux_only {
    ($($item:item)*) => { $(#[cfg(any(target_os = "linux", target_os = "android"))] $item)* };
}

linux_only! {
    mod async_pidfd;
    mod child;
    mod command;
    mod error;
    mod exit_set;
    mod hub;
    mod slots;
    mod stdio;
    mod sys;

    pub use async_pidfd::AsyncPidFd;
    pub use child::Child;
    pub use command::Command;
    pub use error::{Error, Result};
    pub use exit_set::{ExitId, ExitSet};
    pub use stdio::Stdio;
    /// What [`Command::get_args`] and [`Command::get_envs`] return: `pidfd`'s, as std's.
    pub use pidfd::{CommandArgs, CommandEnvs};
    /// The pipe types of [`Child`]'s fields: tokio's own.
    pub use tokio::process::{ChildStderr, ChildStdin, ChildStdout};
}
