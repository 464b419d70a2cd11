//! Spawning while a rogue thread reaps every child with `waitpid(-1)`. A binary of its own:
//! the rogue would reap the children of any test running beside it.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use pidfd::{Error, Feature};

#[allow(dead_code)]
#[path = "it/support.rs"]
mod support;

use support::require;

/// One rogue at a time: two would still only reap this binary's children, but the tests
/// count what their own rogue reaped.
static SERIAL: Mutex<()> = Mutex::new(());

/// A thread that reaps every child of the process as soon as it can, like a careless library.
struct RogueReaper {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<usize>>,
}

impl RogueReaper {
    fn start() -> RogueReaper {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut reaped = 0;
            while !s.load(Ordering::Relaxed) {
                let mut status = 0;
                // SAFETY: `status` is writable.
                if unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) } > 0 {
                    reaped += 1;
                } else {
                    std::thread::yield_now();
                }
            }
            reaped
        });
        RogueReaper { stop, thread: Some(thread) }
    }

    fn stop(mut self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

/// The test the issue asks for: the pidfd names the spawned child while another thread reaps
/// with waitpid(-1): checked against the child's own getpid() report.
#[test]
fn spawn_is_race_free_against_a_rogue_reaper() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let rogue = RogueReaper::start();
    for _ in 0..100 {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo $$; read x"]).stdin(Stdio::piped()).stdout(Stdio::piped());
        let (mut child, fd) = pidfd::spawn(&mut cmd).unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let reported: i32 = line.trim().parse().unwrap();
        assert_eq!(fd.pid().unwrap(), reported);
        child.stdin.take().unwrap().write_all(b"\n").unwrap();
        // The rogue reaps it: wait says NotChild, or gives the status through PIDFD_INFO_EXIT.
        match fd.wait() {
            Ok(st) => assert!(st.success()),
            Err(Error::NotChild) => assert!(!Feature::InfoExit.is_supported()),
            Err(e) => panic!("{e}"),
        }
    }
    rogue.stop();
}

/// Children that exit at once, while the rogue reaps: each pidfd must carry *its* child's
/// exit code (6.15+, where the kernel keeps it for a reaped process).
#[test]
fn spawn_names_children_that_exit_at_once() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !require(Feature::InfoExit) {
        return;
    }
    let rogue = RogueReaper::start();
    for i in 0..200 {
        let code = i % 250;
        let (_child, fd) = pidfd::spawn(Command::new("sh").args(["-c", &format!("exit {code}")])).unwrap();
        let st = match fd.wait() {
            Ok(st) => st,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(st.code(), Some(code));
    }
    assert!(rogue.stop() > 0, "the rogue reaper never reaped: the test proved nothing");
}

/// `pidfd::Command` with children that report their pid and exit at once, while the rogue
/// reaps: a spawn that opened the pidfd by pid after the fact could name a recycled pid. Each
/// pidfd must name its own child: the pid it reports while alive, and (6.15+, where the kernel
/// keeps the exit status of a reaped process) the exit code that child chose.
#[test]
fn command_names_children_that_exit_at_once() {
    use std::io::Read;
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let rogue = RogueReaper::start();
    let mut by_exit_info = 0;
    for i in 0..300 {
        let code = i % 250;
        let mut child = pidfd::Command::new("sh")
            .args(["-c", &format!("echo $$; exit {code}")])
            .stdout(pidfd::Stdio::Piped)
            .spawn()
            .unwrap();
        let mut out = String::new();
        child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        let reported: i32 = out.trim().parse().unwrap();
        assert_eq!(child.id(), reported);
        match child.pidfd().pid() {
            Ok(pid) => assert_eq!(pid, reported),
            Err(Error::Exited) => {}
            Err(e) => panic!("{e}"),
        }
        match child.pidfd().wait() {
            Ok(st) => {
                assert_eq!(st.code(), Some(code), "the pidfd of child {reported} carries another exit code");
                by_exit_info += 1;
            }
            Err(Error::NotChild) => assert!(!Feature::InfoExit.is_supported()),
            Err(e) => panic!("{e}"),
        }
    }
    assert!(rogue.stop() > 0, "the rogue reaper never reaped: the test proved nothing");
    if Feature::InfoExit.is_supported() {
        assert_eq!(by_exit_info, 300);
    }
}
