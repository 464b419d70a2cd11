//! [`Stdio`]: [`pidfd::Stdio`] with the conversions a tokio user writes.

use std::fmt;
use std::io;
use std::os::fd::OwnedFd;

/// What one of the child's standard streams is connected to, for [`Command::stdin`](crate::Command::stdin),
/// [`stdout`](crate::Command::stdout) and [`stderr`](crate::Command::stderr): the counterpart
/// of `std::process::Stdio` (which tokio's `Command` takes), with its constructors and
/// conversions, over [`pidfd::Stdio`].
///
/// Besides [`inherit`](Stdio::inherit), [`null`](Stdio::null) and [`piped`](Stdio::piped), it
/// converts from an open file descriptor ([`OwnedFd`], [`File`](std::fs::File), the ends of a
/// [`std::io::pipe`]), from std's pipe ends of another child, from [`std::io::stdout`] and
/// [`std::io::stderr`], from a [`pidfd::Stdio`], and, as tokio's pipe ends convert into std's
/// `Stdio`, from tokio's [`ChildStdin`](tokio::process::ChildStdin),
/// [`ChildStdout`](tokio::process::ChildStdout) and [`ChildStderr`](tokio::process::ChildStderr)
/// through `TryFrom` (`let s: Stdio = stdout.try_into()?`, which makes the fd blocking again), to
/// connect children to each other.
///
/// `std::process::Stdio` itself does not convert: std exposes nothing of what it holds. Write
/// `pidfd_async::Stdio` where tokio code names `std::process::Stdio`.
pub struct Stdio(pub(crate) pidfd::Stdio);

impl Stdio {
    /// The parent's stream (the default of [`Command::spawn`](crate::Command::spawn) and
    /// [`Command::status`](crate::Command::status)).
    pub fn inherit() -> Stdio {
        Stdio(pidfd::Stdio::Inherit)
    }

    /// `/dev/null` (read-only for stdin, write-only for stdout and stderr), opened by the child.
    pub fn null() -> Stdio {
        Stdio(pidfd::Stdio::Null)
    }

    /// A new pipe; the parent's end becomes [`Child::stdin`](crate::Child::stdin),
    /// [`stdout`](crate::Child::stdout) or [`stderr`](crate::Child::stderr): tokio's pipe type,
    /// non-blocking, registered with the runtime, close-on-exec. The child's end is blocking.
    pub fn piped() -> Stdio {
        Stdio(pidfd::Stdio::Piped)
    }

    /// The [`pidfd::Stdio`] inside.
    pub fn into_inner(self) -> pidfd::Stdio {
        self.0
    }
}

impl fmt::Debug for Stdio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The same choice.
impl From<pidfd::Stdio> for Stdio {
    fn from(s: pidfd::Stdio) -> Stdio {
        Stdio(s)
    }
}

/// The same choice.
impl From<Stdio> for pidfd::Stdio {
    fn from(s: Stdio) -> pidfd::Stdio {
        s.0
    }
}

macro_rules! stdio_from {
    ($($(#[$doc:meta])* $t:ty),* $(,)?) => {$(
        $(#[$doc])*
        impl From<$t> for Stdio {
            fn from(x: $t) -> Stdio {
                Stdio(pidfd::Stdio::from(x))
            }
        }
    )*};
}

stdio_from!(
    /// The child gets this fd as the stream (the parent's copy is closed by the spawn).
    OwnedFd,
    /// The child gets this file as the stream.
    std::fs::File,
    /// Another child's stdin pipe (of `std::process` or [`pidfd::Child`]).
    std::process::ChildStdin,
    /// Another child's stdout pipe (of `std::process` or [`pidfd::Child`]).
    std::process::ChildStdout,
    /// Another child's stderr pipe (of `std::process` or [`pidfd::Child`]).
    std::process::ChildStderr,
    /// The child writes where this process's stdout goes.
    io::Stdout,
    /// The child writes where this process's stderr goes.
    io::Stderr,
);

/// The child reads from this pipe (`std::io::pipe`, Rust 1.87 and later).
#[cfg(has_io_pipe)]
#[clippy::msrv = "1.87"]
impl From<io::PipeReader> for Stdio {
    fn from(x: io::PipeReader) -> Stdio {
        Stdio(pidfd::Stdio::from(x))
    }
}

/// The child writes into this pipe (`std::io::pipe`, Rust 1.87 and later).
#[cfg(has_io_pipe)]
#[clippy::msrv = "1.87"]
impl From<io::PipeWriter> for Stdio {
    fn from(x: io::PipeWriter) -> Stdio {
        Stdio(pidfd::Stdio::from(x))
    }
}

macro_rules! stdio_from_tokio_pipe {
    ($($t:ty),*) => {$(
        /// Passes another child's pipe on (`a | b`), as tokio's `TryInto<std::process::Stdio>`
        /// does: taken out of the reactor and made blocking again, as the program on the other
        /// end expects.
        ///
        /// # Kernel support
        /// Any kernel: the reactor deregistration (`epoll_ctl(EPOLL_CTL_DEL)`) and an `fcntl`
        /// that clears `O_NONBLOCK`.
        ///
        /// # Errors
        /// Those of the deregistration and of the `fcntl` (tokio's `into_owned_fd`).
        impl TryFrom<$t> for Stdio {
            type Error = io::Error;

            fn try_from(p: $t) -> io::Result<Stdio> {
                p.into_owned_fd().map(Stdio::from)
            }
        }
    )*};
}

stdio_from_tokio_pipe!(tokio::process::ChildStdin, tokio::process::ChildStdout, tokio::process::ChildStderr);
