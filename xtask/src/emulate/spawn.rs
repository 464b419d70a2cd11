//! A command started under a profile's filter (installed between fork and exec), with the
//! supervisor thread when the profile needs one.

use super::Profile;
use super::filter::program;
use super::notify::supervise;
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd, RawFd};
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

/// A command running under a profile.
pub(crate) struct Emulated {
    child: Child,
    supervisor: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
}

impl Emulated {
    /// The child process.
    pub(crate) fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Stops the supervisor (after the child was waited for).
    pub(crate) fn finish(self) {
        if let Some((stop, thread)) = self.supervisor {
            stop.store(true, Ordering::Relaxed);
            let _ = thread.join();
        }
    }
}

/// Installs the filter in the child; runs between fork and exec, so it only
/// makes async-signal-safe calls and does not allocate.
fn install(prog: &[libc::sock_filter], listener_sock: Option<RawFd>) -> std::io::Result<()> {
    let fprog = libc::sock_fprog {
        len: u16::try_from(prog.len()).map_err(|_| std::io::Error::from_raw_os_error(libc::E2BIG))?,
        filter: prog.as_ptr().cast_mut(),
    };
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let flags = if listener_sock.is_some() { libc::SECCOMP_FILTER_FLAG_NEW_LISTENER } else { 0 };
    // SAFETY: `fprog` points at `prog`, which outlives the call; the kernel copies it.
    let r = unsafe {
        libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, flags, &fprog as *const libc::sock_fprog)
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    if let Some(sock) = listener_sock {
        let fd = r as RawFd;
        let sent = send_fd(sock, fd);
        // SAFETY: `fd` is the listener we just got; the parent has its own copy now.
        unsafe { libc::close(fd) };
        sent?;
    }
    Ok(())
}

/// Space for one `SCM_RIGHTS` control message carrying one fd.
#[repr(C, align(8))]
struct CmsgBuf([u8; 32]);

fn send_fd(sock: RawFd, fd: RawFd) -> std::io::Result<()> {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec { iov_base: byte.as_mut_ptr().cast(), iov_len: 1 };
    let mut cbuf = CmsgBuf([0; 32]);
    // SAFETY: msghdr is plain data; all-zero is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.0.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE is arithmetic.
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(4) } as _;
    // SAFETY: the control buffer is 32 aligned bytes, more than CMSG_SPACE(4),
    // so the first header and its 4 data bytes lie inside it.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(4) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), fd);
    }
    // SAFETY: `msg` and everything it points to are valid for the call.
    if unsafe { libc::sendmsg(sock, &msg, 0) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn recv_fd(sock: RawFd) -> std::io::Result<OwnedFd> {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec { iov_base: byte.as_mut_ptr().cast(), iov_len: 1 };
    let mut cbuf = CmsgBuf([0; 32]);
    // SAFETY: msghdr is plain data; all-zero is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.0.as_mut_ptr().cast();
    msg.msg_controllen = cbuf.0.len() as _;
    // SAFETY: `msg` and its buffers are valid for the call.
    let n = unsafe { libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC | libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `msg` was filled by recvmsg; CMSG_FIRSTHDR checks msg_controllen.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if cmsg.is_null() || (*cmsg).cmsg_level != libc::SOL_SOCKET || (*cmsg).cmsg_type != libc::SCM_RIGHTS {
            return Err(std::io::Error::other("no seccomp listener fd from the child"));
        }
        let fd = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>());
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

/// Spawns `cmd` under `profile`; the caller waits for the child, then calls
/// [`Emulated::finish`].
pub(crate) fn spawn(profile: &Profile, mut cmd: Command) -> Result<Emulated, String> {
    if !cfg!(target_arch = "x86_64") {
        return Err("emulate: the seccomp filter is written for x86_64".to_owned());
    }
    let prog = program(&profile.rules());
    let socks = if profile.needs_supervisor() {
        let mut fds = [0; 2];
        // SAFETY: socketpair writes two fds into `fds`.
        let r =
            unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr()) };
        if r != 0 {
            return Err(format!("socketpair: {}", std::io::Error::last_os_error()));
        }
        // SAFETY: both fds are new and owned by nobody else.
        Some(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
    } else {
        None
    };
    let child_sock = socks.as_ref().map(|(_, c)| c.as_raw_fd());
    // SAFETY: the closure only calls async-signal-safe functions (prctl,
    // seccomp, sendmsg, close) on data prepared before the fork; it does not
    // allocate or take locks.
    unsafe {
        cmd.pre_exec(move || install(&prog, child_sock));
    }
    let program_name = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd.spawn().map_err(|e| format!("emulate: running {program_name}: {e}"))?;
    let supervisor = match socks {
        None => None,
        Some((parent, child_end)) => {
            drop(child_end);
            let listener = match recv_fd(parent.as_raw_fd()) {
                Ok(l) => l,
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("emulate: {e}"));
                }
            };
            let Profile::Kernel(v) = *profile else { unreachable!("only kernel profiles supervise") };
            let stop = Arc::new(AtomicBool::new(false));
            let stop2 = Arc::clone(&stop);
            let thread = std::thread::Builder::new()
                .name("seccomp-supervisor".to_owned())
                .spawn(move || supervise(&listener, v, &stop2))
                .map_err(|e| format!("emulate: supervisor thread: {e}"))?;
            Some((stop, thread))
        }
    };
    Ok(Emulated { child, supervisor })
}
