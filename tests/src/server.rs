//! The real `linli` binary as a child process: started on port 0 (or a given port) with a
//! fresh data directory, killed with SIGKILL, restarted on the same port and data. With
//! `LINLI_TEST_ENGINE=postgres` every data directory gets a PostgreSQL database of its own
//! ([`crate::postgres`]), which the server and the commands run on.

use anyhow::{anyhow, bail, Context};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The instant every test server's clock stands at (`--test-clock`), unless a test gives
/// its own: a Monday mid-morning in Beijing, two hours before the noon check-in deadline.
/// Tests move it with [`ServerProcess::advance_clock`] / [`ServerProcess::set_clock`].
pub const TEST_CLOCK: &str = "2026-03-16T10:00:00+08:00";

/// [`TEST_CLOCK`] in ms since the epoch.
pub fn test_clock_ms() -> i64 {
    chrono::DateTime::parse_from_rfc3339(TEST_CLOCK).map(|t| t.timestamp_millis()).unwrap_or(0)
}

/// Path of the `linli` binary: `$LINLI_BIN`, else `target/debug/linli` of this workspace.
pub fn linli_bin() -> PathBuf {
    if let Ok(p) = std::env::var("LINLI_BIN") {
        return PathBuf::from(p);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("debug/linli")
}

/// Runs a `linli` subcommand to completion, feeding `stdin`. Fails on a non-zero exit.
pub fn linli_cli(data: &Path, args: &[&str], stdin: &str) -> anyhow::Result<String> {
    linli_cli_env(data, args, stdin, &[])
}

/// [`linli_cli`] with `env` set for the command.
pub fn linli_cli_env(data: &Path, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> anyhow::Result<String> {
    use std::io::Write;
    let bin = linli_bin();
    if !bin.exists() {
        bail!("{} not found: run `cargo build -p linli-server` first (make test does)", bin.display());
    }
    let mut command = std::process::Command::new(&bin);
    if let Some(url) = crate::postgres::database_for(data)? {
        command.env("LINLI_DATABASE_URL", url);
    }
    let mut child = command
        .arg("--data")
        .arg(data)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    child.stdin.take().context("stdin")?.write_all(stdin.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("linli {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A process's memory, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    /// Resident now (`VmRSS`).
    pub rss: u64,
    /// Resident at the peak so far (`VmHWM`).
    pub peak: u64,
}

/// A running `linli serve`.
#[derive(Debug)]
pub struct ServerProcess {
    child: Option<Child>,
    data: PathBuf,
    extra: Vec<String>,
    /// Environment variables of the server process, besides the test's own.
    env: Vec<(String, String)>,
    pub addr: SocketAddr,
    /// The `--metrics-bind` listener, when the server was started with one.
    pub metrics_addr: Option<SocketAddr>,
    /// What the server printed on stdout, line by line, across restarts.
    printed: Printed,
}

type Printed = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

impl ServerProcess {
    /// Starts `linli serve` on `data`, on `port` (0: any free port), with `extra` flags.
    /// Returns once the server prints its listening line (bounded wait, no sleeps).
    pub async fn start(data: &Path, port: u16, extra: &[&str]) -> anyhow::Result<Self> {
        Self::start_with_env(data, port, extra, &[]).await
    }

    /// [`ServerProcess::start`] with `env` set for the server process (kept on restarts).
    pub async fn start_with_env(data: &Path, port: u16, extra: &[&str], env: &[(&str, &str)]) -> anyhow::Result<Self> {
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let printed = Printed::default();
        let (child, addr, metrics_addr) = spawn(data, port, &extra, &env, printed.clone()).await?;
        Ok(ServerProcess { child: Some(child), data: data.to_path_buf(), extra, env, addr, metrics_addr, printed })
    }

    /// What the server printed on stdout (its listening line, the demo's logins…).
    pub fn printed(&self) -> String {
        self.printed.lock().map(|p| p.join("\n")).unwrap_or_default()
    }

    pub fn http(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The WebSocket URL, authenticated with `?token=`.
    pub fn ws_url(&self, token: &str) -> String {
        format!("ws://{}/sync?token={token}", self.addr)
    }

    /// Kills the server with SIGKILL: no shutdown code runs.
    pub async fn kill9(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.start_kill()?;
            child.wait().await?;
        }
        Ok(())
    }

    /// Starts the server again on the same data directory and port.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.kill9().await?;
        // The port was just released; a bounded retry covers a slow kernel.
        let mut last = None;
        for _ in 0..50 {
            match spawn(&self.data, self.addr.port(), &self.extra, &self.env, self.printed.clone()).await {
                Ok((child, addr, metrics_addr)) => {
                    self.child = Some(child);
                    self.addr = addr;
                    self.metrics_addr = metrics_addr;
                    return Ok(());
                }
                Err(e) => {
                    last = Some(e);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        Err(last.unwrap_or_else(|| anyhow!("restart failed")))
    }

    /// Logs in through the HTTP API and returns the token.
    pub async fn login(&self, username: &str, password: &str) -> anyhow::Result<String> {
        let resp = reqwest::Client::new()
            .post(self.http("/api/auth/login"))
            .json(&serde_json::json!({"username": username, "password": password}))
            .send()
            .await?;
        if !resp.status().is_success() {
            bail!("login of {username} failed: {}", resp.status());
        }
        let body: serde_json::Value = resp.json().await?;
        body["token"].as_str().map(str::to_owned).ok_or_else(|| anyhow!("no token in {body}"))
    }

    /// The text of `GET /metrics`.
    pub async fn metrics_text(&self) -> anyhow::Result<String> {
        let resp = reqwest::get(self.http("/metrics")).await?;
        if !resp.status().is_success() {
            bail!("GET /metrics: {}", resp.status());
        }
        Ok(resp.text().await?)
    }

    /// The current value of one series of `GET /metrics`, written as it is rendered, e.g.
    /// `linli_connections` or `linli_protocol_errors_total{code="malformed"}`. A series
    /// that is absent (a labelled counter that never counted) is 0.
    pub async fn metric(&self, series: &str) -> anyhow::Result<f64> {
        Ok(metric_value(&self.metrics_text().await?, series).unwrap_or(0.0))
    }

    /// Moves the server's test clock forward by `secs` and asks for a sweep; returns the
    /// server's new time (ms).
    pub async fn advance_clock(&self, secs: i64) -> anyhow::Result<i64> {
        self.move_clock(serde_json::json!({"advance_secs": secs})).await
    }

    /// Sets the server's test clock to `instant` (RFC 3339) and asks for a sweep.
    pub async fn set_clock(&self, instant: &str) -> anyhow::Result<i64> {
        self.move_clock(serde_json::json!({"set": instant})).await
    }

    async fn move_clock(&self, body: serde_json::Value) -> anyhow::Result<i64> {
        let resp = reqwest::Client::new().post(self.http("/api/test/clock")).json(&body).send().await?;
        if !resp.status().is_success() {
            bail!("POST /api/test/clock: {}", resp.status());
        }
        let body: serde_json::Value = resp.json().await?;
        body["now_ms"].as_i64().ok_or_else(|| anyhow!("no now_ms in {body}"))
    }

    /// The process id of the running server.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(|c| c.id())
    }

    /// The server's memory now and at its peak (`VmRSS` and `VmHWM` of `/proc/<pid>/status`).
    pub fn memory(&self) -> anyhow::Result<Memory> {
        let pid = self.pid().context("the server is not running")?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let field = |name: &str| -> anyhow::Result<u64> {
            let kib = status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
                .with_context(|| format!("no {name} in /proc/{pid}/status"))?;
            Ok(kib * 1024)
        };
        Ok(Memory { rss: field("VmRSS:")?, peak: field("VmHWM:")? })
    }

    /// Resets the server's peak memory (`VmHWM`) to what it uses now, so that a later
    /// [`ServerProcess::memory`] peak covers only what happened since. Linux only; needs
    /// the right to write `/proc/<pid>/clear_refs` (the process's owner or root).
    pub fn reset_peak_memory(&self) -> anyhow::Result<()> {
        let pid = self.pid().context("the server is not running")?;
        std::fs::write(format!("/proc/{pid}/clear_refs"), "5").context("resetting VmHWM")?;
        Ok(())
    }

    /// The server's log so far (stderr), for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data.join("server.log")).unwrap_or_default()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
    }
}

async fn spawn(
    data: &Path,
    port: u16,
    extra: &[String],
    env: &[(String, String)],
    printed: Printed,
) -> anyhow::Result<(Child, SocketAddr, Option<SocketAddr>)> {
    let bin = linli_bin();
    if !bin.exists() {
        bail!("{} not found: run `cargo build -p linli-server` first (make test does)", bin.display());
    }
    std::fs::create_dir_all(data)?;
    let log = std::fs::OpenOptions::new().create(true).append(true).open(data.join("server.log"))?;
    let mut command = Command::new(&bin);
    if let Some(url) = crate::postgres::database_for(data)? {
        command.env("LINLI_DATABASE_URL", url);
    }
    let mut child = command
        .arg("--data")
        .arg(data)
        .arg("serve")
        .arg("--bind")
        .arg(format!("127.0.0.1:{port}"))
        .args(extra)
        // No test depends on the wall clock: every server stands at TEST_CLOCK unless the
        // test gives another instant.
        .args(if extra.iter().any(|a| a == "--test-clock") { vec![] } else { vec!["--test-clock", TEST_CLOCK] })
        .env("LINLI_LOG", "info,linli_server=debug")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().context("stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut metrics_addr = None;
    let addr = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await? {
            if let Ok(mut p) = printed.lock() {
                p.push(line.clone());
            }
            if let Some(rest) = line.strip_prefix("linli metrics on http://") {
                metrics_addr = Some(rest.trim().trim_end_matches("/metrics").parse::<SocketAddr>()?);
            }
            if let Some(rest) = line.strip_prefix("linli listening on http://") {
                return Ok(rest.trim().parse::<SocketAddr>()?);
            }
        }
        bail!("server exited before listening (see {}/server.log)", data.display())
    })
    .await
    .map_err(|_| anyhow!("server did not start within 30 s"))??;
    // Keep draining stdout so the child never blocks on a full pipe.
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Ok(mut p) = printed.lock() {
                p.push(line);
            }
        }
    });
    Ok((child, addr, metrics_addr))
}

/// The value of `series` (name and labels exactly as rendered) in a Prometheus/OpenMetrics
/// text exposition, if present.
pub fn metric_value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(series)?;
        let value = rest.strip_prefix(' ')?;
        value.split_whitespace().next()?.parse().ok()
    })
}

/// A fresh data directory with grids `g1` and `g2` and users `alice` and `carol`
/// (coordinators of g1), `bob` and `erin` (volunteers of g1), `dave` (medic of g1) and
/// `frank` (coordinator of g2), served by a real `linli` process.
#[derive(Debug)]
pub struct Community {
    pub dir: tempfile::TempDir,
    pub server: ServerProcess,
}

pub const ALICE: (&str, &str) = ("alice", "alice-password-1");
pub const BOB: (&str, &str) = ("bob", "bob-password-1");
/// A second coordinator of `g1`: reads and writes everything alice does.
pub const CAROL: (&str, &str) = ("carol", "carol-password-1");
/// A medic of `g1`.
pub const DAVE: (&str, &str) = ("dave", "dave-password-1");
/// A second volunteer of `g1`.
pub const ERIN: (&str, &str) = ("erin", "erin-password-1");
/// A coordinator of another grid, `g2`.
pub const FRANK: (&str, &str) = ("frank", "frank-password-1");

/// An administrator (the whole community), present only with [`Community::start_with_admin`].
pub const ADMIN: (&str, &str) = ("root", "root-password-1");

impl Community {
    pub async fn start(extra: &[&str]) -> anyhow::Result<Self> {
        Self::start_inner(extra, false, &[], None).await
    }

    /// [`Community::start`] with `env` set for the server process, and its data directory
    /// in `data_root` (a small disk, say) if given.
    pub async fn start_with_env(
        extra: &[&str],
        env: &[(&str, &str)],
        data_root: Option<&Path>,
    ) -> anyhow::Result<Self> {
        Self::start_inner(extra, false, env, data_root).await
    }

    /// [`Community::start`] plus an administrator, [`ADMIN`], added before the server starts.
    pub async fn start_with_admin(extra: &[&str]) -> anyhow::Result<Self> {
        Self::start_inner(extra, true, &[], None).await
    }

    /// [`Community::start`] on the PostgreSQL database at `url` (whatever the test engine).
    pub async fn start_on_database(url: &str, extra: &[&str]) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        crate::postgres::use_database(&dir.path().join("data"), url)?;
        Self::start_in(dir, extra, false, &[]).await
    }

    async fn start_inner(
        extra: &[&str],
        admin: bool,
        env: &[(&str, &str)],
        data_root: Option<&Path>,
    ) -> anyhow::Result<Self> {
        let dir = match data_root {
            Some(root) => tempfile::tempdir_in(root)?,
            None => tempfile::tempdir()?,
        };
        Self::start_in(dir, extra, admin, env).await
    }

    async fn start_in(
        dir: tempfile::TempDir,
        extra: &[&str],
        admin: bool,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let data = dir.path().join("data");
        let cli = |args: &[&str], stdin: &str| linli_cli_env(&data, args, stdin, env);
        cli(&["grid", "add", "g1", "--name", "一网格"], "")?;
        cli(&["user", "add", "--username", ALICE.0, "--role", "coordinator", "--grid", "g1"], ALICE.1)?;
        cli(&["user", "add", "--username", BOB.0, "--role", "volunteer", "--grid", "g1"], BOB.1)?;
        cli(&["grid", "add", "g2", "--name", "二网格"], "")?;
        for (who, role, grid) in [
            (CAROL, "coordinator", "g1"),
            (DAVE, "medic", "g1"),
            (ERIN, "volunteer", "g1"),
            (FRANK, "coordinator", "g2"),
        ] {
            cli(&["user", "add", "--username", who.0, "--role", role, "--grid", grid], who.1)?;
        }
        if admin {
            cli(&["user", "add", "--username", ADMIN.0, "--role", "admin"], ADMIN.1)?;
        }
        let server = ServerProcess::start_with_env(&data, 0, extra, env).await?;
        Ok(Community { dir, server })
    }

    pub async fn token(&self, who: (&str, &str)) -> anyhow::Result<String> {
        self.server.login(who.0, who.1).await
    }

    /// Logs in and returns the token and the user id (`user.id` of the login response).
    pub async fn login_full(&self, who: (&str, &str)) -> anyhow::Result<(String, String)> {
        let resp = reqwest::Client::new()
            .post(self.server.http("/api/auth/login"))
            .json(&serde_json::json!({"username": who.0, "password": who.1}))
            .send()
            .await?;
        if !resp.status().is_success() {
            bail!("login of {} failed: {}", who.0, resp.status());
        }
        let body: serde_json::Value = resp.json().await?;
        let token = body["token"].as_str().ok_or_else(|| anyhow!("no token in {body}"))?;
        let id = body["user"]["id"].as_str().ok_or_else(|| anyhow!("no user.id in {body}"))?;
        Ok((token.to_owned(), id.to_owned()))
    }

    /// The data directory the server runs on (for `linli backup`, `check`… once stopped).
    pub fn data_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }
}
