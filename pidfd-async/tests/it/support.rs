use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use pidfd::{Feature, PidFd};

/// The features the kernel under test must have, if the kernel matrix said so.
pub(crate) fn expected() -> Option<Vec<String>> {
    std::env::var("PIDFD_TEST_EXPECT")
        .ok()
        .map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect())
}

/// Whether the kernel has `f`. Prints why a test skips; panics when the kernel matrix says the
/// kernel has `f` but the probe says it does not.
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

/// A current-thread runtime with I/O and timers.
pub(crate) fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// A multi-thread runtime with two workers.
pub(crate) fn rt_mt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// `sh -c script`, spawned race-free.
pub(crate) fn sh(script: &str) -> (Child, PidFd) {
    pidfd::spawn(Command::new("sh").args(["-c", script])).expect("spawn sh")
}

/// `sh -c script` with stdin and stdout piped; returns the first line it prints.
pub(crate) fn sh_piped(script: &str) -> (Child, PidFd, String) {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", script]).stdin(Stdio::piped()).stdout(Stdio::piped());
    let (mut child, fd) = pidfd::spawn(&mut cmd).expect("spawn sh");
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    (child, fd, line.trim().to_owned())
}

/// Whether the process behind `fd` has been reaped (by anyone): its pid is gone.
pub(crate) fn reaped(fd: &PidFd) -> bool {
    matches!(fd.pid(), Err(pidfd::Error::Exited))
}
