//! Each `pidfd` call against the raw system call it wraps, and spawn + wait of `/bin/true`
//! against a raw `clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD)` floor: the "Proof" benches of
//! issues 3 and 4.
//!
//! ```text
//! cargo bench -p pidfd-core --features __bench-internals                      # every row, ~2 min
//! PIDFD_BENCH_QUICK=1 cargo bench -p pidfd-core --features __bench-internals  # shorter, ~40 s
//! cargo bench -p pidfd-core --features __bench-internals --bench vs_raw -- --quick spawn
//! ```
//!
//! (`--quick` and the group filters `calls` / `spawn` go after `--bench vs_raw --`: without
//! `--bench`, cargo also hands them to the library's libtest harness, which rejects `--quick`.)
//! Without `__bench-internals` the fdinfo-fallback rows are skipped with a note: the fallback is
//! reachable only through `pidfd::__bench` on a kernel that has `PIDFD_GET_INFO`.
//!
//! Method (this machine's absolute times swing by 20%): every row is a ratio A / B taken per
//! round, A and B measured back to back in the same round, and reported as the median over the
//! rounds with p10 and p90, next to the median absolute time of each side.
//! * Calls: 201 rounds of ~2 ms of A and ~2 ms of B, interleaved in ten sub-blocks each, the
//!   order alternating; the round's ratio is the median sub-block time of A over B's. A
//!   counting global allocator gives the heap allocations per call of A.
//! * Spawns: the parent's state (4 GiB touched, 5,000 pidfds open) lives in worker processes
//!   (this binary re-executed with `--worker`). Each of 201 rounds visits every row, in an order
//!   rotated per round, and runs 5 pairs of single spawns, A B or B A alternating, back to back
//!   in the rows' workers; the round's ratio is its median A time over its median B time.
//! * Rows marked `diag` time raw re-implementations (the pieces of the library's cost, and the
//!   library as it was before the spawn fixes), not library code.
//! * A spawn's cost grows with the parent's fd table only as far as the child takes fds from it
//!   (`Stdio::Piped`, `Stdio::Fd`, `Command::fd`): the row `ours(piped) / ours(piped, 0)` shows
//!   that cost, which `pidfd::Command`'s docs describe; `Inherit` and `Null` stay flat.
//!
//! `PIDFD_BENCH_PIN=1` pins the bench, its workers and so every spawned child to one CPU: on an
//! idle 2-vCPU VM that halves the spread of spawn timings, but when other builds share that CPU
//! it is much worse than leaving the scheduler free (the default). Other overrides:
//! `PIDFD_BENCH_MICRO_ROUNDS`, `PIDFD_BENCH_SPAWN_ROUNDS`, `PIDFD_BENCH_PAIRS`,
//! `PIDFD_BENCH_MEM_MIB`, `PIDFD_BENCH_FDS`.
//!
//! Under `cargo test` (no `--bench` argument) it only checks, once each, that every measured
//! path works and that the fdinfo fallback does not allocate.

mod support;

use std::ffi::CString;
use std::hint::black_box;
use std::os::fd::AsRawFd;

use pidfd::{Feature, PidFd};
use pidfd_sys as uapi;
use support::spawn::{Spawner, Variant, Worker};
use support::{Config, Row, Target, pair, raw};

/// The mask `PidFd::info()` asks for.
const INFO_ALL: u64 = uapi::PIDFD_INFO_PID
    | uapi::PIDFD_INFO_CREDS
    | uapi::PIDFD_INFO_CGROUPID
    | uapi::PIDFD_INFO_EXIT
    | uapi::PIDFD_INFO_COREDUMP
    | uapi::PIDFD_INFO_COREDUMP_SIGNAL
    | uapi::PIDFD_INFO_COREDUMP_CODE
    | uapi::PIDFD_INFO_SUPPORTED_MASK;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--worker") {
        let n = args.get(i + 2).and_then(|s| s.parse().ok());
        support::spawn::worker_main(support::spawn::parse_state(&args[i + 1], n));
        return;
    }
    if args.iter().any(|a| a == "--list") {
        return;
    }
    if !args.iter().any(|a| a == "--bench") {
        smoke();
        return;
    }
    let cfg = Config::from_args(&args);
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let pinned = if support::pin_wanted() { raw::pin_to_last_cpu() } else { None };
    let os = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "pidfd bench{}: Linux {} on {cpus} CPUs ({}), load {}; {} call rounds, {} spawn rounds x {} A/B pairs",
        if cfg.quick { " (quick)" } else { "" },
        os.trim(),
        pinned.map_or(String::from("not pinned"), |c| format!("pinned to CPU {c}")),
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
        cfg.micro_rounds,
        cfg.spawn_rounds,
        cfg.k,
    );
    let started = std::time::Instant::now();
    let mut rows = Vec::new();
    support::print_header();
    if cfg.wants("calls") {
        calls(&cfg, &mut rows);
    }
    if cfg.wants("spawn") {
        spawns(&cfg, &mut rows);
    }
    support::print_summary(&rows);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("took {:.0} s; load at the end {}", started.elapsed().as_secs_f64(), load.trim());
}

fn fdinfo_path(fd: i32) -> CString {
    CString::new(format!("/proc/self/fdinfo/{fd}")).unwrap()
}

/// The call rows of issue 3.
fn calls(cfg: &Config, rows: &mut Vec<Row>) {
    let me = PidFd::from_self().expect("pidfd of self");
    let fd = me.as_raw_fd();
    let pid = std::process::id() as i32;
    let get_info_rows: [(&str, u64, &mut dyn FnMut()); 4] = [
        ("pid() / ioctl(PIDFD_GET_INFO)", uapi::PIDFD_INFO_PID, &mut || {
            black_box(me.pid().unwrap());
        }),
        ("credentials() / ioctl(PIDFD_GET_INFO)", uapi::PIDFD_INFO_CREDS, &mut || {
            black_box(me.credentials().unwrap());
        }),
        ("cgroup_id() / ioctl(PIDFD_GET_INFO)", uapi::PIDFD_INFO_CGROUPID, &mut || {
            black_box(me.cgroup_id().unwrap());
        }),
        ("info() / ioctl(PIDFD_GET_INFO)", INFO_ALL, &mut || {
            black_box(me.info().unwrap());
        }),
    ];
    for (name, mask, ours) in get_info_rows {
        if Feature::GetInfo.is_supported() {
            let mut raw_call = || {
                black_box(raw::get_info(black_box(fd), black_box(mask)));
            };
            rows.push(pair(cfg, name, ours, &mut raw_call, Target::AtMost(1.05), false));
        } else {
            rows.push(Row::skipped(name, Target::AtMost(1.05), format!("the kernel lacks {}", Feature::GetInfo)));
        }
    }
    rows.push(pair(
        cfg,
        "send_signal(0) / pidfd_send_signal(fd, 0)",
        &mut || me.send_signal(black_box(0)).unwrap(),
        &mut || raw::send_signal(black_box(fd), black_box(0)),
        Target::AtMost(1.05),
        false,
    ));
    rows.push(pair(
        cfg,
        "PidFd::open(pid) + drop / pidfd_open + close",
        &mut || drop(black_box(PidFd::open(black_box(pid)).unwrap())),
        &mut || raw::close(black_box(raw::pidfd_open(black_box(pid)))),
        Target::AtMost(1.05),
        false,
    ));
    if Feature::Pidfs.is_supported() {
        rows.push(pair(
            cfg,
            "id() / fstat(fd).st_ino",
            &mut || {
                black_box(me.id().unwrap());
            },
            &mut || {
                black_box(raw::fstat_ino(black_box(fd)));
            },
            Target::AtMost(1.10),
            false,
        ));
    } else {
        rows.push(Row::skipped("id() / fstat", Target::AtMost(1.10), format!("the kernel lacks {}", Feature::Pidfs)));
    }
    fdinfo_rows(cfg, &me, rows);
}

#[cfg(feature = "__bench-internals")]
fn fdinfo_rows(cfg: &Config, me: &PidFd, rows: &mut Vec<Row>) {
    let path = fdinfo_path(me.as_raw_fd());
    rows.push(pair(
        cfg,
        "fdinfo fallback of pid() / open + read + close",
        &mut || {
            black_box(pidfd::__bench::fdinfo_pid(black_box(me)).unwrap());
        },
        &mut || {
            black_box(raw::open_read_close(black_box(&path)));
        },
        Target::AtMost(1.05),
        true,
    ));
    rows.push(pair(
        cfg,
        "  diag: raw open + read to EOF (2 reads) + close / 1 read",
        &mut || {
            black_box(raw::open_read_until_eof_close(black_box(&path)));
        },
        &mut || {
            black_box(raw::open_read_close(black_box(&path)));
        },
        Target::Info,
        false,
    ));
}

#[cfg(not(feature = "__bench-internals"))]
fn fdinfo_rows(_cfg: &Config, _me: &PidFd, rows: &mut Vec<Row>) {
    rows.push(Row::skipped(
        "fdinfo fallback of pid() / open + read + close",
        Target::AtMost(1.05),
        "needs --features __bench-internals",
    ));
}

/// One spawn comparison: A / B, each a (worker, variant).
struct SpawnRow {
    name: String,
    a: (usize, Variant),
    b: (usize, Variant),
    target: Target,
    /// Rounds for this row at most (the 4 GiB fork takes ~0.2 s a spawn).
    max_rounds: usize,
}

/// The spawn rows of issue 4. Every round visits every row (in an order rotated per round) and
/// runs `k` pairs of single spawns, A B or B A (alternating), in the rows' workers back to back:
/// the round's ratio is the median of its A times over the median of its B times.
fn spawns(cfg: &Config, rows: &mut Vec<Row>) {
    if !(Feature::ClonePidfd.is_supported() && Feature::WaitidPidfd.is_supported()) {
        let why = format!("the raw floor needs {} and {}", Feature::ClonePidfd, Feature::WaitidPidfd);
        rows.push(Row::skipped("spawn rows", Target::AtMost(1.05), why));
        return;
    }
    const P: usize = 0;
    const M: usize = 1;
    const F: usize = 2;
    let mut workers = [Worker::start("plain", 0), Worker::start("memory", cfg.mem_mib), Worker::start("fds", cfg.fds)];
    for (name, w) in ["plain", "memory", "fds"].iter().zip(&workers) {
        println!("worker {name}: {}", w.description);
    }
    let mem =
        if cfg.mem_mib % 1024 == 0 { format!("{} GiB", cfg.mem_mib / 1024) } else { format!("{} MiB", cfg.mem_mib) };
    let fds = cfg.fds;
    let all = cfg.spawn_rounds;
    let few = if cfg.quick { 5 } else { 11 };
    let row = |name: String, a: (usize, Variant), b: (usize, Variant), target: Target| SpawnRow {
        name,
        a,
        b,
        target,
        max_rounds: if a == (M, Variant::Fork) { few } else { all },
    };
    use Variant as V;
    let plan: Vec<SpawnRow> = vec![
        row("spawn: ours / raw clone(VM|VFORK|PIDFD) floor".into(), (P, V::Ours), (P, V::Floor), Target::AtMost(1.05)),
        row("spawn: ours / std spawn + pidfd_open".into(), (P, V::Ours), (P, V::Std), Target::Below(1.0)),
        row("spawn: std spawn + pidfd_open / floor".into(), (P, V::Std), (P, V::Floor), Target::Info),
        row("spawn: fork + exec + pidfd_open / floor".into(), (P, V::Fork), (P, V::Floor), Target::Info),
        row(
            "  diag: floor + CLONE_FILES + close_range unshare / floor".into(),
            (P, V::FloorUnshare),
            (P, V::Floor),
            Target::Info,
        ),
        row(
            "  diag: floor + 64 rt_sigaction queries (no clone3) / floor".into(),
            (P, V::FloorSigQuery),
            (P, V::Floor),
            Target::Info,
        ),
        row(
            "  diag: floor on a fresh mmap'd stack / floor".into(),
            (P, V::FloorFreshStack),
            (P, V::Floor),
            Target::Info,
        ),
        row(
            "  diag: floor + envp rebuilt from vars_os / floor".into(),
            (P, V::FloorEnvRebuild),
            (P, V::Floor),
            Target::Info,
        ),
        row("  diag: the library before the spawn fixes / ours".into(), (P, V::LibBefore), (P, V::Ours), Target::Info),
        row("spawn: ours(null stdin+stdout) / ours(inherit)".into(), (P, V::OursNull), (P, V::Ours), Target::Info),
        row("spawn: ours(one env var set) / ours".into(), (P, V::OursEnv), (P, V::Ours), Target::Info),
        row(format!("{mem} touched: ours / ours(0)"), (M, V::Ours), (P, V::Ours), Target::AtMost(1.10)),
        row(
            format!("{mem} touched: ours(null) / ours(null, 0)"),
            (M, V::OursNull),
            (P, V::OursNull),
            Target::AtMost(1.10),
        ),
        row(format!("{mem} touched: fork / fork(0)"), (M, V::Fork), (P, V::Fork), Target::Info),
        row(format!("{fds} fds: ours / ours(0)"), (F, V::Ours), (P, V::Ours), Target::AtMost(1.10)),
        row(format!("{fds} fds: ours(null) / ours(null, 0)"), (F, V::OursNull), (P, V::OursNull), Target::AtMost(1.10)),
        row(
            format!("{fds} fds: ours(piped stdout) / ours(piped, 0)  [grows: documented]"),
            (F, V::OursPiped),
            (P, V::OursPiped),
            Target::Info,
        ),
        row(format!("{fds} fds: std spawn / std(0)"), (F, V::Std), (P, V::Std), Target::Info),
    ];
    let (plan, unsupported): (Vec<SpawnRow>, Vec<SpawnRow>) = plan
        .into_iter()
        .partition(|r| raw::has_close_range() || !(r.a.1.needs_close_range() || r.b.1.needs_close_range()));
    for r in unsupported {
        rows.push(Row::skipped(&r.name, r.target, "the raw prototype needs close_range (5.9)"));
    }
    let k = cfg.k;
    let mut samples: Vec<(Vec<f64>, Vec<f64>, Vec<f64>)> = (0..plan.len()).map(|_| Default::default()).collect();
    // Round 0 warms up (probes, page cache, each worker's first spawns) and is not kept.
    for round in 0..=all {
        for i in 0..plan.len() {
            let j = (i + round) % plan.len();
            let r = &plan[j];
            if round > r.max_rounds {
                continue;
            }
            // The slow 4 GiB fork row runs one pair per round, the others `k`.
            let pairs = if r.max_rounds < all { 1 } else { k };
            let (mut ta, mut tb) = (Vec::new(), Vec::new());
            for p in 0..pairs as usize {
                let mut run = |(w, v): (usize, Variant)| workers[w].run(v, 1);
                if (round + j + p) % 2 == 0 {
                    ta.push(run(r.a));
                    tb.push(run(r.b));
                } else {
                    tb.push(run(r.b));
                    ta.push(run(r.a));
                }
            }
            if round > 0 {
                samples[j].0.push(support::Stats::of(&ta).median / support::Stats::of(&tb).median);
                samples[j].1.extend(ta);
                samples[j].2.extend(tb);
            }
        }
    }
    drop(workers);
    println!(
        "note: with {fds} fds open, a Piped/Fd stream or an extra fd lands above them and the child copies the fd \
         table up to it (see pidfd::Command, \"Cost\"); Inherit and Null (opened by the child) copy fds 0-2 only"
    );
    for (r, (ratio, a, b)) in plan.into_iter().zip(samples) {
        let row = Row {
            name: r.name,
            ratio: support::Stats::of(&ratio),
            a_ns: support::Stats::of(&a).median,
            b_ns: support::Stats::of(&b).median,
            allocs: None,
            target: r.target,
            no_alloc: false,
            skipped: None,
        };
        support::print_row(&row);
        rows.push(row);
    }
}

/// `cargo test`: every measured path once, checked.
fn smoke() {
    let me = PidFd::from_self().unwrap();
    let fd = me.as_raw_fd();
    let pid = std::process::id() as i32;
    if Feature::GetInfo.is_supported() {
        assert_eq!(me.pid().unwrap(), raw::get_info(fd, uapi::PIDFD_INFO_PID).pid as i32);
        let raw_info = raw::get_info(fd, INFO_ALL);
        assert_eq!(me.credentials().unwrap().euid, raw_info.euid);
        assert_eq!(me.cgroup_id().unwrap(), raw_info.cgroupid);
        me.info().unwrap();
    }
    me.send_signal(0).unwrap();
    raw::send_signal(fd, 0);
    drop(PidFd::open(pid).unwrap());
    raw::close(raw::pidfd_open(pid));
    if Feature::Pidfs.is_supported() {
        assert_eq!(me.id().unwrap(), raw::fstat_ino(fd));
    }
    let path = fdinfo_path(fd);
    assert!(raw::open_read_close(&path) > 0);
    assert_eq!(raw::open_read_until_eof_close(&path), raw::open_read_close(&path));
    #[cfg(feature = "__bench-internals")]
    {
        let before = support::allocations();
        let got = pidfd::__bench::fdinfo_pid(&me).unwrap();
        assert_eq!(support::allocations(), before, "the fdinfo fallback allocated");
        assert_eq!(got, pid);
    }
    if !(Feature::ClonePidfd.is_supported() && Feature::WaitidPidfd.is_supported()) {
        println!("vs_raw smoke: calls checked; spawn paths skipped (the raw floor needs 5.4)");
        return;
    }
    let spawner = Spawner::new();
    for v in Variant::ALL {
        if raw::has_close_range() || !v.needs_close_range() {
            spawner.once(v);
        }
    }
    let mut w = Worker::start("fds", 10);
    assert!(w.run(Variant::Ours, 1) > 0.0);
    println!(
        "vs_raw smoke: every path works (run `cargo bench -p pidfd-core --features __bench-internals` to measure)"
    );
}
