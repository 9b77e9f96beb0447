//! The server's clock: every decision that depends on the time of day (alerts, check-in
//! deadlines, retention, the rules' "not in the future") asks a [`Clock`], never the
//! system time directly, so tests can run any case at a fixed instant.
//!
//! ```
//! use linli_server::clock::{Clock, ManualClock};
//!
//! let clock = ManualClock::at_rfc3339("2026-03-16T23:59:00+08:00").unwrap();
//! let before = clock.now_ms();
//! clock.advance_ms(2 * 60_000); // two minutes later it is the next day in Beijing
//! assert_eq!(clock.now_ms() - before, 120_000);
//! ```
//!
//! Session tokens are the exception: their expiry is checked by `jsonwebtoken` against
//! the system time, which is what an attacker holding a token also lives by.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// Milliseconds since the Unix epoch, as the server sees them.
pub trait Clock: fmt::Debug + Send + Sync + 'static {
    fn now_ms(&self) -> i64;

    /// The clock as a [`ManualClock`], if it is one (`POST /api/test/clock` moves it).
    fn as_manual(&self) -> Option<&ManualClock> {
        None
    }
}

/// A clock shared by every part of one server.
pub type SharedClock = Arc<dyn Clock>;

/// The operating system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        system_now_ms()
    }
}

/// The system time in ms since the epoch (0 if the system clock is before 1970).
pub fn system_now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// A clock that stands still until it is set or advanced: tests, and `--test-clock`.
#[derive(Debug)]
pub struct ManualClock {
    now: AtomicI64,
}

/// Why a `--test-clock` value was refused.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not an RFC 3339 instant such as 2026-03-16T10:00:00+08:00")]
pub struct BadInstant(pub String);

impl ManualClock {
    pub fn new(now_ms: i64) -> Self {
        ManualClock { now: AtomicI64::new(now_ms) }
    }

    /// A clock standing at `instant`, written as RFC 3339 (`2026-03-16T10:00:00+08:00`).
    pub fn at_rfc3339(instant: &str) -> Result<Self, BadInstant> {
        Ok(Self::new(parse_rfc3339_ms(instant)?))
    }

    pub fn set_ms(&self, now_ms: i64) {
        self.now.store(now_ms, Ordering::SeqCst);
    }

    pub fn advance_ms(&self, by_ms: i64) {
        self.now.fetch_add(by_ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }

    fn as_manual(&self) -> Option<&ManualClock> {
        Some(self)
    }
}

/// Parses an RFC 3339 instant into ms since the epoch.
pub fn parse_rfc3339_ms(instant: &str) -> Result<i64, BadInstant> {
    chrono::DateTime::parse_from_rfc3339(instant)
        .map(|t| t.timestamp_millis())
        .map_err(|_| BadInstant(instant.to_owned()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let c = ManualClock::at_rfc3339("2026-01-31T23:59:59+08:00").unwrap();
        let t0 = c.now_ms();
        assert_eq!(c.now_ms(), t0);
        c.advance_ms(1_000);
        assert_eq!(c.now_ms(), t0 + 1_000);
        c.set_ms(5);
        assert_eq!(c.now_ms(), 5);
        assert!(ManualClock::at_rfc3339("yesterday").is_err());
    }
}
