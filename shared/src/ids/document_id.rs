//! `DocumentId`: the 16 random bytes naming an automerge-repo document. On the wire and
//! in JSON it is the bs58check string (base58 of the payload followed by the first four
//! bytes of sha256(sha256(payload))), exactly what `bs58check.encode` in the JS
//! automerge-repo produces; apps show it as the URL `automerge:<id>`.

use std::fmt;
use std::str::FromStr;

use rand::RngCore;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::IdError;

/// The prefix of an automerge URL.
const URL_PREFIX: &str = "automerge:";

/// Longest string accepted for parsing. A valid id is 27 or 28 characters (20 bytes in
/// base58); the cap keeps a hostile peer from making us base58-decode megabytes, which
/// is quadratic.
pub const MAX_DOCUMENT_ID_CHARS: usize = 64;

/// An automerge-repo document id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocumentId([u8; 16]);

impl DocumentId {
    /// A fresh id of 16 random bytes, as `Repo.create()` makes them.
    #[must_use]
    pub fn random() -> Self {
        let mut bytes = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// The id with this binary payload.
    pub fn from_bytes(b: [u8; 16]) -> Self {
        Self(b)
    }

    /// The binary payload.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// The app-level URL form, `automerge:<bs58check>`.
    pub fn to_url(&self) -> String {
        format!("{URL_PREFIX}{self}")
    }

    /// Parses either the URL form `automerge:<id>` or the bare id. A URL with a heads
    /// section (`#...`) is refused: it names a version, not a document.
    ///
    /// # Errors
    ///
    /// The [`IdError`] of the id part, as for [`str::parse`].
    pub fn from_url(s: &str) -> Result<Self, IdError> {
        s.strip_prefix(URL_PREFIX).unwrap_or(s).parse()
    }
}

impl FromStr for DocumentId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        if s.is_empty() {
            return Err(IdError::Empty);
        }
        if s.len() > MAX_DOCUMENT_ID_CHARS {
            return Err(IdError::TooLong { len: s.len(), max: MAX_DOCUMENT_ID_CHARS });
        }
        let payload = bs58::decode(s).with_check(None).into_vec().map_err(bs58_error)?;
        let bytes: [u8; 16] = payload.as_slice().try_into().map_err(|_| IdError::WrongLength { len: payload.len() })?;
        Ok(Self(bytes))
    }
}

fn bs58_error(e: bs58::decode::Error) -> IdError {
    use bs58::decode::Error as E;
    match e {
        E::InvalidCharacter { index, .. } | E::NonAsciiCharacter { index } => IdError::NotBase58 { index },
        E::InvalidChecksum { .. } | E::NoChecksum => IdError::BadChecksum,
        other => IdError::Malformed(other.to_string()),
    }
}

impl fmt::Display for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&bs58::encode(self.0).with_check().into_string())
    }
}

impl fmt::Debug for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocumentId({self})")
    }
}

impl Serialize for DocumentId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DocumentId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Produced by the JS reference, `bs58check@4` (the version `@automerge/automerge-repo`
    /// 2.5.6 depends on): `bs58check.encode(payload)`. See `tests/js/gen-vectors.mjs`.
    const JS_VECTORS: &[([u8; 16], &str)] = &[
        ([0x00; 16], "11111111111111114Ki9Gx"),
        (
            [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f],
            "1Bhh3pU9gLXZiNDL6PEa1Gs9fh",
        ),
        ([0xff; 16], "4ZrjxJnU1LA5xSyrWMNuXTozYEvA"),
        (
            [0xde, 0xad, 0xbe, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98],
            "46w6iHia4rgZTBphR6vBdKRtJcXt",
        ),
    ];

    #[test]
    fn encodes_like_the_js_reference() {
        for (bytes, s) in JS_VECTORS {
            assert_eq!(DocumentId::from_bytes(*bytes).to_string(), *s);
        }
    }

    #[test]
    fn decodes_the_js_reference() {
        for (bytes, s) in JS_VECTORS {
            let id: DocumentId = s.parse().unwrap();
            assert_eq!(id.as_bytes(), bytes);
        }
    }

    #[test]
    fn random_ids_round_trip_and_differ() {
        let a = DocumentId::random();
        let b = DocumentId::random();
        assert_ne!(a, b);
        assert_eq!(a.to_string().parse::<DocumentId>().unwrap(), a);
        assert_eq!(DocumentId::from_url(&a.to_url()).unwrap(), a);
    }

    #[test]
    fn url_form_with_and_without_prefix() {
        let id = DocumentId::from_bytes(JS_VECTORS[1].0);
        assert_eq!(id.to_url(), "automerge:1Bhh3pU9gLXZiNDL6PEa1Gs9fh");
        assert_eq!(DocumentId::from_url("automerge:1Bhh3pU9gLXZiNDL6PEa1Gs9fh").unwrap(), id);
        assert_eq!(DocumentId::from_url("1Bhh3pU9gLXZiNDL6PEa1Gs9fh").unwrap(), id);
        assert!(DocumentId::from_url("automerge:").is_err());
        assert!(DocumentId::from_url("automerge:1Bhh3pU9gLXZiNDL6PEa1Gs9fh#abc").is_err());
    }

    #[test]
    fn bad_checksum_is_refused() {
        // Same payload as vector 1 with the last character changed: the checksum breaks.
        assert_eq!("1Bhh3pU9gLXZiNDL6PEa1Gs9fi".parse::<DocumentId>(), Err(IdError::BadChecksum));
        // Too short to even hold a checksum.
        assert_eq!("1".parse::<DocumentId>(), Err(IdError::BadChecksum));
    }

    #[test]
    fn wrong_payload_length_is_refused() {
        let fifteen = bs58::encode([7u8; 15]).with_check().into_string();
        assert_eq!(fifteen.parse::<DocumentId>(), Err(IdError::WrongLength { len: 15 }));
        let seventeen = bs58::encode([7u8; 17]).with_check().into_string();
        assert_eq!(seventeen.parse::<DocumentId>(), Err(IdError::WrongLength { len: 17 }));
    }

    #[test]
    fn garbage_is_refused() {
        assert_eq!("".parse::<DocumentId>(), Err(IdError::Empty));
        // 0, O, I and l are not in the base58 alphabet.
        assert_eq!("1Bhh3pU9gLXZiNDL6PEa1Gs90h".parse::<DocumentId>(), Err(IdError::NotBase58 { index: 24 }));
        assert!(matches!("docs/ü".parse::<DocumentId>(), Err(IdError::NotBase58 { .. })));
        // A UUID (legacy automerge-repo id) is not accepted on the wire.
        assert!("3760df37-a4c6-4f66-9ecd-732039a9385d".parse::<DocumentId>().is_err());
    }

    #[test]
    fn overlong_input_is_refused_before_decoding() {
        let long = "1".repeat(MAX_DOCUMENT_ID_CHARS + 1);
        assert_eq!(
            long.parse::<DocumentId>(),
            Err(IdError::TooLong { len: MAX_DOCUMENT_ID_CHARS + 1, max: MAX_DOCUMENT_ID_CHARS })
        );
    }

    #[test]
    fn debug_shows_the_string_form() {
        let id = DocumentId::from_bytes(JS_VECTORS[1].0);
        assert_eq!(format!("{id:?}"), "DocumentId(1Bhh3pU9gLXZiNDL6PEa1Gs9fh)");
    }

    #[test]
    fn serde_uses_the_string_form() {
        let id = DocumentId::from_bytes(JS_VECTORS[1].0);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"1Bhh3pU9gLXZiNDL6PEa1Gs9fh\"");
        assert_eq!(serde_json::from_str::<DocumentId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<DocumentId>("\"nope\"").is_err());
        assert!(serde_json::from_str::<DocumentId>("16").is_err());
    }
}
