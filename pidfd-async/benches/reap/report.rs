//! The report: the per-N table and the verdicts against the targets.

#[allow(unused_imports)]
use super::*;

/// One method's numbers at one N.
#[derive(Default, Clone, Copy)]
pub(crate) struct Summary {
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

pub(crate) fn summarize(
    n: usize,
    rows: &[Fields],
    floor: &[Fields],
    tokio: &[Fields],
    count: [Option<&Fields>; 2],
) -> Summary {
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

pub(crate) fn fmt(v: f64, decimals: usize) -> String {
    if v.is_finite() { format!("{v:.decimals$}") } else { "n/a".to_owned() }
}

pub(crate) fn report(plan: &Plan, rows: &BTreeMap<usize, BTreeMap<Method, Vec<Fields>>>, counted: &Counted) {
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

pub(crate) fn verdict(ok: bool) -> &'static str {
    if ok { "PASS" } else { "MISS" }
}

/// The targets of the crate's issue, for each of our methods.
pub(crate) fn targets(sums: &BTreeMap<Method, Vec<(usize, Summary)>>, timed: Regime) {
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
