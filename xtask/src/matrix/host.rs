//! The host tools the matrix needs, installed with apt as root when missing: a QEMU >= 8.1 for
//! each guest architecture (bookworm-backports' QEMU 10 on bookworm, whose own 7.2 crashes
//! 6.12+ guests at random under TCG), and Debian's cross GCC with its glibc for the targets
//! linked statically against glibc ([`Linker::Cross`]).
//!
//! The installs use the machine's dpkg state (they are real installs) with apt sources of their
//! own under `target/kmatrix/apt/host`, the archive address read from this machine's apt
//! sources. An install that would remove a package, or upgrade one that is not QEMU's, is
//! refused.

use super::apt::{machine_archive, run, stanza};
use super::arch::{Arch, Linker};
use super::config::Version;
use std::path::Path;
use std::process::{Command, Stdio};

/// The version `qemu --version` reports, if it runs.
pub(crate) fn qemu_version(qemu: &str) -> Option<Version> {
    let out = Command::new(qemu).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let v = text.split("version").nth(1)?.trim();
    Version::parse(v)
}

fn os_codename() -> String {
    std::fs::read_to_string("/etc/os-release")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VERSION_CODENAME=").map(|v| v.trim_matches('"').to_owned()))
        .unwrap_or_default()
}

/// Packages whose upgrade is the point of the QEMU install (an old QEMU and its firmware).
fn upgrade_is_ours(package: &str) -> bool {
    package.starts_with("qemu-") || ["seabios", "ipxe-qemu", "qemu-efi-aarch64", "ovmf", "opensbi"].contains(&package)
}

/// Whether `program --version` runs.
fn runs(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// What is missing for `archs`: QEMU packages (from backports on bookworm), cross packages.
fn missing(min: Version, archs: &[Arch]) -> (Vec<&'static str>, Vec<&'static str>) {
    let (mut qemu_packages, mut cross_packages) = (Vec::new(), Vec::new());
    for &arch in archs {
        let (qemu, package) = arch.qemu();
        match qemu_version(qemu) {
            Some(v) if v >= min => {}
            Some(v) => {
                eprintln!("kernel-matrix: {qemu} {v} is too old (TCG crashes 6.12+ guests at random); need >= {min}");
                qemu_packages.push(package);
            }
            None => {
                eprintln!("kernel-matrix: {qemu} is not installed");
                qemu_packages.push(package);
            }
        }
        if let Linker::Cross { gcc, packages } = arch.linker()
            && std::env::var_os(arch.cargo_linker_var()).is_none()
            && !runs(gcc)
        {
            eprintln!("kernel-matrix: {gcc} is not installed (it links the {} binaries)", arch.rust_target());
            cross_packages.extend(packages);
        }
    }
    for list in [&mut qemu_packages, &mut cross_packages] {
        list.sort_unstable();
        list.dedup();
    }
    (qemu_packages, cross_packages)
}

/// Makes sure every tool the rows of `archs` need is installed: a QEMU >= `min` per
/// architecture and the cross linkers; installs what is missing (as root), refusing any removal
/// and any upgrade of an unrelated package.
pub(crate) fn ensure_tools(min: Version, archs: &[Arch], kmatrix: &Path) -> Result<(), String> {
    let (qemu_packages, cross_packages) = missing(min, archs);
    if qemu_packages.is_empty() && cross_packages.is_empty() {
        return Ok(());
    }
    let all: Vec<&str> = qemu_packages.iter().chain(&cross_packages).copied().collect();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(format!(
            "install {} (QEMU >= {min}: on Debian bookworm from bookworm-backports), or run as root so the \
             xtask can",
            all.join(" ")
        ));
    }
    let archive = machine_archive()?;
    let codename = os_codename();
    let mut suites = vec![codename.clone(), format!("{codename}-updates")];
    let target_release = (codename == "bookworm").then(|| "bookworm-backports".to_owned());
    if let Some(t) = &target_release {
        suites.push(t.clone());
    }
    // Own sources and lists; the machine's dpkg status (this installs for real).
    let dir = kmatrix.join("apt").join("host");
    for sub in ["sources.list.d", "lists/partial", "cache/archives/partial"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(|e| e.to_string())?;
    }
    let mut sources = stanza(&archive.main, &suites, &[]);
    if let Some(sec) = &archive.security {
        sources.push_str(&stanza(sec, &[format!("{codename}-security")], &[]));
    }
    std::fs::write(dir.join("sources.list.d/kmatrix-host.sources"), sources).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("sources.list"), "").map_err(|e| e.to_string())?;
    let opts = [
        format!("Dir::Etc::SourceList={}", dir.join("sources.list").display()),
        format!("Dir::Etc::SourceParts={}", dir.join("sources.list.d").display()),
        format!("Dir::State::Lists={}", dir.join("lists").display()),
        format!("Dir::Cache={}", dir.join("cache").display()),
        "Acquire::Languages=none".to_owned(),
    ];
    let apt = |args: &[&str]| {
        let mut c = Command::new("apt-get");
        for o in &opts {
            c.arg("-o").arg(o);
        }
        c.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        c
    };
    run(&mut apt(&["-q", "update"]), "apt-get update (host tool sources)")?;
    // QEMU from backports; the cross toolchains from the release itself (backports has none).
    for (packages, release) in [(&qemu_packages, target_release.as_deref()), (&cross_packages, None)] {
        if packages.is_empty() {
            continue;
        }
        eprintln!("kernel-matrix: installing {} from {}", packages.join(" "), release.unwrap_or(&codename));
        let mut install = vec!["-y", "-q", "--no-install-recommends"];
        if let Some(t) = release {
            install.extend(["-t", t]);
        }
        install.push("install");
        install.extend(packages.iter());
        let mut sim = install.clone();
        sim.insert(0, "-s");
        let shown = packages.join(" ");
        let plan = run(&mut apt(&sim), &format!("apt-get -s install {shown}"))?;
        let risky: Vec<&str> = plan
            .lines()
            .filter(|l| {
                l.starts_with("Remv ")
                    || l.starts_with("Inst libc6 ")
                    || l.starts_with("Inst libc-bin ")
                    || (l.starts_with("Inst ")
                        && l.split_whitespace().nth(2).is_some_and(|w| w.starts_with('['))
                        && !l.split_whitespace().nth(1).is_some_and(upgrade_is_ours))
            })
            .collect();
        if !risky.is_empty() {
            return Err(format!("refusing to install {shown}: apt would remove or upgrade:\n{}", risky.join("\n")));
        }
        let started = std::time::Instant::now();
        run(&mut apt(&install), &format!("apt-get install {shown}"))?;
        eprintln!("kernel-matrix: installed {shown} in {:.1} s", started.elapsed().as_secs_f64());
    }
    let (q, c) = missing(min, archs);
    if q.is_empty() && c.is_empty() {
        Ok(())
    } else {
        Err(format!("after installing, still missing or too old: {}", [q, c].concat().join(" ")))
    }
}
