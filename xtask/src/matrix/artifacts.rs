//! Building the static binaries that go into the VM: the test binaries of the
//! library crates, the `features` example of `pidfd`, and `xtask-init`.

use super::arch::{Arch, Linker};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::BufRead as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Workspace members that are not part of the suite.
const NOT_TESTED: &[&str] = &["xtask", "xtask-init", "pidfd-demo", "test-support"];

/// One test executable.
#[derive(Clone, Debug)]
pub(crate) struct TestBinary {
    /// Name inside the VM (`/tests/<name>`), unique and sortable.
    pub(crate) name: String,
    /// Path on the host.
    pub(crate) path: PathBuf,
}

/// Everything the VM needs.
#[derive(Clone, Debug)]
pub(crate) struct Artifacts {
    /// The PID 1.
    pub(crate) init: PathBuf,
    /// `/bin/features`, when `pidfd` has that example.
    pub(crate) features: Option<PathBuf>,
    /// `/tests/*`.
    pub(crate) tests: Vec<TestBinary>,
}

/// The part of a cargo `--message-format=json` message the matrix reads; every field
/// optional, so that any message (a `build-finished`, a `compiler-message`) reads too.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Message {
    /// `compiler-artifact` for the messages this module keeps.
    reason: String,
    /// `path+file:///w/pidfd-sys#0.1.0`.
    package_id: String,
    target: Target,
    profile: Profile,
    /// The built executable (`null` for a library or build script).
    executable: Option<PathBuf>,
}

/// A message's `target`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Target {
    /// `["lib"]`, `["test"]`, `["bin"]`, ...
    kind: Vec<String>,
    name: String,
}

/// A message's `profile`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Profile {
    /// Built as a test harness.
    test: bool,
}

/// A `compiler-artifact` message of one line of cargo's output; `None` for any other line.
fn artifact(line: &str) -> Option<Message> {
    serde_json::from_str::<Message>(line).ok().filter(|m| m.reason == "compiler-artifact")
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    c.current_dir(super::workspace_root());
    c
}

/// Makes sure the target's standard library is installed.
fn ensure_target(target: &str) -> Result<(), String> {
    let out = Command::new("rustc")
        .args(["--print", "target-libdir", "--target", target])
        .output()
        .map_err(|e| format!("running rustc: {e}"))?;
    let dir = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let has_std = out.status.success()
        && std::fs::read_dir(&dir)
            .is_ok_and(|mut d| d.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("libstd-"))));
    if has_std {
        return Ok(());
    }
    eprintln!("kernel-matrix: installing the {target} standard library with rustup");
    let ok = Command::new("rustup").args(["target", "add", target]).status().is_ok_and(|s| s.success());
    if ok { Ok(()) } else { Err(format!("the {target} target is missing and `rustup target add {target}` failed")) }
}

/// Runs a cargo command for all of `archs` at once (one `--target` each: cargo interleaves the
/// targets' crates, which keeps both cores of a small machine busy) with
/// `--message-format=json-render-diagnostics`; returns the parsed `compiler-artifact` messages.
fn cargo_json(archs: &[Arch], args: &[&str]) -> Result<Vec<Message>, String> {
    let mut cmd = cargo();
    cmd.args(args).arg("--message-format=json-render-diagnostics").stdout(Stdio::piped()).stderr(Stdio::inherit());
    for arch in archs {
        cmd.args(["--target", arch.rust_target()]);
    }
    // Without debug information (the initramfs holds every test binary, in the guest's RAM),
    // left out by the linker: the host's `strip` cannot read other architectures' binaries.
    // The glibc targets are linked statically (`+crt-static`; musl's are by default).
    // Added to the flags cargo would use (the first set of CARGO_ENCODED_RUSTFLAGS, RUSTFLAGS,
    // the target's own), so that a user's RUSTFLAGS neither lose them nor are lost.
    let ours = |arch: Option<Arch>| {
        let cross = |a: Arch| matches!(a.linker(), Linker::Cross { .. });
        let mut v = vec!["-Cstrip=debuginfo"];
        if arch.map_or(archs.iter().any(|&a| cross(a)), cross) {
            v.push("-Ctarget-feature=+crt-static");
        }
        v
    };
    if let Ok(encoded) = std::env::var("CARGO_ENCODED_RUSTFLAGS") {
        let sep = if encoded.is_empty() { "" } else { "\x1f" };
        cmd.env("CARGO_ENCODED_RUSTFLAGS", format!("{encoded}{sep}{}", ours(None).join("\x1f")));
    } else if let Ok(flags) = std::env::var("RUSTFLAGS") {
        cmd.env("RUSTFLAGS", format!("{flags} {}", ours(None).join(" ")));
    } else {
        for &arch in archs {
            let var = format!("CARGO_TARGET_{}_RUSTFLAGS", arch.rust_target().to_uppercase().replace('-', "_"));
            let flags = ours(Some(arch)).join(" ");
            let flags = std::env::var(&var).map_or(flags.clone(), |f| format!("{f} {flags}"));
            cmd.env(var, flags);
        }
    }
    // Nor generated: the linker would drop it anyway, and it is a good part of the compile
    // time of the seven targets' builds (unless the user's environment asks otherwise).
    for var in ["CARGO_PROFILE_DEV_DEBUG", "CARGO_PROFILE_TEST_DEBUG"] {
        if std::env::var_os(var).is_none() {
            cmd.env(var, "0");
        }
    }
    for &arch in archs {
        let linker_var = arch.cargo_linker_var();
        let linker = match arch.linker() {
            Linker::HostCc => None,
            Linker::RustLld => Some("rust-lld"),
            Linker::Cross { gcc, .. } => Some(gcc),
        };
        if let (Some(linker), None) = (linker, std::env::var_os(&linker_var)) {
            cmd.env(linker_var, linker);
        }
    }
    let targets: Vec<&str> = archs.iter().map(|a| a.rust_target()).collect();
    let shown = format!("cargo {} --target {}", args.join(" "), targets.join(" --target "));
    let mut child = cmd.spawn().map_err(|e| format!("{shown}: {e}"))?;
    let mut artifacts = Vec::new();
    if let Some(out) = child.stdout.take() {
        for line in std::io::BufReader::new(out).lines() {
            let line = line.map_err(|e| format!("{shown}: reading output: {e}"))?;
            artifacts.extend(artifact(&line));
        }
    }
    let status = child.wait().map_err(|e| format!("{shown}: {e}"))?;
    if status.success() { Ok(artifacts) } else { Err(format!("`{shown}` failed ({status})")) }
}

/// The package name in a cargo `package_id`
/// (`path+file:///w/pidfd-sys#0.1.0` or `path+file:///w/dir#name@0.1.0`).
fn package_name(id: &str) -> String {
    let (path, frag) = id.rsplit_once('#').unwrap_or((id, ""));
    match frag.split_once('@') {
        Some((name, _)) => name.to_owned(),
        None => path.rsplit('/').next().unwrap_or(path).to_owned(),
    }
}

fn executable(msg: &Message) -> Option<PathBuf> {
    msg.executable.clone()
}

/// The test binary a `compiler-artifact` message names (a test harness with an executable,
/// of a package in the suite), named `<package>-lib` or `<package>-<kind>-<target>`.
fn test_binary(msg: &Message) -> Option<TestBinary> {
    let exe = executable(msg).filter(|_| msg.profile.test)?;
    let pkg = package_name(&msg.package_id);
    if NOT_TESTED.contains(&pkg.as_str()) {
        return None;
    }
    let name = match msg.target.kind.first().map_or("unknown", String::as_str) {
        "lib" => format!("{pkg}-lib"),
        other => format!("{pkg}-{other}-{}", msg.target.name),
    };
    Some(TestBinary { name, path: exe })
}

/// The architecture whose target directory holds `path` (`target/<triple>/...`).
fn arch_of(path: &std::path::Path, archs: &[Arch]) -> Option<Arch> {
    archs.iter().copied().find(|a| path.components().any(|c| c.as_os_str() == a.rust_target()))
}

/// Builds everything for each of `archs` (all targets in each cargo run); prints what it does.
/// `packages` limits the test binaries to those packages (all library crates when empty).
pub(crate) fn build(archs: &[Arch], packages: &[String]) -> Result<BTreeMap<Arch, Artifacts>, String> {
    let targets: Vec<&str> = archs.iter().map(|a| a.rust_target()).collect();
    for t in &targets {
        ensure_target(t)?;
    }
    eprintln!("kernel-matrix: building xtask-init and the test binaries for {}", targets.join(", "));
    let mut inits = BTreeMap::new();
    for exe in cargo_json(archs, &["build", "--quiet", "-p", "xtask-init", "--release"])?.iter().filter_map(executable)
    {
        if let Some(arch) = arch_of(&exe, archs) {
            inits.insert(arch, exe);
        }
    }

    let mut args = vec!["test", "--quiet", "--no-run"];
    if packages.is_empty() {
        args.push("--workspace");
        for p in NOT_TESTED {
            args.extend(["--exclude", p]);
        }
    } else {
        for p in packages {
            args.extend(["-p", p.as_str()]);
        }
    }
    let mut tests: BTreeMap<Arch, Vec<TestBinary>> = BTreeMap::new();
    for t in cargo_json(archs, &args)?.iter().filter_map(test_binary) {
        let Some(arch) = arch_of(&t.path, archs) else { continue };
        let list = tests.entry(arch).or_default();
        if !list.iter().any(|u| u.name == t.name) {
            list.push(t);
        }
    }

    let root = super::workspace_root();
    let has_example = (packages.is_empty() || packages.iter().any(|p| p == "pidfd-core"))
        && ["pidfd/examples/features.rs", "pidfd/examples/features/main.rs"].iter().any(|p| root.join(p).exists());
    let mut features = BTreeMap::new();
    if has_example {
        let built = cargo_json(archs, &["build", "--quiet", "-p", "pidfd-core", "--example", "features"])?;
        for exe in built.iter().filter_map(executable) {
            if let Some(arch) = arch_of(&exe, archs) {
                features.insert(arch, exe);
            }
        }
    } else {
        eprintln!("kernel-matrix: pidfd has no `features` example yet; feature columns stay empty");
    }
    let mut out = BTreeMap::new();
    for &arch in archs {
        let init = inits.remove(&arch).ok_or_else(|| format!("no xtask-init executable for {}", arch.rust_target()))?;
        let mut tests = tests.remove(&arch).unwrap_or_default();
        tests.sort_by(|a, b| a.name.cmp(&b.name));
        // A stand-in for the example, for debugging the matrix itself (host architecture).
        let stand_in = std::env::var_os("KMATRIX_FEATURES").filter(|_| arch.native()).map(PathBuf::from);
        let features = stand_in.or_else(|| features.remove(&arch));
        out.insert(arch, Artifacts { init, features, tests });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn package_ids() {
        assert_eq!(package_name("path+file:///w/pidfd-sys#0.1.0"), "pidfd-sys");
        assert_eq!(package_name("path+file:///w/dir#pidfd-ns@0.1.0"), "pidfd-ns");
        assert_eq!(package_name("registry+https://x/y#libc@0.2.1"), "libc");
    }

    /// Lines of `cargo test --no-run` and `cargo build` with `--message-format=json-render-diagnostics`,
    /// as cargo 1.95 printed them.
    const CARGO_LINES: &[&str] = &[
        r#"{"reason":"compiler-artifact","package_id":"path+file:///work/wt-h4/pidfd-sys#0.1.0","manifest_path":"/work/wt-h4/pidfd-sys/Cargo.toml","target":{"kind":["test"],"crate_types":["bin"],"name":"libc_crosscheck","src_path":"/work/wt-h4/pidfd-sys/tests/libc_crosscheck.rs","edition":"2024","doc":false,"doctest":false,"test":true},"profile":{"opt_level":"0","debuginfo":2,"debug_assertions":true,"overflow_checks":true,"test":true},"features":[],"filenames":["/work/wt-h4/target/debug/deps/libc_crosscheck-084c10ea0e9abc85"],"executable":"/work/wt-h4/target/debug/deps/libc_crosscheck-084c10ea0e9abc85","fresh":false}"#,
        r#"{"reason":"compiler-artifact","package_id":"path+file:///work/wt-h4/pidfd-sys#0.1.0","manifest_path":"/work/wt-h4/pidfd-sys/Cargo.toml","target":{"kind":["lib"],"crate_types":["lib"],"name":"pidfd_sys","src_path":"/work/wt-h4/pidfd-sys/src/lib.rs","edition":"2024","doc":true,"doctest":true,"test":true},"profile":{"opt_level":"0","debuginfo":2,"debug_assertions":true,"overflow_checks":true,"test":true},"features":[],"filenames":["/work/wt-h4/target/debug/deps/pidfd_sys-8cbc1e68129187b8"],"executable":"/work/wt-h4/target/debug/deps/pidfd_sys-8cbc1e68129187b8","fresh":false}"#,
        r#"{"reason":"compiler-artifact","package_id":"path+file:///work/wt-h4/pidfd#0.1.0","manifest_path":"/work/wt-h4/pidfd/Cargo.toml","target":{"kind":["example"],"crate_types":["bin"],"name":"features","src_path":"/work/wt-h4/pidfd/examples/features.rs","edition":"2024","doc":false,"doctest":false,"test":false},"profile":{"opt_level":"0","debuginfo":2,"debug_assertions":true,"overflow_checks":true,"test":false},"features":[],"filenames":["/work/wt-h4/target/debug/examples/features"],"executable":"/work/wt-h4/target/debug/examples/features","fresh":false}"#,
        r#"{"reason":"compiler-artifact","package_id":"path+file:///work/wt-h4/xtask-init#0.1.0","manifest_path":"/work/wt-h4/xtask-init/Cargo.toml","target":{"kind":["bin"],"crate_types":["bin"],"name":"xtask-init","src_path":"/work/wt-h4/xtask-init/src/main.rs","edition":"2024","doc":true,"doctest":false,"test":true},"profile":{"opt_level":"3","debuginfo":0,"debug_assertions":false,"overflow_checks":false,"test":false},"features":[],"filenames":["/work/wt-h4/target/release/xtask-init"],"executable":"/work/wt-h4/target/release/xtask-init","fresh":false}"#,
        r#"{"reason":"compiler-artifact","package_id":"path+file:///work/wt-h4/pidfd-sys#0.1.0","manifest_path":"/work/wt-h4/pidfd-sys/Cargo.toml","target":{"kind":["lib"],"crate_types":["lib"],"name":"pidfd_sys","src_path":"/work/wt-h4/pidfd-sys/src/lib.rs","edition":"2024","doc":true,"doctest":true,"test":true},"profile":{"opt_level":"0","debuginfo":2,"debug_assertions":true,"overflow_checks":true,"test":false},"features":[],"filenames":["/work/wt-h4/target/debug/deps/libpidfd_sys-222cafa6ee55ffe6.rlib","/work/wt-h4/target/debug/deps/libpidfd_sys-222cafa6ee55ffe6.rmeta"],"executable":null,"fresh":false}"#,
        r#"{"reason":"build-script-executed","package_id":"registry+https://github.com/rust-lang/crates.io-index#libc@0.2.191","linked_libs":[],"linked_paths":[],"cfgs":["linux_time_bits64"],"env":[],"out_dir":"/work/wt-h4/target/debug/build/libc-334ccc815bcc6544/out"}"#,
        r#"{"reason":"build-finished","success":true}"#,
        "warning: not JSON",
    ];

    #[test]
    fn cargo_messages() {
        let artifacts: Vec<Message> = CARGO_LINES.iter().filter_map(|l| artifact(l)).collect();
        assert_eq!(artifacts.len(), 5, "the build-script-executed, build-finished and non-JSON lines are dropped");
        let tests: Vec<(String, PathBuf)> =
            artifacts.iter().filter_map(test_binary).map(|t| (t.name, t.path)).collect();
        let deps = Path::new("/work/wt-h4/target/debug/deps");
        assert_eq!(
            tests,
            [
                ("pidfd-sys-test-libc_crosscheck".to_owned(), deps.join("libc_crosscheck-084c10ea0e9abc85")),
                ("pidfd-sys-lib".to_owned(), deps.join("pidfd_sys-8cbc1e68129187b8")),
            ]
        );
        let exes: Vec<PathBuf> = artifacts.iter().filter_map(executable).collect();
        assert_eq!(exes.len(), 4, "the rlib has \"executable\":null");
        assert_eq!(exes[2], Path::new("/work/wt-h4/target/debug/examples/features"));
        assert_eq!(exes[3], Path::new("/work/wt-h4/target/release/xtask-init"));
        // The same test binary in a package outside the suite is not one of the suite's.
        let xtask = artifact(&CARGO_LINES[0].replace("pidfd-sys#0.1.0", "xtask#0.1.0")).unwrap();
        assert!(test_binary(&xtask).is_none());
    }
}
