//! The initramfs and QEMU: building, booting, judging one kernel.

use super::arch::Arch;
use super::artifacts::Artifacts;
use super::cpio::Cpio;
use super::report::{Limits, Overrun, Row, Streamer};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Busybox applets linked into `/bin` (tests exec `/bin/true`, `/bin/sh`, ...).
const APPLETS: &[&str] = &[
    "sh", "true", "false", "sleep", "cat", "echo", "env", "kill", "ls", "ps", "sync", "mkdir", "rm", "test", "[",
    "yes", "id", "uname", "head", "grep", "wc", "timeout", "pwd", "printf", "readlink",
];

/// Writes the initramfs; returns its path.
pub(crate) fn initramfs(a: &Artifacts, busybox: Option<&Path>, out: &Path) -> Result<PathBuf, String> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
    let mut c = Cpio::default();
    for d in ["bin", "sbin", "usr", "dev", "proc", "sys", "tmp", "tests", "root", "etc", "run"] {
        c.dir(d);
    }
    c.symlink("usr/bin", "../bin");
    c.symlink("usr/sbin", "../sbin");
    c.file("etc/passwd", 0o644, b"root:x:0:0:root:/tmp:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n");
    c.file("etc/group", 0o644, b"root:x:0:\nnogroup:x:65534:\n");
    c.file("init", 0o755, &read(&a.init)?);
    if let Some(bb) = busybox {
        c.file("bin/busybox", 0o755, &read(bb)?);
        for applet in APPLETS {
            c.symlink(&format!("bin/{applet}"), "busybox");
        }
    }
    if let Some(f) = &a.features {
        c.file("bin/features", 0o755, &read(f)?);
    }
    for t in &a.tests {
        c.file(&format!("tests/{}", t.name), 0o755, &read(&t.path)?);
    }
    let bytes = c.finish();
    std::fs::write(out, &bytes).map_err(|e| format!("{}: {e}", out.display()))?;
    eprintln!(
        "kernel-matrix: initramfs {} ({:.1} MB: init, {} test binaries{}{})",
        out.display(),
        bytes.len() as f64 / 1e6,
        a.tests.len(),
        if a.features.is_some() { ", features" } else { "" },
        if busybox.is_some() { ", busybox" } else { "" },
    );
    Ok(out.to_owned())
}

/// Hardware acceleration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Accel {
    /// Software emulation.
    Tcg,
    /// KVM with the host CPU model.
    Kvm,
}

impl Accel {
    /// Short name for the matrix.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Accel::Tcg => "tcg",
            Accel::Kvm => "kvm",
        }
    }
}

/// Whether KVM is worth trying: `/dev/kvm` usable, `vmx`/`svm` in cpuinfo and
/// not the nested `kvm_pvm` kind (which fails with stock kernels). A boot that
/// does not reach the init still falls back to TCG.
pub(crate) fn kvm_candidate() -> bool {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let flags = cpuinfo
        .lines()
        .filter(|l| l.starts_with("flags"))
        .any(|l| l.split_whitespace().any(|f| f == "vmx" || f == "svm"));
    let rw = std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm").is_ok();
    flags && rw && !Path::new("/sys/module/kvm_pvm").exists()
}

/// One kernel to boot.
pub(crate) struct Boot<'a> {
    /// Row label and `PIDFD_TEST_KERNEL`.
    pub(crate) label: &'a str,
    /// The guest architecture (the image's, the initramfs's and QEMU's).
    pub(crate) arch: Arch,
    /// The kernel image (x86_64: bzImage or PVH ELF; aarch64: `Image`).
    pub(crate) image: &'a Path,
    /// The initramfs.
    pub(crate) initrd: &'a Path,
    /// Expected features (`PIDFD_TEST_EXPECT`).
    pub(crate) expected: &'a [String],
    /// QEMU binary.
    pub(crate) qemu: &'a str,
    /// libtest `--test-threads`.
    pub(crate) threads: u32,
    /// Seconds per test binary in the guest.
    pub(crate) binary_timeout: u64,
    /// How long a VM may print nothing before it counts as hung (TCG, KVM).
    pub(crate) timeouts: (Duration, Duration),
    /// Where logs go.
    pub(crate) log_dir: &'a Path,
    /// Echo all console lines.
    pub(crate) verbose: bool,
    /// `features` is in the initramfs.
    pub(crate) has_features: bool,
    /// How many test binaries the initramfs holds.
    pub(crate) test_binaries: usize,
    /// Virtual CPUs: 2, or 1 when VMs run side by side.
    pub(crate) smp: u32,
}

impl Boot<'_> {
    /// How long a guest under `accel` may print nothing, and run at all: the init runs
    /// `features` under the same per-binary timeout as the test binaries, so it counts too.
    fn limits(&self, accel: Accel) -> Limits {
        let quiet = match accel {
            Accel::Tcg => self.timeouts.0,
            Accel::Kvm => self.timeouts.1,
        };
        let programs = self.test_binaries + usize::from(self.has_features);
        Limits::for_binaries(programs, Duration::from_secs(self.binary_timeout), quiet)
    }
}

/// Result of one QEMU process.
struct Attempt {
    streamer: Streamer,
    qemu_status: Option<i32>,
    timed_out: Option<Overrun>,
    wall: Duration,
}

fn attempt(b: &Boot<'_>, accel: Accel, n: u32) -> Result<Attempt, String> {
    let append = format!(
        "console={} panic=-1 quiet kmatrix.kernel={} kmatrix.expect={} kmatrix.threads={} kmatrix.timeout={}",
        b.arch.console(),
        b.label,
        b.expected.join(","),
        b.threads,
        b.binary_timeout
    );
    let mut cmd = Command::new(b.qemu);
    cmd.args(b.arch.machine_args(accel))
        .args(["-m", "512", "-smp", &b.smp.to_string(), "-no-user-config", "-nodefaults", "-display", "none"])
        .args(["-serial", "stdio", "-monitor", "none", "-no-reboot"])
        .arg("-kernel")
        .arg(b.image)
        .arg("-initrd")
        .arg(b.initrd)
        .arg("-append")
        .arg(&append)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let suffix = if n == 0 { String::new() } else { format!(".retry{n}") };
    let log = b.log_dir.join(format!("{}{suffix}.{}.log", b.label, accel.name()));
    let mut streamer = Streamer::new(b.label, log, b.verbose)?;
    streamer.line(&format!("kmatrix-host: {} {}", b.qemu, shell_words(&cmd)));
    let started = Instant::now();
    let mut child = cmd.spawn().map_err(|e| format!("starting {}: {e}", b.qemu))?;
    let ended = streamer.run(&mut child, b.limits(accel), true);
    Ok(Attempt {
        qemu_status: ended.status.and_then(|s| s.code()),
        timed_out: ended.timed_out,
        streamer,
        wall: started.elapsed(),
    })
}

fn shell_words(cmd: &Command) -> String {
    cmd.get_args()
        .map(|a| {
            let a = a.to_string_lossy();
            if a.contains(' ') { format!("'{a}'") } else { a.into_owned() }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Boots one kernel (retrying a crash before the init started once, and
/// falling back from KVM to TCG); returns its row. `kvm` (whether to try KVM for a guest of
/// the host's architecture) is cleared when KVM turns out not to work.
pub(crate) fn boot(b: &Boot<'_>, kvm: &mut bool) -> Result<Row, String> {
    let started = Instant::now();
    let mut notes = Vec::new();
    let mut retries = 0;
    let mut accel = if *kvm && b.arch.native() { Accel::Kvm } else { Accel::Tcg };
    let a = loop {
        let a = attempt(b, accel, retries)?;
        let early = !a.streamer.run.begun;
        if early && accel == Accel::Kvm {
            notes.push("KVM boot did not reach the init: TCG from now on".to_owned());
            println!("[{}] KVM does not work here; falling back to TCG", b.label);
            *kvm = false;
            accel = Accel::Tcg;
            continue;
        }
        let crashed = a.streamer.run.crash.is_some() || a.timed_out.is_some();
        if early && crashed && retries == 0 {
            let why = a.streamer.run.crash.clone().unwrap_or_else(|| "timeout".to_owned());
            notes.push(format!("retried after a crash before the init started ({why})"));
            println!("[{}] guest crashed before the init started ({why}); retrying once", b.label);
            retries += 1;
            continue;
        }
        break a;
    };
    let run = &a.streamer.run;
    let mut pass = true;
    let mut fail = |m: String| {
        pass = false;
        notes.push(m);
    };
    if let Some(c) = &run.crash {
        fail(format!("guest kernel: {c}"));
    }
    if let Some(overrun) = a.timed_out {
        fail(b.limits(accel).message(overrun, a.wall));
    }
    match run.done_rc {
        Some(0) => {}
        Some(rc) => fail(format!("KMATRIX-DONE rc={rc}")),
        None => fail("no KMATRIX-DONE marker".to_owned()),
    }
    let passed = b.arch.passed_status();
    if a.qemu_status != Some(passed) && a.timed_out.is_none() && run.crash.is_none() {
        fail(format!("QEMU exit status {:?} (a passed suite ends it with {passed})", a.qemu_status));
    }
    for (name, st) in &run.exits {
        if *st != 0 {
            fail(format!("{name} exited with status {st}"));
        }
    }
    if run.results == 0 && !run.exits.iter().any(|(n, _)| n != "features") {
        notes.push("no test binaries ran".to_owned());
    }
    if !pass {
        a.streamer.print_tail();
    }
    println!(
        "[{}] {} in {:.1} s ({}, QEMU status {:?}, log {})",
        b.label,
        if pass { "passed" } else { "FAILED" },
        a.wall.as_secs_f64(),
        accel.name(),
        a.qemu_status,
        a.streamer.log_path.display()
    );
    Ok(Row {
        label: b.label.to_owned(),
        how: accel.name().to_owned(),
        expected: b.expected.to_vec(),
        denied: Vec::new(),
        has_features: b.has_features,
        run: a.streamer.run.clone(),
        wall: started.elapsed(),
        pass,
        notes,
    })
}

/// The kernel release string embedded in a bzImage's setup header, if any.
pub(crate) fn bzimage_release(image: &Path) -> Option<String> {
    let data = std::fs::read(image).ok()?;
    if data.get(0x202..0x206)? != b"HdrS" {
        return None;
    }
    let ptr = u16::from_le_bytes([*data.get(0x20e)?, *data.get(0x20f)?]) as usize + 0x200;
    let s = data.get(ptr..)?;
    let end = s.iter().position(|&c| c == 0 || c == b' ')?;
    Some(String::from_utf8_lossy(&s[..end]).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ceiling_counts_features_as_a_binary() {
        let s = Duration::from_secs;
        let mut b = Boot {
            label: "6.12",
            arch: Arch::X86_64,
            image: Path::new("vmlinuz"),
            initrd: Path::new("initrd"),
            expected: &[],
            qemu: "qemu-system-x86_64",
            threads: 2,
            binary_timeout: 120,
            timeouts: (s(180), s(150)),
            log_dir: Path::new("logs"),
            verbose: false,
            has_features: true,
            test_binaries: 3,
            smp: 1,
        };
        let l = b.limits(Accel::Kvm);
        assert_eq!((l.quiet, l.total), (s(150), s(4 * 120 + 150)));
        b.has_features = false;
        let l = b.limits(Accel::Tcg);
        assert_eq!((l.quiet, l.total), (s(180), s(3 * 120 + 180)));
    }
}
