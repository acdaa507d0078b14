//! The crate's layering, checked: every `crate::` and `super::` path in the
//! code under `src/` (comments left out) is an import edge between modules.
//! A top-level module may import only from the layers below its own
//! ([`LAYERS`]), and inside every folder the edges between its child
//! modules have no cycle. `ci/check-layers.sh` runs this test; so does
//! `cargo test`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level modules, highest layer first. Data flows down: commands drive
/// a soak, render reports of what the run folder holds, which holds what
/// the analysis read from the samples; below are the seams (backends,
/// workloads, targets, traces, samplers, statistics, units).
pub const LAYERS: &[&[&str]] = &[
    &["cli"],
    &["soak"],
    &["report"],
    &["runfolder"],
    &["analysis"],
    &["backend"],
    &["workload"],
    &["target"],
    &["trace"],
    &["promql"],
    &["sample", "stats"],
    &["units"],
];

/// Cycles known and owned elsewhere, left out of the check until they go:
/// `stats::trend` takes Sen's slope from `stats::slope`, which takes the
/// Mann–Kendall variance back (the detector rewrite of `stats/` owns it).
pub const KNOWN_CYCLES: &[&str] = &[];

/// One import: the importing module's path, the imported one's, and where.
#[derive(Debug, Clone)]
pub struct Edge {
    /// The module that imports (`["report", "chart"]`).
    pub from: Vec<String>,
    /// The module imported, resolved to the deepest module that exists.
    pub to: Vec<String>,
    /// `file:line`.
    pub at: String,
}

/// The module path of a source file relative to `src/` (`report/chart.rs`
/// → `report::chart`, `cli/mod.rs` → `cli`, `lib.rs` → the root).
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap_or_default();
    let stem = last.trim_end_matches(".rs");
    if !matches!(stem, "mod" | "lib" | "main") {
        parts.push(stem.to_string());
    }
    parts
}

fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The `a::b::c` path that starts at byte `i` of `line` (up to a brace,
/// a `;` or anything else that is not `::` and an identifier).
fn path_at(line: &str, i: usize) -> Vec<String> {
    let mut out = Vec::new();
    for seg in line[i..].split("::") {
        let id: String = seg
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if id.is_empty() {
            break;
        }
        let whole = id.len() == seg.len();
        out.push(id);
        if !whole {
            break;
        }
    }
    out
}

/// Every import edge of the crate whose sources are in `src`.
pub fn edges(src: &Path) -> Vec<Edge> {
    let mut files = Vec::new();
    walk(src, &mut files);
    files.sort();
    let modules: BTreeSet<Vec<String>> = files
        .iter()
        .map(|f| module_of(f.strip_prefix(src).expect("under src")))
        .collect();
    let resolve = |mut p: Vec<String>| {
        while !p.is_empty() && !modules.contains(&p) {
            p.pop();
        }
        p
    };
    let mut out = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(src).expect("under src");
        let from = module_of(rel);
        let text = std::fs::read_to_string(f).unwrap_or_default();
        for (n, raw) in text.lines().enumerate() {
            let line = raw.split("//").next().unwrap_or_default();
            for (kw, base) in [
                ("crate::", Vec::new()),
                ("super::", {
                    // NOTE: `super` of `a/b.rs` (module a::b) is `a`; of
                    // `a/mod.rs` (module a) it is the root.
                    let mut p = from.clone();
                    p.pop();
                    p
                }),
            ] {
                let mut start = 0;
                while let Some(k) = line[start..].find(kw) {
                    let i = start + k;
                    start = i + kw.len();
                    // `a_crate::x` is not `crate::x`.
                    if line[..i]
                        .chars()
                        .last()
                        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                    {
                        continue;
                    }
                    let mut to = base.clone();
                    to.extend(path_at(line, start));
                    let to = resolve(to);
                    if to != from {
                        out.push(Edge {
                            from: from.clone(),
                            to,
                            at: format!("{}:{}", rel.display(), n + 1),
                        });
                    }
                }
            }
        }
    }
    out
}

/// The layer of a top-level module (0 = highest); `None`: not declared.
fn layer(top: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&top))
}

/// Every edge that breaks the layering: an import of a higher layer, of
/// another module of the same layer, or of a module no layer declares.
pub fn upward(edges: &[Edge]) -> Vec<String> {
    let mut bad = Vec::new();
    for e in edges {
        let (Some(a), Some(b)) = (e.from.first(), e.to.first()) else {
            continue;
        };
        if a == b {
            continue;
        }
        match (layer(a), layer(b)) {
            (Some(x), Some(y)) if x < y => {}
            (Some(_), Some(_)) => bad.push(format!(
                "{}: `{}` imports `{}`, which is not below it",
                e.at,
                e.from.join("::"),
                e.to.join("::")
            )),
            _ => bad.push(format!(
                "{}: `{}` → `{}`: a top-level module missing from LAYERS",
                e.at,
                e.from.join("::"),
                e.to.join("::")
            )),
        }
    }
    bad
}

/// Every cycle between the child modules of one folder (edges lifted to
/// the children of the folder that holds both ends), as `a → b → a`.
pub fn cycles(edges: &[Edge]) -> Vec<String> {
    // folder → child → children it imports
    let mut graphs: BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for e in edges {
        let common = e.from.iter().zip(&e.to).take_while(|(a, b)| a == b).count();
        let (Some(a), Some(b)) = (e.from.get(common), e.to.get(common)) else {
            continue; // one end is the other's folder
        };
        graphs
            .entry(e.from[..common].to_vec())
            .or_default()
            .entry(a.clone())
            .or_default()
            .insert(b.clone());
    }
    let mut found = Vec::new();
    for (folder, g) in &graphs {
        // Depth-first search for a back edge.
        fn visit(
            n: &str,
            g: &BTreeMap<String, BTreeSet<String>>,
            stack: &mut Vec<String>,
            done: &mut BTreeSet<String>,
            found: &mut Vec<String>,
        ) {
            if let Some(i) = stack.iter().position(|s| s == n) {
                let mut c = stack[i..].to_vec();
                c.push(n.to_string());
                found.push(c.join(" → "));
                return;
            }
            if !done.insert(n.to_string()) {
                return;
            }
            stack.push(n.to_string());
            for m in g.get(n).into_iter().flatten() {
                visit(m, g, stack, done, found);
            }
            stack.pop();
        }
        let mut done = BTreeSet::new();
        let mut local = Vec::new();
        for n in g.keys() {
            visit(n, g, &mut Vec::new(), &mut done, &mut local);
        }
        let at = if folder.is_empty() {
            "crate".to_string()
        } else {
            folder.join("::")
        };
        found.extend(local.into_iter().map(|c| format!("in {at}: {c}")));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
    }

    #[test]
    fn no_module_imports_from_a_layer_above_it() {
        let e = edges(&src());
        assert!(
            e.len() > 100,
            "only {} edges found: the scan is broken",
            e.len()
        );
        let bad = upward(&e);
        assert!(bad.is_empty(), "layering broken:\n{}", bad.join("\n"));
    }

    #[test]
    fn no_import_cycle_between_the_modules_of_a_folder() {
        let bad: Vec<String> = cycles(&edges(&src()))
            .into_iter()
            .filter(|c| !KNOWN_CYCLES.contains(&c.as_str()))
            .collect();
        assert!(bad.is_empty(), "import cycles:\n{}", bad.join("\n"));
    }

    #[test]
    fn the_checks_catch_what_they_exist_for() {
        let edge = |from: &str, to: &str| Edge {
            from: from.split("::").map(String::from).collect(),
            to: to.split("::").map(String::from).collect(),
            at: "x.rs:1".into(),
        };
        // The cycle this layout removed: html → chart → compare → markdown → compare.
        let e = [
            edge("report::html", "report::chart"),
            edge("report::chart", "analysis::compare"),
            edge("analysis::compare", "report::markdown"),
            edge("report::markdown", "analysis::compare"),
        ];
        assert_eq!(upward(&e).len(), 1, "{:?}", upward(&e));
        let e = [
            edge("report::markdown", "report::html"),
            edge("report::html", "report::junit"),
            edge("report::junit", "report::markdown"),
        ];
        assert_eq!(
            cycles(&e),
            vec!["in report: html → junit → markdown → html".to_string()]
        );
        assert_eq!(
            path_at("use crate::a::b_c::{D, e};", 11),
            vec!["a".to_string(), "b_c".into()]
        );
    }
}
