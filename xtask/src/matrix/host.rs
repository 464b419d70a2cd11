//! The host tools the matrix needs, installed with apt as root when missing: a QEMU >= 8.1 for
//! each guest architecture (bookworm-backports' QEMU 10 on bookworm, whose own 7.2 crashes
//! 6.12+ guests at random under TCG), and Debian's cross GCC with its glibc for the targets
//! linked statically against glibc ([`Linker::Cross`]).
//!
//! The installs use the machine's dpkg state (they are real installs) with apt sources of their
//! own under `target/kmatrix/apt/host`, the archive address read from this machine's apt
//! sources. An install that would remove a package, or upgrade one that is not QEMU's, is
//! refused.

use super::apt::{install_host_packages, os_codename};
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
    let codename = os_codename();
    let target_release = (codename == "bookworm").then_some("bookworm-backports");
    let dir = kmatrix.join("apt").join("host");
    // QEMU from backports; the cross toolchains from the release itself (backports has none).
    for (packages, release) in [(&qemu_packages, target_release), (&cross_packages, None)] {
        if !packages.is_empty() {
            install_host_packages(packages, release, &dir, &upgrade_is_ours, "")?;
        }
    }
    let (q, c) = missing(min, archs);
    if q.is_empty() && c.is_empty() {
        Ok(())
    } else {
        Err(format!("after installing, still missing or too old: {}", [q, c].concat().join(" ")))
    }
}
