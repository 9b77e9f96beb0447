//! The read side of every store trait (and the three writes that answer with what they
//! found: `meta_or_init`, `bind_actor`, `prune_revocations`, each one autocommitted
//! statement, durable when it returns).

use super::plan::{holder_text, parse_holder, unbig};
use super::PgEngine;
use crate::store::chain::verify_stored;
use crate::store::kv::layout::json;
use crate::store::records::{AccessGrant, Alert, AuditRecord, Grid, Holder, ProjRow, QuarantineEntry, User};
use crate::store::{
    ActorStore, AuditCheck, AuditFilter, AuditStore, ChunkKey, ChunkKind, DocStore, GridStore, MetaStore,
    ProjectionStore, QuarantineStore, SessionStore, StoreError, StoredDoc, UserStore,
};
use async_trait::async_trait;
use deadpool_postgres::tokio_postgres::Row;
use linli_shared::DocumentId;

fn doc_id(s: &str) -> Result<DocumentId, StoreError> {
    s.parse().map_err(|_| StoreError::Corrupt(format!("unreadable document id {s:?}")))
}

/// Column `i` of `row` (a wrong type is a damaged store).
fn col<'a, T: deadpool_postgres::tokio_postgres::types::FromSql<'a>>(row: &'a Row, i: usize) -> Result<T, StoreError> {
    row.try_get(i).map_err(|e| StoreError::Corrupt(format!("column {i}: {e}")))
}

/// The JSON body in column `i`.
fn body<T: serde::de::DeserializeOwned>(row: &Row, i: usize, what: &str) -> Result<T, StoreError> {
    json(what, col::<&[u8]>(row, i)?)
}

fn bodies<T: serde::de::DeserializeOwned>(rows: &[Row], what: &str) -> Result<Vec<T>, StoreError> {
    rows.iter().map(|r| body(r, 0, what)).collect()
}

#[async_trait]
impl DocStore for PgEngine {
    async fn load(&self, doc: &DocumentId) -> Result<StoredDoc, StoreError> {
        // Snapshots first, then incremental chunks, each by hash: the key-value engines' order.
        let rows = self
            .query(
                "SELECT snapshot, hash, bytes FROM linli_chunks WHERE doc = $1 ORDER BY snapshot DESC, hash",
                &[&doc.to_string()],
            )
            .await?;
        let mut chunks = Vec::with_capacity(rows.len());
        for row in &rows {
            let snapshot: bool = col(row, 0)?;
            let hash: &[u8] = col(row, 1)?;
            let hash: [u8; 32] =
                hash.try_into().map_err(|_| StoreError::Corrupt(format!("a chunk of {doc} has a bad hash")))?;
            let kind = if snapshot { ChunkKind::Snapshot } else { ChunkKind::Incremental };
            chunks.push((ChunkKey { doc: *doc, kind, hash }, col::<Vec<u8>>(row, 2)?));
        }
        Ok(StoredDoc { chunks })
    }

    async fn list_docs(&self) -> Result<Vec<DocumentId>, StoreError> {
        let rows = self.query("SELECT DISTINCT doc FROM linli_chunks", &[]).await?;
        let mut docs = rows.iter().map(|r| doc_id(col(r, 0)?)).collect::<Result<Vec<_>, _>>()?;
        docs.sort();
        Ok(docs)
    }
}

#[async_trait]
impl MetaStore for PgEngine {
    async fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let rows = self.query("SELECT value FROM linli_meta WHERE key = $1", &[&key]).await?;
        rows.first().map(|r| col(r, 0)).transpose()
    }

    async fn meta_or_init(&self, key: &str, init: Vec<u8>) -> Result<Vec<u8>, StoreError> {
        self.query("INSERT INTO linli_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING", &[&key, &init])
            .await?;
        // Whoever inserted first (us or a racing caller) is the winner; its row has committed.
        self.meta(key).await?.ok_or_else(|| StoreError::Corrupt(format!("meta `{key}` vanished after it was set")))
    }

    async fn meta_all(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let rows = self.query("SELECT key, value FROM linli_meta ORDER BY key", &[]).await?;
        rows.iter().map(|r| Ok((col(r, 0)?, col(r, 1)?))).collect()
    }
}

#[async_trait]
impl UserStore for PgEngine {
    async fn user(&self, id: &str) -> Result<Option<User>, StoreError> {
        let rows = self.query("SELECT body FROM linli_users WHERE id = $1", &[&id]).await?;
        rows.first().map(|r| body(r, 0, "user")).transpose()
    }

    async fn user_by_name(&self, username: &str) -> Result<Option<User>, StoreError> {
        let rows = self.query("SELECT body FROM linli_users WHERE username = $1", &[&username]).await?;
        rows.first().map(|r| body(r, 0, "user")).transpose()
    }

    async fn users(&self) -> Result<Vec<User>, StoreError> {
        let rows = self.query("SELECT body FROM linli_users ORDER BY username", &[]).await?;
        let mut users: Vec<User> = bodies(&rows, "user")?;
        users.sort_by(|a, b| a.username.cmp(&b.username));
        Ok(users)
    }
}

#[async_trait]
impl SessionStore for PgEngine {
    async fn is_revoked(&self, id: &str) -> Result<bool, StoreError> {
        Ok(!self.query("SELECT 1 FROM linli_revocations WHERE id = $1", &[&id]).await?.is_empty())
    }

    async fn sessions_not_before(&self, user: &str) -> Result<Option<u64>, StoreError> {
        let rows = self.query("SELECT secs FROM linli_sessions_not_before WHERE user_id = $1", &[&user]).await?;
        rows.first().map(|r| col(r, 0).map(unbig)).transpose()
    }

    async fn revocations(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let rows = self.query("SELECT id, until_secs FROM linli_revocations ORDER BY id", &[]).await?;
        rows.iter().map(|r| Ok((col(r, 0)?, unbig(col(r, 1)?)))).collect()
    }

    async fn not_before_marks(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let rows = self.query("SELECT user_id, secs FROM linli_sessions_not_before ORDER BY user_id", &[]).await?;
        rows.iter().map(|r| Ok((col(r, 0)?, unbig(col(r, 1)?)))).collect()
    }

    async fn prune_revocations(&self, now_secs: u64) -> Result<usize, StoreError> {
        let now = super::plan::big(now_secs);
        Ok(self.query("DELETE FROM linli_revocations WHERE until_secs < $1 RETURNING id", &[&now]).await?.len())
    }
}

#[async_trait]
impl ActorStore for PgEngine {
    async fn bind_actor(&self, actor: &[u8], user: &str) -> Result<String, StoreError> {
        let inserted = self
            .query(
                "INSERT INTO linli_actors (actor, user_id) VALUES ($1, $2) ON CONFLICT (actor) DO NOTHING RETURNING user_id",
                &[&actor, &user],
            )
            .await?;
        if let Some(row) = inserted.first() {
            return col(row, 0);
        }
        // Bound already (the conflicting insert has committed: its row is visible now).
        let rows = self.query("SELECT user_id FROM linli_actors WHERE actor = $1", &[&actor]).await?;
        rows.first()
            .map(|r| col(r, 0))
            .transpose()?
            .ok_or_else(|| StoreError::Corrupt("an actor binding vanished after it was made".into()))
    }

    async fn actors(&self) -> Result<Vec<(Vec<u8>, String)>, StoreError> {
        let rows = self.query("SELECT actor, user_id FROM linli_actors ORDER BY actor", &[]).await?;
        rows.iter().map(|r| Ok((col(r, 0)?, col(r, 1)?))).collect()
    }
}

#[async_trait]
impl GridStore for PgEngine {
    async fn grid(&self, id: &str) -> Result<Option<Grid>, StoreError> {
        let rows = self.query("SELECT body FROM linli_grids WHERE id = $1", &[&id]).await?;
        rows.first().map(|r| body(r, 0, "grid")).transpose()
    }

    async fn grids(&self) -> Result<Vec<Grid>, StoreError> {
        let rows = self.query("SELECT body FROM linli_grids ORDER BY id", &[]).await?;
        bodies(&rows, "grid")
    }
}

#[async_trait]
impl AuditStore for PgEngine {
    async fn audit(&self, f: &AuditFilter) -> Result<Vec<AuditRecord>, StoreError> {
        let limit = i64::try_from(f.limit).unwrap_or(i64::MAX);
        let rows = self
            .query(
                "SELECT body FROM linli_audit \
                 WHERE ($1::text IS NULL OR user_id = $1) \
                   AND ($2::text IS NULL OR left(action, length($2)) = $2) \
                   AND ($3::bigint IS NULL OR at_ms < $3) \
                 ORDER BY seq DESC LIMIT $4",
                &[&f.user, &f.action, &f.before, &limit],
            )
            .await?;
        bodies(&rows, "audit")
    }

    async fn audit_all(&self) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = self.query("SELECT body FROM linli_audit ORDER BY seq", &[]).await?;
        bodies(&rows, "audit")
    }

    async fn verify_audit(&self) -> Result<AuditCheck, StoreError> {
        let rows = self.query("SELECT seq, body FROM linli_audit ORDER BY seq", &[]).await?;
        let stored = rows
            .iter()
            .map(|r| Ok((unbig(col(r, 0)?), col::<&[u8]>(r, 1)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(verify_stored(stored))
    }
}

#[async_trait]
impl QuarantineStore for PgEngine {
    async fn quarantined(
        &self,
        before: Option<(i64, String)>,
        limit: usize,
    ) -> Result<Vec<QuarantineEntry>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let (at, id) = before.unzip();
        let rows = self
            .query(
                "SELECT body FROM linli_quarantine \
                 WHERE $1::bigint IS NULL OR (at_ms, id) < ($1, $2::text) \
                 ORDER BY at_ms DESC, id DESC LIMIT $3",
                &[&at, &id, &limit],
            )
            .await?;
        bodies(&rows, "quarantine")
    }

    async fn quarantine_usage(&self) -> Result<(usize, usize), StoreError> {
        let rows = self.query("SELECT count(*), coalesce(sum(cost), 0)::bigint FROM linli_quarantine", &[]).await?;
        let row = rows.first().ok_or_else(|| StoreError::Corrupt("no answer to a count".into()))?;
        let count: i64 = col(row, 0)?;
        let bytes: i64 = col(row, 1)?;
        Ok((unbig(count) as usize, unbig(bytes) as usize))
    }
}

#[async_trait]
impl ProjectionStore for PgEngine {
    async fn row(&self, doc: &str) -> Result<Option<ProjRow>, StoreError> {
        let rows = self.query("SELECT body FROM linli_proj_rows WHERE doc = $1", &[&doc]).await?;
        rows.first().map(|r| body(r, 0, "projection")).transpose()
    }

    async fn rows(&self, grid: Option<&str>) -> Result<Vec<ProjRow>, StoreError> {
        let rows = match grid {
            Some(g) => {
                self.query("SELECT body FROM linli_proj_rows WHERE grid = $1 ORDER BY doc", &[&g.as_bytes()]).await?
            }
            None => self.query("SELECT body FROM linli_proj_rows ORDER BY doc", &[]).await?,
        };
        bodies(&rows, "projection")
    }

    async fn has_grant(&self, household: &DocumentId, holder: &Holder) -> Result<bool, StoreError> {
        let rows = self
            .query(
                "SELECT 1 FROM linli_grants WHERE household = $1 AND holder = $2 LIMIT 1",
                &[&household.to_string(), &holder_text(holder)],
            )
            .await?;
        Ok(!rows.is_empty())
    }

    async fn grants(&self) -> Result<Vec<AccessGrant>, StoreError> {
        let rows = self.query("SELECT household, holder, via FROM linli_grants", &[]).await?;
        let mut grants = rows
            .iter()
            .map(|r| {
                Ok(AccessGrant {
                    household: doc_id(col(r, 0)?)?,
                    holder: parse_holder(col(r, 1)?),
                    via: doc_id(col(r, 2)?)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        // In the key-value engines' order (by their key), so exports match byte for byte.
        grants.sort_by_cached_key(crate::store::kv::layout::grant_key);
        Ok(grants)
    }

    async fn alert(&self, id: &str) -> Result<Option<Alert>, StoreError> {
        let rows = self.query("SELECT body FROM linli_alerts WHERE id = $1", &[&id.as_bytes()]).await?;
        rows.first().map(|r| body(r, 0, "alert")).transpose()
    }

    async fn alerts(&self, doc: Option<&str>) -> Result<Vec<Alert>, StoreError> {
        let rows = match doc {
            Some(d) => self.query("SELECT body FROM linli_alerts WHERE doc = $1 ORDER BY id", &[&d.as_bytes()]).await?,
            None => self.query("SELECT body FROM linli_alerts ORDER BY id", &[]).await?,
        };
        bodies(&rows, "alert")
    }

    async fn dirty_docs(&self) -> Result<Vec<DocumentId>, StoreError> {
        let rows = self.query("SELECT doc FROM linli_dirty ORDER BY doc", &[]).await?;
        // Like the key-value engines, an unreadable marker is skipped, not fatal.
        Ok(rows.iter().filter_map(|r| r.try_get::<_, &str>(0).ok().and_then(|s| s.parse().ok())).collect())
    }
}
