//! `linli serve --demo`: a small believable community on an empty store, so a newcomer
//! can log in at once. The passwords are printed and are for demonstration only.

use crate::auth::{NewUser, Role, Users};
use crate::store::{Store, Write};
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
pub async fn seed(store: &Store) -> anyhow::Result<Vec<Login>> {
    let users = Users::new(store.clone());
    if !users.list().await?.is_empty() {
        if users.by_username("admin").await?.is_none() {
            anyhow::bail!("--demo needs an empty store or one seeded by --demo; this one has other users");
        }
        return Ok(logins());
    }
    for (id, name) in GRIDS {
        crate::grids::add(store, id, name).await?;
    }
    for login in logins() {
        users
            .add(NewUser {
                username: login.username.to_owned(),
                password: login.password.to_owned(),
                role: login.role,
                grids: login.grids.iter().map(|g| (*g).to_owned()).collect(),
            })
            .await?;
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
    println!("In the app, log in as one of them. Through the API:");
    println!("Log in:  curl -s -X POST http://{addr}/api/auth/login -H 'content-type: application/json' \\");
    println!("           -d '{{\"username\":\"wang.coord\",\"password\":\"demo-coord-2026\"}}'");
    println!("Sync:    ws://{addr}/sync?token=<token>   (automerge-repo WebSocket client)");
}

/// A document the demo wrote, for the projector to index once the server runs.
pub type Seeded = Vec<(linli_shared::DocumentId, linli_shared::domain::DomainDoc)>;

const PRIORITIES: [&str; 3] = ["urgent", "high", "normal"];
const REASONS: [&str; 4] = ["returnee", "close_contact", "home_isolation", "close_contact"];

const SURNAMES: [&str; 20] = [
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭", "何", "高", "林",
    "罗",
];
const GIVEN: [&str; 20] = [
    "秀英", "建国", "桂兰", "志强", "玉珍", "国华", "淑芬", "德明", "丽娟", "海涛", "凤英", "春生", "文静", "晓东",
    "美玲", "永福", "雪梅", "宏伟", "金花", "子轩",
];

/// Seeds households, tasks in every status and episodes with a few days of check-ins
/// (one of them abnormal three days running, which raises the plan's 3-day alert),
/// unless the store already has documents. Written as the server's own actor.
pub async fn seed_documents(
    store: &Store,
    server_actor: &automerge::ActorId,
    utc_offset_minutes: i32,
) -> anyhow::Result<Seeded> {
    use linli_shared::domain::{DomainDoc, DomainLimits};
    use serde_json::json;
    if !store.list_docs().await?.is_empty() {
        return Ok(Vec::new());
    }
    let ids: std::collections::HashMap<String, String> =
        store.users().await?.into_iter().map(|u| (u.username, u.id)).collect();
    let id_of = |name: &str| -> anyhow::Result<String> {
        ids.get(name).cloned().ok_or_else(|| anyhow::anyhow!("demo user {name} missing"))
    };
    let coord = [id_of("wang.coord")?, id_of("li.coord")?];
    let vols = [
        [id_of("chen.vol")?, id_of("liu.vol")?, id_of("yang.vol")?],
        [id_of("huang.vol")?, id_of("zhou.vol")?, id_of("wu.vol")?],
    ];
    let now = store.now_ms();
    let offset = chrono::FixedOffset::east_opt(utc_offset_minutes * 60)
        .unwrap_or_else(|| chrono::FixedOffset::east_opt(0).expect("utc"));
    let today =
        chrono::TimeZone::timestamp_millis_opt(&offset, now).single().map(|t| t.date_naive()).unwrap_or_default();
    let day = |d: i64| (today + chrono::Duration::days(d)).format("%Y-%m-%d").to_string();
    // Noon local time of day `d`, in ms: a plausible check-in time.
    let noon = |d: i64| {
        now - (now.rem_euclid(86_400_000)) + d * 86_400_000 - i64::from(utc_offset_minutes) * 60_000 + 12 * 3_600_000
    };

    let limits = DomainLimits::default();
    let mut seeded: Seeded = Vec::new();
    let mut batch: Vec<Write> = Vec::new();
    let mut write_at =
        |id: linli_shared::DocumentId, value: serde_json::Value| -> anyhow::Result<linli_shared::DocumentId> {
            let doc = DomainDoc::from_json(value)
                .map_err(|v| anyhow::anyhow!("demo document: {v}"))?
                .ok_or_else(|| anyhow::anyhow!("empty demo document"))?;
            doc.validate(&limits).map_err(|v| anyhow::anyhow!("demo document: {v}"))?;
            let mut am = automerge::AutoCommit::new().with_actor(server_actor.clone());
            doc.reconcile_into(&mut am).map_err(|e| anyhow::anyhow!("demo document: {e}"))?;
            batch.push(Write::Chunk { doc: id, bytes: am.save() });
            batch.push(Write::Dirty { doc: id, dirty: true });
            seeded.push((id, doc));
            Ok(id)
        };
    let mut write = |value: serde_json::Value| write_at(linli_shared::DocumentId::random(), value);

    let flags_for = |i: usize| -> Vec<&str> {
        match i % 8 {
            0 => vec!["elderly_alone"],
            1 => vec!["chronic"],
            2 => vec!["child_unattended"],
            3 => vec!["disabled"],
            4 => vec!["elderly_alone", "chronic"],
            _ => vec![],
        }
    };
    let mut households = [Vec::new(), Vec::new()];
    for i in 0..40usize {
        let g = i / 20;
        let building = g * 6 + 1 + (i % 20) / 4;
        let room = format!("{}0{}", 1 + i % 6, 1 + i % 3);
        let flags = flags_for(i);
        let medicines: Vec<&str> = if flags.contains(&"chronic") { vec!["胰岛素", "降压药"] } else { vec![] };
        let age = if flags.contains(&"elderly_alone") {
            70 + (i % 20) as u32
        } else if flags.contains(&"child_unattended") {
            9
        } else {
            30 + i as u32
        };
        let mut members = vec![json!({
            "name": format!("{}{}", SURNAMES[i % 20], GIVEN[(i * 7) % 20]),
            "age": age, "flags": flags, "medicines": medicines,
        })];
        if !flags.contains(&"elderly_alone") && i % 3 == 0 {
            members.push(json!({"name": format!("{}{}", SURNAMES[(i + 3) % 20], GIVEN[(i * 3) % 20]), "age": 35 + (i % 10) as u32, "flags": [], "medicines": []}));
        }
        let id = write(json!({
            "kind": "household", "schema": 1, "grid": GRIDS[g].0,
            "building": building.to_string(), "unit": ((i % 2) + 1).to_string(), "room": room,
            "phone": format!("1380013{:04}", 1000 + i), "notes": if flags.contains(&"disabled") { "轮椅出入，送货请上门" } else { "" },
            "members": members,
        }))?;
        households[g].push(id);
    }

    // Tasks in every status, in both grids.
    let chain = ["new", "assigned", "accepted", "picked_up", "delivered", "failed", "confirmed", "cancelled"];
    let items = [
        json!([{"name": "大米", "qty": 5, "unit": "kg"}, {"name": "鸡蛋", "qty": 30, "unit": "个"}]),
        json!([{"name": "胰岛素", "qty": 2, "unit": "支"}]),
        json!([{"name": "青菜", "qty": 2, "unit": "kg"}, {"name": "食用油", "qty": 1, "unit": "桶"}]),
    ];
    for g in 0..2 {
        for (n, status) in chain.iter().enumerate() {
            for copy in 0..2 {
                let k = n * 2 + copy;
                let household = households[g][k % households[g].len()];
                let assignee = if *status == "new" || (*status == "cancelled" && copy == 0) {
                    None
                } else {
                    Some(vols[g][k % 3].clone())
                };
                let category = ["food", "medicine", "supplies"][k % 3];
                // The path this task took to reach its status, logged as it happened.
                let path: &[&str] = match *status {
                    "assigned" => &["new", "assigned"],
                    "accepted" => &["new", "assigned", "accepted"],
                    "picked_up" => &["new", "assigned", "accepted", "picked_up"],
                    "delivered" => &["new", "assigned", "accepted", "picked_up", "delivered"],
                    "failed" => &["new", "assigned", "accepted", "picked_up", "failed"],
                    "confirmed" => &["new", "assigned", "accepted", "picked_up", "delivered", "confirmed"],
                    "cancelled" if assignee.is_some() => &["new", "assigned", "cancelled"],
                    "cancelled" => &["new", "cancelled"],
                    _ => &["new"],
                };
                let created = now - 6 * 3_600_000 + (k as i64) * 60_000;
                let log: Vec<_> = path
                    .windows(2)
                    .enumerate()
                    .map(|(step, w)| {
                        let by = if matches!(w[1], "assigned" | "confirmed" | "cancelled") { coord[g].clone() } else { assignee.clone().unwrap_or_else(|| coord[g].clone()) };
                        json!({"at": created + (step as i64 + 1) * 600_000, "by": by, "from": w[0], "to": w[1], "note": if w[1] == "failed" { "家中无人，电话未接" } else { "" }})
                    })
                    .collect();
                // Open work due soon; one of each grid already overdue.
                let due =
                    if *status == "accepted" && copy == 0 { now - 3_600_000 } else { now + (k as i64 + 1) * 3_600_000 };
                write(json!({
                    "kind": "task", "schema": 1, "grid": GRIDS[g].0, "household": household.to_string(),
                    "category": category, "items": items[k % 3].clone(),
                    "priority": PRIORITIES[k % 3], "due": due, "contactless": true,
                    "assignee": assignee, "status": status,
                    "failure_reason": if *status == "failed" { Some("家中无人，电话未接") } else { None },
                    "log": log, "created_by": coord[g].clone(), "created_at": created,
                }))?;
            }
        }
    }

    // Home isolation: four active episodes per grid with check-ins on the past days.
    for g in 0..2 {
        for e in 0..4usize {
            let household = households[g][10 + e];
            let volunteer = vols[g][e % 3].clone();
            let mut checkins = serde_json::Map::new();
            for d in -4i64..0 {
                // Episode 0 of grid 0 is abnormal three days running (the plan's 3-day rule).
                let fever = g == 0 && e == 0 && d >= -3;
                let temp = if fever { 37.5 + 0.1 * (d + 3) as f64 } else { 36.3 + 0.1 * (e as f64) };
                let symptoms: Vec<&str> = if fever { vec!["fever", "cough"] } else { vec![] };
                checkins.insert(
                    format!("{}/0", day(d)),
                    json!({"temp_c": (temp * 10.0).round() / 10.0, "symptoms": symptoms, "method": if e % 2 == 0 { "visit" } else { "phone" }, "note": "", "by": volunteer, "at": noon(d)}),
                );
            }
            // The episode, and its readings beside it (DESIGN §9); the server makes its
            // medical record.
            let id = linli_shared::DocumentId::random();
            let readings = crate::projector::readings::readings_id(&id);
            let status = if g == 0 && e == 0 { "escalated" } else { "active" };
            write_at(
                id,
                json!({
                    "kind": "episode", "schema": 3, "grid": GRIDS[g].0, "household": household.to_string(),
                    "person": {"name": format!("{}{}", SURNAMES[(e * 5 + g) % 20], GIVEN[(e * 11 + g) % 20]), "age": 25 + 10 * e as u32},
                    "reason": REASONS[e],
                    "start": day(-4), "end": day(9), "slots": 1, "assignee": volunteer,
                    "status": status, "closed_at": null,
                    "readings": readings.to_string(), "medical": null, "erased": false,
                }),
            )?;
            write_at(
                readings,
                json!({
                    "kind": "readings", "schema": 1, "grid": GRIDS[g].0, "episode": id.to_string(),
                    "household": household.to_string(), "start": day(-4), "end": day(9), "slots": 1,
                    "assignee": volunteer, "status": status, "checkins": checkins,
                }),
            )?;
        }
    }
    // One batch: the demo is there whole, or not at all.
    store.commit(batch).await?;
    Ok(seeded)
}
