//! `DomainLimits`: the bounds a document must respect, besides its schema. They keep one
//! hostile or buggy phone from bloating documents every other phone of the grid syncs,
//! and hold the community's clock facts the rules need (clock skew, UTC offset).

/// Default longest free text (notes, failure reasons, medical notes), in characters.
pub const DEFAULT_MAX_STRING_CHARS: usize = 2000;
/// Default longest short string (names, units, ids, grid names, addresses), in characters.
pub const DEFAULT_MAX_SHORT_CHARS: usize = 100;
/// Default longest list (items, members, medicines, log, medical notes).
pub const DEFAULT_MAX_LIST_LEN: usize = 200;
/// Default most check-ins in one episode (14 days × 4 slots = 56 is the usual need).
pub const DEFAULT_MAX_CHECKINS: usize = 200;
/// Default most rows in a grid index or inbox (~1,000 households' open work, plus recent).
pub const DEFAULT_MAX_INDEX_ROWS: usize = 20_000;
/// Default longest observation episode, in days from `start` to `end` (14 is the norm).
pub const DEFAULT_MAX_EPISODE_DAYS: i64 = 90;
/// Default tolerance for a phone's clock running ahead: one hour.
pub const DEFAULT_MAX_CLOCK_SKEW_MS: i64 = 60 * 60 * 1000;
/// Default community time zone: China Standard Time, UTC+8.
pub const DEFAULT_UTC_OFFSET_MINUTES: i32 = 8 * 60;

/// Bounds and clock facts used by [`crate::domain::DomainDoc::validate`] and
/// [`crate::domain::check_change`]. The server makes each one a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DomainLimits {
    /// Longest free text, in characters.
    pub max_string_chars: usize,
    /// Longest short string (names, units, user and document ids), in characters.
    pub max_short_chars: usize,
    /// Longest list: items, members, medicines, log, medical notes.
    pub max_list_len: usize,
    /// Most check-ins in one episode.
    pub max_checkins: usize,
    /// Most rows in a grid index or an inbox.
    pub max_index_rows: usize,
    /// Longest episode, in days from `start` to `end`.
    pub max_episode_days: i64,
    /// How far in the future (by the server's clock) a timestamp written by a phone may be.
    pub max_clock_skew_ms: i64,
    /// The community's offset from UTC, in minutes: it turns a timestamp into the local date
    /// a check-in belongs to.
    pub utc_offset_minutes: i32,
}

impl Default for DomainLimits {
    fn default() -> Self {
        Self {
            max_string_chars: DEFAULT_MAX_STRING_CHARS,
            max_short_chars: DEFAULT_MAX_SHORT_CHARS,
            max_list_len: DEFAULT_MAX_LIST_LEN,
            max_checkins: DEFAULT_MAX_CHECKINS,
            max_index_rows: DEFAULT_MAX_INDEX_ROWS,
            max_episode_days: DEFAULT_MAX_EPISODE_DAYS,
            max_clock_skew_ms: DEFAULT_MAX_CLOCK_SKEW_MS,
            utc_offset_minutes: DEFAULT_UTC_OFFSET_MINUTES,
        }
    }
}

impl DomainLimits {
    /// The community's local date and time at `ms` since the epoch (`None` out of range).
    #[must_use]
    pub fn local_datetime(&self, ms: i64) -> Option<chrono::NaiveDateTime> {
        let utc = chrono::DateTime::from_timestamp_millis(ms)?.naive_utc();
        utc.checked_add_signed(chrono::TimeDelta::minutes(i64::from(self.utc_offset_minutes)))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documented_values() {
        let l = DomainLimits::default();
        assert_eq!((l.max_string_chars, l.max_short_chars, l.max_list_len, l.max_checkins), (2000, 100, 200, 200));
        assert_eq!(l.utc_offset_minutes, 480);
    }

    #[test]
    fn local_time_applies_the_offset() {
        let l = DomainLimits::default();
        // 2026-01-31T16:30:00Z is 2026-02-01 00:30 in Beijing.
        let ms = chrono::DateTime::parse_from_rfc3339("2026-01-31T16:30:00Z").unwrap().timestamp_millis();
        assert_eq!(l.local_datetime(ms).unwrap().to_string(), "2026-02-01 00:30:00");
        assert_eq!(l.local_datetime(i64::MAX), None);
    }
}
