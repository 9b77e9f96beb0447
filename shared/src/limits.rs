//! Size limits for what a peer may send on the sync socket. They bound the memory one
//! frame can cost before any document logic runs; the server makes them configurable.

/// Default largest accepted frame: 8 MiB, room for a sync message carrying a whole
/// large document on first load.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 8 * 1024 * 1024;

/// Default longest peer id, storage id, session id or protocol version string, in bytes.
/// Real ids are far shorter (`peer-<random>`, UUIDs); the cap stops a peer from making
/// the server keep megabytes per map key.
pub const DEFAULT_MAX_ID_LEN: usize = 256;

/// Default largest `data` of an `ephemeral` message: 64 KiB. Ephemeral data is relayed to
/// every other peer of the document, so it is amplified and must stay small.
pub const DEFAULT_MAX_EPHEMERAL_BYTES: usize = 64 * 1024;

/// Limits applied by [`crate::wire::decode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireLimits {
    /// Largest accepted frame, checked before any parsing.
    pub max_frame_bytes: usize,
    /// Longest accepted identifier (peer id, storage id, session id, version string), in bytes.
    pub max_id_len: usize,
    /// Largest accepted `data` of an `ephemeral` message, in bytes.
    pub max_ephemeral_bytes: usize,
}

impl Default for WireLimits {
    fn default() -> Self {
        Self {
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            max_id_len: DEFAULT_MAX_ID_LEN,
            max_ephemeral_bytes: DEFAULT_MAX_EPHEMERAL_BYTES,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documented_values() {
        let l = WireLimits::default();
        assert_eq!(l.max_frame_bytes, 8 << 20);
        assert_eq!(l.max_id_len, 256);
        assert_eq!(l.max_ephemeral_bytes, 64 << 10);
    }
}
