use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};

use pidfd::{Feature, PidFd};

// The matrix's feature contract, shared by every crate's tests.
#[allow(unused_imports)]
pub(crate) use test_support::require::*;

/// A shell child that prints its pid, then waits for a line on stdin before running `then`.
pub(crate) struct Held {
    pub(crate) child: Child,
    pub(crate) pid: i32,
    pub(crate) stdin: Option<ChildStdin>,
}

impl Held {
    pub(crate) fn release(&mut self) {
        if let Some(mut s) = self.stdin.take() {
            let _ = s.write_all(b"\n");
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns `sh -c 'echo $$; read x; <then>'` race-free and returns it with its pidfd, or `None`
/// (the test skips) when `pidfd_open` is refused: `pidfd::spawn`'s child opens its own pidfd.
pub(crate) fn held(then: &str) -> Option<(Held, PidFd)> {
    if !require(Feature::PidfdOpen) {
        return None;
    }
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &format!("echo $$; read x; {then}")]).stdin(Stdio::piped()).stdout(Stdio::piped());
    let (mut child, fd) = pidfd::spawn(&mut cmd).expect("spawn");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let pid = line.trim().parse().unwrap();
    let stdin = child.stdin.take();
    Some((Held { child, pid, stdin }, fd))
}

/// A field of `/proc/<pid>/status`.
pub(crate) fn status_field(pid: i32, key: &str) -> Vec<u32> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = s.lines().find(|l| l.starts_with(key)).unwrap_or_else(|| panic!("{key} in status"));
    line[key.len()..].split_whitespace().map(|v| v.parse().unwrap()).collect()
}
