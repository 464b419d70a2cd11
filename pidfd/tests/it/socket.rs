use std::io::Write;
use std::os::fd::{FromRawFd, IntoRawFd};
use std::os::unix::net::UnixStream;

use pidfd::{Error, Feature, PidFd};

use crate::support::{held, require, require_all};

#[test]
fn peer_pidfd() {
    let (a, _b) = UnixStream::pair().unwrap();
    if !require(Feature::SoPeerPidfd) {
        assert!(matches!(PidFd::from_peer(&a), Err(Error::Unsupported { .. })));
        return;
    }
    assert_eq!(PidFd::from_peer(&a).unwrap().pid().unwrap(), std::process::id() as i32);
    let file = std::fs::File::open("/dev/null").unwrap();
    assert!(matches!(PidFd::from_peer(&file), Err(Error::InvalidInput(_))));
}

#[test]
fn scm_pidfd_names_the_sender() {
    // The child comes from pidfd::spawn, whose child opens its own pidfd.
    if !require_all(&[Feature::SoPeerPidfd, Feature::PidfdOpen]) {
        return;
    }
    let (ours, theirs) = UnixStream::pair().unwrap();
    pidfd::set_pass_pidfd(&ours, true).unwrap();
    // A child writes one message through its end of the pair.
    let theirs_fd = theirs.into_raw_fd();
    let mut cmd = std::process::Command::new("sh");
    cmd.args(["-c", &format!("echo $$; printf x >&{theirs_fd}; read x")])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    // The child inherits the fd number: clear FD_CLOEXEC on our copy for the spawn.
    // SAFETY: theirs_fd is a valid fd we own.
    unsafe { libc::fcntl(theirs_fd, libc::F_SETFD, 0) };
    let (mut child, _fd) = pidfd::spawn(&mut cmd).unwrap();
    // SAFETY: we still own theirs_fd; close our copy.
    drop(unsafe { std::os::fd::OwnedFd::from_raw_fd(theirs_fd) });
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
    let pid: i32 = line.trim().parse().unwrap();
    let mut buf = [0u8; 8];
    let (n, sender) = pidfd::recv_pidfd(&ours, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"x");
    assert_eq!(sender.expect("SCM_PIDFD").pid().unwrap(), pid);
    child.stdin.take().unwrap().write_all(b"\n").unwrap();
    child.wait().unwrap();
}

#[test]
fn scm_rights_passes_pidfds_and_rejects_other_fds() {
    let (a, b) = UnixStream::pair().unwrap();
    let Some((mut h, fd)) = held("exit 0") else { return };
    pidfd::send_pidfd(&a, &fd, b"p").unwrap();
    let mut buf = [0u8; 4];
    let (n, got) = pidfd::recv_pidfd(&b, &mut buf).unwrap();
    assert_eq!(n, 1);
    assert_eq!(got.unwrap().pid().unwrap(), h.pid);
    assert!(matches!(pidfd::send_pidfd(&a, &fd, b""), Err(Error::InvalidInput(_))));
    // A file disguised as a pidfd is refused by the receiver.
    let null = std::fs::File::open("/dev/null").unwrap().into_raw_fd();
    // SAFETY: `null` is an fd we own; the wrapper only passes it along.
    let fake = unsafe { PidFd::from_raw_fd(null) };
    pidfd::send_pidfd(&a, &fake, b"p").unwrap();
    assert!(matches!(pidfd::recv_pidfd(&b, &mut buf), Err(Error::NotPidfd)));
    h.release();
    fd.wait().unwrap();
}
