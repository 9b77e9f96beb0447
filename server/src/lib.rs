//! The Linli server: an automerge-repo-compatible sync server with a durable sled store.
//!
//! ```text
//! WebSocket /sync ─► Session (handshake, limits) ─► Hub ─► DocActor (one per open doc)
//!                                                            │ apply batch → gate (rules)
//!                                                            │ → commit chunk (group commit)
//!                                                            ▼ → sync replies
//!                                                          Store (sled | PostgreSQL | memory)
//! ```
//! See `../shared/DESIGN.md` for the contract and `README.md` for how to run it.

#![forbid(unsafe_code)]

pub mod audit;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod demo;
pub mod grids;
pub mod http;
pub mod metrics;
pub mod migrate;
pub mod projector;
pub mod quarantine;
pub mod read_audit;
pub mod rules;
pub mod startup;
pub mod store;
pub mod sync;
pub mod telemetry;

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}
