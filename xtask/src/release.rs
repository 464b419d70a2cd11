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

/// The release steps as `cargo xtask` commands of their own.
pub(crate) const COMMANDS: &[&str] = &["package", "publish-dry-run", "proof", "msrv", "minimal-versions", "api"];

/// Runs one of [`COMMANDS`] from the workspace root.
pub(crate) fn command(name: &str, args: &[String]) -> Result<(), String> {
    let root = crate::ci::workspace_root();
    std::env::set_current_dir(&root).map_err(|e| format!("cd {}: {e}", root.display()))?;
    match name {
        "package" => package(),
        "publish-dry-run" => publish_dry_run(),
        "proof" => proof(),
        "msrv" => msrv(),
        "minimal-versions" => minimal_versions(),
        "api" => crate::api::api(args),
        other => Err(format!("unknown release command {other}")),
    }
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

/// Removes what earlier packagings extracted of this workspace's crates into the cargo home.
///
/// `cargo package` and `cargo publish --dry-run` verify each crate against its siblings'
/// tarballs through a local registry in the target directory, and cargo extracts those crates
/// under `$CARGO_HOME/registry/src/<registry>/<name>-<version>`, keyed by the registry's path,
/// not by the content. A later run from the same path (a fresh clone in the same place) with
/// the same version finds the old extraction and builds against it: a sibling then misses
/// what changed since (seen: `pidfd-async` built against an older `pidfd-core` whose
/// `__private` lacked a new item). A local registry has no host name, so cargo names its
/// directory `-<hash>` (crates.io's is `index.crates.io-<hash>`): only those are looked at, and
/// in them only this workspace's crates.
fn forget_packaged(packages: &[String]) -> Result<(), String> {
    let home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cargo")));
    let Some(home) = home else { return Ok(()) };
    let removed = forget_packaged_in(&home.join("registry").join("src"), packages)?;
    if !removed.is_empty() {
        println!("    removed {} earlier extraction(s) of these crates from the cargo home", removed.len());
    }
    Ok(())
}

/// [`forget_packaged`] under the registries' source directory `src`; returns what it removed.
fn forget_packaged_in(src: &std::path::Path, packages: &[String]) -> Result<Vec<std::path::PathBuf>, String> {
    let mut removed = Vec::new();
    let Ok(registries) = std::fs::read_dir(src) else { return Ok(removed) };
    for registry in registries.flatten() {
        if !registry.file_name().to_string_lossy().starts_with('-') {
            continue;
        }
        let Ok(crates) = std::fs::read_dir(registry.path()) else { continue };
        for krate in crates.flatten() {
            let name = krate.file_name().to_string_lossy().into_owned();
            let ours = packages.iter().any(|p| {
                name.strip_prefix(p.as_str())
                    .and_then(|rest| rest.strip_prefix('-'))
                    .is_some_and(|version| version.starts_with(|c: char| c.is_ascii_digit()))
            });
            if ours {
                let path = krate.path();
                std::fs::remove_dir_all(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                removed.push(path);
            }
        }
    }
    Ok(removed)
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
    forget_packaged(&packages)?;
    let mut cmd = cargo();
    cmd.args(["package", "--allow-dirty"]);
    with_packages(&mut cmd, &packages);
    run(&mut cmd)
}

/// `cargo publish --dry-run` of every publishable crate (nothing is uploaded).
pub(crate) fn publish_dry_run() -> Result<(), String> {
    let packages = publishable()?;
    forget_packaged(&packages)?;
    let mut cmd = cargo();
    cmd.args(["publish", "--dry-run", "--allow-dirty"]);
    with_packages(&mut cmd, &packages);
    run(&mut cmd)
}

/// Debian's own Rust: bookworm's `rustc-web` / `cargo-web` (Debian 13's `rustc` / `cargo` are
/// the same 1.85). Both install `/usr/bin/rustc`, `/usr/bin/rustdoc` and `/usr/bin/cargo`.
const DEBIAN_RUST: &[&str] = &["rustc-web", "cargo-web"];
const DEBIAN_CARGO: &str = "/usr/bin/cargo";
const DEBIAN_RUSTC: &str = "/usr/bin/rustc";
const DEBIAN_RUSTDOC: &str = "/usr/bin/rustdoc";

/// The `rust-version` of `[workspace.package]`.
fn declared_msrv() -> Result<String, String> {
    let manifest = std::fs::read_to_string("Cargo.toml").map_err(|e| e.to_string())?;
    let table: toml::Table = toml::from_str(&manifest).map_err(|e| format!("Cargo.toml: {e}"))?;
    table
        .get("workspace")
        .and_then(|w| w.get("package"))
        .and_then(|p| p.get("rust-version"))
        .and_then(|v| v.as_str())
        .map(str::to_owned)
        .ok_or_else(|| "no rust-version in [workspace.package]".to_owned())
}

/// The version `rustc --version` reports (`1.85.0`), if it runs.
fn rustc_version(rustc: &str) -> Option<String> {
    let out = Command::new(rustc).arg("--version").output().ok()?;
    String::from_utf8_lossy(&out.stdout).split_whitespace().nth(1).map(str::to_owned)
}

/// The declared MSRV, proven with a real compiler of that version that a distribution ships:
/// Debian's (installed by apt as root on a fresh machine, as the kernel matrix's QEMU is), which
/// builds and tests the library crates in `target/msrv`, apart from the toolchain's builds.
pub(crate) fn msrv() -> Result<(), String> {
    let declared = declared_msrv()?;
    if rustc_version(DEBIAN_RUSTC).is_none_or(|v| !v.starts_with(&format!("{declared}."))) {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err(format!(
                "need Debian's Rust {declared} in /usr/bin (on bookworm: apt-get install --no-install-recommends \
                 {}), or run as root so the xtask can",
                DEBIAN_RUST.join(" ")
            ));
        }
        let dir = crate::ci::workspace_root().join("target/msrv/apt");
        // bookworm-security carries a newer rustc-web (for Firefox and Chromium): pin the
        // declared version's (bookworm's own), above 1000 so it also replaces a newer one.
        let pin = format!(
            "Package: rustc-web cargo-web libstd-rust-web-dev libstd-rust-web-*\nPin: version {declared}.*\nPin-Priority: 1001\n"
        );
        let ours = |p: &str| p.contains("rust") || p.starts_with("cargo");
        crate::matrix::apt::install_host_packages(DEBIAN_RUST, None, &dir, &ours, &pin)?;
    }
    let found = rustc_version(DEBIAN_RUSTC).ok_or(format!("{DEBIAN_RUSTC} does not run"))?;
    if !found.starts_with(&format!("{declared}.")) {
        return Err(format!("{DEBIAN_RUSTC} is {found}, but rust-version says {declared}"));
    }
    // rustup's proxies must still come first on PATH: the other steps run `cargo +nightly`.
    let on_path = Command::new("sh").args(["-c", "command -v cargo"]).output().map_err(|e| e.to_string())?;
    if String::from_utf8_lossy(&on_path.stdout).trim() == DEBIAN_CARGO {
        return Err(format!("{DEBIAN_CARGO} (Debian's) shadows rustup's cargo on PATH; put ~/.cargo/bin first"));
    }
    println!("    Debian's rustc {found} ({DEBIAN_RUSTC}), cargo {DEBIAN_CARGO}");
    let libraries = publishable()?;
    let debian_cargo = |args: &[&str]| {
        let mut cmd = Command::new(DEBIAN_CARGO);
        cmd.args(args)
            .args(["--locked", "--target-dir", "target/msrv"])
            .env("RUSTC", DEBIAN_RUSTC)
            .env("RUSTDOC", DEBIAN_RUSTDOC)
            // What rustup set for the toolchain running xtask must not reach Debian's cargo.
            .env_remove("RUSTUP_TOOLCHAIN")
            .env_remove("RUSTC_WRAPPER")
            .env_remove("CARGO")
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS");
        with_packages(&mut cmd, &libraries);
        cmd
    };
    run(&mut debian_cargo(&["build", "--quiet"]))?;
    run(&mut debian_cargo(&["test", "--quiet", "--lib", "--tests", "--examples"]))
}

/// The direct dependencies whose declared floors the minimal-versions step reports.
const FLOORS: &[&str] = &["libc", "bitflags", "thiserror", "tokio", "autocfg"];

/// The lowest versions the manifests declare, proven: in a copy of the workspace (the committed
/// `Cargo.lock` is left alone), `cargo +nightly update -Z direct-minimal-versions` picks the
/// lowest version every direct dependency allows, and the library crates build and pass their
/// tests with them.
pub(crate) fn minimal_versions() -> Result<(), String> {
    crate::ci::ensure_nightly(&[])?;
    let root = crate::ci::workspace_root();
    let base = root.join("target/minimal-versions");
    let copy = base.join("workspace");
    if copy.exists() {
        std::fs::remove_dir_all(&copy).map_err(|e| format!("rm -r {}: {e}", copy.display()))?;
    }
    // The files of the checkout (tracked, and new ones not ignored), nothing of `target/`.
    let listed = Command::new("git")
        .args(["ls-files", "-z", "--cached", "--others", "--exclude-standard"])
        .current_dir(&root)
        .output()
        .map_err(|e| format!("git ls-files: {e}"))?;
    if !listed.status.success() {
        return Err(format!("git ls-files failed: {}", String::from_utf8_lossy(&listed.stderr)));
    }
    for rel in listed.stdout.split(|&b| b == 0).filter(|p| !p.is_empty()) {
        let rel = std::path::Path::new(std::str::from_utf8(rel).map_err(|e| e.to_string())?);
        let (from, to) = (root.join(rel), copy.join(rel));
        if !from.is_file() {
            continue; // deleted in the worktree, not yet committed
        }
        std::fs::create_dir_all(to.parent().unwrap_or(&copy)).map_err(|e| e.to_string())?;
        std::fs::copy(&from, &to).map_err(|e| format!("copy {}: {e}", rel.display()))?;
    }
    let nightly = |args: &[&str]| {
        let mut cmd = Command::new("cargo");
        cmd.arg("+nightly").args(args).current_dir(&copy).env_remove("RUSTUP_TOOLCHAIN").env_remove("CARGO");
        cmd
    };
    run(&mut nightly(&["update", "--quiet", "-Z", "direct-minimal-versions"]))?;
    let lock = std::fs::read_to_string(copy.join("Cargo.lock")).map_err(|e| e.to_string())?;
    let lock: toml::Table = toml::from_str(&lock).map_err(|e| format!("Cargo.lock: {e}"))?;
    let chosen: Vec<String> = lock
        .get("package")
        .and_then(|p| p.as_array())
        .into_iter()
        .flatten()
        .filter_map(|p| Some((p.get("name")?.as_str()?, p.get("version")?.as_str()?)))
        .filter(|(name, _)| FLOORS.contains(name))
        .map(|(name, version)| format!("{name} {version}"))
        .collect();
    println!("    lowest versions: {}", chosen.join(", "));
    let mut test = nightly(&["test", "--quiet", "--lib", "--tests", "--examples", "--target-dir"]);
    test.arg(base.join("target"));
    with_packages(&mut test, &publishable()?);
    run(&mut test)
}

/// The proof that the packages work for a user: a scratch crate outside the workspace whose
/// `[dependencies]` are the lines the crates' READMEs give, resolved to the packaged tarballs
/// (`target/package/*.crate`, unpacked; `[patch.crates-io]`, as the crates are not on crates.io
/// yet), builds the README's examples and runs each. Offline: the third-party crates are the
/// ones `cargo package` fetched. Then the packages' own tests run from their tarballs.
pub(crate) fn proof() -> Result<(), String> {
    let root = crate::ci::workspace_root();
    let packages = publishable()?;
    let version = env!("CARGO_PKG_VERSION"); // the workspace's version, which the crates share
    let crates = root.join("target/package");
    if packages.iter().any(|p| !crates.join(format!("{p}-{version}.crate")).exists()) {
        package()?;
    }
    let scratch = root.join("target/proof");
    let unpacked = scratch.join("crates");
    for dir in [scratch.join("examples"), unpacked.clone()] {
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| format!("rm -r {}: {e}", dir.display()))?;
        }
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    }
    let mut dependencies = toml::Table::new();
    let mut patch = toml::Table::new();
    let mut examples = Vec::new();
    for p in &packages {
        let tarball = crates.join(format!("{p}-{version}.crate"));
        run(Command::new("tar").arg("-xzf").arg(&tarball).arg("-C").arg(&unpacked))?;
        let dir = unpacked.join(format!("{p}-{version}"));
        let mut path = toml::Table::new();
        path.insert("path".into(), dir.display().to_string().into());
        patch.insert(p.clone(), path.into());
        // The README as packaged: its `[dependencies]` lines and its example.
        let readme = std::fs::read_to_string(dir.join("README.md")).map_err(|e| format!("{p}'s README: {e}"))?;
        for block in code_blocks(&readme, "toml") {
            let table: toml::Table = toml::from_str(&block).map_err(|e| format!("{p}'s README toml: {e}"))?;
            for (name, spec) in table.get("dependencies").and_then(|d| d.as_table()).into_iter().flatten() {
                match dependencies.get(name) {
                    Some(old) if old != spec => {
                        return Err(format!("the READMEs disagree on dependency {name}: {old} and {spec}"));
                    }
                    _ => drop(dependencies.insert(name.clone(), spec.clone())),
                }
            }
        }
        for (n, code) in code_blocks(&readme, "rust").into_iter().enumerate() {
            let name = format!("{}-{n}", p.replace('-', "_"));
            std::fs::write(scratch.join("examples").join(format!("{name}.rs")), code).map_err(|e| e.to_string())?;
            examples.push(name);
        }
    }
    let mut manifest = toml::Table::new();
    let mut package = toml::Table::new();
    package.insert("name".into(), "readme-proof".into());
    package.insert("version".into(), "0.0.0".into());
    package.insert("edition".into(), "2024".into());
    package.insert("publish".into(), false.into());
    manifest.insert("package".into(), package.into());
    manifest.insert("dependencies".into(), dependencies.into());
    let mut crates_io = toml::Table::new();
    crates_io.insert("crates-io".into(), patch.into());
    manifest.insert("patch".into(), crates_io.into());
    // Its own workspace (target/ lies inside this workspace's directory), with the unpacked
    // packages as members: their tests run as packaged, siblings resolved by the patch.
    let mut workspace = toml::Table::new();
    workspace.insert("members".into(), toml::Value::Array(vec!["crates/*".into()]));
    manifest.insert("workspace".into(), workspace.into());
    let text = toml::to_string(&manifest).map_err(|e| e.to_string())?;
    std::fs::write(scratch.join("Cargo.toml"), text).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(scratch.join("src")).map_err(|e| e.to_string())?;
    std::fs::write(scratch.join("src/lib.rs"), "//! The README examples are in examples/.\n")
        .map_err(|e| e.to_string())?;
    println!("    {}: {} README examples, dependencies from the READMEs", rel(&root, &scratch), examples.len());
    let scratch_cargo = |args: &[&str]| {
        let mut cmd = cargo();
        cmd.args(args).arg("--offline").current_dir(&scratch).env_remove("RUSTFLAGS").env_remove("CARGO_TARGET_DIR");
        cmd
    };
    run(&mut scratch_cargo(&["build", "--quiet", "--examples"]))?;
    for example in &examples {
        run(&mut scratch_cargo(&["run", "--quiet", "--example", example]))?;
        println!("    example {example}: ran");
    }
    // What a distribution does with a crate: build and test it from its tarball.
    let mut test = scratch_cargo(&["test", "--quiet"]);
    with_packages(&mut test, &packages);
    run(&mut test)?;
    println!("    the packages' own tests (as packaged): ok");
    Ok(())
}

fn rel(root: &std::path::Path, p: &std::path::Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

/// The fenced code blocks of a Markdown text in `lang`.
fn code_blocks(markdown: &str, lang: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match &mut current {
            None if line.trim_start().strip_prefix("```").is_some_and(|l| l.trim() == lang) => {
                current = Some(String::new());
            }
            Some(code) if line.trim_start().starts_with("```") => {
                blocks.push(std::mem::take(code));
                current = None;
            }
            Some(code) => {
                code.push_str(line);
                code.push('\n');
            }
            None => {}
        }
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_crates_in_local_registries_are_forgotten() {
        let src = std::env::temp_dir().join(format!("xtask-forget-{}", std::process::id()));
        let dirs = [
            "-0123abcd/pidfd-core-0.1.0",
            "-0123abcd/pidfd-core-extra-0.1.0",
            "-0123abcd/serde-1.0.0",
            "-4567ef01/pidfd-sys-0.2.3",
            "index.crates.io-1949cf8c6b5b557f/pidfd-core-0.1.0",
        ];
        for d in dirs {
            std::fs::create_dir_all(src.join(d).join("src")).unwrap();
        }
        let packages = ["pidfd-sys".to_owned(), "pidfd-core".to_owned()];
        let mut removed = forget_packaged_in(&src, &packages).unwrap();
        removed.sort();
        assert_eq!(removed, [src.join("-0123abcd/pidfd-core-0.1.0"), src.join("-4567ef01/pidfd-sys-0.2.3")]);
        for kept in [dirs[1], dirs[2], dirs[4]] {
            assert!(src.join(kept).exists(), "{kept} kept");
        }
        std::fs::remove_dir_all(&src).unwrap();
        assert!(forget_packaged_in(&src, &packages).unwrap().is_empty(), "a missing directory is nothing to do");
    }
}
