//! Race-free spawning from a `std::process::Command`.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::process::{Child, Command};

use crate::error::{Error, Result};
use crate::{PidFd, sys};

/// Spawns `cmd` and returns the child with a pidfd that names it for certain, even while
/// another thread reaps with `waitpid(-1)` or `SIGCHLD` is ignored.
///
/// The child opens a pidfd of itself between fork and exec and sends it to the parent over a
/// close-on-exec socket pair; a pidfd of yourself cannot name anyone else, so no PID reuse can
/// intervene. This adds a `pre_exec` hook to `cmd` (each call adds one, inert outside its own
/// spawn), which makes std fork instead of using `posix_spawn`.
///
/// # Kernel support
/// `pidfd_open` (5.3). Where the probe says the child could not open its pidfd (the kernel
/// lacks `pidfd_open`, or a policy refuses it, as old container seccomp profiles do), nothing
/// is spawned: use [`Command`](crate::Command), which does not need `pidfd_open`.
///
/// # Errors
/// [`Error::Unsupported`], [`Error::Denied`] or [`Error::Undetermined`] (naming
/// [`Feature::PidfdOpen`](crate::Feature::PidfdOpen)) when the probe of `pidfd_open` does not
/// say it works; [`Error::Os`] with the `spawn` error (e.g. `ENOENT` for a missing program) or,
/// if the child could not open its pidfd all the same, that error.
///
/// # Example
/// ```
/// let (mut child, fd) = pidfd::spawn(&mut std::process::Command::new("true"))?;
/// assert_eq!(fd.pid()?, child.id() as i32);
/// assert!(fd.wait()?.success());
/// # drop(child.try_wait());
/// # Ok::<(), pidfd::Error>(())
/// ```
pub fn spawn(cmd: &mut Command) -> Result<(Child, PidFd)> {
    // A child whose pre-exec hook fails is waited for by std itself, which panics if another
    // thread (a `waitpid(-1)` loop) reaped it first: do not fork a child that cannot succeed.
    crate::Feature::PidfdOpen.require()?;
    let (parent, child_end) = sys::seqpacket_pair().map_err(|e| Error::os("socketpair", e))?;
    // Both ends above the standard streams: were 0 or 1 closed, the pair would land there, and
    // std's `dup2` of the child's stdio would replace the child's end before the hook runs.
    let lift = |fd: OwnedFd| sys::dup_cloexec(fd.as_fd()).map_err(|e| Error::os("fcntl(F_DUPFD_CLOEXEC)", e));
    let (parent, child_end) = (lift(parent)?, lift(child_end)?);
    let slot = std::sync::Arc::new(std::sync::atomic::AtomicI32::new(child_end.as_raw_fd()));
    sys::pre_exec_send_self_pidfd(cmd, std::sync::Arc::clone(&slot));
    let spawned = cmd.spawn();
    // Later spawns of the same Command must not send into a reused fd number.
    slot.store(-1, std::sync::atomic::Ordering::SeqCst);
    drop(child_end);
    let mut child = spawned.map_err(|e| Error::os("spawn", e))?;
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    let received = sys::recv_with_fds(parent.as_raw_fd(), &mut byte, &mut got);
    match (received, got.into_iter().next()) {
        (Ok(_), Some(sys::Received::Rights(fd))) => Ok((child, PidFd::from_owned_unchecked(fd))),
        (received, _) => {
            // No pidfd came: the child runs, and nothing names it for certain. It is ours and
            // unreaped (std's `Child` reaps only when asked), so end it rather than leave it.
            let _ = child.kill();
            let _ = child.wait();
            let source = match received {
                Err(e) => e,
                Ok(_) => std::io::Error::from_raw_os_error(libc::EPROTO),
            };
            Err(Error::Os { op: "receive the child's pidfd", source })
        }
    }
}
