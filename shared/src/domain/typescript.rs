//! The TypeScript form of the domain types, for the web client (`web/src/generated/`), so
//! the two sides cannot drift. `shared/tests/domain_ts.rs` fails when the committed files
//! differ from these and rewrites them with `UPDATE_TS=1`.

use std::collections::BTreeMap;

use ts_rs::{Config, ExportError, TS};

use super::{
    AlertFact, AlertKind, CareFlag, Category, Checkin, DomainDoc, Episode, EpisodeStatus, GridIndex, Household, Inbox,
    Item, Kind, LogEntry, MedicNote, Member, Method, Person, Priority, Reason, Role, SummaryRow, Symptom, Task,
    TaskStatus,
};

/// Every generated file, by file name (`Task.ts`, …, and `index.ts` re-exporting them
/// all), with its contents. Integers are TypeScript `number`s: ms timestamps stay far
/// below 2^53.
///
/// # Errors
///
/// ts-rs's [`ExportError`] (not expected for these types).
pub fn typescript_bindings() -> Result<BTreeMap<String, String>, ExportError> {
    let cfg = Config::new().with_large_int("number");
    let mut files = BTreeMap::new();
    macro_rules! export {
        ($($t:ty),+ $(,)?) => {$(
            let name = <$t as TS>::output_path().map(|p| p.display().to_string()).unwrap_or_default();
            files.insert(name, <$t as TS>::export_to_string(&cfg)?);
        )+};
    }
    export!(
        Kind, Role, CareFlag, Category, Priority, TaskStatus, Reason, EpisodeStatus, Method, Symptom, AlertKind,
        Household, Member, Task, Item, LogEntry, Episode, Person, Checkin, MedicNote, GridIndex, Inbox, SummaryRow,
        DomainDoc, AlertFact,
    );
    let mut index = String::from("// Generated from shared/src/domain by `UPDATE_TS=1 cargo test -p linli-shared ts_bindings`. Do not edit.\n");
    for name in files.keys() {
        let module = name.trim_end_matches(".ts");
        index.push_str(&format!("export * from \"./{module}\";\n"));
    }
    files.insert("index.ts".to_string(), index);
    Ok(files)
}
