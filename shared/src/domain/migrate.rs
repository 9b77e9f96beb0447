//! Schema migrations of stored documents, as pure functions on automerge documents: the
//! server runs them once over a store written by an older Linli (`server/src/migrate.rs`).
//! Each one *adds a change* to the document's history rather than rewriting it, so a
//! phone that was offline across the upgrade, with changes made in the old shape waiting,
//! still merges them (DESIGN §9, issue "Need to know").
//!
//! - `episode` 1 → 2: the medics' notes leave the episode for a `medical` document of
//!   their own ([`Medical`]), which only the grid's medics read; the episode gets its
//!   link. Everything else (the person, reason, dates, assignee, status, check-ins) stays.
//! - `episode` 2 → 3: the check-ins leave the episode for a `readings` document of their
//!   own ([`Readings`]), which only the assigned volunteer and the grid's medics read; the
//!   episode gets its link. A phone that has not seen this change still writes check-ins
//!   into the old `checkins` map, which is no longer reachable from the episode's root but
//!   still in its history: [`legacy_checkins`] reads them there, so the server can carry
//!   them over into the readings.
//! - inboxes and medic indexes lose the addresses in their rows' titles
//!   ([`titles_without_addresses`]); the server rebuilds them as fresh histories, since
//!   a list's history outlives its reader's access to the households it names.

use automerge::transaction::Transactable;
use automerge::{Automerge, ObjType, ReadDoc, ScalarValue, Value, ROOT};
use serde_json::Value as Json;

use std::collections::BTreeMap;

use super::{am_json, Checkin, DomainDoc, Episode, Kind, MedicNote, Medical, Readings, SummaryRow, Violation};
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
/// `Ok(None)` if `doc` is not a schema-1 episode (nothing is changed). The episode is then
/// a schema-2 one, for [`episode_2_to_3`].
///
/// # Errors
///
/// A [`Violation`] if the notes, the grid or the household cannot be read (the document
/// is left as it was).
pub fn episode_1_to_2(
    doc: &mut Automerge,
    id: DocumentId,
    medical_id: DocumentId,
) -> Result<Option<Medical>, Violation> {
    if kind_and_schema(doc)? != Some((Kind::Episode.to_string(), 1)) {
        return Ok(None);
    }
    let Json::Object(root) = am_json::read_object(doc, &ROOT)? else { return Ok(None) };
    let notes: Vec<MedicNote> = match root.get("medic_notes") {
        Some(notes) => am_json::from_json(notes.clone(), "medic_notes")?,
        None => Vec::new(),
    };
    let grid: String = am_json::from_json(root.get("grid").cloned().unwrap_or(Json::Null), "grid")?;
    let household: DocumentId = am_json::from_json(root.get("household").cloned().unwrap_or(Json::Null), "household")?;
    let medical = Medical { notes, ..Medical::for_episode(&grid, id, household) };
    let mut tx = doc.transaction();
    let written = (|| {
        if root.contains_key("medic_notes") {
            tx.delete(ROOT, "medic_notes")?;
        }
        tx.put(ROOT, "schema", ScalarValue::Uint(2))?;
        let link = tx.put_object(ROOT, "medical", ObjType::Text)?;
        tx.splice_text(&link, 0, 0, &medical_id.to_string())
    })();
    if let Err(e) = written {
        tx.rollback();
        return Err(Violation::new("", e.to_string()));
    }
    tx.commit();
    Ok(Some(medical))
}

/// Migrates a schema-2 `episode` in place, as one change by `doc`'s current actor:
/// `schema` becomes 3, `checkins` goes and `readings` links `readings_id`. Returns the
/// readings document to store under `readings_id`, with the check-ins that were on the
/// episode, and the id of the old `checkins` map (for [`legacy_checkins`]; `None` if the
/// episode had none); `Ok(None)` if `doc` is not a schema-2 episode (nothing is changed).
///
/// # Errors
///
/// A [`Violation`] if the episode, without its check-ins, does not pass today's schema
/// (the document is left as it was).
pub fn episode_2_to_3(
    doc: &mut Automerge,
    id: DocumentId,
    readings_id: DocumentId,
) -> Result<Option<(Readings, Option<String>)>, Violation> {
    if kind_and_schema(doc)? != Some((Kind::Episode.to_string(), 2)) {
        return Ok(None);
    }
    let Json::Object(mut root) = am_json::read_object(doc, &ROOT)? else { return Ok(None) };
    let checkins: BTreeMap<String, Checkin> = match root.remove("checkins") {
        Some(c) => am_json::from_json(c, "checkins")?,
        None => BTreeMap::new(),
    };
    let legacy = match doc.get(ROOT, "checkins") {
        Ok(Some((Value::Object(ObjType::Map), obj))) => Some(obj.to_string()),
        _ => None,
    };
    root.insert("schema".into(), Json::from(Kind::Episode.schema_version()));
    root.insert("readings".into(), Json::String(readings_id.to_string()));
    let episode: Episode = am_json::from_json(Json::Object(root), "")?;
    let readings = Readings::for_episode(id, &episode, checkins);
    let mut tx = doc.transaction();
    let deleted = if legacy.is_some() { tx.delete(ROOT, "checkins") } else { Ok(()) };
    let written = deleted
        .map_err(|e| Violation::new("checkins", e.to_string()))
        .and_then(|()| autosurgeon::reconcile(&mut tx, &episode).map_err(|e| Violation::new("", e.to_string())));
    if let Err(e) = written {
        tx.rollback();
        return Err(e);
    }
    tx.commit();
    match DomainDoc::hydrate(doc) {
        Ok(Some(DomainDoc::Episode(_))) => Ok(Some((readings, legacy))),
        Ok(_) => Err(Violation::new("kind", "the migrated episode is not an episode")),
        Err(e) => Err(e),
    }
}

/// The check-ins in a migrated episode's old `checkins` map (`legacy`, as
/// [`episode_2_to_3`] returned it), where a phone that has not seen the migration still
/// writes them: detached from the root, the map is in the document all the same. By key;
/// an entry that is not a check-in is left out (the readings' rules would refuse it).
#[must_use]
pub fn legacy_checkins(doc: &Automerge, legacy: &str) -> BTreeMap<String, Checkin> {
    let Ok(obj) = doc.import_obj(legacy) else { return BTreeMap::new() };
    let Ok(Json::Object(entries)) = am_json::read_object(doc, &obj) else { return BTreeMap::new() };
    entries
        .into_iter()
        .filter_map(|(key, value)| am_json::from_json::<Checkin>(value, &key).ok().map(|c| (key, c)))
        .collect()
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use automerge::ActorId;

    /// A schema-2 episode with one check-in, as the release before the readings wrote it.
    fn schema_2_episode() -> Automerge {
        let episode: Episode = serde_json::from_value(serde_json::json!({
            "kind": "episode", "schema": 3, "grid": "g1",
            "household": DocumentId::from_bytes([1; 16]).to_string(),
            "person": {"name": "张三", "age": 45}, "reason": "close_contact",
            "start": "2026-01-25", "end": "2026-02-08", "slots": 2, "assignee": "u-vol",
            "status": "active", "closed_at": null, "readings": null,
            "medical": DocumentId::from_bytes([2; 16]).to_string(), "erased": false,
        }))
        .unwrap();
        let checkins: BTreeMap<String, Checkin> = serde_json::from_value(serde_json::json!({
            "2026-01-31/0": {"temp_c": 36.6, "symptoms": [], "method": "visit", "note": "", "by": "u-vol", "at": 1_769_821_200_000_i64},
        }))
        .unwrap();
        let mut doc = automerge::AutoCommit::new().with_actor(ActorId::from([7u8; 16]));
        autosurgeon::reconcile(&mut doc, &episode).unwrap();
        doc.delete(ROOT, "readings").unwrap();
        doc.put(ROOT, "schema", ScalarValue::Uint(2)).unwrap();
        autosurgeon::reconcile_prop(&mut doc, ROOT, "checkins", &checkins).unwrap();
        doc.commit();
        Automerge::load(&doc.save()).unwrap()
    }

    #[test]
    fn a_migrated_episode_keeps_taking_the_old_phones_check_ins_aside() {
        let (id, readings_id) = (DocumentId::from_bytes([3; 16]), DocumentId::from_bytes([4; 16]));
        let mut server = schema_2_episode();
        // A phone holds the episode as it was, and checks in offline.
        let mut phone = server.fork().with_actor(ActorId::from([8u8; 16]));
        server.set_actor(ActorId::from([9u8; 16]));
        let (readings, legacy) = episode_2_to_3(&mut server, id, readings_id).unwrap().unwrap();
        assert_eq!(readings.checkins.keys().collect::<Vec<_>>(), ["2026-01-31/0"]);
        assert_eq!((readings.episode, readings.assignee.as_deref(), readings.slots), (id, Some("u-vol"), 2));
        let legacy = legacy.unwrap();
        let Some(DomainDoc::Episode(e)) = DomainDoc::hydrate(&server).unwrap() else { panic!("not an episode") };
        assert_eq!((e.schema, e.readings), (3, Some(readings_id)));
        assert_eq!(episode_2_to_3(&mut server, id, readings_id).unwrap(), None, "once only");

        let checkins = match phone.get(ROOT, "checkins").unwrap() {
            Some((Value::Object(ObjType::Map), obj)) => obj,
            other => panic!("{other:?}"),
        };
        let mut tx = phone.transaction();
        let c = tx.put_object(&checkins, "2026-02-01/0", ObjType::Map).unwrap();
        for (k, v) in [("temp_c", ScalarValue::F64(37.9)), ("method", "visit".into()), ("note", "".into())] {
            tx.put(&c, k, v).unwrap();
        }
        tx.put(&c, "by", "u-vol").unwrap();
        tx.put(&c, "at", ScalarValue::Int(1_769_907_600_000)).unwrap();
        tx.put_object(&c, "symptoms", ObjType::List).unwrap();
        tx.commit();
        server.merge(&mut phone).unwrap();

        // The merged episode is a valid schema-3 one without check-ins; the old map holds
        // the migrated check-in and the late one.
        let Some(DomainDoc::Episode(merged)) = DomainDoc::hydrate(&server).unwrap() else { panic!("not an episode") };
        assert_eq!(merged, e);
        let late = legacy_checkins(&server, &legacy);
        assert_eq!(late.keys().collect::<Vec<_>>(), ["2026-01-31/0", "2026-02-01/0"]);
        assert!((late["2026-02-01/0"].temp_c - 37.9).abs() < 1e-9);
        assert!(legacy_checkins(&server, "not-an-object").is_empty());
    }

    #[test]
    fn a_schema_1_episode_goes_to_3_in_two_steps() {
        let mut doc = schema_2_episode();
        let mut tx = doc.transaction();
        tx.put(ROOT, "schema", ScalarValue::Uint(1)).unwrap();
        tx.delete(ROOT, "medical").unwrap();
        let notes = tx.put_object(ROOT, "medic_notes", ObjType::List).unwrap();
        let note = tx.insert_object(&notes, 0, ObjType::Map).unwrap();
        tx.put(&note, "at", ScalarValue::Int(1)).unwrap();
        tx.put(&note, "by", "u-medic").unwrap();
        tx.put(&note, "text", "stable").unwrap();
        tx.commit();
        let id = DocumentId::from_bytes([3; 16]);
        let medical = episode_1_to_2(&mut doc, id, DocumentId::from_bytes([5; 16])).unwrap().unwrap();
        assert_eq!(medical.notes.len(), 1);
        assert_eq!(kind_and_schema(&doc).unwrap(), Some(("episode".into(), 2)));
        let (readings, _) = episode_2_to_3(&mut doc, id, DocumentId::from_bytes([4; 16])).unwrap().unwrap();
        assert_eq!(readings.checkins.len(), 1);
        let Some(DomainDoc::Episode(e)) = DomainDoc::hydrate(&doc).unwrap() else { panic!("not an episode") };
        assert_eq!((e.medical, e.schema), (Some(DocumentId::from_bytes([5; 16])), 3));
    }
}
