use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};

use pidfd::{Feature, PidFd};

/// The features the kernel under test must have, if the kernel matrix said so.
pub(crate) fn expected() -> Option<Vec<String>> {
    std::env::var("PIDFD_TEST_EXPECT")
        .ok()
        .map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect())
}

/// Whether to run a test that needs `f`. Prints why it skips; panics when the kernel matrix
/// says the kernel has `f` but the probe says it does not.
pub(crate) fn require(f: Feature) -> bool {
    if f.is_supported() {
        return true;
    }
    if let Some(exp) = expected() {
        assert!(
            !exp.iter().any(|e| e == f.name()),
            "kernel {} must have {} ({}), but the probe says {}",
            std::env::var("PIDFD_TEST_KERNEL").unwrap_or_default(),
            f.name(),
            f,
            f.support()
        );
    }
    eprintln!("skipped: the running kernel lacks {f} (Linux {}+): {}", f.since(), f.support());
    false
}

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

/// Spawns `sh -c 'echo $$; read x; <then>'` race-free and returns it with its pidfd.
pub(crate) fn held(then: &str) -> (Held, PidFd) {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &format!("echo $$; read x; {then}")]).stdin(Stdio::piped()).stdout(Stdio::piped());
    let (mut child, fd) = pidfd::spawn(&mut cmd).expect("spawn");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let pid = line.trim().parse().unwrap();
    let stdin = child.stdin.take();
    (Held { child, pid, stdin }, fd)
}

/// A field of `/proc/<pid>/status`.
pub(crate) fn status_field(pid: i32, key: &str) -> Vec<u32> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = s.lines().find(|l| l.starts_with(key)).unwrap_or_else(|| panic!("{key} in status"));
    line[key.len()..].split_whitespace().map(|v| v.parse().unwrap()).collect()
}
