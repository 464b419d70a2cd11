//! [`Stdio`]: what a child's standard stream is connected to, with `std::process::Stdio`'s
//! constructors and conversions.

use std::os::fd::OwnedFd;

/// What one of the child's standard streams is connected to: `std::process::Stdio`'s
/// constructors ([`Stdio::inherit`], [`Stdio::null`], [`Stdio::piped`]) and conversions (from a
/// [`File`](std::fs::File), an [`OwnedFd`], a pipe end of another child, [`std::io::stdout`] and
/// [`std::io::stderr`], and `FromRawFd`), and the same choices as variants.
#[derive(Debug, Default)]
#[non_exhaustive]
pub enum Stdio {
    /// The parent's stream.
    #[default]
    Inherit,
    /// `/dev/null`, opened by the child itself (read-only for stdin, write-only for stdout and
    /// stderr, as std does), so it costs the parent nothing and keeps the child's fd table
    /// small.
    Null,
    /// A new pipe; the parent's end is in [`Child::stdin`](crate::Child::stdin) / `stdout` /
    /// `stderr`.
    Piped,
    /// This file descriptor.
    Fd(OwnedFd),
    /// This process's standard output (fd 1 as it is at the spawn), as
    /// `Stdio::from(std::io::stdout())` gives.
    ParentStdout,
    /// This process's standard error (fd 2 as it is at the spawn), as
    /// `Stdio::from(std::io::stderr())` gives.
    ParentStderr,
}

impl Stdio {
    /// The parent's stream ([`Stdio::Inherit`]), as `std::process::Stdio::inherit`.
    pub fn inherit() -> Stdio {
        Stdio::Inherit
    }

    /// `/dev/null` ([`Stdio::Null`]), as `std::process::Stdio::null`.
    pub fn null() -> Stdio {
        Stdio::Null
    }

    /// A new pipe ([`Stdio::Piped`]), as `std::process::Stdio::piped`.
    pub fn piped() -> Stdio {
        Stdio::Piped
    }
}

/// [`Stdio::Fd`]: the child gets this fd as the stream.
impl From<OwnedFd> for Stdio {
    fn from(fd: OwnedFd) -> Stdio {
        Stdio::Fd(fd)
    }
}

/// [`Stdio::Fd`]: the child gets this file as the stream.
impl From<std::fs::File> for Stdio {
    fn from(f: std::fs::File) -> Stdio {
        Stdio::Fd(f.into())
    }
}

/// [`Stdio::Fd`] of the read end of a pipe of [`std::io::pipe`] (Rust 1.87 and later).
#[cfg(has_io_pipe)]
#[clippy::msrv = "1.87"]
impl From<std::io::PipeReader> for Stdio {
    fn from(p: std::io::PipeReader) -> Stdio {
        Stdio::Fd(p.into())
    }
}

/// [`Stdio::Fd`] of the write end of a pipe of [`std::io::pipe`] (Rust 1.87 and later).
#[cfg(has_io_pipe)]
#[clippy::msrv = "1.87"]
impl From<std::io::PipeWriter> for Stdio {
    fn from(p: std::io::PipeWriter) -> Stdio {
        Stdio::Fd(p.into())
    }
}

macro_rules! stdio_from_std_child_pipe {
    ($($t:ty),*) => {$(
        /// [`Stdio::Fd`] of a pipe end of another child (a [`Child`](crate::Child)'s or one
        /// of `std::process::Command`), to connect it to this child.
        impl From<$t> for Stdio {
            fn from(p: $t) -> Stdio {
                Stdio::Fd(p.into())
            }
        }
    )*};
}
stdio_from_std_child_pipe!(std::process::ChildStdin, std::process::ChildStdout, std::process::ChildStderr);

/// [`Stdio::ParentStdout`]: the child writes where this process's stdout goes.
impl From<std::io::Stdout> for Stdio {
    fn from(_: std::io::Stdout) -> Stdio {
        Stdio::ParentStdout
    }
}

/// [`Stdio::ParentStderr`]: the child writes where this process's stderr goes.
impl From<std::io::Stderr> for Stdio {
    fn from(_: std::io::Stderr) -> Stdio {
        Stdio::ParentStderr
    }
}
