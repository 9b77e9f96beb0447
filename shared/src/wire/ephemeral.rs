//! What the server checks in the `data` of a peer's `ephemeral` message before relaying
//! it. The data is the application's own CBOR value; the server does not interpret it,
//! except for one key: `linli` at the top level of a map is the server's alone (its
//! `{"linli": "rejected", …}` notices, DESIGN §4). A peer's message carrying it would let
//! one phone tell another that its work was refused.

use minicbor::data::Type;
use minicbor::Decoder;

use super::cbor::{datatype, for_each_item, is_text, read_text, skip_value};
use super::error::WireError;

/// The top-level key reserved for the server's own ephemeral notices.
pub const SERVER_EPHEMERAL_KEY: &str = "linli";

/// Whether a peer's ephemeral `data` may be relayed: it is one well-formed CBOR value
/// (nesting bounded as in frames), and not a map with the server's key
/// ([`SERVER_EPHEMERAL_KEY`]) at its top level.
///
/// # Errors
///
/// [`WireError::Malformed`] for data that is not one CBOR value, or that claims the
/// server's key (the message says which).
pub fn check_peer_ephemeral(data: &[u8]) -> Result<(), WireError> {
    let mut d = Decoder::new(data);
    // cbor-x may wrap values in tags; look through them to the value itself.
    while datatype(&d)? == Type::Tag {
        d.tag().map_err(WireError::cbor)?;
    }
    if matches!(datatype(&d)?, Type::Map | Type::MapIndef) {
        let len = d.map().map_err(WireError::cbor)?;
        let mut claims = false;
        for_each_item(&mut d, len, |d| {
            if is_text(d)? {
                claims |= read_text(d)? == SERVER_EPHEMERAL_KEY;
            } else {
                skip_value(d, 1)?;
            }
            skip_value(d, 1)
        })?;
        if claims {
            return Err(WireError::Malformed(format!("the `{SERVER_EPHEMERAL_KEY}` key is the server's")));
        }
    } else {
        skip_value(&mut d, 0)?;
    }
    if d.position() != data.len() {
        return Err(WireError::Malformed("trailing bytes after the ephemeral value".to_owned()));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn map(entries: &[(&str, &str)]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut e = minicbor::Encoder::new(&mut out);
        e.map(entries.len() as u64).unwrap();
        for (k, v) in entries {
            e.str(k).unwrap().str(v).unwrap();
        }
        out
    }

    #[test]
    fn presence_and_other_app_data_pass() {
        check_peer_ephemeral(&map(&[("type", "heartbeat"), ("userId", "u1")])).unwrap();
        check_peer_ephemeral(&[0x83, 1, 2, 3]).unwrap(); // [1, 2, 3]
        check_peer_ephemeral(&[0x64, b't', b'e', b'x', b't']).unwrap();
        // A nested `linli` key is the app's business.
        let mut nested = vec![0xa1, 0x61, b'x'];
        nested.extend(map(&[("linli", "rejected")]));
        check_peer_ephemeral(&nested).unwrap();
    }

    #[test]
    fn the_servers_key_is_refused_in_any_map_encoding() {
        let e = check_peer_ephemeral(&map(&[("reason", "x"), ("linli", "rejected")])).unwrap_err();
        assert!(e.to_string().contains("linli"), "{e}");
        // Indefinite-length map, indefinite-length key, behind a tag.
        let indef = [&[0xbf, 0x7f, 0x63][..], b"lin", &[0x62], b"li", &[0xff, 0x61, b'r', 0xff]].concat();
        assert!(check_peer_ephemeral(&indef).is_err());
        let tagged = [&[0xd8, 0x69][..], &map(&[("linli", "rejected")])].concat();
        assert!(check_peer_ephemeral(&tagged).is_err());
    }

    #[test]
    fn malformed_data_is_refused() {
        assert!(check_peer_ephemeral(&[]).is_err());
        assert!(check_peer_ephemeral(&[0xa2, 0x61, b'a']).is_err());
        assert!(check_peer_ephemeral(&[0x01, 0x02]).is_err(), "two values");
    }
}
