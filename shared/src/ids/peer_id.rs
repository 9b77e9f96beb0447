//! `PeerId`: the name a peer gives itself in `senderId`/`targetId`. Chosen freely by the
//! peer (the JS default is `peer-<random>`), so it routes messages but never proves who
//! the user is; identity comes from the authenticated connection.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::text_id::check_text_id;
use super::IdError;
use crate::limits::DEFAULT_MAX_ID_LEN;

/// A peer's self-chosen id: any non-empty string of bounded length.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(String);

impl PeerId {
    /// Validates `s` against the default length limit
    /// ([`DEFAULT_MAX_ID_LEN`](crate::limits::DEFAULT_MAX_ID_LEN) bytes).
    ///
    /// # Errors
    ///
    /// [`IdError::Empty`] or [`IdError::TooLong`].
    pub fn new(s: impl Into<String>) -> Result<Self, IdError> {
        Self::with_max_len(s, DEFAULT_MAX_ID_LEN)
    }

    /// Validates `s` against an explicit byte limit (the wire decoder passes
    /// [`WireLimits::max_id_len`](crate::WireLimits::max_id_len)).
    ///
    /// # Errors
    ///
    /// [`IdError::Empty`] or [`IdError::TooLong`].
    pub fn with_max_len(s: impl Into<String>, max_len: usize) -> Result<Self, IdError> {
        let s = s.into();
        check_text_id(&s, max_len)?;
        Ok(Self(s))
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for PeerId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        Self::new(s)
    }
}

impl TryFrom<String> for PeerId {
    type Error = IdError;

    fn try_from(s: String) -> Result<Self, IdError> {
        Self::new(s)
    }
}

impl AsRef<str> for PeerId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Serialize for PeerId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for PeerId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::new(String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn accepts_any_non_empty_string_within_the_limit() {
        assert_eq!(PeerId::new("peer-abc").unwrap().as_str(), "peer-abc");
        assert_eq!(PeerId::new("邻里 🏠").unwrap().to_string(), "邻里 🏠");
        assert!(PeerId::new("x".repeat(DEFAULT_MAX_ID_LEN)).is_ok());
    }

    #[test]
    fn refuses_empty_and_overlong() {
        assert_eq!(PeerId::new(""), Err(IdError::Empty));
        assert_eq!(
            PeerId::new("x".repeat(DEFAULT_MAX_ID_LEN + 1)),
            Err(IdError::TooLong { len: DEFAULT_MAX_ID_LEN + 1, max: DEFAULT_MAX_ID_LEN })
        );
        assert!(PeerId::with_max_len("abcd", 3).is_err());
        assert!(PeerId::with_max_len("abc", 3).is_ok());
    }

    #[test]
    fn serde_validates() {
        let p: PeerId = serde_json::from_str("\"peer-1\"").unwrap();
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"peer-1\"");
        assert!(serde_json::from_str::<PeerId>("\"\"").is_err());
    }
}
