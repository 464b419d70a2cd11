//! `cargo xtask api [--bless]`: the public API of each published crate, as a sorted list of
//! item paths and signatures read from nightly rustdoc's JSON, compared with the committed
//! `xtask/api/<package>.txt` (or written there with `--bless`). An API change is then always a
//! deliberate, reviewed diff of that file.
//!
//! What a line says: every public item by the path a user names it with (re-exports followed,
//! `#[doc(hidden)]` items left out as outside semver), its signature, the constants' values,
//! the pub fields and variants, `#[non_exhaustive]`, and every impl of a trait for a public
//! type, the auto traits (`Send`, `Sync`, `Unpin`, ...) included: losing one breaks users.
//! Blanket impls (`impl<T> From<T> for T`, ...) are left out: they follow from the others.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// Runs the check (or `--bless`) for every publishable crate.
pub(crate) fn api(args: &[String]) -> Result<(), String> {
    let bless = args.iter().any(|a| a == "--bless");
    if let Some(other) = args.iter().find(|a| *a != "--bless") {
        return Err(format!("api: unknown argument {other} (usage: cargo xtask api [--bless])"));
    }
    crate::ci::ensure_nightly(&[])?;
    let root = crate::ci::workspace_root();
    let dir = root.join("xtask/api");
    let mut changed = Vec::new();
    for package in crate::release::publishable()? {
        let lines = snapshot(&root, &package)?;
        let file = dir.join(format!("{package}.txt"));
        let text = lines.join("\n") + "\n";
        if bless {
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            std::fs::write(&file, &text).map_err(|e| format!("{}: {e}", file.display()))?;
            println!("    {}: {} lines written", rel(&root, &file), lines.len());
            continue;
        }
        let old = std::fs::read_to_string(&file).unwrap_or_default();
        if old == text {
            println!("    {package}: {} lines, unchanged", lines.len());
            continue;
        }
        let old: BTreeSet<&str> = old.lines().collect();
        let new: BTreeSet<&str> = lines.iter().map(String::as_str).collect();
        let mut diff = String::new();
        for l in old.difference(&new) {
            diff.push_str(&format!("\n      - {l}"));
        }
        for l in new.difference(&old) {
            diff.push_str(&format!("\n      + {l}"));
        }
        changed.push(format!("  {package} ({}):{diff}", rel(&root, &file)));
    }
    if changed.is_empty() {
        return Ok(());
    }
    Err(format!(
        "the public API differs from the committed snapshot (- committed, + now):\n{}\n\
         If the change is intended, run `cargo xtask api --bless` and commit xtask/api/.",
        changed.join("\n")
    ))
}

fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

/// The sorted API lines of `package`, from `cargo +nightly rustdoc --output-format json`.
fn snapshot(root: &Path, package: &str) -> Result<Vec<String>, String> {
    let target = root.join("target/api");
    let status = Command::new("cargo")
        .args(["+nightly", "rustdoc", "--quiet", "--lib", "-p", package, "--target-dir"])
        .arg(&target)
        .args(["--", "-Z", "unstable-options", "--output-format", "json"])
        .current_dir(root)
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("CARGO")
        .env_remove("RUSTDOCFLAGS")
        .status()
        .map_err(|e| format!("cargo +nightly rustdoc -p {package}: {e}"))?;
    if !status.success() {
        return Err(format!("cargo +nightly rustdoc -p {package} failed: {status}"));
    }
    let lib = lib_name(root, package)?;
    let json: PathBuf = target.join("doc").join(format!("{lib}.json"));
    let text = std::fs::read_to_string(&json).map_err(|e| format!("{}: {e}", json.display()))?;
    let doc: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", json.display()))?;
    Ok(Api::new(&doc)?.lines())
}

/// The library target's name of a workspace package (`pidfd-core` builds `pidfd`).
fn lib_name(root: &Path, package: &str) -> Result<String, String> {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .current_dir(root)
        .output()
        .map_err(|e| format!("cargo metadata: {e}"))?;
    let meta: Value = serde_json::from_slice(&out.stdout).map_err(|e| format!("cargo metadata: {e}"))?;
    meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["name"] == package)
        .flat_map(|p| p["targets"].as_array().into_iter().flatten())
        .find(|t| t["kind"].as_array().is_some_and(|k| k.iter().any(|k| k == "lib")))
        .and_then(|t| t["name"].as_str())
        .map(|n| n.replace('-', "_"))
        .ok_or_else(|| format!("{package} has no library target"))
}

/// Auto traits that only the compiler sees (unstable): no user can rely on them, and they come
/// and go with the nightly.
const UNSTABLE_AUTO_TRAITS: &[&str] = &["core::marker::Freeze", "core::marker::UnsafeUnpin"];

struct Api<'a> {
    index: &'a serde_json::Map<String, Value>,
    paths: &'a serde_json::Map<String, Value>,
    /// The public path of each item of the crate, as a user names it.
    public: BTreeMap<String, String>,
    /// The items in the order the walk met them, with their public paths.
    items: Vec<(String, String)>,
}

impl<'a> Api<'a> {
    fn new(doc: &'a Value) -> Result<Api<'a>, String> {
        let index = doc["index"].as_object().ok_or("rustdoc JSON without index")?;
        let paths = doc["paths"].as_object().ok_or("rustdoc JSON without paths")?;
        let root = item_id(&doc["root"]);
        let name = index.get(&root).and_then(|r| r["name"].as_str()).ok_or("rustdoc JSON without root")?;
        let mut api = Api { index, paths, public: BTreeMap::new(), items: Vec::new() };
        api.walk(&root, name);
        Ok(api)
    }

    fn item(&self, id: &str) -> Option<&'a Value> {
        self.index.get(id)
    }

    /// Records the items of module `id`, named under `prefix`.
    fn walk(&mut self, id: &str, prefix: &str) {
        let Some(module) = self.item(id) else { return };
        let children: Vec<String> =
            module["inner"]["module"]["items"].as_array().into_iter().flatten().map(item_id).collect();
        for child in children {
            let Some(item) = self.item(&child) else { continue };
            if let Some(u) = item["inner"].get("use") {
                let target = item_id(&u["id"]);
                let target_is_local = self.item(&target).is_some();
                if u["is_glob"] == true {
                    if target_is_local {
                        self.walk(&target, prefix);
                    } else {
                        self.items.push((child.clone(), format!("{prefix}::*")));
                    }
                } else {
                    let path = format!("{prefix}::{}", u["name"].as_str().unwrap_or("?"));
                    if target_is_local {
                        self.record(&target, path);
                    } else {
                        self.items.push((child.clone(), path));
                    }
                }
                continue;
            }
            let Some(name) = item["name"].as_str() else { continue };
            self.record(&child, format!("{prefix}::{name}"));
        }
    }

    fn record(&mut self, id: &str, path: String) {
        if self.public.contains_key(id) {
            return; // re-exported twice: the first path names it
        }
        self.public.insert(id.to_owned(), path.clone());
        self.items.push((id.to_owned(), path.clone()));
        if self.item(id).is_some_and(|i| i["inner"].get("module").is_some()) {
            self.walk(id, &path);
        }
    }

    fn lines(&self) -> Vec<String> {
        let mut out = BTreeSet::new();
        for (id, path) in &self.items {
            let Some(item) = self.item(id) else { continue };
            self.render(item, path, &mut out);
        }
        out.into_iter().collect()
    }

    /// The lines of one item at its public `path`.
    fn render(&self, item: &Value, path: &str, out: &mut BTreeSet<String>) {
        let attrs = if item["attrs"].to_string().contains("non_exhaustive") { "#[non_exhaustive] " } else { "" };
        let Some((kind, inner)) = item["inner"].as_object().and_then(|o| o.iter().next()) else { return };
        match kind.as_str() {
            "module" => {
                out.insert(format!("pub mod {path}"));
            }
            "use" => {
                let glob = if inner["is_glob"] == true { "::*" } else { "" };
                out.insert(format!("pub use {path} = {}{glob}", inner["source"].as_str().unwrap_or("?")));
            }
            "function" => {
                out.insert(format!("{}{}", attrs, self.function(inner, path)));
            }
            "constant" => {
                let value = inner["const"]["value"].as_str().or(inner["const"]["expr"].as_str()).unwrap_or("_");
                out.insert(format!("pub const {path}: {} = {value}", self.ty(&inner["type"])));
            }
            "static" => {
                let m = if inner["is_mutable"] == true { "mut " } else { "" };
                out.insert(format!("pub static {m}{path}: {}", self.ty(&inner["type"])));
            }
            "type_alias" => {
                let g = self.generics(&inner["generics"]);
                out.insert(format!("pub type {path}{}{} = {}", g.0, g.1, self.ty(&inner["type"])));
            }
            "macro" => {
                out.insert(format!("macro {path}!"));
            }
            "struct" | "union" | "enum" => {
                let g = self.generics(&inner["generics"]);
                out.insert(format!("{attrs}pub {kind} {path}{}{}", g.0, g.1));
                self.fields(inner, path, out);
                for v in inner["variants"].as_array().into_iter().flatten() {
                    let Some(variant) = self.item(&item_id(v)) else { continue };
                    let name = variant["name"].as_str().unwrap_or("?");
                    let vattrs =
                        if variant["attrs"].to_string().contains("non_exhaustive") { "#[non_exhaustive] " } else { "" };
                    let vk = &variant["inner"]["variant"];
                    let shape = self.variant_shape(&vk["kind"]);
                    let disc = vk["discriminant"]["value"].as_str().map(|d| format!(" = {d}")).unwrap_or_default();
                    out.insert(format!("{vattrs}pub {path}::{name}{shape}{disc}"));
                    self.fields(&vk["kind"], &format!("{path}::{name}"), out);
                }
                self.impls(inner, out);
            }
            "trait" => {
                let g = self.generics(&inner["generics"]);
                let unsafety = if inner["is_unsafe"] == true { "unsafe " } else { "" };
                let bounds = self.bounds(&inner["bounds"]);
                let bounds = if bounds.is_empty() { String::new() } else { format!(": {bounds}") };
                out.insert(format!("pub {unsafety}trait {path}{}{bounds}{}", g.0, g.1));
                for member in inner["items"].as_array().into_iter().flatten() {
                    let Some(m) = self.item(&item_id(member)) else { continue };
                    let name = format!("{path}::{}", m["name"].as_str().unwrap_or("?"));
                    self.trait_member(m, &name, out);
                }
            }
            _ => {
                out.insert(format!("pub {kind} {path}"));
            }
        }
    }

    fn trait_member(&self, m: &Value, name: &str, out: &mut BTreeSet<String>) {
        let Some((kind, inner)) = m["inner"].as_object().and_then(|o| o.iter().next()) else { return };
        match kind.as_str() {
            "function" => {
                let provided = if inner["has_body"] == true { " (provided)" } else { "" };
                out.insert(format!("{}{provided}", self.function(inner, name)));
            }
            "assoc_type" => {
                let b = self.bounds(&inner["bounds"]);
                let b = if b.is_empty() { String::new() } else { format!(": {b}") };
                out.insert(format!("type {name}{b}"));
            }
            "assoc_const" => {
                out.insert(format!("const {name}: {}", self.ty(&inner["type"])));
            }
            other => {
                out.insert(format!("{other} {name}"));
            }
        }
    }

    /// The pub fields of a struct, union or struct-like variant (`kind` holds `fields`).
    fn fields(&self, inner: &Value, path: &str, out: &mut BTreeSet<String>) {
        let kind = inner.get("kind").unwrap_or(inner);
        let fields = kind["plain"]["fields"]
            .as_array()
            .or(kind["struct"]["fields"].as_array())
            .or(inner["fields"].as_array())
            .or(kind["tuple"].as_array());
        for f in fields.into_iter().flatten() {
            let Some(field) = self.item(&item_id(f)) else { continue };
            if field["visibility"] != "public" && field["visibility"] != "default" {
                continue;
            }
            let name = field["name"].as_str().unwrap_or("?");
            out.insert(format!("pub field {path}::{name}: {}", self.ty(&field["inner"]["struct_field"])));
        }
        let stripped = kind["plain"]["has_stripped_fields"] == true || kind["struct"]["has_stripped_fields"] == true;
        if stripped {
            out.insert(format!("{path} has private fields"));
        }
    }

    fn variant_shape(&self, kind: &Value) -> String {
        if let Some(t) = kind["tuple"].as_array() {
            let fields: Vec<String> = t
                .iter()
                .map(|f| match self.item(&item_id(f)) {
                    Some(field) => self.ty(&field["inner"]["struct_field"]),
                    None => "_".into(),
                })
                .collect();
            return format!("({})", fields.join(", "));
        }
        if kind.get("struct").is_some() { " { .. }".into() } else { String::new() }
    }

    fn impls(&self, inner: &Value, out: &mut BTreeSet<String>) {
        for i in inner["impls"].as_array().into_iter().flatten() {
            let Some(imp) = self.item(&item_id(i)) else { continue };
            let imp = &imp["inner"]["impl"];
            if !imp["blanket_impl"].is_null() {
                continue;
            }
            let for_ty = self.ty(&imp["for"]);
            let g = self.generics(&imp["generics"]);
            if imp["trait"].is_null() {
                for member in imp["items"].as_array().into_iter().flatten() {
                    let Some(m) = self.item(&item_id(member)) else { continue };
                    if m["visibility"] != "public" {
                        continue;
                    }
                    let name = format!("{for_ty}::{}", m["name"].as_str().unwrap_or("?"));
                    let Some((kind, mi)) = m["inner"].as_object().and_then(|o| o.iter().next()) else { continue };
                    match kind.as_str() {
                        "function" => {
                            out.insert(self.function(mi, &name));
                        }
                        "assoc_const" => {
                            let value = mi["value"].as_str().map(|v| format!(" = {v}")).unwrap_or_default();
                            out.insert(format!("pub const {name}: {}{value}", self.ty(&mi["type"])));
                        }
                        other => {
                            out.insert(format!("pub {other} {name}"));
                        }
                    }
                }
                continue;
            }
            let trait_path = self.path(&imp["trait"]);
            if UNSTABLE_AUTO_TRAITS.iter().any(|t| trait_path.starts_with(t)) {
                continue;
            }
            let unsafety = if imp["is_unsafe"] == true { "unsafe " } else { "" };
            let neg = if imp["is_negative"] == true { "!" } else { "" };
            out.insert(format!("{unsafety}impl{} {neg}{trait_path} for {for_ty}{}", g.0, g.1));
        }
    }

    fn function(&self, f: &Value, path: &str) -> String {
        let h = &f["header"];
        let mut q = String::from("pub ");
        for (flag, word) in [("is_const", "const "), ("is_async", "async "), ("is_unsafe", "unsafe ")] {
            if h[flag] == true {
                q.push_str(word);
            }
        }
        let g = self.generics(&f["generics"]);
        let inputs: Vec<String> = f["sig"]["inputs"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                let name = p[0].as_str().unwrap_or("_");
                let ty = self.ty(&p[1]);
                match name {
                    "self" => match ty.as_str() {
                        "Self" => "self".to_owned(),
                        "&Self" => "&self".to_owned(),
                        "&mut Self" => "&mut self".to_owned(),
                        _ => format!("self: {ty}"),
                    },
                    _ => format!("{name}: {ty}"),
                }
            })
            .collect();
        let output = match &f["sig"]["output"] {
            Value::Null => String::new(),
            t => format!(" -> {}", self.ty(t)),
        };
        format!("{q}fn {path}{}({}){output}{}", g.0, inputs.join(", "), g.1)
    }

    /// `(<params>, where-clause)`, each empty when there is none.
    fn generics(&self, g: &Value) -> (String, String) {
        let params: Vec<String> = g["params"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["kind"]["type"]["is_synthetic"] != true)
            .map(|p| {
                let name = p["name"].as_str().unwrap_or("?").to_owned();
                let k = &p["kind"];
                if let Some(t) = k.get("type") {
                    let b = self.bounds(&t["bounds"]);
                    if b.is_empty() { name } else { format!("{name}: {b}") }
                } else if let Some(c) = k.get("const") {
                    format!("const {name}: {}", self.ty(&c["type"]))
                } else {
                    name
                }
            })
            .collect();
        let preds: Vec<String> = g["where_predicates"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|w| {
                let b = w.get("bound_predicate")?;
                Some(format!("{}: {}", self.ty(&b["type"]), self.bounds(&b["bounds"])))
            })
            .collect();
        let params = if params.is_empty() { String::new() } else { format!("<{}>", params.join(", ")) };
        let preds = if preds.is_empty() { String::new() } else { format!(" where {}", preds.join(", ")) };
        (params, preds)
    }

    fn bounds(&self, bounds: &Value) -> String {
        let parts: Vec<String> = bounds
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|b| {
                if let Some(t) = b.get("trait_bound") {
                    let m = if t["modifier"] == "maybe" { "?" } else { "" };
                    Some(format!("{m}{}", self.path(&t["trait"])))
                } else {
                    b.get("outlives").and_then(Value::as_str).map(str::to_owned)
                }
            })
            .collect();
        parts.join(" + ")
    }

    /// A path (`resolved_path`, a trait) by its item's public path where it is ours, else its
    /// crate's path, with its generic arguments.
    fn path(&self, p: &Value) -> String {
        let id = item_id(&p["id"]);
        let name = self.public.get(&id).cloned().unwrap_or_else(|| {
            self.paths
                .get(&id)
                .and_then(|s| s["path"].as_array())
                .map(|segs| segs.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("::"))
                .unwrap_or_else(|| p["path"].as_str().unwrap_or("?").to_owned())
        });
        format!("{name}{}", self.args(&p["args"]))
    }

    fn args(&self, a: &Value) -> String {
        if let Some(ab) = a.get("angle_bracketed") {
            let mut parts: Vec<String> = ab["args"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|g| {
                    if let Some(t) = g.get("type") {
                        self.ty(t)
                    } else if let Some(l) = g.get("lifetime") {
                        l.as_str().unwrap_or("'_").to_owned()
                    } else if let Some(c) = g.get("const") {
                        c["expr"].as_str().unwrap_or("_").to_owned()
                    } else {
                        "_".to_owned()
                    }
                })
                .collect();
            for c in ab["constraints"].as_array().into_iter().flatten() {
                let name = c["name"].as_str().unwrap_or("?");
                let b = &c["binding"];
                if let Some(t) = b["equality"].get("type") {
                    parts.push(format!("{name} = {}", self.ty(t)));
                } else if let Some(bs) = b.get("constraint") {
                    parts.push(format!("{name}: {}", self.bounds(bs)));
                }
            }
            return if parts.is_empty() { String::new() } else { format!("<{}>", parts.join(", ")) };
        }
        if let Some(p) = a.get("parenthesized") {
            let inputs: Vec<String> = p["inputs"].as_array().into_iter().flatten().map(|t| self.ty(t)).collect();
            let output = if p["output"].is_null() { String::new() } else { format!(" -> {}", self.ty(&p["output"])) };
            return format!("({}){output}", inputs.join(", "));
        }
        String::new()
    }

    fn ty(&self, t: &Value) -> String {
        let Some((kind, v)) = t.as_object().and_then(|o| o.iter().next()) else {
            return t.as_str().map(|s| if s == "infer" { "_" } else { s }).unwrap_or("?").to_owned();
        };
        match kind.as_str() {
            "resolved_path" => self.path(v),
            "generic" | "primitive" => v.as_str().unwrap_or("?").to_owned(),
            "tuple" => {
                let parts: Vec<String> = v.as_array().into_iter().flatten().map(|t| self.ty(t)).collect();
                format!("({})", parts.join(", "))
            }
            "slice" => format!("[{}]", self.ty(v)),
            "array" => format!("[{}; {}]", self.ty(&v["type"]), v["len"].as_str().unwrap_or("_")),
            "pat" => self.ty(&v["type"]),
            "raw_pointer" => {
                format!("*{} {}", if v["is_mutable"] == true { "mut" } else { "const" }, self.ty(&v["type"]))
            }
            "borrowed_ref" => {
                let l = v["lifetime"].as_str().map(|l| format!("{l} ")).unwrap_or_default();
                let m = if v["is_mutable"] == true { "mut " } else { "" };
                format!("&{l}{m}{}", self.ty(&v["type"]))
            }
            "impl_trait" => format!("impl {}", self.bounds(v)),
            "dyn_trait" => {
                let mut parts: Vec<String> =
                    v["traits"].as_array().into_iter().flatten().map(|p| self.path(&p["trait"])).collect();
                if let Some(l) = v["lifetime"].as_str() {
                    parts.push(l.to_owned());
                }
                format!("dyn {}", parts.join(" + "))
            }
            "function_pointer" => {
                let inputs: Vec<String> =
                    v["sig"]["inputs"].as_array().into_iter().flatten().map(|p| self.ty(&p[1])).collect();
                let output = if v["sig"]["output"].is_null() {
                    String::new()
                } else {
                    format!(" -> {}", self.ty(&v["sig"]["output"]))
                };
                let unsafety = if v["header"]["is_unsafe"] == true { "unsafe " } else { "" };
                format!("{unsafety}fn({}){output}", inputs.join(", "))
            }
            "qualified_path" => {
                let name = v["name"].as_str().unwrap_or("?");
                let self_ty = self.ty(&v["self_type"]);
                if v["trait"].is_null() {
                    format!("{self_ty}::{name}")
                } else {
                    format!("<{self_ty} as {}>::{name}", self.path(&v["trait"]))
                }
            }
            other => format!("<{other}>"),
        }
    }
}

/// An item id as the index's key.
fn item_id(v: &Value) -> String {
    match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => String::new(),
    }
}
