//! Every `pidfd::Command` option checked against what the child really sees.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;

use pidfd::{Command, Error, Feature, Stdio};

/// Runs `sh -c script` with `configure` applied and returns its stdout.
fn run(script: &str, configure: impl FnOnce(&mut Command)) -> String {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", script]);
    configure(&mut cmd);
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{script}: {:?} {}", out.status, String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// A field of the child's own `/proc/self/status`.
fn status_line(out: &str, key: &str) -> String {
    out.lines().find(|l| l.starts_with(key)).unwrap_or_else(|| panic!("{key} in {out}"))[key.len()..].trim().to_owned()
}

/// Waits for the child's `ready` line: it runs the program, whose loader is done with its fds.
fn wait_ready(child: &mut pidfd::Child) {
    let mut buf = [0u8; 6];
    child.stdout.as_mut().unwrap().read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ready\n");
}

#[test]
fn pidfd_names_the_child_it_reports() {
    let mut child =
        Command::new("sh").args(["-c", "echo $$; read x"]).stdin(Stdio::Piped).stdout(Stdio::Piped).spawn().unwrap();
    let mut buf = [0u8; 32];
    let n = child.stdout.as_mut().unwrap().read(&mut buf).unwrap();
    let reported: i32 = std::str::from_utf8(&buf[..n]).unwrap().trim().parse().unwrap();
    assert_eq!(child.pidfd().pid().unwrap(), reported);
    assert_eq!(child.id(), reported as u32);
    child.stdin.take().unwrap().write_all(b"\n").unwrap();
    assert!(child.wait().unwrap().success());
}

#[test]
fn args_arg0_and_path_lookup() {
    assert_eq!(
        run("echo \"$0|$1\"", |c| {
            c.arg("a b").arg("c");
        }),
        "a b|c\n"
    );
    // argv[0] as the child sees it, read from its /proc/<pid>/cmdline once the child has
    // shown it runs the new program (its first line on stdout): before that the exec may
    // still be installing the new argv. A path keeps a multi-call binary such as busybox
    // working (it picks the applet by the base name) and differs from what `Command::new`
    // alone would give (`sh`).
    let arg0 = "/renamed/sh";
    let mut child = Command::new("sh")
        .arg0(arg0)
        .args(["-c", "echo running; read x"])
        .stdin(Stdio::Piped)
        .stdout(Stdio::Piped)
        .spawn()
        .unwrap();
    let mut buf = [0u8; 8];
    child.stdout.as_mut().unwrap().read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"running\n");
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", child.id())).unwrap();
    child.stdin.take().unwrap().write_all(b"\n").unwrap();
    assert!(child.wait().unwrap().success());
    let argv: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
    assert_eq!(argv[0], arg0.as_bytes());
    let out = Command::new("echo").arg("found in PATH").output().unwrap();
    assert_eq!(out.stdout, b"found in PATH\n");
}

#[test]
fn environment() {
    let out = run("env", |c| {
        c.env("PIDFD_A", "1").env("PIDFD_B", "2").env_remove("PIDFD_B");
    });
    assert!(out.lines().any(|l| l == "PIDFD_A=1"));
    assert!(!out.lines().any(|l| l.starts_with("PIDFD_B=")));
    assert!(out.lines().any(|l| l.starts_with("PATH=")), "the parent's environment is inherited");
    let out = Command::new("/usr/bin/env").env_clear().env("ONLY", "this").output().unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "ONLY=this\n");
}

#[test]
fn current_dir() {
    assert_eq!(
        run("pwd", |c| {
            c.current_dir("/tmp");
        }),
        "/tmp\n"
    );
    let e = Command::new("true").current_dir("/nonexistent-dir").spawn().unwrap_err();
    assert!(e.raw_os_error() == Some(libc::ENOENT), "{e}");
}

#[test]
fn stdio_null_piped_and_fd() {
    let out = Command::new("cat").stdin(Stdio::Null).output().unwrap();
    assert!(out.stdout.is_empty());
    let mut child = Command::new("cat").stdin(Stdio::Piped).stdout(Stdio::Piped).spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"through the pipe").unwrap();
    let mut s = String::new();
    child.stdout.take().unwrap().read_to_string(&mut s).unwrap();
    assert_eq!(s, "through the pipe");
    child.wait().unwrap();
    let path = std::env::temp_dir().join(format!("pidfd-stdio-{}", std::process::id()));
    let file: OwnedFd = std::fs::File::create(&path).unwrap().into();
    Command::new("sh")
        .args(["-c", "echo to a file; echo err >&2"])
        .stdout(Stdio::Fd(file))
        .stderr(Stdio::Null)
        .status()
        .unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "to a file\n");
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn extra_fds_at_chosen_numbers_and_nothing_else() {
    // The child writes through the fd it got as 7.
    let (r, w) = test_support::pipe();
    Command::new("sh").args(["-c", "echo mapped >&7"]).fd(w.into(), 7).stdin(Stdio::Null).status().unwrap();
    let mut line = String::new();
    (&r).read_to_string(&mut line).unwrap();
    assert_eq!(line, "mapped\n");
    // What a child holds: 0-2 and 7 only (our pipes, pidfds and other fds stay with us), and 7
    // is the pipe we gave.
    let (r, w) = test_support::pipe();
    let pipe = std::fs::read_link(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&r))).unwrap();
    // Read once the shell says it runs: by then the dynamic loader has closed what it opened.
    let mut child = Command::new("sh")
        .args(["-c", "echo ready; read x"])
        .fd(w.into(), 7)
        .stdin(Stdio::Piped)
        .stdout(Stdio::Piped)
        .spawn()
        .unwrap();
    wait_ready(&mut child);
    let mut fds: Vec<i32> = std::fs::read_dir(format!("/proc/{}/fd", child.id()))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_str().unwrap().parse().unwrap())
        .collect();
    fds.sort();
    assert_eq!(fds, [0, 1, 2, 7]);
    assert_eq!(std::fs::read_link(format!("/proc/{}/fd/7", child.id())).unwrap(), pipe);
    child.stdin.take().unwrap().write_all(b"\n").unwrap();
    assert!(child.wait().unwrap().success());
    let e = Command::new("true").fd(std::fs::File::open("/dev/null").unwrap().into(), 1).spawn().unwrap_err();
    assert!(invalid_input(&e), "{e:?}");
}

#[test]
fn every_fd_the_library_creates_is_cloexec() {
    // Holding a Child with pipes (and its pidfd) must not leak any fd into another child.
    let mut holder = Command::new("cat").stdin(Stdio::Piped).stdout(Stdio::Piped).spawn().unwrap();
    let mut child =
        Command::new("sh").args(["-c", "echo ready; read x"]).stdin(Stdio::Piped).stdout(Stdio::Piped).spawn().unwrap();
    wait_ready(&mut child);
    let mut fds: Vec<i32> = std::fs::read_dir(format!("/proc/{}/fd", child.id()))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_str().unwrap().parse().unwrap())
        .collect();
    fds.sort();
    assert_eq!(fds, [0, 1, 2]);
    child.stdin.take().unwrap().write_all(b"\n").unwrap();
    assert!(child.wait().unwrap().success());
    drop(holder.stdin.take());
    holder.wait().unwrap();
}

#[test]
fn process_group_and_session() {
    let stat = |out: &str| -> (i32, i32, i32) {
        let after = &out[out.rfind(')').unwrap() + 2..];
        let f: Vec<&str> = after.split_whitespace().collect();
        (f[2].parse().unwrap(), f[3].parse().unwrap(), out.split_whitespace().next().unwrap().parse().unwrap())
    };
    let out = run("cat /proc/$$/stat", |c| {
        c.process_group(0);
    });
    let (pgrp, _session, pid) = stat(&out);
    assert_eq!(pgrp, pid, "process_group(0) leads a new group");
    let out = run("cat /proc/$$/stat", |c| {
        c.setsid(true);
    });
    let (pgrp, session, pid) = stat(&out);
    assert_eq!((pgrp, session), (pid, pid), "setsid leads a new session");
}

#[test]
fn credentials() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: changing uid/gid needs root");
        return;
    }
    let out = run("cat /proc/self/status", |c| {
        c.uid(65534).gid(65533).groups(&[65532, 65531]);
    });
    assert_eq!(status_line(&out, "Uid:").split_whitespace().collect::<Vec<_>>(), ["65534"; 4]);
    assert_eq!(status_line(&out, "Gid:").split_whitespace().collect::<Vec<_>>(), ["65533"; 4]);
    assert_eq!(status_line(&out, "Groups:"), "65531 65532");
    let out = run("cat /proc/self/status", |c| {
        c.uid(65534);
    });
    assert_eq!(status_line(&out, "Groups:"), "", "dropping to a user drops the supplementary groups");
}

#[test]
fn signal_mask_and_dispositions() {
    let out =
        Command::new("cat").arg("/proc/self/status").signal_mask(&[libc::SIGUSR1, libc::SIGTERM]).output().unwrap();
    let out = String::from_utf8(out.stdout).unwrap();
    let blk = u64::from_str_radix(&status_line(&out, "SigBlk:"), 16).unwrap();
    assert_eq!(blk, (1 << (libc::SIGUSR1 - 1)) | (1 << (libc::SIGTERM - 1)));
    // `cat` itself, not through a shell: shells set dispositions of their own.
    let status_of = |c: &mut Command| String::from_utf8(c.output().unwrap().stdout).unwrap();
    let out = status_of(Command::new("cat").arg("/proc/self/status").reset_signals(true));
    assert_eq!(u64::from_str_radix(&status_line(&out, "SigIgn:"), 16).unwrap(), 0);
    // Rust ignores SIGPIPE; the child gets the default, as with std.
    let out = status_of(Command::new("cat").arg("/proc/self/status"));
    let ign = u64::from_str_radix(&status_line(&out, "SigIgn:"), 16).unwrap();
    assert_eq!(ign & (1 << (libc::SIGPIPE - 1)), 0);
    assert!(Command::new("true").signal_mask(&[0]).spawn().is_err());
}

#[test]
fn cgroup_placement() {
    let Some(root) = crate::info::cgroup2_root() else {
        eprintln!("skipped: no cgroup2 mount");
        return;
    };
    let dir = format!("{root}/pidfd-cmd-{}", std::process::id());
    if std::fs::create_dir(&dir).is_err() {
        eprintln!("skipped: cannot create a cgroup");
        return;
    }
    let fd: OwnedFd = std::fs::File::open(&dir).unwrap().into();
    let out = run("cat /proc/self/cgroup", |c| {
        c.cgroup(fd);
    });
    let name = dir.rsplit('/').next().unwrap();
    assert!(out.lines().any(|l| l.starts_with("0::") && l.ends_with(name)), "{out}");
    let _ = Feature::CloneIntoCgroup.support();
    std::fs::remove_dir(&dir).unwrap();
}

#[test]
fn exec_errors_come_back_with_their_errno() {
    let e = Command::new("/nonexistent/program").spawn().unwrap_err();
    assert!(e.raw_os_error() == Some(libc::ENOENT), "{e}");
    let e = Command::new("no-such-program-in-path").spawn().unwrap_err();
    assert!(e.raw_os_error() == Some(libc::ENOENT), "{e}");
    let path = std::env::temp_dir().join(format!("pidfd-noexec-{}", std::process::id()));
    std::fs::write(&path, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = Command::new(&path).spawn().unwrap_err();
    assert!(e.raw_os_error() == Some(libc::EACCES), "{e}");
    std::fs::remove_file(&path).unwrap();
    let e = Command::new("/tmp").spawn().unwrap_err();
    assert!(e.raw_os_error() == Some(libc::EACCES), "{e}");
    assert!(invalid_input(&Command::new("a\0b").spawn().unwrap_err()));
}

#[test]
fn dropping_a_running_child_leaves_no_zombie() {
    let child = Command::new("sleep").arg("0.2").spawn().unwrap();
    let pid = child.id();
    let watcher = child.pidfd().try_clone().unwrap();
    drop(child);
    // The background reaper reaps it once it exits: /proc/<pid> goes away.
    let start = std::time::Instant::now();
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(start.elapsed() < std::time::Duration::from_secs(10), "still there: {stat}");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    drop(watcher);
}

/// The `io::Error` of a std-mirroring method carrying [`Error::InvalidInput`].
fn invalid_input(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::InvalidInput
        && matches!(e.get_ref().and_then(|e| e.downcast_ref()), Some(Error::InvalidInput(_)))
}
