//! Prometheus metrics, rendered as text at `GET /metrics`.
//!
//! Labels never carry user names, document ids or health data: only fixed codes.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabel {
    pub code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TypeLabel {
    pub r#type: &'static str,
}

/// Every metric the server exports. Cheap to update from any thread.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub connections: Gauge,
    pub connections_total: Counter,
    pub docs_loaded: Gauge,
    pub changes_accepted: Counter,
    pub changes_refused: Family<CodeLabel, Counter>,
    pub bytes_in: Counter,
    pub bytes_out: Counter,
    pub messages_in: Family<TypeLabel, Counter>,
    pub protocol_errors: Family<CodeLabel, Counter>,
    pub peers_dropped: Family<CodeLabel, Counter>,
    pub flush_seconds: Histogram,
    pub commits_per_flush: Histogram,
    pub evictions: Counter,
    pub doc_load_errors: Counter,
    pub store_errors: Counter,
    pub store_up: Gauge,
    pub compactions: Counter,
    /// Sync messages whose changes wait for a document the server does not have yet.
    pub changes_deferred: Counter,
    pub auth_failures: Family<CodeLabel, Counter>,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("linli");
        let m = Metrics {
            connections: Gauge::default(),
            connections_total: Counter::default(),
            docs_loaded: Gauge::default(),
            changes_accepted: Counter::default(),
            changes_refused: Family::default(),
            bytes_in: Counter::default(),
            bytes_out: Counter::default(),
            messages_in: Family::default(),
            protocol_errors: Family::default(),
            peers_dropped: Family::default(),
            flush_seconds: Histogram::new(exponential_buckets(0.0001, 2.0, 16)),
            commits_per_flush: Histogram::new(exponential_buckets(1.0, 2.0, 12)),
            evictions: Counter::default(),
            doc_load_errors: Counter::default(),
            store_errors: Counter::default(),
            store_up: Gauge::default(),
            compactions: Counter::default(),
            changes_deferred: Counter::default(),
            auth_failures: Family::default(),
            registry: Registry::default(),
        };
        registry.register("connections", "Open sync connections", m.connections.clone());
        registry.register("connections_opened", "Sync connections opened", m.connections_total.clone());
        registry.register("docs_loaded", "Documents held in memory", m.docs_loaded.clone());
        registry.register("changes_accepted", "Automerge changes accepted and stored", m.changes_accepted.clone());
        registry.register("changes_refused", "Changes or sync messages refused, by reason", m.changes_refused.clone());
        registry.register("bytes_in", "WebSocket payload bytes received", m.bytes_in.clone());
        registry.register("bytes_out", "WebSocket payload bytes sent", m.bytes_out.clone());
        registry.register("messages_in", "Protocol messages received, by type", m.messages_in.clone());
        registry.register("protocol_errors", "Bad input from peers, by reason", m.protocol_errors.clone());
        registry.register(
            "peers_dropped",
            "Sync connections cut for not reading their socket or not answering pings, by reason",
            m.peers_dropped.clone(),
        );
        registry.register("flush_seconds", "Latency of one group-commit fsync", m.flush_seconds.clone());
        registry.register("commits_per_flush", "Writers served by one fsync", m.commits_per_flush.clone());
        registry.register("evictions", "Documents evicted from memory", m.evictions.clone());
        registry.register("doc_load_errors", "Stored documents that could not be loaded", m.doc_load_errors.clone());
        registry.register("store_errors", "Failed writes to the store", m.store_errors.clone());
        registry.register(
            "store_up",
            "1 while the store works, 0 while it fails (no change is acknowledged)",
            m.store_up.clone(),
        );
        registry.register("compactions", "Documents compacted into a snapshot", m.compactions.clone());
        registry.register(
            "changes_deferred",
            "Sync messages whose changes wait for a document the server does not have yet",
            m.changes_deferred.clone(),
        );
        registry.register("auth_failures", "Refused logins and connections, by reason", m.auth_failures.clone());
        Metrics { registry, ..m }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    pub fn protocol_error(&self, code: &'static str) {
        self.protocol_errors.get_or_create(&CodeLabel { code }).inc();
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
