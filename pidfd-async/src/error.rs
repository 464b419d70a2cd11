//! The crate's error type.

use std::io;

/// What went wrong: an error of the `pidfd` layer, or one of the async layer's own.
///
/// The `pidfd` errors are kept whole in [`Error::Pidfd`] (match on
/// `Error::Pidfd(pidfd::Error::NotChild)` and so on) rather than copied into this enum, so a
/// caller that uses both crates handles one set of process errors.
///
/// The error of [`AsyncPidFd`](crate::AsyncPidFd) and [`ExitSet`](crate::ExitSet).
/// [`Command`](crate::Command) and [`Child`](crate::Child) return [`std::io::Error`] as tokio's
/// do, converted from this one: an errno stays an OS error (`raw_os_error()`) wherever there
/// is one, like `pidfd::Error` does; [`Error::NoRuntime`] and [`Error::NoIoDriver`] are
/// `io::ErrorKind::Other` with this error inside (`get_ref()`, `downcast`).
///
/// # Kernel support
/// Any kernel; [`pidfd::Error::Unsupported`] names the feature a kernel lacks.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error of the synchronous layer: the process, the kernel's support, a spawn failure.
    #[error(transparent)]
    Pidfd(#[from] pidfd::Error),
    /// The call needs a tokio runtime in context (`Handle::try_current` failed): call it from
    /// within a runtime, or after `Runtime::enter`.
    #[error("no tokio runtime in context (call from within a runtime with I/O enabled)")]
    NoRuntime,
    /// The tokio runtime in context was built without its I/O driver, which every registration
    /// needs: build it with `enable_io()` or `enable_all()`. Checked before anything is spawned
    /// or registered (tokio itself would panic, after the fd was handed over).
    #[error("the tokio runtime in context has no I/O driver (build it with `enable_io()` or `enable_all()`)")]
    NoIoDriver,
    /// An I/O error of the async machinery: registering with the reactor, the runtime's pidfd
    /// hub, the inner epoll instance of an [`ExitSet`](crate::ExitSet).
    #[error("{op} failed: {source}")]
    Io {
        /// The step that failed.
        op: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The `errno` behind this error, if it came from the kernel.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Error::Pidfd(e) => e.raw_os_error(),
            Error::NoRuntime | Error::NoIoDriver => None,
            Error::Io { source, .. } => source.raw_os_error(),
        }
    }

    pub(crate) fn io(op: &'static str, source: io::Error) -> Error {
        Error::Io { op, source }
    }
}

/// For `?` on a std-mirroring call of `pidfd` (`pidfd::Command::spawn`, ...) in a function
/// returning this crate's `Result`: a `pidfd::Error` inside the `io::Error` comes out whole
/// ([`Error::Pidfd`]), as does one of ours; any other `io::Error` becomes
/// [`pidfd::Error::Os`] inside [`Error::Pidfd`].
impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        if !e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
            return Error::Pidfd(e.into());
        }
        match e.into_inner().map(|b| b.downcast::<Error>()) {
            Some(Ok(ours)) => *ours,
            // Not reached (checked above); kept whole rather than a panic.
            Some(Err(other)) => Error::Pidfd(io::Error::other(other).into()),
            None => Error::Pidfd(io::Error::other("an io::Error without its payload").into()),
        }
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        match e {
            Error::Pidfd(e) => e.into(),
            Error::Io { source, .. } => source,
            Error::NoRuntime | Error::NoIoDriver => io::Error::other(e),
        }
    }
}
