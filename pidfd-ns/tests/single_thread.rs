//! What only a single-threaded process may do: enter user and time namespaces.
//!
//! `harness = false`: no test threads. Each case runs in a fresh child process (this binary
//! re-executed with the case's name), because entering a user namespace cannot be undone.

#[allow(dead_code, unreachable_pub)]
#[path = "it/support.rs"]
mod support;

use pidfd::Feature;
use pidfd_ns::{Error, Namespace, NamespaceSet, NsFd, PidFdNsExt, run_in_namespaces};

use support::{Held, Setup, can_open_pidfds, hostname, kernel_has, proc_ino, require, thread_ino};

const CASES: [(&str, fn()); 5] = [
    ("user_and_uts_atomically", user_and_uts_atomically),
    ("user_then_uts_one_by_one", user_then_uts_one_by_one),
    ("time", time),
    ("run_in_namespaces_refuses_a_user_namespace", run_in_namespaces_refuses_a_user_namespace),
    (
        "an_unprivileged_owner_enters_its_user_namespace_and_what_it_owns",
        an_unprivileged_owner_enters_its_user_namespace_and_what_it_owns,
    ),
];

/// Set (to a case's name) in the child process that runs that one case.
const CASE_ENV: &str = "PIDFD_NS_SINGLE_THREAD_CASE";

/// The libtest command line, as far as it applies to these cases: positional filters
/// (substrings, or whole names with `--exact`), `--skip`, `--list`, `--ignored` (none is), and
/// options that take a value; anything else is accepted and has no effect here.
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
                // libtest options that take the next argument as their value.
                "--test-threads" | "--format" | "--color" | "--logfile" | "--shuffle-seed" | "-Z" | "--report-time" => {
                    if arg != "--report-time" {
                        args.next();
                    }
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

fn main() {
    if let Ok(name) = std::env::var(CASE_ENV) {
        let (_, case) = CASES.iter().find(|(n, _)| *n == name).unwrap_or_else(|| panic!("unknown case {name}"));
        assert_eq!(threads(), 1, "the case must run single-threaded");
        case();
        println!("ok");
        return;
    }
    let args = Args::parse(std::env::args().skip(1));
    let selected: Vec<&str> = CASES.iter().map(|(n, _)| *n).filter(|n| args.selects(n)).collect();
    if args.list {
        for name in &selected {
            println!("{name}: test");
        }
        if !std::env::args().any(|a| a == "terse" || a == "--format=terse") {
            println!("\n{} tests, 0 benchmarks", selected.len());
        }
        return;
    }
    let filtered_out = CASES.len() - selected.len();
    println!("\nrunning {} test{}", selected.len(), if selected.len() == 1 { "" } else { "s" });
    let me = std::env::current_exe().unwrap();
    let mut failed = Vec::new();
    for name in &selected {
        let out = std::process::Command::new(&me).env(CASE_ENV, name).output().unwrap();
        let ok = out.status.success() && String::from_utf8_lossy(&out.stdout).trim_end().ends_with("ok");
        println!("test {name} ... {}", if ok { "ok" } else { "FAILED" });
        if !ok {
            eprintln!(
                "---- {name} ----\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            failed.push(*name);
        }
    }
    println!(
        "\ntest result: {}. {} passed; {} failed; 0 ignored; 0 measured; {filtered_out} filtered out\n",
        if failed.is_empty() { "ok" } else { "FAILED" },
        selected.len() - failed.len(),
        failed.len()
    );
    if !failed.is_empty() {
        eprintln!("failed: {failed:?}");
        std::process::exit(101);
    }
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// `setns(pidfd, CLONE_NEWUSER | CLONE_NEWUTS)` (the fallback on kernels without it).
fn user_and_uts_atomically() {
    if !can_open_pidfds() {
        return;
    }
    let _ = require(Feature::SetnsPidfd);
    let held = Held::waiting(
        libc::CLONE_NEWUSER | libc::CLONE_NEWUTS,
        Setup { hostname: Some("ns-st-atomic"), ..Setup::default() },
    );
    held.fd.enter_namespaces(NamespaceSet::USER | NamespaceSet::UTS).unwrap();
    assert_eq!(Some(thread_ino(Namespace::User)), proc_ino(held.pid, Namespace::User));
    assert_eq!(hostname(), "ns-st-atomic");
}

/// `NsFd::enter` for the user namespace, then (with the capabilities it grants) the UTS
/// namespace it owns.
fn user_then_uts_one_by_one() {
    if !can_open_pidfds() {
        return;
    }
    let held = Held::waiting(
        libc::CLONE_NEWUSER | libc::CLONE_NEWUTS,
        Setup { hostname: Some("ns-st-each"), ..Setup::default() },
    );
    let user = held.fd.namespace(Namespace::User).unwrap();
    let uts = held.fd.namespace(Namespace::Uts).unwrap();
    user.enter().unwrap();
    assert_eq!(thread_ino(Namespace::User), user.id().unwrap());
    // Entering it again is refused by the kernel; the error says why.
    assert!(matches!(user.enter(), Err(Error::InvalidInput(_))));
    uts.enter().unwrap();
    assert_eq!(hostname(), "ns-st-each");
}

/// Time namespaces: the process and its future children move.
fn time() {
    if !kernel_has(Namespace::Time) {
        eprintln!("skipped: no time namespaces (Linux 5.6+)");
        return;
    }
    if !can_open_pidfds() {
        return;
    }
    let held = Held::waiting(pidfd_sys::CLONE_NEWTIME, Setup::default());
    let theirs = proc_ino(held.pid, Namespace::Time).expect("time namespaces (5.6+)");
    assert_ne!(thread_ino(Namespace::Time), theirs, "the child lives in its new time namespace");
    let mine = NsFd::of_current_thread(Namespace::Time).unwrap();
    held.fd.enter_namespaces(NamespaceSet::TIME).unwrap();
    assert_eq!(thread_ino(Namespace::Time), theirs);
    assert_eq!(thread_ino(Namespace::TimeForChildren), theirs);
    // Back to where we came from, through the nsfd kept before.
    mine.enter().unwrap();
    assert_eq!(thread_ino(Namespace::Time), mine.id().unwrap());
}

/// Even a single-threaded caller becomes multi-threaded with the fresh thread.
fn run_in_namespaces_refuses_a_user_namespace() {
    if !can_open_pidfds() {
        return;
    }
    let held = Held::waiting(libc::CLONE_NEWUSER, Setup::default());
    let e = run_in_namespaces(&held.fd, NamespaceSet::USER, || ()).unwrap_err();
    assert!(matches!(e, Error::MultiThreaded { namespace: Namespace::User }), "{e:?}");
    // This process itself can.
    held.fd.enter_namespaces(NamespaceSet::USER).unwrap();
    assert_eq!(Some(thread_ino(Namespace::User)), proc_ino(held.pid, Namespace::User));
}

/// An unprivileged user who owns a user namespace enters it and a UTS namespace it owns. With
/// `setns(pidfd)` the kernel enters the user namespace first; without it (before 5.8) the
/// fallback is refused the UTS namespace with the caller's own credentials, enters the user
/// namespace, then the UTS namespace inside it.
fn an_unprivileged_owner_enters_its_user_namespace_and_what_it_owns() {
    if !can_open_pidfds() {
        return;
    }
    let setup = Setup { uid: Some(65534), hostname: Some("ns-st-owner"), ..Setup::default() };
    let held = match Held::new(libc::CLONE_NEWUSER | libc::CLONE_NEWUTS, setup, "echo ready; read x") {
        Ok(h) => h,
        Err(e) => {
            eprintln!("skipped: unprivileged user namespaces are not allowed here: {e}");
            return;
        }
    };
    let uts = held.fd.namespace(Namespace::Uts).unwrap();
    // Become that user (this process is single-threaded: the libc calls change all of it).
    // SAFETY: plain integer arguments (and an empty list).
    unsafe {
        assert_eq!(libc::setgroups(0, std::ptr::null()), 0, "{}", std::io::Error::last_os_error());
        assert_eq!(libc::setresgid(65534, 65534, 65534), 0, "{}", std::io::Error::last_os_error());
        assert_eq!(libc::setresuid(65534, 65534, 65534), 0, "{}", std::io::Error::last_os_error());
    }
    // Without the user namespace, the UTS namespace is refused.
    let e = uts.enter().unwrap_err();
    assert!(matches!(e, Error::PermissionDenied { .. }), "{e:?}");
    held.fd.enter_namespaces(NamespaceSet::USER | NamespaceSet::UTS).unwrap();
    assert_eq!(Some(thread_ino(Namespace::User)), proc_ino(held.pid, Namespace::User));
    assert_eq!(thread_ino(Namespace::Uts), uts.id().unwrap());
    assert_eq!(hostname(), "ns-st-owner");
}
