//! What one workload run measured, written as JSON by the loadgen and read by `report`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// One workload against one server. Fields a workload does not measure stay `None`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RunResult {
    /// `storm`, `steady`, `idle`, `touch` or `limit`.
    pub workload: String,
    /// `linli`, `reference` or `in-process`.
    pub server: String,
    /// The sizes the workload ran with.
    pub params: BTreeMap<String, serde_json::Value>,
    /// Everything converged and nothing failed.
    pub ok: bool,
    /// The first few errors (the count is in `error_count`).
    pub errors: Vec<String>,
    pub error_count: usize,
    /// Time of the measured phase (storm: reconnect until every doc converged).
    pub wall_secs: Option<f64>,
    /// Time of the setup phase.
    pub setup_secs: Option<f64>,
    /// Changes made in the measured phase.
    pub changes: Option<u64>,
    /// Server CPU seconds (utime + stime) in the measured phase.
    pub server_cpu_secs: Option<f64>,
    pub cpu_per_1000_changes: Option<f64>,
    /// VmHWM of the server at the end: its peak RSS over its whole life.
    pub peak_rss: Option<u64>,
    /// VmRSS of the server before and after the measured phase.
    pub rss_before: Option<u64>,
    pub rss_after: Option<u64>,
    /// WebSocket payload bytes, both directions, in the measured phase.
    pub wire_bytes: Option<u64>,
    pub bytes_per_change: Option<f64>,
    /// Fan-out latency (steady).
    pub latency_p50_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    pub latency_max_ms: Option<f64>,
    /// Fan-out latency histogram: upper bound in ms ("inf" for the rest) → count.
    pub latency_histogram: Vec<(String, u64)>,
    pub deliveries: Option<u64>,
    pub expected_deliveries: Option<u64>,
    /// Peers actually connected (idle, steady).
    pub peers: Option<u64>,
    /// (RSS after − RSS before) / peers (idle).
    pub rss_per_peer: Option<f64>,
    /// Touch: documents touched, the document cache, RSS when the cache first filled.
    pub docs: Option<u64>,
    pub cache_docs: Option<u64>,
    pub rss_at_cache_full: Option<u64>,
    pub cache_bytes: Option<u64>,
    pub limit_bytes: Option<u64>,
    pub unavailable: Option<u64>,
    /// In-process limit: the `apply_changes` floor, CPU s per 1,000 changes.
    pub apply_changes_cpu_per_1000: Option<f64>,
    /// Deltas of selected server metrics (Linli's `/metrics`) over the measured phase.
    pub server_metrics: BTreeMap<String, f64>,
    pub notes: Vec<String>,
}

impl RunResult {
    pub fn new(workload: &str, server: &str) -> Self {
        RunResult { workload: workload.to_owned(), server: server.to_owned(), ok: true, ..Default::default() }
    }

    pub fn param(&mut self, k: &str, v: impl Into<serde_json::Value>) {
        self.params.insert(k.to_owned(), v.into());
    }

    /// Records an error (keeps the first ten) and marks the run failed.
    pub fn error(&mut self, e: impl std::fmt::Display) {
        self.ok = false;
        self.error_count += 1;
        if self.errors.len() < 10 {
            self.errors.push(e.to_string());
        }
    }

    pub fn write(&self, path: Option<&Path>) -> anyhow::Result<()> {
        let json = serde_json::to_string_pretty(self)?;
        match path {
            Some(p) => std::fs::write(p, json + "\n")?,
            None => println!("{json}"),
        }
        Ok(())
    }

    pub fn read(path: &Path) -> anyhow::Result<Self> {
        Ok(serde_json::from_str(&std::fs::read_to_string(path)?)?)
    }
}

/// The `q` quantile (0..=1) of sorted values, nearest rank.
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

/// Counts of sorted latencies (ms) per bucket, for the report.
pub fn histogram(sorted_ms: &[f64]) -> Vec<(String, u64)> {
    const BOUNDS: [f64; 11] = [1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0, 100.0, 200.0, 500.0];
    let mut out = Vec::new();
    let mut lower = 0;
    for b in BOUNDS {
        let upper = sorted_ms.partition_point(|v| *v < b);
        out.push((format!("<{b}"), (upper - lower) as u64));
        lower = upper;
    }
    out.push(("≥500".to_owned(), (sorted_ms.len() - lower) as u64));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), Some(50.0));
        assert_eq!(quantile(&v, 0.99), Some(99.0));
        assert_eq!(quantile(&v, 1.0), Some(100.0));
        assert_eq!(quantile(&[], 0.5), None);
        assert_eq!(quantile(&[7.0], 0.99), Some(7.0));
        let h = histogram(&[0.5, 0.7, 3.0, 41.0, 600.0]);
        assert_eq!(h.iter().map(|(_, n)| n).sum::<u64>(), 5);
        assert_eq!(h[0], ("<1".to_owned(), 2));
        assert_eq!(h.last(), Some(&("≥500".to_owned(), 1)));
    }
}
