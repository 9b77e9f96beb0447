//! Property tests of the identifiers: document ids survive their string and URL forms,
//! and parsing never panics on any string.

#![allow(clippy::unwrap_used)]

use linli_shared::{DocumentId, PeerId};
use proptest::prelude::*;

proptest! {
    #[test]
    fn document_id_round_trips(bytes in any::<[u8; 16]>()) {
        let id = DocumentId::from_bytes(bytes);
        let s = id.to_string();
        prop_assert!(s.len() <= 28);
        prop_assert_eq!(s.parse::<DocumentId>().unwrap(), id);
        prop_assert_eq!(DocumentId::from_url(&id.to_url()).unwrap(), id);
    }

    #[test]
    fn document_id_parse_never_panics(s in ".{0,80}") {
        let _ = s.parse::<DocumentId>();
        let _ = DocumentId::from_url(&s);
    }

    #[test]
    fn base58_noise_is_almost_never_an_id(s in "[1-9A-HJ-NP-Za-km-z]{20,30}") {
        // A random base58 string passes the 32-bit checksum with probability 2^-32,
        // so finding one here would mean the checksum is not being checked.
        prop_assert!(s.parse::<DocumentId>().is_err());
    }

    #[test]
    fn peer_id_accepts_exactly_non_empty_within_limit(s in ".{0,300}") {
        let ok = !s.is_empty() && s.len() <= 256;
        prop_assert_eq!(PeerId::new(s.clone()).is_ok(), ok);
    }
}
