//! The JSON shapes of users and grids in API answers (never a password hash).

use crate::store::{Grid, User};
use serde_json::json;

pub fn user_json(u: &User) -> serde_json::Value {
    json!({"id": u.id, "username": u.username, "role": u.role, "grids": u.grids, "disabled": u.disabled})
}

/// A grid, with its index document's URL for those who may open it.
pub fn grid_json(g: &Grid, with_index: bool) -> serde_json::Value {
    let mut v = json!({
        "id": g.id, "name": g.name, "risk_level": g.risk_level,
        "policy": g.risk_level.policy(), "risk_history": g.risk_history,
    });
    if with_index {
        v["index"] = json!(g.index.to_url());
    }
    v
}
