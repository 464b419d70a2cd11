//! Reading the console protocol, streaming output, and the final matrix.

use std::fs::File;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::PathBuf;
use std::process::{Child, ExitStatus};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What one run's output said.
#[derive(Clone, Debug, Default)]
pub(crate) struct RunLog {
    /// `KMATRIX-BEGIN` was seen (the init started).
    pub(crate) begun: bool,
    /// `KMATRIX-DONE rc=N`.
    pub(crate) done_rc: Option<i32>,
    /// `KMATRIX-EXIT <name> status=N`, in order.
    pub(crate) exits: Vec<(String, i32)>,
    /// `KMATRIX-FEATURE <name> <value>`, in order.
    pub(crate) features: Vec<(String, String)>,
    /// Summed from libtest's `test result:` lines.
    pub(crate) passed: u64,
    /// Summed from libtest's `test result:` lines.
    pub(crate) failed: u64,
    /// Summed from libtest's `test result:` lines.
    pub(crate) ignored: u64,
    /// Number of `test result:` lines.
    pub(crate) results: usize,
    /// A kernel crash or hang message, if one was seen.
    pub(crate) crash: Option<String>,
    /// `KMATRIX-SPAWN <arch> <method>`: the default spawn path, as pidfd's
    /// `the_vfork_clone3_is_the_default_where_the_kernel_has_it` asserted it.
    pub(crate) spawn: Option<String>,
}

/// Console lines that mean the guest kernel is gone or stuck.
const CRASH: &[&str] = &[
    "Kernel panic",
    "detected stalls on CPU",
    "rcu_sched detected stalls",
    "rcu_preempt detected stalls",
    "BUG: soft lockup",
    "KVM internal error",
];

impl RunLog {
    /// Takes one output line; returns whether it is worth echoing.
    pub(crate) fn feed(&mut self, line: &str) -> bool {
        if let Some(rest) = find_after(line, "KMATRIX-FEATURE ") {
            let mut w = rest.split_whitespace();
            if let (Some(n), Some(v)) = (w.next(), w.next()) {
                self.features.push((n.to_owned(), v.to_owned()));
            }
            return false;
        }
        if let Some(rest) = find_after(line, "KMATRIX-SPAWN ") {
            self.spawn = Some(rest.trim().to_owned());
            return false;
        }
        if find_after(line, "KMATRIX-BEGIN").is_some() {
            self.begun = true;
            return true;
        }
        if let Some(rest) = find_after(line, "KMATRIX-DONE rc=") {
            self.done_rc = leading_int(rest);
            return true;
        }
        if let Some(rest) = find_after(line, "KMATRIX-EXIT ") {
            if let Some((name, st)) = rest.split_once(" status=") {
                self.exits.push((name.trim().to_owned(), leading_int(st).unwrap_or(-1)));
            }
            return true;
        }
        if let Some(rest) = find_after(line, "test result: ") {
            self.results += 1;
            for part in rest.split(';') {
                let part = part.trim().trim_start_matches("ok.").trim_start_matches("FAILED.").trim();
                let mut w = part.split_whitespace();
                let (Some(n), Some(what)) = (w.next().and_then(|n| n.parse::<u64>().ok()), w.next()) else {
                    continue;
                };
                match what {
                    "passed" => self.passed += n,
                    "failed" => self.failed += n,
                    "ignored" => self.ignored += n,
                    _ => {}
                }
            }
            return true;
        }
        if self.crash.is_none()
            && let Some(p) = CRASH.iter().find(|p| line.contains(*p))
        {
            self.crash = Some((*p).to_owned());
            return true;
        }
        line.contains("FAILED") || line.contains("panicked at") || line.contains("kmatrix-init:")
    }
}

fn find_after<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    line.find(marker).map(|i| &line[i + marker.len()..])
}

fn leading_int(s: &str) -> Option<i32> {
    let end =
        s.char_indices().find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && c == '-'))).map_or(s.len(), |(i, _)| i);
    s[..end].parse().ok()
}

/// Streams child processes' output into a log file and a [`RunLog`],
/// echoing key lines prefixed with the row's label.
pub(crate) struct Streamer {
    /// The row label.
    pub(crate) label: String,
    /// Echo every line, not only key ones.
    pub(crate) verbose: bool,
    /// Where the full output goes.
    pub(crate) log_path: PathBuf,
    log: File,
    /// Parsed so far.
    pub(crate) run: RunLog,
    /// Last lines, for failure reports.
    pub(crate) tail: std::collections::VecDeque<String>,
}

/// How a streamed process ended.
pub(crate) struct Ended {
    /// Its exit status, unless it was killed for a timeout or crash.
    pub(crate) status: Option<ExitStatus>,
    /// It was killed for a [`Limits`] it overran.
    pub(crate) timed_out: Option<Overrun>,
}

/// How long a streamed process may run.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// The longest it may print nothing: longer than `binary_timeout` (the guest's per-binary
    /// timeout), so that the timeout inside reports first and only a hang is that quiet.
    pub(crate) quiet: Duration,
    /// The longest it may run at all, however much it prints: a guest kernel that logs the
    /// same warning forever is hung too.
    pub(crate) total: Duration,
}

/// Which of its [`Limits`] a process overran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Overrun {
    /// It printed nothing for `quiet`.
    Quiet,
    /// It ran for `total`.
    Total,
}

impl Limits {
    /// The limits of a run of `binaries` programs (test binaries and `features`), each bounded by
    /// `binary_timeout` where it runs (a guest's init kills it then): `quiet`, and the programs'
    /// bounds plus one more `quiet` (a boot, a shutdown) as the ceiling.
    pub(crate) fn for_binaries(binaries: usize, binary_timeout: Duration, quiet: Duration) -> Limits {
        Limits { quiet, total: binary_timeout * u32::try_from(binaries).unwrap_or(u32::MAX) + quiet }
    }

    /// Why a process that started at `started` and last printed at `last_line` is over its
    /// limits at `now`, if it is.
    fn overrun(&self, started: Instant, last_line: Instant, now: Instant) -> Option<Overrun> {
        if now.duration_since(last_line) >= self.quiet {
            Some(Overrun::Quiet)
        } else if now.duration_since(started) >= self.total {
            Some(Overrun::Total)
        } else {
            None
        }
    }

    /// The message of a row killed for `overrun` after `wall`.
    pub(crate) fn message(&self, overrun: Overrun, wall: Duration) -> String {
        match overrun {
            Overrun::Quiet => {
                format!("no output for {} s (hung), killed after {:.0} s", self.quiet.as_secs(), wall.as_secs_f64())
            }
            Overrun::Total => format!("still running after {} s (its ceiling), killed", self.total.as_secs()),
        }
    }
}

impl Streamer {
    /// A streamer writing to `log_path` (truncated).
    pub(crate) fn new(label: &str, log_path: PathBuf, verbose: bool) -> Result<Self, String> {
        if let Some(dir) = log_path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let log = File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
        Ok(Self { label: label.to_owned(), verbose, log_path, log, run: RunLog::default(), tail: Default::default() })
    }

    /// Records a line as if the process had printed it.
    pub(crate) fn line(&mut self, line: &str) {
        let _ = writeln!(self.log, "{line}");
        if self.tail.len() == 60 {
            self.tail.pop_front();
        }
        self.tail.push_back(line.to_owned());
        let key = self.run.feed(line);
        if key || self.verbose {
            println!("[{}] {line}", self.label);
        }
    }

    /// Streams `child`'s stdout and stderr (both must be piped) until it exits, overruns its
    /// `limits` (killed), or (when `kill_on_crash`) a crash line appears.
    ///
    /// Mainly a silence, not a duration: a loaded host stretches a run that makes progress. A
    /// test binary may legitimately print nothing for a while (libtest notes a test running for
    /// over 60 s, then nothing; a `harness = false` case prints nothing until it ends), but only
    /// until a timeout inside kills it and says so: the guest's init after `binary_timeout`. The
    /// quiet limit exceeds `binary_timeout` (by `config::QUIET_MARGIN`, checked when the
    /// configuration is read), so the init reports first and only a hang goes quiet for that
    /// long. The total is a generous ceiling behind it.
    pub(crate) fn run(&mut self, child: &mut Child, limits: Limits, kill_on_crash: bool) -> Ended {
        let (tx, rx) = mpsc::channel::<String>();
        let mut readers = Vec::new();
        let out: Option<Box<dyn std::io::Read + Send>> =
            child.stdout.take().map(|o| Box::new(o) as Box<dyn std::io::Read + Send>);
        let err: Option<Box<dyn std::io::Read + Send>> =
            child.stderr.take().map(|o| Box::new(o) as Box<dyn std::io::Read + Send>);
        for pipe in [out, err].into_iter().flatten() {
            let tx = tx.clone();
            readers.push(std::thread::spawn(move || {
                let mut r = BufReader::new(pipe);
                let mut buf = Vec::new();
                loop {
                    buf.clear();
                    match r.read_until(b'\n', &mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {
                            let s = String::from_utf8_lossy(&buf);
                            let s = s.trim_end_matches(['\n', '\r']).replace('\r', "");
                            if tx.send(s).is_err() {
                                break;
                            }
                        }
                    }
                }
            }));
        }
        drop(tx);
        let mut exited_at: Option<Instant> = None;
        let started = Instant::now();
        let mut last_line = started;
        let mut status = None;
        let mut timed_out = None;
        loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => {
                    last_line = Instant::now();
                    self.line(&line);
                    if kill_on_crash && self.run.crash.is_some() {
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                    // On to the checks: a process that never stops printing has a ceiling too.
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    status = child.wait().ok();
                    break;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            if status.is_none()
                && let Ok(Some(st)) = child.try_wait()
            {
                status = Some(st);
                exited_at = Some(Instant::now());
            }
            // A grandchild may hold the pipes open after the child is gone.
            if exited_at.is_some_and(|t| t.elapsed() > Duration::from_secs(2)) {
                break;
            }
            if status.is_none() {
                timed_out = limits.overrun(started, last_line, Instant::now());
            }
            if timed_out.is_some() {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
        }
        // Late lines (after a kill) still go to the log.
        while let Ok(line) = rx.try_recv() {
            self.line(&line);
        }
        Ended { status, timed_out }
    }

    /// Prints the last lines of the log, for a failed row.
    pub(crate) fn print_tail(&self) {
        println!("[{}] ---- last {} lines of {} ----", self.label, self.tail.len(), self.log_path.display());
        for l in &self.tail {
            println!("[{}] | {l}", self.label);
        }
    }
}

/// One row of the matrix.
#[derive(Clone, Debug)]
pub(crate) struct Row {
    /// Kernel label.
    pub(crate) label: String,
    /// What ran it: `tcg`, `kvm`, `host`.
    pub(crate) how: String,
    /// Expected features (present).
    pub(crate) expected: Vec<String>,
    /// Features expected to probe `denied` (a seccomp profile refuses their probe); empty for
    /// real kernels. Every feature in neither list must probe `no`.
    pub(crate) denied: Vec<String>,
    /// Whether feature lines are expected at all (a `features` binary ran).
    pub(crate) has_features: bool,
    /// The parsed output.
    pub(crate) run: RunLog,
    /// Wall time of the row (boots and retries included).
    pub(crate) wall: Duration,
    /// Pass / fail.
    pub(crate) pass: bool,
    /// Why it failed, or notes (retries, fallbacks).
    pub(crate) notes: Vec<String>,
}

/// What a row expects of a feature: `yes`, `denied` or `no`.
pub(crate) fn want(row: &Row, feature: &str) -> &'static str {
    if row.expected.iter().any(|f| f == feature) {
        "yes"
    } else if row.denied.iter().any(|f| f == feature) {
        "denied"
    } else {
        "no"
    }
}

/// A feature cell: measured value and whether it disagrees with the expectation. `yes` and
/// `denied` must be measured exactly where expected; anything else (`no`, `unknown`) only
/// where neither is.
pub(crate) fn cell(row: &Row, feature: &str) -> (Option<String>, bool) {
    let measured = row.run.features.iter().find(|(n, _)| n == feature).map(|(_, v)| v.clone());
    let want = want(row, feature);
    let mismatch = match measured.as_deref() {
        Some("yes") => want != "yes",
        Some("denied") => want != "denied",
        Some(_) => want != "no",
        None => false,
    };
    (measured, mismatch)
}

/// The feature mismatches of a row, as messages.
pub(crate) fn mismatches(row: &Row, features: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    if !row.has_features {
        return out;
    }
    for f in features {
        let (m, bad) = cell(row, f);
        match m {
            None => out.push(format!("feature {f}: not reported by `features`")),
            Some(v) if bad => out.push(format!("feature {f}: measured {v}, expected {}", want(row, f))),
            _ => {}
        }
    }
    for (n, _) in &row.run.features {
        if !features.contains(n) {
            out.push(format!("feature {n}: reported but not a feature of pidfd/src/compat/mod.rs"));
        }
    }
    out
}

/// The feature columns, or none when no row measured features (no `features` binary).
fn measured_columns(rows: &[Row], features: &[String]) -> Vec<String> {
    if rows.iter().any(|r| !r.run.features.is_empty()) { features.to_vec() } else { Vec::new() }
}

fn short(v: Option<&str>) -> &'static str {
    match v {
        Some("yes") => "+",
        Some("no") => "-",
        Some("denied") => "d",
        Some(_) => "?",
        None => " ",
    }
}

/// The terminal matrix: feature names written vertically above their columns.
pub(crate) fn terminal(rows: &[Row], features: &[String], total: Duration) -> String {
    let features = measured_columns(rows, features);
    let features = features.as_slice();
    let label_w = rows.iter().map(|r| r.label.len()).max().unwrap_or(6).max(6);
    let head_h = features.iter().map(String::len).max().unwrap_or(0);
    let mut s = String::new();
    s.push_str("\nKernel matrix (+ yes, - no, d denied, ! differs from the expectation)\n");
    for i in 0..head_h {
        s.push_str(&format!("{:label_w$} {:4} ", "", ""));
        for f in features {
            let c = f.chars().nth(i).unwrap_or(' ');
            s.push_str(&format!("{c}  "));
        }
        s.push('\n');
    }
    s.push_str(&format!(
        "{:label_w$} {:4} {}  {:>6} {:>6} {:>7} {:>7}  result\n",
        "kernel",
        "how",
        "-".repeat(features.len() * 3),
        "passed",
        "failed",
        "ignored",
        "time"
    ));
    for r in rows {
        s.push_str(&format!("{:label_w$} {:4} ", r.label, r.how));
        for f in features {
            let (m, bad) = cell(r, f);
            s.push_str(short(m.as_deref()));
            s.push_str(if bad { "! " } else { "  " });
        }
        s.push_str(&format!(
            " {:>6} {:>6} {:>7} {:>6.1}s  {}\n",
            r.run.passed,
            r.run.failed,
            r.run.ignored,
            r.wall.as_secs_f64(),
            if r.pass { "PASS" } else { "FAIL" }
        ));
    }
    let passed = rows.iter().filter(|r| r.pass).count();
    s.push_str(&format!("{passed} of {} rows passed; total {:.1} s\n", rows.len(), total.as_secs_f64()));
    for r in rows.iter().filter(|r| !r.notes.is_empty()) {
        for n in &r.notes {
            s.push_str(&format!("  {}: {n}\n", r.label));
        }
    }
    s
}

/// The Markdown matrix (for the README's kernel support table).
pub(crate) fn markdown(rows: &[Row], features: &[String], total: Duration, qemu: &str) -> String {
    let features = measured_columns(rows, features);
    let features = features.as_slice();
    let mut s = String::new();
    s.push_str("# Kernel matrix\n\n");
    s.push_str(&format!(
        "Generated by `cargo xtask kernel-matrix` ({qemu}); every cell was measured in this run.\n\
         `yes`/`no`/`denied` is what `pidfd::features()` reported; a `!` marks a value that differs \
         from the kernel's expected feature set (`xtask/kernels.toml`, `pidfd/src/compat/mod.rs`). \
         `spawn` is the architecture and the default spawn path pidfd's tests asserted there (the \
         vfork `clone3` where the architecture has its trampoline and the kernel 5.5's flags, \
         else the vfork `clone`).\n\n"
    ));
    s.push_str("| kernel | how |");
    for f in features {
        s.push_str(&format!(" `{f}` |"));
    }
    s.push_str(" spawn | passed | failed | ignored | time | result |\n|---|---|");
    for _ in features {
        s.push_str(":-:|");
    }
    s.push_str("---|--:|--:|--:|--:|---|\n");
    for r in rows {
        s.push_str(&format!("| {} | {} |", r.label, r.how));
        for f in features {
            let (m, bad) = cell(r, f);
            let v = m.unwrap_or_default();
            s.push_str(&format!(" {v}{} |", if bad { " !" } else { "" }));
        }
        s.push_str(&format!(
            " {} | {} | {} | {} | {:.1} s | {} |\n",
            r.run.spawn.as_deref().unwrap_or(""),
            r.run.passed,
            r.run.failed,
            r.run.ignored,
            r.wall.as_secs_f64(),
            if r.pass { "pass" } else { "**FAIL**" }
        ));
    }
    s.push_str(&format!("\nTotal time: {:.1} s.\n", total.as_secs_f64()));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_lines() {
        let mut r = RunLog::default();
        assert!(r.feed("KMATRIX-BEGIN kernel=6.12 uptime=1.2"));
        assert!(!r.feed("KMATRIX-FEATURE pidfs yes"));
        assert!(!r.feed("KMATRIX-SPAWN s390x VforkClone"));
        r.feed("test result: ok. 5 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s");
        r.feed("test result: FAILED. 2 passed; 3 failed; 0 ignored; 0 measured; 0 filtered out");
        r.feed("KMATRIX-EXIT pidfd-lib status=101");
        r.feed("[    1.0] KMATRIX-DONE rc=1");
        r.feed("[    2.0] Kernel panic - not syncing: oops");
        assert!(r.begun);
        assert_eq!((r.passed, r.failed, r.ignored, r.results), (7, 3, 1, 2));
        assert_eq!(r.exits, vec![("pidfd-lib".to_owned(), 101)]);
        assert_eq!(r.done_rc, Some(1));
        assert_eq!(r.features, vec![("pidfs".to_owned(), "yes".to_owned())]);
        assert_eq!(r.crash.as_deref(), Some("Kernel panic"));
        assert_eq!(r.spawn.as_deref(), Some("s390x VforkClone"));
    }

    #[test]
    fn cells() {
        let mut row = Row {
            label: "x".into(),
            how: "tcg".into(),
            expected: vec!["a".into(), "b".into()],
            denied: vec![],
            has_features: true,
            run: RunLog::default(),
            wall: Duration::ZERO,
            pass: true,
            notes: vec![],
        };
        for (n, v) in [("a", "yes"), ("b", "denied"), ("c", "yes"), ("d", "no")] {
            row.run.features.push((n.into(), v.into()));
        }
        assert!(!cell(&row, "a").1);
        assert!(cell(&row, "b").1);
        assert!(cell(&row, "c").1);
        assert!(!cell(&row, "d").1);
        let all: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        assert_eq!(mismatches(&row, &all).len(), 2);
        let t = terminal(std::slice::from_ref(&row), &all, Duration::ZERO);
        assert!(t.contains("x      tcg  +  d! +! -"), "{t}");
        let md = markdown(&[row], &all, Duration::ZERO, "QEMU 10.0");
        assert!(md.contains("| x | tcg | yes | denied ! | yes ! | no |"), "{md}");
    }

    #[test]
    fn denied_is_a_third_state() {
        let mut row = Row {
            label: "c".into(),
            how: "host".into(),
            expected: vec!["a".into()],
            denied: vec!["b".into(), "c".into(), "d".into()],
            has_features: true,
            run: RunLog::default(),
            wall: Duration::ZERO,
            pass: true,
            notes: vec![],
        };
        let measured = [("a", "yes"), ("b", "denied"), ("c", "no"), ("d", "yes"), ("e", "denied"), ("f", "no")];
        for (n, v) in measured {
            row.run.features.push((n.into(), v.into()));
        }
        let bad: Vec<bool> = measured.iter().map(|(n, _)| cell(&row, n).1).collect();
        assert_eq!(bad, [false, false, true, true, true, false]);
        let all: Vec<String> = measured.iter().map(|(n, _)| n.to_string()).collect();
        let m = mismatches(&row, &all);
        assert_eq!(
            m,
            [
                "feature c: measured no, expected denied",
                "feature d: measured yes, expected denied",
                "feature e: measured denied, expected no",
            ]
        );
        // A real kernel expects nothing denied: `denied` measured there is a failure.
        row.denied.clear();
        assert!(cell(&row, "b").1);
        assert!(!cell(&row, "c").1);
    }

    #[test]
    fn limits_are_a_silence_under_a_ceiling() {
        let s = Duration::from_secs;
        let l = Limits::for_binaries(3, s(120), s(180));
        assert_eq!((l.quiet, l.total), (s(180), s(540)));
        let t0 = Instant::now();
        // Printing keeps it alive past any one silence, up to the ceiling.
        assert_eq!(l.overrun(t0, t0 + s(500), t0 + s(530)), None);
        assert_eq!(l.overrun(t0, t0 + s(530), t0 + s(540)), Some(Overrun::Total));
        // Quiet for the whole silence: hung, however early.
        assert_eq!(l.overrun(t0, t0 + s(10), t0 + s(190)), Some(Overrun::Quiet));
        assert_eq!(l.overrun(t0, t0 + s(10), t0 + s(189)), None);
        assert!(l.message(Overrun::Quiet, s(190)).starts_with("no output for 180 s (hung)"));
        assert!(l.message(Overrun::Total, s(540)).contains("540 s"));
    }

    /// A real process: which limit killed it, or none.
    fn stream(script: &str, limits: Limits) -> Ended {
        let dir = std::env::temp_dir().join(format!("xtask-streamer-{}", std::process::id()));
        let mut s = Streamer::new("t", dir.join("log"), false).unwrap();
        let mut child = std::process::Command::new("sh")
            .args(["-c", script])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let ended = s.run(&mut child, limits, false);
        let _ = std::fs::remove_dir_all(dir);
        ended
    }

    #[test]
    fn a_streamed_process_is_killed_for_the_limit_it_overran() {
        let ms = Duration::from_millis;
        let hour = Duration::from_secs(3600);
        // It goes quiet: killed for the silence, long before the ceiling.
        let e = stream("echo a; exec sleep 3600", Limits { quiet: ms(300), total: hour });
        assert_eq!((e.timed_out, e.status.is_none()), (Some(Overrun::Quiet), true));
        // It never stops printing: the ceiling ends it.
        let e = stream("while :; do echo x; sleep 0.02; done", Limits { quiet: hour, total: ms(300) });
        assert_eq!((e.timed_out, e.status.is_none()), (Some(Overrun::Total), true));
        // It finishes: its own status, nothing overrun.
        let e = stream("echo a; sleep 0.1; echo b", Limits { quiet: hour, total: hour });
        assert_eq!(e.timed_out, None);
        assert!(e.status.is_some_and(|st| st.success()));
    }
}
