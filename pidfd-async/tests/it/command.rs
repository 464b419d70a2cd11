//! `Command` / `Child`: built on `pidfd::Command` (no `pidfd_open` needed, so these run under
//! the container-eperm row too, except where a test needs a signal or a pidfd of another
//! process), and the `From<std::process::Command>` path through `pidfd::spawn`.

use std::io::{BufRead, BufReader};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::pin::pin;
use std::time::{Duration, Instant};

use pidfd::{Feature, Support};
use pidfd_async::{Command, Stdio};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{Flag, poll_with, reaped, require, rt};

/// The typed error inside an `io::Error` of `Command` or `Child`.
pub(crate) fn inner<E: std::error::Error + 'static>(e: &std::io::Error) -> Option<&E> {
    e.get_ref().and_then(|e| e.downcast_ref())
}

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

/// `flags:` of `/proc/<who>/fdinfo/<fd>` (octal; `O_CLOEXEC` is shown there when the fd is
/// close-on-exec).
fn fdinfo_flags(text: &str) -> i32 {
    let line = text.lines().find(|l| l.starts_with("flags:")).unwrap_or_else(|| panic!("no flags in {text}"));
    i32::from_str_radix(line["flags:".len()..].trim(), 8).unwrap()
}

/// The parent's ends of piped stdio are non-blocking (they are driven by the reactor) and
/// close-on-exec; the child's ends are blocking (a program reading its stdin must not see
/// `EAGAIN`), with the right access modes.
#[test]
fn piped_stdio_is_nonblocking_and_cloexec_on_our_side_only() {
    rt().block_on(async {
        let mut child = Command::new("cat")
            .args(["/proc/self/fdinfo/0", "/proc/self/fdinfo/1", "/proc/self/fdinfo/2"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let ours = [
            child.stdin.as_ref().unwrap().as_raw_fd(),
            child.stdout.as_ref().unwrap().as_raw_fd(),
            child.stderr.as_ref().unwrap().as_raw_fd(),
        ];
        for (i, fd) in ours.into_iter().enumerate() {
            let flags = fdinfo_flags(&std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).unwrap());
            assert_ne!(flags & libc::O_NONBLOCK, 0, "our end of stdio {i} is blocking: {flags:o}");
            assert_ne!(flags & libc::O_CLOEXEC, 0, "our end of stdio {i} is not close-on-exec: {flags:o}");
            let mode = if i == 0 { libc::O_WRONLY } else { libc::O_RDONLY };
            assert_eq!(flags & libc::O_ACCMODE, mode, "our end of stdio {i}: {flags:o}");
        }
        let mut stdout = child.stdout.take().unwrap();
        let mut text = String::new();
        stdout.read_to_string(&mut text).await.unwrap();
        assert!(child.wait().await.unwrap().success());
        // Three fdinfo files, one after the other, each starting with `pos:`.
        let theirs: Vec<i32> = text.split("pos:").skip(1).map(fdinfo_flags).collect();
        assert_eq!(theirs.len(), 3, "{text}");
        for (i, flags) in theirs.into_iter().enumerate() {
            assert_eq!(flags & libc::O_NONBLOCK, 0, "the child's stdio {i} is non-blocking: {flags:o}\n{text}");
            let mode = if i == 0 { libc::O_RDONLY } else { libc::O_WRONLY };
            assert_eq!(flags & libc::O_ACCMODE, mode, "the child's stdio {i}: {flags:o}");
        }
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

/// One child's stdout as another's stdin (`echo | tr`), through `TryFrom<ChildStdout>`.
#[test]
fn a_child_pipe_feeds_another_child() {
    rt().block_on(async {
        let mut first = Command::new("echo").arg("hello").stdout(Stdio::piped()).spawn().unwrap();
        let pipe = Stdio::try_from(first.stdout.take().unwrap()).unwrap();
        let second =
            Command::new("sh").args(["-c", "read x; echo \"got $x\""]).stdin(pipe).stdout(Stdio::piped()).spawn();
        let out = second.unwrap().wait_with_output().await.unwrap();
        assert_eq!(out.stdout, b"got hello\n");
        assert!(first.wait().await.unwrap().success());
    });
}

const ARG0_HELPER: &str = "PIDFD_ASYNC_TEST_ARG0";

/// Not a test of its own: prints its `argv[0]` and two environment variables, for
/// [`pidfd_command_settings_reach_the_child`].
#[test]
fn arg0_helper() {
    if std::env::var_os(ARG0_HELPER).is_none() {
        return;
    }
    let argv0 = std::env::args().next().unwrap_or_default();
    println!("\nargv0={argv0} X={:?} HOME={:?}", std::env::var("X").ok(), std::env::var_os("HOME"));
    std::process::exit(0);
}

/// The settings `pidfd::Command` adds to std's reach the child: `fd`, `arg0`, `env_clear`,
/// `process_group`, `setsid`, `signal_mask`, and a `pidfd::Command` converts whole.
#[test]
fn pidfd_command_settings_reach_the_child() {
    rt().block_on(async {
        let (r, mut w) = test_support::pipe();
        std::io::Write::write_all(&mut w, b"through fd 5\n").unwrap();
        drop(w);
        let out = Command::new("sh").args(["-c", "cat <&5"]).fd(OwnedFd::from(r), 5).output().await.unwrap();
        assert_eq!(out.stdout, b"through fd 5\n", "{out:?}");

        // This binary again (busybox, in the kernel matrix's VMs, picks its applet by argv[0]).
        let out = Command::new(std::env::current_exe().unwrap())
            .arg0("custom-name")
            .args(["--exact", "command::arg0_helper", "--nocapture", "--test-threads=1"])
            .env_clear()
            .env(ARG0_HELPER, "1")
            .env("X", "x")
            .output()
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("argv0=custom-name X=Some(\"x\") HOME=None"), "{text}");

        // Field 5 of /proc/<pid>/stat is the process group, 6 the session.
        let stat = "read pid comm state ppid pgrp session rest < /proc/$$/stat; echo $pid $pgrp $session";
        let ids = |out: std::process::Output| -> Vec<i32> {
            String::from_utf8_lossy(&out.stdout).split_whitespace().map(|v| v.parse().unwrap()).collect()
        };
        let grouped = ids(Command::new("sh").args(["-c", stat]).process_group(0).output().await.unwrap());
        assert_eq!(grouped[0], grouped[1], "process_group(0): {grouped:?}");
        let session = ids(Command::new("sh").args(["-c", stat]).setsid(true).output().await.unwrap());
        assert_eq!((session[0], session[0]), (session[1], session[2]), "setsid: {session:?}");

        // (Not through sh: dash clears its signal mask at startup.)
        let out = Command::new("grep")
            .args(["SigBlk", "/proc/self/status"])
            .signal_mask(&[libc::SIGUSR1])
            .output()
            .await
            .unwrap();
        let mask = u64::from_str_radix(String::from_utf8_lossy(&out.stdout).split_whitespace().nth(1).unwrap(), 16);
        assert_ne!(mask.unwrap() & 1 << (libc::SIGUSR1 - 1), 0, "SIGUSR1 is not blocked in the child");

        let mut native = pidfd::Command::new("sh");
        native.args(["-c", "exit $X"]).env("X", "19");
        assert_eq!(Command::from(native).status().await.unwrap().code(), Some(19));
    });
}

/// The mount point of the cgroup v2 hierarchy (`/sys/fs/cgroup`, or `/sys/fs/cgroup/unified`
/// on hybrid systems), from `/proc/self/mountinfo`.
fn cgroup2_mount() -> Option<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        (right.split_whitespace().next()? == "cgroup2").then(|| left.split_whitespace().nth(4).map(str::to_owned))?
    })
}

/// `Command::cgroup`: the child starts in the cgroup given: a new one below ours where we may
/// create one (root), else our own.
#[test]
fn cgroup_places_the_child() {
    let own = std::fs::read_to_string("/proc/self/cgroup")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("0::").map(str::to_owned)));
    let (Some(own), Some(mount)) = (own, cgroup2_mount()) else {
        eprintln!("skipped: no cgroup v2 hierarchy mounted, or no membership in it");
        return;
    };
    let own = own.trim_end_matches('/').to_owned();
    let sub = format!("{own}/pidfd-async-test-{}", std::process::id());
    /// Removes the cgroup made for the test, even when the test fails (once its process is
    /// reaped, so it is empty).
    struct Remove(String);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir(&self.0);
        }
    }
    let created = std::fs::create_dir(format!("{mount}{sub}")).is_ok();
    let _remove = created.then(|| Remove(format!("{mount}{sub}")));
    let target = if created { sub.clone() } else { own.clone() };
    let dir = match std::fs::File::open(format!("{mount}{target}")) {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("skipped: {mount}{target}: {e}");
            return;
        }
    };
    let shown = if target.is_empty() { "/" } else { &target };
    rt().block_on(async {
        let out = Command::new("cat").arg("/proc/self/cgroup").cgroup(dir.into()).output().await.unwrap();
        assert!(out.status.success(), "cat in cgroup {shown}: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.lines().any(|l| l == format!("0::{shown}")), "{text} (want {shown})");
    });
    if !created {
        eprintln!("(could not create a cgroup below {own}: checked with our own)");
    }
}

#[test]
fn kill_on_drop_kills_and_reaps() {
    // Where signals through pidfds are refused, see
    // `kill_on_drop_where_pidfd_signals_are_refused_kills_by_pid`.
    if !require(Feature::PidfdSendSignal) {
        return;
    }
    rt().block_on(async {
        let child = Command::new("sleep").arg("30").kill_on_drop(true).spawn().unwrap();
        let watch = child.pidfd().try_clone().unwrap();
        drop(child);
        assert!(until_reaped(&watch, Duration::from_secs(5)).await, "killed child left as a zombie");
    });
}

/// Where `pidfd_send_signal` is refused (old container profiles), kill-on-drop still kills the
/// child, by its pid (not reaped yet, so the pid is still the child's), and leaves no zombie.
/// Elsewhere there is nothing to check.
#[test]
fn kill_on_drop_where_pidfd_signals_are_refused_kills_by_pid() {
    if !matches!(Feature::PidfdSendSignal.support(), Support::Denied { .. }) {
        eprintln!("skipped: pidfd_send_signal is not refused here (this checks the container-eperm row)");
        return;
    }
    if !require(Feature::WaitidPidfd) {
        return;
    }
    rt().block_on(async {
        let child = Command::new("sleep").arg("30").kill_on_drop(true).spawn().unwrap();
        let watch = child.pidfd().try_clone().unwrap();
        child.send_signal(0).unwrap();
        drop(child);
        assert!(
            until_reaped(&watch, Duration::from_secs(5)).await,
            "the dropped child was not killed, or left a zombie"
        );
        if Feature::InfoExit.is_supported() {
            assert_eq!(watch.exit_status().unwrap().unwrap().signal(), Some(libc::SIGKILL));
        }
    });
}

#[test]
fn a_dropped_child_is_reaped_in_the_background_without_being_killed() {
    rt().block_on(async {
        // It runs to its end after the drop: told to go on only then, it answers, then exits.
        let mut child = Command::new("sh")
            .args(["-c", "read x; echo after-the-drop; exit 3"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let (mut stdin, mut stdout) = (child.stdin.take().unwrap(), child.stdout.take().unwrap());
        let watch = child.pidfd().try_clone().unwrap();
        drop(child);
        stdin.write_all(b"go\n").await.unwrap();
        let mut said = String::new();
        stdout.read_to_string(&mut said).await.unwrap();
        assert_eq!(said, "after-the-drop\n", "the child was killed, not waited for");
        assert!(until_reaped(&watch, Duration::from_secs(5)).await, "dropped child left as a zombie");
        if Feature::InfoExit.is_supported() {
            assert_eq!(watch.exit_status().unwrap().unwrap().code(), Some(3));
        }
        // Dropped after its exit: reaped right in `Drop`.
        let mut child = Command::new("true").spawn().unwrap();
        child.async_pidfd().exited().await.unwrap();
        let watch = child.pidfd().try_clone().unwrap();
        if Feature::PidfdSendSignal.is_supported() {
            // A signal to a zombie is no error.
            assert!(child.start_kill().is_ok());
        }
        drop(child);
        assert!(reaped(&watch));
    });
}

#[test]
fn a_cancelled_status_does_not_leak_a_zombie() {
    // The child is observed through a pidfd opened from its pid (the `status()` future owns
    // the `Child`).
    if !require(Feature::PidfdOpen) {
        return;
    }
    rt().block_on(async {
        // The child prints its pid, then exits (code 3) once its stdin is closed.
        let (stdin_r, stdin_w) = test_support::pipe();
        let (stdout_r, stdout_w) = test_support::pipe();
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
        if Feature::InfoExit.is_supported() {
            // Waited for, not killed (kill-on-drop is off).
            assert_eq!(watch.exit_status().unwrap().unwrap().code(), Some(3));
        }
    });
}

#[test]
fn kill_and_signals_through_the_child() {
    if !require(Feature::PidfdSendSignal) {
        return;
    }
    rt().block_on(async {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        child.send_signal(libc::SIGTERM).unwrap();
        assert_eq!(child.wait().await.unwrap().signal(), Some(libc::SIGTERM));
        // Already reaped: kill is a no-op success, as in std and tokio.
        child.start_kill().unwrap();
        child.kill().await.unwrap();
        assert_eq!(child.try_wait().unwrap().and_then(|s| s.signal()), Some(libc::SIGTERM));
    });
}

#[test]
fn spawn_errors_keep_the_errno() {
    rt().block_on(async {
        let err = Command::new("/nonexistent/program").spawn().unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOENT), "{err}");
        // `pidfd::Error::Exec` is an errno and nothing more: std's own error.
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound, "{err}");
        assert!(err.get_ref().is_none(), "{err:?}");
        let err = Command::new("true").current_dir("/nonexistent").spawn().unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOENT), "{err}");
        let err = Command::new("true").arg("a\0b").spawn().unwrap_err();
        assert!(matches!(inner(&err), Some(pidfd::Error::InvalidInput(_))), "{err}");
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    });
}

/// A configured std `Command` converts whole: what std does not expose (its stdio settings,
/// `env_clear`, `CommandExt` settings) is honoured, because it is spawned as it is, with
/// `pidfd::spawn`. That path needs `pidfd_open`: where a policy refuses it, a clear error.
#[test]
fn a_std_command_converts_whole() {
    let mut std_cmd = std::process::Command::new("sh");
    std_cmd
        .args(["-c", "echo \"[$X][$HOME]\"; exit $X"])
        .env_clear()
        .env("X", "17")
        .stdout(std::process::Stdio::piped());
    let mut cmd = Command::from(std_cmd);
    cmd.env("X", "18");
    if matches!(Feature::PidfdOpen.support(), Support::Denied { .. }) {
        rt().block_on(async {
            let err = cmd.spawn().unwrap_err();
            assert!(
                matches!(inner(&err), Some(pidfd::Error::Denied { feature: Feature::PidfdOpen, .. })),
                "a std Command where pidfd_open is refused: {err}"
            );
        });
    }
    if !require(Feature::PidfdOpen) {
        return;
    }
    rt().block_on(async {
        let child = cmd.spawn().unwrap();
        assert!(child.stdout.is_some(), "the std command's piped stdout was lost in the conversion");
        let out = child.wait_with_output().await.unwrap();
        assert_eq!(out.status.code(), Some(18));
        assert_eq!(out.stdout, b"[18][]\n", "env_clear was lost in the conversion");
        // output() pipes stdout and stderr (std keeps its settings to itself: tokio's way).
        let mut std_cmd = std::process::Command::new("sh");
        std_cmd.args(["-c", "echo out; echo err >&2"]);
        let out = Command::from(std_cmd).output().await.unwrap();
        assert_eq!((&out.stdout[..], &out.stderr[..]), (&b"out\n"[..], &b"err\n"[..]));
    });
}

/// On a command converted from std, a setting std cannot express is an error at the spawn,
/// never silently dropped (nothing is spawned, so no `pidfd_open` is needed to check this).
#[test]
fn settings_std_cannot_express_are_refused_not_dropped() {
    rt().block_on(async {
        for (what, set) in [
            ("setsid", (|c: &mut Command| _ = c.setsid(true)) as fn(&mut Command)),
            ("groups", |c| _ = c.groups(&[0])),
            ("signal_mask", |c| _ = c.signal_mask(&[libc::SIGUSR1])),
            ("reset_signals", |c| _ = c.reset_signals(true)),
            ("fd", |c| _ = c.fd(std::fs::File::open("/dev/null").unwrap().into(), 5)),
        ] {
            let mut cmd = Command::from(std::process::Command::new("true"));
            set(&mut cmd);
            let err = cmd.spawn().unwrap_err();
            assert!(matches!(inner(&err), Some(pidfd::Error::InvalidInput(m)) if m.contains(what)), "{what}: {err}");
        }
    });
}

/// `Command::fd` consumes the fd: once the child is spawned the parent's copy is closed, so the
/// other end of a pipe passed this way sees end-of-file when the child exits.
#[test]
fn a_passed_fd_is_closed_in_the_parent_after_the_spawn() {
    rt().block_on(async {
        let (r, w) = test_support::pipe();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo via fd 3 >&3"]).fd(OwnedFd::from(w), 3);
        assert!(cmd.status().await.unwrap().success());
        let mut text = String::new();
        // Blocks forever if the parent still holds the write end.
        let read = tokio::task::spawn_blocking(move || std::io::Read::read_to_string(&mut &r, &mut text).map(|_| text));
        let text = tokio::time::timeout(Duration::from_secs(10), read).await.expect("no end-of-file").unwrap();
        assert_eq!(text.unwrap(), "via fd 3\n");
        // A later spawn passes it no more.
        let out = cmd.output().await.unwrap();
        assert!(!out.status.success(), "fd 3 is not open in the second child");
    });
}
