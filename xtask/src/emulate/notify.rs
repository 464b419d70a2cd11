//! The supervisor of `SECCOMP_RET_USER_NOTIF`: answers, as the emulated kernel would, the calls
//! whose answer needs the caller's memory or fd table, or lets the host kernel carry on.

use super::filter::{
    ANON_INODE_FS_MAGIC, CLONE_PIDFD, CLONE_THREAD, NR_CLONE3, NR_FSTATFS, NR_NAME_TO_HANDLE_AT, NR_SETNS, PIDFS_MAGIC,
};
use crate::matrix::config::Version;
use std::fs::File;
use std::os::fd::{AsRawFd as _, OwnedFd, RawFd};
use std::os::unix::fs::FileExt as _;
use std::sync::atomic::{AtomicBool, Ordering};

/// The supervisor's answer to one notification.
enum Reply {
    /// Let the host kernel run the call.
    Continue,
    /// Fail with this errno.
    Errno(i32),
    /// Return 0 without running the call (results already written).
    Zero,
}

pub(super) fn supervise(listener: &OwnedFd, v: Version, stop: &AtomicBool) {
    let fd = listener.as_raw_fd();
    while !stop.load(Ordering::Relaxed) {
        let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, 100) };
        if n <= 0 {
            continue;
        }
        if pfd.revents & libc::POLLIN == 0 {
            if pfd.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
                break; // every filtered task is gone
            }
            continue;
        }
        // SAFETY: seccomp_notif is plain data; the kernel wants it zeroed.
        let mut req: libc::seccomp_notif = unsafe { std::mem::zeroed() };
        // SAFETY: RECV fills `req`, whose size the ioctl number encodes.
        if unsafe { libc::ioctl(fd, libc::SECCOMP_IOCTL_NOTIF_RECV, &mut req) } != 0 {
            continue; // the caller died or was interrupted
        }
        let reply = decide(&req, v, fd);
        let mut resp = libc::seccomp_notif_resp { id: req.id, val: 0, error: 0, flags: 0 };
        match reply {
            Reply::Continue => resp.flags = libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32,
            Reply::Errno(e) => resp.error = -e,
            Reply::Zero => {}
        }
        // SAFETY: SEND reads `resp`; failure (the caller died) is harmless.
        unsafe { libc::ioctl(fd, libc::SECCOMP_IOCTL_NOTIF_SEND, &mut resp) };
    }
}

/// Whether notification `id` still refers to a live, blocked call.
fn still_valid(listener: RawFd, id: u64) -> bool {
    let mut id = id;
    // SAFETY: ID_VALID reads one u64.
    unsafe { libc::ioctl(listener, libc::SECCOMP_IOCTL_NOTIF_ID_VALID, &mut id) == 0 }
}

fn is_pidfd(pid: u32, fd: u64) -> bool {
    let fd = fd as i32;
    fd >= 0 && std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).is_ok_and(|l| l.as_os_str() == "anon_inode:[pidfd]")
}

/// A namespace fd: `/proc/<pid>/fd/N` reads `<type>:[<inode>]` (`net:[4026531840]`).
fn is_nsfd(pid: u32, fd: u64) -> bool {
    const KINDS: [&str; 10] =
        ["cgroup", "ipc", "mnt", "net", "pid", "pid_for_children", "time", "time_for_children", "user", "uts"];
    let fd = fd as i32;
    fd >= 0
        && std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).is_ok_and(|l| {
            let l = l.to_string_lossy();
            l.split_once(":[").is_some_and(|(kind, rest)| KINDS.contains(&kind) && rest.ends_with(']'))
        })
}

fn read_mem(pid: u32, addr: u64, len: usize) -> Option<Vec<u8>> {
    let mem = File::open(format!("/proc/{pid}/mem")).ok()?;
    let mut buf = vec![0; len];
    mem.read_exact_at(&mut buf, addr).ok()?;
    Some(buf)
}

fn decide(req: &libc::seccomp_notif, v: Version, listener: RawFd) -> Reply {
    let a = req.data.args;
    let pid = req.pid;
    match req.data.nr as u32 {
        NR_CLONE3 => {
            let size = a[1];
            let ksize: u64 = if v < Version(5, 5) {
                64
            } else if v < Version(5, 7) {
                80
            } else {
                88
            };
            if !(64..=4096).contains(&size) {
                return Reply::Continue; // the host kernel gives the same errors
            }
            let Some(args) = read_mem(pid, a[0], size as usize) else {
                return Reply::Continue; // EFAULT from the host kernel
            };
            if size > ksize && args[ksize as usize..].iter().any(|&b| b != 0) {
                return Reply::Errno(libc::E2BIG);
            }
            let flags = u64::from_le_bytes(args[..8].try_into().unwrap_or([0; 8]));
            let mut known: u64 = 0xffff_ffff;
            if v >= Version(5, 5) {
                known |= 1 << 32; // CLONE_CLEAR_SIGHAND
            }
            if v >= Version(5, 7) {
                known |= 1 << 33; // CLONE_INTO_CGROUP
            }
            if flags & !known != 0 {
                return Reply::Errno(libc::EINVAL);
            }
            let both = u64::from(CLONE_PIDFD | CLONE_THREAD);
            if v < Version(6, 9) && flags & both == both {
                return Reply::Errno(libc::EINVAL);
            }
            Reply::Continue
        }
        NR_SETNS if is_pidfd(pid, a[0]) => Reply::Errno(libc::EINVAL),
        NR_NAME_TO_HANDLE_AT if v < Version(6, 14) && is_pidfd(pid, a[0]) => Reply::Errno(libc::EOPNOTSUPP),
        NR_NAME_TO_HANDLE_AT if is_nsfd(pid, a[0]) => Reply::Errno(libc::EOPNOTSUPP),
        NR_FSTATFS if is_pidfd(pid, a[0]) => {
            let path = format!("/proc/{pid}/fd/{}\0", a[0] as i32);
            // SAFETY: statfs is plain data.
            let mut st: libc::statfs = unsafe { std::mem::zeroed() };
            // SAFETY: `path` is NUL-terminated; `st` is a valid out pointer.
            if unsafe { libc::statfs(path.as_ptr().cast(), &mut st) } != 0 {
                return Reply::Continue;
            }
            #[allow(clippy::unnecessary_cast)]
            if st.f_type as i64 == PIDFS_MAGIC {
                st.f_type = ANON_INODE_FS_MAGIC as _;
            }
            // SAFETY: viewing a plain-data struct as bytes.
            let bytes = unsafe {
                std::slice::from_raw_parts((&st as *const libc::statfs).cast::<u8>(), size_of::<libc::statfs>())
            };
            if !still_valid(listener, req.id) {
                return Reply::Continue;
            }
            let written = std::fs::OpenOptions::new()
                .write(true)
                .open(format!("/proc/{pid}/mem"))
                .and_then(|m| m.write_all_at(bytes, a[1]));
            match written {
                Ok(()) => Reply::Zero,
                Err(_) => Reply::Errno(libc::EFAULT),
            }
        }
        _ => Reply::Continue,
    }
}
