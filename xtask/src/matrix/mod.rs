//! `cargo xtask kernel-matrix`: the workspace's test binaries under real Linux
//! kernels in QEMU, each kernel's expected features checked, plus host runs
//! under `cargo xtask emulate` profiles; ends with a matrix (also written to
//! `target/kmatrix/matrix.md`).
//!
//! Flow: make sure QEMU >= 8.1 and the cross linkers are there ([`host`]); build
//! static test binaries, `xtask-init` and the `features` example for each guest
//! architecture ([`arch`], [`artifacts`]); fetch busybox and the kernels with a
//! private apt configuration ([`apt`]); write one newc initramfs per architecture
//! ([`cpio`], [`vm`]); boot the kernels, `parallel_vms` at a time (TCG unless
//! KVM really works), reading the init's console protocol ([`report`]); run
//! the emulation rows on the host; print the matrix.

pub(crate) mod apt;
mod arch;
mod artifacts;
pub(crate) mod config;
mod cpio;
mod host;
pub(crate) mod readme;
mod report;
mod vm;

use arch::Arch;
use config::{Config, Kernel, Version};
use report::{Ended, Limits, Row, Streamer};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const USAGE: &str = "\
usage: cargo xtask kernel-matrix [options]

Boots the workspace's test binaries under the kernels in xtask/kernels.toml
(downloaded from Debian with a private apt configuration under target/kmatrix),
checks each kernel's expected features, runs the emulation rows on the host,
and prints the matrix (also target/kmatrix/matrix.md).

options:
  --kernel PATH   boot this kernel image instead of the default set (repeatable);
                  the expected features follow the version in its header,
                  or give it as PATH=VERSION
  --only LABEL    run only the rows whose label is LABEL or starts with LABEL.
                  (repeatable; e.g. --only 6.12 --only emulated-5.4)
  --package NAME  build only this package's tests (repeatable; default: all library crates)
  --no-emulation  skip the host emulation rows
  --tcg           never try KVM
  --jobs N, -j N  boot N VMs at once (default: kernels.toml's parallel_vms)
  --verbose, -v   echo every console line (they are always in target/kmatrix/logs)
  --list          print the rows that would run, and their expected features

environment:
  KMATRIX_FEATURES=PATH  use this static binary as /bin/features instead of
                         building pidfd's `features` example
";

/// Options of one run.
#[derive(Default)]
struct Options {
    kernels: Vec<String>,
    only: Vec<String>,
    packages: Vec<String>,
    no_emulation: bool,
    tcg: bool,
    jobs: Option<u32>,
    verbose: bool,
    list: bool,
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut o = Options::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or_else(|| format!("{name} needs a value\n\n{USAGE}"));
        match a.as_str() {
            "--kernel" => o.kernels.push(value("--kernel")?),
            "--only" => o.only.push(value("--only")?),
            "--package" | "-p" => o.packages.push(value("--package")?),
            "--no-emulation" => o.no_emulation = true,
            "--tcg" => o.tcg = true,
            "--jobs" | "-j" => {
                let v = value("--jobs")?;
                o.jobs = Some(v.parse().map_err(|_| format!("--jobs {v}: not a number"))?);
            }
            "--verbose" | "-v" => o.verbose = true,
            "--list" => o.list = true,
            "--help" | "-h" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}\n\n{USAGE}")),
        }
    }
    Ok(o)
}

/// The workspace root (parent of `xtask/`).
pub(crate) fn workspace_root() -> PathBuf {
    let xtask = Path::new(env!("CARGO_MANIFEST_DIR"));
    xtask.parent().unwrap_or(xtask).to_owned()
}

/// `target/kmatrix`.
fn kmatrix_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|t| if t.is_absolute() { t } else { workspace_root().join(t) })
        .unwrap_or_else(|| workspace_root().join("target"));
    target.join("kmatrix")
}

/// The running kernel's version.
pub(crate) fn host_version() -> Result<Version, String> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_err(|e| format!("reading the host kernel version: {e}"))?;
    Version::parse(release.trim()).ok_or_else(|| format!("cannot parse kernel version {release}"))
}

fn selected(label: &str, only: &[String]) -> bool {
    only.is_empty()
        || only.iter().any(|o| label == o || label.strip_prefix(o.as_str()).is_some_and(|rest| rest.starts_with('.')))
}

/// One kernel to boot: from kernels.toml, or a user's image (x86_64).
struct Planned {
    label: String,
    expected: Vec<String>,
    arch: Arch,
    source: Source,
}

enum Source {
    Debian(Kernel),
    File(PathBuf),
}

fn user_kernel(spec: &str, cfg: &Config) -> Result<Planned, String> {
    let (path, version) = match spec.rsplit_once('=') {
        Some((p, v)) => (PathBuf::from(p), Some(v.to_owned())),
        None => (PathBuf::from(spec), None),
    };
    if !path.is_file() {
        return Err(format!("--kernel {}: no such file", path.display()));
    }
    let release = version
        .or_else(|| vm::bzimage_release(&path))
        .ok_or_else(|| format!("--kernel {}: cannot read its version; give it as PATH=VERSION", path.display()))?;
    let v = Version::parse(&release).ok_or_else(|| format!("--kernel {}: bad version {release}", path.display()))?;
    Ok(Planned {
        label: release.split(['-', '+']).next().unwrap_or(&release).to_owned(),
        expected: cfg.features.for_version(v),
        arch: Arch::X86_64,
        source: Source::File(path),
    })
}

/// Entry point of `cargo xtask kernel-matrix`.
pub(crate) fn kernel_matrix(args: &[String]) -> Result<(), String> {
    let started = Instant::now();
    let opts = parse_args(args)?;
    let cfg = config::load()?;
    let kdir = kmatrix_dir();
    let log_dir = kdir.join("logs");

    let mut plan = Vec::new();
    if opts.kernels.is_empty() {
        for k in &cfg.kernels {
            plan.push(Planned {
                label: k.label.clone(),
                expected: k.expected(&cfg.features),
                arch: k.arch,
                source: Source::Debian(k.clone()),
            });
        }
    } else {
        for spec in &opts.kernels {
            plan.push(user_kernel(spec, &cfg)?);
        }
    }
    plan.retain(|p| selected(&p.label, &opts.only));
    let host = host_version()?;
    let emulations: Vec<_> = if opts.no_emulation {
        Vec::new()
    } else {
        cfg.emulations.iter().filter(|e| selected(&e.label, &opts.only)).cloned().collect()
    };
    if plan.is_empty() && emulations.is_empty() {
        return Err("no rows selected (see --only)".to_owned());
    }
    if opts.list {
        for p in &plan {
            let what = match &p.source {
                Source::Debian(k) => format!("{}:{} {} ({})", k.package, k.arch.debian(), k.package_version, k.suite),
                Source::File(f) => f.display().to_string(),
            };
            println!("{:16} {what}\n{:16} expect: {}", p.label, "", p.expected.join(","));
        }
        for e in &emulations {
            let profile = crate::emulate::Profile::parse(e.kernel.as_deref(), e.profile.as_deref())?;
            let expected = profile.expectation(&cfg, host);
            println!(
                "{:16} host {host} under `emulate {}`\n{:16} expect: {}\n{:16} denied: {}",
                e.label,
                profile.args(),
                "",
                expected.present.join(","),
                "",
                expected.denied.join(",")
            );
        }
        return Ok(());
    }

    // 1. Host tools (QEMU, cross linkers), then the binaries, for each architecture a row needs
    // (the host rows run x86_64's).
    let mut guest_archs: Vec<Arch> = plan.iter().map(|p| p.arch).collect();
    guest_archs.sort();
    guest_archs.dedup();
    host::ensure_tools(cfg.qemu_min, &guest_archs, &kdir)?;
    let mut archs = guest_archs.clone();
    if !emulations.is_empty() {
        archs.push(Arch::X86_64);
    }
    archs.sort();
    archs.dedup();
    let t = Instant::now();
    let built = artifacts::build(&archs, &opts.packages)?;
    for (arch, a) in &built {
        eprintln!(
            "kernel-matrix: {} test binaries{} for {}",
            a.tests.len(),
            if a.features.is_some() { " and features" } else { "" },
            arch.rust_target()
        );
    }
    eprintln!("kernel-matrix: built for {} targets in {:.1} s", built.len(), t.elapsed().as_secs_f64());
    let mut rows = Vec::new();
    let mut qemu_names = Vec::new();

    if !plan.is_empty() {
        // 2. Downloads (kernels, busybox), cached under target/kmatrix.
        let t = Instant::now();
        let mut suites: Vec<String> = cfg.kernels.iter().map(|k| k.suite.clone()).collect();
        suites.push(cfg.busybox_suite.clone());
        let mut fetcher = apt::Fetcher::new(kdir.join("apt"), suites, guest_archs.clone());
        let mut images = Vec::new();
        for p in &plan {
            images.push(match &p.source {
                Source::Debian(k) => apt::kernel_image(&mut fetcher, k, &kdir)?,
                Source::File(f) => f.clone(),
            });
        }
        eprintln!("kernel-matrix: kernels ready in {:.1} s", t.elapsed().as_secs_f64());

        // 3. Initramfs and QEMU, per architecture.
        std::fs::create_dir_all(&kdir).map_err(|e| format!("{}: {e}", kdir.display()))?;
        let mut guests: BTreeMap<Arch, (PathBuf, String)> = BTreeMap::new();
        for p in &plan {
            if guests.contains_key(&p.arch) {
                continue;
            }
            let busybox = match apt::busybox(&mut fetcher, &cfg.busybox_suite, p.arch, &kdir) {
                Ok(b) => Some(b),
                Err(e) => {
                    eprintln!("kernel-matrix: warning: no busybox in the {} VM ({e})", p.arch.debian());
                    None
                }
            };
            let out = kdir.join(format!("initramfs-{}.cpio", p.arch.debian()));
            let initrd = vm::initramfs(&built[&p.arch], busybox.as_deref(), &out)?;
            let qemu = p.arch.qemu().0.to_owned();
            let version = host::qemu_version(&qemu).map_or("?".to_owned(), |v| v.to_string());
            qemu_names.push(format!("{qemu} {version}"));
            guests.insert(p.arch, (initrd, qemu));
        }
        let kvm = AtomicBool::new(!opts.tcg && vm::kvm_candidate());
        let jobs = opts.jobs.unwrap_or(cfg.parallel_vms).max(1) as usize;
        eprintln!(
            "kernel-matrix: {}, {}; booting {} kernels, {}",
            qemu_names.join(", "),
            if kvm.load(Ordering::Relaxed) { "trying KVM" } else { "TCG (no usable KVM)" },
            plan.len(),
            if jobs == 1 { "one after another".to_owned() } else { format!("{jobs} at a time") }
        );

        // 4. Boots: `jobs` workers take the rows in order; the matrix keeps the plan's order.
        let boot_one = |p: &Planned, image: &PathBuf| -> Result<Row, String> {
            let (initrd, qemu) = &guests[&p.arch];
            let b = vm::Boot {
                label: &p.label,
                arch: p.arch,
                image,
                initrd,
                expected: &p.expected,
                qemu,
                threads: cfg.test_threads,
                binary_timeout: cfg.binary_timeout,
                timeouts: (Duration::from_secs(cfg.timeout_tcg), Duration::from_secs(cfg.timeout_kvm)),
                log_dir: &log_dir,
                verbose: opts.verbose,
                has_features: built[&p.arch].features.is_some(),
                test_binaries: built[&p.arch].tests.len(),
                // Side by side, the guests already fill the host's cores: a second vCPU each would
                // only compete for them.
                smp: if jobs > 1 { 1 } else { 2 },
            };
            let mut k = kvm.load(Ordering::Relaxed);
            let mut row = vm::boot(&b, &mut k)?;
            if !k {
                kvm.store(false, Ordering::Relaxed);
            }
            check_features(&mut row, &cfg);
            Ok(row)
        };
        let next = AtomicUsize::new(0);
        let results: Mutex<Vec<Option<Result<Row, String>>>> = Mutex::new((0..plan.len()).map(|_| None).collect());
        std::thread::scope(|scope| {
            for _ in 0..jobs.min(plan.len()) {
                scope.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(p) = plan.get(i) else { break };
                        let r = boot_one(p, &images[i]);
                        results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
                    }
                });
            }
        });
        for r in results.into_inner().unwrap_or_else(|e| e.into_inner()) {
            rows.push(r.ok_or("a boot did not run")??);
        }
    }

    // 5. Host emulation rows.
    for e in &emulations {
        let mut row = host_row(e, &cfg, host, &built[&Arch::X86_64], &kdir, opts.verbose)?;
        check_features(&mut row, &cfg);
        rows.push(row);
    }

    // 6. The matrix.
    let total = started.elapsed();
    let names = cfg.features.names();
    print!("{}", report::terminal(&rows, &names, total));
    let md = kdir.join("matrix.md");
    let qemu_name = if qemu_names.is_empty() { "no QEMU".to_owned() } else { qemu_names.join(", ") };
    std::fs::write(&md, report::markdown(&rows, &names, total, &qemu_name))
        .map_err(|e| format!("{}: {e}", md.display()))?;
    println!("matrix written to {}", md.display());
    let failed: Vec<_> = rows.iter().filter(|r| !r.pass).map(|r| r.label.as_str()).collect();
    if !failed.is_empty() {
        return Err(format!("kernel matrix failed for: {}", failed.join(", ")));
    }
    // Every row matched its expectations; the README's table must say the same.
    readme::check(&cfg.features).map_err(|e| format!("the matrix passed, but README.md disagrees:\n  {e}"))
}

/// Fails a row whose measured features disagree with its expectation.
fn check_features(row: &mut Row, cfg: &Config) {
    let bad = report::mismatches(row, &cfg.features.names());
    if !bad.is_empty() {
        for b in &bad {
            println!("[{}] EXPECTATION: {b}", row.label);
        }
        row.pass = false;
        row.notes.extend(bad);
    }
}

/// Runs `features` and every test binary on the host under an emulation profile.
fn host_row(
    e: &config::Emulation,
    cfg: &Config,
    host: Version,
    a: &artifacts::Artifacts,
    kdir: &Path,
    verbose: bool,
) -> Result<Row, String> {
    let started = Instant::now();
    let profile = crate::emulate::Profile::parse(e.kernel.as_deref(), e.profile.as_deref())?;
    let expected = profile.expectation(cfg, host);
    let mut s = Streamer::new(&e.label, kdir.join("logs").join(format!("{}.host.log", e.label)), verbose)?;
    let cwd = kdir.join("host-tmp").join(&e.label);
    let _ = std::fs::remove_dir_all(&cwd);
    std::fs::create_dir_all(&cwd).map_err(|e| format!("{}: {e}", cwd.display()))?;
    println!("[{}] host kernel {host} under `cargo xtask emulate {}`", e.label, profile.args());
    s.line(&format!("KMATRIX-BEGIN kernel={} (host {host})", e.label));
    let mut programs: Vec<(String, PathBuf, Vec<String>)> = Vec::new();
    if let Some(f) = &a.features {
        programs.push(("features".to_owned(), f.clone(), vec!["--kmatrix".to_owned()]));
    }
    for t in &a.tests {
        // `--report-time` (per-test durations in the log) needs RUSTC_BOOTSTRAP, set below.
        let args =
            vec![format!("--test-threads={}", cfg.test_threads), "-Zunstable-options".into(), "--report-time".into()];
        programs.push((t.name.clone(), t.path.clone(), args));
    }
    let mut rc = 0;
    let mut notes = Vec::new();
    for (name, path, args) in programs {
        let mut cmd = Command::new(&path);
        cmd.args(&args)
            .current_dir(&cwd)
            .env("PIDFD_TEST_KERNEL", &e.label)
            .env("PIDFD_TEST_EXPECT", expected.present.join(","))
            .env("PIDFD_TEST_DENIED", expected.denied.join(","))
            .env("RUSTC_BOOTSTRAP", "1")
            .env("TMPDIR", &cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = crate::emulate::spawn(&profile, cmd)?;
        let began = Instant::now();
        let limits = host_limits(cfg.binary_timeout);
        let ended = s.run(child.child_mut(), limits, false);
        child.finish();
        let (code, why) = host_exit(&name, &ended, &limits, began.elapsed());
        if code != 0 {
            rc = 1;
            notes.extend(why);
        }
        s.line(&format!("KMATRIX-EXIT {name} status={code} secs={:.1}", began.elapsed().as_secs_f64()));
    }
    s.line(&format!("KMATRIX-DONE rc={rc}"));
    let pass = rc == 0;
    if !pass {
        s.print_tail();
    }
    println!(
        "[{}] {} in {:.1} s (log {})",
        e.label,
        if pass { "passed" } else { "FAILED" },
        started.elapsed().as_secs_f64(),
        s.log_path.display()
    );
    Ok(Row {
        label: e.label.clone(),
        how: "host".to_owned(),
        expected: expected.present,
        denied: expected.denied,
        has_features: a.features.is_some(),
        run: s.run.clone(),
        wall: started.elapsed(),
        pass,
        notes,
    })
}

/// The limits of one program on a host row: nothing else kills it there, so a silence of
/// `binary_timeout` plus [`config::QUIET_MARGIN`] (the harness's own case timeout reports a
/// hung case first), under the ceiling [`Limits::for_binaries`] gives one binary.
fn host_limits(binary_timeout: u64) -> Limits {
    let quiet = Duration::from_secs(binary_timeout.saturating_add(config::QUIET_MARGIN));
    Limits::for_binaries(1, Duration::from_secs(binary_timeout), quiet)
}

/// The status code of a host row's program `name` that ended as `ended` after `wall` (124 when
/// killed for its `limits`, as the guest's init prints it), and the notes a failure adds to
/// the row: the code, and which limit a killed program overran.
fn host_exit(name: &str, ended: &Ended, limits: &Limits, wall: Duration) -> (i32, Vec<String>) {
    let code = match ended.status {
        _ if ended.timed_out.is_some() => 124,
        Some(st) => st.code().unwrap_or_else(|| {
            use std::os::unix::process::ExitStatusExt as _;
            128 + st.signal().unwrap_or(127)
        }),
        None => 125,
    };
    let mut notes = Vec::new();
    if code != 0 {
        notes.push(format!("{name} exited with status {code}"));
    }
    if let Some(overrun) = ended.timed_out {
        notes.push(format!("{name}: {}", limits.message(overrun, wall)));
    }
    (code, notes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use report::Overrun;
    use std::os::unix::process::ExitStatusExt as _;
    use std::process::ExitStatus;

    #[test]
    fn a_host_binary_outlasts_the_harness_case_timeout_and_says_why_it_was_killed() {
        let s = Duration::from_secs;
        let l = host_limits(120);
        assert_eq!((l.quiet, l.total), (s(150), s(270)));
        let ended = |status: Option<ExitStatus>, timed_out| Ended { status, timed_out };
        assert_eq!(
            host_exit("t", &ended(None, Some(Overrun::Quiet)), &l, s(151)),
            (
                124,
                vec![
                    "t exited with status 124".to_owned(),
                    "t: no output for 150 s (hung), killed after 151 s".to_owned()
                ]
            )
        );
        let (code, notes) = host_exit("t", &ended(None, Some(Overrun::Total)), &l, s(270));
        assert_eq!((code, notes[1].as_str()), (124, "t: still running after 270 s (its ceiling), killed"));
        // Not killed: its own status (a signal as 128 + N), and no limit named.
        assert_eq!(host_exit("t", &ended(Some(ExitStatus::from_raw(0)), None), &l, s(1)), (0, vec![]));
        assert_eq!(
            host_exit("t", &ended(Some(ExitStatus::from_raw(9)), None), &l, s(1)),
            (137, vec!["t exited with status 137".to_owned()])
        );
    }
}
