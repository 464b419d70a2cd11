//! pidfds and unix sockets: the peer's pidfd (`SO_PEERPIDFD`), pidfds attached to messages
//! (`SCM_PIDFD`), and passing pidfds along (`SCM_RIGHTS`).

use std::os::fd::{AsFd, AsRawFd};

use pidfd_sys as uapi;

use crate::error::{Error, Result, from_errno};
use crate::{Feature, PidFd, sys};

impl PidFd {
    /// The pidfd of the process at the other end of a connected unix socket, taken when the
    /// peer connected (or created the pair): no PID race.
    ///
    /// # Kernel support
    /// `SO_PEERPIDFD` (6.5). Older kernels: [`Error::Unsupported`] (the PID from `SO_PEERCRED`
    /// plus [`PidFd::open`] is racy, so it is not offered silently).
    ///
    /// # Errors
    /// [`Error::Exited`] when the peer was reaped before 6.16 (6.16 returns a pidfd of the dead
    /// process); [`Error::InvalidInput`] for a socket that is not a connected unix socket.
    ///
    /// # Example
    /// ```
    /// # if !pidfd::Feature::SoPeerPidfd.is_supported() { return Ok(()); }
    /// let (a, _b) = std::os::unix::net::UnixStream::pair()?;
    /// let peer = pidfd::PidFd::from_peer(&a)?;
    /// assert_eq!(peer.pid()?, std::process::id() as i32);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[doc(alias = "SO_PEERPIDFD")]
    pub fn from_peer(sock: impl AsFd) -> Result<PidFd> {
        match sys::peer_pidfd(sock.as_fd().as_raw_fd()) {
            Ok(fd) => Ok(PidFd::from_owned_unchecked(fd)),
            Err(e) => Err(match e.raw_os_error() {
                Some(libc::ENOPROTOOPT) => Error::Unsupported { feature: Feature::SoPeerPidfd },
                Some(libc::ENOTSOCK | libc::EOPNOTSUPP | libc::ENOTCONN) => {
                    Error::InvalidInput("not a connected unix socket")
                }
                Some(libc::EINVAL | libc::ESRCH) => Error::Exited,
                _ => from_errno("getsockopt(SO_PEERPIDFD)", e),
            }),
        }
    }
}

/// Asks the kernel to attach the sender's pidfd (`SCM_PIDFD`) to every message received on
/// `sock` (`SO_PASSPIDFD`).
///
/// # Kernel support
/// 6.5. Older kernels: [`Error::Unsupported`].
///
/// # Errors
/// [`Error::InvalidInput`] for a socket that is not a unix socket.
pub fn set_pass_pidfd(sock: impl AsFd, on: bool) -> Result<()> {
    sys::set_sock_int(sock.as_fd().as_raw_fd(), uapi::SO_PASSPIDFD, i32::from(on)).map_err(|e| match e.raw_os_error() {
        Some(libc::ENOPROTOOPT) => Error::Unsupported { feature: Feature::SoPeerPidfd },
        Some(libc::ENOTSOCK | libc::EOPNOTSUPP) => Error::InvalidInput("not a unix socket"),
        _ => from_errno("setsockopt(SO_PASSPIDFD)", e),
    })
}

/// Receives one message into `buf` with the pidfd that came with it: the sender's own
/// (`SCM_PIDFD`, after [`set_pass_pidfd`]) or one passed explicitly (`SCM_RIGHTS`, checked to
/// be a pidfd). Returns the number of bytes and the pidfd, if any. Received fds are
/// close-on-exec.
///
/// # Kernel support
/// `SCM_PIDFD` 6.5; `SCM_RIGHTS` any kernel. Before 6.16 the kernel sends a negative errno
/// instead of a pidfd when the sender is already reaped: that is reported as no pidfd.
///
/// # Errors
/// [`Error::NotPidfd`] when an `SCM_RIGHTS` fd is not a pidfd (all received fds are closed);
/// [`Error::Os`] with `EMSGSIZE` when the control data was truncated.
pub fn recv_pidfd(sock: impl AsFd, buf: &mut [u8]) -> Result<(usize, Option<PidFd>)> {
    let mut got = Vec::new();
    let n = sys::recv_with_fds(sock.as_fd().as_raw_fd(), buf, &mut got).map_err(|e| from_errno("recvmsg", e))?;
    let mut rights = None;
    let mut own = None;
    for r in got {
        match r {
            sys::Received::Pidfd(Ok(fd)) => own = Some(PidFd::from_owned_unchecked(fd)),
            sys::Received::Pidfd(Err(_errno)) => {}
            sys::Received::Rights(fd) => rights = Some(PidFd::try_from(fd)?),
        }
    }
    Ok((n, rights.or(own)))
}

/// Sends `data` with `pidfd` attached (`SCM_RIGHTS`): the receiver gets its own pidfd to the
/// same process.
///
/// # Kernel support
/// Any kernel with pidfds: `sendmsg` with `SCM_RIGHTS`, which every kernel has.
///
/// # Errors
/// [`Error::InvalidInput`] for empty `data` on a stream socket (nothing would carry the fd)
/// and for a non-socket; other `sendmsg` errors as [`Error::Os`].
pub fn send_pidfd(sock: impl AsFd, pidfd: &PidFd, data: &[u8]) -> Result<usize> {
    if data.is_empty() {
        return Err(Error::InvalidInput("send at least one byte with the pidfd"));
    }
    sys::send_with_fd(sock.as_fd().as_raw_fd(), data, pidfd.as_raw_fd()).map_err(|e| match e.raw_os_error() {
        Some(libc::ENOTSOCK) => Error::InvalidInput("not a unix socket"),
        _ => from_errno("sendmsg", e),
    })
}
