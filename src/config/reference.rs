//! `docs/configuration.md` held against the code: every setting of every
//! section has its row, no row names a setting that is not there, each
//! default is the one the code fills in, and each reload class is the one a
//! reload applies.

#![cfg(test)]

use std::collections::BTreeMap;

use serde_json::Value;

use super::tests::MINIMAL;
use super::{Config, ServerConfig};

const REFERENCE: &str = include_str!("../../docs/configuration.md");

/// How a reload treats a setting, as the reference writes it.
fn reload_class(section: &str, setting: &str) -> &'static str {
    let live = match section {
        "server" => ServerConfig::LIVE.contains(&setting),
        // A reload takes every source and the quarantine's budgets from
        // the file (`app::reload::applied`).
        "sources" | "quarantine" => true,
        _ => false,
    };
    if live { "live" } else { "restart" }
}

/// One row of a section's table.
#[derive(Debug)]
struct Row {
    keys: Vec<String>,
    default: String,
    reload: String,
}

/// Each section's rows, by the section's name (`server`, `sources`).
fn documented() -> BTreeMap<String, Vec<Row>> {
    let mut sections = BTreeMap::<String, Vec<Row>>::new();
    let mut section = None;
    for line in REFERENCE.lines() {
        if let Some(heading) = line.strip_prefix("### `[") {
            section = Some(heading.trim_matches(|c| "[]`".contains(c)).to_owned());
            continue;
        }
        let (Some(section), Some(row)) = (&section, line.strip_prefix("| `").map(|_| line)) else {
            continue;
        };
        let cells = cells(row);
        assert!(
            cells.len() >= 4,
            "{section}: a row without its cells: {line}"
        );
        let keys = backticked(cells[0])
            .into_iter()
            .map(|key| {
                // `[server.tls]`: the table `tls` of `[server]`.
                let key = key.trim_matches(|c| c == '[' || c == ']');
                key.rsplit('.').next().unwrap_or(key).to_owned()
            })
            .collect();
        sections.entry(section.clone()).or_default().push(Row {
            keys,
            default: cells[1].trim().to_owned(),
            reload: cells[2].trim().to_owned(),
        });
    }
    sections
}

/// A table row's cells, trimmed: split at each `|` that is not escaped.
fn cells(row: &str) -> Vec<&str> {
    let mut cells = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (at, c) in row.char_indices() {
        if c == '|' && !escaped {
            cells.push(row[start..at].trim());
            start = at + 1;
        }
        escaped = c == '\\';
    }
    // Without what comes before the first `|` and after the last.
    cells.into_iter().skip(1).collect()
}

/// The text between each pair of backticks.
fn backticked(cell: &str) -> Vec<&str> {
    cell.split('`').skip(1).step_by(2).collect()
}

/// Every setting of every section with the value the code fills in.
fn settings(config: &Config) -> BTreeMap<&'static str, serde_json::Map<String, Value>> {
    let object = |value: Value| match value {
        Value::Object(map) => map,
        other => panic!("a section is a table, not {other}"),
    };
    let to_value = |value: serde_json::Result<Value>| object(value.expect("serializes"));
    BTreeMap::from([
        ("server", to_value(serde_json::to_value(&config.server))),
        ("kafka", to_value(serde_json::to_value(&config.kafka))),
        ("dedup", to_value(serde_json::to_value(&config.dedup))),
        ("metrics", to_value(serde_json::to_value(&config.metrics))),
        (
            "quarantine",
            to_value(serde_json::to_value(config.quarantine)),
        ),
        ("log", to_value(serde_json::to_value(&config.log))),
        ("tracing", to_value(serde_json::to_value(&config.tracing))),
        (
            "sources",
            to_value(serde_json::to_value(&config.sources[0])),
        ),
    ])
}

/// Whether the file without `key` in `section` fails to parse: what
/// "(required)" claims.
fn required(section: &str, key: &str) -> bool {
    let mut file: toml::Table = toml::from_str(MINIMAL).expect("TOML");
    let table = match file.get_mut(section) {
        Some(toml::Value::Table(table)) => table,
        Some(toml::Value::Array(tables)) => match tables.first_mut() {
            Some(toml::Value::Table(table)) => table,
            _ => return false,
        },
        _ => return false,
    };
    table.remove(key);
    Config::parse(&toml::to_string(&file).expect("TOML")).is_err()
}

/// Whether the reference's `written` default is `value`.
fn same_default(written: &str, value: &Value) -> bool {
    if let (Value::String(text), Ok(duration)) =
        (value, humantime::parse_duration(written.trim_matches('"')))
    {
        return humantime::parse_duration(text).is_ok_and(|code| code == duration);
    }
    serde_json::from_str::<Value>(written).is_ok_and(|written| match (&written, value) {
        // `0` as written, 0.0 as a float setting holds it.
        (Value::Number(written), Value::Number(value)) => written.as_f64() == value.as_f64(),
        _ => written == *value,
    })
}

#[test]
fn the_reference_names_every_setting_its_default_and_its_reload_class() {
    let config = Config::parse(MINIMAL).expect("parses");
    let code = settings(&config);
    let docs = documented();
    let mut problems = Vec::new();
    for (section, fields) in &code {
        let Some(rows) = docs.get(*section) else {
            problems.push(format!("[{section}]: no table"));
            continue;
        };
        for field in fields.keys() {
            if !rows.iter().any(|row| row.keys.contains(field)) {
                problems.push(format!("{section}.{field}: no row"));
            }
        }
        for row in rows {
            for key in &row.keys {
                if !fields.contains_key(key) {
                    problems.push(format!("{section}.{key}: documented, not a setting"));
                }
                let class = reload_class(section, key);
                if row.reload != class {
                    problems.push(format!(
                        "{section}.{key}: reload {:?} in the reference, {class:?} in the code",
                        row.reload
                    ));
                }
            }
            if row.default == "(required)" {
                for key in &row.keys {
                    if !required(section, key) {
                        problems.push(format!("{section}.{key}: said required, has a default"));
                    }
                }
                continue;
            }
            let values: Vec<&Value> = row.keys.iter().filter_map(|key| fields.get(key)).collect();
            // Unset, or an empty table: the row says in words what applies.
            if values.iter().all(|value| {
                value.is_null() || value.as_object().is_some_and(serde_json::Map::is_empty)
            }) {
                continue;
            }
            let written = backticked(&row.default);
            if written.len() != values.len()
                || !written
                    .iter()
                    .zip(&values)
                    .all(|(written, value)| same_default(written, value))
            {
                problems.push(format!(
                    "{section}.{}: default {:?} in the reference, {} in the code",
                    row.keys.join(", "),
                    row.default,
                    values
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "docs/configuration.md:\n  {}",
        problems.join("\n  ")
    );
}
