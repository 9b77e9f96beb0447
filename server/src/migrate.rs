//! Migrates a store written by an older Linli to today's document schemas, once, when
//! the server opens it and before it serves anything (see `linli_shared::domain::migrate`
//! for what each step does to a document). Every migrated document gets a change by the
//! server's actor on top of its history, and is marked dirty so the projector projects
//! it again; each document is migrated in one commit, so a crash part-way leaves every
//! document either old or new, and the next start goes on where this one stopped. A
//! marker in the `meta` facts says the store is done, so later starts do not read every
//! document again.

use crate::projector::medical::medical_id;
use crate::projector::readings::readings_id;
use crate::store::{Store, StoreError, Write};
use automerge::ActorId;
use linli_shared::domain::{migrate, DomainDoc};
use linli_shared::DocumentId;

/// The `meta` key that says every episode is schema 2.
const EPISODE_2_DONE: &str = "migrated/episode-2";
/// The `meta` key that says every episode is schema 3.
const EPISODE_3_DONE: &str = "migrated/episode-3";

/// The `meta` key under which a migrated episode's old `checkins` map is named (its object
/// id), where phones that have not seen the migration still write check-ins.
#[must_use]
pub fn legacy_checkins_key(episode: &DocumentId) -> String {
    format!("legacy-checkins/{episode}")
}
/// The `meta` key that says no inbox or medic index holds an address in its history.
const LISTS_DONE: &str = "migrated/lists-without-addresses";

/// What a migration did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Migrated {
    /// Episodes moved from schema 1 to 2.
    pub episodes: usize,
    /// Medical notes moved out of them.
    pub notes: usize,
    /// Episodes moved from schema 2 to 3.
    pub episodes_3: usize,
    /// Check-ins moved out of them into readings.
    pub checkins: usize,
    /// Inboxes and medic indexes rebuilt without the addresses their rows had.
    pub lists: usize,
    /// Documents that could not be migrated (left as they were, and reported).
    pub failed: Vec<(DocumentId, String)>,
}

/// Migrates `store` as `actor` (the server's). Does nothing on a store already done.
///
/// # Errors
///
/// A store error (what was committed before it stays migrated).
pub async fn run(store: &Store, actor: &ActorId) -> Result<Migrated, StoreError> {
    let mut done = Migrated::default();
    let mut markers = Vec::new();
    if store.meta(EPISODE_2_DONE).await?.is_none() {
        episodes_to_2(store, actor, &mut done).await?;
        if done.failed.is_empty() {
            markers.push(Write::Meta { key: EPISODE_2_DONE.to_owned(), value: b"done".to_vec() });
        }
    }
    if store.meta(EPISODE_3_DONE).await?.is_none() {
        episodes_to_3(store, actor, &mut done).await?;
        if done.failed.is_empty() {
            markers.push(Write::Meta { key: EPISODE_3_DONE.to_owned(), value: b"done".to_vec() });
        }
    }
    if store.meta(LISTS_DONE).await?.is_none() {
        lists_without_addresses(store, &mut done).await?;
        markers.push(Write::Meta { key: LISTS_DONE.to_owned(), value: b"done".to_vec() });
    }
    if done.episodes > 0 || done.episodes_3 > 0 || done.lists > 0 {
        markers.push(Write::Audit(crate::store::AuditEntry {
            at: store.now_ms(),
            user: crate::auth::SERVER_USER.to_owned(),
            action: "schema.migrate".to_owned(),
            doc: None,
            detail: format!(
                "{} episodes to schema 2; {} medical notes moved to medical records; {} episodes to schema 3; \
                 {} check-ins moved to readings; {} lists rebuilt without addresses",
                done.episodes, done.notes, done.episodes_3, done.checkins, done.lists
            ),
        }));
    }
    if !markers.is_empty() {
        store.commit(markers).await?;
    }
    Ok(done)
}

/// Episode 1 → 2: the medics' notes move to a `medical` record of their own.
async fn episodes_to_2(store: &Store, actor: &ActorId, done: &mut Migrated) -> Result<(), StoreError> {
    for id in store.list_docs().await? {
        let stored = store.load(&id).await?;
        let Ok(mut doc) = stored.to_automerge() else { continue };
        if !matches!(migrate::kind_and_schema(&doc), Ok(Some((ref k, 1))) if k == "episode") {
            continue;
        }
        doc.set_actor(actor.clone());
        let before = doc.get_heads();
        let record = medical_id(&id);
        let medical = match migrate::episode_1_to_2(&mut doc, id, record) {
            Ok(Some(m)) => m,
            Ok(None) => continue,
            Err(v) => {
                tracing::error!(doc = %id, error = %v, "an episode could not be migrated to schema 2; left as it was");
                done.failed.push((id, v.to_string()));
                continue;
            }
        };
        let mut fresh = automerge::AutoCommit::new().with_actor(actor.clone());
        if let Err(e) = autosurgeon::reconcile(&mut fresh, &medical) {
            done.failed.push((id, e.to_string()));
            continue;
        }
        done.episodes += 1;
        done.notes += medical.notes.len();
        store
            .commit(vec![
                Write::Chunk { doc: record, bytes: fresh.save() },
                Write::Dirty { doc: record, dirty: true },
                Write::Chunk { doc: id, bytes: doc.save_after(&before) },
                Write::Dirty { doc: id, dirty: true },
            ])
            .await?;
    }
    Ok(())
}

/// Episode 2 → 3: the check-ins move to a `readings` document of their own, a fresh
/// history (so the check-ins reach no phone that does not already have them); the old map
/// is named in `meta`, for the check-ins phones still write there.
async fn episodes_to_3(store: &Store, actor: &ActorId, done: &mut Migrated) -> Result<(), StoreError> {
    for id in store.list_docs().await? {
        let stored = store.load(&id).await?;
        let Ok(mut doc) = stored.to_automerge() else { continue };
        if !matches!(migrate::kind_and_schema(&doc), Ok(Some((ref k, 2))) if k == "episode") {
            continue;
        }
        doc.set_actor(actor.clone());
        let before = doc.get_heads();
        let record = readings_id(&id);
        let (readings, legacy) = match migrate::episode_2_to_3(&mut doc, id, record) {
            Ok(Some(r)) => r,
            Ok(None) => continue,
            Err(v) => {
                tracing::error!(doc = %id, error = %v, "an episode could not be migrated to schema 3; left as it was");
                done.failed.push((id, v.to_string()));
                continue;
            }
        };
        let Some(fresh) = crate::projector::erasure::fresh_history(&DomainDoc::Readings(readings.clone())) else {
            done.failed.push((id, "its readings could not be written".to_owned()));
            continue;
        };
        done.episodes_3 += 1;
        done.checkins += readings.checkins.len();
        let mut writes = vec![
            Write::Chunk { doc: record, bytes: fresh },
            Write::Dirty { doc: record, dirty: true },
            Write::Chunk { doc: id, bytes: doc.save_after(&before) },
            Write::Dirty { doc: id, dirty: true },
        ];
        if let Some(legacy) = legacy {
            writes.push(Write::Meta { key: legacy_checkins_key(&id), value: legacy.into_bytes() });
        }
        store.commit(writes).await?;
    }
    Ok(())
}

/// Inboxes and medic indexes written before their rows lost the address (DESIGN §9: a
/// list's history outlives its reader's access to the households it names) are rebuilt
/// as fresh histories, by a fresh actor as an erasure rebuilds a list, with the address
/// taken out of every title. Phones holding the old copy are told to drop it
/// (`sync::DocActor::tell_if_stale_list`).
async fn lists_without_addresses(store: &Store, done: &mut Migrated) -> Result<(), StoreError> {
    for id in store.list_docs().await? {
        let stored = store.load(&id).await?;
        let Ok(doc) = stored.to_automerge() else { continue };
        let mut value = match DomainDoc::hydrate(&doc) {
            Ok(Some(v @ (DomainDoc::Inbox(_) | DomainDoc::MedicIndex(_)))) => v,
            _ => continue,
        };
        let rows = match &mut value {
            DomainDoc::Inbox(i) => &mut i.docs,
            DomainDoc::MedicIndex(m) => &mut m.docs,
            _ => continue,
        };
        if !migrate::titles_without_addresses(rows) {
            continue;
        }
        let Some(snapshot) = crate::projector::erasure::fresh_history(&value) else {
            tracing::error!(doc = %id, "a list could not be rebuilt without addresses; left as it was");
            continue;
        };
        let Ok(heads) = automerge::Automerge::load(&snapshot).map(|d| d.get_heads()) else { continue };
        let covers = stored.chunks.into_iter().map(|(k, _)| k).collect();
        store.commit(vec![Write::Compact { doc: id, heads, snapshot, covers }]).await?;
        done.lists += 1;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;
    use linli_shared::domain::{Checkin, Episode};
    use std::collections::BTreeMap;

    /// A schema-2 episode with one check-in, as the release before the readings stored it.
    fn schema_2_episode(n: u8) -> Vec<u8> {
        let episode: Episode = serde_json::from_value(serde_json::json!({
            "kind": "episode", "schema": 3, "grid": "g1",
            "household": DocumentId::from_bytes([1; 16]).to_string(),
            "person": {"name": format!("张{n}"), "age": 45}, "reason": "close_contact",
            "start": "2026-03-10", "end": "2026-03-23", "slots": 1, "assignee": "u-vol",
            "status": "active", "closed_at": null, "readings": null,
            "medical": DocumentId::from_bytes([2; 16]).to_string(), "erased": false,
        }))
        .unwrap();
        let checkins: BTreeMap<String, Checkin> = serde_json::from_value(serde_json::json!({
            "2026-03-15/0": {"temp_c": 36.5 + f64::from(n) / 10.0, "symptoms": [], "method": "visit", "note": "", "by": "u-vol", "at": 1_773_550_000_000_i64},
        }))
        .unwrap();
        let mut doc = automerge::AutoCommit::new().with_actor(ActorId::from([n; 16]));
        autosurgeon::reconcile(&mut doc, &episode).unwrap();
        doc.delete(automerge::ROOT, "readings").unwrap();
        doc.put(automerge::ROOT, "schema", automerge::ScalarValue::Uint(2)).unwrap();
        autosurgeon::reconcile_prop(&mut doc, automerge::ROOT, "checkins", &checkins).unwrap();
        doc.save()
    }

    async fn value(store: &Store, id: &DocumentId) -> Option<DomainDoc> {
        crate::projector::load_doc(store, id).await.unwrap()
    }

    /// A start that stopped part-way (here: one episode migrated, in its commit, and no
    /// marker yet) is finished by the next: every episode once, nothing twice.
    #[tokio::test]
    async fn a_migration_cut_short_is_finished_by_the_next_start_and_nothing_is_migrated_twice() {
        let store = Store::memory();
        let server = ActorId::from([0xEE; 16]);
        let ids: Vec<DocumentId> = (1..=3).map(|n| DocumentId::from_bytes([10 + n; 16])).collect();
        let mut writes = Vec::new();
        for (n, id) in (1u8..).zip(&ids) {
            writes.push(Write::Chunk { doc: *id, bytes: schema_2_episode(n) });
        }
        store.commit(writes).await.unwrap();

        // The first start got as far as the first episode's commit.
        let stored = store.load(&ids[0]).await.unwrap();
        let mut doc = stored.to_automerge().unwrap();
        doc.set_actor(server.clone());
        let before = doc.get_heads();
        let (readings, legacy) = migrate::episode_2_to_3(&mut doc, ids[0], readings_id(&ids[0])).unwrap().unwrap();
        let fresh = crate::projector::erasure::fresh_history(&DomainDoc::Readings(readings)).unwrap();
        store
            .commit(vec![
                Write::Chunk { doc: readings_id(&ids[0]), bytes: fresh },
                Write::Chunk { doc: ids[0], bytes: doc.save_after(&before) },
                Write::Meta { key: legacy_checkins_key(&ids[0]), value: legacy.unwrap().into_bytes() },
            ])
            .await
            .unwrap();
        let heads_0 = store.load(&ids[0]).await.unwrap().to_automerge().unwrap().get_heads();
        let readings_0 = store.load(&readings_id(&ids[0])).await.unwrap().to_automerge().unwrap().get_heads();

        // The next start finishes: the two others, not the first again.
        let done = run(&store, &server).await.unwrap();
        assert_eq!((done.episodes_3, done.checkins, done.failed.len()), (2, 2, 0));
        assert_eq!(store.load(&ids[0]).await.unwrap().to_automerge().unwrap().get_heads(), heads_0);
        assert_eq!(store.load(&readings_id(&ids[0])).await.unwrap().to_automerge().unwrap().get_heads(), readings_0);
        for (n, id) in (1u8..).zip(&ids) {
            let Some(DomainDoc::Episode(e)) = value(&store, id).await else { panic!("{id}: not an episode") };
            assert_eq!((e.schema, e.readings), (3, Some(readings_id(id))));
            let Some(DomainDoc::Readings(r)) = value(&store, &readings_id(id)).await else { panic!("no readings") };
            let temp = r.checkins["2026-03-15/0"].temp_c;
            assert!((temp - (36.5 + f64::from(n) / 10.0)).abs() < 1e-9, "{id}: {temp}");
            assert!(store.meta(&legacy_checkins_key(id)).await.unwrap().is_some(), "{id}: its old map is named");
        }
        assert!(store.meta(EPISODE_3_DONE).await.unwrap().is_some(), "the marker once it is all done");
        // And a third start does nothing at all.
        assert_eq!(run(&store, &server).await.unwrap(), Migrated::default());
    }
}
