//! A WebSocket frame through the CBOR codec: what the server does with every frame a
//! peer sends, and the codec's own promise that what it decodes it can encode again.

use crate::{decode, encode, Message, WireError, WireLimits};

/// Decodes `frame` with the default limits. A decoded message must survive the round
/// trip: encoded, it decodes to the same message (the codec would otherwise relay or
/// answer something other than what it read).
///
/// # Errors
///
/// Why the frame was refused.
///
/// # Panics
///
/// If a decoded message does not survive the round trip: a bug in the codec.
pub fn wire_decode(frame: &[u8]) -> Result<Message, WireError> {
    let limits = WireLimits::default();
    let message = decode(frame, &limits)?;
    let again = encode(&message);
    assert_eq!(decode(&again, &limits).as_ref(), Ok(&message), "re-encoded as {again:02x?}");
    Ok(message)
}
