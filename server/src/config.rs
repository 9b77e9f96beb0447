//! Settings: built-in defaults, then `linli.toml`, then `LINLI_*` environment variables,
//! then command-line flags (each later source wins). Every limit has a safe default.
//!
//! The file is `--config PATH` (`LINLI_CONFIG`) or, if that is not given, `linli.toml` in
//! the working directory when it exists. Keys are the flag names with `_` for `-`.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Every setting of `linli serve`. See `docs` in the README for what each one does.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub bind: SocketAddr,
    /// Origins allowed to use the session cookie on the WebSocket upgrade. Empty: the
    /// server's own origin (`http://<bind>` and `http://localhost:<port>`).
    pub allowed_origins: Vec<String>,
    /// HS256 signing key for session tokens. Unset: generated once, kept in the store.
    pub jwt_secret: Option<String>,
    pub token_ttl_secs: u64,
    pub cookie_secure: bool,
    pub max_frame_bytes: usize,
    /// Largest change a peer may send, once inflated (compressed changes are counted
    /// before they are inflated whole).
    pub max_change_bytes: usize,
    /// Largest document a peer may send whole, once inflated; also the most one sync
    /// message may inflate to in all.
    pub max_document_bytes: usize,
    /// Most operations one sync message may carry (counted from Automerge's run-length
    /// encoding, before Automerge builds them).
    pub max_message_ops: u64,
    /// Raw bytes of refused changes the quarantine keeps per entry; beyond, only hashes.
    pub quarantine_entry_bytes: usize,
    /// What the whole quarantine may cost; the oldest entries go first.
    pub quarantine_total_bytes: usize,
    /// How long a change naming a document the server does not have yet (a household
    /// synced after its task) waits before it is refused.
    pub reference_wait_secs: u64,
    /// How often such a waiting change is asked for again.
    pub reference_retry_ms: u64,
    pub max_docs_in_memory: usize,
    pub doc_idle_secs: u64,
    pub max_batch: usize,
    pub compact_after_chunks: usize,
    pub max_connections_per_user: usize,
    /// Sync connections in all, at most; 0: as many as the open-files limit allows (each
    /// costs two descriptors; 512 are kept for the store and the HTTP API).
    pub max_connections: usize,
    pub max_messages_per_sec: u32,
    pub message_burst: u32,
    pub outbound_queue: usize,
    pub max_docs_per_connection: usize,
    pub ping_interval_secs: u64,
    /// Failed logins per username from one client address per minute (then a lockout).
    pub login_attempts_per_minute: u32,
    /// Failed logins from one client address, whichever usernames, per minute.
    pub login_attempts_per_address_per_minute: u32,
    /// Failed logins across the server per minute before only addresses that have not
    /// failed may try.
    pub login_attempts_global_per_minute: u32,
    /// The longest lockout (each doubles, from one minute).
    pub login_lockout_max_secs: u64,
    /// Password checks and hashes (Argon2, ~19 MiB each) at once; more logins get 503.
    pub max_password_checks: usize,
    /// Reverse proxies (addresses or CIDR ranges) whose `X-Forwarded-For` names the
    /// client. Empty: the TCP peer is the client, and the header is ignored.
    pub trusted_proxies: Vec<crate::http::client_addr::ProxyRange>,
    /// The least zxcvbn score (0–4) a new password needs.
    pub password_min_score: u8,
    pub http_workers: usize,
    pub log_format: LogFormat,
    /// Days a closed episode keeps its health details before it is erased, and a closed
    /// delivery its items and notes (and a refused change its place in the quarantine).
    pub retention_days: u32,
    /// Days after an episode's `end` date before the server closes it (its volunteer
    /// then loses access to the household).
    pub episode_grace_days: u32,
    /// Days closed work stays listed in inboxes and grid indexes.
    pub index_closed_days: u32,
    /// Milliseconds between batched writes of inboxes and grid indexes.
    pub index_flush_ms: u64,
    /// Seconds between sweeps for time-based alerts and retention.
    pub sweep_secs: u64,
    /// The community's offset from UTC in minutes (default China, +480).
    pub utc_offset_minutes: i32,
    /// The built PWA to serve at `/` (default `web/dist`, if it exists).
    pub web_dir: Option<std::path::PathBuf>,
    /// For tests only: the server's clock stands still at this RFC 3339 instant and moves
    /// only through `POST /api/test/clock`. Unset (the default): the system clock.
    pub test_clock: Option<String>,
    /// `postgres://…`: keep the store in PostgreSQL instead of sled in `--data`.
    pub database_url: Option<String>,
    /// PostgreSQL: connections the server keeps open.
    pub database_pool_size: usize,
    /// PostgreSQL: a database call taking longer fails as a storage failure (seconds).
    pub database_timeout_secs: u64,
    /// PostgreSQL: batches committed together in one transaction, at most.
    pub database_group_max: usize,
    /// sled: nothing opens the store, and no write is made, with less free disk space.
    pub min_free_bytes: u64,
    /// While the store fails, seconds between attempts to bring it back.
    pub store_retry_secs: u64,
    /// Bearer token `GET /metrics` requires. Unset: see `metrics_bind`.
    pub metrics_token: Option<String>,
    /// A listen address of its own for `/metrics` (the main listener then answers 404).
    /// Unset, with no token either: `/metrics` answers local callers only.
    pub metrics_bind: Option<SocketAddr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            allowed_origins: Vec::new(),
            jwt_secret: None,
            token_ttl_secs: 12 * 3600,
            cookie_secure: true,
            max_frame_bytes: 8 * 1024 * 1024,
            max_change_bytes: linli_shared::inflate::DEFAULT_MAX_CHANGE_BYTES,
            max_document_bytes: linli_shared::inflate::DEFAULT_MAX_DOCUMENT_BYTES,
            max_message_ops: linli_shared::inflate::DEFAULT_MAX_MESSAGE_OPS,
            quarantine_entry_bytes: crate::quarantine::DEFAULT_ENTRY_BYTES,
            quarantine_total_bytes: crate::quarantine::DEFAULT_TOTAL_BYTES,
            reference_wait_secs: 300,
            reference_retry_ms: 2_000,
            max_docs_in_memory: 10_000,
            doc_idle_secs: 60,
            max_batch: 256,
            compact_after_chunks: 64,
            max_connections_per_user: 16,
            max_connections: 0,
            max_messages_per_sec: 500,
            message_burst: 5_000,
            outbound_queue: 4_096,
            max_docs_per_connection: 50_000,
            ping_interval_secs: 5,
            login_attempts_per_minute: 10,
            login_attempts_per_address_per_minute: 30,
            login_attempts_global_per_minute: 300,
            login_lockout_max_secs: 900,
            max_password_checks: crate::auth::users::DEFAULT_PASSWORD_CHECKS,
            trusted_proxies: Vec::new(),
            password_min_score: crate::auth::password_policy::DEFAULT_MIN_SCORE,
            http_workers: 2,
            log_format: LogFormat::Text,
            retention_days: 30,
            episode_grace_days: 1,
            index_closed_days: 3,
            index_flush_ms: 200,
            sweep_secs: 60,
            utc_offset_minutes: 480,
            web_dir: Some(PathBuf::from("web/dist")),
            test_clock: None,
            database_url: None,
            database_pool_size: crate::store::postgres::DEFAULT_POOL_SIZE,
            database_timeout_secs: crate::store::postgres::DEFAULT_TIMEOUT_SECS,
            database_group_max: crate::store::postgres::DEFAULT_GROUP_MAX,
            min_free_bytes: crate::store::DEFAULT_MIN_FREE_BYTES,
            store_retry_secs: 2,
            metrics_token: None,
            metrics_bind: None,
        }
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("bind", &self.bind)
            .field("allowed_origins", &self.allowed_origins)
            .field("jwt_secret", &self.jwt_secret.as_ref().map(|_| "<redacted>"))
            .field("token_ttl_secs", &self.token_ttl_secs)
            .field("max_frame_bytes", &self.max_frame_bytes)
            .field("max_docs_in_memory", &self.max_docs_in_memory)
            .field("database_url", &self.database_url.as_deref().map(crate::store::redact_url))
            .field("metrics_token", &self.metrics_token.as_ref().map(|_| "<redacted>"))
            .field("metrics_bind", &self.metrics_bind)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("invalid settings in {path}: {source}")]
    Parse { path: String, source: Box<toml::de::Error> },
    #[error("invalid setting: {0}")]
    Invalid(String),
}

impl Settings {
    /// Loads the settings file: `explicit` if given (it must exist), else `./linli.toml`
    /// if present, else defaults.
    pub fn from_file(explicit: Option<&Path>) -> Result<Self, ConfigError> {
        let path = match explicit {
            Some(p) => p.to_path_buf(),
            None => {
                let p = PathBuf::from("linli.toml");
                if !p.exists() {
                    return Ok(Settings::default());
                }
                p
            }
        };
        let text = std::fs::read_to_string(&path)
            .map_err(|source| ConfigError::Read { path: path.display().to_string(), source })?;
        toml::from_str(&text)
            .map_err(|source| ConfigError::Parse { path: path.display().to_string(), source: Box::new(source) })
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            ("max_frame_bytes", self.max_frame_bytes as u64),
            ("max_change_bytes", self.max_change_bytes as u64),
            ("max_document_bytes", self.max_document_bytes as u64),
            ("max_message_ops", self.max_message_ops),
            ("quarantine_total_bytes", self.quarantine_total_bytes as u64),
            ("reference_retry_ms", self.reference_retry_ms),
            ("max_docs_in_memory", self.max_docs_in_memory as u64),
            ("max_batch", self.max_batch as u64),
            ("compact_after_chunks", self.compact_after_chunks as u64),
            ("max_connections_per_user", self.max_connections_per_user as u64),
            ("max_messages_per_sec", self.max_messages_per_sec as u64),
            ("message_burst", self.message_burst as u64),
            ("outbound_queue", self.outbound_queue as u64),
            ("ping_interval_secs", self.ping_interval_secs),
            ("token_ttl_secs", self.token_ttl_secs),
            ("http_workers", self.http_workers as u64),
            ("doc_idle_secs", self.doc_idle_secs),
            ("index_flush_ms", self.index_flush_ms),
            ("sweep_secs", self.sweep_secs),
            ("store_retry_secs", self.store_retry_secs),
            ("login_attempts_per_minute", self.login_attempts_per_minute as u64),
            ("login_attempts_per_address_per_minute", self.login_attempts_per_address_per_minute as u64),
            ("login_attempts_global_per_minute", self.login_attempts_global_per_minute as u64),
            ("login_lockout_max_secs", self.login_lockout_max_secs),
            ("max_password_checks", self.max_password_checks as u64),
            ("database_pool_size", self.database_pool_size as u64),
            ("database_timeout_secs", self.database_timeout_secs),
            ("database_group_max", self.database_group_max as u64),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(ConfigError::Invalid(format!("{name} must be greater than 0")));
        }
        if let Some(instant) = &self.test_clock {
            crate::clock::parse_rfc3339_ms(instant).map_err(|e| ConfigError::Invalid(format!("test_clock: {e}")))?;
        }
        if self.password_min_score > 4 {
            return Err(ConfigError::Invalid("password_min_score must be 0 to 4".into()));
        }
        if self.jwt_secret.as_ref().is_some_and(|s| s.len() < 32) {
            return Err(ConfigError::Invalid("jwt_secret must be at least 32 bytes".into()));
        }
        if self.metrics_token.as_ref().is_some_and(|t| t.trim().len() < 16) {
            return Err(ConfigError::Invalid("metrics_token must be at least 16 bytes".into()));
        }
        Ok(())
    }

    /// The clock the server runs on: the system's, or the test clock if one is set.
    pub fn clock(&self) -> Result<crate::clock::SharedClock, ConfigError> {
        Ok(match &self.test_clock {
            Some(instant) => std::sync::Arc::new(
                crate::clock::ManualClock::at_rfc3339(instant)
                    .map_err(|e| ConfigError::Invalid(format!("test_clock: {e}")))?,
            ),
            None => std::sync::Arc::new(crate::clock::SystemClock),
        })
    }

    pub fn login_limits(&self) -> crate::http::login_limiter::LoginLimits {
        crate::http::login_limiter::LoginLimits {
            per_user_and_address: self.login_attempts_per_minute,
            per_address: self.login_attempts_per_address_per_minute,
            global: self.login_attempts_global_per_minute,
            max_lockout_ms: i64::try_from(self.login_lockout_max_secs.saturating_mul(1000)).unwrap_or(i64::MAX),
        }
    }

    pub fn password_policy(&self) -> crate::auth::PasswordPolicy {
        crate::auth::PasswordPolicy { min_score: self.password_min_score }
    }

    pub fn ping_interval(&self) -> Duration {
        Duration::from_secs(self.ping_interval_secs)
    }

    pub fn wire_limits(&self) -> linli_shared::WireLimits {
        linli_shared::WireLimits { max_frame_bytes: self.max_frame_bytes, ..Default::default() }
    }

    pub fn inflate_limits(&self) -> linli_shared::inflate::InflateLimits {
        linli_shared::inflate::InflateLimits {
            max_change_bytes: self.max_change_bytes,
            max_document_bytes: self.max_document_bytes,
            max_message_ops: self.max_message_ops,
        }
    }

    pub fn quarantine_limits(&self) -> crate::quarantine::QuarantineLimits {
        crate::quarantine::QuarantineLimits {
            entry_bytes: self.quarantine_entry_bytes,
            total_bytes: self.quarantine_total_bytes,
        }
    }

    pub fn hub_settings(&self) -> crate::sync::HubSettings {
        crate::sync::HubSettings {
            max_docs_in_memory: self.max_docs_in_memory,
            actors: crate::sync::ActorSettings {
                doc_idle: Duration::from_secs(self.doc_idle_secs),
                max_batch: self.max_batch,
                compact_after_chunks: self.compact_after_chunks,
                inflate: self.inflate_limits(),
                reference_retry: Duration::from_millis(self.reference_retry_ms),
            },
            max_connections_per_user: self.max_connections_per_user,
            max_connections: match self.max_connections {
                0 => crate::sync::hub::connections_the_fd_limit_allows(),
                n => n,
            },
            store_retry: Duration::from_secs(self.store_retry_secs),
        }
    }

    pub fn projector_settings(&self) -> crate::projector::ProjectorSettings {
        crate::projector::ProjectorSettings {
            closed_days: self.index_closed_days,
            flush_interval: Duration::from_millis(self.index_flush_ms),
            sweep_interval: Duration::from_secs(self.sweep_secs),
            retention_days: self.retention_days,
            episode_grace_days: self.episode_grace_days,
            utc_offset_minutes: self.utc_offset_minutes,
        }
    }

    pub fn session_settings(&self) -> crate::sync::SessionSettings {
        crate::sync::SessionSettings {
            wire: self.wire_limits(),
            max_messages_per_sec: self.max_messages_per_sec,
            message_burst: self.message_burst,
            outbound_queue: self.outbound_queue,
            max_docs_per_connection: self.max_docs_per_connection,
        }
    }

    /// Which engine holds the store: PostgreSQL if `database_url` is set, else sled in `data`.
    pub fn engine(&self, data: &Path) -> crate::store::EngineChoice {
        crate::store::EngineChoice::from_settings(data, self.database_url.as_deref())
    }

    pub fn open_options(&self, metrics: std::sync::Arc<crate::metrics::Metrics>) -> crate::store::OpenOptions {
        crate::store::OpenOptions {
            min_free_bytes: self.min_free_bytes,
            metrics,
            database_pool_size: self.database_pool_size,
            database_timeout: Duration::from_secs(self.database_timeout_secs),
            database_group_max: self.database_group_max,
        }
    }

    /// The origins allowed for cookie authentication, given the address actually bound.
    pub fn origins_for(&self, bound: SocketAddr) -> Vec<String> {
        if !self.allowed_origins.is_empty() {
            return self.allowed_origins.clone();
        }
        vec![format!("http://{bound}"), format!("http://localhost:{}", bound.port())]
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn file_settings_override_defaults_and_unknown_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("linli.toml");
        std::fs::write(&path, "bind = \"0.0.0.0:9000\"\nmax_frame_bytes = 1024\n").unwrap();
        let s = Settings::from_file(Some(&path)).unwrap();
        assert_eq!(s.bind.port(), 9000);
        assert_eq!(s.max_frame_bytes, 1024);
        assert_eq!(s.max_batch, Settings::default().max_batch);
        std::fs::write(&path, "trusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\"]\npassword_min_score = 2\n").unwrap();
        let s = Settings::from_file(Some(&path)).unwrap();
        assert_eq!(s.trusted_proxies.len(), 2);
        assert_eq!(s.password_policy().min_score, 2);
        std::fs::write(&path, "trusted_proxies = [\"proxy.example\"]\n").unwrap();
        assert!(matches!(Settings::from_file(Some(&path)), Err(ConfigError::Parse { .. })));
        std::fs::write(&path, "max_frame_byts = 1\n").unwrap();
        assert!(matches!(Settings::from_file(Some(&path)), Err(ConfigError::Parse { .. })));
    }

    #[test]
    fn zero_limits_and_short_secrets_are_refused() {
        let s = Settings { max_batch: 0, ..Settings::default() };
        assert!(s.validate().is_err());
        let s = Settings { jwt_secret: Some("short".into()), ..Settings::default() };
        assert!(s.validate().is_err());
        let s = Settings { max_password_checks: 0, ..Settings::default() };
        assert!(s.validate().is_err());
        let s = Settings { password_min_score: 5, ..Settings::default() };
        assert!(s.validate().is_err());
        let s = Settings { metrics_token: Some("short".into()), ..Settings::default() };
        assert!(s.validate().is_err());
        Settings::default().validate().unwrap();
    }

    #[test]
    fn debug_redacts_the_secrets() {
        let s =
            Settings { jwt_secret: Some("x".repeat(40)), metrics_token: Some("y".repeat(40)), ..Settings::default() };
        assert!(!format!("{s:?}").contains("xxxx"));
        assert!(!format!("{s:?}").contains("yyyy"));
    }
}
