//! The JSON shapes of users and grids in API answers (never a password hash).

use crate::store::{Grid, User};
use linli_shared::domain::Role;
use serde_json::json;

pub fn user_json(u: &User) -> serde_json::Value {
    json!({"id": u.id, "username": u.username, "role": u.role, "grids": u.grids, "disabled": u.disabled})
}

/// A grid, with the URL of the index document the `viewer` may open, and only that one:
/// `index` (the grid index, for coordinators and admins) or `medic_index` (its episodes
/// and the households with an open episode: medics may not read the grid index).
/// Volunteers get neither: their work is in their inbox.
pub fn grid_json(g: &Grid, viewer: Role) -> serde_json::Value {
    let mut v = json!({
        "id": g.id, "name": g.name, "risk_level": g.risk_level,
        "policy": g.risk_level.policy(), "risk_history": g.risk_history,
    });
    match viewer {
        Role::Admin | Role::Coordinator => v["index"] = json!(g.index.to_url()),
        Role::Medic => v["medic_index"] = json!(crate::grids::medic_index(g).to_url()),
        Role::Volunteer => {}
    }
    v
}
