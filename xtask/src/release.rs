//! The gate's release checks: what a publication needs, proven before one.
//!
//! - `package`: `cargo package` of every publishable crate, verified (each builds from its own
//!   tarball, its workspace siblings resolved from the other tarballs, not from crates.io).
//! - `publish --dry-run`: `cargo publish --dry-run` of the same crates, in one multi-package
//!   run (cargo orders them by dependency).
//!
//! Both need no network but the crates.io index (for the third-party dependencies).

use std::process::Command;

use serde::Deserialize;

#[derive(Deserialize)]
struct Metadata {
    packages: Vec<Package>,
}

#[derive(Deserialize)]
struct Package {
    name: String,
    /// `None`: publishable anywhere; `Some([])`: `publish = false`.
    publish: Option<Vec<String>>,
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let status = cmd.status().map_err(|e| format!("{cmd:?}: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("{cmd:?} failed: {status}")) }
}

/// The workspace's packages that are published (no `publish = false`), by package name.
pub(crate) fn publishable() -> Result<Vec<String>, String> {
    let out = cargo()
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .output()
        .map_err(|e| format!("cargo metadata: {e}"))?;
    if !out.status.success() {
        return Err(format!("cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let meta: Metadata = serde_json::from_slice(&out.stdout).map_err(|e| format!("cargo metadata: {e}"))?;
    let names: Vec<String> = meta
        .packages
        .into_iter()
        .filter(|p| p.publish.as_ref().is_none_or(|r| !r.is_empty()))
        .map(|p| p.name)
        .collect();
    if names.is_empty() {
        return Err("no publishable package in the workspace".into());
    }
    Ok(names)
}

fn with_packages(cmd: &mut Command, packages: &[String]) {
    for p in packages {
        cmd.args(["-p", p]);
    }
}

/// `cargo package` with verification (`--allow-dirty`: a fresh clone is clean anyway, and a
/// developer may check work in progress): every publishable crate builds from its own tarball.
pub(crate) fn package() -> Result<(), String> {
    let packages = publishable()?;
    println!("    packages: {}", packages.join(" "));
    let mut cmd = cargo();
    cmd.args(["package", "--allow-dirty"]);
    with_packages(&mut cmd, &packages);
    run(&mut cmd)
}

/// `cargo publish --dry-run` of every publishable crate (nothing is uploaded).
pub(crate) fn publish_dry_run() -> Result<(), String> {
    let packages = publishable()?;
    let mut cmd = cargo();
    cmd.args(["publish", "--dry-run", "--allow-dirty"]);
    with_packages(&mut cmd, &packages);
    run(&mut cmd)
}
