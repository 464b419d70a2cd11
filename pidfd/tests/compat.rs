//! `pidfd::Command`, `Child` and `Stdio` as drop-ins for `std::process`'s: each test is written
//! from std's documentation, spelled as std's users spell it, with the types imported from
//! `pidfd` instead of `std::process`.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, IntoRawFd};
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
    let (ours, std) = (Command::new("ls"), std::process::Command::new("ls"));
    assert_eq!(ours.get_args().count(), std.get_args().count());
    assert_eq!(ours.get_envs().count(), 0);
    assert_eq!(ours.get_current_dir(), std.get_current_dir());
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
