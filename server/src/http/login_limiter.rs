//! Throttles password guessing without locking the owner of an account out.
//!
//! Failed logins are counted per (username, client address), per client address (any
//! username) and across the server, each in one-minute windows:
//!
//! - a pair over `login_attempts_per_minute`, or an address over
//!   `login_attempts_per_address_per_minute`, is locked out: for a minute the first
//!   time, then twice as long each time it runs into its limit again, up to
//!   `login_lockout_max_secs`; it is forgiven once it has not failed for that long;
//! - over `login_attempts_global_per_minute` failures across the server, only addresses
//!   that have not failed this minute may try (each of many guessing addresses gets one
//!   guess a minute; a person typing their password for the first time still gets in).
//!
//! A locked-out pair or address is refused before its password is checked, and only that
//! one: the owner of the account logging in from another address (whose own record is
//! clean) is checked as usual, and gets in with the right password.
//!
//! The limit is atomic: [`LoginLimiter::begin`] reserves the attempt — counting it as a
//! failure — before the password is checked, so many guesses in flight at once cannot
//! all be checked. A correct password gives its reservation back
//! ([`Attempt::succeeded`]), as does a login that was never checked
//! ([`Attempt::not_checked`]); an attempt dropped unresolved (the client hung up
//! mid-check) stays a failure.
//!
//! Time is the server's clock in ms (so the test clock moves it). Addresses are
//! compared as the client address ([`super::client_addr`]) names them; IPv6 ones by their
//! /64 network, which one subscriber usually has whole.
//!
//! ```
//! use linli_server::http::login_limiter::{LoginLimiter, LoginLimits};
//! let limiter = LoginLimiter::new(LoginLimits { per_user_and_address: 2, ..LoginLimits::default() });
//! let attacker = "203.0.113.7".parse().unwrap();
//! let owner = "198.51.100.1".parse().unwrap();
//! for _ in 0..2 {
//!     limiter.begin("alice", attacker, 0).unwrap().failed(0);
//! }
//! assert!(limiter.begin("alice", attacker, 1).is_err()); // locked out, right password or not
//! assert!(limiter.begin("alice", owner, 1).is_ok()); // the owner is checked as usual
//! ```

use lru::LruCache;
use parking_lot::Mutex;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroUsize;

/// How long failures are counted together.
pub const WINDOW_MS: i64 = 60_000;

/// Pairs and addresses remembered, each; the least recently seen are forgotten beyond
/// it (a memory bound: ~100 bytes each).
const TRACKED: usize = 100_000;

/// The limits (settings `login_attempts_*` and `login_lockout_max_secs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    /// Failures per username from one address, per minute.
    pub per_user_and_address: u32,
    /// Failures from one address, whichever usernames, per minute.
    pub per_address: u32,
    /// Failures across the server per minute before only clean addresses may try.
    pub global: u32,
    /// The longest lockout, in ms.
    pub max_lockout_ms: i64,
}

impl Default for LoginLimits {
    fn default() -> Self {
        LoginLimits { per_user_and_address: 10, per_address: 30, global: 300, max_lockout_ms: 15 * WINDOW_MS }
    }
}

/// Which limit refused a login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    UserAndAddress,
    Address,
    Global,
}

/// A login refused before its password was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    pub limit: Limit,
    /// When it may be tried again.
    pub retry_after_ms: i64,
}

impl Refused {
    /// For `Retry-After`: whole seconds, at least 1.
    pub fn retry_after_secs(&self) -> u64 {
        (self.retry_after_ms.max(0) as u64).div_ceil(1000).max(1)
    }
}

/// One key's failures.
#[derive(Debug, Clone, Copy)]
struct Strikes {
    window_start: i64,
    /// In this window, attempts in flight included.
    failures: u32,
    /// Lockouts in a row: the next one lasts 2^lockouts minutes.
    lockouts: u32,
    locked_until: i64,
    last_failure: i64,
}

impl Strikes {
    fn new(now: i64) -> Self {
        Strikes { window_start: now, failures: 0, lockouts: 0, locked_until: i64::MIN, last_failure: i64::MIN }
    }

    /// Moves to the window `now` is in; forgives past lockouts once the key has been
    /// neither failing nor locked out for the longest lockout.
    fn roll(&mut self, now: i64, limits: &LoginLimits) {
        if now.saturating_sub(self.window_start) >= WINDOW_MS || now < self.window_start {
            self.window_start = now;
            self.failures = 0;
        }
        let quiet_since = self.last_failure.max(self.locked_until);
        if self.locked_until <= now && now.saturating_sub(quiet_since) >= limits.max_lockout_ms.max(WINDOW_MS) {
            self.lockouts = 0;
        }
    }

    /// How long this key must wait before trying again, if it must.
    fn wait(&self, now: i64, limit: u32, limits: &LoginLimits) -> Option<i64> {
        if self.locked_until > now {
            // Bounded, should the clock have been set back.
            return Some((self.locked_until - now).min(limits.max_lockout_ms.max(WINDOW_MS)));
        }
        (self.failures >= limit).then(|| self.window_start + WINDOW_MS - now)
    }

    fn reserve(&mut self, now: i64) {
        self.failures = self.failures.saturating_add(1);
        self.last_failure = now;
    }

    fn refund(&mut self) {
        self.failures = self.failures.saturating_sub(1);
    }

    /// A reserved attempt failed: at the limit, the key is locked out (longer each time).
    fn failed(&mut self, now: i64, limit: u32, limits: &LoginLimits) {
        self.last_failure = now;
        if self.failures >= limit && self.locked_until <= now {
            self.lockouts = self.lockouts.saturating_add(1);
            let doubled = WINDOW_MS.saturating_mul(1i64 << (self.lockouts - 1).min(30));
            self.locked_until = now.saturating_add(doubled.min(limits.max_lockout_ms.max(WINDOW_MS)));
        }
    }
}

#[derive(Debug)]
struct State {
    pairs: LruCache<(String, IpAddr), Strikes>,
    addresses: LruCache<IpAddr, Strikes>,
    global: Strikes,
}

/// See the module docs.
#[derive(Debug)]
pub struct LoginLimiter {
    limits: LoginLimits,
    state: Mutex<State>,
}

impl LoginLimiter {
    pub fn new(limits: LoginLimits) -> Self {
        let tracked = NonZeroUsize::new(TRACKED).unwrap_or(NonZeroUsize::MIN);
        LoginLimiter {
            limits,
            state: Mutex::new(State {
                pairs: LruCache::new(tracked),
                addresses: LruCache::new(tracked),
                global: Strikes::new(0),
            }),
        }
    }

    /// Reserves a login attempt of `username` from `client` at `now` (ms), or refuses it.
    /// The attempt counts as failed unless resolved otherwise (see [`Attempt`]).
    pub fn begin(&self, username: &str, client: IpAddr, now: i64) -> Result<Attempt<'_>, Refused> {
        let limits = &self.limits;
        let address = address_key(client);
        let pair_key = (username.to_owned(), address);
        let mut guard = self.state.lock();
        let State { pairs, addresses, global } = &mut *guard;
        let pair = pairs.get_or_insert_mut(pair_key.clone(), || Strikes::new(now));
        pair.roll(now, limits);
        let from = addresses.get_or_insert_mut(address, || Strikes::new(now));
        from.roll(now, limits);
        global.roll(now, limits);
        let refusal = |limit, retry_after_ms| Refused { limit, retry_after_ms };
        if let Some(wait) = pair.wait(now, limits.per_user_and_address, limits) {
            return Err(refusal(Limit::UserAndAddress, wait));
        }
        if let Some(wait) = from.wait(now, limits.per_address, limits) {
            return Err(refusal(Limit::Address, wait));
        }
        if global.failures >= limits.global && from.failures > 0 {
            return Err(refusal(Limit::Global, global.window_start + WINDOW_MS - now));
        }
        pair.reserve(now);
        from.reserve(now);
        global.reserve(now);
        Ok(Attempt { limiter: self, pair: pair_key, started: now, resolved: false })
    }

    fn resolve(&self, pair: &(String, IpAddr), outcome: Outcome, now: i64) {
        let limits = &self.limits;
        let mut guard = self.state.lock();
        let State { pairs, addresses, global } = &mut *guard;
        match outcome {
            Outcome::Failed => {
                if let Some(s) = pairs.peek_mut(pair) {
                    s.failed(now, limits.per_user_and_address, limits);
                }
                if let Some(s) = addresses.peek_mut(&pair.1) {
                    s.failed(now, limits.per_address, limits);
                }
                global.last_failure = now;
            }
            Outcome::Succeeded | Outcome::NotChecked => {
                if outcome == Outcome::Succeeded {
                    // The owner got in: this pair starts afresh.
                    pairs.pop(pair);
                } else if let Some(s) = pairs.peek_mut(pair) {
                    s.refund();
                }
                if let Some(s) = addresses.peek_mut(&pair.1) {
                    s.refund();
                }
                global.refund();
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Failed,
    Succeeded,
    NotChecked,
}

/// A reserved login attempt: resolve it with what the password check found. Dropped
/// unresolved, it is a failure.
#[derive(Debug)]
#[must_use = "an attempt dropped unresolved counts as a failure"]
pub struct Attempt<'a> {
    limiter: &'a LoginLimiter,
    pair: (String, IpAddr),
    started: i64,
    resolved: bool,
}

impl Attempt<'_> {
    /// The password was wrong (or the user unknown) at `now`.
    pub fn failed(mut self, now: i64) {
        self.resolve(Outcome::Failed, now);
    }

    /// The password was right: the attempt is not counted, and the pair starts afresh.
    pub fn succeeded(mut self) {
        self.resolve(Outcome::Succeeded, self.started);
    }

    /// The password was not checked (the server was busy, or the store failed): the
    /// attempt is not counted.
    pub fn not_checked(mut self) {
        self.resolve(Outcome::NotChecked, self.started);
    }

    fn resolve(&mut self, outcome: Outcome, now: i64) {
        if !self.resolved {
            self.resolved = true;
            self.limiter.resolve(&self.pair, outcome, now);
        }
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        self.resolve(Outcome::Failed, self.started);
    }
}

/// The key of a client address: IPv4 as it is, IPv6 by its /64 network.
fn address_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(bits))
        }
        v4 => v4,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const MIN: i64 = WINDOW_MS;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn limiter(per_pair: u32, per_address: u32, global: u32) -> LoginLimiter {
        LoginLimiter::new(LoginLimits { per_user_and_address: per_pair, per_address, global, max_lockout_ms: 4 * MIN })
    }

    /// `n` wrong passwords of `user` from `from` at `now`; how many were checked.
    fn guess(l: &LoginLimiter, user: &str, from: &str, n: usize, now: i64) -> usize {
        (0..n).filter_map(|_| l.begin(user, ip(from), now).ok().map(|a| a.failed(now))).count()
    }

    #[test]
    fn attempts_in_flight_count_against_the_limit() {
        let l = limiter(10, 100, 1000);
        // Thirty guesses begin before any is resolved: only ten are let through.
        let attempts: Vec<_> = (0..30).filter_map(|_| l.begin("alice", ip("203.0.113.7"), 0).ok()).collect();
        assert_eq!(attempts.len(), 10);
        // The right password among them is refused too: it is refused before it is checked.
        assert_eq!(l.begin("alice", ip("203.0.113.7"), 0).unwrap_err().limit, Limit::UserAndAddress);
        drop(attempts); // the clients hung up: still failures
        let refused = l.begin("alice", ip("203.0.113.7"), 1).unwrap_err();
        assert_eq!(refused.retry_after_secs(), 60);
    }

    #[test]
    fn a_right_password_and_an_unchecked_attempt_give_their_reservation_back() {
        let l = limiter(3, 100, 1000);
        for _ in 0..10 {
            l.begin("alice", ip("203.0.113.7"), 0).unwrap().not_checked();
        }
        assert_eq!(guess(&l, "alice", "203.0.113.7", 2, 0), 2);
        l.begin("alice", ip("203.0.113.7"), 0).unwrap().succeeded();
        // The owner got in: the pair starts afresh.
        assert_eq!(guess(&l, "alice", "203.0.113.7", 5, 0), 3);
    }

    #[test]
    fn lockouts_double_up_to_the_longest_and_are_forgiven_after_a_quiet_spell() {
        let l = limiter(2, 100, 1000);
        let mut now = 0;
        let mut lockouts = Vec::new();
        for _ in 0..5 {
            assert_eq!(guess(&l, "alice", "203.0.113.7", 5, now), 2);
            let wait = l.begin("alice", ip("203.0.113.7"), now).unwrap_err().retry_after_ms;
            lockouts.push(wait / MIN);
            // Still locked just before the end, free at it.
            assert!(l.begin("alice", ip("203.0.113.7"), now + wait - 1).is_err());
            now += wait;
        }
        assert_eq!(lockouts, [1, 2, 4, 4, 4]);
        // Quiet for the longest lockout: the next lockout is one minute again.
        now += 4 * MIN;
        assert_eq!(guess(&l, "alice", "203.0.113.7", 5, now), 2);
        assert_eq!(l.begin("alice", ip("203.0.113.7"), now).unwrap_err().retry_after_ms, MIN);
    }

    #[test]
    fn the_owner_from_another_address_is_not_locked_out() {
        let l = limiter(3, 100, 1000);
        assert_eq!(guess(&l, "alice", "203.0.113.7", 10, 0), 3);
        assert!(l.begin("alice", ip("203.0.113.7"), 0).is_err());
        l.begin("alice", ip("198.51.100.1"), 0).unwrap().succeeded();
    }

    #[test]
    fn one_address_guessing_across_accounts_is_limited() {
        let l = limiter(10, 8, 1000);
        let checked: usize =
            ["alice", "bob", "carol", "dave", "erin"].iter().map(|user| guess(&l, user, "203.0.113.7", 3, 0)).sum();
        assert_eq!(checked, 8);
        assert_eq!(l.begin("frank", ip("203.0.113.7"), 0).unwrap_err().limit, Limit::Address);
        // Another address is not affected.
        assert!(l.begin("frank", ip("198.51.100.1"), 0).is_ok());
    }

    #[test]
    fn over_the_global_limit_only_addresses_that_have_not_failed_may_try() {
        let l = limiter(10, 100, 5);
        for i in 1..=5 {
            assert_eq!(guess(&l, "alice", &format!("203.0.113.{i}"), 1, 0), 1);
        }
        assert_eq!(l.begin("alice", ip("203.0.113.1"), 0).unwrap_err().limit, Limit::Global);
        assert!(l.begin("bob", ip("198.51.100.1"), 0).is_ok());
        // A minute later the window is fresh.
        assert!(l.begin("alice", ip("203.0.113.1"), MIN).is_ok());
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64_network() {
        let l = limiter(2, 100, 1000);
        assert_eq!(guess(&l, "alice", "2001:db8:1:2::1", 1, 0), 1);
        assert_eq!(guess(&l, "alice", "2001:db8:1:2:ffff::9", 1, 0), 1);
        assert!(l.begin("alice", ip("2001:db8:1:2::77"), 0).is_err());
        assert!(l.begin("alice", ip("2001:db8:1:3::1"), 0).is_ok());
        // An IPv4 client seen through an IPv6 socket is the same client.
        assert_eq!(guess(&l, "bob", "::ffff:203.0.113.7", 2, 0), 2);
        assert!(l.begin("bob", ip("203.0.113.7"), 0).is_err());
    }
}
