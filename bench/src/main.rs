//! `linli-loadgen`: drives any automerge-repo sync server (Linli or the reference JS
//! server) over the real WebSocket protocol with the workloads of BENCHMARKS.md, reads the
//! server's CPU and memory from `/proc/<pid>`, and writes one JSON result per run.
//! `report` turns a directory of results into BENCHMARKS.md. `bench/run.sh` (`make bench`)
//! runs everything side by side.

mod conn;
mod idle;
mod limit;
mod peer;
mod procfs;
mod report;
mod result;
mod steady;
mod storm;
mod touch;

use clap::{Args, Parser, Subcommand};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(name = "linli-loadgen", about = "automerge-repo load generator and benchmark reporter")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Which server to drive and how to observe it.
#[derive(Debug, Args, Clone)]
pub struct ServerArgs {
    /// WebSocket URL of the sync endpoint, e.g. ws://127.0.0.1:8080/sync.
    #[arg(long)]
    pub url: String,
    /// Token appended as `?token=`.
    #[arg(long)]
    pub token: Option<String>,
    /// Log in first: the server's HTTP base (http://127.0.0.1:8080), with --username/--password.
    #[arg(long)]
    pub login: Option<String>,
    #[arg(long)]
    pub username: Option<String>,
    #[arg(long)]
    pub password: Option<String>,
    /// PID of the server process, for CPU (/proc/PID/stat) and memory (/proc/PID/status).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Label of the server in the results (`linli`, `reference`).
    #[arg(long, default_value = "server")]
    pub server_name: String,
    /// Prometheus text endpoint of the server (Linli's /metrics), for counters such as fsyncs.
    #[arg(long)]
    pub metrics_url: Option<String>,
    /// Join as ephemeral peers without a storage id (default: each client advertises a
    /// storage id, as a phone with IndexedDB does).
    #[arg(long)]
    pub ephemeral: bool,
    /// Where to write the JSON result (default: stdout).
    #[arg(long)]
    pub json: Option<PathBuf>,
}

impl ServerArgs {
    /// The target URL, logging in if asked to.
    pub async fn target(&self) -> anyhow::Result<conn::Target> {
        let token = match (&self.token, &self.login) {
            (Some(t), _) => Some(t.clone()),
            (None, Some(base)) => {
                let (Some(u), Some(p)) = (&self.username, &self.password) else {
                    anyhow::bail!("--login needs --username and --password");
                };
                Some(conn::login(base, u, p).await?)
            }
            (None, None) => None,
        };
        Ok(conn::Target::new(&self.url, token.as_deref()))
    }

    pub fn storage(&self) -> Option<linli_shared::StorageId> {
        (!self.ephemeral).then(linli_shared::StorageId::random)
    }

    /// Numeric series of the metrics endpoint (name with labels → value); empty if none.
    pub async fn metrics(&self) -> BTreeMap<String, f64> {
        let Some(url) = &self.metrics_url else { return BTreeMap::new() };
        let Ok(resp) = reqwest::get(url).await else { return BTreeMap::new() };
        let Ok(text) = resp.text().await else { return BTreeMap::new() };
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let (k, v) = l.rsplit_once(' ')?;
                Some((k.to_owned(), v.parse().ok()?))
            })
            .collect()
    }
}

/// Differences of the counters we report, between two metric scrapes.
pub fn metric_deltas(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    const KEEP: [&str; 6] = [
        "linli_changes_accepted_total",
        "linli_flush_seconds_count",
        "linli_flush_seconds_sum",
        "linli_commits_per_flush_sum",
        "linli_evictions_total",
        "linli_compactions_total",
    ];
    after
        .iter()
        .filter(|(k, _)| KEEP.contains(&k.as_str()) || k.starts_with("linli_changes_refused_total"))
        .map(|(k, a)| (k.clone(), a - before.get(k).copied().unwrap_or(0.0)))
        .collect()
}

#[derive(Debug, Subcommand)]
enum Command {
    /// C clients × D documents × K offline changes each, then everyone reconnects at once.
    Storm {
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long, default_value_t = 100)]
        clients: usize,
        #[arg(long, default_value_t = 10)]
        docs: usize,
        #[arg(long, default_value_t = 20)]
        changes: usize,
        /// Give up on a client that hears nothing from the server for this long.
        #[arg(long, default_value_t = 60)]
        stall_secs: u64,
    },
    /// N connected peers editing documents shared by small groups; fan-out latency.
    Steady {
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long, default_value_t = 1000)]
        peers: usize,
        #[arg(long, default_value_t = 2)]
        group_min: usize,
        #[arg(long, default_value_t = 5)]
        group_max: usize,
        /// Each peer makes one change every this many milliseconds.
        #[arg(long, default_value_t = 5000)]
        interval_ms: u64,
        #[arg(long, default_value_t = 25)]
        duration_secs: u64,
        /// After the last change, wait this long for deliveries still in flight.
        #[arg(long, default_value_t = 5)]
        drain_secs: u64,
        #[arg(long, default_value_t = 100)]
        connect_concurrency: usize,
    },
    /// N idle peers, each joined with one small document synced: server RSS per peer.
    Idle {
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long, default_value_t = 10_000)]
        peers: usize,
        /// Peers sharing one document (1: every peer has its own).
        #[arg(long, default_value_t = 1)]
        peers_per_doc: usize,
        #[arg(long, default_value_t = 100)]
        connect_concurrency: usize,
        /// Wait this long once everyone is connected before reading the RSS.
        #[arg(long, default_value_t = 6)]
        settle_secs: u64,
    },
    /// Creates M small documents through the protocol and writes their ids to a file.
    TouchSetup {
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long, default_value_t = 100_000)]
        docs: usize,
        #[arg(long)]
        ids_file: PathBuf,
        #[arg(long, default_value_t = 8)]
        workers: usize,
        /// Documents per connection; a connection is closed after its batch.
        #[arg(long, default_value_t = 500)]
        batch: usize,
    },
    /// Touches (requests) every document of the ids file once: server peak RSS against its cache.
    Touch {
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long)]
        ids_file: PathBuf,
        #[arg(long, default_value_t = 8)]
        workers: usize,
        #[arg(long, default_value_t = 500)]
        batch: usize,
        /// The server's document cache (`--max-docs-in-memory`); 0: the server has none.
        #[arg(long, default_value_t = 0)]
        cache_docs: usize,
    },
    /// The storm's changes applied straight into Automerge in this process: the floor.
    Limit {
        #[arg(long, default_value_t = 100)]
        clients: usize,
        #[arg(long, default_value_t = 10)]
        docs: usize,
        #[arg(long, default_value_t = 20)]
        changes: usize,
        #[arg(long, default_value_t = 5)]
        repeats: usize,
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Writes BENCHMARKS.md from a directory of JSON results.
    Report {
        /// Directory with `<workload>-<server>.json` files, `machine.txt` and `criterion.txt`.
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value = "BENCHMARKS.md")]
        out: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        match cli.command {
            Command::Storm { server, clients, docs, changes, stall_secs } => {
                let r = storm::run(&server, clients, docs, changes, stall_secs).await;
                finish("storm", r, &server)
            }
            Command::Steady {
                server,
                peers,
                group_min,
                group_max,
                interval_ms,
                duration_secs,
                drain_secs,
                connect_concurrency,
            } => {
                let cfg = steady::Config {
                    peers,
                    group_min: group_min.max(2),
                    group_max: group_max.max(group_min.max(2)),
                    interval_ms,
                    duration_secs,
                    drain_secs,
                    connect_concurrency,
                };
                let r = steady::run(&server, cfg).await;
                finish("steady", r, &server)
            }
            Command::Idle { server, peers, peers_per_doc, connect_concurrency, settle_secs } => {
                let r = idle::run(&server, peers, peers_per_doc.max(1), connect_concurrency, settle_secs).await;
                finish("idle", r, &server)
            }
            Command::TouchSetup { server, docs, ids_file, workers, batch } => {
                let r = touch::setup(&server, docs, &ids_file, workers, batch).await;
                finish("touch-setup", r, &server)
            }
            Command::Touch { server, ids_file, workers, batch, cache_docs } => {
                let r = touch::run(&server, &ids_file, workers, batch, cache_docs).await;
                finish("touch", r, &server)
            }
            Command::Limit { clients, docs, changes, repeats, json } => {
                let r = limit::run(clients, docs, changes, repeats.max(1))?;
                eprintln!("{}", summary(&r));
                r.write(json.as_deref())
            }
            Command::Report { dir, out } => report::write(&dir, &out),
        }
    })
}

/// Writes the result; a run that could not even start is written as a failed result so
/// the report says so instead of silently missing a row.
fn finish(workload: &str, r: anyhow::Result<result::RunResult>, server: &ServerArgs) -> anyhow::Result<()> {
    let r = r.unwrap_or_else(|e| {
        let mut f = result::RunResult::new(workload, &server.server_name);
        f.error(format!("{e:#}"));
        f
    });
    eprintln!("{}", summary(&r));
    r.write(server.json.as_deref())
}

fn summary(r: &result::RunResult) -> String {
    let mut s = format!("[{} / {}] ok={}", r.workload, r.server, r.ok);
    let mut add = |k: &str, v: Option<f64>| {
        if let Some(v) = v {
            s.push_str(&format!(" {k}={v:.3}"));
        }
    };
    add("wall_s", r.wall_secs);
    add("cpu_s", r.server_cpu_secs);
    add("cpu_per_1k", r.cpu_per_1000_changes);
    add("peak_rss_mb", r.peak_rss.map(|b| b as f64 / 1048576.0));
    add("bytes_per_change", r.bytes_per_change);
    add("p50_ms", r.latency_p50_ms);
    add("p99_ms", r.latency_p99_ms);
    add("rss_per_peer_kb", r.rss_per_peer.map(|b| b / 1024.0));
    if !r.errors.is_empty() {
        s.push_str(&format!(" errors({})={:?}", r.error_count, r.errors));
    }
    s
}
