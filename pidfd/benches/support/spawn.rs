//! Spawn + wait of `/bin/true`, measured in worker processes.
//!
//! The parent's state (4 GiB of touched memory, 5,000 open pidfds) cannot be switched on and
//! off cheaply inside one process, so each state lives in its own worker (this same binary,
//! re-executed with `--worker`). The coordinator asks the workers in turn, in an order rotated
//! every round, to run `k` spawns of one variant and report the time; ratios are taken per
//! round, between slots of the same round, so a load change on the machine hits both sides.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::OwnedFd;
use std::process::{ChildStdin, ChildStdout, Stdio};
use std::time::Instant;

use super::raw::{self, ChildWork, Exec, Stack};

pub(crate) const PROGRAM: &str = "/bin/true";

/// One way of spawning and waiting for `/bin/true`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Variant {
    /// Raw `clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD)` + `execve` + `waitid(P_PIDFD)`.
    Floor,
    /// The floor plus `CLONE_FILES` and `close_range(3, ~0, CLOSE_RANGE_UNSHARE)` in the child:
    /// the mechanism the library uses to stay flat in the number of fds.
    FloorUnshare,
    /// Diagnostic: the floor plus the library's 64 `rt_sigaction` queries in the child.
    FloorSigQuery,
    /// Diagnostic: the floor on a child stack mapped for this spawn and unmapped after it, as
    /// the library (and glibc's `posix_spawn`) do.
    FloorFreshStack,
    /// Diagnostic: the floor with argv/envp rebuilt for this spawn as `Command::prepare` does.
    FloorEnvRebuild,
    /// Diagnostic: the library as it was before the spawn fixes, re-implemented raw: a fresh
    /// stack and the envp rebuilt for every spawn, `clone` and the child's 64-signal query loop.
    LibBefore,
    /// `pidfd::Command::new("/bin/true").spawn()?.wait()`.
    Ours,
    /// The same with `Stdio::Null` stdin and stdout.
    OursNull,
    /// The same with `Stdio::Piped` stdout (placed from the parent's fd of the pipe).
    OursPiped,
    /// The same with one environment variable set (envp built, pointing into `environ`).
    OursEnv,
    /// `std::process::Command::spawn` + `pidfd_open` + `waitid(P_PIDFD)`.
    Std,
    /// `fork` + `execve` + `pidfd_open` + `waitid(P_PIDFD)`.
    Fork,
}

impl Variant {
    pub(crate) const ALL: [Variant; 12] = [
        Variant::Floor,
        Variant::FloorUnshare,
        Variant::FloorSigQuery,
        Variant::FloorFreshStack,
        Variant::FloorEnvRebuild,
        Variant::LibBefore,
        Variant::Ours,
        Variant::OursNull,
        Variant::OursPiped,
        Variant::OursEnv,
        Variant::Std,
        Variant::Fork,
    ];

    fn name(self) -> &'static str {
        match self {
            Variant::Floor => "floor",
            Variant::FloorUnshare => "floor-unshare",
            Variant::FloorSigQuery => "floor-sigquery",
            Variant::FloorFreshStack => "floor-freshstack",
            Variant::FloorEnvRebuild => "floor-envrebuild",
            Variant::LibBefore => "lib-before",
            Variant::Ours => "ours",
            Variant::OursNull => "ours-null",
            Variant::OursPiped => "ours-piped",
            Variant::OursEnv => "ours-env",
            Variant::Std => "std",
            Variant::Fork => "fork",
        }
    }

    /// Whether this is a raw variant that needs `close_range` (5.9); the others need
    /// `CLONE_PIDFD` (5.2) and `waitid(P_PIDFD)` (5.4).
    pub(crate) fn needs_close_range(self) -> bool {
        !matches!(
            self,
            Variant::Floor
                | Variant::FloorSigQuery
                | Variant::FloorFreshStack
                | Variant::FloorEnvRebuild
                | Variant::Ours
                | Variant::OursNull
                | Variant::OursPiped
                | Variant::OursEnv
                | Variant::Std
                | Variant::Fork
        )
    }

    fn parse(s: &str) -> Variant {
        *Variant::ALL.iter().find(|v| v.name() == s).unwrap_or_else(|| panic!("unknown variant {s}"))
    }
}

/// The state a worker holds while it spawns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    /// Nothing in particular.
    Plain,
    /// `n` MiB of anonymous memory, every 4 KiB page touched (THP off for it).
    Memory(usize),
    /// `n` pidfds open.
    Fds(usize),
}

/// Everything a worker needs to spawn in every variant.
pub(crate) struct Spawner {
    exec: Exec,
    stack: Stack,
}

impl Spawner {
    pub(crate) fn new() -> Spawner {
        Spawner { exec: Exec::new(PROGRAM), stack: Stack::new() }
    }

    /// One spawn + wait; panics unless `/bin/true` exited with 0.
    pub(crate) fn once(&self, v: Variant) {
        let code = match v {
            Variant::Floor => raw::vfork_spawn_wait(&self.exec, &self.stack, ChildWork::Exec),
            Variant::FloorUnshare => raw::vfork_spawn_wait(&self.exec, &self.stack, ChildWork::Unshare),
            Variant::FloorSigQuery => raw::vfork_spawn_wait(&self.exec, &self.stack, ChildWork::SigQuery),
            Variant::FloorFreshStack => raw::vfork_spawn_wait(&self.exec, &Stack::new(), ChildWork::Exec),
            Variant::FloorEnvRebuild => raw::vfork_spawn_wait(&Exec::new(PROGRAM), &self.stack, ChildWork::Exec),
            Variant::LibBefore => raw::vfork_spawn_wait(&Exec::new(PROGRAM), &Stack::new(), ChildWork::LibraryLike),
            Variant::Ours => pidfd::Command::new(PROGRAM).spawn().expect("spawn").wait().expect("wait").code().unwrap(),
            Variant::OursNull => pidfd::Command::new(PROGRAM)
                .stdin(pidfd::Stdio::Null)
                .stdout(pidfd::Stdio::Null)
                .spawn()
                .expect("spawn")
                .wait()
                .expect("wait")
                .code()
                .unwrap(),
            Variant::OursPiped => {
                let mut child = pidfd::Command::new(PROGRAM).stdout(pidfd::Stdio::Piped).spawn().expect("spawn");
                child.wait().expect("wait").code().unwrap()
            }
            Variant::OursEnv => pidfd::Command::new(PROGRAM)
                .env("PIDFD_BENCH_ENV", "1")
                .spawn()
                .expect("spawn")
                .wait()
                .expect("wait")
                .code()
                .unwrap(),
            Variant::Std => raw::std_spawn_wait(PROGRAM, false),
            Variant::Fork => raw::fork_spawn_wait(&self.exec),
        };
        assert_eq!(code, 0, "{PROGRAM} via {v:?} exited with {code}");
    }
}

/// What a worker holds on to (dropped when it exits).
enum Held {
    Nothing,
    Memory(*mut libc::c_void, usize),
    Fds(Vec<OwnedFd>),
}

fn set_up(state: State) -> (Held, String) {
    match state {
        State::Plain => (Held::Nothing, String::from("plain")),
        State::Memory(mib) => {
            let len = mib << 20;
            let t = Instant::now();
            // SAFETY: an anonymous private mapping of `len` bytes, checked for MAP_FAILED; every
            // write stays inside it.
            let base = unsafe {
                let base = libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                );
                assert!(base != libc::MAP_FAILED, "mmap {mib} MiB: {}", std::io::Error::last_os_error());
                // 4 KiB pages, as a long-lived heap has: a fork copies one PTE per page.
                libc::madvise(base, len, libc::MADV_NOHUGEPAGE);
                let p = base.cast::<u8>();
                for off in (0..len).step_by(4096) {
                    p.add(off).write_volatile(1);
                }
                base
            };
            let rss = std::fs::read_to_string("/proc/self/status")
                .ok()
                .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(|l| l[6..].trim().to_owned()))
                .unwrap_or_default();
            (Held::Memory(base, len), format!("{mib} MiB touched in {:.1} s, VmRSS {rss}", t.elapsed().as_secs_f64()))
        }
        State::Fds(n) => {
            let me = std::process::id() as i32;
            let fds: Vec<OwnedFd> =
                (0..n).map(|_| OwnedFd::from(pidfd::PidFd::open(me).expect("open a pidfd to hold"))).collect();
            let hi = fds.iter().map(std::os::fd::AsRawFd::as_raw_fd).max().unwrap_or(0);
            (Held::Fds(fds), format!("{n} pidfds open (highest fd {hi})"))
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        match self {
            Held::Nothing => {}
            // SAFETY: our own mapping, no longer referenced.
            Held::Memory(base, len) => unsafe {
                libc::munmap(*base, *len);
            },
            Held::Fds(fds) => fds.clear(),
        }
    }
}

/// The worker's main loop: set up `state`, say "ready <description>", then for each request
/// line "<variant> <k>" run `k` spawns and answer with the elapsed nanoseconds.
pub(crate) fn worker_main(state: State) {
    let pinned = if super::pin_wanted() { raw::pin_to_last_cpu() } else { None };
    let (held, mut description) = set_up(state);
    description += &match pinned {
        Some(cpu) => format!("; pinned to CPU {cpu}"),
        None => String::from("; not pinned"),
    };
    let spawner = Spawner::new();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    writeln!(out, "ready {description}").unwrap();
    out.flush().unwrap();
    for line in std::io::stdin().lock().lines() {
        let line = line.unwrap();
        let mut words = line.split_whitespace();
        let v = Variant::parse(words.next().unwrap());
        let k: u32 = words.next().unwrap().parse().unwrap();
        let t = Instant::now();
        for _ in 0..k {
            spawner.once(v);
        }
        writeln!(out, "{}", t.elapsed().as_nanos()).unwrap();
        out.flush().unwrap();
    }
    drop(held);
}

pub(crate) fn parse_state(kind: &str, n: Option<usize>) -> State {
    match kind {
        "plain" => State::Plain,
        "memory" => State::Memory(n.expect("MiB")),
        "fds" => State::Fds(n.expect("count")),
        _ => panic!("unknown worker state {kind}"),
    }
}

/// The coordinator's handle on one worker.
pub(crate) struct Worker {
    child: std::process::Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    pub(crate) description: String,
}

impl Worker {
    pub(crate) fn start(kind: &str, n: usize) -> Worker {
        let exe = std::env::current_exe().expect("current_exe");
        let mut child = std::process::Command::new(exe)
            .args(["--worker", kind, &n.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start a worker");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let description =
            line.trim().strip_prefix("ready ").unwrap_or_else(|| panic!("worker {kind}: {line:?}")).to_owned();
        Worker { child, stdin: Some(stdin), stdout, description }
    }

    /// Runs `k` spawns of `v`; the mean nanoseconds per spawn.
    pub(crate) fn run(&mut self, v: Variant, k: u32) -> f64 {
        let stdin = self.stdin.as_mut().expect("open until drop");
        writeln!(stdin, "{} {k}", v.name()).unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        let ns: f64 = line.trim().parse().unwrap_or_else(|_| panic!("worker answered {line:?}"));
        ns / f64::from(k)
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Closing stdin ends the worker's loop.
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}
