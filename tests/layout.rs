//! The rule `src/lib.rs` states for its folders: each imports only the
//! layers below it in the Layout table, but for the arrows listed here, which
//! still run up. A new arrow up fails, and so does a listed one that is gone:
//! the list only shrinks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The Layout table of `src/lib.rs`, top to bottom.
const LAYERS: [&str; 9] = [
    "tools", "app", "edge", "pipeline", "verify", "dedup", "kafka", "config", "ops",
];

/// Arrows that run up today, (from, to), each with why it is still there.
const RUNNING_UP: [(&str, &str, &str); 7] = [
    ("config", "edge", "the TLS settings are the edge's type"),
    (
        "config",
        "pipeline",
        "source, quarantine, rate-limit and client-address settings are the pipeline's types",
    ),
    (
        "config",
        "verify",
        "a source's verifier kind is checked against the provider table",
    ),
    (
        "dedup",
        "pipeline",
        "ids are hashed from the pipeline's SourceName and EventId",
    ),
    (
        "kafka",
        "dedup",
        "the producer writes the intake record's headers",
    ),
    (
        "kafka",
        "pipeline",
        "the producer takes the pipeline's Event and its trace context",
    ),
    (
        "verify",
        "pipeline",
        "a provider names where its event id is with the pipeline's Locator",
    ),
];

/// Every `crate::<layer>` a file's code (not its comments or tests) names.
fn layers_named(code: &str) -> BTreeSet<&'static str> {
    let code = code
        .split("#[cfg(test)]\nmod tests")
        .next()
        .unwrap_or_default();
    let mut named = BTreeSet::new();
    for line in code.lines() {
        if line.trim_start().starts_with("//") {
            continue;
        }
        for (at, _) in line.match_indices("crate::") {
            let rest = &line[at + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if let Some(layer) = LAYERS.iter().find(|layer| **layer == name) {
                named.insert(*layer);
            }
        }
    }
    named
}

fn rust_files(dir: &Path, found: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("source folder") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            found.push(path);
        }
    }
}

#[test]
fn folders_import_only_the_layers_below_them_but_for_the_listed_arrows() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let rank = |layer: &str| LAYERS.iter().position(|l| *l == layer).expect("a layer");
    let mut found: BTreeMap<(&str, &str), BTreeSet<String>> = BTreeMap::new();
    for layer in LAYERS {
        let mut files = Vec::new();
        rust_files(&src.join(layer), &mut files);
        assert!(!files.is_empty(), "src/{layer} holds no Rust file");
        for file in files {
            let code = std::fs::read_to_string(&file).expect("readable");
            for named in layers_named(&code) {
                if rank(named) < rank(layer) {
                    let shown = file.strip_prefix(&src).unwrap_or(&file).display();
                    found
                        .entry((layer, named))
                        .or_default()
                        .insert(shown.to_string());
                }
            }
        }
    }
    let listed: BTreeSet<(&str, &str)> = RUNNING_UP.iter().map(|(f, t, _)| (*f, *t)).collect();
    let new: Vec<_> = found
        .iter()
        .filter(|(arrow, _)| !listed.contains(*arrow))
        .collect();
    assert!(
        new.is_empty(),
        "imports that run up the Layout table of src/lib.rs (move the type down, or list the arrow with why): {new:?}"
    );
    let gone: Vec<_> = listed
        .iter()
        .filter(|arrow| !found.contains_key(*arrow))
        .collect();
    assert!(
        gone.is_empty(),
        "listed arrows that no longer run up: take them off RUNNING_UP: {gone:?}"
    );
}
