//! The driver: one process per (method, N) row, the rounds, the regimes.

#[allow(unused_imports)]
use super::*;

// ---------------------------------------------------------------------------------------------
// The driver.

pub(crate) type Fields = BTreeMap<String, f64>;

pub(crate) fn env_or(key: &str, default: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| default.to_owned())
}

/// The `perf` events that work here: the total and the named syscalls the kernel has a
/// tracepoint for. `None` without a working `perf` (or without syscall tracepoints).
pub(crate) fn perf_events() -> Option<Vec<String>> {
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

pub(crate) fn strace_works() -> bool {
    Command::new("strace").arg("-V").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

pub(crate) fn run_row(method: Method, n: usize, window: u64, counter: Counter, perf_events: &[String]) -> Fields {
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

pub(crate) fn median(mut v: Vec<f64>) -> f64 {
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
pub(crate) enum Regime {
    /// Child `i` exits after a delay uniform in `[0, W)`, W = max(0.2 s, N x 1 ms): about one
    /// exit per millisecond, each woken on its own (the floor pays one `epoll_wait` per exit).
    Staggered,
    /// All at once: wake-ups carry many exits (the floor's `epoll_wait` is amortized, and its
    /// cost per child is the `waitid` and the `close`, about 2).
    Burst,
}

impl Regime {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Regime::Staggered => "staggered",
            Regime::Burst => "burst",
        }
    }

    /// The window of the children's exit delays, in microseconds.
    pub(crate) fn window(self, n: usize) -> u64 {
        match self {
            Regime::Staggered => (n as u64 * 1000).max(200_000),
            Regime::Burst => 0,
        }
    }

    /// The regime of the timed rows (`BENCH_BURST=1`: burst).
    pub(crate) fn timed() -> Regime {
        if env_or("BENCH_BURST", "0") == "1" { Regime::Burst } else { Regime::Staggered }
    }
}

/// The counting rows: `counted[regime][n][method]`.
pub(crate) type Counted = BTreeMap<Regime, BTreeMap<usize, BTreeMap<Method, Fields>>>;

pub(crate) struct Plan {
    pub(crate) ns: Vec<usize>,
    /// Timed rounds per N: more where rows are cheap.
    pub(crate) rounds: BTreeMap<usize, usize>,
    /// The largest N at which tokio gets a counting row (its spawn phase is the slowest).
    pub(crate) count_tokio_max: usize,
    pub(crate) methods: Vec<Method>,
    pub(crate) threads_max: usize,
    pub(crate) counter: Counter,
    pub(crate) perf_events: Vec<String>,
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

pub(crate) fn driver(quick: bool) {
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
