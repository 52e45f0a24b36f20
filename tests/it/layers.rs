//! The architecture, checked: every `crate::` path in `src/` points down the request's path
//! (listener → lifecycle → token endpoint | proxy → auth → state/session → jose/crypto).
//! A module may use its own submodules and any module of a lower layer; it may not use one
//! of its own layer or above. A loop between two modules means a type is in the wrong home.
//!
//! The table below is the architecture; `src/lib.rs` and the README describe the same one.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Layers from the bottom up. Modules on one line are peers and may not use each other.
const LAYERS: &[&[&str]] = &[
    // HTTP plumbing and header names, below everything.
    &["wire"],
    // Facts everyone may know: the clock, metric names, the access line and tracing.
    &["clock", "metrics", "observe"],
    &["crypto"],
    &["jose"],
    // The token contract's formats: request body, claims, keys, client credentials.
    &["token"],
    &["config"],
    &["session", "limit"],
    &["state", "tls"],
    &["auth"],
    &["error"],
    &["upstream"],
    // What a request handler is given: the application state and the connection's facts.
    &["context"],
    &["handshake", "proxy"],
    &["gateway"],
    // The listeners: the admin one, then the public ones (which start the admin one).
    &["admin"],
    &["server"],
    // Leaves used by the binary, the tests and the benches, never by the gateway.
    &["client", "demo"],
    // Test support (the `testkit` feature), built on the client and the demo upstream.
    &["testkit"],
    // The command line: one file per subcommand, over the listeners and the client.
    &["cli"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`src/proxy/headers.rs` → `proxy`).
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).unwrap();
    let first = relative.components().next().unwrap();
    first
        .as_os_str()
        .to_str()
        .unwrap()
        .trim_end_matches(".rs")
        .to_owned()
}

/// Every `crate::name` in the text, outside line comments: `use` lines and paths in code.
fn crate_paths(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if name.is_empty() {
                // `crate::{a, b}`: each name in the braces.
                if let Some(group) = after.strip_prefix('{') {
                    for part in group.split('}').next().unwrap_or("").split(',') {
                        let name = part.trim().split("::").next().unwrap_or("").trim();
                        if !name.is_empty() {
                            found.insert(name.to_owned());
                        }
                    }
                }
            } else {
                found.insert(name);
            }
            rest = after;
        }
    }
    found
}

#[test]
fn no_module_imports_a_module_that_calls_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut problems = Vec::new();
    for file in &files {
        let module = module_of(&src, file);
        if module == "main" || module == "lib" {
            continue;
        }
        let Some(own) = layer_of(&module) else {
            problems.push(format!(
                "{}: module `{module}` is not in the layer table",
                file.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        for used in crate_paths(&text) {
            if used == module {
                continue;
            }
            match layer_of(&used) {
                Some(layer) if layer < own => {}
                Some(_) => problems.push(format!(
                    "{}: `{module}` uses `crate::{used}`, which is not below it",
                    file.display()
                )),
                None => problems.push(format!(
                    "{}: `crate::{used}` is not in the layer table",
                    file.display()
                )),
            }
        }
    }
    assert!(
        problems.is_empty(),
        "upward imports:\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_module_of_the_crate_is_in_the_layer_table() {
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    let declared: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .map(|l| l.trim_end_matches(';'))
        .collect();
    assert!(!declared.is_empty());
    for module in declared {
        assert!(
            layer_of(module).is_some(),
            "`{module}` is declared in lib.rs but missing from the layer table"
        );
    }
}

#[test]
fn the_checker_sees_use_lines_groups_and_inline_paths() {
    let text = "use crate::config::Config;\nuse crate::{auth, jose::jwe};\n\
                let x = crate::proxy::route::select(a); // crate::gateway\n";
    let found = crate_paths(text);
    let expected: BTreeSet<String> = ["config", "auth", "jose", "proxy"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(found, expected);
}
