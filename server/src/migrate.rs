//! Migrates a store written by an older Linli to today's document schemas, once, when
//! the server opens it and before it serves anything (see `linli_shared::domain::migrate`
//! for what each step does to a document). Every migrated document gets a change by the
//! server's actor on top of its history, and is marked dirty so the projector projects
//! it again; each document is migrated in one commit, so a crash part-way leaves every
//! document either old or new, and the next start goes on where this one stopped. A
//! marker in the `meta` facts says the store is done, so later starts do not read every
//! document again.

use crate::projector::medical::medical_id;
use crate::store::{Store, StoreError, Write};
use automerge::ActorId;
use linli_shared::domain::migrate;
use linli_shared::DocumentId;

/// The `meta` key that says every episode is schema 2.
const EPISODE_2_DONE: &str = "migrated/episode-2";

/// What a migration did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Migrated {
    /// Episodes moved from schema 1 to 2.
    pub episodes: usize,
    /// Medical notes moved out of them.
    pub notes: usize,
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
    if store.meta(EPISODE_2_DONE).await?.is_some() {
        return Ok(done);
    }
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
    if done.failed.is_empty() {
        let mut marker = vec![Write::Meta { key: EPISODE_2_DONE.to_owned(), value: b"done".to_vec() }];
        if done.episodes > 0 {
            marker.push(Write::Audit(crate::store::AuditEntry {
                at: store.now_ms(),
                user: crate::auth::SERVER_USER.to_owned(),
                action: "schema.migrate".to_owned(),
                doc: None,
                detail: format!(
                    "{} episodes to schema 2; {} medical notes moved to medical records",
                    done.episodes, done.notes
                ),
            }));
        }
        store.commit(marker).await?;
    }
    Ok(done)
}
