//! The TypeScript form of the domain types, for the web client (`web/src/generated/`), so
//! the two sides cannot drift. `shared/tests/domain_ts.rs` fails when the committed files
//! differ from these and rewrites them with `UPDATE_TS=1`.

use std::collections::BTreeMap;

use ts_rs::{Config, ExportError, TS};

use super::{
    slot_deadline, DomainLimits, FEVER_THRESHOLD_C, MAX_AGE, MAX_SLOTS, MAX_TEMP_C, MIN_TEMP_C, SCHEMA_VERSION,
};
use super::{
    AlertFact, AlertKind, CareFlag, Category, Checkin, DomainDoc, Episode, EpisodeStatus, GridIndex, Household, Inbox,
    Item, Kind, LogEntry, MedicIndex, MedicNote, Medical, Member, Method, Person, Priority, Readings, Reason, Role,
    Severity, SummaryRow, Symptom, Task, TaskStatus,
};

/// Every generated file, by file name (`Task.ts`, …, `constants.ts` with the schema's
/// numbers, and `index.ts` re-exporting them all), with its contents. Integers are TypeScript `number`s: ms timestamps stay far
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
        Kind,
        Role,
        CareFlag,
        Category,
        Priority,
        TaskStatus,
        Reason,
        EpisodeStatus,
        Method,
        Symptom,
        AlertKind,
        Severity,
        Household,
        Member,
        Task,
        Item,
        LogEntry,
        Episode,
        Person,
        Checkin,
        MedicNote,
        Medical,
        Readings,
        GridIndex,
        MedicIndex,
        Inbox,
        SummaryRow,
        DomainDoc,
        AlertFact,
    );
    files.insert("constants.ts".to_string(), constants());
    let mut index = String::from(
        "// Generated from shared/src/domain by `UPDATE_TS=1 cargo test -p linli-shared ts_bindings`. Do not edit.\n",
    );
    for name in files.keys() {
        let module = name.trim_end_matches(".ts");
        index.push_str(&format!("export * from \"./{module}\";\n"));
    }
    files.insert("index.ts".to_string(), index);
    Ok(files)
}

/// The numbers the web client checks input against, so a form refuses what the server
/// would refuse.
fn constants() -> String {
    let l = DomainLimits::default();
    let deadlines: Vec<String> = (1..=MAX_SLOTS)
        .map(|n| {
            let times: Vec<String> = (0..n).map(|s| format!("\"{}\"", slot_deadline(n, s).format("%H:%M"))).collect();
            format!("[{}]", times.join(", "))
        })
        .collect();
    format!(
        "// Generated from shared/src/domain by `UPDATE_TS=1 cargo test -p linli-shared ts_bindings`. Do not edit.\n\n\
         export const SCHEMA_VERSION = {SCHEMA_VERSION};\n\
         /** The schema version of each kind this build writes (a document's root `schema`). */\n\
         export const SCHEMA_VERSIONS = {{ {versions} }} as const;\n\
         /** Body temperatures accepted in a check-in, °C. */\n\
         export const MIN_TEMP_C = {MIN_TEMP_C:?};\n\
         export const MAX_TEMP_C = {MAX_TEMP_C:?};\n\
         /** A check-in at or above this temperature raises a fever alert. */\n\
         export const FEVER_THRESHOLD_C = {FEVER_THRESHOLD_C:?};\n\
         export const MAX_SLOTS = {MAX_SLOTS};\n\
         export const MAX_AGE = {MAX_AGE};\n\
         /** Deadline of each check-in slot (local time), by number of slots a day: SLOT_DEADLINES[slots - 1][slot]. */\n\
         export const SLOT_DEADLINES: ReadonlyArray<ReadonlyArray<string>> = [{deadlines}];\n\
         /** The server's default limits (it may be configured tighter or looser). */\n\
         export const DEFAULT_LIMITS = {{\n  max_string_chars: {},\n  max_short_chars: {},\n  max_list_len: {},\n  max_checkins: {},\n  max_episode_days: {},\n}} as const;\n",
        l.max_string_chars,
        l.max_short_chars,
        l.max_list_len,
        l.max_checkins,
        l.max_episode_days,
        deadlines = deadlines.join(", "),
        versions = Kind::ALL
            .iter()
            .map(|k| format!("\"{k}\": {}", k.schema_version()))
            .collect::<Vec<_>>()
            .join(", "),
    )
}
