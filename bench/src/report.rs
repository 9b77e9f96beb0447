//! Writes BENCHMARKS.md from one run's results: `<workload>-<server>.json` files, the
//! in-process limit (`limit.json`), `machine.txt` (`key: value` lines written by
//! `bench/run.sh`) and `criterion.txt` (the output of `cargo bench -p linli-server`).

use crate::result::RunResult;
use std::fmt::Write as _;
use std::path::Path;

const MIB: f64 = 1024.0 * 1024.0;

fn load(dir: &Path, name: &str) -> Option<RunResult> {
    RunResult::read(&dir.join(format!("{name}.json"))).ok()
}

/// PostgreSQL's own CPU seconds during a run (`<name>.pg_cpu`, written by `bench/run.sh`).
fn pg_cpu(dir: &Path, name: &str) -> Option<f64> {
    std::fs::read_to_string(dir.join(format!("{name}.pg_cpu"))).ok()?.trim().parse().ok()
}

fn f(v: Option<f64>, decimals: usize) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.decimals$}"),
        _ => "—".to_owned(),
    }
}

fn mib(v: Option<u64>) -> String {
    f(v.map(|b| b as f64 / MIB), 1)
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

fn ratio_s(a: Option<f64>, b: Option<f64>) -> String {
    match ratio(a, b) {
        Some(r) if r < 0.1 => format!("{r:.3}"),
        Some(r) => format!("{r:.2}"),
        None => "—".to_owned(),
    }
}

fn verdict(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "**MET**",
        Some(false) => "**MISSED**",
        None => "NOT MEASURED",
    }
}

fn status(r: &Option<RunResult>) -> String {
    match r {
        None => "not run".to_owned(),
        Some(r) if r.ok => "ok".to_owned(),
        Some(r) => format!("FAILED ({} errors)", r.error_count),
    }
}

/// One table row: label, then the Linli value, the reference value and their ratio.
fn row3(out: &mut String, label: &str, l: Option<f64>, r: Option<f64>, decimals: usize) {
    let _ = writeln!(out, "| {label} | {} | {} | {} |", f(l, decimals), f(r, decimals), ratio_s(l, r));
}

/// A table row: its label, how to read it off a run, its decimals.
type Row<'a> = (&'static str, &'a dyn Fn(&RunResult) -> Option<f64>, usize);

/// The header of a table of both engines beside the reference.
const HEADER5: &str =
    "| | Linli (sled) | Linli (PostgreSQL) | reference | sled / reference | PostgreSQL / reference |\n\
                       |---|---|---|---|---|---|";

/// One row of both engines beside the reference: the values, then each engine's ratio to it.
fn row5(out: &mut String, label: &str, l: Option<f64>, p: Option<f64>, r: Option<f64>, decimals: usize) {
    let _ = writeln!(
        out,
        "| {label} | {} | {} | {} | {} | {} |",
        f(l, decimals),
        f(p, decimals),
        f(r, decimals),
        ratio_s(l, r),
        ratio_s(p, r)
    );
}

/// PostgreSQL's own processes, which the server CPU rows (Linli's process) leave out.
fn pg_cpu_row(out: &mut String, secs: Option<f64>, changes: Option<u64>) {
    let Some(secs) = secs else { return };
    let _ = writeln!(out, "| PostgreSQL's own CPU (s), whole run with its setup | — | {secs:.2} | — | — | — |");
    if let Some(n) = changes.filter(|n| *n > 0) {
        let per = secs / n as f64 * 1000.0;
        let _ = writeln!(out, "| PostgreSQL's own CPU s per 1,000 changes, whole run | — | {per:.3} | — | — | — |");
    }
}

/// What the group commit did during a run (Linli's `/metrics`): flushes (sled: fsyncs;
/// PostgreSQL: transaction commits), the writes they served, the mean latency.
fn durability(r: &Option<RunResult>, what: &str) -> Option<String> {
    let acc = metric(r, "linli_changes_accepted_total")?;
    let flushes = metric(r, "linli_flush_seconds_count").unwrap_or(0.0);
    let commits = metric(r, "linli_commits_per_flush_sum").unwrap_or(0.0);
    let flush_s = metric(r, "linli_flush_seconds_sum").unwrap_or(0.0);
    Some(format!(
        "{acc:.0} changes accepted and stored, {flushes:.0} {what} serving {commits:.0} durable writes, {:.1} ms each on average",
        if flushes > 0.0 { flush_s / flushes * 1000.0 } else { 0.0 }
    ))
}

fn params(r: &Option<RunResult>) -> String {
    r.as_ref()
        .map(|r| r.params.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", "))
        .unwrap_or_default()
}

fn errors(out: &mut String, label: &str, r: &Option<RunResult>) {
    if let Some(r) = r {
        for e in &r.errors {
            let _ = writeln!(out, "- {label} error: `{}`", e.replace('`', "'"));
        }
        if r.error_count > r.errors.len() {
            let _ = writeln!(out, "- {label}: {} more errors", r.error_count - r.errors.len());
        }
        for n in &r.notes {
            let _ = writeln!(out, "- {label}: {n}");
        }
    }
}

fn metric(r: &Option<RunResult>, k: &str) -> Option<f64> {
    r.as_ref()?.server_metrics.get(k).copied()
}

pub fn write(dir: &Path, out_path: &Path) -> anyhow::Result<()> {
    let machine = std::fs::read_to_string(dir.join("machine.txt")).unwrap_or_default();
    let criterion = std::fs::read_to_string(dir.join("criterion.txt")).ok();
    let storm_l = load(dir, "storm-linli");
    let storm_p = load(dir, "storm-linli-pg");
    let storm_r = load(dir, "storm-reference");
    let limit = load(dir, "limit");
    let steady_l = load(dir, "steady-linli");
    let steady_p = load(dir, "steady-linli-pg");
    let steady_r = load(dir, "steady-reference");
    let idle_l = load(dir, "idle-linli");
    let idle_r = load(dir, "idle-reference");
    let touch_l = load(dir, "touch-linli");
    let touch_r = load(dir, "touch-reference");
    let setup_l = load(dir, "touch-setup-linli");
    let setup_r = load(dir, "touch-setup-reference");

    let mut o = String::new();
    let _ = writeln!(o, "# Benchmarks: Linli against the reference automerge-repo sync server\n");
    let _ = writeln!(
        o,
        "Written by `make bench` (`bench/run.sh`) from one run on one machine. The machine has \
         2 cores shared by the server under test and the load generator, and it is noisy: \
         only the **ratios** between servers measured in the same run mean anything, never \
         the absolute numbers.\n"
    );
    let _ = writeln!(o, "## Machine and setup\n");
    for line in machine.lines().filter(|l| !l.trim().is_empty()) {
        let _ = writeln!(o, "- {line}");
    }
    let _ = writeln!(o);

    // Targets.
    let storm_cpu = |r: &Option<RunResult>| r.as_ref().filter(|r| r.ok).and_then(|r| r.cpu_per_1000_changes);
    let storm_ratio = ratio(storm_cpu(&storm_l), storm_cpu(&storm_r));
    let rss_ratio = ratio(
        storm_l.as_ref().filter(|r| r.ok).and_then(|r| r.peak_rss).map(|b| b as f64),
        storm_r.as_ref().and_then(|r| r.peak_rss).map(|b| b as f64),
    );
    let limit_ratio = ratio(storm_cpu(&storm_l), limit.as_ref().and_then(|r| r.cpu_per_1000_changes));
    let idle_kb = idle_l.as_ref().filter(|r| r.ok).and_then(|r| r.rss_per_peer).map(|b| b / 1000.0);
    let idle_peers = idle_l.as_ref().and_then(|r| r.peers).unwrap_or(0);
    let steady_p99 = steady_l.as_ref().filter(|r| r.ok).and_then(|r| r.latency_p99_ms);
    let steady_peers = steady_l.as_ref().and_then(|r| r.peers).unwrap_or(0);
    let touch_ok = touch_l.as_ref().filter(|r| r.ok);
    let touch_docs = touch_l.as_ref().and_then(|r| r.docs).unwrap_or(0);
    let touch_met = touch_ok.and_then(|r| Some(r.peak_rss? <= r.limit_bytes?));

    let _ = writeln!(o, "## Targets\n");
    let _ = writeln!(o, "| target (from the issue) | measured | result |");
    let _ = writeln!(o, "|---|---|---|");
    let _ = writeln!(
        o,
        "| Reconnect storm ({}): Linli server CPU per change ≤ 1/10 of the reference's, every change fsynced before it is acknowledged | Linli / reference = {} | {} |",
        params(&storm_l),
        f(storm_ratio, 3),
        verdict(storm_ratio.map(|r| r <= 0.1))
    );
    let _ = writeln!(
        o,
        "| Reconnect storm: Linli peak RSS ≤ 1/4 of the reference's | Linli / reference = {} | {} |",
        f(rss_ratio, 3),
        verdict(rss_ratio.map(|r| r <= 0.25))
    );
    let _ = writeln!(
        o,
        "| Linli server CPU per change within 3× of the in-process Automerge limit | Linli / limit = {} | {} |",
        f(limit_ratio, 2),
        verdict(limit_ratio.map(|r| r <= 3.0))
    );
    let _ = writeln!(
        o,
        "| 10,000 idle connected peers: under 30 KB (30,000 bytes) of server memory each | {} KB per peer at {} peers | {}{} |",
        f(idle_kb, 1),
        idle_peers,
        verdict(idle_kb.map(|kb| kb < 30.0)),
        if idle_peers > 0 && idle_peers < 10_000 { " (fewer peers than the target's 10,000)" } else { "" }
    );
    let _ = writeln!(
        o,
        "| Steady mode with 1,000 peers: fan-out latency p99 under 50 ms on loopback | p99 = {} ms at {} peers | {}{} |",
        f(steady_p99, 1),
        steady_peers,
        verdict(steady_p99.map(|p| p < 50.0)),
        if steady_peers > 0 && steady_peers < 1_000 { " (fewer peers than the target's 1,000)" } else { "" }
    );
    let _ = writeln!(
        o,
        "| 100,000 stored documents touched once each: RSS stays under the document cache + 64 MB | peak {} MiB vs limit {} MiB ({} docs) | {}{} |",
        mib(touch_l.as_ref().and_then(|r| r.peak_rss)),
        mib(touch_l.as_ref().and_then(|r| r.limit_bytes)),
        touch_docs,
        verdict(touch_met),
        if touch_docs > 0 && touch_docs < 100_000 { " (fewer documents than the target's 100,000)" } else { "" }
    );
    let _ = writeln!(o, "\nA target whose run failed (lost changes, errors) is MISSED or NOT MEASURED, never MET.\n");

    // Storm.
    let _ = writeln!(o, "## Reconnect storm\n");
    let _ = writeln!(
        o,
        "{}. Setup: each client creates its documents and syncs them, then disconnects. \
         Offline, each client makes its changes (one Automerge change each). Then every client \
         reconnects at the same instant and syncs until the server has announced the client's heads \
         for every document. Wall time runs from the reconnect to the last convergence; server CPU \
         and wire bytes are counted over the same window. Status: Linli {}, Linli on PostgreSQL {}, reference {}.\n",
        params(&storm_l),
        status(&storm_l),
        status(&storm_p),
        status(&storm_r)
    );
    let _ = writeln!(o, "{HEADER5}");
    let g = |r: &Option<RunResult>, k: fn(&RunResult) -> Option<f64>| r.as_ref().and_then(k);
    let storm_rows: [Row; 6] = [
        ("wall time to converge (s)", &|r| r.wall_secs, 2),
        ("server CPU (s)", &|r| r.server_cpu_secs, 2),
        ("server CPU s per 1,000 changes", &|r| r.cpu_per_1000_changes, 3),
        ("peak server RSS (MiB)", &|r| r.peak_rss.map(|b| b as f64 / MIB), 1),
        ("bytes on the wire per change", &|r| r.bytes_per_change, 0),
        ("setup time (s)", &|r| r.setup_secs, 2),
    ];
    for (label, k, decimals) in storm_rows {
        let v = |r: &Option<RunResult>| r.as_ref().and_then(k);
        row5(&mut o, label, v(&storm_l), v(&storm_p), v(&storm_r), decimals);
    }
    pg_cpu_row(&mut o, pg_cpu(dir, "storm-linli-pg"), storm_p.as_ref().and_then(|r| r.changes));
    let _ = writeln!(o);
    let _ = writeln!(o, "| in-process limit | CPU s per 1,000 changes | Linli / limit |");
    let _ = writeln!(o, "|---|---|---|");
    let _ = writeln!(
        o,
        "| sync protocol: decode + `receive_sync_message` + `generate_sync_message` | {} | {} |",
        f(limit.as_ref().and_then(|r| r.cpu_per_1000_changes), 4),
        f(limit_ratio, 2)
    );
    let _ = writeln!(
        o,
        "| `apply_changes` only (already decoded changes; a floor, for reference) | {} | {} |",
        f(limit.as_ref().and_then(|r| r.apply_changes_cpu_per_1000), 4),
        f(ratio(storm_cpu(&storm_l), limit.as_ref().and_then(|r| r.apply_changes_cpu_per_1000)), 2)
    );
    let _ = writeln!(o);
    if let Some(sled) = durability(&storm_l, "fsyncs (group commits)") {
        let _ = writeln!(o, "Durability during the storm (Linli's `/metrics`): on sled, {sled}.");
        if let Some(pg) = durability(&storm_p, "transaction commits (group commits, synchronous_commit on)") {
            let _ = writeln!(o, "On PostgreSQL, {pg}.");
        }
        let _ = writeln!(
            o,
            "Linli replies only after the fsync or COMMIT; the reference server writes in the background and never fsyncs.\n"
        );
    }
    for (k, v) in
        storm_l.iter().flat_map(|r| r.server_metrics.iter()).filter(|(k, _)| k.starts_with("linli_changes_refused"))
    {
        if *v > 0.0 {
            let _ = writeln!(o, "- Linli refused changes during the storm: `{k}` = {v}");
        }
    }
    errors(&mut o, "Linli", &storm_l);
    errors(&mut o, "Linli on PostgreSQL", &storm_p);
    errors(&mut o, "reference", &storm_r);
    errors(&mut o, "limit", &limit);
    let _ = writeln!(o);

    // Steady.
    let _ = writeln!(o, "## Steady state\n");
    let _ = writeln!(
        o,
        "{}. Every peer is connected; each document is shared by a group; every peer changes its \
         group's document once per interval (a key holding the send time), and the server fans it \
         out to the rest of the group. Latency = receive time − send time, over every (change, \
         receiver) pair. Status: Linli {}, Linli on PostgreSQL {}, reference {}.\n",
        params(&steady_l),
        status(&steady_l),
        status(&steady_p),
        status(&steady_r)
    );
    let _ = writeln!(o, "{HEADER5}");
    let delivered = |r: &RunResult| ratio(r.deliveries.map(|v| v as f64), r.expected_deliveries.map(|v| v as f64));
    let steady_rows: [Row; 8] = [
        ("fan-out latency p50 (ms)", &|r| r.latency_p50_ms, 1),
        ("fan-out latency p99 (ms)", &|r| r.latency_p99_ms, 1),
        ("fan-out latency max (ms)", &|r| r.latency_max_ms, 1),
        ("deliveries / expected", &delivered, 4),
        ("changes made", &|r| r.changes.map(|v| v as f64), 0),
        ("server CPU s per 1,000 changes", &|r| r.cpu_per_1000_changes, 3),
        ("peak server RSS (MiB)", &|r| r.peak_rss.map(|b| b as f64 / MIB), 1),
        ("bytes on the wire per change (all peers, both directions)", &|r| r.bytes_per_change, 0),
    ];
    for (label, k, decimals) in steady_rows {
        let v = |r: &Option<RunResult>| r.as_ref().and_then(k);
        row5(&mut o, label, v(&steady_l), v(&steady_p), v(&steady_r), decimals);
    }
    pg_cpu_row(&mut o, pg_cpu(dir, "steady-linli-pg"), steady_p.as_ref().and_then(|r| r.changes));
    let _ = writeln!(o);
    let hist = |r: &Option<RunResult>| r.as_ref().map(|r| r.latency_histogram.clone()).unwrap_or_default();
    let (hl, hp, hr) = (hist(&steady_l), hist(&steady_p), hist(&steady_r));
    if !hl.is_empty() || !hp.is_empty() || !hr.is_empty() {
        let _ = writeln!(o, "Fan-out latency histogram (deliveries per bucket):\n");
        let _ = writeln!(o, "| latency (ms) | Linli (sled) | Linli (PostgreSQL) | reference |");
        let _ = writeln!(o, "|---|---|---|---|");
        let n = hl.len().max(hp.len()).max(hr.len());
        for i in 0..n {
            let label = hl.get(i).or(hp.get(i)).or(hr.get(i)).map(|(b, _)| b.clone()).unwrap_or_default();
            let v = |h: &Vec<(String, u64)>| h.get(i).map(|(_, c)| c.to_string()).unwrap_or_else(|| "—".to_owned());
            let _ = writeln!(o, "| {label} | {} | {} | {} |", v(&hl), v(&hp), v(&hr));
        }
        let _ = writeln!(o);
    }
    if let Some(pg) = durability(&steady_p, "transaction commits") {
        let _ = writeln!(o, "On PostgreSQL during the steady run: {pg}.\n");
    }
    errors(&mut o, "Linli", &steady_l);
    errors(&mut o, "Linli on PostgreSQL", &steady_p);
    errors(&mut o, "reference", &steady_r);
    let _ = writeln!(o);

    // Idle.
    let _ = writeln!(o, "## Idle connected peers\n");
    let _ = writeln!(
        o,
        "{}. Each peer connects, joins, syncs one small document of its own, then stays connected \
         and idle (answering keep-alive pings). Memory per peer = (server RSS after − RSS before) \
         / peers still connected. Status: Linli {}, reference {}.\n",
        params(&idle_l),
        status(&idle_l),
        status(&idle_r)
    );
    let _ = writeln!(o, "| | Linli | reference | Linli / reference |");
    let _ = writeln!(o, "|---|---|---|---|");
    row3(
        &mut o,
        "peers connected",
        g(&idle_l, |r| r.peers.map(|v| v as f64)),
        g(&idle_r, |r| r.peers.map(|v| v as f64)),
        0,
    );
    row3(
        &mut o,
        "server memory per peer (KB)",
        g(&idle_l, |r| r.rss_per_peer.map(|b| b / 1000.0)),
        g(&idle_r, |r| r.rss_per_peer.map(|b| b / 1000.0)),
        1,
    );
    row3(
        &mut o,
        "server RSS before (MiB)",
        g(&idle_l, |r| r.rss_before.map(|b| b as f64 / MIB)),
        g(&idle_r, |r| r.rss_before.map(|b| b as f64 / MIB)),
        1,
    );
    row3(
        &mut o,
        "server RSS with every peer connected (MiB)",
        g(&idle_l, |r| r.rss_after.map(|b| b as f64 / MIB)),
        g(&idle_r, |r| r.rss_after.map(|b| b as f64 / MIB)),
        1,
    );
    row3(
        &mut o,
        "peak server RSS (MiB)",
        g(&idle_l, |r| r.peak_rss.map(|b| b as f64 / MIB)),
        g(&idle_r, |r| r.peak_rss.map(|b| b as f64 / MIB)),
        1,
    );
    row3(
        &mut o,
        "time to connect and sync every peer (s)",
        g(&idle_l, |r| r.setup_secs),
        g(&idle_r, |r| r.setup_secs),
        1,
    );
    let _ = writeln!(o);
    errors(&mut o, "Linli", &idle_l);
    errors(&mut o, "reference", &idle_r);
    let _ = writeln!(o);

    // Touch.
    let _ = writeln!(o, "## Many stored documents, each touched once\n");
    let _ = writeln!(
        o,
        "{}. Setup creates the documents through the protocol (batches of documents per connection), \
         then the server is restarted, so the measured process starts with every document on disk \
         and none in memory. Then every document is requested once (`request`, as a phone that has \
         nothing), a batch per connection. The cache's cost in bytes is what the RSS grew by while the \
         first `cache_docs` documents were touched (the cache filling up); the limit is that plus 64 MiB, \
         and Linli's peak RSS (VmHWM, over the whole process) must stay under it. The reference server \
         has no document cache: it keeps every document it has loaded. Status: Linli {}, reference {}.\n",
        params(&touch_l),
        status(&touch_l),
        status(&touch_r)
    );
    let _ = writeln!(o, "| | Linli | reference | Linli / reference |");
    let _ = writeln!(o, "|---|---|---|---|");
    row3(
        &mut o,
        "documents touched",
        g(&touch_l, |r| r.docs.map(|v| v as f64)),
        g(&touch_r, |r| r.docs.map(|v| v as f64)),
        0,
    );
    row3(
        &mut o,
        "peak server RSS (MiB)",
        g(&touch_l, |r| r.peak_rss.map(|b| b as f64 / MIB)),
        g(&touch_r, |r| r.peak_rss.map(|b| b as f64 / MIB)),
        1,
    );
    row3(
        &mut o,
        "server RSS at the end (MiB)",
        g(&touch_l, |r| r.rss_after.map(|b| b as f64 / MIB)),
        g(&touch_r, |r| r.rss_after.map(|b| b as f64 / MIB)),
        1,
    );
    row3(
        &mut o,
        "server RSS before (MiB)",
        g(&touch_l, |r| r.rss_before.map(|b| b as f64 / MIB)),
        g(&touch_r, |r| r.rss_before.map(|b| b as f64 / MIB)),
        1,
    );
    row3(
        &mut o,
        "RSS when the cache first filled (MiB)",
        g(&touch_l, |r| r.rss_at_cache_full.map(|b| b as f64 / MIB)),
        None,
        1,
    );
    row3(&mut o, "document cache cost (MiB)", g(&touch_l, |r| r.cache_bytes.map(|b| b as f64 / MIB)), None, 1);
    row3(&mut o, "limit = cache + 64 MiB (MiB)", g(&touch_l, |r| r.limit_bytes.map(|b| b as f64 / MIB)), None, 1);
    row3(
        &mut o,
        "documents answered doc-unavailable (lost)",
        g(&touch_l, |r| r.unavailable.map(|v| v as f64)),
        g(&touch_r, |r| r.unavailable.map(|v| v as f64)),
        0,
    );
    row3(&mut o, "time to touch every document (s)", g(&touch_l, |r| r.wall_secs), g(&touch_r, |r| r.wall_secs), 1);
    row3(
        &mut o,
        "server CPU to touch every document (s)",
        g(&touch_l, |r| r.server_cpu_secs),
        g(&touch_r, |r| r.server_cpu_secs),
        1,
    );
    row3(
        &mut o,
        "setup: time to create the documents (s)",
        g(&setup_l, |r| r.setup_secs),
        g(&setup_r, |r| r.setup_secs),
        1,
    );
    let _ = writeln!(o);
    errors(&mut o, "Linli setup", &setup_l);
    errors(&mut o, "reference setup", &setup_r);
    errors(&mut o, "Linli", &touch_l);
    errors(&mut o, "reference", &touch_r);
    let _ = writeln!(o);

    // Criterion.
    let _ = writeln!(o, "## Micro-benchmarks (criterion, `cargo bench -p linli-server`)\n");
    match criterion {
        Some(text) => {
            let rows = criterion_rows(&text);
            if rows.is_empty() {
                let _ = writeln!(o, "No criterion results were found in this run's output.\n");
            } else {
                let _ = writeln!(
                    o,
                    "Short measurement time (see `bench/run.sh`); median with criterion's confidence interval.\n"
                );
                let _ = writeln!(o, "| benchmark | time [low median high] | throughput [low median high] |");
                let _ = writeln!(o, "|---|---|---|");
                for (name, time, thrpt) in rows {
                    let _ = writeln!(o, "| {name} | {time} | {thrpt} |");
                }
                let _ = writeln!(o);
                for line in text.lines().filter(|l| l.contains("fsyncs per round")) {
                    let _ = writeln!(o, "- {}", line.trim());
                }
                let _ = writeln!(o);
            }
        }
        None => {
            let _ = writeln!(o, "Not run in this run (BENCH_CRITERION=0).\n");
        }
    }

    let _ = writeln!(o, "## How this was measured\n");
    let _ = writeln!(o, "{}", METHOD.trim());
    std::fs::write(out_path, o)?;
    eprintln!("wrote {}", out_path.display());
    Ok(())
}

/// (name, time, throughput) of each benchmark in criterion's text output.
pub fn criterion_rows(text: &str) -> Vec<(String, String, String)> {
    let mut rows: Vec<(String, String, String)> = Vec::new();
    let mut prev = String::new();
    for line in text.lines() {
        if let Some(pos) = line.find("time:") {
            let head = line[..pos].trim();
            let name = if head.is_empty() { prev.clone() } else { head.to_owned() };
            rows.push((name, line[pos + 5..].trim().to_owned(), String::new()));
        } else if let Some(pos) = line.find("thrpt:") {
            if let Some(last) = rows.last_mut() {
                if last.2.is_empty() {
                    last.2 = line[pos + 6..].trim().to_owned();
                }
            }
        } else if !line.trim().is_empty()
            && !line.starts_with(' ')
            && !line.contains("Benchmarking")
            && !line.contains("Warning")
            && !line.starts_with("Found")
            && !line.starts_with("change:")
        {
            prev = line.trim().to_owned();
        }
    }
    rows
}

const METHOD: &str = r#"
- **Servers.** Each workload gets a fresh Linli (release build, temporary data directory, one
  bench user added with `linli user add`) and a fresh reference server
  (`tests/interop/reference-server.mjs`: automerge-repo 2.5.6 with the NodeFS storage adapter,
  exactly the official sync server's setup), one after the other on the same machine. Linli is
  started with `--max-connections-per-user 100000 --max-messages-per-sec 100000
  --message-burst 1000000` so its per-user and per-connection limits, which exist to stop abuse,
  do not distort the benchmark (all the load comes from one bench user), and with
  `LINLI_LOG=warn`. Every other setting is the default: in particular every change is written
  and fsynced (group commit) before the server acknowledges it. The reference server never
  fsyncs and writes in the background after it has replied.
- **Load generator.** `linli-loadgen` (bench/, Rust: tokio + tokio-tungstenite + automerge 0.12 +
  the linli-shared codec) speaks the automerge-repo protocol like a phone: it joins with a
  storage id (as a JS client with IndexedDB does), keeps one Automerge document and one sync
  state per document, and, after a reconnect, keeps only the shared heads of each sync state
  (as the JS repo does). It runs on the same 2 cores as the server.
- **Server CPU** = utime + stime of the server process (every thread) from `/proc/<pid>/stat`,
  read before and after the measured phase. **Peak RSS** = `VmHWM` of `/proc/<pid>/status`,
  i.e. over the server process's whole life (setup included). **Bytes on the wire** = WebSocket
  payload bytes counted by the load generator in both directions during the measured phase,
  divided by the changes made in it.
- **In-process limit.** The storm's documents and changes, generated the same way, with the
  client/server sync run in memory: the client's messages after the reconnect are recorded, then
  replayed into fresh copies of the server-side documents (`sync::Message::decode`,
  `receive_sync_message`, then `generate_sync_message` + `encode` for each reply), the Automerge
  work a sync server cannot avoid. This process's CPU time over that loop, median of several runs.
  No network, no CBOR framing, no storage. `apply_changes` of the already-decoded changes is shown
  as a lower floor.
- **Sizes** come from environment variables with the issue's sizes as defaults; see `bench/run.sh`.
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_criterion_output_in_both_layouts() {
        let text = "Benchmarking sync/apply\nsync/apply_20_changes\n                        time:   [41.2 µs 41.5 µs 41.9 µs]\n                        thrpt:  [477 Kelem/s 481 Kelem/s 485 Kelem/s]\nstore/load              time:   [1.0 ms 1.1 ms 1.2 ms]\n";
        let rows = criterion_rows(text);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].0, "sync/apply_20_changes");
        assert_eq!(rows[0].1, "[41.2 µs 41.5 µs 41.9 µs]");
        assert!(rows[0].2.starts_with("[477"));
        assert_eq!(rows[1].0, "store/load");
    }
}
