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

mod sys;

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

/// The raw loops' pidfds (one per child, by index) and how many are still to reap.
struct RawPidfds {
    fds: Vec<Option<OwnedFd>>,
    left: usize,
}

impl RawPidfds {
    /// Opens a pidfd for every child and hands it to `add` with its index.
    fn open(children: &[Child], add: impl Fn(RawFd, u64)) -> RawPidfds {
        let fds: Vec<Option<OwnedFd>> = children
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let fd = sys::pidfd_open(c.id() as i32).unwrap();
                add(fd.as_raw_fd(), i as u64);
                Some(fd)
            })
            .collect();
        RawPidfds { left: fds.len(), fds }
    }

    /// Reaps, checks and closes each child of `events` that has exited.
    fn reap(&mut self, row: &mut Row, events: &[libc::epoll_event]) {
        for ev in events {
            let i = ev.u64 as usize;
            let Some(fd) = self.fds[i].as_ref() else { continue };
            if let Some((code, si_code)) = sys::waitid_pidfd_nohang(fd.as_raw_fd()).unwrap() {
                row.resolved[i] = sys::now_ns();
                assert!(si_code == sys::CLD_EXITED && code == (i % 256) as i32, "child {i}: {si_code} {code}");
                self.fds[i] = None;
                self.left -= 1;
            }
        }
    }
}

fn floor(row: &mut Row) {
    let children = row.spawn_std();
    row.spawned();
    row.mark("setup");
    let ep = sys::Epoll::new().unwrap();
    let mut pidfds = RawPidfds::open(&children, |fd, i| ep.add(fd, i).unwrap());
    row.pending();
    row.release();
    let mut events = sys::event_buffer(256);
    while pidfds.left > 0 {
        let k = ep.wait(&mut events).unwrap();
        pidfds.reap(row, &events[..k]);
    }
    row.done();
    drop(children);
}

/// The floor's loop behind one more epoll level: the pidfds in an inner instance
/// (edge-triggered, as this crate's), the inner instance in an outer one (edge-triggered, as in
/// tokio's reactor); a blocking `epoll_wait` on the outer, then non-blocking ones on the inner
/// until it is drained. A reaper on tokio's public API either sits behind such a level (one
/// more `epoll_wait` per wake-up, and the kernel polls each ready pidfd once per level) or
/// puts each pidfd in tokio's instance (an `epoll_ctl(DEL)` per child, as tokio::process):
/// this row is the part of the gap to the floor that is not user-space work.
fn nested(row: &mut Row) {
    let children = row.spawn_std();
    row.spawned();
    row.mark("setup");
    let outer = sys::Epoll::new().unwrap();
    let inner = sys::Epoll::new().unwrap();
    outer.add_edge(inner.fd(), 0).unwrap();
    let mut pidfds = RawPidfds::open(&children, |fd, i| inner.add_edge(fd, i).unwrap());
    row.pending();
    row.release();
    let mut one = sys::event_buffer(1);
    let mut events = sys::event_buffer(256);
    while pidfds.left > 0 {
        outer.wait(&mut one).unwrap();
        loop {
            let k = inner.wait_now(&mut events).unwrap();
            pidfds.reap(row, &events[..k]);
            if k < events.len() {
                break;
            }
        }
    }
    row.done();
    drop(children);
}

/// One task per child, spawned as each child's future is made (never collected first: the
/// peak memory counts each future once), and a way to wait until every one has polled its wait.
struct Tasks {
    started: Arc<AtomicUsize>,
    handles: Vec<tokio::task::JoinHandle<(usize, u64, ExitStatus)>>,
}

impl Tasks {
    fn new(n: usize) -> Tasks {
        Tasks { started: Arc::new(AtomicUsize::new(0)), handles: Vec::with_capacity(n) }
    }

    /// Spawns `f` (in the runtime in context).
    fn spawn<F>(&mut self, f: F)
    where
        F: std::future::Future<Output = (usize, ExitStatus)> + Send + 'static,
    {
        let handle = self.spawn_handle(f);
        self.handles.push(handle);
    }

    /// Spawns `f` (in the runtime in context) and returns its handle.
    fn spawn_handle<F>(&self, f: F) -> tokio::task::JoinHandle<(usize, u64, ExitStatus)>
    where
        F: std::future::Future<Output = (usize, ExitStatus)> + Send + 'static,
    {
        let started = Arc::clone(&self.started);
        tokio::spawn(async move {
            started.fetch_add(1, Ordering::Relaxed);
            let (i, status) = f.await;
            (i, sys::now_ns(), status)
        })
    }

    /// Yields until every task has started (and so polled its wait once).
    async fn all_started(&self) {
        while self.started.load(Ordering::Relaxed) < self.handles.len() {
            tokio::task::yield_now().await;
        }
    }

    /// Awaits every task and checks its status.
    async fn join(self, row: &mut Row) {
        for h in self.handles {
            let (i, t, status) = h.await.unwrap();
            row.check(i, status);
            row.resolved[i] = t;
        }
    }
}

fn with_tokio(row: &mut Row, rt: &tokio::runtime::Runtime) {
    // tokio registers each child's pidfd inside `spawn`: its task is spawned right away (the
    // handles come back in index order).
    let mut tasks = Tasks::new(row.n);
    tasks.handles = row.spawn_all(|i| {
        let _enter = rt.enter();
        let mut c = tokio::process::Command::from(row.command(i)).spawn().expect("spawn");
        tasks.spawn_handle(async move { (i, c.wait().await.unwrap()) })
    });
    row.spawned();
    row.mark("setup");
    rt.block_on(async {
        tasks.all_started().await;
        row.pending();
        row.release();
        tasks.join(row).await;
        row.done();
    });
}

fn asyncpidfd(row: &mut Row, rt: &tokio::runtime::Runtime) {
    let children = row.spawn_std();
    row.spawned();
    row.mark("setup");
    rt.block_on(async {
        let mut tasks = Tasks::new(row.n);
        for (i, c) in children.iter().enumerate() {
            let fd = AsyncPidFd::new(PidFd::from_child(c).unwrap()).unwrap();
            tasks.spawn(async move { (i, fd.wait().await.unwrap()) });
        }
        tasks.all_started().await;
        row.pending();
        row.release();
        tasks.join(row).await;
        row.done();
    });
    drop(children);
}

/// Futures polled from one task, each only when its own waker fired.
struct PollSet<F> {
    futures: Vec<Option<Pin<Box<F>>>>,
    wakers: Vec<Waker>,
    woken: Arc<Woken>,
    batch: Vec<usize>,
    left: usize,
}

/// The indices whose wakers fired since the last look, and the driving task's waker.
#[derive(Default)]
struct Woken(Mutex<(Vec<usize>, Option<Waker>)>);

struct Slot {
    index: usize,
    woken: Arc<Woken>,
}

impl Wake for Slot {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let task = {
            let mut w = self.woken.0.lock().unwrap();
            w.0.push(self.index);
            w.1.take()
        };
        if let Some(task) = task {
            task.wake();
        }
    }
}

impl<F: Future> PollSet<F> {
    /// Every future, each to be polled once by the first `poll`.
    fn new(futures: Vec<F>) -> PollSet<F> {
        let n = futures.len();
        let woken = Arc::new(Woken::default());
        woken.0.lock().unwrap().0.extend(0..n);
        let wakers = (0..n).map(|index| Waker::from(Arc::new(Slot { index, woken: Arc::clone(&woken) }))).collect();
        PollSet {
            futures: futures.into_iter().map(|f| Some(Box::pin(f))).collect(),
            wakers,
            woken,
            batch: Vec::new(),
            left: n,
        }
    }

    /// Polls the futures whose wakers fired, passing each output to `done`, until none is left
    /// woken: `Ready` once every future has completed.
    fn poll(&mut self, cx: &mut Context<'_>, done: &mut impl FnMut(F::Output)) -> Poll<()> {
        loop {
            std::mem::swap(&mut self.batch, &mut self.woken.0.lock().unwrap().0);
            if self.batch.is_empty() {
                let mut w = self.woken.0.lock().unwrap();
                if w.0.is_empty() {
                    w.1 = Some(cx.waker().clone());
                    return if self.left == 0 { Poll::Ready(()) } else { Poll::Pending };
                }
                continue;
            }
            for i in self.batch.drain(..) {
                let Some(f) = self.futures[i].as_mut() else { continue };
                if let Poll::Ready(out) = f.as_mut().poll(&mut Context::from_waker(&self.wakers[i])) {
                    self.futures[i] = None;
                    self.left -= 1;
                    done(out);
                }
            }
        }
    }
}

fn onetask(row: &mut Row, rt: &tokio::runtime::Runtime) {
    let children = row.spawn_std();
    row.spawned();
    row.mark("setup");
    rt.block_on(async {
        let waits: Vec<_> = children
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let fd = AsyncPidFd::new(PidFd::from_child(c).unwrap()).unwrap();
                async move { (i, fd.wait().await.unwrap()) }
            })
            .collect();
        let mut set = PollSet::new(waits);
        // Every wait polled once (and so registered) before the release, as the task rows do.
        let mut early = Vec::new();
        poll_fn(|cx| {
            let _ = set.poll(cx, &mut |out| early.push(out));
            Poll::Ready(())
        })
        .await;
        assert!(early.is_empty(), "a child exited before the release");
        row.pending();
        row.release();
        poll_fn(|cx| set.poll(cx, &mut |(i, status)| row.check(i, status))).await;
        row.done();
    });
    drop(children);
}

fn exitset(row: &mut Row, rt: &tokio::runtime::Runtime) {
    let children = row.spawn_std();
    row.spawned();
    row.mark("setup");
    rt.block_on(async {
        let mut set = ExitSet::new().unwrap();
        for (i, c) in children.iter().enumerate() {
            set.insert(i, PidFd::from_child(c).unwrap()).unwrap();
        }
        row.pending();
        row.release();
        while let Some((i, status)) = set.next().await {
            row.check(i, status.unwrap());
        }
        row.done();
    });
    drop(children);
}

fn threads(row: &mut Row) {
    let children = row.spawn_std();
    row.spawned();
    row.mark("setup");
    let n = row.n;
    let resolved: Arc<Vec<AtomicU64>> = Arc::new((0..n).map(|_| AtomicU64::new(0)).collect());
    let codes: Arc<Vec<AtomicU64>> = Arc::new((0..n).map(|_| AtomicU64::new(u64::MAX)).collect());
    let started = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = children
        .into_iter()
        .enumerate()
        .map(|(i, mut c)| {
            let (resolved, codes, started) = (Arc::clone(&resolved), Arc::clone(&codes), Arc::clone(&started));
            std::thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn(move || {
                    started.fetch_add(1, Ordering::Relaxed);
                    let status = c.wait().unwrap();
                    resolved[i].store(sys::now_ns(), Ordering::Relaxed);
                    codes[i].store(status.code().map_or(u64::MAX - 1, |c| c as u64), Ordering::Relaxed);
                })
                .expect("spawn a thread")
        })
        .collect();
    while started.load(Ordering::Relaxed) < n {
        std::thread::sleep(Duration::from_millis(1));
    }
    // Let the last threads enter their wait.
    std::thread::sleep(Duration::from_millis(20));
    row.pending();
    row.release();
    for h in handles {
        h.join().unwrap();
    }
    row.done();
    for i in 0..n {
        row.resolved[i] = resolved[i].load(Ordering::Relaxed);
        assert_eq!(codes[i].load(Ordering::Relaxed), (i % 256) as u64, "child {i}");
    }
}

// ---------------------------------------------------------------------------------------------
// The driver.

type Fields = BTreeMap<String, f64>;

fn env_or(key: &str, default: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| default.to_owned())
}

/// The `perf` events that work here: the total and the named syscalls the kernel has a
/// tracepoint for. `None` without a working `perf` (or without syscall tracepoints).
fn perf_events() -> Option<Vec<String>> {
    let works = |ev: &str| {
        Command::new("perf")
            .args(["stat", "--no-inherit", "-x,", "-e", ev, "--", "true"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !works("raw_syscalls:sys_enter") {
        return None;
    }
    let mut events = vec!["raw_syscalls:sys_enter".to_owned()];
    events.extend(NAMED.iter().map(|n| format!("syscalls:sys_enter_{n}")).filter(|e| works(e)));
    Some(events)
}

fn strace_works() -> bool {
    Command::new("strace").arg("-V").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

fn run_row(method: Method, n: usize, window: u64, counter: Counter, perf_events: &[String]) -> Fields {
    let exe = std::env::current_exe().unwrap();
    let row_args = |extra: &[&Path]| {
        let mut a: Vec<std::ffi::OsString> =
            ["--one", method.name(), &n.to_string(), &window.to_string(), counter.name()]
                .iter()
                .map(Into::into)
                .collect();
        a.extend(extra.iter().map(|p| p.as_os_str().to_owned()));
        a
    };
    let dir = std::env::temp_dir().join(format!("pidfd-bench-{}-{}-{n}", std::process::id(), method.name()));
    let mut cmd;
    if counter == Counter::Perf {
        std::fs::create_dir_all(&dir).unwrap();
        let (ctl, ack, out) = (dir.join("ctl"), dir.join("ack"), dir.join("perf.csv"));
        for f in [&ctl, &ack] {
            let _ = std::fs::remove_file(f);
            sys::mkfifo(f).unwrap();
        }
        cmd = Command::new("perf");
        cmd.args(["stat", "--no-inherit", "-x,", "-D", "-1", "-e", &perf_events.join(",")])
            .arg("-o")
            .arg(&out)
            .arg(format!("--control=fifo:{},{}", ctl.display(), ack.display()))
            .arg("--")
            .arg(&exe)
            .args(row_args(&[&ctl, &ack]));
    } else {
        cmd = Command::new(&exe);
        cmd.args(row_args(&[]));
    }
    // perf reports every enable and disable on stderr: shown only if the row fails.
    let out = cmd
        .stderr(if counter == Counter::Perf { Stdio::piped() } else { Stdio::inherit() })
        .output()
        .expect("run a row");
    let perf_csv = (counter == Counter::Perf).then(|| std::fs::read_to_string(dir.join("perf.csv")));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "row {} N={n} failed: {}\n{}",
        method.name(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("RESULT ")).expect("a RESULT line");
    let mut fields: Fields = line
        .split_whitespace()
        .skip(1)
        .filter_map(|kv| kv.split_once('='))
        .filter_map(|(k, v)| v.parse().ok().map(|v| (k.to_owned(), v)))
        .collect();
    if counter == Counter::Perf {
        let csv = perf_csv.unwrap().expect("perf output");
        for l in csv.lines() {
            let cols: Vec<&str> = l.split(',').collect();
            let (Some(value), Some(event)) = (cols.first().and_then(|v| v.parse::<f64>().ok()), cols.get(2)) else {
                continue;
            };
            let name = if *event == "raw_syscalls:sys_enter" {
                "total"
            } else {
                event.strip_prefix("syscalls:sys_enter_").unwrap_or(event)
            };
            fields.insert(format!("sys.{name}"), value);
        }
        // The control handshake inside the counted window: the `write` of "disable" and the
        // `read` of its acknowledgement; the `close` of the release pipe is the release itself
        // and stays, as it does for every method.
        for (k, d) in [("sys.total", 2.0), ("sys.write", 1.0), ("sys.read", 1.0)] {
            if let Some(v) = fields.get_mut(k) {
                *v = (*v - d).max(0.0);
            }
        }
    }
    fields
}

fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 0 { (v[m - 1] + v[m]) / 2.0 } else { v[m] }
}

/// When the children exit after the release.
#[derive(Clone, Copy, PartialEq, Eq, Debug, PartialOrd, Ord)]
enum Regime {
    /// Child `i` exits after a delay uniform in `[0, W)`, W = max(0.2 s, N x 1 ms): about one
    /// exit per millisecond, each woken on its own (the floor pays one `epoll_wait` per exit).
    Staggered,
    /// All at once: wake-ups carry many exits (the floor's `epoll_wait` is amortized, and its
    /// cost per child is the `waitid` and the `close`, about 2).
    Burst,
}

impl Regime {
    fn name(self) -> &'static str {
        match self {
            Regime::Staggered => "staggered",
            Regime::Burst => "burst",
        }
    }

    /// The window of the children's exit delays, in microseconds.
    fn window(self, n: usize) -> u64 {
        match self {
            Regime::Staggered => (n as u64 * 1000).max(200_000),
            Regime::Burst => 0,
        }
    }

    /// The regime of the timed rows (`BENCH_BURST=1`: burst).
    fn timed() -> Regime {
        if env_or("BENCH_BURST", "0") == "1" { Regime::Burst } else { Regime::Staggered }
    }
}

/// The counting rows: `counted[regime][n][method]`.
type Counted = BTreeMap<Regime, BTreeMap<usize, BTreeMap<Method, Fields>>>;

struct Plan {
    ns: Vec<usize>,
    /// Timed rounds per N: more where rows are cheap.
    rounds: BTreeMap<usize, usize>,
    /// The largest N at which tokio gets a counting row (its spawn phase is the slowest).
    count_tokio_max: usize,
    methods: Vec<Method>,
    threads_max: usize,
    counter: Counter,
    perf_events: Vec<String>,
}

impl Plan {
    /// The regimes of the counting rows: the timed rows' own, then bursts (the regime where the
    /// floor's count is the "about 2").
    fn count_regimes(&self) -> Vec<Regime> {
        let mut regimes = vec![Regime::timed(), Regime::Burst];
        regimes.dedup();
        regimes
    }

    fn new(quick: bool) -> Plan {
        let ns = env_or("BENCH_N", if quick { "100,1000" } else { "100,1000,5000,10000" });
        let fixed_rounds: Option<usize> = std::env::var("BENCH_ROUNDS").ok().map(|r| r.parse().unwrap());
        let list = env_or("BENCH_METHODS", "floor,nested,tokio,threads,asyncpidfd,onetask,exitset");
        let mut methods: Vec<Method> = list.split(',').map(|m| Method::parse(m.trim())).collect();
        for needed in [Method::Floor, Method::Tokio] {
            if !methods.contains(&needed) {
                methods.push(needed);
            }
        }
        methods.sort();
        methods.dedup();
        let (counter, perf_events) = match env_or("BENCH_COUNT", "perf").as_str() {
            "none" => (Counter::None, Vec::new()),
            "strace" if strace_works() => (Counter::Strace, Vec::new()),
            "strace" => (Counter::None, Vec::new()),
            _ => match perf_events() {
                Some(ev) => (Counter::Perf, ev),
                None if strace_works() => (Counter::Strace, Vec::new()),
                None => (Counter::None, Vec::new()),
            },
        };
        let ns: Vec<usize> = ns.split(',').map(|s| s.trim().parse().unwrap()).collect();
        let rounds = ns
            .iter()
            .map(|&n| {
                // Rows at 10000 take 20 s (60 s for tokio, whose spawn slows with the pidfds
                // it holds): one timed round there keeps a full run near 8 minutes.
                let default = match (quick, n) {
                    (true, _) => 3,
                    (false, ..=100) => 5,
                    (false, ..=1000) => 3,
                    (false, ..=5000) => 2,
                    _ => 1,
                };
                (n, fixed_rounds.unwrap_or(default))
            })
            .collect();
        Plan {
            ns,
            rounds,
            count_tokio_max: env_or("BENCH_COUNT_TOKIO_MAX", "1000").parse().unwrap(),
            methods,
            threads_max: env_or("BENCH_THREADS_MAX", "1000").parse().unwrap(),
            counter,
            perf_events,
        }
    }
}

fn driver(quick: bool) {
    let plan = Plan::new(quick);
    let started = Instant::now();
    let elapsed = || started.elapsed().as_secs_f64();
    // rows[n][method] = one Fields per round; counted[regime][n][method] = the counting row
    let mut rows: BTreeMap<usize, BTreeMap<Method, Vec<Fields>>> = BTreeMap::new();
    let mut counted: Counted = BTreeMap::new();
    let max_rounds = plan.rounds.values().copied().max().unwrap_or(0);
    for round in 0..max_rounds {
        for &n in plan.ns.iter().filter(|n| round < plan.rounds[n]) {
            let mut order: Vec<Method> =
                plan.methods.iter().copied().filter(|&m| m != Method::Threads || n <= plan.threads_max).collect();
            if round % 2 == 1 {
                order.reverse();
            }
            for m in order {
                let f = run_row(m, n, Regime::timed().window(n), Counter::None, &[]);
                eprintln!(
                    "round {round} N={n:>5} {:<10} cpu {:>8.1} ms  p50 {:>6} us  p99 {:>7} us  ({:.0} s)",
                    m.name(),
                    f["cpu_us"] / 1000.0,
                    f["p50_us"],
                    f["p99_us"],
                    elapsed()
                );
                rows.entry(n).or_default().entry(m).or_default().push(f);
            }
        }
    }
    if plan.counter != Counter::None {
        for regime in plan.count_regimes() {
            for &n in &plan.ns {
                for &m in plan
                    .methods
                    .iter()
                    .filter(|&&m| m != Method::Threads && (m != Method::Tokio || n <= plan.count_tokio_max))
                {
                    let f = run_row(m, n, regime.window(n), plan.counter, &plan.perf_events);
                    eprintln!(
                        "count ({}, {}) N={n:>5} {:<10} {:.2} calls per child  ({:.0} s)",
                        plan.counter.name(),
                        regime.name(),
                        m.name(),
                        f.get("sys.total").copied().unwrap_or(f64::NAN) / n as f64,
                        elapsed()
                    );
                    counted.entry(regime).or_default().entry(n).or_default().insert(m, f);
                }
            }
        }
    }
    report(&plan, &rows, &counted);
    println!("total {:.0} s", elapsed());
}

/// One method's numbers at one N.
#[derive(Default, Clone, Copy)]
struct Summary {
    cpu_ms: f64,
    cpu_x_floor: f64,
    cpu_x_tokio: f64,
    /// In the timed rows' regime.
    syscalls: f64,
    /// In a burst, when the timed rows are staggered.
    syscalls_burst: f64,
    p50: f64,
    p50_x_floor: f64,
    p99: f64,
    p99_x_floor: f64,
    hwm_kib: f64,
    heap_b: f64,
    threads: f64,
    wall_ms: f64,
}

fn summarize(n: usize, rows: &[Fields], floor: &[Fields], tokio: &[Fields], count: [Option<&Fields>; 2]) -> Summary {
    let ratio =
        |base: &[Fields], key: &str| median(rows.iter().zip(base).map(|(r, b)| r[key] / b[key].max(1.0)).collect());
    let med = |key: &str| median(rows.iter().map(|r| r[key]).collect());
    let per_child = |f: &dyn Fn(&Fields) -> f64| median(rows.iter().map(|r| f(r) / n as f64).collect());
    let per_call = |c: Option<&Fields>| c.and_then(|c| c.get("sys.total")).map_or(f64::NAN, |t| t / n as f64);
    Summary {
        cpu_ms: med("cpu_us") / 1000.0,
        cpu_x_floor: ratio(floor, "cpu_us"),
        cpu_x_tokio: ratio(tokio, "cpu_us"),
        syscalls: per_call(count[0]),
        syscalls_burst: per_call(count[1]),
        p50: med("p50_us"),
        p50_x_floor: ratio(floor, "p50_us"),
        p99: med("p99_us"),
        p99_x_floor: ratio(floor, "p99_us"),
        hwm_kib: per_child(&|r| r["hwm_kib"] - r["rss_before_kib"]),
        heap_b: per_child(&|r| r["heap_peak_b"]),
        threads: med("threads"),
        wall_ms: med("wall_us") / 1000.0,
    }
}

fn fmt(v: f64, decimals: usize) -> String {
    if v.is_finite() { format!("{v:.decimals$}") } else { "n/a".to_owned() }
}

fn report(plan: &Plan, rows: &BTreeMap<usize, BTreeMap<Method, Vec<Fields>>>, counted: &Counted) {
    let timed = Regime::timed();
    println!();
    println!(
        "Reaping N children exiting over W = max(0.2 s, N x 1 ms){}; timed rounds per N: {}; ratios are medians of \
         per-round ratios; syscalls per reaped child from one counting row per (method, N, regime) by {}.",
        if timed == Regime::Burst { " (burst: all at once)" } else { "" },
        plan.rounds.iter().map(|(n, r)| format!("{n}: {r}")).collect::<Vec<_>>().join(", "),
        match plan.counter {
            Counter::Perf => "perf (exact, the reap phase only)",
            Counter::Strace => "strace (slows the parent: exits batch more, epoll_wait share low)",
            Counter::None => "nothing (n/a: neither perf nor strace works here)",
        }
    );
    let mut sums: BTreeMap<Method, Vec<(usize, Summary)>> = BTreeMap::new();
    for (&n, by_method) in rows {
        println!();
        println!("N = {n}");
        println!(
            "| method | parent CPU ms | CPU x floor | CPU x tokio | syscalls / child | syscalls / child, burst | p50 us | p50 x floor | p99 us | p99 x floor | peak KiB / pending child | heap B / child | threads | wall ms |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        let floor = &by_method[&Method::Floor];
        let tokio = &by_method[&Method::Tokio];
        for (&m, r) in by_method {
            let count = |regime: Regime| counted.get(&regime).and_then(|c| c.get(&n)).and_then(|c| c.get(&m));
            let burst = if timed == Regime::Burst { None } else { count(Regime::Burst) };
            let s = summarize(n, r, floor, tokio, [count(timed), burst]);
            sums.entry(m).or_default().push((n, s));
            println!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                m.name(),
                fmt(s.cpu_ms, 1),
                fmt(s.cpu_x_floor, 2),
                fmt(s.cpu_x_tokio, 2),
                fmt(s.syscalls, 2),
                fmt(s.syscalls_burst, 2),
                fmt(s.p50, 0),
                fmt(s.p50_x_floor, 2),
                fmt(s.p99, 0),
                fmt(s.p99_x_floor, 2),
                fmt(s.hwm_kib, 2),
                fmt(s.heap_b, 0),
                fmt(s.threads, 0),
                fmt(s.wall_ms, 0),
            );
        }
        for (regime, c) in counted.iter().filter_map(|(r, by_n)| by_n.get(&n).map(|c| (r, c))) {
            println!();
            for (m, f) in c {
                let mut by_name: Vec<(&str, f64)> = f
                    .iter()
                    .filter_map(|(k, &v)| k.strip_prefix("sys.").map(|k| (k, v)))
                    .filter(|(k, _)| *k != "total")
                    .collect();
                by_name.sort_by(|a, b| b.1.total_cmp(&a.1));
                let named: f64 = by_name.iter().map(|(_, v)| v).sum();
                let other = f.get("sys.total").map_or(0.0, |t| t - named);
                let cells: Vec<String> = by_name
                    .iter()
                    .filter(|(_, v)| *v > 0.0)
                    .map(|(k, v)| format!("{k} {:.2}", v / n as f64))
                    .chain(
                        (other > 0.0 && plan.counter == Counter::Perf)
                            .then(|| format!("other {:.2}", other / n as f64)),
                    )
                    .collect();
                println!("  syscalls per child, {:<9} {:<10} {}", regime.name(), m.name(), cells.join(", "));
            }
        }
    }
    targets(&sums, timed);
}

fn verdict(ok: bool) -> &'static str {
    if ok { "PASS" } else { "MISS" }
}

/// The targets of the crate's issue, for each of our methods.
fn targets(sums: &BTreeMap<Method, Vec<(usize, Summary)>>, timed: Regime) {
    println!();
    println!("Targets (issue 6), per method of this crate:");
    for m in Method::OURS {
        let Some(v) = sums.get(&m) else { continue };
        let cells = |f: &dyn Fn(&Summary) -> f64, d: usize| {
            v.iter().map(|(n, s)| format!("N={n}: {}", fmt(f(s), d))).collect::<Vec<_>>().join("  ")
        };
        let all = |f: &dyn Fn(&Summary) -> bool| v.iter().all(|(_, s)| f(s));
        println!("  {}:", m.name());
        println!(
            "    {} parent CPU <= 1.15 x floor at every N      {}",
            verdict(all(&|s| s.cpu_x_floor <= 1.15)),
            cells(&|s| s.cpu_x_floor, 2)
        );
        println!(
            "    {} parent CPU <= 1.05 x tokio at every N      {}",
            verdict(all(&|s| s.cpu_x_tokio <= 1.05)),
            cells(&|s| s.cpu_x_tokio, 2)
        );
        let (first, last) = (v.first().unwrap(), v.last().unwrap());
        println!(
            "    {} CPU x floor not growing (N={} <= N={} + 0.15): {} vs {}",
            verdict(last.1.cpu_x_floor <= first.1.cpu_x_floor + 0.15),
            last.0,
            first.0,
            fmt(last.1.cpu_x_floor, 2),
            fmt(first.1.cpu_x_floor, 2)
        );
        // Each regime's count beside the floor's: one wake-up per exit costs every method an
        // `epoll_wait` (the floor's staggered count is near 3); in a burst it is amortized.
        let floor = sums.get(&Method::Floor);
        let mut regimes = vec![(timed, (|s: &Summary| s.syscalls) as fn(&Summary) -> f64)];
        if timed != Regime::Burst {
            regimes.push((Regime::Burst, |s: &Summary| s.syscalls_burst));
        }
        for (regime, get) in regimes {
            let counted = v.iter().all(|(_, s)| get(s).is_finite());
            let with_floor = v
                .iter()
                .map(|(n, s)| {
                    let f = floor
                        .and_then(|f| f.iter().find(|(floor_n, _)| floor_n == n))
                        .map_or(f64::NAN, |(_, f)| get(f));
                    format!("N={n}: {} (floor {})", fmt(get(s), 2), fmt(f, 2))
                })
                .collect::<Vec<_>>()
                .join("  ");
            println!(
                "    {} <= 3 syscalls per reaped child, {:<9} at every N  {}",
                if counted { verdict(all(&|s| get(s) <= 3.0)) } else { "n/a " },
                regime.name(),
                with_floor
            );
        }
        println!(
            "    {} p50 latency <= 1.10 x floor at every N     {}",
            verdict(all(&|s| s.p50_x_floor <= 1.10)),
            cells(&|s| s.p50_x_floor, 2)
        );
        let big: Vec<&(usize, Summary)> = v.iter().filter(|(n, _)| *n >= 1000).collect();
        println!(
            "    {} <= 1 KiB peak per pending child (N >= 1000; at N = 100 RSS granularity dominates)  {}",
            if big.is_empty() { "n/a " } else { verdict(big.iter().all(|(_, s)| s.hwm_kib <= 1.0)) },
            cells(&|s| s.hwm_kib, 2)
        );
        println!(
            "    {} no thread per child (threads while all are pending)  {}",
            verdict(all(&|s| s.threads <= 2.0)),
            cells(&|s| s.threads, 0)
        );
    }
    // What a reaper on tokio's public API cannot avoid: the second epoll level (`nested`, no
    // tokio at all) and tokio's own reaper.
    let reference = [Method::Nested, Method::Tokio].into_iter().filter_map(|m| sums.get(&m).map(|v| (m, v)));
    for (m, v) in reference {
        let cells = |f: &dyn Fn(&Summary) -> f64, d: usize| {
            v.iter().map(|(n, s)| format!("N={n}: {}", fmt(f(s), d))).collect::<Vec<_>>().join("  ")
        };
        println!("  reference, {} (not a target):", m.name());
        println!("    parent CPU x floor                 {}", cells(&|s| s.cpu_x_floor, 2));
        println!("    syscalls per child, {:<9}      {}", timed.name(), cells(&|s| s.syscalls, 2));
    }
}
