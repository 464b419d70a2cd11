//! `xtask/kernels.toml`, read with `toml` and serde into the typed view the matrix and the
//! emulation use: the file's shape ([`File`]), then the checks serde cannot make (versions,
//! architectures, feature names) with errors that name the entry. The features themselves are
//! not in the file: [`Features::load`] reads them from pidfd's `features` example (`--facts`),
//! which prints the table in pidfd/src/compat/mod.rs.

use super::arch::Arch;
use serde::Deserialize;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

/// A `major.minor` kernel version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Version(pub(crate) u32, pub(crate) u32);

impl Version {
    /// Parses `"6.12"`, `"6.12.117"` or `"6.18.44-fc-v669"` (the first two numbers).
    pub(crate) fn parse(s: &str) -> Option<Self> {
        let mut it = s.split(|c: char| !c.is_ascii_digit());
        let major = it.next()?.parse().ok()?;
        let minor = it.next()?.parse().ok()?;
        Some(Self(major, minor))
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

/// What is known of one feature without probing it (a line of `features --facts`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Fact {
    /// `Feature::name`.
    pub(crate) name: String,
    /// The first mainline kernel with it.
    pub(crate) since: Version,
    /// The features its probe asks first: a missing one makes it missing, a refused one refused.
    pub(crate) needs: Vec<String>,
    /// The pidfd system calls its probe then makes itself, by name.
    pub(crate) calls: Vec<String>,
}

/// The feature table, in `pidfd::Feature::ALL` order (the order of `pidfd::features()` and of
/// the matrix's columns).
#[derive(Clone, Debug, Default)]
pub(crate) struct Features(pub(crate) Vec<Fact>);

impl Features {
    /// The features a mainline kernel of version `v` has.
    pub(crate) fn for_version(&self, v: Version) -> Vec<String> {
        self.0.iter().filter(|f| f.since <= v).map(|f| f.name.clone()).collect()
    }

    /// The names, in table order.
    pub(crate) fn names(&self) -> Vec<String> {
        self.0.iter().map(|f| f.name.clone()).collect()
    }

    /// One feature's facts.
    pub(crate) fn get(&self, name: &str) -> Option<&Fact> {
        self.0.iter().find(|f| f.name == name)
    }

    /// Parses the output of `features --facts`: lines `<name> <since> needs=<a,b> calls=<c,d>`.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let list = |s: &str| s.split(',').filter(|x| !x.is_empty()).map(str::to_owned).collect::<Vec<_>>();
        let mut out: Vec<Fact> = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let bad = || format!("features --facts: bad line `{line}`");
            let words: Vec<&str> = line.split_whitespace().collect();
            let [name, since, needs, calls] = words[..] else { return Err(bad()) };
            let (Some(needs), Some(calls)) = (needs.strip_prefix("needs="), calls.strip_prefix("calls=")) else {
                return Err(bad());
            };
            let since = Version::parse(since).ok_or_else(bad)?;
            let fact = Fact { name: name.to_owned(), since, needs: list(needs), calls: list(calls) };
            if let Some(n) = fact.needs.iter().find(|n| !out.iter().any(|f| f.name == **n)) {
                return Err(format!("features --facts: {name} needs {n}, which is not listed before it"));
            }
            if out.iter().any(|f| f.name == name) {
                return Err(format!("features --facts: {name} is listed twice"));
            }
            out.push(fact);
        }
        if out.is_empty() {
            return Err("features --facts printed no feature".to_owned());
        }
        Ok(Self(out))
    }

    /// The facts as pidfd declares them: the output of `cargo run -p pidfd-core --example features
    /// -- --facts`, run once per process (the example is built for the host like any target).
    pub(crate) fn load() -> Result<Self, String> {
        static FACTS: OnceLock<Result<Features, String>> = OnceLock::new();
        FACTS
            .get_or_init(|| {
                let args = ["run", "--quiet", "-p", "pidfd-core", "--example", "features", "--", "--facts"];
                // The cargo running the xtask (`CARGO`), as the gate's steps do.
                let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                    .args(args)
                    .current_dir(super::workspace_root())
                    .output()
                    .map_err(|e| format!("cargo {}: {e}", args.join(" ")))?;
                if !out.status.success() {
                    let err = String::from_utf8_lossy(&out.stderr);
                    return Err(format!("cargo {} failed ({}):\n{err}", args.join(" "), out.status));
                }
                Self::parse(&String::from_utf8_lossy(&out.stdout))
            })
            .clone()
    }
}

/// One `[[kernel]]` entry.
#[derive(Clone, Debug)]
pub(crate) struct Kernel {
    /// `PIDFD_TEST_KERNEL` and the matrix row (defaults to `version`).
    pub(crate) label: String,
    /// The mainline version the expectations derive from.
    pub(crate) version: Version,
    /// Debian suite to fetch from.
    pub(crate) suite: String,
    /// Debian package holding the kernel image.
    pub(crate) package: String,
    /// Exact package version.
    pub(crate) package_version: String,
    /// Features this build has beyond its mainline version (backports).
    pub(crate) expect_add: Vec<String>,
    /// Features this build lacks despite its mainline version.
    pub(crate) expect_remove: Vec<String>,
    /// The guest architecture (`arch = "arm64"`; x86_64 when absent).
    pub(crate) arch: Arch,
}

impl Kernel {
    /// The expected feature set.
    pub(crate) fn expected(&self, features: &Features) -> Vec<String> {
        adjust(features.for_version(self.version), &self.expect_add, &self.expect_remove)
    }
}

/// `base + add - remove`, keeping table order for `base`.
pub(crate) fn adjust(base: Vec<String>, add: &[String], remove: &[String]) -> Vec<String> {
    let mut out: Vec<String> = base.into_iter().filter(|f| !remove.contains(f)).collect();
    for a in add {
        if !out.contains(a) {
            out.push(a.clone());
        }
    }
    out
}

/// One `[[emulation]]` entry: a host run under `cargo xtask emulate`.
#[derive(Clone, Debug)]
pub(crate) struct Emulation {
    /// Row label and `PIDFD_TEST_KERNEL`.
    pub(crate) label: String,
    /// `--kernel` version to emulate, if any.
    pub(crate) kernel: Option<String>,
    /// `--profile` name, if any.
    pub(crate) profile: Option<String>,
    /// Features to add to what the emulation computes.
    pub(crate) expect_add: Vec<String>,
    /// Features to remove from what the emulation computes.
    pub(crate) expect_remove: Vec<String>,
}

/// The typed configuration.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    /// Feature table (from pidfd, see [`Features::load`]).
    pub(crate) features: Features,
    /// Default kernels, in boot order.
    pub(crate) kernels: Vec<Kernel>,
    /// Host emulation rows.
    pub(crate) emulations: Vec<Emulation>,
    /// Seconds a VM under TCG may print nothing before it counts as hung: at least
    /// `binary_timeout + QUIET_MARGIN`.
    pub(crate) timeout_tcg: u64,
    /// The same under KVM.
    pub(crate) timeout_kvm: u64,
    /// Seconds per test binary inside the VM (the guest's init kills it then); on the host
    /// rows, a test binary may print nothing for this plus [`QUIET_MARGIN`].
    pub(crate) binary_timeout: u64,
    /// libtest `--test-threads`.
    pub(crate) test_threads: u32,
    /// VMs booted at once.
    pub(crate) parallel_vms: u32,
    /// Suite busybox-static comes from.
    pub(crate) busybox_suite: String,
    /// Minimum QEMU version (major, minor).
    pub(crate) qemu_min: Version,
}

/// Seconds a quiet limit exceeds `binary_timeout`, the longest a test binary may print nothing
/// before the guest's init kills it (after a task dump), so that the init reports first. (The
/// harness's own case timeout, 120 s in `test-support`, is not checked here: with the shipped
/// `binary_timeout` of 120 the host rows' quiet limit of 150 s outlasts it, and in a guest
/// the init's kill comes no later.)
pub(crate) const QUIET_MARGIN: u64 = 30;

/// The file as written: every table optional, unknown keys ignored.
#[derive(Deserialize)]
struct File {
    #[serde(default)]
    settings: Settings,
    /// No longer read (the features come from pidfd): present, it is an error, not ignored.
    features: Option<toml::Value>,
    #[serde(default, rename = "kernel")]
    kernels: Vec<KernelEntry>,
    #[serde(default, rename = "emulation")]
    emulations: Vec<EmulationEntry>,
}

/// `[settings]`; an absent key takes its default.
#[derive(Deserialize)]
#[serde(default)]
struct Settings {
    timeout_tcg: u64,
    timeout_kvm: u64,
    binary_timeout: u64,
    test_threads: u32,
    parallel_vms: u32,
    busybox_suite: String,
    qemu_min: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            timeout_tcg: 240,
            timeout_kvm: 210,
            binary_timeout: 180,
            test_threads: 2,
            parallel_vms: 1,
            busybox_suite: "bookworm".to_owned(),
            qemu_min: "8.1".to_owned(),
        }
    }
}

/// One `[[kernel]]` as written.
#[derive(Deserialize)]
struct KernelEntry {
    label: Option<String>,
    version: String,
    suite: String,
    package: String,
    package_version: String,
    #[serde(default)]
    expect_add: Vec<String>,
    #[serde(default)]
    expect_remove: Vec<String>,
    arch: Option<String>,
}

/// One `[[emulation]]` as written.
#[derive(Deserialize)]
struct EmulationEntry {
    label: String,
    kernel: Option<String>,
    profile: Option<String>,
    #[serde(default)]
    expect_add: Vec<String>,
    #[serde(default)]
    expect_remove: Vec<String>,
}

/// Path of the configuration file.
pub(crate) fn path() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/kernels.toml"))
}

/// Reads and checks `xtask/kernels.toml`, with the features pidfd declares.
pub(crate) fn load() -> Result<Config, String> {
    let text = std::fs::read_to_string(path()).map_err(|e| format!("reading {}: {e}", path().display()))?;
    parse(&text, Features::load()?)
}

/// Parses and checks the text of a `kernels.toml` against `features`; errors name the entry and
/// the key.
fn parse(text: &str, features: Features) -> Result<Config, String> {
    let file: File = toml::from_str(text).map_err(|e| format!("kernels.toml: {e}"))?;
    if file.features.is_some() {
        return Err("kernels.toml: [features] is not read: a feature's first kernel is declared in \
                    pidfd/src/compat/mod.rs (FACTS) and read from `features --facts`"
            .to_owned());
    }
    let known = features.names();
    let check = |list: &[String], what: &str| -> Result<(), String> {
        match list.iter().find(|f| !known.contains(f)) {
            Some(f) => Err(format!("kernels.toml: {what} names unknown feature {f}")),
            None => Ok(()),
        }
    };
    let mut kernels = Vec::new();
    for t in file.kernels {
        let version = Version::parse(&t.version).ok_or_else(|| format!("kernels.toml: bad version {}", t.version))?;
        let arch = match &t.arch {
            None => Arch::X86_64,
            Some(a) => Arch::parse(a).ok_or_else(|| format!("kernels.toml: {}: unknown arch {a}", t.version))?,
        };
        let k = Kernel {
            label: t.label.unwrap_or(t.version),
            version,
            suite: t.suite,
            package: t.package,
            package_version: t.package_version,
            expect_add: t.expect_add,
            expect_remove: t.expect_remove,
            arch,
        };
        check(&k.expect_add, &k.label)?;
        check(&k.expect_remove, &k.label)?;
        kernels.push(k);
    }
    let mut emulations = Vec::new();
    for t in file.emulations {
        let e = Emulation {
            label: t.label,
            kernel: t.kernel,
            profile: t.profile,
            expect_add: t.expect_add,
            expect_remove: t.expect_remove,
        };
        check(&e.expect_add, &e.label)?;
        check(&e.expect_remove, &e.label)?;
        emulations.push(e);
    }
    let s = file.settings;
    let qemu_min =
        Version::parse(&s.qemu_min).ok_or_else(|| format!("kernels.toml: [settings] bad qemu_min {}", s.qemu_min))?;
    let least = s.binary_timeout.saturating_add(QUIET_MARGIN);
    for (key, value) in [("timeout_tcg", s.timeout_tcg), ("timeout_kvm", s.timeout_kvm)] {
        if value < least {
            return Err(format!(
                "kernels.toml: [settings] {key} = {value} must be at least binary_timeout + {QUIET_MARGIN} = {least}, \
                 so that the guest's own per-binary timeout reports a hung binary first"
            ));
        }
    }
    Ok(Config {
        features,
        kernels,
        emulations,
        timeout_tcg: s.timeout_tcg,
        timeout_kvm: s.timeout_kvm,
        binary_timeout: s.binary_timeout,
        test_threads: s.test_threads,
        parallel_vms: s.parallel_vms.max(1),
        busybox_suite: s.busybox_suite,
        qemu_min,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_file_loads() {
        let c = load().unwrap();
        assert!(c.kernels.len() >= 6);
        let v612 = c.kernels.iter().find(|k| k.version == Version(6, 12)).unwrap();
        let e = v612.expected(&c.features);
        assert!(e.contains(&"pidfs".to_owned()) && e.contains(&"namespace_ioctls".to_owned()));
        assert!(!e.contains(&"get_info".to_owned()));
        let arm = c.kernels.iter().filter(|k| k.arch == Arch::Aarch64).count();
        assert!(arm >= 1 && c.kernels.iter().any(|k| k.arch == Arch::X86_64), "{arm} aarch64 rows");
    }

    #[test]
    fn the_shipped_file_reads_as_written() {
        let c = load().unwrap();
        // The features come from pidfd's table (`features --facts`).
        let since = |f: &Fact| (f.name.clone(), f.since);
        assert_eq!(c.features.0.len(), 32);
        assert_eq!(since(&c.features.0[0]), ("ns_hierarchy".to_owned(), Version(4, 9)));
        assert_eq!(since(&c.features.0[3]), ("pidfd_send_signal".to_owned(), Version(5, 1)));
        assert_eq!(c.features.0.last().map(since), Some(("clone_autoreap".to_owned(), Version(7, 1))));
        // Table order, not sorted: the matrix's columns and `pidfd::features()` follow it.
        assert_eq!(c.features.names()[5..7], ["pidfd_open", "clone3"]);
        assert_eq!(c.features.get("get_info").map(since), Some(("get_info".to_owned(), Version(6, 13))));
        let info_exit = c.features.get("info_exit").unwrap();
        assert_eq!(
            (info_exit.needs.join(","), info_exit.calls.join(",")),
            ("pidfs,get_info".into(), "pidfd_open".into())
        );
        let so = c.features.get("so_peerpidfd").unwrap();
        assert!(so.needs.is_empty() && so.calls.is_empty());
        assert_eq!(c.kernels.len(), 17);
        let first = &c.kernels[0];
        assert_eq!((first.label.as_str(), first.version, first.arch), ("5.10.223", Version(5, 10), Arch::X86_64));
        assert_eq!((first.suite.as_str(), first.package_version.as_str()), ("bullseye", "5.10.223-1"));
        assert_eq!(first.package, "linux-image-5.10.0-32-cloud-amd64");
        let last = c.kernels.last().unwrap();
        assert_eq!((last.label.as_str(), last.version, last.arch), ("6.12.107-s390x", Version(6, 12), Arch::S390x));
        // One row per architecture Debian ships a kernel for, at least.
        for arch in Arch::ALL {
            assert!(c.kernels.iter().any(|k| k.arch == arch), "no {} row", arch.debian());
        }
        assert!(c.kernels.iter().all(|k| k.expect_add.is_empty() && k.expect_remove.is_empty()));
        let e: Vec<_> =
            c.emulations.iter().map(|e| (e.label.as_str(), e.kernel.as_deref(), e.profile.as_deref())).collect();
        assert_eq!(e, [("emulated-5.4", Some("5.4"), None), ("container-eperm", None, Some("container-eperm"))]);
        assert_eq!((c.timeout_tcg, c.timeout_kvm, c.binary_timeout, c.test_threads), (180, 150, 120, 2));
        assert_eq!((c.busybox_suite.as_str(), c.qemu_min, c.parallel_vms), ("bookworm", Version(8, 1), 2));
    }

    #[test]
    fn absent_tables_and_keys_take_the_defaults() {
        let c = parse("", Features::default()).unwrap();
        assert!(c.features.0.is_empty() && c.kernels.is_empty() && c.emulations.is_empty());
        assert_eq!((c.timeout_tcg, c.timeout_kvm, c.binary_timeout, c.test_threads), (240, 210, 180, 2));
        assert_eq!((c.busybox_suite.as_str(), c.qemu_min, c.parallel_vms), ("bookworm", Version(8, 1), 1));
        let c = parse(
            "[settings]\ntimeout_kvm = 1_000 # ms? no: s\n\
             [[kernel]]\nversion = \"6.2.1\"\nsuite = \"s\"\npackage = \"p\"\npackage_version = \"v\"\n\
             expect_remove = [\"a\",]\nunknown_key = true\n",
            ab(),
        )
        .unwrap();
        assert_eq!((c.timeout_tcg, c.timeout_kvm), (240, 1000));
        assert_eq!(c.features.names(), ["a", "b"]);
        let k = &c.kernels[0];
        assert_eq!((k.label.as_str(), k.arch), ("6.2.1", Arch::X86_64));
        assert_eq!(k.expected(&c.features), ["b"]);
    }

    /// Two features, as `features --facts` prints them.
    fn ab() -> Features {
        Features::parse("a 5.1 needs= calls=pidfd_open\nb 6.2 needs=a calls=\n").unwrap()
    }

    #[test]
    fn facts_lines() {
        let f = ab();
        assert_eq!(f.names(), ["a", "b"]);
        assert_eq!(
            f.0[0],
            Fact { name: "a".into(), since: Version(5, 1), needs: vec![], calls: vec!["pidfd_open".into()] }
        );
        assert_eq!((&f.0[1].needs[..], f.0[1].calls.len(), f.0[1].since), (&["a".to_owned()][..], 0, Version(6, 2)));
        let err = |text: &str| Features::parse(text).unwrap_err();
        assert_eq!(err("a five needs= calls="), "features --facts: bad line `a five needs= calls=`");
        assert_eq!(err("a 5.1 calls= needs="), "features --facts: bad line `a 5.1 calls= needs=`");
        assert_eq!(err("a 5.1 needs="), "features --facts: bad line `a 5.1 needs=`");
        assert_eq!(
            err("a 5.1 needs=b calls=\nb 5.2 needs= calls="),
            "features --facts: a needs b, which is not listed before it"
        );
        assert_eq!(err("a 5.1 needs= calls=\na 5.2 needs= calls="), "features --facts: a is listed twice");
        assert_eq!(err(""), "features --facts printed no feature");
    }

    /// A bad file is an error that names the key (and, from `toml`, the line).
    #[test]
    fn errors_name_the_key() {
        let err = |text: &str| parse(text, ab()).unwrap_err();
        let kernel = "[[kernel]]\nversion = \"6.1\"\nsuite = \"s\"\npackage = \"p\"\n";
        let e = err(kernel);
        assert!(e.starts_with("kernels.toml: ") && e.contains("missing field `package_version`"), "{e}");
        let e = err(&format!("{kernel}package_version = \"v\"\narch = \"mips\"\n"));
        assert_eq!(e, "kernels.toml: 6.1: unknown arch mips");
        let e = err(&format!("{kernel}package_version = \"v\"\nexpect_add = [\"nope\"]\n"));
        assert_eq!(e, "kernels.toml: 6.1 names unknown feature nope");
        let e = err(&format!("{kernel}package_version = \"v\"\n").replace("6.1", "six"));
        assert_eq!(e, "kernels.toml: bad version six");
        assert!(err("[[emulation]]\nkernel = \"5.4\"\n").contains("missing field `label`"));
        let e = err("[features]\na = \"5.1\"\n");
        assert!(e.contains("[features] is not read") && e.contains("pidfd/src/compat/mod.rs"), "{e}");
        let e = err("[settings]\ntimeout_tcg = \"180\"\n");
        assert!(e.contains("line 2") && e.contains("timeout_tcg") && e.contains("expected u64"), "{e}");
        assert!(err("[settings]\ntest_threads = -1\n").contains("test_threads = -1"));
        assert_eq!(err("[settings]\nqemu_min = \"new\"\n"), "kernels.toml: [settings] bad qemu_min new");
        assert!(err("x = [1,\n").contains("line 1"));
    }

    /// A quiet limit must outlast the guest's per-binary timeout by the margin.
    #[test]
    fn quiet_limits_outlast_the_binary_timeout() {
        let err = |text: &str| parse(text, ab()).unwrap_err();
        assert_eq!(
            err("[settings]\nbinary_timeout = 120\ntimeout_kvm = 90\n"),
            "kernels.toml: [settings] timeout_kvm = 90 must be at least binary_timeout + 30 = 150, so that \
             the guest's own per-binary timeout reports a hung binary first"
        );
        let e = err("[settings]\nbinary_timeout = 120\ntimeout_tcg = 149\ntimeout_kvm = 150\n");
        assert!(e.starts_with("kernels.toml: [settings] timeout_tcg = 149 must be at least"), "{e}");
        // The defaults keep the rule, with nothing to spare for a longer binary_timeout.
        assert!(err("[settings]\nbinary_timeout = 181\n").contains("timeout_kvm = 210"));
        let c = parse("[settings]\nbinary_timeout = 120\ntimeout_tcg = 150\ntimeout_kvm = 150\n", ab()).unwrap();
        assert_eq!((c.timeout_tcg, c.timeout_kvm), (150, 150));
    }

    #[test]
    fn versions() {
        assert_eq!(Version::parse("6.18.44-fc-v669"), Some(Version(6, 18)));
        assert!(Version(5, 10) < Version(6, 1));
    }
}
