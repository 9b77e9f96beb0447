//! PostgreSQL for the black-box tests: the engine the harness runs the server on, a fresh
//! database per community, and clusters of a test's own (to stop one mid-load).
//!
//! - `LINLI_TEST_ENGINE=postgres` runs every [`crate::Community`] on PostgreSQL: each gets
//!   a database of its own (`CREATE DATABASE`) on the cluster at `LINLI_TEST_POSTGRES`
//!   (its admin URL), so tests run in parallel. `make test` starts that cluster
//!   (`tests/postgres/cluster.sh`), sets both, and runs the suites that matter for data
//!   a second time this way.
//! - [`PgCluster`] starts a throwaway cluster for one test (initdb + pg_ctl, as a non-root
//!   user, on a free loopback port), which the test may stop and start again.
//!
//! Databases are made with `psql` (from `LINLI_TEST_PG_BIN`, else the cluster script's
//! directory), so the tests need no database driver of their own.

use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The file in a data directory that names its database (the harness writes it).
const DATABASE_FILE: &str = "database-url";

/// Whether the harness runs servers on PostgreSQL (`LINLI_TEST_ENGINE=postgres`).
pub fn enabled() -> bool {
    std::env::var("LINLI_TEST_ENGINE").as_deref() == Ok("postgres")
}

/// The admin URL of the tests' cluster.
pub fn admin_url() -> anyhow::Result<String> {
    std::env::var("LINLI_TEST_POSTGRES")
        .ok()
        .filter(|u| !u.is_empty())
        .context("LINLI_TEST_ENGINE=postgres needs LINLI_TEST_POSTGRES (make test starts a cluster and sets it)")
}

fn cluster_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("postgres/cluster.sh")
}

/// The directory of `psql`, `initdb` and `pg_ctl`.
pub fn pg_bin() -> anyhow::Result<PathBuf> {
    if let Ok(dir) = std::env::var("LINLI_TEST_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let out = Command::new("bash").arg(cluster_script()).arg("bin").output()?;
    if !out.status.success() {
        bail!("{}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// Runs `sql` with `psql` on the database at `url`.
pub fn psql(url: &str, sql: &str) -> anyhow::Result<String> {
    let out = Command::new(pg_bin()?.join("psql"))
        .args(["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
        .output()
        .context("running psql")?;
    if !out.status.success() {
        bail!("psql: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `url` with its database replaced by `db`.
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority..].find('/') {
        Some(slash) => &base[..authority + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

/// Creates an empty database on the cluster at `admin`; its URL.
pub fn create_database(admin: &str) -> anyhow::Result<String> {
    let name = format!("linli_t_{:016x}{:08x}", rand::random::<u64>(), std::process::id());
    psql(admin, &format!("CREATE DATABASE {name}"))?;
    Ok(with_database(admin, &name))
}

/// The database URL the server on `data` uses: `None` for sled; with
/// `LINLI_TEST_ENGINE=postgres` a database made for this data directory the first time
/// it is asked for (kept in the directory, so a restart finds the same one).
pub fn database_for(data: &Path) -> anyhow::Result<Option<String>> {
    let file = data.join(DATABASE_FILE);
    if let Ok(url) = std::fs::read_to_string(&file) {
        return Ok(Some(url.trim().to_owned()));
    }
    if !enabled() {
        return Ok(None);
    }
    let url = create_database(&admin_url()?)?;
    use_database(data, &url)?;
    Ok(Some(url))
}

/// Makes the server on `data` use the database at `url` (whatever the test engine).
pub fn use_database(data: &Path, url: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(data)?;
    std::fs::write(data.join(DATABASE_FILE), url)?;
    Ok(())
}

/// Whether a test that needs PostgreSQL of its own can run: the binaries are installed.
/// If not, it is skipped with a warning, unless `LINLI_REQUIRE_POSTGRES=1` (set by `make
/// test`) makes that a failure.
pub fn available() -> anyhow::Result<bool> {
    match pg_bin() {
        Ok(dir) if dir.join("initdb").exists() => Ok(true),
        _ if std::env::var("LINLI_REQUIRE_POSTGRES").as_deref() == Ok("1") => {
            bail!("PostgreSQL is not installed, and LINLI_REQUIRE_POSTGRES=1 requires it (make postgres-deps)")
        }
        _ => {
            eprintln!("SKIPPED: PostgreSQL is not installed (make postgres-deps installs it)");
            Ok(false)
        }
    }
}

/// A throwaway cluster of one test's own; stopped when dropped.
#[derive(Debug)]
pub struct PgCluster {
    dir: tempfile::TempDir,
    /// The admin URL (database `postgres`).
    pub url: String,
    port: String,
}

impl PgCluster {
    pub fn start() -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("linli-pg-").tempdir()?;
        let url = run_script(&["start", &dir.path().to_string_lossy()])?;
        let port = std::fs::read_to_string(dir.path().join("port"))?.trim().to_owned();
        Ok(PgCluster { dir, url: url.trim().to_owned(), port })
    }

    /// Stops the cluster: `fast` (connections are closed) or `immediate` (a crash).
    pub fn stop(&self, mode: &str) -> anyhow::Result<()> {
        run_script(&["stop", &self.dir.path().to_string_lossy(), mode]).map(drop)
    }

    /// Starts it again, on the same port.
    pub fn restart(&self) -> anyhow::Result<()> {
        run_script(&["start", &self.dir.path().to_string_lossy(), &self.port]).map(drop)
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = self.stop("immediate");
    }
}

fn run_script(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("bash").arg(cluster_script()).args(args).output().context("running cluster.sh")?;
    if !out.status.success() {
        bail!("cluster.sh {args:?}: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
