//! `xtask/kernels.toml`: a tiny parser for the TOML subset the file uses
//! (`[table]`, `[[array-of-tables]]`, `key = "string" | integer | bool |
//! ["string", ...]` on one line, `#` comments), and the typed view of it.

use super::arch::Arch;
use std::collections::BTreeMap;
use std::path::Path;

/// A parsed value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    /// `"text"`.
    Str(String),
    /// `42`.
    Int(i64),
    /// `true` / `false`.
    Bool(bool),
    /// `["a", "b"]`.
    List(Vec<String>),
}

/// One `[table]` or one element of a `[[array]]`, keys in file order.
#[derive(Clone, Debug, Default)]
pub(crate) struct Table {
    /// `(key, value)` pairs.
    pub(crate) entries: Vec<(String, Value)>,
}

impl Table {
    fn get(&self, key: &str) -> Option<&Value> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// A string value.
    pub(crate) fn str(&self, key: &str) -> Option<&str> {
        match self.get(key) {
            Some(Value::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// An integer value.
    pub(crate) fn int(&self, key: &str) -> Option<i64> {
        match self.get(key) {
            Some(Value::Int(i)) => Some(*i),
            _ => None,
        }
    }

    /// A list of strings (empty when absent).
    pub(crate) fn list(&self, key: &str) -> Vec<String> {
        match self.get(key) {
            Some(Value::List(l)) => l.clone(),
            _ => Vec::new(),
        }
    }
}

/// The whole document: named tables and arrays of tables.
#[derive(Debug, Default)]
pub(crate) struct Document {
    /// `[name]` tables.
    pub(crate) tables: BTreeMap<String, Table>,
    /// `[[name]]` arrays.
    pub(crate) arrays: BTreeMap<String, Vec<Table>>,
}

/// Parses the subset; errors name the line.
pub(crate) fn parse(text: &str) -> Result<Document, String> {
    let mut doc = Document::default();
    enum Cur {
        Table(String),
        Array(String),
    }
    let mut cur = Cur::Table(String::new());
    doc.tables.insert(String::new(), Table::default());
    for (n, raw) in text.lines().enumerate() {
        let line = strip_comment(raw).trim();
        let err = |m: &str| format!("kernels.toml:{}: {m}: {raw}", n + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix("[[").and_then(|l| l.strip_suffix("]]")) {
            let name = name.trim().to_owned();
            doc.arrays.entry(name.clone()).or_default().push(Table::default());
            cur = Cur::Array(name);
        } else if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.trim().to_owned();
            doc.tables.entry(name.clone()).or_default();
            cur = Cur::Table(name);
        } else {
            let (key, value) = line.split_once('=').ok_or_else(|| err("expected key = value"))?;
            let key = key.trim().trim_matches('"').to_owned();
            let value = parse_value(value.trim()).ok_or_else(|| err("unsupported value"))?;
            let table = match &cur {
                Cur::Table(name) => doc.tables.get_mut(name),
                Cur::Array(name) => doc.arrays.get_mut(name).and_then(|a| a.last_mut()),
            }
            .ok_or_else(|| err("internal: no current table"))?;
            table.entries.push((key, value));
        }
    }
    Ok(doc)
}

/// Removes a `#` comment that is not inside a string.
fn strip_comment(line: &str) -> &str {
    let mut in_str = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => in_str = !in_str,
            '#' if !in_str => return &line[..i],
            _ => {}
        }
    }
    line
}

fn parse_value(v: &str) -> Option<Value> {
    if let Some(s) = parse_str(v) {
        return Some(Value::Str(s));
    }
    if v == "true" || v == "false" {
        return Some(Value::Bool(v == "true"));
    }
    if let Some(inner) = v.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
        let mut items = Vec::new();
        for item in inner.split(',') {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            items.push(parse_str(item)?);
        }
        return Some(Value::List(items));
    }
    v.replace('_', "").parse().ok().map(Value::Int)
}

fn parse_str(v: &str) -> Option<String> {
    let inner = v.strip_prefix('"')?.strip_suffix('"')?;
    (!inner.contains('"') && !inner.contains('\\')).then(|| inner.to_owned())
}

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

/// The feature table: name and first mainline kernel, in file order.
#[derive(Clone, Debug)]
pub(crate) struct Features(pub(crate) Vec<(String, Version)>);

impl Features {
    /// The features a mainline kernel of version `v` has.
    pub(crate) fn for_version(&self, v: Version) -> Vec<String> {
        self.0.iter().filter(|(_, since)| *since <= v).map(|(n, _)| n.clone()).collect()
    }

    /// The names, in table order.
    pub(crate) fn names(&self) -> Vec<String> {
        self.0.iter().map(|(n, _)| n.clone()).collect()
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
    /// Feature table.
    pub(crate) features: Features,
    /// Default kernels, in boot order.
    pub(crate) kernels: Vec<Kernel>,
    /// Host emulation rows.
    pub(crate) emulations: Vec<Emulation>,
    /// Seconds per VM under TCG.
    pub(crate) timeout_tcg: u64,
    /// Seconds per VM under KVM.
    pub(crate) timeout_kvm: u64,
    /// Seconds per test binary inside the VM.
    pub(crate) binary_timeout: u64,
    /// libtest `--test-threads`.
    pub(crate) test_threads: u32,
    /// Suite busybox-static comes from.
    pub(crate) busybox_suite: String,
    /// Minimum QEMU version (major, minor).
    pub(crate) qemu_min: Version,
}

/// Path of the configuration file.
pub(crate) fn path() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/kernels.toml"))
}

/// Reads and checks `xtask/kernels.toml`.
pub(crate) fn load() -> Result<Config, String> {
    let text = std::fs::read_to_string(path()).map_err(|e| format!("reading {}: {e}", path().display()))?;
    let doc = parse(&text)?;
    let settings = doc.tables.get("settings").cloned().unwrap_or_default();
    let mut features = Vec::new();
    for (name, v) in &doc.tables.get("features").cloned().unwrap_or_default().entries {
        let Value::Str(s) = v else {
            return Err(format!("kernels.toml: [features] {name} must be a version string"));
        };
        let since = Version::parse(s).ok_or_else(|| format!("kernels.toml: bad version {s}"))?;
        features.push((name.clone(), since));
    }
    let features = Features(features);
    let known = features.names();
    let check = |list: &[String], what: &str| -> Result<(), String> {
        match list.iter().find(|f| !known.contains(f)) {
            Some(f) => Err(format!("kernels.toml: {what} names unknown feature {f}")),
            None => Ok(()),
        }
    };
    let mut kernels = Vec::new();
    for t in doc.arrays.get("kernel").map(Vec::as_slice).unwrap_or_default() {
        let need = |k: &str| t.str(k).map(str::to_owned).ok_or_else(|| format!("kernels.toml: a [[kernel]] lacks {k}"));
        let version_s = need("version")?;
        let version = Version::parse(&version_s).ok_or_else(|| format!("kernels.toml: bad version {version_s}"))?;
        let arch = match t.str("arch") {
            None => Arch::X86_64,
            Some(a) => Arch::parse(a).ok_or_else(|| format!("kernels.toml: {version_s}: unknown arch {a}"))?,
        };
        let k = Kernel {
            label: t.str("label").map_or_else(|| version_s.clone(), str::to_owned),
            version,
            suite: need("suite")?,
            package: need("package")?,
            package_version: need("package_version")?,
            expect_add: t.list("expect_add"),
            expect_remove: t.list("expect_remove"),
            arch,
        };
        check(&k.expect_add, &k.label)?;
        check(&k.expect_remove, &k.label)?;
        kernels.push(k);
    }
    let mut emulations = Vec::new();
    for t in doc.arrays.get("emulation").map(Vec::as_slice).unwrap_or_default() {
        let label = t.str("label").ok_or("kernels.toml: an [[emulation]] lacks label")?.to_owned();
        let e = Emulation {
            label,
            kernel: t.str("kernel").map(str::to_owned),
            profile: t.str("profile").map(str::to_owned),
            expect_add: t.list("expect_add"),
            expect_remove: t.list("expect_remove"),
        };
        check(&e.expect_add, &e.label)?;
        check(&e.expect_remove, &e.label)?;
        emulations.push(e);
    }
    let uint = |k: &str, d: u64| settings.int(k).and_then(|v| u64::try_from(v).ok()).unwrap_or(d);
    Ok(Config {
        features,
        kernels,
        emulations,
        timeout_tcg: uint("timeout_tcg", 240),
        timeout_kvm: uint("timeout_kvm", 90),
        binary_timeout: uint("binary_timeout", 180),
        test_threads: u32::try_from(uint("test_threads", 2)).unwrap_or(2),
        busybox_suite: settings.str("busybox_suite").unwrap_or("bookworm").to_owned(),
        qemu_min: settings.str("qemu_min").and_then(Version::parse).unwrap_or(Version(8, 1)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_subset() {
        let doc = parse("a = 1 # c\n[s]\nx = \"y#z\"\n[[k]]\nl = [\"a\", \"b\",]\n[[k]]\nb = true\n").unwrap();
        assert_eq!(doc.tables[""].int("a"), Some(1));
        assert_eq!(doc.tables["s"].str("x"), Some("y#z"));
        assert_eq!(doc.arrays["k"].len(), 2);
        assert_eq!(doc.arrays["k"][0].list("l"), vec!["a", "b"]);
    }

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
    fn versions() {
        assert_eq!(Version::parse("6.18.44-fc-v669"), Some(Version(6, 18)));
        assert!(Version(5, 10) < Version(6, 1));
    }
}
