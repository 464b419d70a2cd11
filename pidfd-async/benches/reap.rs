//! Reaping N children that exit at staggered times, for N = 100, 1000, 5000, 10000, with
//! every method measured in the same round against the floor:
//!
//! * `floor`: a hand-written level-triggered epoll loop, `waitid(P_PIDFD, WNOHANG)`, `close`;
//! * `tokio`: `tokio::process::Child::wait` in one task per child (current-thread runtime);
//! * `threads`: one blocking thread per child (`std::process::Child::wait`);
//! * `asyncpidfd`: [`pidfd_async::AsyncPidFd::wait`] in one task per child;
//! * `exitset`: one [`pidfd_async::ExitSet`] and a `next().await` loop.
//!
//! Each (method, N) row runs in a fresh process (this binary with `--one`), so memory, fds and
//! allocator state do not leak between rows. The children are this binary too (`--child`):
//! all are spawned first, blocked reading one pipe; closing its write end releases them; child
//! `i` sleeps its delay (uniform in `[0, W)`, W = max(0.2 s, N × 0.5 ms)), stamps
//! `CLOCK_MONOTONIC` into a shared pipe and `_exit`s with `i % 256` (checked by every method).
//!
//! Reported per row: parent CPU time of the reap phase (`getrusage(RUSAGE_SELF)` delta, all
//! threads, children excluded), wall time, per-exit wake latency p50/p99 (the child's stamp to
//! the moment the method saw the status), RSS per pending child (VmRSS with every child
//! registered and waited for, minus VmRSS before spawning, over N), threads; and the ratios
//! to the floor (and to tokio) of the same round.
//!
//! `--syscalls` counts the parent's system calls per child instead: each row runs with
//! `strace -f -p <row process>` attached after the spawn phase, and the calls between phase
//! markers (a `statx` of `/pidfd-bench-marker/<phase>`) are counted for the parent's threads.
//!
//! Environment: `BENCH_N` (comma list), `BENCH_ROUNDS` (default 1; ratios are medians of
//! per-round ratios), `BENCH_METHODS`, `BENCH_BURST=1` (release all at once, no stagger),
//! `BENCH_THREADS_MAX` (largest N for the thread-per-child method, default 10000),
//! `BENCH_STRACE_N` (N for `--syscalls`, default 500).
//!
//! Run: `cargo bench -p pidfd-async --bench reap` (about 2-3 minutes here), and
//! `cargo bench -p pidfd-async --bench reap -- --syscalls`.

mod sys;

use std::collections::BTreeMap;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pidfd::PidFd;
use pidfd_async::{AsyncPidFd, ExitSet};

#[derive(Clone, Copy, PartialEq, Eq, Debug, PartialOrd, Ord)]
enum Method {
    Floor,
    Tokio,
    Threads,
    AsyncPidFd,
    ExitSet,
}

impl Method {
    const ALL: [Method; 5] = [Method::Floor, Method::Tokio, Method::Threads, Method::AsyncPidFd, Method::ExitSet];

    fn name(self) -> &'static str {
        match self {
            Method::Floor => "floor",
            Method::Tokio => "tokio",
            Method::Threads => "threads",
            Method::AsyncPidFd => "asyncpidfd",
            Method::ExitSet => "exitset",
        }
    }

    fn parse(s: &str) -> Method {
        Method::ALL.into_iter().find(|m| m.name() == s).unwrap_or_else(|| panic!("unknown method {s}"))
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    match args.first().map(String::as_str) {
        Some("--child") => child(&args[1..]),
        Some("--one") => one(&args[1..]),
        Some("--syscalls") => syscalls(),
        _ => driver(),
    }
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
    start_w: Option<std::io::PipeWriter>,
    stamp_w: Option<OwnedFd>,
    delays: Vec<u64>,
    strace: Option<(Child, PathBuf)>,
    want_strace: bool,
    rss_pending: u64,
    threads: u64,
    cpu0: Duration,
    t0: Option<Instant>,
    cpu: Duration,
    wall: Duration,
    resolved: Vec<u64>,
}

impl Row {
    fn command(&self, i: usize) -> Command {
        let mut c = Command::new(&self.exe);
        c.args(["--child", &i.to_string(), &self.delays[i].to_string()])
            .stdin(Stdio::from(self.start_r.try_clone().unwrap()))
            .stdout(Stdio::from(self.stamp_w.as_ref().unwrap().try_clone().unwrap()))
            .stderr(Stdio::null());
        c
    }

    fn spawn_std(&self) -> Vec<Child> {
        (0..self.n).map(|i| self.command(i).spawn().expect("spawn child")).collect()
    }

    /// After the spawn phase: drop our copy of the stamp pipe's write end; attach strace.
    fn spawned(&mut self) {
        self.stamp_w = None;
        if !self.want_strace {
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
        if self.want_strace {
            let _ = std::fs::metadata(format!("/pidfd-bench-marker/{phase}"));
        }
    }

    /// Every child is registered and waited for.
    fn pending(&mut self) {
        self.rss_pending = status_field("VmRSS");
        self.threads = status_field("Threads");
        self.mark("reap");
    }

    fn release(&mut self) {
        self.cpu0 = sys::cpu_self();
        self.t0 = Some(Instant::now());
        self.start_w = None;
    }

    fn done(&mut self) {
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

/// `--one <method> <n> <window_us> <strace 0|1>`.
fn one(args: &[String]) {
    let method = Method::parse(&args[0]);
    let n: usize = args[1].parse().unwrap();
    let window: u64 = args[2].parse().unwrap();
    let want_strace = args[3] == "1";
    sys::raise_nofile();
    // Every method gets a runtime (floor and threads leave it idle), made before the baseline
    // so that its own memory is not counted per child.
    let rt = runtime();
    let rss_before = status_field("VmRSS");
    let (start_r, start_w) = std::io::pipe().unwrap();
    let (mut stamp_r, stamp_w) = std::io::pipe().unwrap();
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
    let mut row = Row {
        n,
        exe: std::env::current_exe().unwrap(),
        start_r: start_r.into(),
        start_w: Some(start_w),
        stamp_w: Some(stamp_w.into()),
        delays,
        strace: None,
        want_strace,
        rss_pending: 0,
        threads: 0,
        cpu0: Duration::ZERO,
        t0: None,
        cpu: Duration::ZERO,
        wall: Duration::ZERO,
        resolved: vec![0; n],
    };
    match method {
        Method::Floor => floor(&mut row),
        Method::Tokio => with_tokio(&mut row, &rt),
        Method::Threads => threads(&mut row),
        Method::AsyncPidFd => asyncpidfd(&mut row, &rt),
        Method::ExitSet => exitset(&mut row, &rt),
    }
    let hwm = status_field("VmHWM");
    let (mut setup_sys, mut reap_sys, mut names) = (0, 0, BTreeMap::new());
    if let Some((mut strace, path)) = row.strace.take() {
        PidFd::from_child(&strace).unwrap().send_signal(libc::SIGINT).unwrap();
        let _ = strace.wait();
        (setup_sys, reap_sys, names) = count_syscalls(&std::fs::read_to_string(&path).unwrap());
        let _ = std::fs::remove_file(&path);
    }
    let mut stamps = vec![0u8; 16 * n];
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
         rss_pending_kib={} hwm_kib={hwm} threads={} setup_sys={setup_sys} reap_sys={reap_sys}{}",
        method.name(),
        row.cpu.as_micros(),
        row.wall.as_micros(),
        pct(50),
        pct(99),
        row.rss_pending,
        row.threads,
        names.iter().map(|(k, v)| format!(" sys.{k}={v}")).collect::<String>(),
    );
}

/// Calls of the traced process's threads between the `setup`/`reap` and `reap`/`done` markers,
/// and the reap phase's calls by name.
fn count_syscalls(trace: &str) -> (u64, u64, BTreeMap<String, u64>) {
    let (mut phase, mut setup, mut reap) = (0, 0, 0);
    let mut names = BTreeMap::new();
    for line in trace.lines() {
        if line.contains("/pidfd-bench-marker/") {
            phase = if line.contains("marker/setup") {
                1
            } else if line.contains("marker/reap") {
                2
            } else {
                3
            };
            continue;
        }
        let rest = line.split_once(' ').map_or("", |(_, r)| r.trim_start());
        if rest.starts_with("<...") || rest.starts_with("+++") || rest.starts_with("---") || rest.is_empty() {
            continue;
        }
        match phase {
            1 => setup += 1,
            2 => {
                reap += 1;
                let name = rest.split('(').next().unwrap_or("?").to_owned();
                *names.entry(name).or_insert(0) += 1;
            }
            _ => {}
        }
    }
    (setup, reap, names)
}

fn floor(row: &mut Row) {
    let children = row.spawn_std();
    row.spawned();
    row.mark("setup");
    let ep = sys::Epoll::new().unwrap();
    let mut fds: Vec<Option<OwnedFd>> = children
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let fd = sys::pidfd_open(c.id() as i32).unwrap();
            ep.add(fd.as_raw_fd(), i as u64).unwrap();
            Some(fd)
        })
        .collect();
    row.pending();
    row.release();
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
    let mut left = row.n;
    while left > 0 {
        let k = ep.wait(&mut events).unwrap();
        for ev in &events[..k] {
            let i = ev.u64 as usize;
            let Some(fd) = fds[i].as_ref() else { continue };
            if let Some((code, si_code)) = sys::waitid_pidfd_nohang(fd.as_raw_fd()).unwrap() {
                row.resolved[i] = sys::now_ns();
                assert!(si_code == sys::CLD_EXITED && code == (i % 256) as i32, "child {i}: {si_code} {code}");
                fds[i] = None;
                left -= 1;
            }
        }
    }
    row.done();
    drop(children);
}

/// Spawns one task per child and waits until every one has polled its wait once.
async fn start_tasks<F>(futures: Vec<F>) -> Vec<tokio::task::JoinHandle<(usize, u64, ExitStatus)>>
where
    F: std::future::Future<Output = (usize, ExitStatus)> + Send + 'static,
{
    let started = Arc::new(AtomicUsize::new(0));
    let n = futures.len();
    let handles = futures
        .into_iter()
        .map(|f| {
            let started = Arc::clone(&started);
            tokio::spawn(async move {
                started.fetch_add(1, Ordering::Relaxed);
                let (i, status) = f.await;
                (i, sys::now_ns(), status)
            })
        })
        .collect();
    while started.load(Ordering::Relaxed) < n {
        tokio::task::yield_now().await;
    }
    handles
}

fn with_tokio(row: &mut Row, rt: &tokio::runtime::Runtime) {
    let children: Vec<tokio::process::Child> = {
        let _enter = rt.enter();
        (0..row.n).map(|i| tokio::process::Command::from(row.command(i)).spawn().expect("spawn")).collect()
    };
    row.spawned();
    row.mark("setup");
    rt.block_on(async {
        let futures =
            children.into_iter().enumerate().map(|(i, mut c)| async move { (i, c.wait().await.unwrap()) }).collect();
        let handles = start_tasks(futures).await;
        row.pending();
        row.release();
        for h in handles {
            let (i, t, status) = h.await.unwrap();
            row.check(i, status);
            row.resolved[i] = t;
        }
        row.done();
    });
}

fn asyncpidfd(row: &mut Row, rt: &tokio::runtime::Runtime) {
    let children = row.spawn_std();
    row.spawned();
    row.mark("setup");
    rt.block_on(async {
        let futures = children
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let fd = AsyncPidFd::new(PidFd::from_child(c).unwrap()).unwrap();
                async move { (i, fd.wait().await.unwrap()) }
            })
            .collect();
        let handles = start_tasks(futures).await;
        row.pending();
        row.release();
        for h in handles {
            let (i, t, status) = h.await.unwrap();
            row.check(i, status);
            row.resolved[i] = t;
        }
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

type Fields = BTreeMap<String, u64>;

fn env_or(key: &str, default: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| default.to_owned())
}

fn run_row(method: Method, n: usize, window: u64, strace: bool) -> Fields {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--one", method.name(), &n.to_string(), &window.to_string(), if strace { "1" } else { "0" }])
        .stderr(Stdio::inherit())
        .output()
        .expect("run a row");
    assert!(out.status.success(), "row {} N={n} failed: {}", method.name(), out.status);
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("RESULT ")).expect("a RESULT line");
    line.split_whitespace()
        .skip(1)
        .filter_map(|kv| kv.split_once('='))
        .filter_map(|(k, v)| v.parse().ok().map(|v| (k.to_owned(), v)))
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn window_for(n: usize) -> u64 {
    if env_or("BENCH_BURST", "0") == "1" { 0 } else { (n as u64 * 500).max(200_000) }
}

fn methods() -> Vec<Method> {
    let list = env_or("BENCH_METHODS", "floor,tokio,threads,asyncpidfd,exitset");
    let mut m: Vec<Method> = list.split(',').map(Method::parse).collect();
    if !m.contains(&Method::Floor) {
        m.insert(0, Method::Floor);
    }
    m.sort();
    m
}

fn driver() {
    let ns: Vec<usize> =
        env_or("BENCH_N", "100,1000,5000,10000").split(',').map(|s| s.trim().parse().unwrap()).collect();
    let rounds: usize = env_or("BENCH_ROUNDS", "1").parse().unwrap();
    let threads_max: usize = env_or("BENCH_THREADS_MAX", "10000").parse().unwrap();
    let methods = methods();
    let started = Instant::now();
    // results[n][method] = one Fields per round
    let mut results: BTreeMap<usize, BTreeMap<Method, Vec<Fields>>> = BTreeMap::new();
    for round in 0..rounds {
        for &n in &ns {
            for &m in &methods {
                if m == Method::Threads && n > threads_max {
                    continue;
                }
                let f = run_row(m, n, window_for(n), false);
                eprintln!(
                    "round {round} N={n:>5} {:<10} cpu {:>8.1} ms  p50 {:>6} us  p99 {:>7} us  ({:.0} s elapsed)",
                    m.name(),
                    f["cpu_us"] as f64 / 1000.0,
                    f["p50_us"],
                    f["p99_us"],
                    started.elapsed().as_secs_f64()
                );
                results.entry(n).or_default().entry(m).or_default().push(f);
            }
        }
    }
    println!();
    println!(
        "Reaping N children exiting over W = max(0.2 s, N x 0.5 ms){}; {rounds} round(s); ratios are medians of per-round ratios.",
        if window_for(1) == 0 { " (burst: all at once)" } else { "" }
    );
    let mut cpu_ratio_ours: BTreeMap<Method, Vec<(usize, f64)>> = BTreeMap::new();
    for (&n, by_method) in &results {
        println!();
        println!("N = {n}");
        println!(
            "| method | parent CPU ms | CPU x floor | CPU x tokio | p50 us | p50 x floor | p99 us | p99 x floor | KiB per pending child | threads | wall ms |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        let floor = &by_method[&Method::Floor];
        let tokio = by_method.get(&Method::Tokio);
        for (&m, rows) in by_method {
            let ratio = |base: &Vec<Fields>, key: &str| {
                median(rows.iter().zip(base).map(|(r, b)| r[key] as f64 / b[key].max(1) as f64).collect())
            };
            let med = |key: &str| median(rows.iter().map(|r| r[key] as f64).collect());
            let kib = median(
                rows.iter().map(|r| (r["rss_pending_kib"] as f64 - r["rss_before_kib"] as f64) / n as f64).collect(),
            );
            let cpu_x_floor = ratio(floor, "cpu_us");
            if matches!(m, Method::AsyncPidFd | Method::ExitSet | Method::Tokio) {
                cpu_ratio_ours.entry(m).or_default().push((n, cpu_x_floor));
            }
            println!(
                "| {} | {:.1} | {:.2} | {} | {:.0} | {:.2} | {:.0} | {:.2} | {:.2} | {:.0} | {:.0} |",
                m.name(),
                med("cpu_us") / 1000.0,
                cpu_x_floor,
                tokio.map_or("-".into(), |t| format!("{:.2}", ratio(t, "cpu_us"))),
                med("p50_us"),
                ratio(floor, "p50_us"),
                med("p99_us"),
                ratio(floor, "p99_us"),
                kib,
                med("threads"),
                med("wall_us") / 1000.0,
            );
        }
    }
    println!();
    println!("CPU x floor from the smallest to the largest N (target: ours <= 1.15, not growing):");
    for (m, v) in &cpu_ratio_ours {
        let cells: Vec<String> = v.iter().map(|(n, r)| format!("N={n}: {r:.2}")).collect();
        println!("  {:<10} {}", m.name(), cells.join("  "));
    }
    println!("total {:.0} s", started.elapsed().as_secs_f64());
}

fn syscalls() {
    if Command::new("strace").arg("-V").stdout(Stdio::null()).status().map_or(true, |s| !s.success()) {
        println!(
            "strace is not installed. Count by hand: run a row as `reap --one <method> <N> <window_us> 1` \
             with strace on PATH, or attach `strace -f -p <pid>` to a `--one ... 0` row after its spawn phase and count \
             the calls between the statx markers /pidfd-bench-marker/{{setup,reap,done}}."
        );
        return;
    }
    let n: usize = env_or("BENCH_STRACE_N", "500").parse().unwrap();
    println!("Parent system calls per child (strace -f attached after the spawn phase), N = {n}");
    println!("| method | mode | setup per child | reap per child | reap-phase calls per child |");
    println!("|---|---|---:|---:|---|");
    for (mode, window) in [("burst", 0), ("staggered", (n as u64 * 500).max(200_000))] {
        for m in methods() {
            let f = run_row(m, n, window, true);
            let mut top: Vec<(&str, u64)> =
                f.iter().filter_map(|(k, &v)| k.strip_prefix("sys.").map(|k| (k, v))).collect();
            top.sort_by_key(|b| std::cmp::Reverse(b.1));
            let top: Vec<String> =
                top.iter().take(5).map(|(k, v)| format!("{k} {:.2}", *v as f64 / n as f64)).collect();
            println!(
                "| {} | {mode} | {:.2} | {:.2} | {} |",
                m.name(),
                f["setup_sys"] as f64 / n as f64,
                f["reap_sys"] as f64 / n as f64,
                top.join(", ")
            );
        }
    }
    println!("(tokio opens and registers its pidfd inside spawn, before the setup marker.)");
}
