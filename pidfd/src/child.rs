//! [`Child`]: a spawned child, as `std::process::Child` with its pidfd.

use std::io::{self, Read};
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::process::{ChildStderr, ChildStdin, ChildStdout, ExitStatus, Output};

use crate::error::Error;
use crate::{PidFd, reaper, sys};

/// A spawned child: owns its [`PidFd`] and the parent's ends of its pipes.
///
/// Dropping a `Child` that has not been waited for never leaves a zombie: a single background
/// thread (started on first need) reaps it when it exits. [`Child::detach`] opts out. As with
/// std's, the pipe fields can be moved out (`child.stdout.unwrap()`): the reaping lives in a
/// private field, not in a `Drop` of `Child` itself. A child that cannot be handed to the
/// reaper (no thread can be made) stays a zombie until this process exits.
///
/// # Kernel support
/// Waiting and signalling as [`PidFd`] (5.3 and later).
#[derive(Debug)]
pub struct Child {
    pub(crate) pidfd: ReapOnDrop,
    pub(crate) pid: i32,
    /// The write end of the child's stdin, with [`Stdio::Piped`](crate::Stdio::Piped): std's
    /// own type, as `std::process::Child::stdin`.
    pub stdin: Option<ChildStdin>,
    /// The read end of the child's stdout, with [`Stdio::Piped`](crate::Stdio::Piped).
    pub stdout: Option<ChildStdout>,
    /// The read end of the child's stderr, with [`Stdio::Piped`](crate::Stdio::Piped).
    pub stderr: Option<ChildStderr>,
}

impl Child {
    /// The child's pid (in the caller's PID namespace), as the kernel returned it at creation,
    /// as `std::process::Child::id`; it names the child only until the child is reaped (use
    /// [`Child::pidfd`] after that).
    pub fn id(&self) -> u32 {
        self.pid as u32
    }

    /// The child's pidfd.
    pub fn pidfd(&self) -> &PidFd {
        self.pidfd.0.as_ref().expect("present until into_pidfd/detach")
    }

    /// Takes the pidfd: the caller now reaps the child (or it stays a zombie until the pidfd's
    /// owner waits or the process exits).
    ///
    /// # Kernel support
    /// Any kernel: nothing but the `close` of the pipe ends still held in [`Child::stdin`],
    /// `stdout` and `stderr`.
    pub fn into_pidfd(mut self) -> PidFd {
        self.pidfd.0.take().expect("present until into_pidfd/detach")
    }

    /// Lets the child run on its own: nobody reaps it when it exits (it becomes a zombie until
    /// this process exits, unless `SIGCHLD` is ignored).
    ///
    /// # Kernel support
    /// Any kernel: `close` of the pidfd and of the pipe ends still held; nothing is waited for.
    pub fn detach(self) {
        drop(self.into_pidfd());
    }

    /// Closes stdin (so a child reading it to its end can finish), then waits for the child to
    /// exit and reaps it, as `std::process::Child::wait`. The status is remembered: a later
    /// `wait` or `try_wait` returns it again.
    ///
    /// # Kernel support
    /// As [`PidFd::wait`].
    ///
    /// # Errors
    /// As [`PidFd::wait`], as an [`io::Error`] (see [`Error`]'s conversion).
    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        Ok(self.pidfd().wait()?)
    }

    /// The exit status if the child has exited (reaping it), else `None`, as
    /// `std::process::Child::try_wait`; never blocks.
    ///
    /// # Kernel support
    /// As [`PidFd::try_wait`].
    ///
    /// # Errors
    /// As [`PidFd::try_wait`], as an [`io::Error`].
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        Ok(self.pidfd().try_wait()?)
    }

    /// Sends `SIGKILL`. As `std::process::Child::kill`: if the child has already exited (or
    /// was reaped through this `Child`), `Ok(())` is returned.
    ///
    /// # Kernel support
    /// As [`PidFd::kill`].
    ///
    /// # Errors
    /// As [`PidFd::kill`] (as an [`io::Error`]), except [`Error::Exited`], which is `Ok(())`
    /// here.
    pub fn kill(&mut self) -> io::Result<()> {
        match self.pidfd().kill() {
            Ok(()) | Err(Error::Exited) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads and discards what the child writes to the piped stdout and stderr until it exits
    /// (or both pipes are closed), then closes them. Reaps nothing.
    pub(crate) fn drain_until_exit(&mut self) -> io::Result<()> {
        let (out, err) = (self.stdout.take().map(OwnedFd::from), self.stderr.take().map(OwnedFd::from));
        let mut pipes = [out, err].map(|fd| fd.map(File::from));
        let mut buf = [0u8; 8192];
        let pidfd = self.pidfd().as_raw_fd();
        while pipes.iter().any(Option::is_some) {
            let [out, err] = pipes.each_ref().map(|p| p.as_ref().map_or(-1, |f| f.as_raw_fd()));
            let [exited, ready @ ..] = sys::poll_many([pidfd, out, err], -1)?;
            if exited {
                // Exited: what it wrote last is not wanted either.
                break;
            }
            for (pipe, ready) in pipes.iter_mut().zip(ready) {
                let Some(file) = pipe.as_mut().filter(|_| ready) else { continue };
                match file.read(&mut buf) {
                    // At its end: dropped (a pipe at its end polls ready for good).
                    Ok(0) => *pipe = None,
                    Ok(_) => {}
                    Err(e) if matches!(e.kind(), io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    /// Closes stdin, reads stdout and stderr to their end, and waits, as
    /// `std::process::Child::wait_with_output`. Streams that were not piped come back empty.
    ///
    /// As std's, it starts no thread: the calling thread `poll`s the piped streams and reads
    /// whichever is ready, so a child that fills one pipe while the other is being read never
    /// blocks for good.
    ///
    /// # Kernel support
    /// As [`PidFd::wait`] (`poll` and `read` of the pipes: any kernel).
    ///
    /// # Errors
    /// As [`Child::wait`]; the error of a `poll` or `read` of a pipe (the child is then not
    /// waited for: dropped, it is reaped in the background).
    pub fn wait_with_output(mut self) -> io::Result<Output> {
        drop(self.stdin.take());
        let (stdout, stderr) = read2(self.stdout.take(), self.stderr.take())?;
        Ok(Output { status: self.wait()?, stdout, stderr })
    }
}

/// Reads the pipes that are there to their end in the calling thread, as std's `read2`: `poll`
/// for the ones not yet at their end, one `read` of each that is ready. The pipes are left in
/// their mode: a read only follows a readiness, and `EAGAIN` (a pipe the caller made
/// non-blocking) or `EINTR` just goes back to `poll`. A missing pipe reads as empty.
fn read2(out: Option<ChildStdout>, err: Option<ChildStderr>) -> io::Result<(Vec<u8>, Vec<u8>)> {
    let mut pipes = [out.map(OwnedFd::from), err.map(OwnedFd::from)].map(|fd| (fd.map(File::from), Vec::new()));
    let mut buf = vec![0u8; 64 * 1024];
    while pipes.iter().any(|(f, _)| f.is_some()) {
        // A pipe at its end polls ready (POLLHUP) for good, so it is dropped: a negative fd is
        // skipped by `poll`.
        let fds = pipes.each_ref().map(|(f, _)| f.as_ref().map_or(-1, |f| f.as_raw_fd()));
        for ((pipe, got), ready) in pipes.iter_mut().zip(sys::poll_many(fds, -1)?) {
            let Some(file) = pipe.as_mut().filter(|_| ready) else { continue };
            match file.read(&mut buf) {
                Ok(0) => *pipe = None,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock) => {}
                Err(e) => return Err(e),
            }
        }
    }
    let [(_, stdout), (_, stderr)] = pipes;
    Ok((stdout, stderr))
}

/// A child's pidfd, which reaps the child in the background once it exits when dropped
/// (unless it was waited for, or taken by [`Child::into_pidfd`] or [`Child::detach`]): the
/// `Drop` of a `Child`, in a field of its own so that `Child` has none and its pipe fields can
/// be moved out, as std's. (A `try_wait` first; the background thread waits on the pidfds with
/// epoll: pidfds poll readable at the exit since 5.3.)
pub(crate) struct ReapOnDrop(pub(crate) Option<PidFd>);

impl Drop for ReapOnDrop {
    fn drop(&mut self) {
        let Some(fd) = self.0.take() else { return };
        if fd.remembered().is_none() && matches!(fd.try_wait(), Ok(None)) {
            reaper::adopt(fd);
        }
    }
}

/// The pidfd, as the field was printed before it had a type of its own.
impl std::fmt::Debug for ReapOnDrop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The child's pidfd.
impl AsFd for Child {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.pidfd().as_fd()
    }
}
