//! The one rule shared by peer ids and storage ids: any non-empty string up to a byte
//! limit. The protocol lets peers pick these freely, so only their size is policed.

use super::IdError;

/// Checks that `s` is non-empty and at most `max_len` bytes long.
pub(crate) fn check_text_id(s: &str, max_len: usize) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty);
    }
    if s.len() > max_len {
        return Err(IdError::TooLong { len: s.len(), max: max_len });
    }
    Ok(())
}
