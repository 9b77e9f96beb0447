//! The TypeScript types in `web/src/generated/` are exactly what the Rust domain types
//! generate. After changing a domain type, regenerate them with
//! `UPDATE_TS=1 cargo test -p linli-shared ts_bindings` and commit the result.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn generated_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/src/generated")
}

/// The `.ts` files in `dir`, by name.
fn read_ts_files(dir: &Path) -> BTreeMap<String, String> {
    let Ok(entries) = std::fs::read_dir(dir) else { return BTreeMap::new() };
    entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "ts"))
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(&p).unwrap()))
        .collect()
}

#[test]
fn ts_bindings_are_up_to_date() {
    let wanted = linli_shared::domain::typescript_bindings().unwrap();
    let dir = generated_dir();
    if std::env::var_os("UPDATE_TS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(&dir).unwrap();
        for stale in read_ts_files(&dir).keys().filter(|name| !wanted.contains_key(*name)) {
            std::fs::remove_file(dir.join(stale)).unwrap();
        }
        for (name, contents) in &wanted {
            std::fs::write(dir.join(name), contents).unwrap();
        }
    }
    let found = read_ts_files(&dir);
    let missing: Vec<&String> = wanted.keys().filter(|k| !found.contains_key(*k)).collect();
    let stale: Vec<&String> = found.keys().filter(|k| !wanted.contains_key(*k)).collect();
    let differ: Vec<&String> = wanted.keys().filter(|k| found.get(*k).is_some_and(|f| f != &wanted[*k])).collect();
    assert!(
        missing.is_empty() && stale.is_empty() && differ.is_empty(),
        "web/src/generated is out of date (missing {missing:?}, stale {stale:?}, different {differ:?}).\n\
         Regenerate it with `UPDATE_TS=1 cargo test -p linli-shared ts_bindings` and commit the result."
    );
}

#[test]
fn ts_bindings_describe_the_wire_shape() {
    let files = linli_shared::domain::typescript_bindings().unwrap();
    let task = &files["Task.ts"];
    assert!(task.contains("kind: \"task\""), "{task}");
    assert!(task.contains("due: number"), "{task}");
    assert!(task.contains("assignee: string | null"), "{task}");
    assert!(task.contains("household: string"), "{task}");
    assert!(files["TaskStatus.ts"].contains("\"picked_up\""));
    assert!(files["Kind.ts"].contains("\"grid-index\""));
    assert!(files["Method.ts"].contains("\"self\""));
    assert!(
        files["DomainDoc.ts"]
            .contains("Household | Task | Episode | Medical | Readings | GridIndex | MedicIndex | Inbox"),
        "{}",
        files["DomainDoc.ts"]
    );
    assert!(files["index.ts"].contains("export * from \"./Episode\";"));
}
