//! The manual holds together: every citation of the wire contract in the code, the tests,
//! the reference clients and the vectors names a section `docs/protocol.md` has, and every
//! relative link in the README and `docs/` reaches a file (and a heading) that exists.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every file under `dir` whose extension is one of `extensions`, skipping build output.
pub(crate) fn files(dir: &Path, extensions: &[&str], out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy();
        if path.is_dir() {
            if !["target", "node_modules", "__pycache__", ".git"].contains(&name.as_ref()) {
                files(&path, extensions, out);
            }
        } else if path
            .extension()
            .is_some_and(|e| extensions.contains(&e.to_string_lossy().as_ref()))
        {
            out.push(path);
        }
    }
}

/// The section numbers `docs/protocol.md` has: `## 1. The token endpoint` → `1`,
/// `### 4.1 Binding …` → `4.1`.
fn protocol_sections() -> BTreeSet<String> {
    let text = std::fs::read_to_string(root().join("docs/protocol.md")).unwrap();
    text.lines()
        .filter(|line| line.starts_with("##"))
        .filter_map(|line| line.trim_start_matches('#').split_whitespace().next())
        .map(|first| first.trim_end_matches('.').to_owned())
        .filter(|number| number.chars().all(|c| c.is_ascii_digit() || c == '.'))
        .filter(|number| !number.is_empty())
        .collect()
}

/// Every `§N` of a citation `docs/protocol.md §N` in `text`, ranges (`§1–§3`) included.
fn citations(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (at, _) in text.match_indices("docs/protocol.md §") {
        let mut rest = &text[at + "docs/protocol.md ".len()..];
        // `§1`, then `–§3` or `, §4.1` or ` and §4.1` continue the same citation.
        while let Some(after) = rest.strip_prefix('§') {
            let number: String = after
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            found.push(number.trim_end_matches('.').to_owned());
            rest = &after[number.len()..];
            rest = ["–", ", ", " and ", "-"]
                .iter()
                .find_map(|joint| rest.strip_prefix(joint))
                .unwrap_or("");
        }
    }
    found
}

#[test]
fn every_citation_of_the_protocol_names_a_section_it_has() {
    let sections = protocol_sections();
    for expected in ["1", "1.1", "2", "3", "4", "4.1", "4.2", "5"] {
        assert!(
            sections.contains(expected),
            "no §{expected} in {sections:?}"
        );
    }
    let mut paths = Vec::new();
    for dir in [
        "src",
        "tests",
        "benches",
        "fuzz/fuzz_targets",
        "clients",
        "config",
        "docs",
    ] {
        files(
            &root().join(dir),
            &["rs", "py", "mjs", "java", "json", "md", "toml"],
            &mut paths,
        );
    }
    paths.push(root().join("README.md"));
    let mut cited = 0;
    let mut problems = Vec::new();
    for path in &paths {
        if path.ends_with("tests/it/docs.rs") {
            continue; // this file quotes citations to test the reader
        }
        let text = std::fs::read_to_string(path).unwrap();
        for number in citations(&text) {
            cited += 1;
            if !sections.contains(&number) {
                problems.push(format!("{}: §{number}", path.display()));
            }
        }
        // The contract is this project's page, never a file outside the tree.
        for stale in ["PROTOCOL §", "../shared"] {
            if text.contains(stale) {
                problems.push(format!("{}: cites `{stale}`", path.display()));
            }
        }
    }
    assert!(cited > 50, "only {cited} citations found");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_citation_reader_reads_ranges_and_lists() {
    assert_eq!(
        citations("see docs/protocol.md §1–§3, and docs/protocol.md §4.1. Also §9"),
        ["1", "3", "4.1"]
    );
    assert_eq!(citations("docs/protocol.md §1.1, §4.1)"), ["1.1", "4.1"]);
}

/// GitHub's anchor of a heading: lower case, punctuation but `-` and `_` dropped, spaces
/// to `-`.
fn anchor(heading: &str) -> String {
    heading
        .trim_start_matches('#')
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn anchors(path: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut in_code = false;
    let mut out = BTreeSet::new();
    for line in text.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
        }
        if !in_code && line.starts_with('#') {
            out.insert(anchor(line));
        }
    }
    out
}

#[test]
fn every_link_of_the_manual_reaches_a_file_and_a_heading() {
    let mut pages = Vec::new();
    files(&root().join("docs"), &["md"], &mut pages);
    pages.push(root().join("README.md"));
    assert!(pages.len() >= 10, "{pages:?}");
    let mut problems = Vec::new();
    let mut checked = 0;
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap();
        for (at, _) in text.match_indices("](") {
            let target: String = text[at + 2..].chars().take_while(|c| *c != ')').collect();
            if target.starts_with("http") || target.starts_with("mailto:") {
                continue;
            }
            let (file, fragment) = match target.split_once('#') {
                Some((file, fragment)) => (file, Some(fragment)),
                None => (target.as_str(), None),
            };
            let resolved = if file.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap().join(file)
            };
            checked += 1;
            if !resolved.exists() {
                problems.push(format!("{}: {target}: no such file", page.display()));
                continue;
            }
            if let Some(fragment) = fragment
                && resolved.extension().is_some_and(|e| e == "md")
                && !anchors(&resolved).contains(fragment)
            {
                problems.push(format!("{}: {target}: no such heading", page.display()));
            }
        }
    }
    assert!(checked > 30, "only {checked} links");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
