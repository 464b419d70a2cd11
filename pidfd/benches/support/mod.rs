//! The paired A/B harness, the allocation counter, the configuration and the report.

pub(crate) mod raw;
pub(crate) mod spawn;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Whether to pin the bench and its workers to one CPU (`PIDFD_BENCH_PIN=1`): steadier on an
/// idle machine, much worse when other work shares that CPU.
pub(crate) fn pin_wanted() -> bool {
    std::env::var("PIDFD_BENCH_PIN").is_ok_and(|v| v == "1")
}

/// Counts every allocation of the process (the bench is single-threaded while it measures).
struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; counting touches no memory
// the allocator hands out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: our caller upholds `GlobalAlloc::alloc`'s contract, which we forward.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as in `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as in `alloc`; `ptr` came from this allocator, i.e. from `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as in `alloc`; `ptr` came from this allocator, i.e. from `System`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made so far by the whole process.
pub(crate) fn allocations() -> u64 {
    ALLOCS.load(Ordering::Relaxed)
}

/// How much to measure, from the command line (`--quick`) or `PIDFD_BENCH_QUICK=1`, and which
/// groups (`calls`, `spawn`) to run (positional arguments; none: all).
pub(crate) struct Config {
    pub(crate) quick: bool,
    pub(crate) micro_rounds: usize,
    pub(crate) spawn_rounds: usize,
    /// A/B pairs of single spawns per spawn row and round.
    pub(crate) k: u32,
    pub(crate) mem_mib: usize,
    pub(crate) fds: usize,
    groups: Vec<String>,
}

impl Config {
    pub(crate) fn from_args(args: &[String]) -> Config {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let quick = args.iter().any(|a| a == "--quick") || env("PIDFD_BENCH_QUICK").is_some_and(|v| v != "0");
        let num = |k: &str, default: usize| env(k).and_then(|v| v.parse().ok()).unwrap_or(default);
        Config {
            quick,
            micro_rounds: num("PIDFD_BENCH_MICRO_ROUNDS", if quick { 41 } else { 201 }),
            spawn_rounds: num("PIDFD_BENCH_SPAWN_ROUNDS", if quick { 41 } else { 201 }),
            k: num("PIDFD_BENCH_PAIRS", 5) as u32,
            mem_mib: num("PIDFD_BENCH_MEM_MIB", 4096),
            fds: num("PIDFD_BENCH_FDS", 5000),
            groups: args.iter().filter(|a| !a.starts_with('-')).cloned().collect(),
        }
    }

    pub(crate) fn wants(&self, group: &str) -> bool {
        self.groups.is_empty() || self.groups.iter().any(|g| group.contains(g.as_str()))
    }
}

/// What a row must show.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Target {
    /// Median ratio at most this.
    AtMost(f64),
    /// Median ratio strictly below this.
    Below(f64),
    /// Reported for context; no target.
    Info,
}

/// p10, median, p90 of a sample.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Stats {
    pub(crate) p10: f64,
    pub(crate) median: f64,
    pub(crate) p90: f64,
}

impl Stats {
    pub(crate) fn of(v: &[f64]) -> Stats {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        let at = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
        Stats { p10: at(0.1), median: at(0.5), p90: at(0.9) }
    }
}

/// One line of the report: A / B.
pub(crate) struct Row {
    pub(crate) name: String,
    pub(crate) ratio: Stats,
    /// Median ns per operation of A and of B.
    pub(crate) a_ns: f64,
    pub(crate) b_ns: f64,
    /// Heap allocations per call of A (micro rows).
    pub(crate) allocs: Option<f64>,
    pub(crate) target: Target,
    /// A must not allocate.
    pub(crate) no_alloc: bool,
    /// Why the row was not measured.
    pub(crate) skipped: Option<String>,
}

impl Row {
    pub(crate) fn skipped(name: &str, target: Target, why: impl Into<String>) -> Row {
        Row {
            name: name.to_owned(),
            ratio: Stats::default(),
            a_ns: 0.0,
            b_ns: 0.0,
            allocs: None,
            target,
            no_alloc: false,
            skipped: Some(why.into()),
        }
    }

    fn verdict(&self) -> &'static str {
        if self.skipped.is_some() {
            return "SKIP";
        }
        if self.no_alloc && self.allocs.is_some_and(|a| a > 0.0) {
            return "MISS";
        }
        match self.target {
            Target::AtMost(t) if self.ratio.median <= t => "PASS",
            Target::Below(t) if self.ratio.median < t => "PASS",
            Target::Info => "info",
            _ => "MISS",
        }
    }

    fn target_text(&self) -> String {
        let t = match self.target {
            Target::AtMost(t) => format!("<= {t:.2}"),
            Target::Below(t) => format!("< {t:.2}"),
            Target::Info => String::from("-"),
        };
        if self.no_alloc { format!("{t}, 0 alloc") } else { t }
    }

    fn line(&self) -> String {
        let time = |ns: f64| {
            if ns >= 100_000.0 { format!("{:.1} us", ns / 1000.0) } else { format!("{ns:.0} ns") }
        };
        if let Some(why) = &self.skipped {
            return format!("{:<70} {:>22}  skipped: {why}", self.name, "");
        }
        let allocs = self.allocs.map_or(String::from("-"), |a| format!("{a:.2}"));
        format!(
            "{:<70} {:>6.3} [{:.3}-{:.3}]  {:>10}  {:>10}  {:>6}  {:<14} {}",
            self.name,
            self.ratio.median,
            self.ratio.p10,
            self.ratio.p90,
            time(self.a_ns),
            time(self.b_ns),
            allocs,
            self.target_text(),
            self.verdict()
        )
    }
}

pub(crate) fn print_header() {
    println!(
        "{:<70} {:>6} {:<13}  {:>10}  {:>10}  {:>6}  {:<14} verdict",
        "A / B", "median", "[p10-p90]", "A median", "B median", "alloc", "target"
    );
}

pub(crate) fn print_row(row: &Row) {
    println!("{}", row.line());
}

pub(crate) fn print_summary(rows: &[Row]) {
    println!();
    println!("== summary ==");
    print_header();
    for r in rows {
        print_row(r);
    }
    let count = |v: &str| rows.iter().filter(|r| r.verdict() == v).count();
    println!(
        "targets: {} PASS, {} MISS, {} skipped; {} rows for context",
        count("PASS"),
        count("MISS"),
        count("SKIP"),
        count("info")
    );
}

const BLOCK: Duration = Duration::from_millis(2);
const SUB_BLOCKS: u32 = 10;

/// Calls `f` until `BLOCK` has passed once, to find how many calls a sub-block holds.
fn calibrate(f: &mut dyn FnMut()) -> u32 {
    for _ in 0..1000 {
        f();
    }
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < BLOCK {
        f();
        n += 1;
    }
    (n / SUB_BLOCKS).max(1)
}

/// Times `n` calls; adds the allocations they made to `allocs`.
fn time_block(f: &mut dyn FnMut(), n: u32, allocs: &mut u64) -> Duration {
    let before = allocations();
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    let t = start.elapsed();
    *allocs += allocations() - before;
    t
}

/// Paired A/B: `rounds` rounds, each ~2 ms of A and ~2 ms of B in ten interleaved sub-blocks
/// (the order alternating); the round's ratio is the median per-call time of A's sub-blocks over
/// B's (a sub-block hit by preemption on this shared machine does not move it).
pub(crate) fn pair(
    cfg: &Config,
    name: &str,
    a: &mut dyn FnMut(),
    b: &mut dyn FnMut(),
    target: Target,
    no_alloc: bool,
) -> Row {
    let (na, nb) = (calibrate(a), calibrate(b));
    let (mut ratios, mut ta, mut tb) = (Vec::new(), Vec::new(), Vec::new());
    let (mut allocs_a, mut allocs_b, mut calls_a) = (0u64, 0u64, 0u64);
    let per_call = |d: Duration, n: u32| d.as_nanos() as f64 / f64::from(n);
    for round in 0..cfg.micro_rounds {
        let (mut xa, mut xb) = (Vec::new(), Vec::new());
        for sub in 0..SUB_BLOCKS {
            if (round as u32 + sub) % 2 == 0 {
                xa.push(per_call(time_block(a, na, &mut allocs_a), na));
                xb.push(per_call(time_block(b, nb, &mut allocs_b), nb));
            } else {
                xb.push(per_call(time_block(b, nb, &mut allocs_b), nb));
                xa.push(per_call(time_block(a, na, &mut allocs_a), na));
            }
        }
        calls_a += u64::from(na * SUB_BLOCKS);
        let (x, y) = (Stats::of(&xa).median, Stats::of(&xb).median);
        ratios.push(x / y);
        ta.push(x);
        tb.push(y);
    }
    assert_eq!(allocs_b, 0, "{name}: the raw side allocated");
    let row = Row {
        name: name.to_owned(),
        ratio: Stats::of(&ratios),
        a_ns: Stats::of(&ta).median,
        b_ns: Stats::of(&tb).median,
        allocs: Some(allocs_a as f64 / calls_a as f64),
        target,
        no_alloc,
        skipped: None,
    };
    print_row(&row);
    row
}
