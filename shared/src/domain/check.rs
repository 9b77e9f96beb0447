//! Small helpers that validation uses to check one field against [`DomainLimits`] and to
//! name it in the [`Violation`].

use chrono::NaiveDate;

use super::limits::DomainLimits;
use super::violation::Violation;

/// Field checks bound to a set of limits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Check<'a> {
    pub(crate) limits: &'a DomainLimits,
}

impl Check<'_> {
    /// A short string: a name, unit, id or address part.
    pub(crate) fn short(self, field: &str, s: &str) -> Result<(), Violation> {
        max_chars(field, s, self.limits.max_short_chars)
    }

    /// A short string that must not be empty (user ids, item names).
    pub(crate) fn short_required(self, field: &str, s: &str) -> Result<(), Violation> {
        if s.trim().is_empty() {
            return Err(Violation::new(field, "must not be empty"));
        }
        self.short(field, s)
    }

    /// Free text: notes, reasons.
    pub(crate) fn text(self, field: &str, s: &str) -> Result<(), Violation> {
        max_chars(field, s, self.limits.max_string_chars)
    }

    /// A list no longer than the list limit.
    pub(crate) fn list(self, field: &str, len: usize) -> Result<(), Violation> {
        at_most(field, len, self.limits.max_list_len)
    }

    /// A user id: required, short.
    pub(crate) fn user(self, field: &str, s: &str) -> Result<(), Violation> {
        self.short_required(field, s)
    }

    /// An optional user id (an assignee).
    pub(crate) fn opt_user(self, field: &str, s: Option<&str>) -> Result<(), Violation> {
        s.map_or(Ok(()), |s| self.user(field, s))
    }
}

/// A timestamp (ms since the epoch) must be after 1970.
pub(crate) fn timestamp(field: &str, ms: i64) -> Result<(), Violation> {
    if ms <= 0 {
        return Err(Violation::new(field, "must be a time after 1970 (ms since the epoch)"));
    }
    Ok(())
}

pub(crate) fn at_most(field: &str, len: usize, max: usize) -> Result<(), Violation> {
    if len > max {
        return Err(Violation::new(field, format!("has {len} entries; the limit is {max}")));
    }
    Ok(())
}

fn max_chars(field: &str, s: &str, max: usize) -> Result<(), Violation> {
    // Count lazily: a megabyte string is refused after `max + 1` characters.
    if s.chars().nth(max).is_some() {
        return Err(Violation::new(field, format!("is longer than {max} characters")));
    }
    Ok(())
}

/// Parses a calendar date written exactly as `YYYY-MM-DD`.
#[must_use]
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    if s.len() != 10 {
        return None;
    }
    let date = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    // chrono accepts unpadded fields; only the canonical spelling is a valid key.
    (date.format("%Y-%m-%d").to_string() == s).then_some(date)
}

/// A required `YYYY-MM-DD` date.
pub(crate) fn date(field: &str, s: &str) -> Result<NaiveDate, Violation> {
    parse_date(s).ok_or_else(|| Violation::new(field, "must be a real date written YYYY-MM-DD"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn dates_must_be_real_and_canonical() {
        assert!(parse_date("2026-02-28").is_some());
        assert!(parse_date("2024-02-29").is_some());
        assert!(parse_date("2026-02-29").is_none());
        assert!(parse_date("2026-2-28").is_none());
        assert!(parse_date("2026-02-28T00:00").is_none());
        assert!(parse_date("").is_none());
        assert!(parse_date("+2026-02-2").is_none());
    }

    #[test]
    fn char_limits_count_characters_not_bytes() {
        let limits = DomainLimits { max_short_chars: 3, ..DomainLimits::default() };
        let c = Check { limits: &limits };
        assert!(c.short("f", "王小明").is_ok());
        assert_eq!(c.short("f", "王小明好").unwrap_err().field, "f");
        assert!(c.short_required("f", " ").is_err());
    }
}
