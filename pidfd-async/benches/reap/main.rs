//! Reaping N children that exit at staggered times, for N = 100, 1000, 5000, 10000, with
//! every method measured in the same round against the floor, and checked against the targets
//! of the crate's issue.
//!
//! Methods:
//! * `floor`: a hand-written level-triggered epoll loop, `waitid(P_PIDFD, WNOHANG)`, `close`;
//! * `nested`: the floor's loop behind one more epoll level, as every reaper on tokio's public
//!   API is (a diagnostic row: the structural share of the gap to the floor, see [`nested`]);
//! * `tokio`: `tokio::process::Child::wait` in one task per child (current-thread runtime);
//! * `threads`: one blocking thread per child (`std::process::Child::wait`);
//! * `asyncpidfd`: [`pidfd_async::AsyncPidFd::wait`] in one task per child;
//! * `onetask`: the same waits, all polled from one task by a hand-written poll set that polls
//!   a wait only when its own waker fired (what `FuturesUnordered` does): `AsyncPidFd` without
//!   the cost of a tokio task per child;
//! * `exitset`: one [`pidfd_async::ExitSet`] and a `next().await` loop.
//!
//! Each (method, N) row runs in a fresh process (this binary with `--one`), so memory, fds and
//! allocator state do not leak between rows. The children are this binary too (`--child`):
//! all are spawned first, blocked reading one pipe; closing its write end releases them; child
//! `i` sleeps its delay (uniform in `[0, W)`, W = max(0.2 s, N x 1 ms): at most one exit per
//! millisecond on average, the density the latency target is defined for), stamps
//! `CLOCK_MONOTONIC` into a shared pipe and `_exit`s with `i % 256` (checked by every method).
//!
//! Before its measured row, each row's process reaps 16 children by the same method,
//! unmeasured: first-use costs (code paged in, lazy initialization, one-time feature probes)
//! are per process, not per child, and would otherwise weigh on the small rows.
//!
//! Per row: parent CPU time of the reap phase (`getrusage(RUSAGE_SELF)` delta, all threads,
//! children excluded), wall time, per-exit wake latency p50/p99 (the child's stamp to the moment
//! the method saw the status), peak memory per pending child (`VmHWM` at the end minus `VmRSS`
//! before spawning, the peak having been reset there through `/proc/self/clear_refs`, over N;
//! and the exact heap peak from a counting allocator), and the thread count while every child
//! is pending. Ratios (x floor, x tokio) are medians of per-round ratios: each round runs every
//! method back to back (the order reversed every other round), so a ratio compares runs a few
//! seconds apart on this shared machine.
//!
//! Syscalls per reaped child come from separate rows (counting must not perturb the timed
//! ones), in two regimes: staggered as the timed rows (each exit is a wake-up of its own, so
//! even the floor pays an `epoll_wait` per child and counts near 3) and burst (every child
//! released at once: wake-ups carry many exits, and the floor counts the "about 2",
//! `waitid` and `close`). Each counting row runs under `perf stat --no-inherit -D -1 --control fifo:...` and enables the
//! counters at the release and disables them once all are reaped, so exactly the parent's
//! reap-phase calls are counted (minus the 3 calls of the control handshake). Without `perf`
//! (or its syscall tracepoints) `strace -f` is attached after the spawn phase instead (phase
//! markers: `statx` of `/pidfd-bench-marker/<phase>`); strace slows the parent, so exits batch
//! more and the `epoll_wait` share comes out low. With neither: `n/a`.
//!
//! Run without `--bench` (by `cargo test --all-targets`) it only checks that every method and
//! the counting work, on 16 children. Run: `cargo bench -p pidfd-async --bench reap` (full: N = 100, 1000, 5000, 10000 with 5, 3,
//! 2, 1 timed rounds, then the counting rows; about 8 minutes here when the machine is otherwise
//! idle) or
//! `cargo bench -p pidfd-async --bench reap -- --quick` (N = 100, 1000, 3 rounds each, about a
//! minute). Environment overrides: `BENCH_N` (comma list), `BENCH_ROUNDS` (for every N),
//! `BENCH_METHODS`, `BENCH_BURST=1` (release all at once), `BENCH_THREADS_MAX` (largest N for
//! the thread-per-child method, default 1000: at 5000 and 10000 it takes minutes and costs
//! 4.7x and 9.5x the floor's CPU here), `BENCH_COUNT` (`perf`, `strace` or `none`),
//! `BENCH_COUNT_TOKIO_MAX` (largest N with a counting row for tokio, default 1000: its spawn
//! phase is the slowest, and its count is only a reference).

mod driver;
mod methods;
mod report;
mod sys;

use driver::*;
use methods::*;
use report::*;

use std::collections::BTreeMap;
use std::future::{Future, poll_fn};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use pidfd::PidFd;
use pidfd_async::{AsyncPidFd, ExitSet};

#[global_allocator]
static ALLOC: sys::Counting = sys::Counting;

#[derive(Clone, Copy, PartialEq, Eq, Debug, PartialOrd, Ord)]
enum Method {
    Floor,
    Nested,
    Tokio,
    Threads,
    AsyncPidFd,
    OneTask,
    ExitSet,
}

impl Method {
    const ALL: [Method; 7] = [
        Method::Floor,
        Method::Nested,
        Method::Tokio,
        Method::Threads,
        Method::AsyncPidFd,
        Method::OneTask,
        Method::ExitSet,
    ];
    const OURS: [Method; 3] = [Method::AsyncPidFd, Method::OneTask, Method::ExitSet];

    fn name(self) -> &'static str {
        match self {
            Method::Floor => "floor",
            Method::Nested => "nested",
            Method::Tokio => "tokio",
            Method::Threads => "threads",
            Method::AsyncPidFd => "asyncpidfd",
            Method::OneTask => "onetask",
            Method::ExitSet => "exitset",
        }
    }

    fn parse(s: &str) -> Method {
        Method::ALL.into_iter().find(|m| m.name() == s).unwrap_or_else(|| panic!("unknown method {s}"))
    }
}

/// How a counting row counts the parent's system calls.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Counter {
    None,
    Perf,
    Strace,
}

impl Counter {
    fn name(self) -> &'static str {
        match self {
            Counter::None => "none",
            Counter::Perf => "perf",
            Counter::Strace => "strace",
        }
    }

    fn parse(s: &str) -> Counter {
        match s {
            "perf" => Counter::Perf,
            "strace" => Counter::Strace,
            _ => Counter::None,
        }
    }
}

/// The syscalls named in the per-child breakdown (`perf`: one tracepoint each, where the kernel
/// has it); everything else is counted in the total only.
const NAMED: &[&str] =
    &["epoll_wait", "epoll_pwait", "epoll_pwait2", "waitid", "wait4", "epoll_ctl", "close", "read", "write", "futex"];

fn main() {
    let all: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes `--bench`; `cargo test --all-targets` (or `--benches`), which runs
    // this target too, does not.
    let measuring = all.iter().any(|a| a == "--bench");
    let args: Vec<String> = all.into_iter().filter(|a| a != "--bench").collect();
    match args.first().map(String::as_str) {
        Some("--child") => child(&args[1..]),
        Some("--one") => one(&args[1..]),
        Some("--list") => {}
        _ if !measuring => smoke(),
        Some("--quick") => driver(true),
        _ => driver(false),
    }
}

/// Without `--bench` (`cargo test --all-targets`): every method reaps a few children in both
/// regimes, each row in its own process as a measured row is, and one counting row runs where
/// `perf` works (not `strace`, whose attach a ptrace policy may refuse); nothing is timed or
/// compared. A row that hangs fails the run after two minutes instead of hanging it.
fn smoke() {
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_secs(120));
        eprintln!("reap smoke: no result after 120 s");
        std::process::exit(1);
    });
    let n = 16;
    for m in Method::ALL {
        for regime in [Regime::Staggered, Regime::Burst] {
            let f = run_row(m, n, regime.window(n).min(20_000), Counter::None, &[]);
            assert_eq!(f.get("n"), Some(&(n as f64)), "{} reaped a row of {n}: {f:?}", m.name());
        }
    }
    let (counter, events) = match perf_events() {
        Some(ev) => (Counter::Perf, ev),
        None => (Counter::None, Vec::new()),
    };
    if counter != Counter::None {
        let f = run_row(Method::ExitSet, n, 0, counter, &events);
        let total = f.get("sys.total").copied().unwrap_or(0.0);
        assert!(total >= n as f64, "{} counted the reap phase: {f:?}", counter.name());
    }
    println!(
        "reap smoke: every method works, counting by {} (run `cargo bench -p pidfd-async --bench reap` to measure)",
        counter.name()
    );
}

// ---------------------------------------------------------------------------------------------
// The child.

/// `--child <index> <delay_us>`: wait for the release (EOF on stdin), sleep, stamp, exit.
fn child(args: &[String]) -> ! {
    let index: u64 = args[0].parse().unwrap();
    let delay: u64 = args[1].parse().unwrap();
    let mut byte = [0u8; 1];
    let _ = std::io::stdin().read(&mut byte);
    if delay > 0 {
        std::thread::sleep(Duration::from_micros(delay));
    }
    let mut record = [0u8; 16];
    record[..8].copy_from_slice(&index.to_le_bytes());
    record[8..].copy_from_slice(&sys::now_ns().to_le_bytes());
    let _ = sys::write_stdout_once(&record);
    sys::exit_now((index % 256) as i32)
}

// ---------------------------------------------------------------------------------------------
// One row, in its own process.

struct Row {
    n: usize,
    exe: PathBuf,
    start_r: OwnedFd,
    start_w: Option<std::fs::File>,
    stamp_w: Option<OwnedFd>,
    delays: Vec<u64>,
    counter: Counter,
    /// `perf`'s control fifo (written) and acknowledgement fifo (read), opened once, so that
    /// a handshake inside the counted window is exactly one `write` and one `read`.
    perf_fifos: Option<(std::fs::File, BufReader<std::fs::File>)>,
    strace: Option<(Child, PathBuf)>,
    rss_pending: u64,
    threads: u64,
    cpu0: Duration,
    t0: Option<Instant>,
    cpu: Duration,
    wall: Duration,
    resolved: Vec<u64>,
}

impl Row {
    /// A row of `n` children exiting over `window` microseconds, and the read end of the pipe
    /// they stamp their exit times into (kept open until they have all exited).
    fn new(
        n: usize,
        window: u64,
        counter: Counter,
        perf_fifos: Option<(std::fs::File, BufReader<std::fs::File>)>,
    ) -> (Row, std::fs::File) {
        let (start_r, start_w) = sys::pipe().unwrap();
        let (stamp_r, stamp_w) = sys::pipe().unwrap();
        let capacity = (16 * n).next_power_of_two().clamp(65536, 1 << 20);
        assert!(16 * n <= capacity, "N too large for one stamp pipe");
        sys::set_pipe_size(stamp_w.as_fd(), capacity as i32).unwrap();
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let delays = (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                if window == 0 { 0 } else { seed % window }
            })
            .collect();
        let row = Row {
            n,
            exe: std::env::current_exe().unwrap(),
            start_r: start_r.into(),
            start_w: Some(start_w),
            stamp_w: Some(stamp_w.into()),
            delays,
            counter,
            perf_fifos,
            strace: None,
            rss_pending: 0,
            threads: 0,
            cpu0: Duration::ZERO,
            t0: None,
            cpu: Duration::ZERO,
            wall: Duration::ZERO,
            resolved: vec![0; n],
        };
        (row, stamp_r)
    }

    fn command(&self, i: usize) -> Command {
        let mut c = Command::new(&self.exe);
        c.args(["--child", &i.to_string(), &self.delays[i].to_string()])
            .stdin(Stdio::from(self.start_r.try_clone().unwrap()))
            .stdout(Stdio::from(self.stamp_w.as_ref().unwrap().try_clone().unwrap()))
            .stderr(Stdio::null());
        c
    }

    /// Spawns child `i` for every `i`, from two threads from N = 1000 on (the spawn phase is
    /// not measured, and it is most of a row's time), in index order in the result.
    fn spawn_all<T: Send>(&self, spawn: impl Fn(usize) -> T + Sync) -> Vec<T> {
        if self.n < 1000 {
            return (0..self.n).map(&spawn).collect();
        }
        let spawn = &spawn;
        let (even, odd) = std::thread::scope(|s| {
            let odd = s.spawn(move || (1..self.n).step_by(2).map(spawn).collect::<Vec<T>>());
            let even: Vec<T> = (0..self.n).step_by(2).map(spawn).collect();
            (even, odd.join().unwrap())
        });
        let (mut even, mut odd) = (even.into_iter(), odd.into_iter());
        (0..self.n).map(|i| if i % 2 == 0 { even.next() } else { odd.next() }.unwrap()).collect()
    }

    fn spawn_std(&self) -> Vec<Child> {
        self.spawn_all(|i| self.command(i).spawn().expect("spawn child"))
    }

    /// After the spawn phase: drop our copy of the stamp pipe's write end; attach strace.
    fn spawned(&mut self) {
        self.stamp_w = None;
        if self.counter != Counter::Strace {
            return;
        }
        let path = std::env::temp_dir().join(format!("pidfd-bench-strace-{}.txt", std::process::id()));
        let strace = Command::new("strace")
            .args(["-f", "-qq", "-o"])
            .arg(&path)
            .args(["-p", &std::process::id().to_string()])
            .stdin(Stdio::null())
            .spawn()
            .expect("run strace");
        let start = Instant::now();
        while status_field("TracerPid") == 0 {
            assert!(start.elapsed() < Duration::from_secs(10), "strace did not attach");
            std::thread::sleep(Duration::from_millis(5));
        }
        // Let strace attach to every thread.
        std::thread::sleep(Duration::from_millis(50));
        self.strace = Some((strace, path));
    }

    /// A phase marker that strace shows.
    fn mark(&self, phase: &str) {
        if self.counter == Counter::Strace {
            let _ = std::fs::metadata(format!("/pidfd-bench-marker/{phase}"));
        }
    }

    /// Every child is registered and waited for.
    fn pending(&mut self) {
        self.rss_pending = status_field("VmRSS");
        self.threads = status_field("Threads");
        self.mark("reap");
    }

    /// Sends `command` to `perf` and waits for its acknowledgement.
    fn perf(&mut self, command: &str) {
        if let Some((ctl, ack)) = &mut self.perf_fifos {
            ctl.write_all(command.as_bytes()).unwrap();
            let mut line = String::new();
            ack.read_line(&mut line).unwrap();
            // perf writes "ack\n\0": the NUL ends up in front of the next answer.
            assert_eq!(line.trim_matches(|c: char| c == '\0' || c.is_whitespace()), "ack", "perf answered {line:?}");
        }
    }

    fn release(&mut self) {
        self.cpu0 = sys::cpu_self();
        self.t0 = Some(Instant::now());
        self.perf("enable\n");
        self.start_w = None;
    }

    fn done(&mut self) {
        self.perf("disable\n");
        self.cpu = sys::cpu_self() - self.cpu0;
        self.wall = self.t0.unwrap().elapsed();
        self.mark("done");
    }

    fn check(&mut self, i: usize, status: ExitStatus) {
        self.resolved[i] = sys::now_ns();
        assert_eq!(status.code(), Some((i % 256) as i32), "child {i}: {status:?}");
    }
}

/// A field of `/proc/self/status` (kB for sizes).
fn status_field(key: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = s.lines().find(|l| l.starts_with(key) && l[key.len()..].starts_with(':')).unwrap();
    line[key.len() + 1..].split_whitespace().next().unwrap().parse().unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// Children reaped, unmeasured, by the method before its measured row.
const WARM_UP: usize = 16;

/// Spawns `row`'s children and reaps them by `method`.
fn run_method(method: Method, row: &mut Row, rt: &tokio::runtime::Runtime) {
    match method {
        Method::Floor => floor(row),
        Method::Nested => nested(row),
        Method::Tokio => with_tokio(row, rt),
        Method::Threads => threads(row),
        Method::AsyncPidFd => asyncpidfd(row, rt),
        Method::OneTask => onetask(row, rt),
        Method::ExitSet => exitset(row, rt),
    }
}

/// `--one <method> <n> <window_us> <counter> [<perf ctl fifo> <perf ack fifo>]`.
fn one(args: &[String]) {
    let method = Method::parse(&args[0]);
    let n: usize = args[1].parse().unwrap();
    let window: u64 = args[2].parse().unwrap();
    let counter = Counter::parse(&args[3]);
    let perf_fifos = (counter == Counter::Perf).then(|| {
        let ctl = std::fs::OpenOptions::new().write(true).open(&args[4]).expect("perf's control fifo");
        (ctl, BufReader::new(std::fs::File::open(&args[5]).expect("perf's ack fifo")))
    });
    sys::raise_nofile();
    // Everything that is not per child in the method's own sense is made before the baseline:
    // the runtime (floor and threads leave it idle), the pipes, the row's bookkeeping. Then
    // the method reaps a few children unmeasured, so that its first-use costs (code paged in,
    // lazily initialized state, one-time feature probes) are not charged to the measured row.
    let rt = runtime();
    {
        let (mut warm, _stamps) = Row::new(WARM_UP, 0, Counter::None, None);
        run_method(method, &mut warm, &rt);
    }
    let (mut row, mut stamp_r) = Row::new(n, window, counter, perf_fifos);
    let mut stamps = vec![0u8; 16 * n];
    let rss_before = status_field("VmRSS");
    // Reset the peak RSS (VmHWM) to the current RSS (Linux 4.0+).
    let hwm_reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let heap_before = sys::heap_now();
    sys::reset_heap_peak();
    run_method(method, &mut row, &rt);
    let hwm = status_field("VmHWM");
    let heap_peak = sys::heap_peak().saturating_sub(heap_before);
    let mut sys_fields = String::new();
    if let Some((mut strace, path)) = row.strace.take() {
        PidFd::from_child(&strace).unwrap().send_signal(libc::SIGINT).unwrap();
        let _ = strace.wait();
        let (reap, names) = count_strace(&std::fs::read_to_string(&path).unwrap());
        let _ = std::fs::remove_file(&path);
        sys_fields =
            format!(" sys.total={reap}{}", names.iter().map(|(k, v)| format!(" sys.{k}={v}")).collect::<String>());
    }
    stamp_r.read_exact(&mut stamps).expect("every child stamped");
    let mut lat: Vec<u64> = stamps
        .chunks_exact(16)
        .map(|r| {
            let i = u64::from_le_bytes(r[..8].try_into().unwrap()) as usize;
            let t = u64::from_le_bytes(r[8..].try_into().unwrap());
            row.resolved[i].saturating_sub(t)
        })
        .collect();
    lat.sort_unstable();
    let pct = |p: usize| lat[(lat.len() * p / 100).min(lat.len() - 1)] / 1000;
    println!(
        "RESULT method={} n={n} window_us={window} cpu_us={} wall_us={} p50_us={} p99_us={} rss_before_kib={rss_before} \
         rss_pending_kib={} hwm_kib={hwm} hwm_reset={} heap_peak_b={heap_peak} threads={}{sys_fields}",
        method.name(),
        row.cpu.as_micros(),
        row.wall.as_micros(),
        pct(50),
        pct(99),
        row.rss_pending,
        u8::from(hwm_reset),
        row.threads,
    );
}

/// The reap phase's calls (between the `reap` and `done` markers) of the traced process's
/// threads, in total and by name.
fn count_strace(trace: &str) -> (u64, BTreeMap<String, u64>) {
    let (mut in_reap, mut reap) = (false, 0);
    let mut names = BTreeMap::new();
    for line in trace.lines() {
        if line.contains("/pidfd-bench-marker/") {
            in_reap = line.contains("marker/reap");
            continue;
        }
        let rest = line.split_once(' ').map_or("", |(_, r)| r.trim_start());
        if !in_reap || rest.starts_with("<...") || rest.starts_with("+++") || rest.starts_with("---") || rest.is_empty()
        {
            continue;
        }
        reap += 1;
        let name = rest.split('(').next().unwrap_or("?").to_owned();
        if NAMED.contains(&name.as_str()) {
            *names.entry(name).or_insert(0) += 1;
        }
    }
    (reap, names)
}
