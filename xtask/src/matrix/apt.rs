//! Fetching kernels and busybox with apt through a private configuration (the host's
//! QEMU and cross compilers are installed by [`super::host`]).
//!
//! Nothing here writes outside `target/kmatrix/`. The archive address is read at run time from
//! this machine's own apt sources; it is never stored in the repository.
//!
//! Signatures are verified with the machine's Debian archive keyring
//! (`Signed-By`). `Check-Valid-Until: no` is set on the private sources: the
//! archive this machine reaches is a snapshot whose `Release` files can be
//! past their `Valid-Until` date (sid's was, by 26 days, when this was
//! written). Only that freshness check is off: the signatures still are
//! checked, and the packages are fetched by exact version and verified against
//! the hashes in the signed indexes.

use super::arch::Arch;
use super::config::Kernel;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

/// The Debian archive and security archive addresses this machine uses.
#[derive(Clone, Debug)]
pub(crate) struct Archive {
    /// Main archive (`.../debian`).
    pub(crate) main: String,
    /// Security archive, when configured.
    pub(crate) security: Option<String>,
}

fn is_security(uri: &str, suite: &str) -> bool {
    suite.ends_with("-security") || uri.contains("security")
}

/// Reads the archive addresses from `/etc/apt/sources.list.d/*.sources`
/// (deb822) and `/etc/apt/sources.list` (one-line format).
pub(crate) fn machine_archive() -> Result<Archive, String> {
    let mut found: Vec<(String, String)> = Vec::new(); // (uri, suite)
    let mut files: Vec<PathBuf> = std::fs::read_dir("/etc/apt/sources.list.d")
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    for f in files.iter().filter(|f| f.extension().is_some_and(|e| e == "sources")) {
        let text = std::fs::read_to_string(f).unwrap_or_default();
        for stanza in text.split("\n\n") {
            let field = |name: &str| {
                stanza.lines().find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
                })
            };
            let enabled = field("Enabled").is_none_or(|v| !v.eq_ignore_ascii_case("no"));
            let debs = field("Types").is_some_and(|t| t.split_whitespace().any(|t| t == "deb"));
            if !(enabled && debs) {
                continue;
            }
            let (Some(uris), Some(suites)) = (field("URIs"), field("Suites")) else {
                continue;
            };
            for uri in uris.split_whitespace() {
                for suite in suites.split_whitespace() {
                    found.push((uri.to_owned(), suite.to_owned()));
                }
            }
        }
    }
    for files in ["/etc/apt/sources.list"] {
        let text = std::fs::read_to_string(files).unwrap_or_default();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut words = line.split_whitespace().peekable();
            if words.next() != Some("deb") {
                continue;
            }
            if words.peek().is_some_and(|w| w.starts_with('[')) {
                for w in words.by_ref() {
                    if w.ends_with(']') {
                        break;
                    }
                }
            }
            if let (Some(uri), Some(suite)) = (words.next(), words.next()) {
                found.push((uri.to_owned(), suite.to_owned()));
            }
        }
    }
    let debian = |s: &str| {
        let base = s.split('-').next().unwrap_or(s);
        ["bullseye", "bookworm", "trixie", "forky", "duke", "sid", "stable", "oldstable", "testing", "unstable"]
            .contains(&base)
    };
    let main = found
        .iter()
        .find(|(u, s)| debian(s) && !is_security(u, s))
        .map(|(u, _)| u.trim_end_matches('/').to_owned())
        .ok_or("no Debian archive found in /etc/apt/sources.list{,.d} (needed to fetch kernels)")?;
    let security =
        found.iter().find(|(u, s)| debian(s) && is_security(u, s)).map(|(u, _)| u.trim_end_matches('/').to_owned());
    Ok(Archive { main, security })
}

pub(super) fn run(cmd: &mut Command, what: &str) -> Result<String, String> {
    let out = cmd.stdin(Stdio::null()).output().map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{what} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// One deb822 source; `archs` (Debian names), when given, become its `Architectures:` field
/// (the one-line format's `arch=`).
pub(super) fn stanza(uri: &str, suites: &[String], archs: &[&str]) -> String {
    let archs = if archs.is_empty() { String::new() } else { format!("Architectures: {}\n", archs.join(" ")) };
    format!(
        "Types: deb\nURIs: {uri}\nSuites: {}\nComponents: main\n{archs}Check-Valid-Until: no\nSigned-By: {KEYRING}\n\n",
        suites.join(" ")
    )
}

/// A private apt configuration under `dir`: own sources, state, cache and
/// preferences; the machine's configuration is not read.
pub(crate) struct PrivateApt {
    dir: PathBuf,
    conf: PathBuf,
    updated: bool,
}

impl PrivateApt {
    /// Writes the configuration for `suites` of `archive`, for the architectures `archs`.
    pub(crate) fn new(dir: &Path, archive: &Archive, suites: &[String], archs: &[Arch]) -> Result<Self, String> {
        let io = |e: std::io::Error| format!("writing apt configuration in {}: {e}", dir.display());
        for sub in [
            "etc/apt.conf.d",
            "etc/sources.list.d",
            "etc/preferences.d",
            "etc/trusted.gpg.d",
            "state/lists/partial",
            "cache/archives/partial",
        ] {
            std::fs::create_dir_all(dir.join(sub)).map_err(io)?;
        }
        if !Path::new(KEYRING).exists() {
            return Err(format!("{KEYRING} is missing (apt-get install debian-archive-keyring)"));
        }
        let mut suites = suites.to_vec();
        suites.sort();
        suites.dedup();
        std::fs::write(dir.join("etc/sources.list"), "").map_err(io)?;
        std::fs::write(dir.join("etc/preferences"), "").map_err(io)?;
        std::fs::write(dir.join("state/status"), "").map_err(io)?;
        // The host's own architecture first (APT::Architectures' first entry is the native one).
        let mut debian: Vec<&str> = vec![Arch::X86_64.debian()];
        debian.extend(archs.iter().map(|a| a.debian()).filter(|a| *a != Arch::X86_64.debian()));
        debian.dedup();
        let sources = stanza(&archive.main, &suites, &debian);
        std::fs::write(dir.join("etc/sources.list.d/kmatrix.sources"), sources).map_err(io)?;
        let architectures: String = debian.iter().map(|a| format!("\"{a}\"; ")).collect();
        let d = dir.display();
        let conf = format!(
            "Dir::Etc::Main \"{d}/etc/apt.conf\";\n\
             Dir::Etc::Parts \"{d}/etc/apt.conf.d\";\n\
             Dir::Etc::SourceList \"{d}/etc/sources.list\";\n\
             Dir::Etc::SourceParts \"{d}/etc/sources.list.d\";\n\
             Dir::Etc::Preferences \"{d}/etc/preferences\";\n\
             Dir::Etc::PreferencesParts \"{d}/etc/preferences.d\";\n\
             Dir::Etc::Trusted \"{d}/etc/trusted.gpg\";\n\
             Dir::Etc::TrustedParts \"{d}/etc/trusted.gpg.d\";\n\
             Dir::State \"{d}/state\";\n\
             Dir::State::status \"{d}/state/status\";\n\
             Dir::Cache \"{d}/cache\";\n\
             APT::Architectures {{ {architectures}}};\n\
             APT::Sandbox::User \"root\";\n\
             Acquire::Languages \"none\";\n\
             Acquire::Retries \"3\";\n"
        );
        std::fs::write(dir.join("etc/apt.conf"), "").map_err(io)?;
        let conf_path = dir.join("apt.conf");
        std::fs::write(&conf_path, conf).map_err(io)?;
        Ok(Self { dir: dir.to_owned(), conf: conf_path, updated: false })
    }

    fn apt(&self, tool: &str) -> Command {
        let mut c = Command::new(tool);
        c.env("APT_CONFIG", &self.conf).env("DEBIAN_FRONTEND", "noninteractive");
        c
    }

    /// `apt-get update`, once.
    pub(crate) fn update(&mut self) -> Result<(), String> {
        if !self.updated {
            eprintln!("kernel-matrix: apt-get update (private configuration in {})", self.dir.display());
            run(self.apt("apt-get").args(["-q", "update"]), "apt-get update (private)")?;
            self.updated = true;
        }
        Ok(())
    }

    /// Downloads `pkg` (`name=version` or `name/suite`, the name qualified `name:arch` for a
    /// foreign architecture) into `dest`; returns the `.deb`.
    pub(crate) fn download(&mut self, pkg: &str, dest: &Path) -> Result<PathBuf, String> {
        self.update()?;
        std::fs::create_dir_all(dest).map_err(|e| format!("{}: {e}", dest.display()))?;
        let qualified = pkg.split(['=', '/']).next().unwrap_or(pkg);
        let (name, arch) = qualified.split_once(':').map_or((qualified, None), |(n, a)| (n, Some(a)));
        let before = debs(dest, name, arch);
        run(self.apt("apt-get").args(["-q", "download", pkg]).current_dir(dest), &format!("apt-get download {pkg}"))?;
        let after = debs(dest, name, arch);
        after
            .iter()
            .find(|d| !before.contains(d))
            .or_else(|| after.first())
            .cloned()
            .ok_or_else(|| format!("apt-get download {pkg} left no .deb in {}", dest.display()))
    }
}

/// The `.deb`s of package `name` in `dir` (of architecture `arch`, or `all`, when given).
fn debs(dir: &Path, name: &str, arch: Option<&str>) -> Vec<PathBuf> {
    let prefix = format!("{name}_");
    let of_arch = |f: &str| arch.is_none_or(|a| f.ends_with(&format!("_{a}.deb")) || f.ends_with("_all.deb"));
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    let f = p.file_name().unwrap_or_default().to_string_lossy();
                    f.starts_with(&prefix) && f.ends_with(".deb") && of_arch(&f)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Creates the private apt configuration on first use.
pub(crate) struct Fetcher {
    /// `target/kmatrix/apt`.
    pub(crate) dir: PathBuf,
    /// Suites the sources list names.
    pub(crate) suites: Vec<String>,
    /// Architectures the indexes are fetched for.
    pub(crate) archs: Vec<Arch>,
    apt: Option<PrivateApt>,
}

impl Fetcher {
    /// A fetcher for `suites` and `archs`, configured under `dir` when first needed.
    pub(crate) fn new(dir: PathBuf, suites: Vec<String>, mut archs: Vec<Arch>) -> Self {
        archs.sort();
        archs.dedup();
        Self { dir, suites, archs, apt: None }
    }

    fn apt(&mut self) -> Result<&mut PrivateApt, String> {
        if self.apt.is_none() {
            let archive = machine_archive()?;
            self.apt = Some(PrivateApt::new(&self.dir, &archive, &self.suites, &self.archs)?);
        }
        self.apt.as_mut().ok_or_else(|| "apt configuration".to_owned())
    }
}

/// Extracts the members matching the `tar` wildcards `patterns` from a
/// `.deb`'s data archive into `dest` (with `dpkg-deb`, or by reading the `ar`
/// archive directly when `dpkg-deb` is missing).
pub(crate) fn extract(deb: &Path, dest: &Path, patterns: &[&str]) -> Result<(), String> {
    std::fs::create_dir_all(dest).map_err(|e| format!("{}: {e}", dest.display()))?;
    let mut tar = Command::new("tar");
    tar.arg("-x").arg("-C").arg(dest).arg("--wildcards").arg("--no-same-owner");
    let have_dpkg = Command::new("dpkg-deb").arg("--version").stdout(Stdio::null()).status().is_ok_and(|s| s.success());
    let data;
    if have_dpkg {
        let mut dpkg = Command::new("dpkg-deb")
            .arg("--fsys-tarfile")
            .arg(deb)
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("dpkg-deb: {e}"))?;
        tar.arg("-f").arg("-").stdin(dpkg.stdout.take().ok_or("dpkg-deb: no stdout")?);
        tar.args(patterns).stderr(Stdio::null());
        let _ = tar.status().map_err(|e| format!("tar: {e}"))?;
        let st = dpkg.wait().map_err(|e| format!("dpkg-deb: {e}"))?;
        if !st.success() {
            return Err(format!("dpkg-deb --fsys-tarfile {} failed ({st})", deb.display()));
        }
    } else {
        data = ar_member(deb, "data.tar", dest)?;
        tar.arg("-f").arg(&data).args(patterns).stderr(Stdio::null());
        let _ = tar.status().map_err(|e| format!("tar: {e}"))?;
        let _ = std::fs::remove_file(&data);
    }
    // tar exits non-zero when a pattern matched nothing: the caller checks.
    Ok(())
}

/// Writes the first `ar` member whose name starts with `prefix` to `dir`.
fn ar_member(ar: &Path, prefix: &str, dir: &Path) -> Result<PathBuf, String> {
    let bytes = std::fs::read(ar).map_err(|e| format!("{}: {e}", ar.display()))?;
    if !bytes.starts_with(b"!<arch>\n") {
        return Err(format!("{} is not an ar archive", ar.display()));
    }
    let mut off = 8;
    while off + 60 <= bytes.len() {
        let hdr = &bytes[off..off + 60];
        let name = String::from_utf8_lossy(&hdr[..16]).trim().trim_end_matches('/').to_owned();
        let size: usize = String::from_utf8_lossy(&hdr[48..58])
            .trim()
            .parse()
            .map_err(|_| format!("{}: bad ar header", ar.display()))?;
        let start = off + 60;
        let end = start + size;
        if end > bytes.len() {
            break;
        }
        if name.starts_with(prefix) {
            let out = dir.join(&name);
            std::fs::write(&out, &bytes[start..end]).map_err(|e| format!("{}: {e}", out.display()))?;
            return Ok(out);
        }
        off = end + (size % 2);
    }
    Err(format!("{} has no {prefix}* member", ar.display()))
}

/// Finds a file named `name` (or starting with `name` if `prefix`) below `dir`.
fn find_file(dir: &Path, pred: &dyn Fn(&str) -> bool) -> Option<PathBuf> {
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        if p.is_dir() {
            if let Some(f) = find_file(&p, pred) {
                return Some(f);
            }
        } else if pred(&e.file_name().to_string_lossy()) {
            return Some(p);
        }
    }
    None
}

/// The cached kernel image of `k`, fetching and extracting it when missing.
pub(crate) fn kernel_image(fetcher: &mut Fetcher, k: &Kernel, kmatrix: &Path) -> Result<PathBuf, String> {
    let cache = kmatrix.join("kernels").join(format!("{}_{}", k.package, k.package_version));
    let image = cache.join("vmlinuz");
    if image.exists() {
        return Ok(image);
    }
    let apt = fetcher.apt()?;
    let debs = kmatrix.join("debs");
    let mut candidates = vec![k.package.clone()];
    if let Some(rest) = k.package.strip_prefix("linux-image-") {
        // >= 6.19: linux-image-* is a meta package; the image is in linux-binary-*.
        candidates.push(format!("linux-binary-{rest}"));
    }
    let tmp = cache.with_extension("tmp");
    for pkg in candidates {
        let started = std::time::Instant::now();
        let deb = apt.download(&format!("{pkg}:{}={}", k.arch.debian(), k.package_version), &debs)?;
        let size = std::fs::metadata(&deb).map(|m| m.len()).unwrap_or(0);
        let _ = std::fs::remove_dir_all(&tmp);
        extract(
            &deb,
            &tmp,
            &[
                "./boot/vmlinuz-*",
                "./boot/vmlinux-*",
                "./usr/lib/modules/*/vmlinuz",
                "./boot/config-*",
                "./usr/lib/modules/*/config",
            ],
        )?;
        let _ = std::fs::remove_file(&deb);
        // ppc64el ships an ELF `vmlinux`, riscv64 an uncompressed `Image` named `vmlinux`.
        let found = find_file(&tmp, &|n| n == "vmlinuz" || n.starts_with("vmlinuz-") || n.starts_with("vmlinux-"));
        if let Some(found) = found {
            std::fs::create_dir_all(&cache).map_err(|e| format!("{}: {e}", cache.display()))?;
            if let Some(cfg) = find_file(&tmp, &|n| n == "config" || n.starts_with("config-")) {
                let _ = std::fs::rename(cfg, cache.join("config"));
            }
            std::fs::rename(&found, &image).map_err(|e| format!("{}: {e}", image.display()))?;
            let _ = std::fs::remove_dir_all(&tmp);
            eprintln!(
                "kernel-matrix: fetched {pkg} {} ({:.1} MB) in {:.1} s",
                k.package_version,
                size as f64 / 1e6,
                started.elapsed().as_secs_f64()
            );
            return Ok(image);
        }
        let _ = std::fs::remove_dir_all(&tmp);
    }
    Err(format!("no vmlinuz in {} {} (nor in its linux-binary-* package)", k.package, k.package_version))
}

/// The cached static busybox of `arch`, fetching `busybox-static` from `suite` when missing.
pub(crate) fn busybox(fetcher: &mut Fetcher, suite: &str, arch: Arch, kmatrix: &Path) -> Result<PathBuf, String> {
    let out = kmatrix.join("busybox").join(format!("busybox-{}", arch.debian()));
    if out.exists() {
        return Ok(out);
    }
    let suite = arch.busybox_suite(suite);
    let deb = fetcher.apt()?.download(&format!("busybox-static:{}/{suite}", arch.debian()), &kmatrix.join("debs"))?;
    let tmp = kmatrix.join("busybox.tmp");
    let _ = std::fs::remove_dir_all(&tmp);
    extract(&deb, &tmp, &["./bin/busybox", "./usr/bin/busybox"])?;
    let _ = std::fs::remove_file(&deb);
    let found = find_file(&tmp, &|n| n == "busybox").ok_or("busybox-static has no busybox binary")?;
    std::fs::create_dir_all(out.parent().unwrap_or(kmatrix)).map_err(|e| e.to_string())?;
    std::fs::rename(found, &out).map_err(|e| format!("{}: {e}", out.display()))?;
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(out)
}

/// This machine's Debian release (`VERSION_CODENAME` of `/etc/os-release`).
pub(super) fn os_codename() -> String {
    std::fs::read_to_string("/etc/os-release")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VERSION_CODENAME=").map(|v| v.trim_matches('"').to_owned()))
        .unwrap_or_default()
}

/// Installs `packages` on this machine (as root) from its Debian archive's suites of this
/// release (plus `target_release`, preferred, when given), through a private apt configuration
/// under `dir` (own sources, lists and `preferences`, the machine's dpkg status): what the gate
/// needs on a fresh machine (QEMU for the kernel matrix, Debian's Rust for the MSRV step).
/// Refuses a plan that removes a package, touches libc, or upgrades (or downgrades) an installed
/// package `upgrade_ok` does not accept.
pub(crate) fn install_host_packages(
    packages: &[&str],
    target_release: Option<&str>,
    dir: &Path,
    upgrade_ok: &dyn Fn(&str) -> bool,
    preferences: &str,
) -> Result<(), String> {
    let archive = machine_archive()?;
    let codename = os_codename();
    let mut suites = vec![codename.clone(), format!("{codename}-updates")];
    if let Some(t) = target_release {
        suites.push(t.to_owned());
    }
    // Own sources and lists; the machine's dpkg status (this installs for real).
    for sub in ["sources.list.d", "preferences.d", "lists/partial", "cache/archives/partial"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(|e| e.to_string())?;
    }
    let mut sources = stanza(&archive.main, &suites, &[]);
    if let Some(sec) = &archive.security {
        sources.push_str(&stanza(sec, &[format!("{codename}-security")], &[]));
    }
    // The directory is ours: only this file (an older run may have left another name).
    for old in std::fs::read_dir(dir.join("sources.list.d")).map_err(|e| e.to_string())?.flatten() {
        let _ = std::fs::remove_file(old.path());
    }
    std::fs::write(dir.join("sources.list.d/xtask-host.sources"), sources).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("sources.list"), "").map_err(|e| e.to_string())?;
    std::fs::write(dir.join("preferences"), preferences).map_err(|e| e.to_string())?;
    let opts = [
        format!("Dir::Etc::SourceList={}", dir.join("sources.list").display()),
        format!("Dir::Etc::SourceParts={}", dir.join("sources.list.d").display()),
        format!("Dir::Etc::Preferences={}", dir.join("preferences").display()),
        format!("Dir::Etc::PreferencesParts={}", dir.join("preferences.d").display()),
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
    let names = packages.join(" ");
    eprintln!("xtask: installing {names} from {}", target_release.unwrap_or(&codename));
    run(&mut apt(&["-q", "update"]), &format!("apt-get update (sources for {names})"))?;
    let mut install = vec!["-y", "-q", "--no-install-recommends"];
    if let Some(t) = target_release {
        install.extend(["-t", t]);
    }
    if !preferences.is_empty() {
        // A pin above 1000 may replace a newer version (checked by `upgrade_ok` below).
        install.push("--allow-downgrades");
    }
    install.push("install");
    install.extend(packages);
    let mut sim = install.clone();
    sim.insert(0, "-s");
    let plan = run(&mut apt(&sim), &format!("apt-get -s install {names}"))?;
    let risky: Vec<&str> = plan
        .lines()
        .filter(|l| {
            l.starts_with("Remv ")
                || l.starts_with("Inst libc6 ")
                || l.starts_with("Inst libc-bin ")
                || (l.starts_with("Inst ")
                    && l.split_whitespace().nth(2).is_some_and(|w| w.starts_with('['))
                    && !l.split_whitespace().nth(1).is_some_and(upgrade_ok))
        })
        .collect();
    if !risky.is_empty() {
        return Err(format!(
            "refusing to install {names}: apt would remove or upgrade packages:\n{}",
            risky.join("\n")
        ));
    }
    let started = std::time::Instant::now();
    run(&mut apt(&install), &format!("apt-get install {names}"))?;
    eprintln!("xtask: installed {names} in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}
