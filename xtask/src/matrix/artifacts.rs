//! Building the static binaries that go into the VM: the test binaries of the
//! library crates, the `features` example of `pidfd`, and `xtask-init`.

use super::arch::Arch;
use super::json::{self, Json};
use std::io::BufRead as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Workspace members that are not part of the suite.
const NOT_TESTED: &[&str] = &["xtask", "xtask-init", "pidfd-demo"];

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

fn cargo() -> Command {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    c.current_dir(super::workspace_root());
    c
}

/// Makes sure the musl target's standard library is installed.
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

/// Runs a cargo command for `arch` with `--message-format=json-render-diagnostics` and
/// returns the parsed `compiler-artifact` messages.
fn cargo_json(arch: Arch, args: &[&str]) -> Result<Vec<Json>, String> {
    let target = arch.rust_target();
    let mut cmd = cargo();
    cmd.args(args)
        .args(["--message-format=json-render-diagnostics", "--target", target])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    // Without debug information (the initramfs holds every test binary, in the guest's RAM),
    // left out by the linker: the host's `strip` cannot read other architectures' binaries.
    // Added to the flags cargo would use (the first set of CARGO_ENCODED_RUSTFLAGS, RUSTFLAGS,
    // the target's own), so that a user's RUSTFLAGS neither lose it nor are lost.
    const STRIP: &str = "-Cstrip=debuginfo";
    let triple = target.to_uppercase().replace('-', "_");
    if let Ok(encoded) = std::env::var("CARGO_ENCODED_RUSTFLAGS") {
        let sep = if encoded.is_empty() { "" } else { "\x1f" };
        cmd.env("CARGO_ENCODED_RUSTFLAGS", format!("{encoded}{sep}{STRIP}"));
    } else if let Ok(flags) = std::env::var("RUSTFLAGS") {
        cmd.env("RUSTFLAGS", format!("{flags} {STRIP}"));
    } else {
        let var = format!("CARGO_TARGET_{triple}_RUSTFLAGS");
        let flags = std::env::var(&var).map_or(STRIP.to_owned(), |f| format!("{f} {STRIP}"));
        cmd.env(var, flags);
    }
    let linker_var = format!("CARGO_TARGET_{triple}_LINKER");
    if let (Some(linker), None) = (arch.linker(), std::env::var_os(&linker_var)) {
        cmd.env(linker_var, linker);
    }
    let shown = format!("cargo {} --target {target}", args.join(" "));
    let mut child = cmd.spawn().map_err(|e| format!("{shown}: {e}"))?;
    let mut artifacts = Vec::new();
    if let Some(out) = child.stdout.take() {
        for line in std::io::BufReader::new(out).lines() {
            let line = line.map_err(|e| format!("{shown}: reading output: {e}"))?;
            let Some(msg) = json::parse(&line) else { continue };
            if msg.get("reason").and_then(Json::as_str) == Some("compiler-artifact") {
                artifacts.push(msg);
            }
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

fn executable(msg: &Json) -> Option<PathBuf> {
    msg.get("executable").and_then(Json::as_str).map(PathBuf::from)
}

/// Builds everything for `arch`; prints what it does.
/// `packages` limits the test binaries to those packages (all library crates when empty).
pub(crate) fn build(arch: Arch, packages: &[String]) -> Result<Artifacts, String> {
    let target = arch.rust_target();
    ensure_target(target)?;
    eprintln!("kernel-matrix: building xtask-init and the test binaries for {target}");
    let init = cargo_json(arch, &["build", "--quiet", "-p", "xtask-init", "--release"])?
        .iter()
        .filter_map(executable)
        .next()
        .ok_or("no xtask-init executable in cargo's output")?;

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
    let mut tests = Vec::new();
    for msg in cargo_json(arch, &args)? {
        let is_test = msg.get("profile").and_then(|p| p.get("test")).is_some_and(|t| *t == Json::Bool(true));
        let (Some(exe), true) = (executable(&msg), is_test) else {
            continue;
        };
        let pkg = package_name(msg.get("package_id").and_then(Json::as_str).unwrap_or(""));
        if NOT_TESTED.contains(&pkg.as_str()) {
            continue;
        }
        let target = msg.get("target");
        let kind = target
            .and_then(|t| t.get("kind"))
            .and_then(|k| k.as_arr().first())
            .and_then(Json::as_str)
            .unwrap_or("unknown");
        let tname = target.and_then(|t| t.get("name")).and_then(Json::as_str).unwrap_or("");
        let name = match kind {
            "lib" => format!("{pkg}-lib"),
            other => format!("{pkg}-{other}-{tname}"),
        };
        if !tests.iter().any(|t: &TestBinary| t.name == name) {
            tests.push(TestBinary { name, path: exe });
        }
    }
    tests.sort_by(|a, b| a.name.cmp(&b.name));

    let root = super::workspace_root();
    let has_example = (packages.is_empty() || packages.iter().any(|p| p == "pidfd"))
        && ["pidfd/examples/features.rs", "pidfd/examples/features/main.rs"].iter().any(|p| root.join(p).exists());
    let stand_in = std::env::var_os("KMATRIX_FEATURES").filter(|_| arch.native());
    let features = if let Some(path) = stand_in {
        // A stand-in for the example, for debugging the matrix itself (host architecture).
        Some(PathBuf::from(path))
    } else if has_example {
        cargo_json(arch, &["build", "--quiet", "-p", "pidfd", "--example", "features"])?
            .iter()
            .filter_map(executable)
            .next()
    } else {
        eprintln!("kernel-matrix: pidfd has no `features` example yet; feature columns stay empty");
        None
    };
    Ok(Artifacts { init, features, tests })
}

#[cfg(test)]
mod tests {
    use super::package_name;

    #[test]
    fn package_ids() {
        assert_eq!(package_name("path+file:///w/pidfd-sys#0.1.0"), "pidfd-sys");
        assert_eq!(package_name("path+file:///w/dir#pidfd-ns@0.1.0"), "pidfd-ns");
        assert_eq!(package_name("registry+https://x/y#libc@0.2.1"), "libc");
    }
}
