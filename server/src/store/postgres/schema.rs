//! The PostgreSQL schema and its migrations.
//!
//! Plain SQL that PostgreSQL-compatible distributed engines (CockroachDB, YugabyteDB) run
//! too: tables with real key columns, `bytea` bodies, no triggers, no stored procedures,
//! no advisory locks. Every table is prefixed `linli_`, so the store can share a database.
//!
//! Bodies are the records' JSON as bytes (the same bytes the sled engine keeps), not
//! `jsonb`: `jsonb` refuses the character U+0000, which a document's text may carry, and a
//! store must never refuse a record for its content (`convert_from(body, 'UTF8')::jsonb`
//! reads one in `psql`). For the same reason the key columns filled from documents' text
//! (a projection's grid, an alert's id) are `bytea`; the others hold identifiers the
//! server makes or validates. Text keys are `COLLATE "C"`: they sort by bytes, as in sled,
//! whatever the database's locale.
//!
//! Migrations are applied at start and by `linli migrate`. Each one is a transaction that
//! first inserts its row into `linli_schema_versions` (`ON CONFLICT DO NOTHING`): two
//! servers starting together on a new database queue on that row, one applies the
//! migration and the other finds it applied. The DDL is `IF NOT EXISTS` as well, so a
//! migration interrupted half-way (on an engine without transactional DDL) is finished by
//! the next start.

use super::{classify, PgError};
use deadpool_postgres::tokio_postgres::error::SqlState;
use deadpool_postgres::Client;

/// One step of the schema.
#[derive(Debug)]
pub(crate) struct Migration {
    pub version: i32,
    pub description: &'static str,
    pub sql: &'static str,
}

/// Every migration, oldest first. Never edit one that has shipped: add the next.
pub(crate) const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    description: "every store trait: chunks, meta, users, grids, sessions, actors, audit, quarantine, projections",
    sql: r#"
CREATE TABLE IF NOT EXISTS linli_chunks (
    doc      TEXT COLLATE "C" NOT NULL,
    snapshot BOOLEAN NOT NULL,
    hash     BYTEA NOT NULL,
    bytes    BYTEA NOT NULL,
    PRIMARY KEY (doc, snapshot, hash)
);
CREATE TABLE IF NOT EXISTS linli_meta (
    key   TEXT COLLATE "C" PRIMARY KEY,
    value BYTEA NOT NULL
);
CREATE TABLE IF NOT EXISTS linli_users (
    id       TEXT COLLATE "C" PRIMARY KEY,
    username TEXT COLLATE "C" NOT NULL UNIQUE,
    body     BYTEA NOT NULL
);
CREATE TABLE IF NOT EXISTS linli_grids (
    id   TEXT COLLATE "C" PRIMARY KEY,
    body BYTEA NOT NULL
);
CREATE TABLE IF NOT EXISTS linli_revocations (
    id         TEXT COLLATE "C" PRIMARY KEY,
    until_secs BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS linli_sessions_not_before (
    user_id TEXT COLLATE "C" PRIMARY KEY,
    secs    BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS linli_actors (
    actor   BYTEA PRIMARY KEY,
    user_id TEXT COLLATE "C" NOT NULL
);
CREATE TABLE IF NOT EXISTS linli_audit (
    seq     BIGINT PRIMARY KEY,
    at_ms   BIGINT NOT NULL,
    user_id TEXT COLLATE "C" NOT NULL,
    action  TEXT COLLATE "C" NOT NULL,
    body    BYTEA NOT NULL
);
CREATE INDEX IF NOT EXISTS linli_audit_by_user ON linli_audit (user_id, seq);
CREATE TABLE IF NOT EXISTS linli_audit_head (
    id   SMALLINT PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash TEXT COLLATE "C" NOT NULL
);
INSERT INTO linli_audit_head (id, seq, hash)
    VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000')
    ON CONFLICT (id) DO NOTHING;
CREATE TABLE IF NOT EXISTS linli_quarantine (
    id    TEXT COLLATE "C" PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    cost  BIGINT NOT NULL,
    body  BYTEA NOT NULL
);
CREATE INDEX IF NOT EXISTS linli_quarantine_by_time ON linli_quarantine (at_ms, id);
CREATE TABLE IF NOT EXISTS linli_proj_rows (
    doc  TEXT COLLATE "C" PRIMARY KEY,
    grid BYTEA NOT NULL,
    body BYTEA NOT NULL
);
CREATE INDEX IF NOT EXISTS linli_proj_rows_by_grid ON linli_proj_rows (grid, doc);
CREATE TABLE IF NOT EXISTS linli_grants (
    household TEXT COLLATE "C" NOT NULL,
    holder    TEXT COLLATE "C" NOT NULL,
    via       TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (household, holder, via)
);
CREATE TABLE IF NOT EXISTS linli_alerts (
    id   BYTEA PRIMARY KEY,
    doc  BYTEA NOT NULL,
    body BYTEA NOT NULL
);
CREATE INDEX IF NOT EXISTS linli_alerts_by_doc ON linli_alerts (doc, id);
CREATE TABLE IF NOT EXISTS linli_dirty (
    doc TEXT COLLATE "C" PRIMARY KEY
);
"#,
}];

/// The schema version this build writes.
pub(crate) fn current_version() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

const VERSIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS linli_schema_versions (
    version     INTEGER PRIMARY KEY,
    description TEXT NOT NULL,
    applied_at  TIMESTAMPTZ NOT NULL DEFAULT now()
)";

/// What [`migrate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    /// The versions this call applied (none if another starter or an earlier start did).
    pub applied: Vec<i32>,
    pub version: i32,
}

/// Brings the schema up to [`current_version`]; safe to run from several processes at
/// once, and again and again.
pub(crate) async fn migrate(client: &mut Client) -> Result<Migrated, PgError> {
    if let Err(e) = client.batch_execute(VERSIONS_TABLE).await {
        // Two starters racing to create the table: the loser sees the table, or its row
        // type, already made (a unique violation in the catalog, `duplicate_table`, or
        // `duplicate_object`: 'type "linli_schema_versions" already exists').
        let raced = e.code().is_some_and(|c| {
            *c == SqlState::UNIQUE_VIOLATION || *c == SqlState::DUPLICATE_TABLE || *c == SqlState::DUPLICATE_OBJECT
        });
        if !raced {
            return Err(classify(e));
        }
    }
    let newest = newest_applied(client).await?;
    if newest > current_version() {
        return Err(PgError::Schema(format!(
            "the database's schema is version {newest}, newer than this linli knows ({}): upgrade linli",
            current_version()
        )));
    }
    let mut applied = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| m.version > newest) {
        let tx = client.transaction().await.map_err(classify)?;
        let claimed = tx
            .execute(
                "INSERT INTO linli_schema_versions (version, description) VALUES ($1, $2) ON CONFLICT (version) DO NOTHING",
                &[&m.version, &m.description],
            )
            .await
            .map_err(classify)?;
        if claimed == 1 {
            tx.batch_execute(m.sql).await.map_err(classify)?;
            applied.push(m.version);
        }
        tx.commit().await.map_err(classify)?;
    }
    Ok(Migrated { applied, version: current_version() })
}

/// Checks that the schema is there and current, without changing anything (read-only
/// commands).
pub(crate) async fn require_current(client: &Client) -> Result<(), PgError> {
    let exists: bool = client
        .query_one("SELECT to_regclass('linli_schema_versions') IS NOT NULL", &[])
        .await
        .map_err(classify)?
        .get(0);
    if !exists {
        return Err(PgError::Schema("this database holds no Linli store (run `linli migrate`)".into()));
    }
    let newest = newest_applied(client).await?;
    if newest != current_version() {
        return Err(PgError::Schema(format!(
            "the database's schema is version {newest} and this linli needs {} (run `linli migrate`)",
            current_version()
        )));
    }
    Ok(())
}

async fn newest_applied(client: &Client) -> Result<i32, PgError> {
    let row =
        client.query_one("SELECT coalesce(max(version), 0) FROM linli_schema_versions", &[]).await.map_err(classify)?;
    Ok(row.get(0))
}
