//! Moving a store into PostgreSQL (issue 10): `linli copy --from DIR --to postgres://…`
//! carries a real sled store over whole — every document's chunks (so its heads), user,
//! grid, alert, audit entry (the chain verifies), projection and grant — and `linli
//! backup`, `restore` and `check` work on PostgreSQL, a failed restore leaving nothing.
//!
//! "Equal" is checked as strictly as it can be: a backup of the copy is byte for byte the
//! backup of the original (both engines export every record in the same order).

use anyhow::{ensure, Context};
use linli_shared::DocumentId;
use linli_tests::api::get_ok;
use linli_tests::backup::{parse_backup, write_backup};
use linli_tests::postgres::{self, PgCluster};
use linli_tests::server::linli_cli;
use linli_tests::ServerProcess;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// The demo community's administrator (`linli serve --demo`).
const ADMIN: (&str, &str) = ("admin", "demo-admin-2026");

/// Records of a backup, counted by kind (for a readable failure).
fn kinds(backup: &[u8]) -> BTreeMap<char, usize> {
    let mut n = BTreeMap::new();
    for (tag, _) in parse_backup(backup) {
        *n.entry(tag as char).or_default() += 1;
    }
    n
}

fn backup_of(data: &Path, file: &Path) -> anyhow::Result<Vec<u8>> {
    linli_cli(data, &["backup", &file.to_string_lossy()], "")?;
    Ok(std::fs::read(file)?)
}

fn count(url: &str, table: &str) -> anyhow::Result<i64> {
    Ok(postgres::psql(url, &format!("SELECT count(*) FROM {table}"))?.trim().parse()?)
}

/// What a coordinator's and an administrator's screens show: alerts, a dashboard, users.
async fn answers(server: &ServerProcess) -> anyhow::Result<Vec<serde_json::Value>> {
    let token = server.login(ADMIN.0, ADMIN.1).await?;
    let mut out = Vec::new();
    for path in ["/api/alerts", "/api/grids/g1/dashboard", "/api/grids/g2/dashboard", "/api/users", "/api/grids"] {
        out.push(get_ok(server, &token, path).await?);
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sled_store_copied_into_postgres_is_the_same_store() -> anyhow::Result<()> {
    if !postgres::available()? {
        return Ok(());
    }
    if postgres::enabled() {
        eprintln!("this test copies a sled store into PostgreSQL: it runs in the sled pass of make test");
        return Ok(());
    }
    let own_cluster;
    let admin_url = match postgres::admin_url() {
        Ok(url) => url,
        Err(_) => {
            own_cluster = PgCluster::start()?;
            own_cluster.url.clone()
        }
    };
    let dir = tempfile::tempdir()?;
    let sled = dir.path().join("sled");

    // A real store with every kind of record: the demo community, projected (inboxes,
    // grid indexes, projections, grants, alerts), and audited.
    let mut server = ServerProcess::start(&sled, 0, &["--demo"]).await?;
    let token = server.login(ADMIN.0, ADMIN.1).await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while get_ok(&server, &token, "/api/alerts").await?["alerts"].as_array().is_none_or(|a| a.is_empty()) {
        ensure!(tokio::time::Instant::now() < deadline, "the demo community raised no alert:\n{}", server.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let csv = reqwest::Client::new()
        .get(server.http("/api/export/tasks.csv?purpose=copy-check"))
        .bearer_auth(&token)
        .send()
        .await?
        .error_for_status()?;
    drop(csv.text().await?);
    let served_from_sled = answers(&server).await?;
    server.kill9().await?;

    // The copy.
    let url = postgres::create_database(&admin_url)?;
    let out = linli_cli(&dir.path().join("unused"), &["copy", "--from", &sled.to_string_lossy(), "--to", &url], "")?;
    let password = url.split("://").nth(1).and_then(|rest| rest.split('@').next()).and_then(|u| u.split(':').nth(1));
    ensure!(out.contains("copied") && password.is_none_or(|p| !out.contains(p)), "{out}");
    let on_pg = dir.path().join("pg");
    postgres::use_database(&on_pg, &url)?;

    // Record for record the same store.
    let original = backup_of(&sled, &dir.path().join("sled.bak"))?;
    let copied = backup_of(&on_pg, &dir.path().join("pg.bak"))?;
    ensure!(kinds(&original).get(&'L').copied().unwrap_or(0) > 0, "the demo store has audit entries");
    ensure!(kinds(&original).get(&'E').copied().unwrap_or(0) > 0, "and alerts");
    ensure!(kinds(&original).get(&'P').copied().unwrap_or(0) > 0, "and projections");
    ensure!(kinds(&original) == kinds(&copied), "records by kind: {:?} vs {:?}", kinds(&original), kinds(&copied));
    ensure!(original == copied, "the copy's backup differs from the original's");
    let check = linli_cli(&on_pg, &["check"], "")?;
    ensure!(check.contains("store OK"), "{check}");

    // A server on the copy answers as the original did.
    let mut server = ServerProcess::start(&on_pg, 0, &[]).await?;
    ensure!(answers(&server).await? == served_from_sled, "the copy serves other answers");
    server.kill9().await?;

    // A restore goes into an empty database whole, or not at all.
    let target = postgres::create_database(&admin_url)?;
    let restored = dir.path().join("restored");
    postgres::use_database(&restored, &target)?;
    let mut records = parse_backup(&original);
    // More records than one import batch holds, then one that breaks a rule: a restore
    // that committed batch by batch would leave the first ones behind.
    for i in 0..2000u64 {
        let id = format!("revoked-token-{i}");
        let mut payload = (id.len() as u32).to_le_bytes().to_vec();
        payload.extend_from_slice(id.as_bytes());
        payload.extend_from_slice(&8u32.to_le_bytes());
        payload.extend_from_slice(&u64::MAX.to_be_bytes());
        records.push((b'R', payload));
    }
    let taken = serde_json::json!({
        "id": "u-late-twin", "username": ADMIN.0, "role": "admin", "grids": [],
        "inbox": DocumentId::random().to_string(), "password_hash": "x", "created_at": 1
    });
    records.push((b'U', serde_json::to_vec(&taken)?));
    let broken = dir.path().join("broken.bak");
    std::fs::write(&broken, write_backup(&records))?;
    let err = linli_cli(&restored, &["restore", &broken.to_string_lossy()], "").expect_err("a username taken twice");
    ensure!(err.to_string().contains("already exists"), "{err}");
    for table in [
        "linli_users",
        "linli_chunks",
        "linli_audit",
        "linli_alerts",
        "linli_proj_rows",
        "linli_meta",
        "linli_revocations",
    ] {
        ensure!(count(&target, table)? == 0, "a failed restore left rows in {table}");
    }
    linli_cli(&restored, &["restore", &dir.path().join("sled.bak").to_string_lossy()], "")
        .context("the same restore of a sound backup, tried again")?;
    ensure!(backup_of(&restored, &dir.path().join("restored.bak"))? == original, "restore → backup round trip");
    Ok(())
}
