//! The JSON shapes of users and grids in API answers (never a password hash).

use crate::store::{Grid, User};
use serde_json::json;

pub fn user_json(u: &User) -> serde_json::Value {
    json!({"id": u.id, "username": u.username, "role": u.role, "grids": u.grids, "disabled": u.disabled})
}

/// A grid, with its index documents' URLs for those who may open one: `index` (the grid
/// index, for coordinators and admins) and `medic_index` (its episodes and the households
/// with an open episode, which is what medics open: they may not read the grid index).
pub fn grid_json(g: &Grid, with_index: bool) -> serde_json::Value {
    let mut v = json!({
        "id": g.id, "name": g.name, "risk_level": g.risk_level,
        "policy": g.risk_level.policy(), "risk_history": g.risk_history,
    });
    if with_index {
        v["index"] = json!(g.index.to_url());
        v["medic_index"] = json!(crate::grids::medic_index(g).to_url());
    }
    v
}
