//! `pidfd_async::{Command, Child, Stdio}` spelled exactly as `tokio::process` users spell them,
//! each test from tokio's documentation (the module's examples, `Command::status`/`output`,
//! `Child::kill`/`start_kill`/`wait`/`try_wait`/`wait_with_output`/`id`, the `ChildStd*` pipe
//! types, a pipe passed from one child to another), plus what the issue asks beyond tokio: a
//! `status()` that drains the pipes it set up, an `output()` that leaves the `Command` as it was,
//! and a status never lost with the runtime that spawned the child.
//!
//! The only change from tokio code is the imports: `use pidfd_async::{Command, Stdio};` in
//! place of `use tokio::process::Command; use std::process::Stdio;` (std's `Stdio` exposes
//! nothing of what it holds, so it cannot be converted; `pidfd_async::Stdio` has its
//! constructors and conversions). Real processes; the assertions are on what happened, never
//! on how long it took.

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use pidfd_async::{Command, Stdio};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// The module example: spawn, then wait.
#[tokio::test]
async fn spawn_and_wait() -> io::Result<()> {
    let mut child = Command::new("echo").arg("hello").arg("world").stdout(Stdio::null()).spawn()?;
    let status = child.wait().await?;
    assert!(status.success(), "the command exited with: {status}");
    Ok(())
}

/// `output()`: a future resolving to std's `Output`.
#[tokio::test]
async fn output_collects_stdout_and_stderr() -> io::Result<()> {
    let output = Command::new("echo").arg("hello").arg("world").output();
    let output = output.await?;
    assert!(output.status.success());
    assert_eq!(output.stdout, b"hello world\n");
    assert!(output.stderr.is_empty());

    let output = Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]).output().await?;
    assert_eq!(output.status.code(), Some(3));
    assert_eq!((&output.stdout[..], &output.stderr[..]), (&b"out\n"[..], &b"err\n"[..]));
    Ok(())
}

/// tokio's `status()` and `output()` futures do not borrow the `Command`: a temporary works,
/// the future can be kept after the `Command` is gone, and it is `'static` and `Send`.
#[tokio::test]
async fn status_and_output_do_not_borrow_the_command() -> io::Result<()> {
    assert!(Command::new("cat").stdin(Stdio::null()).status().await?.success());
    let status = Command::new("cat").arg("/dev/null").status();
    assert!(status.await?.success());
    let output = {
        let mut cmd = Command::new("echo");
        cmd.arg("kept");
        cmd.output()
    };
    assert_eq!(output.await?.stdout, b"kept\n");
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "exit 6"]);
    let task = tokio::spawn(cmd.status());
    drop(cmd);
    assert_eq!(task.await.unwrap()?.code(), Some(6));
    Ok(())
}

/// Reading the child's stdout line by line through tokio's `BufReader`, the child waited for
/// in a task of its own (the module example).
#[tokio::test]
async fn read_stdout_lines_while_a_task_waits() -> io::Result<()> {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "echo one; echo two; echo three"]);
    cmd.stdout(Stdio::piped());
    let mut child = cmd.spawn().expect("failed to spawn command");
    let stdout = child.stdout.take().expect("child did not have a handle to stdout");
    let mut reader = BufReader::new(stdout).lines();
    let waiter = tokio::spawn(async move { child.wait().await.expect("child process encountered an error") });
    let mut lines = Vec::new();
    while let Some(line) = reader.next_line().await? {
        lines.push(line);
    }
    assert_eq!(lines, ["one", "two", "three"]);
    assert!(waiter.await.unwrap().success());
    Ok(())
}

/// Writing the child's stdin from a task, collecting with `wait_with_output` (the module
/// example, with `cat` for `sort`, which the kernel matrix's busybox does not link).
#[tokio::test]
async fn write_stdin_from_a_task_and_collect_the_output() -> io::Result<()> {
    let mut cmd = Command::new("cat");
    cmd.stdout(Stdio::piped());
    cmd.stdin(Stdio::piped());
    let mut child = cmd.spawn()?;
    let animals: &[&str] = &["dog", "bird", "frog", "cat", "fish"];
    let mut stdin = child.stdin.take().expect("child did not have a handle to stdin");
    tokio::spawn(async move {
        for animal in animals {
            stdin.write_all(animal.as_bytes()).await.expect("could not write to stdin");
            stdin.write_all(b"\n").await.expect("could not write to stdin");
        }
        drop(stdin);
    });
    let op = child.wait_with_output().await?;
    assert!(op.status.success());
    assert_eq!(op.stdout, b"dog\nbird\nfrog\ncat\nfish\n");
    Ok(())
}

/// One child's stdout as another's stdin, through `TryInto<Stdio>` (the module example, with
/// `head -c 5` for `tr a-z A-Z`, which the kernel matrix's busybox does not link).
#[tokio::test]
async fn a_child_pipe_feeds_another_child() -> io::Result<()> {
    let mut echo = Command::new("echo").arg("hello world!").stdout(Stdio::piped()).spawn().expect("failed echo");
    let tr_stdin: Stdio = echo.stdout.take().unwrap().try_into().expect("failed to convert to Stdio");
    let tr = Command::new("head").arg("-c").arg("5").stdin(tr_stdin).stdout(Stdio::piped()).spawn().expect("failed tr");
    let (echo_result, tr_output) = tokio::join!(echo.wait(), tr.wait_with_output());
    assert!(echo_result.unwrap().success());
    let tr_output = tr_output.expect("failed to await tr");
    assert!(tr_output.status.success());
    assert_eq!(tr_output.stdout, b"hello");
    Ok(())
}

/// A pipe field moved out of the `Child` (`child.stdout.unwrap()`), as tokio allows: `Child`
/// has no `Drop` of its own (its kill-on-drop and background reaping live in a private field,
/// as tokio's `ChildDropGuard`), and that field still does its work.
#[tokio::test]
async fn a_pipe_field_moves_out_of_the_child() -> io::Result<()> {
    let child = Command::new("echo").arg("moved").stdout(Stdio::piped()).spawn()?;
    let mut out = child.stdout.unwrap();
    let mut text = String::new();
    out.read_to_string(&mut text).await?;
    assert_eq!(text, "moved\n");
    // Kill on drop still kills a child whose pipe was moved out: the rest of `child`, its
    // guard among them, is dropped at the end of the block. (A child that would sleep far
    // longer than any test: only the kill ends it.)
    let (watch, stdout) = {
        let child = Command::new("sleep").arg("100000").stdout(Stdio::piped()).kill_on_drop(true).spawn()?;
        (child.pidfd().try_clone()?, child.stdout.unwrap())
    };
    pidfd_async::AsyncPidFd::new(watch)?.exited().await?;
    drop(stdout);
    Ok(())
}

/// The pipe fields are tokio's own types, so code that names them keeps compiling.
#[tokio::test]
async fn the_pipe_fields_are_tokios_types() -> io::Result<()> {
    let mut child = Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn()?;
    let stdin: tokio::process::ChildStdin = child.stdin.take().unwrap();
    let stdout: Option<tokio::process::ChildStdout> = child.stdout.take();
    let stderr: &Option<tokio::process::ChildStderr> = &child.stderr;
    assert!(stderr.is_none());
    let mut stdin = stdin;
    stdin.write_all(b"through tokio's pipes").await?;
    drop(stdin);
    let mut text = String::new();
    stdout.unwrap().read_to_string(&mut text).await?;
    assert_eq!(text, "through tokio's pipes");
    assert!(child.wait().await?.success());
    Ok(())
}

/// `kill().await` from a `select!` (tokio's example): kill, then wait; the child is reaped.
#[tokio::test]
async fn kill_in_a_select_kills_and_reaps() -> io::Result<()> {
    let (send, recv) = tokio::sync::oneshot::channel::<()>();
    let mut child = Command::new("sleep").arg("30").spawn().unwrap();
    send.send(()).unwrap();
    tokio::select! {
        _ = child.wait() => panic!("sleep 30 ended on its own"),
        _ = recv => child.kill().await.expect("kill failed"),
    }
    assert_eq!(child.id(), None, "killed and reaped: no pid any more");
    assert_eq!(child.wait().await?.signal(), Some(libc::SIGKILL));
    Ok(())
}

/// `start_kill()` sends the signal without waiting; `wait` then collects the status.
#[tokio::test]
async fn start_kill_then_wait() -> io::Result<()> {
    let mut child = Command::new("sleep").arg("30").spawn()?;
    child.start_kill()?;
    assert_eq!(child.wait().await?.signal(), Some(libc::SIGKILL));
    Ok(())
}

/// `kill()` and `start_kill()` on a child that has exited (not yet reaped) and on one already
/// reaped: `Ok(())`, as std documents (tokio returns `InvalidInput` for the reaped one; both
/// crates keep std's rule).
#[tokio::test]
async fn kill_after_exit_and_after_wait_is_ok() -> io::Result<()> {
    let mut child = Command::new("sh").args(["-c", "exit 2"]).spawn()?;
    child.async_pidfd().exited().await.unwrap(); // exited, still a zombie
    child.start_kill()?;
    child.kill().await?;
    assert_eq!(child.wait().await?.code(), Some(2), "a kill after the exit changes nothing");

    let mut child = Command::new("true").spawn()?;
    assert!(child.wait().await?.success());
    child.start_kill()?;
    child.kill().await?;
    assert!(child.try_wait()?.unwrap().success(), "the status is remembered");
    Ok(())
}

/// `id()`: the pid while the child runs (or is a zombie), `None` once it was waited for;
/// `try_wait()`: `None` while it runs, the status once it has exited.
#[tokio::test]
async fn id_and_try_wait() -> io::Result<()> {
    let mut child = Command::new("sh").args(["-c", "read x; exit 4"]).stdin(Stdio::piped()).spawn()?;
    let id = child.id().expect("a running child has a pid");
    assert!(std::fs::metadata(format!("/proc/{id}")).is_ok());
    assert!(child.try_wait()?.is_none());
    assert_eq!(child.id(), Some(id));
    drop(child.stdin.take()); // `read` sees end-of-file
    child.async_pidfd().exited().await.unwrap();
    assert_eq!(child.id(), Some(id), "a zombie still has its pid");
    assert_eq!(child.try_wait()?.and_then(|s| s.code()), Some(4));
    assert_eq!(child.id(), None);
    assert_eq!(child.wait().await?.code(), Some(4));
    Ok(())
}

/// `wait()` closes stdin first, as tokio's, so a child reading to end-of-file finishes.
#[tokio::test]
async fn wait_closes_stdin_first() -> io::Result<()> {
    let mut child = Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::null()).spawn()?;
    assert!(child.stdin.is_some());
    assert!(child.wait().await?.success());
    assert!(child.stdin.is_none());
    Ok(())
}

/// `status()` closes its end of a piped stdin and reads what the child writes to a piped
/// stdout or stderr, so a child writing 1 MiB (far more than a pipe holds) finishes.
#[tokio::test]
async fn status_drains_the_pipes_it_set_up() -> io::Result<()> {
    let status = Command::new("head").args(["-c", "1048576", "/dev/zero"]).stdout(Stdio::piped()).status().await?;
    assert!(status.success(), "{status}");
    let status = Command::new("sh")
        .args(["-c", "head -c 1048576 /dev/zero >&2; echo done"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .status()
        .await?;
    assert!(status.success(), "{status}");
    // `cat` reads its piped stdin to the end: ours was closed.
    let status = Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::piped()).status().await?;
    assert!(status.success(), "{status}");
    Ok(())
}

/// `output()` gives the child `/dev/null` as stdin unless set, pipes stdout and stderr unless
/// set, and leaves the `Command` as it was: a later `output()`, `status()` or `spawn()` uses
/// the caller's own settings.
#[tokio::test]
async fn output_leaves_the_command_as_it_was() -> io::Result<()> {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "readlink /proc/self/fd/0; echo out; echo err >&2"]);
    let out = cmd.output().await?;
    assert_eq!(out.stdout, b"/dev/null\nout\n");
    assert_eq!(out.stderr, b"err\n");

    // Not left piped: a spawn inherits, as the caller set nothing.
    let mut child = cmd.spawn()?;
    assert!(child.stdin.is_none() && child.stdout.is_none() && child.stderr.is_none(), "{child:?}");
    child.kill().await?;

    // The caller's settings win over output()'s defaults, and stay.
    let dir = std::env::temp_dir().join(format!("pidfd-async-compat-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("stdout");
    cmd.stdin(Stdio::piped()).stdout(std::fs::File::create(&file)?);
    let out = cmd.output().await?;
    assert!(out.status.success());
    assert!(out.stdout.is_empty(), "stdout went to the caller's file");
    assert_eq!(out.stderr, b"err\n");
    let text = std::fs::read_to_string(&file)?;
    assert!(text.starts_with("pipe:[") && text.ends_with("\nout\n"), "the caller's piped stdin: {text:?}");
    let mut child = cmd.spawn()?;
    assert!(child.stdin.is_some(), "the caller's piped stdin after output()");
    assert!(child.stdout.is_none() && child.stderr.is_none());
    assert!(child.wait().await?.success());
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// Errors are `io::Error`s, as tokio's: the errno of a failed spawn, through `?` in any
/// `io::Result` function, also from the `status()` and `output()` futures.
#[tokio::test]
async fn errors_are_io_errors() {
    async fn run(program: &str) -> io::Result<std::process::ExitStatus> {
        Command::new(program).status().await
    }
    let e = run("/nonexistent/program").await.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotFound);
    assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
    let e = Command::new("/nonexistent/program").output().await.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotFound);
    let e = Command::new("true").current_dir("/nonexistent/dir").spawn().unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotFound);
    let e = Command::new("a\0b").spawn().unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    // The typed error stays reachable.
    assert!(matches!(e.get_ref().and_then(|e| e.downcast_ref()), Some(pidfd::Error::InvalidInput(_))));
}

/// Outside a runtime, tokio's `spawn` panics; ours is an `io::Error` with the reason inside.
#[test]
fn outside_a_runtime_is_an_io_error() {
    let e = Command::new("true").spawn().unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::Other);
    assert!(matches!(e.get_ref().and_then(|e| e.downcast_ref()), Some(pidfd_async::Error::NoRuntime)));
}

/// The builder's setters and getters, with tokio's (and std's) names and signatures.
#[tokio::test]
async fn builder_settings_reach_the_child() -> io::Result<()> {
    let dir = std::env::temp_dir();
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("echo \"$0|$A|$B|${C-unset}|${HOME-unset}|$(pwd)\"")
        // A path whose base name is still `sh`: a multi-call binary (busybox, in the kernel
        // matrix's VMs) picks its applet by that name.
        .arg0("/renamed/sh")
        .env_clear()
        .env("A", "1")
        .envs([("B", "2"), ("C", "3")])
        .env_remove("C")
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .current_dir(&dir)
        .kill_on_drop(true);
    assert_eq!(cmd.get_program(), "sh");
    assert_eq!(cmd.get_args().collect::<Vec<_>>().len(), 2);
    assert_eq!(cmd.get_current_dir(), Some(dir.as_path()));
    // After `env_clear`, a removed variable is no entry at all, as in std's (and tokio's, which
    // is std's) `get_envs`.
    let mut std_cmd = std::process::Command::new("sh");
    std_cmd.env_clear().env("A", "1").envs([("B", "2"), ("C", "3")]).env_remove("C");
    std_cmd.env("PATH", std::env::var_os("PATH").unwrap_or_default());
    assert_eq!(cmd.get_envs().collect::<Vec<_>>(), std_cmd.get_envs().collect::<Vec<_>>());
    assert!(!cmd.get_envs().any(|(k, _)| k == "C"));
    // The getters' types are std's names, the same for a command made from a std one.
    let from_std = Command::from(std_cmd);
    let envs: pidfd_async::CommandEnvs<'_> = from_std.get_envs();
    assert_eq!(envs.collect::<Vec<_>>(), cmd.get_envs().collect::<Vec<_>>());
    let args: pidfd_async::CommandArgs<'_> = from_std.get_args();
    assert_eq!(args.len(), 0);
    assert!(cmd.get_kill_on_drop());
    let out = cmd.output().await?;
    let pwd = std::fs::canonicalize(&dir)?;
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("/renamed/sh|1|2|unset|unset|{}\n", pwd.display()));

    // A new process group led by the child: its pgid is its pid.
    let mut child = Command::new("sleep").arg("30").process_group(0).spawn()?;
    let id = child.id().unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{id}/stat"))?;
    let pgrp: u32 = stat.rsplit(')').next().unwrap().split_whitespace().nth(2).unwrap().parse().unwrap();
    assert_eq!(pgrp, id);
    child.kill().await?;
    Ok(())
}

/// `uid` and `gid` (root only: an unprivileged caller cannot change them).
#[tokio::test]
async fn uid_and_gid() -> io::Result<()> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    if !status.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0")) {
        eprintln!("skipped: not root");
        return Ok(());
    }
    let out = Command::new("cat").arg("/proc/self/status").uid(65534).gid(65534).output().await?;
    let text = String::from_utf8_lossy(&out.stdout);
    let ids =
        |key: &str| text.lines().find(|l| l.starts_with(key)).map(|l| l.split_whitespace().nth(1).unwrap().to_owned());
    assert_eq!(ids("Uid:").as_deref(), Some("65534"), "{text}");
    assert_eq!(ids("Gid:").as_deref(), Some("65534"), "{text}");
    Ok(())
}

/// `kill_on_drop(true)`: a `Child` dropped while running is killed (and reaped in the
/// background: no zombie).
#[tokio::test]
async fn kill_on_drop() -> io::Result<()> {
    // A child that would sleep far longer than any test: only the kill ends it.
    let child = Command::new("sleep").arg("100000").kill_on_drop(true).spawn()?;
    let watch = child.pidfd().try_clone().unwrap();
    drop(child);
    let watch = pidfd_async::AsyncPidFd::new(watch).unwrap();
    watch.exited().await.unwrap();
    // Reaped by the background task: the pid is gone once it has run.
    for _ in 0..10_000 {
        if matches!(watch.pidfd().pid(), Err(pidfd::Error::Exited)) {
            return Ok(());
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("the killed child was left a zombie");
}

/// A child spawned in one runtime and waited for in another after the first is gone: the status
/// is there, whether the child exited before the first runtime was dropped or after.
#[test]
fn a_child_outlives_its_runtime() {
    for exit_first in [false, true] {
        for multi_thread in [false, true] {
            let build = || {
                if multi_thread {
                    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
                } else {
                    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
                }
            };
            let what = format!("exit_first {exit_first}, multi_thread {multi_thread}");
            let a = build();
            let (mut child, release) = a.block_on(async {
                let (r, w) = test_support::pipe();
                let mut child = Command::new("sh").args(["-c", "read x; exit 5"]).stdin(r).spawn().unwrap();
                if exit_first {
                    drop(w);
                    child.async_pidfd().exited().await.unwrap();
                    (child, None)
                } else {
                    assert!(child.try_wait().unwrap().is_none());
                    (child, Some(w))
                }
            });
            drop(a);
            let b = build();
            b.block_on(async {
                drop(release);
                let status = child.wait().await.unwrap_or_else(|e| panic!("{what}: {e}"));
                assert_eq!(status.code(), Some(5), "{what}");
                assert_eq!(child.id(), None, "{what}");
                assert_eq!(child.wait().await.unwrap().code(), Some(5), "{what}: remembered");
            });
        }
    }
}

/// A `Child` moved to another runtime while the first still runs: `wait` works there too (the
/// first runtime's hub stays in charge), and so does `kill`.
#[test]
fn a_child_waited_for_from_another_live_runtime() {
    let a = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let mut child = a.block_on(async { Command::new("sh").args(["-c", "exit 8"]).spawn().unwrap() });
    let mut sleeper = a.block_on(async { Command::new("sleep").arg("30").spawn().unwrap() });
    let b = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    b.block_on(async {
        assert_eq!(child.wait().await.unwrap().code(), Some(8));
        sleeper.kill().await.unwrap();
        assert_eq!(sleeper.wait().await.unwrap().signal(), Some(libc::SIGKILL));
    });
    drop(a);
}

/// A `Child` spawned in a current-thread runtime that then sits idle (alive, but nobody drives
/// its reactor) and waited for in another runtime: the wait does not depend on the idle one.
#[test]
fn a_child_waited_for_while_its_runtime_sits_idle() {
    let a = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (r, w) = test_support::pipe();
    let mut child = a.block_on(async { Command::new("sh").args(["-c", "read x; exit 9"]).stdin(r).spawn().unwrap() });
    let b = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    b.block_on(async {
        let wait = tokio::spawn(async move { child.wait().await.unwrap() });
        tokio::task::yield_now().await;
        drop(w);
        let status =
            tokio::time::timeout(Duration::from_secs(10), wait).await.expect("the wait hangs on the idle runtime");
        assert_eq!(status.unwrap().code(), Some(9));
    });
    drop(a);
}

/// A status collected in the spawning runtime (by `try_wait`, or through the pidfd) is the one
/// a wait in another runtime returns, after the first is gone.
#[test]
fn a_status_collected_in_one_runtime_is_remembered_in_another() {
    for through_the_pidfd in [false, true] {
        let a = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let mut child = a.block_on(async {
            let mut child = Command::new("sh").args(["-c", "exit 12"]).spawn().unwrap();
            if through_the_pidfd {
                assert_eq!(child.async_pidfd().wait().await.unwrap().code(), Some(12));
            } else {
                child.async_pidfd().exited().await.unwrap();
                assert_eq!(child.try_wait().unwrap().and_then(|s| s.code()), Some(12));
            }
            child
        });
        drop(a);
        let b = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        b.block_on(async {
            assert_eq!(child.wait().await.unwrap().code(), Some(12), "through the pidfd: {through_the_pidfd}");
            child.kill().await.unwrap();
        });
    }
}

// tokio's `Command::pre_exec` (unsafe, as std's): the hook runs in the child only.
#[tokio::test]
async fn pre_exec_runs_in_the_child() {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "umask"]);
    // SAFETY: the hook makes one raw system call and allocates nothing.
    unsafe {
        cmd.pre_exec(|| {
            libc::umask(0o077);
            Ok(())
        });
    }
    let out = cmd.output().await.unwrap();
    assert_eq!(out.stdout, b"0077\n");
    let mut failing = Command::new("true");
    // SAFETY: the hook only returns an error.
    unsafe {
        failing.pre_exec(|| Err(io::Error::from_raw_os_error(libc::EPERM)));
    }
    assert_eq!(failing.spawn().unwrap_err().raw_os_error(), Some(libc::EPERM));
}

/// std's `FromRawFd` for `Stdio`, as tokio's `Command` takes std's `Stdio`.
#[tokio::test]
async fn stdio_from_raw_fd() -> io::Result<()> {
    use std::io::Write as _;
    use std::os::fd::{FromRawFd as _, IntoRawFd as _};
    let (r, mut w) = std::os::unix::net::UnixStream::pair()?;
    w.write_all(b"raw")?;
    drop(w);
    // SAFETY: the fd is open and `into_raw_fd` gave up its ownership.
    let stdin = unsafe { Stdio::from_raw_fd(r.into_raw_fd()) };
    assert_eq!(Command::new("cat").stdin(stdin).output().await?.stdout, b"raw");
    Ok(())
}

/// std 1.87's `Stdio` from `io::PipeReader` and `io::PipeWriter`; the spawn closes the
/// parent's copy, so the reader sees the end once the child is done.
#[cfg(has_io_pipe)]
#[clippy::msrv = "1.87"]
#[tokio::test]
async fn stdio_from_io_pipe() -> io::Result<()> {
    use std::io::Write as _;
    let (r, mut w) = std::io::pipe()?;
    w.write_all(b"piped")?;
    drop(w);
    assert_eq!(Command::new("cat").stdin(r).output().await?.stdout, b"piped");
    let (mut r, w) = std::io::pipe()?;
    assert!(Command::new("sh").args(["-c", "echo out"]).stdout(w).status().await?.success());
    let mut text = String::new();
    std::io::Read::read_to_string(&mut r, &mut text)?;
    assert_eq!(text, "out\n");
    Ok(())
}
