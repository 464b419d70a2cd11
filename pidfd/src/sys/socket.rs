//! Unix sockets: peer pidfds, fd passing (`SCM_RIGHTS`, `SCM_PIDFD`), and the `pre_exec` hook of
//! [`crate::spawn`].

use std::io;
use std::mem::size_of;
use std::os::fd::{OwnedFd, RawFd};

use pidfd_sys as uapi;

use super::{Call, cvt, cvt_int, fault, owned, raw, retry};

/// `getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD)` (6.5).
pub(crate) fn peer_pidfd(sock: RawFd) -> io::Result<OwnedFd> {
    fault::check(Call::GetSockOpt)?;
    let mut fd: libc::c_int = -1;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `fd` and `len` are writable and `len` holds the size of `fd`.
    let ret = unsafe {
        libc::getsockopt(sock, libc::SOL_SOCKET, uapi::SO_PEERPIDFD, (&mut fd as *mut libc::c_int).cast(), &mut len)
    };
    cvt_int(ret)?;
    if fd < 0 {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    Ok(owned(fd as libc::c_long))
}

/// `setsockopt(fd, SOL_SOCKET, opt, int)`.
pub(crate) fn set_sock_int(sock: RawFd, opt: i32, value: i32) -> io::Result<()> {
    // SAFETY: `value` is a readable int of the size passed.
    let ret = unsafe {
        libc::setsockopt(
            sock,
            libc::SOL_SOCKET,
            opt,
            (&value as *const i32).cast(),
            size_of::<i32>() as libc::socklen_t,
        )
    };
    cvt_int(ret).map(drop)
}

/// A `socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC)`.
pub(crate) fn seqpacket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for two fds.
    cvt_int(unsafe {
        libc::socketpair(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr())
    })?;
    Ok((owned(fds[0] as libc::c_long), owned(fds[1] as libc::c_long)))
}

/// Room for a control message with up to 4 ints.
#[repr(C, align(8))]
struct CmsgBuf([u8; 64]);

/// Sends `data` with one fd attached as `SCM_RIGHTS` (the raw `sendmsg`, `EINTR` retried).
pub(crate) fn send_with_fd(sock: RawFd, data: &[u8], fd: RawFd) -> io::Result<usize> {
    // SAFETY: `data` is a live slice; the fds are the caller's.
    unsafe { raw::send_fd(sock, data, fd) }.map_err(io::Error::from_raw_os_error)
}

/// A received fd-carrying control message: `SCM_RIGHTS` fds are owned; an `SCM_PIDFD` payload is
/// an fd or, before 6.16 when the sender was already reaped, a negative errno.
#[derive(Debug)]
pub(crate) enum Received {
    Rights(OwnedFd),
    Pidfd(Result<OwnedFd, i32>),
}

/// `recvmsg(sock, MSG_CMSG_CLOEXEC)`: the bytes read and the fds that came with them.
pub(crate) fn recv_with_fds(sock: RawFd, data: &mut [u8], out: &mut Vec<Received>) -> io::Result<usize> {
    let mut cbuf = CmsgBuf([0; 64]);
    let mut iov = libc::iovec { iov_base: data.as_mut_ptr().cast(), iov_len: data.len() };
    // SAFETY: an all-zero msghdr is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.0.as_mut_ptr().cast();
    msg.msg_controllen = cbuf.0.len() as _;
    // SAFETY: `msg` describes valid writable buffers.
    let n = retry(|| cvt(unsafe { libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC) } as libc::c_long))?;
    // SAFETY: the kernel filled msg_control/msg_controllen; CMSG_* walk within those bounds.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            let header_len = libc::CMSG_LEN(0) as usize;
            let len = (*cmsg).cmsg_len as usize;
            let count = len.saturating_sub(header_len) / size_of::<libc::c_int>();
            let data_ptr = libc::CMSG_DATA(cmsg).cast::<libc::c_int>();
            if (*cmsg).cmsg_level == libc::SOL_SOCKET {
                for i in 0..count {
                    let fd = std::ptr::read_unaligned(data_ptr.add(i));
                    match (*cmsg).cmsg_type {
                        libc::SCM_RIGHTS => out.push(Received::Rights(owned(fd as libc::c_long))),
                        t if t == uapi::SCM_PIDFD => {
                            out.push(Received::Pidfd(if fd >= 0 { Ok(owned(fd as libc::c_long)) } else { Err(-fd) }))
                        }
                        _ => {}
                    }
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    if msg.msg_flags & libc::MSG_CTRUNC != 0 {
        return Err(io::Error::from_raw_os_error(libc::EMSGSIZE));
    }
    Ok(n as usize)
}

/// Arranges for a `std::process::Command` child to open a pidfd of itself and send it over
/// the socket whose number `slot` holds at fork time (-1: do nothing, for later spawns of the
/// same Command). Everything in the hook is async-signal-safe.
pub(crate) fn pre_exec_send_self_pidfd(
    cmd: &mut std::process::Command,
    slot: std::sync::Arc<std::sync::atomic::AtomicI32>,
) {
    use std::os::unix::process::CommandExt;
    let hook = move || -> io::Result<()> {
        let sock = slot.load(std::sync::atomic::Ordering::SeqCst);
        if sock < 0 {
            return Ok(());
        }
        let fd = raw::pidfd_open_self().map_err(io::Error::from_raw_os_error)?;
        // SAFETY: a static one-byte message and the fd just opened.
        let sent = unsafe { raw::send_fd(sock, b"p", fd) };
        // SAFETY: closing the fd we just opened (exec would close it anyway: it is CLOEXEC).
        unsafe { raw::close(fd) };
        sent.map(drop).map_err(io::Error::from_raw_os_error)
    };
    // SAFETY: the hook makes only raw system calls (pidfd_open, sendmsg, close: `sys::raw`) and
    // an atomic load; it allocates nothing (an OS error is not allocated) and takes no lock.
    unsafe { cmd.pre_exec(hook) };
}
