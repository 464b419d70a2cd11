//! `pidfd::Command`, `Child` and `Stdio` as drop-ins for `std::process`'s: each test is written
//! from std's documentation, spelled as std's users spell it, with the types imported from
//! `pidfd` instead of `std::process`.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, IntoRawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use pidfd::{Command, Stdio};

/// What the fd of this number of the calling process points to.
fn fd_target(fd: i32) -> String {
    std::fs::read_link(format!("/proc/self/fd/{fd}")).unwrap().to_string_lossy().into_owned()
}

// Stdio: constructors and conversions.

#[test]
fn stdio_piped_null_inherit_constructors() {
    // std: `Stdio::piped()`: "A new pipe should be arranged to connect the parent and child
    // processes."
    let mut child = Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"through cat").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.stdout, b"through cat");
    // std: `Stdio::null()`: "This stream will be ignored. This is the equivalent of attaching the
    // stream to /dev/null."
    let out = Command::new("readlink").arg("/proc/self/fd/0").stdin(Stdio::null()).output().unwrap();
    assert_eq!(out.stdout, b"/dev/null\n");
    // std: `Stdio::inherit()`: "The child inherits from the corresponding parent descriptor."
    let out = Command::new("readlink").arg("/proc/self/fd/2").stderr(Stdio::inherit()).output().unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), format!("{}\n", fd_target(2)));
    // The variants keep working.
    let out = Command::new("readlink").arg("/proc/self/fd/0").stdin(Stdio::Null).output().unwrap();
    assert_eq!(out.stdout, b"/dev/null\n");
}

#[test]
fn stdio_from_file() {
    // std's example of `From<File> for Stdio`: the file becomes the child's stdin.
    let dir = std::env::temp_dir().join(format!("pidfd-compat-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("foo.txt");
    std::fs::write(&path, "Hello, world!").unwrap();
    let file = File::open(&path).unwrap();
    let out = Command::new("cat").stdin(file).stdout(Stdio::piped()).spawn().unwrap().wait_with_output().unwrap();
    assert_eq!(out.stdout, b"Hello, world!");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// std 1.87: `Stdio` from `io::PipeReader` and `io::PipeWriter`; the spawn closes the parent's
/// copy, so the reader sees the end once the child is done.
#[cfg(has_io_pipe)]
#[clippy::msrv = "1.87"]
#[test]
fn stdio_from_io_pipe() {
    let (r, mut w) = std::io::pipe().unwrap();
    w.write_all(b"piped").unwrap();
    drop(w);
    let out = Command::new("cat").stdin(r).output().unwrap();
    assert_eq!(out.stdout, b"piped");
    let (mut r, w) = std::io::pipe().unwrap();
    assert!(Command::new("sh").args(["-c", "echo out"]).stdout(w).status().unwrap().success());
    let mut text = String::new();
    std::io::Read::read_to_string(&mut r, &mut text).unwrap();
    assert_eq!(text, "out\n");
}

#[test]
fn stdio_from_owned_fd_and_raw_fd() {
    // A socket pair rather than `std::io::pipe` (Rust 1.87; the MSRV is 1.85): any fd does.
    let (r, mut w) = std::os::unix::net::UnixStream::pair().unwrap();
    w.write_all(b"owned").unwrap();
    drop(w);
    let out = Command::new("cat").stdin(std::os::fd::OwnedFd::from(r)).output().unwrap();
    assert_eq!(out.stdout, b"owned");
    // std: `impl FromRawFd for Stdio`.
    let (r, mut w) = std::os::unix::net::UnixStream::pair().unwrap();
    w.write_all(b"raw").unwrap();
    drop(w);
    // SAFETY: the fd is open and `into_raw_fd` gave up its ownership.
    let stdin = unsafe { Stdio::from_raw_fd(r.into_raw_fd()) };
    let out = Command::new("cat").stdin(stdin).output().unwrap();
    assert_eq!(out.stdout, b"raw");
}

#[test]
fn stdio_from_std_child_pipes() {
    // std's example of `From<ChildStdout> for Stdio`: one child's stdout is another's stdin.
    let mut hello = std::process::Command::new("echo")
        .arg("Hello, world!")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("failed echo command");
    let reverse = Command::new("cat")
        .stdin(hello.stdout.take().unwrap()) // Converted into a Stdio here
        .output()
        .expect("failed reverse command");
    assert_eq!(reverse.stdout, b"Hello, world!\n");
    assert!(hello.wait().unwrap().success());

    // `From<ChildStderr>`.
    let mut err = std::process::Command::new("sh")
        .args(["-c", "echo to stderr >&2"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = Command::new("cat").stdin(err.stderr.take().unwrap()).output().unwrap();
    assert_eq!(out.stdout, b"to stderr\n");
    assert!(err.wait().unwrap().success());

    // `From<ChildStdin>`: our child writes into the std child's stdin.
    let mut reader = std::process::Command::new("cat")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = Command::new("echo").arg("into std").stdout(reader.stdin.take().unwrap()).status().unwrap();
    assert!(status.success());
    let mut got = String::new();
    reader.stdout.take().unwrap().read_to_string(&mut got).unwrap();
    assert_eq!(got, "into std\n");
    assert!(reader.wait().unwrap().success());

    // And the pipe end of one of our children, as with std's `Child::stdout`.
    let mut first = Command::new("echo").arg("chained").stdout(Stdio::piped()).spawn().unwrap();
    let out = Command::new("cat").stdin(first.stdout.take().unwrap()).output().unwrap();
    assert_eq!(out.stdout, b"chained\n");
    assert!(first.wait().unwrap().success());
}

/// A `use std::process::{..}` line moves by its path: `pidfd` names std's own `ChildStdin`,
/// `ChildStdout`, `ChildStderr`, `ExitStatus` and `Output` too.
#[test]
fn one_use_line_moves_whole() {
    use pidfd::{Child, ChildStderr, ChildStdin, ChildStdout, Command, ExitStatus, Output, Stdio};
    fn spawn_cat() -> std::io::Result<Child> {
        Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()
    }
    let mut child = spawn_cat().unwrap();
    let (stdin, mut stdout, stderr): (ChildStdin, ChildStdout, Option<ChildStderr>) =
        (child.stdin.take().unwrap(), child.stdout.take().unwrap(), child.stderr.take());
    drop(stdin);
    // Read to the end (the child's exit) before closing: a `cat` whose stdout has lost its
    // reader may fail even with nothing to write (busybox's did, in the 6.1+ guests).
    let mut rest = Vec::new();
    stdout.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    drop((stdout, stderr));
    let status: ExitStatus = child.wait().unwrap();
    assert!(status.success());
    let out: Output = Command::new("echo").arg("moved").output().unwrap();
    let std_out: std::process::Output = out;
    assert_eq!(std_out.stdout, b"moved\n");
}

/// std's example of `From<ChildStdout> for Stdio` as std writes it: the pipe field is moved
/// out of the `Child` (`hello.stdout.unwrap()`), which compiles only because `Child` has no
/// `Drop` of its own (std's has none; ours reaps through a private field).
#[test]
fn a_pipe_field_moves_out_of_the_child() {
    let hello = Command::new("echo").arg("Hello, world!").stdout(Stdio::piped()).spawn().expect("failed echo command");
    let reverse = Command::new("cat")
        .stdin(hello.stdout.unwrap()) // Converted into a Stdio here
        .output()
        .expect("failed reverse command");
    assert_eq!(reverse.stdout, b"Hello, world!\n");
    // Each field of a partly moved `Child` is still dropped: the stdin and stderr fields, and
    // the pidfd, whose drop hands a running child to the reaper.
    let mut cat = Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let mut stdin = cat.stdin.take().unwrap();
    let stdout = cat.stdout.unwrap();
    stdin.write_all(b"after the move").unwrap();
    drop(stdin);
    let mut got = String::new();
    File::from(std::os::fd::OwnedFd::from(stdout)).read_to_string(&mut got).unwrap();
    assert_eq!(got, "after the move");
}

#[test]
fn stdio_from_io_stdout_and_stderr() {
    // std: `From<io::Stdout> for Stdio` (1.74): the child writes where the parent's stdout goes.
    let out = Command::new("readlink")
        .arg("/proc/self/fd/2")
        .stderr(std::io::stdout())
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), format!("{}\n", fd_target(1)));
    // `From<io::Stderr>`, onto the child's stdout: the child's fd 1 is where our stderr goes.
    let out = Command::new("sh")
        .args(["-c", "t=$(readlink /proc/$$/fd/1); echo \"$t\" >&2"])
        .stdout(std::io::stderr())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(out.stderr).unwrap(), format!("{}\n", fd_target(2)));
}

// Child::kill

#[test]
fn kill_of_an_exited_child_is_ok() {
    // std: "If the child has already exited, `Ok(())` is returned."
    let mut child = Command::new("true").spawn().unwrap();
    assert!(child.wait().unwrap().success());
    child.kill().expect("kill of a reaped child");
    child.kill().expect("and again");
    // Exited but not reaped: a zombie.
    let mut child = Command::new("true").spawn().unwrap();
    let fd = child.pidfd().try_clone().unwrap();
    // Readable once the child has exited; nothing reaps it.
    while !pidfd_is_readable(&fd) {}
    child.kill().expect("kill of an exited child");
    assert!(child.wait().unwrap().success());
}

fn pidfd_is_readable(fd: &pidfd::PidFd) -> bool {
    use std::os::fd::AsRawFd;
    let mut p = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd, for the length passed.
    let n = unsafe { libc::poll(&mut p, 1, -1) };
    n == 1 && p.revents & libc::POLLIN != 0
}

// Command::output

#[test]
fn output_gives_null_stdin_unless_set() {
    // std: "By default, stdout and stderr are captured (and used to provide the resulting output).
    // Stdin is not inherited from the parent and any attempt by the child process to read from
    // the stdin stream will result in the stream immediately closing."
    let out = Command::new("readlink").arg("/proc/self/fd/0").output().unwrap();
    assert_eq!(out.stdout, b"/dev/null\n");
    let out = Command::new("sh").args(["-c", "cat; echo out; echo err >&2"]).output().unwrap();
    assert_eq!((&out.stdout[..], &out.stderr[..]), (&b"out\n"[..], &b"err\n"[..]));
    // Set by the caller: kept.
    let out = Command::new("readlink").arg("/proc/self/fd/0").stdin(Stdio::inherit()).output().unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), format!("{}\n", fd_target(0)));
}

#[test]
fn output_does_not_change_the_command() {
    // std applies output()'s defaults to that call only: a later spawn inherits.
    let mut cmd = Command::new("echo");
    cmd.arg("hi");
    assert_eq!(cmd.output().unwrap().stdout, b"hi\n");
    let mut child = cmd.stdout(Stdio::null()).spawn().unwrap();
    assert!(child.stdout.is_none() && child.stderr.is_none() && child.stdin.is_none());
    assert!(child.wait().unwrap().success());
    let mut cmd = Command::new("true");
    cmd.output().unwrap();
    let mut child = cmd.spawn().unwrap();
    assert!(child.stdout.is_none() && child.stderr.is_none() && child.stdin.is_none());
    assert!(child.wait().unwrap().success());
}

#[test]
fn output_collects_both_streams_written_interleaved() {
    // std reads both pipes to their end: a child that fills stderr while stdout is being read
    // (and the other way round) must finish, with every byte of both. 1 MiB each, in 1 KiB
    // lines alternating between the two. The channel's timeout only turns a hang into a failure.
    const SCRIPT: &str =
        r#"i=0; while [ $i -lt 1024 ]; do printf 'o%01022d\n' $i; printf 'e%01022d\n' $i >&2; i=$((i+1)); done"#;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let out = Command::new("sh").args(["-c", SCRIPT]).output();
        // Both piped with stdin too, through `wait_with_output`.
        let mut child = Command::new("sh")
            .args(["-c", &format!("cat >&2; {SCRIPT}")])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.as_mut().unwrap().write_all(b"from stdin\n").unwrap();
        let _ = tx.send((out, child.wait_with_output()));
    });
    let (out, waited) = rx.recv_timeout(Duration::from_secs(120)).expect("output() hung");
    let lines = |c: char| (0..1024).map(|i| format!("{c}{i:01022}\n")).collect::<String>().into_bytes();
    let (o, e) = (lines('o'), lines('e'));
    let out = out.unwrap();
    assert!(out.status.success(), "{:?}", out.status);
    assert_eq!(out.stdout.len(), 1 << 20);
    assert!(out.stdout == o, "stdout differs");
    assert!(out.stderr == e, "stderr differs");
    let waited = waited.unwrap();
    assert!(waited.status.success(), "{:?}", waited.status);
    assert!(waited.stdout == o, "stdout differs");
    assert!(waited.stderr.strip_prefix(b"from stdin\n") == Some(&e[..]), "stderr differs");
}

#[test]
fn wait_with_output_starts_no_thread() {
    // std reads both pipes in the calling thread (with `poll`): no thread, so nothing to fail
    // when none can be made. A thread starts with its creator's name: this one gets a name of
    // its own, and the child, once the parent is reading (it has taken more than a pipe holds),
    // counts the parent's threads of that name.
    const NAME: &str = "pidfd-wwo-only";
    std::fs::write("/proc/thread-self/comm", NAME).unwrap();
    let script = format!(
        "head -c 300000 /dev/zero; grep -slx {NAME} /proc/{}/task/*/comm | wc -l >&2; echo err >&2",
        std::process::id()
    );
    let out = Command::new("sh").args(["-c", &script]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout.len(), 300_000);
    assert_eq!(String::from_utf8(out.stderr).unwrap().split_whitespace().collect::<Vec<_>>(), ["1", "err"]);
}

// Command::status

#[test]
fn status_with_piped_stdout_finishes() {
    // A child writing more than a pipe holds to a piped stdout: status() must not wait forever
    // (the caller cannot reach that pipe). The channel's timeout only turns a hang into a
    // failure.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let s = Command::new("sh").args(["-c", "head -c 1048576 /dev/zero"]).stdout(Stdio::piped()).status();
        let _ = tx.send(s.map(|s| s.success()).map_err(|e| e.to_string()));
    });
    assert_eq!(rx.recv_timeout(Duration::from_secs(120)).expect("status() hung"), Ok(true));
    // A short write to a piped stream succeeds, as with std (the pipe is not closed under it).
    let status = Command::new("sh")
        .args(["-c", "echo out; echo err >&2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .status();
    assert!(status.unwrap().success());
    // A piped stdin reads end of file.
    assert!(Command::new("cat").stdin(Stdio::piped()).status().unwrap().success());
}

// Getters and Debug

#[test]
fn getters_match_std() {
    let mut ours = Command::new("ls");
    ours.arg("-l").arg("-a").env("TZ", "UTC").env_remove("HOME").current_dir("/tmp");
    let mut std = std::process::Command::new("ls");
    std.arg("-l").arg("-a").env("TZ", "UTC").env_remove("HOME").current_dir("/tmp");

    assert_eq!(ours.get_program(), std.get_program());
    assert_eq!(ours.get_program(), OsStr::new("ls"));
    // std: "This does not include the path to the program as the first argument".
    assert_eq!(ours.get_args().collect::<Vec<&OsStr>>(), std.get_args().collect::<Vec<&OsStr>>());
    assert_eq!(ours.get_args().len(), 2);
    assert_eq!(ours.get_envs().collect::<Vec<_>>(), std.get_envs().collect::<Vec<_>>());
    assert_eq!(
        ours.get_envs().collect::<Vec<_>>(),
        [(OsStr::new("HOME"), None), (OsStr::new("TZ"), Some(OsStr::new("UTC")))]
    );
    assert_eq!(ours.get_current_dir(), std.get_current_dir());
    assert_eq!(ours.get_current_dir(), Some(Path::new("/tmp")));
    // After `env_clear`, a removal is no entry at all, in std as here.
    let mut ours = Command::new("ls");
    ours.env_clear().env("A", "1").env_remove("B").env_remove("A");
    let mut std = std::process::Command::new("ls");
    std.env_clear().env("A", "1").env_remove("B").env_remove("A");
    assert_eq!(ours.get_envs().collect::<Vec<_>>(), std.get_envs().collect::<Vec<_>>());
    assert_eq!(ours.get_envs().count(), 0);
    let (ours, std) = (Command::new("ls"), std::process::Command::new("ls"));
    assert_eq!(ours.get_args().count(), std.get_args().count());
    assert_eq!(ours.get_envs().count(), 0);
    assert_eq!(ours.get_current_dir(), std.get_current_dir());
}

/// Code that names std's getter types moves by its imports: `CommandArgs` and `CommandEnvs`
/// are iterators that know their length and print as std's do.
#[test]
fn the_getters_types_are_named_as_std_names_them() {
    use pidfd::{CommandArgs, CommandEnvs};
    fn args_of(cmd: &Command) -> CommandArgs<'_> {
        cmd.get_args()
    }
    fn envs_of(cmd: &Command) -> CommandEnvs<'_> {
        cmd.get_envs()
    }
    // Quotes, control bytes, non-ASCII and invalid UTF-8 print as std prints them, on every
    // compiler (std's escapes have changed between versions).
    let odd = [OsStr::new("it's"), OsStr::new("\x01\x7f"), OsStr::new("é"), OsStr::from_bytes(b"\xff")];
    let mut ours = Command::new("prog");
    ours.arg("a").arg("b c").args(odd).env("X", "1").env_remove("Y").env("K'", "v'\x01é");
    let mut std = std::process::Command::new("prog");
    std.arg("a").arg("b c").args(odd).env("X", "1").env_remove("Y").env("K'", "v'\x01é");

    assert_eq!(format!("{:?}", args_of(&ours)), format!("{:?}", std.get_args()));
    assert_eq!(format!("{:#?}", args_of(&ours)), format!("{:#?}", std.get_args()));
    assert_eq!(format!("{:?}", envs_of(&ours)), format!("{:?}", std.get_envs()));
    // What is left after a step, as std's.
    let (mut a, mut s) = (args_of(&ours), std.get_args());
    assert_eq!(a.next(), s.next());
    assert_eq!((a.len(), format!("{a:?}")), (s.len(), format!("{s:?}")));
    let (mut e, mut s) = (envs_of(&ours), std.get_envs());
    assert_eq!(e.next(), s.next());
    assert_eq!((e.len(), format!("{e:?}")), (s.len(), format!("{s:?}")));
    // std's own convert, for a wrapper of a std command.
    assert_eq!(CommandArgs::from(std.get_args()).collect::<Vec<_>>(), args_of(&ours).collect::<Vec<_>>());
    let (from_args, from_envs) = (CommandArgs::from(std.get_args()), CommandEnvs::from(std.get_envs()));
    assert_eq!(format!("{from_args:?}"), format!("{:?}", std.get_args()));
    assert_eq!(format!("{from_envs:?}"), format!("{:?}", std.get_envs()));
    assert_eq!(from_envs.len(), 3);
    // Unlike std's on newer compilers, they can be held across threads (and `.await`s).
    fn send_and_sync<T: Send + Sync>(_: &T) {}
    send_and_sync(&args_of(&ours));
    send_and_sync(&envs_of(&ours));
}

#[test]
fn debug_matches_std() {
    let mut ours = Command::new("prog");
    ours.args(["a b", "c\"d"]).env("K", "v 1").env_remove("R").current_dir("/tmp");
    let mut std = std::process::Command::new("prog");
    std.args(["a b", "c\"d"]).env("K", "v 1").env_remove("R").current_dir("/tmp");
    assert_eq!(format!("{ours:?}"), format!("{std:?}"));
    // Non-ASCII as std prints it today; older std (1.85) printed a `Command`'s non-ASCII
    // bytes escaped.
    if format!("{:?}", std::process::Command::new("é")).contains('é') {
        assert_eq!(
            format!("{:?}", Command::new("p").arg("é")),
            format!("{:?}", std::process::Command::new("p").arg("é"))
        );
    }

    let mut ours = Command::new("p");
    ours.arg("x").env_clear().env("A", "1").env_remove("B");
    let mut std = std::process::Command::new("p");
    std.arg("x").env_clear().env("A", "1").env_remove("B");
    assert_eq!(format!("{ours:?}"), format!("{std:?}"));

    let mut ours = Command::new("p");
    ours.arg0("zero").arg("x");
    let mut std = std::process::Command::new("p");
    std::os::unix::process::CommandExt::arg0(&mut std, "zero").arg("x");
    assert_eq!(format!("{ours:?}"), format!("{std:?}"));

    assert_eq!(format!("{:?}", Command::new("echo")), format!("{:?}", std::process::Command::new("echo")));
}

// Signatures: std's types and `io::Result`, so std code compiles with the imports changed.

/// Compiles only if `pidfd`'s methods have std's signatures.
#[allow(dead_code)]
fn signatures_match_std(cmd: &mut Command, child: &mut pidfd::Child) -> std::io::Result<()> {
    let _: std::io::Result<pidfd::Child> = cmd.spawn();
    let _: std::io::Result<std::process::Output> = cmd.output();
    let _: std::io::Result<std::process::ExitStatus> = cmd.status();
    let _: u32 = child.id();
    let _: std::io::Result<()> = child.kill();
    let _: std::io::Result<std::process::ExitStatus> = child.wait();
    let _: std::io::Result<Option<std::process::ExitStatus>> = child.try_wait();
    let _: &mut Option<std::process::ChildStdin> = &mut child.stdin;
    let _: &mut Option<std::process::ChildStdout> = &mut child.stdout;
    let _: &mut Option<std::process::ChildStderr> = &mut child.stderr;
    cmd.uid(0).gid(0).groups(&[0]).process_group(0).arg0("x");
    // Named type parameters, as std's (a turbofish compiles).
    let _ = Command::new::<&str>("x");
    cmd.arg::<&str>("a").args::<[&str; 1], &str>(["b"]).arg0::<&str>("z");
    cmd.env::<&str, &str>("K", "v").envs::<[(&str, &str); 1], &str, &str>([("K", "v")]).env_remove::<&str>("K");
    cmd.current_dir::<&str>("/").stdin::<pidfd::Stdio>(pidfd::Stdio::null());
    cmd.stdout::<pidfd::Stdio>(pidfd::Stdio::null()).stderr::<pidfd::Stdio>(pidfd::Stdio::null());
    Ok(())
}

#[test]
fn errors_are_io_errors_with_std_kinds_and_ours_inside() {
    // `?` in any io::Result function, as with std.
    fn run() -> std::io::Result<i32> {
        let status = Command::new("sh").args(["-c", "exit 5"]).status()?;
        Ok(status.code().unwrap())
    }
    assert_eq!(run().unwrap(), 5);
    // A program that cannot run: the OS error, as std reports it.
    let e = Command::new("/nonexistent/program").spawn().unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
    let std_e = std::process::Command::new("/nonexistent/program").spawn().unwrap_err();
    assert_eq!((e.kind(), e.raw_os_error()), (std_e.kind(), std_e.raw_os_error()));
    // What an errno cannot say stays reachable, typed.
    let e = Command::new("true").arg("a\0b").spawn().unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    let inner = e.into_inner().unwrap().downcast::<pidfd::Error>().unwrap();
    assert!(matches!(*inner, pidfd::Error::InvalidInput(_)), "{inner:?}");
    // And back: `?` in a function returning pidfd's Result gives the typed error whole.
    fn typed() -> pidfd::Result<pidfd::Child> {
        Ok(Command::new("true").arg("a\0b").spawn()?)
    }
    assert!(matches!(typed(), Err(pidfd::Error::InvalidInput(_))));
    // The errors that say more than an errno keep it all, both ways; a plain errno comes back
    // as an OS error with that errno.
    let unsupported = pidfd::Error::Unsupported { feature: pidfd::Feature::InfoExit };
    let io = std::io::Error::from(unsupported);
    assert_eq!(io.kind(), std::io::ErrorKind::Unsupported);
    let inner = io.get_ref().and_then(|e| e.downcast_ref::<pidfd::Error>());
    assert!(matches!(inner, Some(pidfd::Error::Unsupported { feature: pidfd::Feature::InfoExit })), "{inner:?}");
    assert!(matches!(pidfd::Error::from(io), pidfd::Error::Unsupported { feature: pidfd::Feature::InfoExit }));
    let back = pidfd::Error::from(std::io::Error::from(pidfd::Error::NotChild));
    assert_eq!(back.raw_os_error(), Some(libc::ECHILD));
}

#[test]
fn child_pipes_are_std_types() {
    // std's own ChildStdin/ChildStdout: anything written for std's takes ours.
    fn roundtrip(stdin: std::process::ChildStdin, stdout: std::process::ChildStdout) -> String {
        let mut stdin = stdin;
        stdin.write_all(b"std types").unwrap();
        drop(stdin);
        let mut s = String::new();
        let mut stdout = stdout;
        stdout.read_to_string(&mut s).unwrap();
        s
    }
    let mut child = Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let got = roundtrip(child.stdin.take().unwrap(), child.stdout.take().unwrap());
    assert_eq!(got, "std types");
    assert!(child.wait().unwrap().success());
    assert_eq!(child.id(), child.pidfd().pid().map(|p| p as u32).unwrap_or(child.id()));
}

// CommandExt::pre_exec: runs in the child, on a fork path.

#[test]
fn pre_exec_runs_in_the_child_only() {
    // The hook sets the child's umask; the child prints it; ours is untouched.
    let ours = umask_of_this_process();
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "umask"]);
    // A store to our memory: on a fork path it lands in the child's copy only (on a vfork
    // path, which shares our memory, we would see it).
    static TOUCHED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    // SAFETY: the hook makes one raw system call and an atomic store; it allocates nothing.
    unsafe {
        cmd.pre_exec(|| {
            libc::umask(0o077);
            TOUCHED.store(true, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    assert_eq!(out.stdout, b"0077\n");
    assert_eq!(umask_of_this_process(), ours, "the parent's umask changed");
    assert!(!TOUCHED.load(std::sync::atomic::Ordering::SeqCst), "the hook ran in our memory (a vfork path)");
}

/// The `Umask:` line of `/proc/self/status` (read, not set: `umask` has no read-only form).
fn umask_of_this_process() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status.lines().find(|l| l.starts_with("Umask:")).unwrap().to_owned()
}

#[test]
fn pre_exec_errors_fail_the_spawn() {
    let mut cmd = Command::new("true");
    // SAFETY: the hook only returns an error (no allocation: an OS error is a number).
    unsafe {
        cmd.pre_exec(|| Err(std::io::Error::from_raw_os_error(libc::EPERM)));
    }
    let e = cmd.spawn().unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EPERM), "{e:?}");
    // Hooks run in order; the first error stops the spawn before the later ones.
    let (r, w) = pipe();
    let w_fd = std::os::fd::AsRawFd::as_raw_fd(&w);
    let mut cmd = Command::new("true");
    // SAFETY: raw `write` calls of a byte; no allocation.
    unsafe {
        cmd.pre_exec(move || {
            libc::write(w_fd, b"1".as_ptr().cast(), 1);
            Ok(())
        })
        .pre_exec(|| Err(std::io::Error::from_raw_os_error(libc::EACCES)))
        .pre_exec(move || {
            libc::write(w_fd, b"3".as_ptr().cast(), 1);
            Ok(())
        });
    }
    // The hooks write to `w` in the child: hand it over at its own number.
    let e = cmd.fd(w.try_clone().unwrap(), w_fd).spawn();
    let e = e.unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EACCES), "{e:?}");
    drop(cmd);
    drop(w);
    let mut got = Vec::new();
    File::from(r).read_to_end(&mut got).unwrap();
    assert_eq!(got, b"1");
}

/// A hook sees the parent's fds, as std's does: `dup2` of a close-on-exec pipe end onto
/// another number hands it to the program (std's idiom for passing an fd). The parent's
/// other fds still do not reach the program, also those without close-on-exec (the rule of
/// `Command::fd`): the spawn marks them close-on-exec before the hooks instead of closing them.
#[test]
fn pre_exec_sees_the_parents_fds() {
    use std::io::{BufRead, BufReader};
    use std::os::fd::AsRawFd;
    let (r, w) = pipe();
    let w_fd = w.as_raw_fd();
    let target = if w_fd == 3 { 4 } else { 3 };
    // A pipe end without close-on-exec, which std's child would inherit and ours does not.
    let mut open = [-1; 2];
    // SAFETY: a writable array of two ints.
    assert_eq!(unsafe { libc::pipe(open.as_mut_ptr()) }, 0);
    // SAFETY: two new fds nothing else owns.
    let open = unsafe { [0, 1].map(|i| std::os::fd::OwnedFd::from_raw_fd(open[i])) };
    let mut cmd = Command::new("sh");
    let script = format!("echo via hook >&{target}; echo ready; read x; exit 0");
    cmd.args(["-c", &script]).stdin(Stdio::piped()).stdout(Stdio::piped());
    // SAFETY: one raw `dup2`; no allocation (an OS error is a number).
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(w_fd, target) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    // The program's fds, read while it waits: stdio and the hook's copy, nothing else (not
    // the pipe end without close-on-exec, not the spawn's own).
    let mut fds: Vec<i32> = std::fs::read_dir(format!("/proc/{}/fd", child.id()))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_str().unwrap().parse().unwrap())
        .collect();
    fds.sort_unstable();
    assert_eq!(fds, [0, 1, 2, target], "the parent's fd without close-on-exec is {}", open[1].as_raw_fd());
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    drop((cmd, w, open));
    let mut got = String::new();
    File::from(r).read_to_string(&mut got).unwrap();
    assert_eq!(got, "via hook\n");
}

/// The fds the spawn moves around in the child (a mapped source on its way to its number,
/// the report socket) never land on a parent's fd that a hook may use: here the parent's pipe
/// sits at the number just above the highest mapped one, where a source used to be lifted.
/// (High numbers, which the other tests of this binary do not reach.)
#[test]
fn a_hook_sees_the_parents_fd_next_to_the_mapped_ones() {
    use std::os::fd::AsRawFd;
    const MAPPED: i32 = 500;
    const OURS: i32 = MAPPED + 1;
    // SAFETY: only asks whether the number is open.
    assert_eq!(unsafe { libc::fcntl(OURS, libc::F_GETFD) }, -1, "fd {OURS} is taken");
    let (r, w) = pipe();
    // SAFETY: `w` is open; `OURS` is free (checked above) and becomes ours.
    assert_eq!(unsafe { libc::dup3(w.as_raw_fd(), OURS, libc::O_CLOEXEC) }, OURS);
    // SAFETY: the new fd nothing else owns.
    let ours = unsafe { std::os::fd::OwnedFd::from_raw_fd(OURS) };
    drop(w);
    let (_unused_r, unused_w) = pipe();
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "echo next to the mapped fd >&3"]).fd(unused_w, MAPPED);
    // SAFETY: one raw `dup2`; no allocation (an OS error is a number).
    unsafe {
        cmd.pre_exec(|| {
            if libc::dup2(OURS, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let status = cmd.status().unwrap();
    assert!(status.success(), "{status}");
    drop((cmd, ours));
    let mut got = String::new();
    File::from(r).read_to_string(&mut got).unwrap();
    assert_eq!(got, "next to the mapped fd\n");
}

// Command::fd: the spawn consumes the parent's copy.

#[test]
fn fds_given_to_the_child_are_closed_in_the_parent() {
    let (r, w) = pipe();
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "echo via fd 5 >&5"]).fd(w, 5);
    assert!(cmd.status().unwrap().success());
    // The child held the only write end: end of file once it exited.
    let mut got = String::new();
    File::from(r).read_to_string(&mut got).unwrap();
    assert_eq!(got, "via fd 5\n");
    // A later spawn of the same command passes it no more.
    let out = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).output().unwrap();
    assert!(!out.status.success(), "fd 5 is not open in the second child");
}

/// A pipe (read end, write end), both close-on-exec.
fn pipe() -> (std::os::fd::OwnedFd, std::os::fd::OwnedFd) {
    let mut fds = [-1; 2];
    // SAFETY: a writable array of two ints.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: two new fds nothing else owns.
    unsafe { (std::os::fd::OwnedFd::from_raw_fd(fds[0]), std::os::fd::OwnedFd::from_raw_fd(fds[1])) }
}

// CommandExt::exec: this process becomes the program.

const EXEC_MODE: &str = "PIDFD_COMPAT_EXEC";

/// Not a test of its own: the process `exec_*` below start (this binary again), which calls
/// `exec` as the environment says.
#[test]
fn exec_helper() {
    use std::os::fd::AsRawFd;
    let Ok(mode) = std::env::var(EXEC_MODE) else { return };
    if mode == "replace" {
        // An fd without close-on-exec, well above the others: the program must not get it.
        // SAFETY: duplicating our own stderr; the copy is ours (and meant to leak no further).
        let leak = unsafe { libc::fcntl(2, libc::F_DUPFD, 40) };
        assert!(leak >= 40);
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo; echo pid $$; ls /proc/self/fd"]).fd(File::open("/dev/null").unwrap().into(), 5);
        let e = cmd.exec();
        panic!("exec returned: {e}");
    }
    // "fail": a program that cannot run. The error is std's, and what we own stays open
    // (marked close-on-exec, not closed).
    let ours = File::open("/dev/null").unwrap();
    let e = Command::new("/nonexistent/program").exec();
    assert_eq!(e.raw_os_error(), Some(libc::ENOENT), "{e:?}");
    // SAFETY: F_GETFD on an fd we own.
    let flags = unsafe { libc::fcntl(ours.as_raw_fd(), libc::F_GETFD) };
    assert!(flags >= 0 && flags & libc::FD_CLOEXEC != 0, "our fd after the failed exec: {flags}");
    println!("exec failed as it should");
}

fn run_exec_helper(mode: &str) -> std::process::Output {
    std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "exec_helper", "--nocapture", "--test-threads=1"])
        .env(EXEC_MODE, mode)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn exec_replaces_the_process() {
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "exec_helper", "--nocapture", "--test-threads=1"])
        .env(EXEC_MODE, "replace")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    // What the test harness printed before the exec, then the shell's lines.
    let (_, shell) = text.split_once("\npid ").unwrap_or_else(|| panic!("{text}"));
    let mut lines = shell.lines();
    // The same process, now the shell: `$$` is the pid std spawned.
    assert_eq!(lines.next(), Some(pid.to_string().as_str()), "{text}");
    // 0-2, `ls`'s own directory fd, and the fd given at 5; nothing else (not the fd without
    // close-on-exec, nor any of the test harness's).
    let fds: Vec<&str> = lines.collect();
    assert_eq!(fds, ["0", "1", "2", "3", "5"], "{text}");
}

#[test]
fn exec_failing_returns_the_error() {
    let out = run_exec_helper("fail");
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("exec failed as it should"), "{out:?}");
}
