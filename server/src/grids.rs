//! Grids (网格): the unit a coordinator is responsible for. Stored in the `grids` tree.

use crate::db::{Db, DbError};
use linli_shared::DocumentId;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Grid {
    pub id: String,
    pub name: String,
    pub risk_level: RiskLevel,
    /// The grid's server-authored `grid-index` document.
    pub index: DocumentId,
    /// Every change of risk level, oldest first.
    pub risk_history: Vec<RiskChange>,
}

/// The plan's three risk levels (低/中/高风险).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RiskLevel {
    Low,
    Medium,
    High,
}

impl std::str::FromStr for RiskLevel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "low" => Ok(RiskLevel::Low),
            "medium" => Ok(RiskLevel::Medium),
            "high" => Ok(RiskLevel::High),
            other => Err(format!("unknown risk level `{other}` (low, medium or high)")),
        }
    }
}

/// What a risk level asks of the grid's work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Policy {
    /// Health check-ins per day for people in home isolation.
    pub checkins_per_day: u32,
    /// Deliveries are left at the door, without contact.
    pub contactless: bool,
}

impl RiskLevel {
    /// Low risk: one check-in a day. Medium and high: morning and evening temperature,
    /// and contactless delivery (the plan's closed management of medium/high-risk areas).
    pub fn policy(self) -> Policy {
        match self {
            RiskLevel::Low => Policy { checkins_per_day: 1, contactless: false },
            RiskLevel::Medium => Policy { checkins_per_day: 2, contactless: true },
            RiskLevel::High => Policy { checkins_per_day: 2, contactless: true },
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RiskChange {
    pub level: RiskLevel,
    pub at: i64,
    pub by: String,
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
    let grid = Grid {
        id: id.to_owned(),
        name: name.to_owned(),
        risk_level: RiskLevel::Low,
        index: DocumentId::random(),
        risk_history: vec![RiskChange { level: RiskLevel::Low, at: db.now_ms(), by: "server".into() }],
    };
    let json = serde_json::to_vec(&grid).map_err(|e| DbError::Corrupt(e.to_string()))?;
    if db.grids.compare_and_swap(id.as_bytes(), None as Option<&[u8]>, Some(json))?.is_err() {
        return Err(GridError::Exists(id.to_owned()));
    }
    db.durable()?;
    Ok(grid)
}

pub fn get(db: &Db, id: &str) -> Result<Option<Grid>, GridError> {
    match db.grids.get(id.as_bytes())? {
        Some(v) => Ok(Some(serde_json::from_slice(&v).map_err(|e| DbError::Corrupt(format!("grid record: {e}")))?)),
        None => Ok(None),
    }
}

/// Sets a grid's risk level, keeping the history. Durable on return.
pub fn set_risk(db: &Db, id: &str, level: RiskLevel, by: &str) -> Result<Option<Grid>, GridError> {
    let Some(mut grid) = get(db, id)? else { return Ok(None) };
    grid.risk_level = level;
    grid.risk_history.push(RiskChange { level, at: db.now_ms(), by: by.to_owned() });
    let json = serde_json::to_vec(&grid).map_err(|e| DbError::Corrupt(e.to_string()))?;
    db.grids.insert(id.as_bytes(), json)?;
    db.durable()?;
    Ok(Some(grid))
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
