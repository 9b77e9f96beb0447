//! How the key-value engines (sled, memory) lay records out: one table per kind of
//! record, and the key of each record. The layout of stores written before the store
//! traits existed, so they open unchanged; the audit log moved from `audit` (keyed by
//! time) to `audit_log` (keyed by sequence number, hash-chained), migrated at open.

use crate::store::{AccessGrant, ChunkKey, Holder, StoreError};
use linli_shared::DocumentId;

/// One table (a sled tree).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// `doc/<id>/<c|s>/<hex>` → chunk bytes.
    Docs,
    /// key → bytes.
    Meta,
    /// user id → JSON [`crate::store::User`].
    Users,
    /// username → user id.
    Usernames,
    /// grid id → JSON [`crate::store::Grid`].
    Grids,
    /// `revoked/<id>` → until (u64 BE seconds); `notbefore/<user>` → seconds (u64 BE).
    Sessions,
    /// Automerge actor bytes → user id.
    Actors,
    /// Before the chain: `<at ms BE><id BE>` → JSON [`crate::store::AuditEntry`].
    LegacyAudit,
    /// `<seq BE>` → JSON [`crate::store::AuditRecord`].
    AuditLog,
    /// entry id → JSON [`crate::store::QuarantineEntry`].
    Quarantine,
    /// document id → JSON [`crate::store::ProjRow`].
    Proj,
    /// `<household>/<user id | #episode>/<via>` → empty.
    Access,
    /// alert id (`<doc>/<key>`) → JSON [`crate::store::Alert`].
    Alerts,
    /// document id → empty: accepted, not yet projected.
    Dirty,
}

impl Table {
    pub(crate) const ALL: [Table; 14] = [
        Table::Docs,
        Table::Meta,
        Table::Users,
        Table::Usernames,
        Table::Grids,
        Table::Sessions,
        Table::Actors,
        Table::LegacyAudit,
        Table::AuditLog,
        Table::Quarantine,
        Table::Proj,
        Table::Access,
        Table::Alerts,
        Table::Dirty,
    ];

    /// The sled tree name (as stores before the traits named them).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Table::Docs => "docs",
            Table::Meta => "meta",
            Table::Users => "users",
            Table::Usernames => "usernames",
            Table::Grids => "grids",
            Table::Sessions => "sessions",
            Table::Actors => "actors",
            Table::LegacyAudit => "audit",
            Table::AuditLog => "audit_log",
            Table::Quarantine => "quarantine",
            Table::Proj => "proj",
            Table::Access => "access",
            Table::Alerts => "alerts",
            Table::Dirty => "dirty",
        }
    }

    pub(crate) fn index(self) -> usize {
        Table::ALL.iter().position(|t| *t == self).unwrap_or(0)
    }
}

pub(crate) fn revoked_key(id: &str) -> Vec<u8> {
    format!("revoked/{id}").into_bytes()
}

pub(crate) fn not_before_key(user: &str) -> Vec<u8> {
    format!("notbefore/{user}").into_bytes()
}

pub(crate) fn be_u64(v: &[u8]) -> u64 {
    v.try_into().map(u64::from_be_bytes).unwrap_or(0)
}

/// `<household>/<holder>/`: every grant of one holder on one household starts with this.
pub(crate) fn grant_prefix(household: &DocumentId, holder: &Holder) -> Vec<u8> {
    match holder {
        Holder::User(id) => format!("{household}/{id}/"),
        Holder::OpenEpisode => format!("{household}/#episode/"),
    }
    .into_bytes()
}

pub(crate) fn grant_key(g: &AccessGrant) -> Vec<u8> {
    let mut k = grant_prefix(&g.household, &g.holder);
    k.extend_from_slice(g.via.to_string().as_bytes());
    k
}

pub(crate) fn parse_grant(key: &[u8]) -> Option<AccessGrant> {
    let s = std::str::from_utf8(key).ok()?;
    let mut parts = s.splitn(3, '/');
    let household = parts.next()?.parse().ok()?;
    let holder = match parts.next()? {
        "#episode" => Holder::OpenEpisode,
        user => Holder::User(user.to_owned()),
    };
    let via = parts.next()?.parse().ok()?;
    Some(AccessGrant { household, holder, via })
}

pub(crate) fn chunk_key(key: &[u8]) -> Result<ChunkKey, StoreError> {
    ChunkKey::decode(key)
        .ok_or_else(|| StoreError::Corrupt(format!("unreadable chunk key {:?}", String::from_utf8_lossy(key))))
}

pub(crate) fn json<T: serde::de::DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(format!("{what} record: {e}")))
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // Records are plain data: serialising them cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn grant_keys_round_trip() {
        let g = AccessGrant {
            household: DocumentId::random(),
            holder: Holder::User("u-1".into()),
            via: DocumentId::random(),
        };
        assert_eq!(parse_grant(&grant_key(&g)), Some(g.clone()));
        assert!(grant_key(&g).starts_with(&grant_prefix(&g.household, &g.holder)));
        let e = AccessGrant { holder: Holder::OpenEpisode, ..g };
        assert_eq!(parse_grant(&grant_key(&e)), Some(e));
    }
}
