//! Fresh databases for tests, on the throwaway cluster `make test` starts
//! (`tests/postgres/cluster.sh`), whose admin URL is `LINLI_TEST_POSTGRES`. Without it
//! the PostgreSQL tests are skipped with a warning, unless `LINLI_REQUIRE_POSTGRES=1`
//! (set by `make test`) makes that a failure: they never pass silently there.

use super::{PgEngine, PgOptions, SchemaUse};
use deadpool_postgres::tokio_postgres::{self, NoTls};

/// The cluster's admin URL, or `None` (the caller skips).
#[allow(clippy::panic)]
pub(crate) fn admin_url() -> Option<String> {
    match std::env::var("LINLI_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("LINLI_REQUIRE_POSTGRES").as_deref() == Ok("1") => {
            panic!("LINLI_TEST_POSTGRES is not set, and LINLI_REQUIRE_POSTGRES=1 requires the PostgreSQL tests")
        }
        _ => {
            eprintln!("SKIPPED: LINLI_TEST_POSTGRES is not set (make test starts a cluster and sets it)");
            None
        }
    }
}

/// `url` with its database replaced by `db`.
pub(crate) fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

/// Runs `sql` on the admin database.
#[allow(clippy::expect_used)]
pub(crate) async fn admin(admin: &str, sql: &str) {
    let (client, conn) = tokio_postgres::connect(admin, NoTls).await.expect("connect to the test cluster");
    let task = tokio::spawn(conn);
    client.batch_execute(sql).await.expect("admin statement");
    drop(client);
    let _ = task.await;
}

/// A new, empty database; its URL.
pub(crate) async fn fresh_database(admin_url: &str) -> String {
    let name = format!("linli_unit_{}", uuid::Uuid::new_v4().simple());
    admin(admin_url, &format!("CREATE DATABASE {name}")).await;
    with_database(admin_url, &name)
}

/// An engine on a new, empty database.
#[allow(clippy::expect_used)]
pub(crate) async fn fresh_engine(admin_url: &str, options: PgOptions) -> (PgEngine, String) {
    let url = fresh_database(admin_url).await;
    let engine = PgEngine::open(&url, options, SchemaUse::Migrate).await.expect("open the engine");
    (engine, url)
}
