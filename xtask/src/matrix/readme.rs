//! The README's kernel support table must say what the kernel matrix checks.
//!
//! The table between `<!-- kernel-support:begin` and `<!-- kernel-support:end -->` has one row
//! per feature: `| what | `name` | first kernel | fallback |`. Its names and versions must be
//! exactly pidfd's feature facts (`features --facts`, from pidfd/src/compat/mod.rs), in the same
//! order. The matrix then proves
//! each kernel's measured features against those versions, so a README that passes this check
//! agrees with every matrix run that passes.

use super::config::{Features, Version};

/// `(name, first kernel)` of every row of the README's kernel support table.
fn table(readme: &str) -> Result<Vec<(String, String)>, String> {
    let begin =
        readme.find("<!-- kernel-support:begin").ok_or("README.md has no `<!-- kernel-support:begin` marker")?;
    let end = readme[begin..]
        .find("<!-- kernel-support:end -->")
        .map(|e| begin + e)
        .ok_or("README.md has no `<!-- kernel-support:end -->` marker")?;
    let mut rows = Vec::new();
    for line in readme[begin..end].lines().filter(|l| l.starts_with('|')) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        if cells.len() < 3 || cells[1] == "name" || cells[1].starts_with("---") {
            continue;
        }
        let name = cells[1].trim_matches('`');
        rows.push((name.to_owned(), cells[2].to_owned()));
    }
    Ok(rows)
}

/// The differences between the README's table and pidfd's feature facts.
pub(crate) fn disagreements(readme: &str, features: &Features) -> Result<Vec<String>, String> {
    let rows = table(readme)?;
    let mut out = Vec::new();
    for fact in &features.0 {
        let (name, since) = (&fact.name, fact.since);
        match rows.iter().find(|(n, _)| n == name) {
            None => out.push(format!("README.md: feature `{name}` ({since}) is missing from the kernel support table")),
            Some((_, v)) if Version::parse(v) != Some(since) => {
                out.push(format!("README.md: `{name}` says first kernel {v}, pidfd/src/compat/mod.rs says {since}"))
            }
            Some(_) => {}
        }
    }
    for (name, _) in &rows {
        if features.get(name).is_none() {
            out.push(format!("README.md: `{name}` is not a feature of pidfd/src/compat/mod.rs"));
        }
    }
    let order: Vec<&String> = rows.iter().map(|(n, _)| n).filter(|n| features.get(n).is_some()).collect();
    let expected: Vec<&String> = features.0.iter().map(|f| &f.name).filter(|n| order.contains(n)).collect();
    if out.is_empty() && order != expected {
        out.push("README.md: the kernel support table is not in the order of pidfd's features".to_owned());
    }
    Ok(out)
}

/// Checks the workspace's README against pidfd's feature facts.
pub(crate) fn check(features: &Features) -> Result<(), String> {
    let path = super::workspace_root().join("README.md");
    let readme = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let bad = disagreements(&readme, features)?;
    if bad.is_empty() { Ok(()) } else { Err(bad.join("\n  ")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features() -> Features {
        Features::parse("a 5.3 needs= calls=\nb 6.9 needs=a calls=pidfd_open\n").unwrap()
    }

    const GOOD: &str = "text\n<!-- kernel-support:begin -->\n| feature | name | first kernel | fallback |\n|---|---|---|---|\n| `A` | `a` | 5.3 | none |\n| B | `b` | 6.9 | x |\n<!-- kernel-support:end -->\n";

    #[test]
    fn agreeing_table() {
        assert_eq!(disagreements(GOOD, &features()).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn wrong_version_missing_and_extra_rows() {
        let wrong = GOOD.replace("| 6.9 |", "| 6.10 |");
        assert_eq!(disagreements(&wrong, &features()).unwrap().len(), 1);
        let missing = GOOD.replace("| `A` | `a` | 5.3 | none |\n", "");
        assert_eq!(disagreements(&missing, &features()).unwrap().len(), 1);
        let extra = GOOD.replace("<!-- kernel-support:end", "| C | `c` | 7.0 | y |\n<!-- kernel-support:end");
        assert_eq!(disagreements(&extra, &features()).unwrap().len(), 1);
        let swapped = "<!-- kernel-support:begin -->\n| B | `b` | 6.9 | x |\n| `A` | `a` | 5.3 | none |\n<!-- kernel-support:end -->";
        assert_eq!(disagreements(swapped, &features()).unwrap().len(), 1);
        assert!(disagreements("no markers", &features()).is_err());
    }

    #[test]
    fn the_workspace_readme_agrees() {
        check(&Features::load().unwrap()).unwrap();
    }
}
