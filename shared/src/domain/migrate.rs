//! Schema migrations of stored documents, as pure functions on automerge documents: the
//! server runs them once over a store written by an older Linli (`server/src/migrate.rs`).
//! Each one *adds a change* to the document's history rather than rewriting it, so a
//! phone that was offline across the upgrade, with changes made in the old shape waiting,
//! still merges them (DESIGN §9, issue "Need to know").
//!
//! - `episode` 1 → 2: the medics' notes leave the episode for a `medical` document of
//!   their own ([`Medical`]), which only the grid's medics read; the episode gets its
//!   link. Everything else (the person, reason, dates, assignee, status, check-ins) stays.
//! - inboxes and medic indexes lose the addresses in their rows' titles
//!   ([`titles_without_addresses`]); the server rebuilds them as fresh histories, since
//!   a list's history outlives its reader's access to the households it names.

use automerge::transaction::Transactable;
use automerge::{Automerge, ROOT};
use serde_json::Value as Json;

use std::collections::BTreeMap;

use super::{am_json, DomainDoc, Episode, Kind, MedicNote, Medical, SummaryRow, Violation};
use crate::DocumentId;

/// The `kind` and `schema` at the root of a document, if it has them (read without the
/// current schema, which an old document does not pass).
///
/// # Errors
///
/// A [`Violation`] if the root cannot be read.
pub fn kind_and_schema(doc: &Automerge) -> Result<Option<(String, u64)>, Violation> {
    let Json::Object(root) = am_json::read_object(doc, &ROOT)? else { return Ok(None) };
    match (root.get("kind"), root.get("schema")) {
        (Some(Json::String(kind)), Some(schema)) => Ok(schema.as_u64().map(|s| (kind.clone(), s))),
        _ => Ok(None),
    }
}

/// Migrates a schema-1 `episode` in place, as one change by `doc`'s current actor:
/// `schema` becomes 2, `medic_notes` goes and `medical` links `medical_id`. Returns the
/// medical document to store under `medical_id`, with the notes that were on the episode;
/// `Ok(None)` if `doc` is not a schema-1 episode (nothing is changed).
///
/// # Errors
///
/// A [`Violation`] if the episode, without its notes, does not pass today's schema (the
/// document is left as it was).
pub fn episode_1_to_2(
    doc: &mut Automerge,
    id: DocumentId,
    medical_id: DocumentId,
) -> Result<Option<Medical>, Violation> {
    if kind_and_schema(doc)? != Some((Kind::Episode.to_string(), 1)) {
        return Ok(None);
    }
    let Json::Object(mut root) = am_json::read_object(doc, &ROOT)? else { return Ok(None) };
    let old_notes = root.remove("medic_notes");
    let had_notes = old_notes.is_some();
    let notes: Vec<MedicNote> = match old_notes {
        Some(notes) => am_json::from_json(notes, "medic_notes")?,
        None => Vec::new(),
    };
    root.insert("schema".into(), Json::from(Kind::Episode.schema_version()));
    root.insert("medical".into(), Json::String(medical_id.to_string()));
    let episode: Episode = am_json::from_json(Json::Object(root), "")?;
    let medical = Medical { notes, ..Medical::for_episode(&episode.grid, id, episode.household) };
    let mut tx = doc.transaction();
    let deleted = if had_notes { tx.delete(ROOT, "medic_notes") } else { Ok(()) };
    let written = deleted
        .map_err(|e| Violation::new("medic_notes", e.to_string()))
        .and_then(|()| autosurgeon::reconcile(&mut tx, &episode).map_err(|e| Violation::new("", e.to_string())));
    if let Err(e) = written {
        tx.rollback();
        return Err(e);
    }
    tx.commit();
    match DomainDoc::hydrate(doc) {
        Ok(Some(DomainDoc::Episode(_))) => Ok(Some(medical)),
        Ok(_) => Err(Violation::new("kind", "the migrated episode is not an episode")),
        Err(e) => Err(e),
    }
}

/// Takes the address out of every row title of an inbox or a medic index: a task's or an
/// episode's title keeps its last word, the kind of work (`"3-2-501 food"` → `"food"`), a
/// household's becomes empty. Returns whether any title changed.
pub fn titles_without_addresses(rows: &mut BTreeMap<String, SummaryRow>) -> bool {
    let mut changed = false;
    for row in rows.values_mut() {
        let title = match row.kind {
            Kind::Household => String::new(),
            _ => row.title.rsplit(' ').next().unwrap_or_default().to_owned(),
        };
        if title != row.title {
            row.title = title;
            changed = true;
        }
    }
    changed
}
