//! A libtest-compatible runner for `harness = false` test binaries whose cases must each start
//! in a fresh, single-threaded process: the binary re-executes itself once per case, with the
//! case's name in [`CASE_ENV`]. libtest would run the case on a thread of a multi-threaded
//! process, where `unshare(CLONE_NEWUSER)` is refused and `fork` is unsafe.
//!
//! It understands the part of libtest's command line that applies: positional filters
//! (substrings, or whole names with `--exact`), `--skip`, `--list`, `--ignored` (no case is),
//! and options with a value (`--test-threads 2`, `--format x`, ...); anything else is accepted
//! and has no effect. Each case's output is shown when it fails; the `skipped:` lines a case
//! prints are always shown. A case that does not finish within [`CASE_TIMEOUT`] is killed with
//! its process group (through its pidfd) and fails: "never a hang" is part of what these
//! binaries prove.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

/// One case: its name and its body (run in the re-executed process).
pub type Case = (&'static str, fn());

/// Set (to a case's name) in the process that runs that one case.
pub const CASE_ENV: &str = "PIDFD_TEST_HARNESS_CASE";

/// How long a case may run before it counts as hung.
pub const CASE_TIMEOUT: Duration = Duration::from_secs(120);

struct Args {
    filters: Vec<String>,
    skip: Vec<String>,
    exact: bool,
    list: bool,
    ignored_only: bool,
}

impl Args {
    fn parse(args: impl Iterator<Item = String>) -> Args {
        let mut a = Args { filters: Vec::new(), skip: Vec::new(), exact: false, list: false, ignored_only: false };
        let mut args = args.peekable();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--exact" => a.exact = true,
                "--list" => a.list = true,
                "--ignored" => a.ignored_only = true,
                "--skip" => a.skip.extend(args.next()),
                "--test-threads" | "--format" | "--color" | "--logfile" | "--shuffle-seed" | "-Z" => {
                    args.next();
                }
                s if s.starts_with('-') => {}
                s => a.filters.push(s.to_owned()),
            }
        }
        a
    }

    fn selects(&self, name: &str) -> bool {
        let hit = |f: &String| if self.exact { name == f } else { name.contains(f.as_str()) };
        !self.ignored_only && (self.filters.is_empty() || self.filters.iter().any(hit)) && !self.skip.iter().any(hit)
    }
}

/// The binary's `main`: runs the case named in [`CASE_ENV`] if set (exit status 0 when it
/// returns, 101 when it panics), else every selected case in a process of its own.
pub fn main(cases: &[Case]) {
    if let Ok(name) = std::env::var(CASE_ENV) {
        let (_, case) = cases.iter().find(|(n, _)| *n == name).unwrap_or_else(|| panic!("unknown case {name}"));
        case();
        println!("ok");
        return;
    }
    let args = Args::parse(std::env::args().skip(1));
    let selected: Vec<&str> = cases.iter().map(|(n, _)| *n).filter(|n| args.selects(n)).collect();
    if args.list {
        for name in &selected {
            println!("{name}: test");
        }
        if !std::env::args().any(|a| a == "terse" || a == "--format=terse") {
            println!("\n{} tests, 0 benchmarks", selected.len());
        }
        return;
    }
    let filtered_out = cases.len() - selected.len();
    println!("\nrunning {} test{}", selected.len(), if selected.len() == 1 { "" } else { "s" });
    let started = std::time::Instant::now();
    let mut failed = Vec::new();
    for name in &selected {
        let (ok, why, stdout, stderr) = run_case(name);
        println!("test {name} ... {}", if ok { "ok" } else { "FAILED" });
        for line in stderr.lines().filter(|l| l.starts_with("skipped:")) {
            println!("    {name}: {line}");
        }
        if !ok {
            eprintln!("---- {name} ({why}) ----\n{stdout}{stderr}");
            failed.push(*name);
        }
    }
    println!(
        "\ntest result: {}. {} passed; {} failed; 0 ignored; 0 measured; {filtered_out} filtered out; finished in {:.2}s\n",
        if failed.is_empty() { "ok" } else { "FAILED" },
        selected.len() - failed.len(),
        failed.len(),
        started.elapsed().as_secs_f64()
    );
    if !failed.is_empty() {
        eprintln!("failed: {failed:?}");
        std::process::exit(101);
    }
}

/// Runs one case in a re-executed process; kills it through its pidfd when it hangs.
fn run_case(name: &str) -> (bool, String, String, String) {
    let me = std::env::current_exe().unwrap();
    // A process group of its own: a hung case is killed with whatever it started (the init of
    // a PID namespace, whose death ends the namespace).
    let mut child = Command::new(me)
        .process_group(0)
        .env(CASE_ENV, name)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("re-execute the test binary");
    // Nobody else reaps in this process: the pid names the child until we wait for it.
    let pidfd = pidfd::PidFd::from_child(&child).ok();
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let readers = (
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = out.read_to_string(&mut s);
            s
        }),
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        }),
    );
    let (tx, rx) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let status = child.wait();
        let _ = tx.send(());
        status
    });
    let hung = rx.recv_timeout(CASE_TIMEOUT).is_err();
    if let Some(fd) = pidfd.as_ref().filter(|_| hung) {
        let _ = fd.signal_process_group(libc::SIGKILL);
        let _ = fd.kill();
    }
    let status = waiter.join().unwrap().expect("wait for the case");
    let stdout = readers.0.join().unwrap();
    let stderr = readers.1.join().unwrap();
    let ok = !hung && status.success() && stdout.trim_end().ends_with("ok");
    let why = if hung { format!("hung: killed after {CASE_TIMEOUT:?}") } else { format!("{status}") };
    (ok, why, stdout, stderr)
}
