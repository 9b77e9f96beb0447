//! Grids (网格): the unit a coordinator is responsible for. Stored in the `grids` tree.

use crate::db::{Db, DbError};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Grid {
    pub id: String,
    pub name: String,
    pub risk_level: String,
}

#[derive(Debug, thiserror::Error)]
pub enum GridError {
    #[error("grid id must be 1 to 32 letters, digits, '_' or '-'")]
    BadId,
    #[error("grid name must be 1 to 64 characters")]
    BadName,
    #[error("grid `{0}` already exists")]
    Exists(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<sled::Error> for GridError {
    fn from(e: sled::Error) -> Self {
        GridError::Db(DbError::Sled(e))
    }
}

/// Creates a grid at risk level `low`. Durable on return.
pub fn add(db: &Db, id: &str, name: &str) -> Result<Grid, GridError> {
    if id.is_empty() || id.len() > 32 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err(GridError::BadId);
    }
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(GridError::BadName);
    }
    let grid = Grid { id: id.to_owned(), name: name.to_owned(), risk_level: "low".to_owned() };
    let json = serde_json::to_vec(&grid).map_err(|e| DbError::Corrupt(e.to_string()))?;
    if db.grids.compare_and_swap(id.as_bytes(), None as Option<&[u8]>, Some(json))?.is_err() {
        return Err(GridError::Exists(id.to_owned()));
    }
    db.durable()?;
    Ok(grid)
}

pub fn list(db: &Db) -> Result<Vec<Grid>, GridError> {
    db.grids
        .iter()
        .values()
        .map(|v| {
            let v = v?;
            serde_json::from_slice(&v).map_err(|e| GridError::Db(DbError::Corrupt(format!("grid record: {e}"))))
        })
        .collect()
}
