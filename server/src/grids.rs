//! Grids (网格): the unit a coordinator is responsible for, and its risk level.

use crate::store::{Conflict, Store, StoreError, Write};
use linli_shared::DocumentId;

pub use crate::store::{Grid, RiskChange};
pub use linli_shared::domain::{RiskLevel, RiskPolicy as Policy};

#[derive(Debug, thiserror::Error)]
pub enum GridError {
    #[error("grid id must be 1 to 32 letters, digits, '_' or '-'")]
    BadId,
    #[error("grid name must be 1 to 64 characters")]
    BadName,
    #[error("grid `{0}` already exists")]
    Exists(String),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for GridError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(Conflict::Grid(id)) => GridError::Exists(id),
            e => GridError::Store(e),
        }
    }
}

/// Creates a grid at risk level `low`. Durable on return.
/// The id of a grid's medic index document (DESIGN §9: what its medics may see of its
/// work). Derived from the grid index's id, so it needs no record of its own, and as
/// unguessable as that one.
pub fn medic_index(grid: &Grid) -> DocumentId {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"linli medic-index\0");
    h.update(grid.index.as_bytes());
    let digest = h.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    DocumentId::from_bytes(bytes)
}

pub async fn add(store: &Store, id: &str, name: &str) -> Result<Grid, GridError> {
    if id.is_empty() || id.len() > 32 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err(GridError::BadId);
    }
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(GridError::BadName);
    }
    let grid = Grid {
        id: id.to_owned(),
        name: name.to_owned(),
        risk_level: RiskLevel::Low,
        index: DocumentId::random(),
        risk_history: vec![RiskChange { level: RiskLevel::Low, at: store.now_ms(), by: "server".into() }],
    };
    store.commit(vec![Write::InsertGrid(grid.clone())]).await?;
    Ok(grid)
}

pub async fn get(store: &Store, id: &str) -> Result<Option<Grid>, GridError> {
    Ok(store.grid(id).await?)
}

/// Sets a grid's risk level, keeping the history; `also` commits with it (its audit
/// entry). Durable on return.
pub async fn set_risk(
    store: &Store,
    id: &str,
    level: RiskLevel,
    by: &str,
    also: Vec<Write>,
) -> Result<Option<Grid>, GridError> {
    let Some(mut grid) = get(store, id).await? else { return Ok(None) };
    grid.risk_level = level;
    grid.risk_history.push(RiskChange { level, at: store.now_ms(), by: by.to_owned() });
    let mut batch = vec![Write::UpdateGrid(grid.clone())];
    batch.extend(also);
    store.commit(batch).await?;
    Ok(Some(grid))
}

pub async fn list(store: &Store) -> Result<Vec<Grid>, GridError> {
    Ok(store.grids().await?)
}
