//! `linli serve --demo`: a small believable community on an empty store, so a newcomer
//! can log in at once. The passwords are printed and are for demonstration only.

use crate::auth::{NewUser, Role, Users};
use crate::db::Db;
use std::net::SocketAddr;

/// One printed login.
#[derive(Debug, Clone)]
pub struct Login {
    pub username: &'static str,
    pub password: &'static str,
    pub role: Role,
    pub grids: Vec<&'static str>,
}

const GRIDS: [(&str, &str); 2] = [("g1", "一网格 · 幸福里1-6栋"), ("g2", "二网格 · 幸福里7-12栋")];

fn logins() -> Vec<Login> {
    let l =
        |username, password, role, grids: &[&'static str]| Login { username, password, role, grids: grids.to_vec() };
    vec![
        l("admin", "demo-admin-2026", Role::Admin, &[]),
        l("wang.coord", "demo-coord-2026", Role::Coordinator, &["g1"]),
        l("li.coord", "demo-coord-2026", Role::Coordinator, &["g2"]),
        l("zhao.medic", "demo-medic-2026", Role::Medic, &["g1", "g2"]),
        l("chen.vol", "demo-vol-2026", Role::Volunteer, &["g1"]),
        l("liu.vol", "demo-vol-2026", Role::Volunteer, &["g1"]),
        l("yang.vol", "demo-vol-2026", Role::Volunteer, &["g1"]),
        l("huang.vol", "demo-vol-2026", Role::Volunteer, &["g2"]),
        l("zhou.vol", "demo-vol-2026", Role::Volunteer, &["g2"]),
        l("wu.vol", "demo-vol-2026", Role::Volunteer, &["g2"]),
    ]
}

/// Seeds the demo community if the store has no users yet; returns the logins either way
/// (an already-seeded demo store keeps its data, and its logins are still these).
pub fn seed(db: &Db) -> anyhow::Result<Vec<Login>> {
    let users = Users::new(db.clone());
    if users.count() > 0 {
        if users.by_username("admin")?.is_none() {
            anyhow::bail!("--demo needs an empty store or one seeded by --demo; this one has other users");
        }
        return Ok(logins());
    }
    for (id, name) in GRIDS {
        crate::grids::add(db, id, name)?;
    }
    for login in logins() {
        users.add(NewUser {
            username: login.username.to_owned(),
            password: login.password.to_owned(),
            role: login.role,
            grids: login.grids.iter().map(|g| (*g).to_owned()).collect(),
        })?;
    }
    Ok(logins())
}

pub fn print_logins(logins: &[Login], addr: SocketAddr) {
    println!();
    println!("Demo community (passwords are for this demo only):");
    println!("  {:<12} {:<18} {:<12} grids", "username", "password", "role");
    for l in logins {
        println!("  {:<12} {:<18} {:<12} {}", l.username, l.password, l.role.to_string(), l.grids.join(","));
    }
    println!();
    println!("Log in:  curl -s -X POST http://{addr}/api/auth/login -H 'content-type: application/json' \\");
    println!("           -d '{{\"username\":\"wang.coord\",\"password\":\"demo-coord-2026\"}}'");
    println!("Sync:    ws://{addr}/sync?token=<token>   (automerge-repo WebSocket client)");
}
