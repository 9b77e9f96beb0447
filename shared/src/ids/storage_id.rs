//! `StorageId`: names a peer's durable storage (a UUID string in automerge-repo). A
//! server that advertises the same one across restarts lets clients keep their sync
//! state for it, so reconnecting does not resend whole documents.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::text_id::check_text_id;
use super::IdError;
use crate::limits::DEFAULT_MAX_ID_LEN;

/// A storage id: any non-empty string of bounded length (peers are not required to use
/// UUIDs, so none is enforced).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StorageId(String);

impl StorageId {
    /// A fresh random UUID v4, the form automerge-repo generates.
    #[must_use]
    pub fn random() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    /// Validates `s` against the default length limit
    /// ([`DEFAULT_MAX_ID_LEN`](crate::limits::DEFAULT_MAX_ID_LEN) bytes).
    ///
    /// # Errors
    ///
    /// [`IdError::Empty`] or [`IdError::TooLong`].
    pub fn new(s: impl Into<String>) -> Result<Self, IdError> {
        Self::with_max_len(s, DEFAULT_MAX_ID_LEN)
    }

    /// Validates `s` against an explicit byte limit.
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
}

impl fmt::Display for StorageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for StorageId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        Self::new(s)
    }
}

impl Serialize for StorageId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for StorageId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::new(String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn random_is_a_uuid_v4() {
        let s = StorageId::random();
        let u = uuid::Uuid::parse_str(s.as_str()).unwrap();
        assert_eq!(u.get_version_num(), 4);
        assert_ne!(StorageId::random(), s);
    }

    #[test]
    fn same_rules_as_peer_ids() {
        assert_eq!(StorageId::new("abc").unwrap().to_string(), "abc");
        assert_eq!(StorageId::new(""), Err(IdError::Empty));
        assert!(StorageId::new("x".repeat(DEFAULT_MAX_ID_LEN + 1)).is_err());
    }
}
