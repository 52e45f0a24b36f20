//! The architecture, checked. The tier table is read from `src/lib.rs`, where it is written
//! once: a module may use the modules of its own tier and of lower tiers, never a higher
//! one; the modules' graph has no loop (two modules of one tier may not use each other);
//! and inside a module, the graph of its files has no loop either (`a.rs` uses `b.rs` and
//! `b.rs` uses `a.rs` means a type is in the wrong home).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The tiers of `src/lib.rs`'s table, bottom first: each a list of module names. A row
/// with an empty tier cell continues the tier above it.
fn tiers_from(lib: &str) -> Vec<Vec<String>> {
    let mut tiers: Vec<(String, Vec<String>)> = Vec::new();
    let mut in_table = false;
    for line in lib.lines() {
        let Some(row) = line.strip_prefix("//! |") else {
            if in_table {
                break;
            }
            continue;
        };
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        if cells.first() == Some(&"tier") {
            in_table = true;
            continue;
        }
        if !in_table || cells.first().is_some_and(|c| c.starts_with("---")) {
            continue;
        }
        let modules: Vec<String> = cells[1]
            .split(',')
            .map(|m| m.trim().trim_matches(['[', ']', '`']).to_owned())
            .filter(|m| !m.is_empty())
            .collect();
        match (cells[0], tiers.last_mut()) {
            ("", Some((_, last))) => last.extend(modules),
            (name, _) => tiers.push((name.to_owned(), modules)),
        }
    }
    tiers.reverse();
    tiers.into_iter().map(|(_, modules)| modules).collect()
}

fn tiers() -> Vec<Vec<String>> {
    tiers_from(&std::fs::read_to_string(src().join("lib.rs")).unwrap())
}

fn tier_of(tiers: &[Vec<String>], module: &str) -> Option<usize> {
    tiers
        .iter()
        .position(|tier| tier.iter().any(|m| m == module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    crate::docs::files(dir, &["rs"], out);
}

/// The top-level module a file belongs to (`src/proxy/headers.rs` → `proxy`).
fn module_of(file: &Path) -> String {
    let relative = file.strip_prefix(src()).unwrap();
    let first = relative.components().next().unwrap();
    first
        .as_os_str()
        .to_str()
        .unwrap()
        .trim_end_matches(".rs")
        .to_owned()
}

/// The code of a line: without its line comment.
fn code(line: &str) -> &str {
    line.split("//").next().unwrap_or("")
}

/// Every name that follows `prefix` in `text` outside line comments: `prefix` `name`, and
/// each first segment of a `prefix{a, b::c}` group, also when the group spans lines.
fn names_after(text: &str, prefix: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let joined = text.lines().map(code).collect::<Vec<_>>().join(" ");
    {
        let mut rest = joined.as_str();
        while let Some(at) = rest.find(prefix) {
            let after = &rest[at + prefix.len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if name.is_empty() {
                if let Some(group) = after.strip_prefix('{') {
                    for part in group.split('}').next().unwrap_or("").split(',') {
                        let name = part.trim().split("::").next().unwrap_or("").trim();
                        if !name.is_empty() {
                            found.insert(name.to_owned());
                        }
                    }
                }
            } else if name != "super" {
                found.insert(name);
            }
            rest = after;
        }
    }
    found
}

/// Every `crate::name` in the text: `use` lines and paths in code.
fn crate_paths(text: &str) -> BTreeSet<String> {
    names_after(text, "crate::")
}

/// How many `super::` lead from `file` to the crate's root: 1 from `src/x.rs` or
/// `src/x/mod.rs`, 2 from `src/x/y.rs`.
fn depth(file: &Path) -> usize {
    let relative = file.strip_prefix(src()).unwrap();
    let parts = relative.components().count();
    if file.ends_with("mod.rs") {
        parts - 1
    } else {
        parts
    }
}

/// The top-level modules `file` names: `crate::x`, and `super::x` that reaches the root.
fn modules_used(file: &Path, text: &str) -> BTreeSet<String> {
    let mut used = crate_paths(text);
    // Inside an inline module (`mod tests`, last in a file), `super::` is one level less.
    let outside_tests = text.split("#[cfg(test)]").next().unwrap_or("");
    used.extend(names_after(outside_tests, &"super::".repeat(depth(file))));
    used
}

/// A loop in `graph`, as the path around it, if there is one.
fn find_loop(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_module_uses_a_higher_tier_and_no_two_modules_use_each_other() {
    let tiers = tiers();
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut problems = Vec::new();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let module = module_of(file);
        if module == "main" || module == "lib" {
            continue;
        }
        let Some(own) = tier_of(&tiers, &module) else {
            problems.push(format!(
                "{}: module `{module}` is not in src/lib.rs's tier table",
                file.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        for used in modules_used(file, &text) {
            if used == module {
                continue;
            }
            match tier_of(&tiers, &used) {
                Some(tier) if tier <= own => {
                    graph.entry(module.clone()).or_default().insert(used);
                }
                Some(_) => problems.push(format!(
                    "{}: `{module}` uses `crate::{used}`, of a higher tier",
                    file.display()
                )),
                None => problems.push(format!(
                    "{}: `crate::{used}` is not in the tier table",
                    file.display()
                )),
            }
        }
    }
    if let Some(cycle) = find_loop(&graph) {
        problems.push(format!("modules in a loop: {}", cycle.join(" → ")));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The files of one module folder that `file` uses: a sibling `b` named as `super::b`,
/// `crate::<path of the folder>::b`, or inside a group of either.
fn siblings_used(file: &Path, siblings: &BTreeSet<String>) -> BTreeSet<String> {
    let folder = file.parent().unwrap();
    let path: Vec<String> = folder
        .strip_prefix(src())
        .unwrap()
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let text = std::fs::read_to_string(file).unwrap();
    // A file's unit tests may reach for a sibling's helper; the loop rule is for its code.
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    let mut used = names_after(text, "super::");
    used.extend(names_after(text, &format!("crate::{}::", path.join("::"))));
    used.retain(|name| siblings.contains(name));
    used
}

#[test]
fn no_two_files_of_a_module_use_each_other() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut folders: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
    for file in files {
        let folder = file.parent().unwrap().to_owned();
        if folder != src() && !file.ends_with("mod.rs") {
            folders.entry(folder).or_default().push(file);
        }
    }
    let mut problems = Vec::new();
    let mut checked = 0;
    for (folder, files) in &folders {
        let stem = |f: &Path| f.file_stem().unwrap().to_string_lossy().into_owned();
        let siblings: BTreeSet<String> = files.iter().map(|f| stem(f)).collect();
        let graph: BTreeMap<String, BTreeSet<String>> = files
            .iter()
            .map(|f| {
                let mut used = siblings_used(f, &siblings);
                used.remove(&stem(f));
                (stem(f), used)
            })
            .collect();
        checked += graph.values().filter(|used| !used.is_empty()).count();
        if let Some(cycle) = find_loop(&graph) {
            problems.push(format!(
                "{}: files in a loop: {}",
                folder.display(),
                cycle.join(".rs → ")
            ));
        }
    }
    assert!(
        checked >= 5,
        "only {checked} files use a sibling: is the reader blind?"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_module_of_the_crate_is_in_the_tier_table_and_only_those() {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    // `pub mod x;`, or a crate of its own re-exported as a module: `pub use krate as x;`,
    // `pub use krate::x;`.
    let declared: BTreeSet<&str> = lib
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            l.strip_prefix("pub mod ").or_else(|| {
                let path = l.strip_prefix("pub use sealgate_")?;
                path.rsplit([':', ' ']).next()
            })
        })
        .map(|l| l.trim_end_matches(';'))
        .collect();
    let tabled: BTreeSet<String> = tiers().into_iter().flatten().collect();
    assert!(declared.len() > 20, "{declared:?}");
    let declared: BTreeSet<String> = declared.into_iter().map(str::to_owned).collect();
    assert_eq!(
        declared, tabled,
        "lib.rs's modules and its tier table differ"
    );
    assert!(tiers().len() <= 8, "coarse tiers: {:?}", tiers());
}

#[test]
fn the_checker_reads_tiers_use_lines_groups_and_loops() {
    let text = "use crate::config::Config;\nuse crate::{auth, jose::jwe};\n\
                let x = crate::proxy::route::select(a); // crate::gateway\n";
    let expected: BTreeSet<String> = ["config", "auth", "jose", "proxy"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(crate_paths(text), expected);
    // A group over several lines, and `super::` that reaches the root from a top-level file.
    let wrapped =
        "use crate::{\n    auth,\n    jose::jwe, // a comment\n};\nuse super::gateway::X;\n";
    assert_eq!(
        crate_paths(wrapped),
        ["auth", "jose"].into_iter().map(str::to_owned).collect()
    );
    let top = src().join("limit.rs");
    assert!(modules_used(&top, wrapped).contains("gateway"));
    let nested = src().join("proxy/route.rs");
    assert!(!modules_used(&nested, wrapped).contains("gateway"));
    assert!(modules_used(&nested, "use super::super::gateway;").contains("gateway"));
    let lib = "//! | tier | modules | owns |\n//! | --- | --- | --- |\n\
               //! | top | [`a`] | x |\n//! | | [`b`], [`c`] | y |\n//! | bottom | [`d`] | z |\n";
    assert_eq!(tiers_from(lib), [vec!["d"], vec!["a", "b", "c"]]);
    let graph = |edges: &[(&str, &str)]| {
        let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (a, b) in edges {
            g.entry((*a).to_owned())
                .or_default()
                .insert((*b).to_owned());
        }
        g
    };
    assert_eq!(find_loop(&graph(&[("a", "b"), ("b", "c")])), None);
    assert_eq!(
        find_loop(&graph(&[("a", "b"), ("b", "c"), ("c", "a")])),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
}

/// The Rust client is usable by another program without the gateway: its crate, and the
/// formats crate under it, name no gateway crate among their dependencies; nor does the
/// JWT verifier.
#[test]
fn the_client_and_the_formats_crates_do_not_depend_on_the_gateway() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (manifest, allowed) in [
        ("clients/rust/Cargo.toml", &["sealgate-protocol"][..]),
        ("crates/protocol/Cargo.toml", &[][..]),
        ("crates/jwt/Cargo.toml", &[][..]),
    ] {
        let text = std::fs::read_to_string(root.join(manifest)).unwrap();
        let parsed: toml::Table = toml::from_str(&text).unwrap();
        let mut names = Vec::new();
        for section in ["dependencies", "dev-dependencies", "build-dependencies"] {
            if let Some(table) = parsed.get(section).and_then(toml::Value::as_table) {
                names.extend(table.keys().cloned());
            }
        }
        assert!(names.len() > 5, "{manifest}: {names:?}");
        let gateway_crates: Vec<&String> = names
            .iter()
            .filter(|name| name.starts_with("sealgate") && !allowed.contains(&name.as_str()))
            .collect();
        assert!(
            gateway_crates.is_empty(),
            "{manifest} depends on {gateway_crates:?}"
        );
    }
}
