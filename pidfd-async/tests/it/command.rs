use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::pin::pin;
use std::process::Stdio;
use std::time::{Duration, Instant};

use pidfd_async::{Command, Error};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{Flag, poll_with, reaped, rt};

/// Polls until the process behind `fd` is reaped (by anyone), at most `limit`.
pub(crate) async fn until_reaped(fd: &pidfd::PidFd, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if reaped(fd) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    reaped(fd)
}

#[test]
fn stdio_pipes_are_async() {
    rt().block_on(async {
        let mut child = Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        stdin.write_all(b"hello pidfd\n").await.unwrap();
        drop(stdin);
        let mut out = String::new();
        stdout.read_to_string(&mut out).await.unwrap();
        assert_eq!(out, "hello pidfd\n");
        assert!(child.wait().await.unwrap().success());
        assert_eq!(child.id(), None);
    });
}

#[test]
fn wait_closes_stdin_first() {
    rt().block_on(async {
        let mut child = Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
        assert!(child.id().is_some());
        let status = tokio::time::timeout(Duration::from_secs(5), child.wait()).await.expect("cat saw EOF");
        assert!(status.unwrap().success());
    });
}

#[test]
fn output_and_wait_with_output() {
    rt().block_on(async {
        let out = Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]).output().await.unwrap();
        assert_eq!((out.status.code(), &out.stdout[..], &out.stderr[..]), (Some(3), &b"out\n"[..], &b"err\n"[..]));

        // More than a pipe buffer on both streams at once: read while waiting, or deadlock.
        let script = "yes | head -c 200000; yes | head -c 100000 >&2";
        let child =
            Command::new("sh").args(["-c", script]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let out = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output()).await.unwrap().unwrap();
        assert!(out.status.success());
        assert_eq!((out.stdout.len(), out.stderr.len()), (200_000, 100_000));

        let status = Command::new("sh").args(["-c", "exit 2"]).status().await.unwrap();
        assert_eq!(status.code(), Some(2));
    });
}

#[test]
fn kill_on_drop_kills_and_reaps() {
    rt().block_on(async {
        let child = Command::new("sleep").arg("30").kill_on_drop(true).spawn().unwrap();
        let watch = child.pidfd().try_clone().unwrap();
        drop(child);
        assert!(until_reaped(&watch, Duration::from_secs(5)).await, "killed child left as a zombie");
    });
}

#[test]
fn a_dropped_child_is_reaped_in_the_background_without_being_killed() {
    rt().block_on(async {
        let child = Command::new("sh").args(["-c", "sleep 0.2; exit 3"]).spawn().unwrap();
        let watch = child.pidfd().try_clone().unwrap();
        let start = Instant::now();
        drop(child);
        assert!(until_reaped(&watch, Duration::from_secs(5)).await, "dropped child left as a zombie");
        assert!(start.elapsed() >= Duration::from_millis(150), "the child was killed, not waited for");
        if pidfd::Feature::InfoExit.is_supported() {
            assert_eq!(watch.exit_status().unwrap().unwrap().code(), Some(3));
        }
        // Dropped after its exit: reaped right in `Drop`.
        let child = Command::new("true").spawn().unwrap();
        child.async_pidfd().exited().await.unwrap();
        let watch = child.pidfd().try_clone().unwrap();
        assert!(child.kill().is_ok());
        drop(child);
        assert!(reaped(&watch));
    });
}

#[test]
fn a_cancelled_status_does_not_leak_a_zombie() {
    rt().block_on(async {
        // The child prints its pid, then exits (code 3) once its stdin is closed.
        let (stdin_r, stdin_w) = std::io::pipe().unwrap();
        let (stdout_r, stdout_w) = std::io::pipe().unwrap();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo $$; read x; exit 3"]).stdin(Stdio::from(stdin_r)).stdout(Stdio::from(stdout_w));
        let watch = {
            let (_, waker) = Flag::waker();
            let mut status = pin!(cmd.status());
            assert!(poll_with(status.as_mut(), &waker).is_none(), "status() resolved before the exit");
            // Read while the child is blocked on its stdin: the pid names it.
            let mut line = String::new();
            BufReader::new(&stdout_r).read_line(&mut line).unwrap();
            pidfd::PidFd::open(line.trim().parse().unwrap()).unwrap()
            // The `status()` future, and the `Child` inside it, are dropped here.
        };
        drop(cmd);
        assert!(!reaped(&watch), "the child was reaped before it exited");
        drop(stdin_w);
        assert!(until_reaped(&watch, Duration::from_secs(10)).await, "the cancelled status() left a zombie");
        if pidfd::Feature::InfoExit.is_supported() {
            // Waited for, not killed (kill-on-drop is off).
            assert_eq!(watch.exit_status().unwrap().unwrap().code(), Some(3));
        }
    });
}

#[test]
fn kill_and_signals_through_the_child() {
    rt().block_on(async {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        child.send_signal(libc::SIGTERM).unwrap();
        assert_eq!(child.wait().await.unwrap().signal(), Some(libc::SIGTERM));
        // Already reaped: kill is a no-op success, as in std.
        child.kill().unwrap();
        assert_eq!(child.try_wait().unwrap().and_then(|s| s.signal()), Some(libc::SIGTERM));
    });
}

#[test]
fn spawn_errors_keep_the_errno() {
    rt().block_on(async {
        let err = Command::new("/nonexistent/program").spawn().unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOENT), "{err}");
        assert!(matches!(err, Error::Pidfd(_)));
        assert_eq!(std::io::Error::from(err).raw_os_error(), Some(libc::ENOENT));
    });
}

#[test]
fn a_std_command_converts() {
    rt().block_on(async {
        let mut std_cmd = std::process::Command::new("sh");
        std_cmd.args(["-c", "exit $X"]).env("X", "17");
        let mut cmd = Command::from(std_cmd);
        cmd.as_std_mut().env("X", "18");
        assert_eq!(cmd.status().await.unwrap().code(), Some(18));
    });
}
