//! `cargo xtask ci`: the whole gate, stopping at the first failure.
//!
//! fmt, clippy, docs, the architecture invariants (tidy), the packages (`cargo package`
//! verified, `cargo publish --dry-run`, the MSRV on Debian's rustc, the lowest dependency
//! versions; `release.rs`), the public-API snapshot (`api.rs`), the tests, the cross-architecture
//! checks, the nightly feature, Miri, the library tests under AddressSanitizer and
//! ThreadSanitizer (zero reports; see `sanitize.rs` for what each leaves out and why), and the
//! kernel matrix. Whatever a fresh machine lacks (rustup targets; nightly components; QEMU and
//! kernels for the matrix) is installed by the step that needs it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Targets `pidfd-sys` and `pidfd` must build for (`cargo check`).
const CROSS_TARGETS: &[&str] = &[
    "x86_64-unknown-linux-gnu",
    "x86_64-unknown-linux-musl",
    "i686-unknown-linux-gnu",
    "aarch64-unknown-linux-gnu",
    "armv7-unknown-linux-gnueabihf",
    "riscv64gc-unknown-linux-gnu",
    "powerpc64le-unknown-linux-gnu",
    "s390x-unknown-linux-gnu",
    "powerpc64-unknown-linux-gnu",
    "powerpc-unknown-linux-gnu",
];

/// The library crates: the ones the invariants apply to.
const LIBRARIES: &[&str] = &["pidfd-sys", "pidfd", "pidfd-ns", "pidfd-async"];

pub(crate) fn ci(args: &[String]) -> Result<(), String> {
    let skip_matrix = args.iter().any(|a| a == "--no-kernel-matrix");
    let root = workspace_root();
    std::env::set_current_dir(&root).map_err(|e| format!("cd {}: {e}", root.display()))?;
    let started = Instant::now();

    step("fmt", || run(cargo().args(["fmt", "--all", "--", "--check"])))?;
    step("clippy", || run(cargo().args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"])))?;
    step("doc", || run(cargo().args(["doc", "--workspace", "--no-deps"]).env("RUSTDOCFLAGS", "-D warnings")))?;
    step("tidy", || tidy(&root))?;
    step("msrv (Debian's rustc)", crate::release::msrv)?;
    step("package", crate::release::package)?;
    step("publish --dry-run", crate::release::publish_dry_run)?;
    step("README examples from the packages", crate::release::proof)?;
    step("minimal versions", crate::release::minimal_versions)?;
    step("api snapshot", || crate::api::api(&[]))?;
    step("test", || run(cargo().args(["test", "--workspace", "--all-targets"])))?;
    step("doctest", || run(cargo().args(["test", "--workspace", "--doc"])))?;
    step("cross-check", cross_check)?;
    step("nightly feature", nightly)?;
    step("miri", miri)?;
    step("sanitizers", || crate::sanitize::sanitizers(&[]))?;
    if skip_matrix {
        println!("xtask ci: kernel matrix skipped (--no-kernel-matrix)");
    } else {
        step("kernel matrix", || crate::matrix::kernel_matrix(&[]))?;
    }
    println!("xtask ci: all steps passed in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

fn step(name: &str, f: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
    // `PIDFD_CI_ONLY=tidy,doc` runs only those steps (for a quick look; the gate runs all).
    if let Ok(only) = std::env::var("PIDFD_CI_ONLY")
        && !only.split(',').any(|s| s == name)
    {
        return Ok(());
    }
    println!("==> {name}");
    let t = Instant::now();
    f().map_err(|e| format!("{name}: {e}"))?;
    println!("==> {name}: ok ({:.1} s)", t.elapsed().as_secs_f64());
    Ok(())
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let status = cmd.status().map_err(|e| format!("{cmd:?}: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("{cmd:?} failed: {status}")) }
}

pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace root").to_path_buf()
}

/// The installed rustup targets of the active toolchain.
fn installed_targets(toolchain: Option<&str>) -> Vec<String> {
    let mut cmd = Command::new("rustup");
    if let Some(t) = toolchain {
        cmd.arg(format!("+{t}"));
    }
    cmd.args(["target", "list", "--installed"]);
    cmd.output().map(|o| String::from_utf8_lossy(&o.stdout).lines().map(str::to_owned).collect()).unwrap_or_default()
}

/// Installs the rustup targets that are missing (a fresh machine has only the host's).
pub(crate) fn ensure_targets(targets: &[&str]) -> Result<(), String> {
    let have = installed_targets(None);
    let missing: Vec<&str> = targets.iter().copied().filter(|t| !have.iter().any(|h| h == t)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    println!("xtask: installing rustup targets {}", missing.join(" "));
    run(Command::new("rustup").args(["target", "add"]).args(&missing))
}

/// A target that is not Linux: the crates must stop at one clear error there.
const NOT_LINUX: &str = "x86_64-unknown-freebsd";

fn cross_check() -> Result<(), String> {
    ensure_targets(CROSS_TARGETS)?;
    ensure_targets(&[NOT_LINUX])?;
    not_linux()?;
    for target in CROSS_TARGETS {
        run(cargo().args([
            "check",
            "--quiet",
            "-p",
            "pidfd-sys",
            "-p",
            "pidfd-core",
            "-p",
            "pidfd-ns",
            "--target",
            target,
        ]))?;
        println!("    {target}: ok");
    }
    Ok(())
}

/// On another OS, building the crates gives one error, the `compile_error!` that says they are
/// for Linux, not one per missing system call.
fn not_linux() -> Result<(), String> {
    let out = cargo()
        .args(["check", "--message-format", "short", "--target", NOT_LINUX])
        .args(["-p", "pidfd-sys", "-p", "pidfd-core", "-p", "pidfd-ns", "-p", "pidfd-async"])
        .output()
        .map_err(|e| format!("cargo check --target {NOT_LINUX}: {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("error") && l.contains(".rs:")).collect();
    if out.status.success() || errors.len() != 1 || !errors[0].contains("supports Linux") {
        return Err(format!("{NOT_LINUX}: want exactly one error, the crates' `compile_error!`; got:\n{stderr}"));
    }
    println!("    {NOT_LINUX}: one error: {}", errors[0].trim());
    Ok(())
}

/// Installs the nightly toolchain (and `components`) where missing.
pub(crate) fn ensure_nightly(components: &[&str]) -> Result<(), String> {
    let have = Command::new("rustup").args(["toolchain", "list"]).output().map_err(|e| e.to_string())?;
    if !String::from_utf8_lossy(&have.stdout).lines().any(|l| l.starts_with("nightly")) {
        println!("xtask: installing the nightly toolchain");
        run(Command::new("rustup").args(["toolchain", "install", "nightly", "--profile", "minimal"]))?;
    }
    if components.is_empty() {
        return Ok(());
    }
    let listed = Command::new("rustup")
        .args(["+nightly", "component", "list", "--installed"])
        .output()
        .map_err(|e| e.to_string())?;
    let listed = String::from_utf8_lossy(&listed.stdout);
    let missing: Vec<&str> = components.iter().copied().filter(|c| !listed.lines().any(|l| l.starts_with(c))).collect();
    if missing.is_empty() {
        return Ok(());
    }
    println!("xtask: installing nightly components {}", missing.join(" "));
    run(Command::new("rustup").args(["+nightly", "component", "add"]).args(&missing))
}

/// The `nightly` feature of `pidfd` (std's unstable `PidFd` conversions).
fn nightly() -> Result<(), String> {
    ensure_nightly(&[])?;
    run(Command::new("cargo").args(["+nightly", "check", "--quiet", "-p", "pidfd-core", "--features", "nightly"]))
}

/// Miri runs the pure code: the `/proc` parsers and the wait-status decoder of `pidfd`, the
/// checked `pidfd_info` view, and the uapi layouts of `pidfd-sys`. (Everything that makes a
/// system call is out of Miri's reach and is tested on real kernels instead.)
fn miri() -> Result<(), String> {
    ensure_nightly(&["miri", "rust-src"])?;
    let miri = |args: &[&str]| {
        run(Command::new("cargo")
            .args(["+nightly", "miri", "test", "--quiet"])
            .args(args)
            .env("MIRIFLAGS", "-Zmiri-strict-provenance"))
    };
    miri(&["-p", "pidfd-sys", "--lib"])?;
    miri(&["-p", "pidfd-core", "--lib", "--", "parse::", "info::"])
}

/// The invariants of ARCHITECTURE.md that a grep can check.
fn tidy(root: &Path) -> Result<(), String> {
    let mut problems = Vec::new();
    for lib in LIBRARIES {
        for file in rust_files(&root.join(lib).join("src")) {
            let text = std::fs::read_to_string(&file).map_err(|e| e.to_string())?;
            let rel = file.strip_prefix(root).unwrap_or(&file).display().to_string();
            let in_sys = rel.ends_with("/sys.rs") || rel.contains("/sys/");
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                if !in_sys && has_word(code, "unsafe") {
                    problems.push(format!("{rel}:{}: unsafe outside the crate's sys module", n + 1));
                }
                if code.contains("uname") || code.contains("osrelease") {
                    problems.push(format!("{rel}:{}: library code reads the kernel version; probe instead", n + 1));
                }
            }
            if *lib != "pidfd-sys" {
                problems.extend(undocumented_fns(&rel, &text));
            }
            if rel.ends_with("/lib.rs")
                && !text.contains("#![deny(unsafe_code)]")
                && !text.contains("#![forbid(unsafe_code)]")
            {
                problems.push(format!("{rel}: the crate root must deny(unsafe_code)"));
            }
        }
        let manifest = std::fs::read_to_string(root.join(lib).join("Cargo.toml")).map_err(|e| e.to_string())?;
        let deps = dependencies(&manifest);
        let allowed: &[&str] = match *lib {
            "pidfd-sys" => &["libc"],
            "pidfd" => &["pidfd-sys", "libc", "bitflags", "thiserror"],
            "pidfd-ns" => &["pidfd-sys", "pidfd", "libc", "bitflags", "thiserror"],
            _ => &["pidfd-sys", "pidfd", "libc", "bitflags", "thiserror", "tokio"],
        };
        for d in &deps {
            if !allowed.contains(&d.as_str()) {
                problems.push(format!("{lib}/Cargo.toml: dependency {d} breaks the layering (allowed: {allowed:?})"));
            }
        }
    }
    problems.extend(child_side_raw_only(root)?);
    let features = crate::matrix::config::load()?.features;
    if let Err(e) = crate::matrix::readme::check(&features) {
        problems.push(e);
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{} problem(s):\n  {}", problems.len(), problems.join("\n  ")))
    }
}

/// The files of the code that runs between clone and `execve` (ARCHITECTURE.md, invariant 7).
const CHILD_SIDE: &[&str] = &["pidfd/src/sys/child.rs", "pidfd/src/sys/raw.rs"];

/// Invariant 7: the child side calls no `libc::` function but `libc::syscall` (the `CMSG_*`
/// helpers are pure Rust functions of the `libc` crate), so no glibc wrapper (a cancellation
/// point, a lock) runs in a child that may share the parent's memory.
fn child_side_raw_only(root: &Path) -> Result<Vec<String>, String> {
    let mut problems = Vec::new();
    for rel in CHILD_SIDE {
        let text = std::fs::read_to_string(root.join(rel)).map_err(|e| format!("{rel}: {e}"))?;
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for (i, _) in code.match_indices("libc::") {
                let name: String = code[i + 6..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                let called = code[i + 6 + name.len()..].trim_start().starts_with('(');
                if called && name != "syscall" && !name.starts_with("CMSG_") {
                    problems.push(format!(
                        "{rel}:{}: libc::{name}() between clone and execve; only libc::syscall (sys/raw.rs)",
                        n + 1
                    ));
                }
            }
        }
    }
    Ok(problems)
}

/// ARCHITECTURE.md, invariant 9, as far as a text check reaches: a public fn that can fail (its
/// signature returns `Result`, `io::Result`, or a future resolving to one) or is `async` has a
/// `# Kernel support` and an `# Errors` section; no public fn has a filler section (`# Errors`
/// saying only "None.", `# Kernel support` saying only "Any kernel."). Whether a function that
/// cannot fail reaches the kernel (and so keeps `# Kernel support`) is for the reviewer.
/// (`pidfd-sys` is exempt: its items are constants and types, each stating its kernel.)
fn undocumented_fns(rel: &str, text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        let is_pub_fn =
            ["pub fn ", "pub const fn ", "pub async fn ", "pub unsafe fn "].iter().any(|p| t.starts_with(p));
        if !is_pub_fn {
            continue;
        }
        let mut doc: Vec<&str> = lines[..n]
            .iter()
            .rev()
            .map(|l| l.trim_start())
            .take_while(|l| l.starts_with("///") || l.starts_with("#["))
            .filter(|l| l.starts_with("///"))
            .map(|l| l.trim_start_matches('/').trim())
            .collect();
        doc.reverse();
        let fallible = t.starts_with("pub async fn ") || returns_result(&signature(&lines[n..]));
        for (section, filler) in [("# Kernel support", "Any kernel."), ("# Errors", "None.")] {
            match section_body(&doc, section) {
                None if fallible => out.push(format!(
                    "{rel}:{}: public fn that can fail (Result or async) without a `{section}` section",
                    n + 1
                )),
                Some(body) if body == filler => out.push(format!(
                    "{rel}:{}: `{section}` says only \"{filler}\": state the contract, or drop the \
                     section if the fn neither reaches the kernel nor can fail",
                    n + 1
                )),
                _ => {}
            }
        }
    }
    out
}

/// The text of a fn's signature: from `pub fn` to its body's `{` or the `;` of a declaration.
fn signature(lines: &[&str]) -> String {
    let mut sig = String::new();
    for l in lines {
        let code = l.split("//").next().unwrap_or("");
        if let Some(i) = code.find(['{', ';']) {
            sig.push_str(&code[..i]);
            break;
        }
        sig.push_str(code);
        sig.push(' ');
    }
    sig
}

/// Whether the return type is a `Result` (any of the spellings the crates use) or a future
/// resolving to one.
fn returns_result(sig: &str) -> bool {
    // The `->` after the parameter list, not one inside it (`f: impl FnOnce() -> T`) or in
    // the generics.
    let (mut depth, mut params_seen, mut ret) = (0i32, false, None);
    let mut i = 0;
    while i < sig.len() {
        if sig[i..].starts_with("->") {
            if depth == 0 && params_seen {
                ret = Some(&sig[i + 2..]);
                break;
            }
            i += 2;
            continue;
        }
        match sig.as_bytes()[i] {
            b'(' | b'<' => depth += 1,
            b')' | b'>' => {
                depth -= 1;
                params_seen |= depth == 0 && sig.as_bytes()[i] == b')';
            }
            _ => {}
        }
        i += 1;
    }
    let Some(ret) = ret else { return false };
    let ret = ret.split(" where ").next().unwrap_or("").trim();
    let result =
        |s: &str| ["Result<", "io::Result<", "std::io::Result<", "crate::Result<"].iter().any(|p| s.starts_with(p));
    result(ret) || ret.split_once("Output = ").is_some_and(|(_, o)| result(o.trim_start()))
}

/// The body of the `# section` of a doc comment (lines already stripped of `///`), joined by
/// spaces; `None` without that section.
fn section_body(doc: &[&str], section: &str) -> Option<String> {
    let at = doc.iter().position(|l| *l == section)?;
    let body: Vec<&str> = doc[at + 1..].iter().take_while(|l| !l.is_empty() && !l.starts_with("# ")).copied().collect();
    Some(body.join(" "))
}

fn has_word(code: &str, word: &str) -> bool {
    code.match_indices(word).any(|(i, _)| {
        let before = code[..i].chars().next_back();
        let after = code[i + word.len()..].chars().next();
        let ident = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        !ident(before) && !ident(after)
    })
}

/// Names in the `[dependencies]` table (not dev-dependencies).
fn dependencies(manifest: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            inside = line == "[dependencies]";
            continue;
        }
        if inside && let Some((name, _)) = line.split_once('=') {
            // `libc = ...`, `libc.workspace = true`
            let name = name.trim().split('.').next().unwrap_or("").trim();
            if !name.is_empty() && !name.starts_with('#') {
                out.push(name.to_owned());
            }
        }
    }
    out
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(rust_files(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::undocumented_fns;

    #[test]
    fn fallible_fns_need_both_sections() {
        let good = "/// Does it.\n///\n/// # Kernel support\n/// 5.3.\n///\n/// # Errors\n/// `EPERM`.\n#[inline]\npub fn f() -> Result<()> {}\n";
        assert!(undocumented_fns("x.rs", good).is_empty());
        let bad = "/// Does it.\n///\n/// # Errors\n/// `EPERM`.\npub fn f() -> io::Result<()> {}\npub(crate) fn g() -> Result<()> {}\n";
        assert_eq!(
            undocumented_fns("x.rs", bad),
            vec!["x.rs:5: public fn that can fail (Result or async) without a `# Kernel support` section"]
        );
        let wrapped = "/// Waits.\npub async fn f(\n    a: i32,\n) -> Option<i32> {}\n/// Spawns.\npub fn g<I>(\n    i: I,\n) -> std::io::Result<()>\nwhere\n    I: Copy,\n{}\n";
        assert_eq!(undocumented_fns("x.rs", wrapped).len(), 4);
        let closure = "/// Runs f.\npub fn g<F: Fn(i32) -> T>(f: impl FnOnce() -> T) -> crate::Result<T> {}\n/// Polls.\npub fn h(&self) -> impl Future<Output = Result<()>> {}\n";
        assert_eq!(undocumented_fns("x.rs", closure).len(), 4);
        let not = "/// Polls.\npub fn p(&mut self) -> Poll<Option<Result<()>>> {}\n";
        assert!(undocumented_fns("x.rs", not).is_empty());
    }

    #[test]
    fn pure_fns_need_no_sections_and_filler_is_refused() {
        let pure =
            "/// The pid.\npub fn pid(&self) -> i32 {}\n/// Sets it.\npub fn arg(&mut self) -> &mut Command {}\n";
        assert!(undocumented_fns("x.rs", pure).is_empty());
        let filler = "/// The pid.\n///\n/// # Kernel support\n/// Any kernel.\n///\n/// # Errors\n/// None.\npub fn pid(&self) -> i32 {}\n";
        assert_eq!(undocumented_fns("x.rs", filler).len(), 2);
        let real = "/// Closes.\n///\n/// # Kernel support\n/// Any kernel (`close`).\npub fn detach(self) {}\n";
        assert!(undocumented_fns("x.rs", real).is_empty());
    }
}
