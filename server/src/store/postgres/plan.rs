//! What each [`Write`] means in SQL: the same meaning as the key-value engines' `plan`
//! (`super::super::kv`), statement by statement. A batch becomes a list of [`Op`]s, which
//! the committer sends down one connection without waiting between them (pipelined) and
//! commits with the other batches of its group.

use crate::store::chain::{chain, AuditHead};
use crate::store::kv::layout::to_json;
use crate::store::{AccessGrant, ChunkKey, ChunkKind, Conflict, Holder, Write};
use deadpool_postgres::tokio_postgres::types::ToSql;

/// One parameter of a statement.
pub(crate) type Param = Box<dyn ToSql + Sync + Send>;

/// One statement of a batch. (`Debug` names the statement only: parameters hold
/// password hashes and health data.)
pub(crate) struct Op {
    pub sql: &'static str,
    pub params: Vec<Param>,
    /// The batch breaks this rule if the statement touches no row (an `INSERT … ON
    /// CONFLICT DO NOTHING` that found the key taken).
    pub conflict_if_none: Option<Conflict>,
}

impl std::fmt::Debug for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Op").field("sql", &self.sql).finish_non_exhaustive()
    }
}

impl Op {
    fn new(sql: &'static str, params: Vec<Param>) -> Self {
        Op { sql, params, conflict_if_none: None }
    }

    pub fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect()
    }
}

pub(crate) const CHUNK_INSERT: &str = "INSERT INTO linli_chunks (doc, snapshot, hash, bytes) VALUES ($1, $2, $3, $4) \
                                       ON CONFLICT (doc, snapshot, hash) DO NOTHING";
pub(crate) const CHUNK_PUT: &str = "INSERT INTO linli_chunks (doc, snapshot, hash, bytes) VALUES ($1, $2, $3, $4) \
                                    ON CONFLICT (doc, snapshot, hash) DO UPDATE SET bytes = EXCLUDED.bytes";
const CHUNK_DELETE: &str = "DELETE FROM linli_chunks WHERE doc = $1 AND snapshot = $2 AND hash = $3";
const DOC_DELETE: &str = "DELETE FROM linli_chunks WHERE doc = $1";
const META_DELETE: &str = "DELETE FROM linli_meta WHERE key = $1";
const META_PUT: &str =
    "INSERT INTO linli_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value";
const USER_INSERT: &str = "INSERT INTO linli_users (id, username, body) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
const USER_PUT: &str = "INSERT INTO linli_users (id, username, body) VALUES ($1, $2, $3) \
                        ON CONFLICT (id) DO UPDATE SET body = EXCLUDED.body";
const GRID_INSERT: &str = "INSERT INTO linli_grids (id, body) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING";
const GRID_PUT: &str =
    "INSERT INTO linli_grids (id, body) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET body = EXCLUDED.body";
const REVOKE_PUT: &str = "INSERT INTO linli_revocations (id, until_secs) VALUES ($1, $2) \
                          ON CONFLICT (id) DO UPDATE SET until_secs = EXCLUDED.until_secs";
const NOT_BEFORE_PUT: &str = "INSERT INTO linli_sessions_not_before (user_id, secs) VALUES ($1, $2) \
                              ON CONFLICT (user_id) DO UPDATE SET secs = EXCLUDED.secs";
const AUDIT_PUT: &str = "INSERT INTO linli_audit (seq, at_ms, user_id, action, body) VALUES ($1, $2, $3, $4, $5) \
                         ON CONFLICT (seq) DO UPDATE SET at_ms = EXCLUDED.at_ms, user_id = EXCLUDED.user_id, \
                         action = EXCLUDED.action, body = EXCLUDED.body";
pub(crate) const AUDIT_HEAD_LOCK: &str = "SELECT seq, hash FROM linli_audit_head WHERE id = 1 FOR UPDATE";
const AUDIT_HEAD_PUT: &str = "UPDATE linli_audit_head SET seq = $1, hash = $2 WHERE id = 1";
const ACTOR_PUT: &str = "INSERT INTO linli_actors (actor, user_id) VALUES ($1, $2) \
                         ON CONFLICT (actor) DO UPDATE SET user_id = EXCLUDED.user_id";
const QUARANTINE_INSERT: &str = "INSERT INTO linli_quarantine (id, at_ms, cost, body) VALUES ($1, $2, $3, $4) \
                                 ON CONFLICT (id) DO NOTHING";
const QUARANTINE_DELETE: &str = "DELETE FROM linli_quarantine WHERE id = $1";
const ROW_PUT: &str = "INSERT INTO linli_proj_rows (doc, grid, body) VALUES ($1, $2, $3) \
                       ON CONFLICT (doc) DO UPDATE SET grid = EXCLUDED.grid, body = EXCLUDED.body";
const ROW_DELETE: &str = "DELETE FROM linli_proj_rows WHERE doc = $1";
const GRANT_INSERT: &str =
    "INSERT INTO linli_grants (household, holder, via) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
const GRANT_DELETE: &str = "DELETE FROM linli_grants WHERE household = $1 AND holder = $2 AND via = $3";
const ALERT_PUT: &str = "INSERT INTO linli_alerts (id, doc, body) VALUES ($1, $2, $3) \
                         ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc, body = EXCLUDED.body";
const ALERT_DELETE: &str = "DELETE FROM linli_alerts WHERE id = $1";
const DIRTY_INSERT: &str = "INSERT INTO linli_dirty (doc) VALUES ($1) ON CONFLICT DO NOTHING";
const DIRTY_DELETE: &str = "DELETE FROM linli_dirty WHERE doc = $1";

/// Whether a batch appends to or restores the audit log (it then needs the chain's head).
pub(crate) fn touches_audit(batch: &[Write]) -> bool {
    batch.iter().any(|w| matches!(w, Write::Audit(_) | Write::ImportAudit(_)))
}

/// A number of the store (seconds, a sequence number) as a `BIGINT`. Values beyond
/// `i64::MAX` (none that Linli writes) are kept as `i64::MAX`.
pub(crate) fn big(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A `BIGINT` read back as the store's number.
pub(crate) fn unbig(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// The `holder` column of a grant (as the key-value engines write it).
pub(crate) fn holder_text(h: &Holder) -> String {
    match h {
        Holder::User(id) => id.clone(),
        Holder::OpenEpisode => "#episode".to_owned(),
    }
}

pub(crate) fn parse_holder(s: &str) -> Holder {
    match s {
        "#episode" => Holder::OpenEpisode,
        user => Holder::User(user.to_owned()),
    }
}

/// The document of an alert id (`<doc>/<key>`): alerts are listed by it.
pub(crate) fn alert_doc(id: &str) -> &str {
    id.split('/').next().unwrap_or(id)
}

fn chunk_key_params(key: &ChunkKey) -> Vec<Param> {
    vec![Box::new(key.doc.to_string()), Box::new(key.kind == ChunkKind::Snapshot), Box::new(key.hash.to_vec())]
}

fn chunk_params(key: &ChunkKey, bytes: &[u8]) -> Vec<Param> {
    let mut p = chunk_key_params(key);
    p.push(Box::new(bytes.to_vec()));
    p
}

fn grant_params(g: &AccessGrant) -> Vec<Param> {
    vec![Box::new(g.household.to_string()), Box::new(holder_text(&g.holder)), Box::new(g.via.to_string())]
}

/// Turns `batch` into statements, chaining its audit entries after `head` (which moves on).
pub(crate) fn plan(batch: &[Write], head: &mut AuditHead) -> Vec<Op> {
    let mut ops = Vec::with_capacity(batch.len() + 1);
    let head_before = head.clone();
    for w in batch {
        match w {
            Write::Chunk { doc, bytes } => {
                let key = ChunkKey::incremental(*doc, bytes);
                ops.push(Op::new(CHUNK_INSERT, chunk_params(&key, bytes)));
            }
            Write::Compact { doc, heads, snapshot, covers } => {
                let key = ChunkKey::snapshot(*doc, heads);
                for k in covers.iter().filter(|k| **k != key) {
                    ops.push(Op::new(CHUNK_DELETE, chunk_key_params(k)));
                }
                ops.push(Op::new(CHUNK_PUT, chunk_params(&key, snapshot)));
            }
            Write::DeleteDoc(doc) => ops.push(Op::new(DOC_DELETE, vec![Box::new(doc.to_string())])),
            Write::Meta { key, value } => {
                ops.push(Op::new(META_PUT, vec![Box::new(key.clone()), Box::new(value.clone())]))
            }
            Write::DeleteMeta(key) => ops.push(Op::new(META_DELETE, vec![Box::new(key.clone())])),
            Write::InsertUser(user) => ops.push(Op {
                conflict_if_none: Some(Conflict::Username(user.username.clone())),
                ..Op::new(USER_INSERT, user_params(user))
            }),
            Write::UpdateUser(user) => ops.push(Op::new(USER_PUT, user_params(user))),
            Write::InsertGrid(grid) => ops.push(Op {
                conflict_if_none: Some(Conflict::Grid(grid.id.clone())),
                ..Op::new(GRID_INSERT, vec![Box::new(grid.id.clone()), Box::new(to_json(grid))])
            }),
            Write::UpdateGrid(grid) => {
                ops.push(Op::new(GRID_PUT, vec![Box::new(grid.id.clone()), Box::new(to_json(grid))]))
            }
            Write::Revoke { id, until } => {
                ops.push(Op::new(REVOKE_PUT, vec![Box::new(id.clone()), Box::new(big(*until))]))
            }
            Write::SessionsNotBefore { user, secs } => {
                ops.push(Op::new(NOT_BEFORE_PUT, vec![Box::new(user.clone()), Box::new(big(*secs))]))
            }
            Write::Audit(entry) => {
                let record = chain(head, entry.clone());
                *head = AuditHead { seq: record.seq, hash: record.hash.clone() };
                ops.push(audit_op(&record));
            }
            Write::ImportAudit(record) => {
                if record.seq > head.seq {
                    *head = AuditHead { seq: record.seq, hash: record.hash.clone() };
                }
                ops.push(audit_op(record));
            }
            Write::ImportChunk { key, bytes } => ops.push(Op::new(CHUNK_PUT, chunk_params(key, bytes))),
            Write::ImportActor { actor, user } => {
                ops.push(Op::new(ACTOR_PUT, vec![Box::new(actor.clone()), Box::new(user.clone())]))
            }
            Write::Quarantine(entry) => ops.push(Op::new(
                QUARANTINE_INSERT,
                vec![
                    Box::new(entry.id.clone()),
                    Box::new(entry.at),
                    Box::new(big(entry.cost() as u64)),
                    Box::new(to_json(entry)),
                ],
            )),
            Write::DeleteQuarantine(id) => ops.push(Op::new(QUARANTINE_DELETE, vec![Box::new(id.clone())])),
            Write::Row(row) => ops.push(Op::new(
                ROW_PUT,
                vec![Box::new(row.doc.clone()), Box::new(row.grid.as_bytes().to_vec()), Box::new(to_json(row))],
            )),
            Write::DeleteRow(doc) => ops.push(Op::new(ROW_DELETE, vec![Box::new(doc.clone())])),
            Write::Grant(g) => ops.push(Op::new(GRANT_INSERT, grant_params(g))),
            Write::RevokeGrant(g) => ops.push(Op::new(GRANT_DELETE, grant_params(g))),
            Write::Alert(a) => ops.push(Op::new(
                ALERT_PUT,
                vec![
                    Box::new(a.id.as_bytes().to_vec()),
                    Box::new(alert_doc(&a.id).as_bytes().to_vec()),
                    Box::new(to_json(a)),
                ],
            )),
            Write::DeleteAlert(id) => ops.push(Op::new(ALERT_DELETE, vec![Box::new(id.as_bytes().to_vec())])),
            Write::Dirty { doc, dirty } => {
                ops.push(Op::new(if *dirty { DIRTY_INSERT } else { DIRTY_DELETE }, vec![Box::new(doc.to_string())]))
            }
        }
    }
    if *head != head_before {
        ops.push(Op::new(AUDIT_HEAD_PUT, vec![Box::new(big(head.seq)), Box::new(head.hash.clone())]));
    }
    ops
}

fn user_params(user: &crate::store::User) -> Vec<Param> {
    vec![Box::new(user.id.clone()), Box::new(user.username.clone()), Box::new(to_json(user))]
}

fn audit_op(r: &crate::store::AuditRecord) -> Op {
    Op::new(
        AUDIT_PUT,
        vec![
            Box::new(big(r.seq)),
            Box::new(r.entry.at),
            Box::new(r.entry.user.clone()),
            Box::new(r.entry.action.clone()),
            Box::new(to_json(r)),
        ],
    )
}
