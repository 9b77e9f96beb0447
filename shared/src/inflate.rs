//! How big a peer's Automerge data becomes once inflated, found before Automerge
//! allocates it.
//!
//! A sync message carries Automerge *chunks*: changes, DEFLATE-compressed changes, and
//! whole saved documents whose columns may each be DEFLATE-compressed. A 16 KiB message
//! can so hold a document that inflates to 32 MiB (one long string of one repeated
//! character), and Automerge inflates it whole, then builds its op set from it: about seven
//! times the inflated size in memory, for one message. The format does not declare the
//! inflated sizes, so [`check_chunks`] walks the chunk headers and the document column
//! metadata itself and inflates each compressed part into a counter, never past the limit,
//! keeping nothing. Only then does the server hand the message to Automerge.
//!
//! Bundles (an experimental chunk type no automerge-repo 2.x client sends in sync) are
//! refused: their inflated size cannot be bounded without decoding them.
//!
//! ```
//! use automerge::{transaction::Transactable, AutoCommit, ROOT};
//! use linli_shared::inflate::{check_chunks, InflateError, InflateLimits};
//!
//! let mut doc = AutoCommit::new();
//! doc.put(ROOT, "notes", "x".repeat(1 << 20)).unwrap(); // 1 MiB of one character
//! let saved = doc.save(); // a few KiB
//! assert!(saved.len() < 16 * 1024);
//! let limits = InflateLimits { max_change_bytes: 64 * 1024, max_document_bytes: 256 * 1024 };
//! assert!(matches!(check_chunks(&saved, &limits), Err(InflateError::DocumentTooBig { .. })));
//! ```

use std::io::Read;

/// Default largest change, inflated: 1 MiB. A Linli document's fields are bounded far
/// below this (`DomainLimits`), so only a hostile or broken phone comes near it.
pub const DEFAULT_MAX_CHANGE_BYTES: usize = 1024 * 1024;

/// Default largest document a peer may send whole, inflated, and the most one sync
/// message may inflate to in all: 4 MiB.
pub const DEFAULT_MAX_DOCUMENT_BYTES: usize = 4 * 1024 * 1024;

/// The bounds [`check_chunks`] applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InflateLimits {
    /// Largest change chunk, once inflated.
    pub max_change_bytes: usize,
    /// Largest document chunk once inflated, and largest total of one message's chunks.
    pub max_document_bytes: usize,
}

impl Default for InflateLimits {
    fn default() -> Self {
        Self { max_change_bytes: DEFAULT_MAX_CHANGE_BYTES, max_document_bytes: DEFAULT_MAX_DOCUMENT_BYTES }
    }
}

/// Why a peer's chunks were not handed to Automerge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InflateError {
    #[error("a change inflates to more than {limit} bytes (max_change_bytes)")]
    ChangeTooBig { limit: usize },
    #[error("a document inflates to more than {limit} bytes (max_document_bytes)")]
    DocumentTooBig { limit: usize },
    #[error("the message's changes inflate to more than {limit} bytes in all (max_document_bytes)")]
    MessageTooBig { limit: usize },
    #[error("bundles are not accepted in sync messages")]
    Bundle,
    #[error("malformed chunk: {0}")]
    Malformed(&'static str),
}

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const DOCUMENT: u8 = 0;
const CHANGE: u8 = 1;
const COMPRESSED_CHANGE: u8 = 2;
const BUNDLE: u8 = 3;
/// Bit of a column specification that marks its data as DEFLATE-compressed.
const DEFLATE_BIT: u64 = 0b1000;

/// Checks every chunk in `data` (one entry of a sync message's changes: one chunk, or
/// several concatenated) against `limits`; returns the bytes they inflate to.
///
/// # Errors
///
/// The first bound broken, or [`InflateError::Malformed`] for a chunk this reader (and
/// so Automerge) cannot parse.
pub fn check_chunks(data: &[u8], limits: &InflateLimits) -> Result<usize, InflateError> {
    check_all(std::iter::once(data), limits)
}

/// [`check_chunks`] over every entry of a message, with one total.
///
/// # Errors
///
/// As [`check_chunks`]; [`InflateError::MessageTooBig`] when the entries together inflate
/// beyond [`InflateLimits::max_document_bytes`].
pub fn check_all<'a>(
    entries: impl IntoIterator<Item = &'a [u8]>,
    limits: &InflateLimits,
) -> Result<usize, InflateError> {
    let mut total = 0usize;
    for entry in entries {
        let mut rest = entry;
        while !rest.is_empty() {
            let left = limits.max_document_bytes.saturating_sub(total);
            let (size, after) = check_one(rest, limits, left)?;
            total = total.saturating_add(size);
            if total > limits.max_document_bytes {
                return Err(InflateError::MessageTooBig { limit: limits.max_document_bytes });
            }
            rest = after;
        }
    }
    Ok(total)
}

/// One chunk at the start of `input`: its inflated size and what follows it.
fn check_one<'a>(input: &'a [u8], limits: &InflateLimits, left: usize) -> Result<(usize, &'a [u8]), InflateError> {
    let mut r = Reader(input);
    if r.take(4)? != MAGIC {
        return Err(InflateError::Malformed("no chunk magic"));
    }
    r.take(4)?; // checksum
    let kind = r.take(1)?[0];
    let len = usize::try_from(r.uleb()?).map_err(|_| InflateError::Malformed("chunk length"))?;
    let body = r.take(len)?;
    let size = match kind {
        CHANGE => {
            if len > limits.max_change_bytes {
                return Err(InflateError::ChangeTooBig { limit: limits.max_change_bytes });
            }
            len
        }
        COMPRESSED_CHANGE => {
            let bound = limits.max_change_bytes.min(left);
            match inflated_len(body, bound)? {
                Some(n) => n,
                None if bound < limits.max_change_bytes => {
                    return Err(InflateError::MessageTooBig { limit: limits.max_document_bytes })
                }
                None => return Err(InflateError::ChangeTooBig { limit: limits.max_change_bytes }),
            }
        }
        DOCUMENT => document_len(body, limits.max_document_bytes)?,
        BUNDLE => return Err(InflateError::Bundle),
        _ => return Err(InflateError::Malformed("unknown chunk type")),
    };
    Ok((size, r.0))
}

/// The inflated size of a document chunk's body: its raw bytes plus what its compressed
/// columns inflate to.
fn document_len(body: &[u8], limit: usize) -> Result<usize, InflateError> {
    let too_big = || InflateError::DocumentTooBig { limit };
    let mut r = Reader(body);
    for _ in 0..r.uleb()? {
        let n = usize::try_from(r.uleb()?).map_err(|_| InflateError::Malformed("actor length"))?;
        r.take(n)?;
    }
    let heads = usize::try_from(r.uleb()?).map_err(|_| InflateError::Malformed("head count"))?;
    r.take(heads.checked_mul(32).ok_or(InflateError::Malformed("head count"))?)?;
    // Change columns, then op columns: (specification, length) pairs, then their data.
    let mut columns = Vec::new();
    for _ in 0..2 {
        for _ in 0..r.uleb()? {
            let spec = r.uleb()?;
            let len = usize::try_from(r.uleb()?).map_err(|_| InflateError::Malformed("column length"))?;
            columns.push((spec & DEFLATE_BIT != 0, len));
        }
    }
    let mut size = body.len();
    for (deflated, len) in columns {
        let data = r.take(len)?;
        if deflated {
            let without = size - len;
            let bound = limit.checked_sub(without).ok_or_else(too_big)?;
            size = without + inflated_len(data, bound)?.ok_or_else(too_big)?;
        }
    }
    if size > limit {
        return Err(too_big());
    }
    Ok(size)
}

/// What `data` inflates to, reading at most `bound + 1` bytes of output into a counter:
/// `None` beyond `bound`.
fn inflated_len(data: &[u8], bound: usize) -> Result<Option<usize>, InflateError> {
    let mut inflater = flate2::read::DeflateDecoder::new(data).take(bound as u64 + 1);
    let n =
        std::io::copy(&mut inflater, &mut std::io::sink()).map_err(|_| InflateError::Malformed("bad deflate data"))?;
    Ok(usize::try_from(n).ok().filter(|&n| n <= bound))
}

/// A cursor over untrusted bytes.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], InflateError> {
        if n > self.0.len() {
            return Err(InflateError::Malformed("truncated"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn uleb(&mut self) -> Result<u64, InflateError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.take(1)?[0];
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(InflateError::Malformed("LEB128 longer than 64 bits"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ROOT};

    const SMALL: InflateLimits = InflateLimits { max_change_bytes: 64 * 1024, max_document_bytes: 256 * 1024 };

    fn doc_with(chars: usize) -> AutoCommit {
        let mut doc = AutoCommit::new();
        doc.put(ROOT, "kind", "household").unwrap();
        doc.put(ROOT, "notes", "好".repeat(chars / 3)).unwrap();
        doc
    }

    #[test]
    fn ordinary_documents_and_changes_pass_with_their_inflated_size() {
        let mut doc = doc_with(3_000);
        let saved = doc.save();
        let size = check_chunks(&saved, &SMALL).unwrap();
        assert!(size >= 3_000, "{size}");
        let change = doc.get_last_local_change().unwrap();
        let body = check_chunks(change.raw_bytes(), &SMALL).unwrap();
        assert!(body > 3_000 && body < change.raw_bytes().len(), "the change's body, without its header: {body}");
        // Several chunks in one entry, as a V2 sync message carries them.
        let both = [saved.clone(), change.raw_bytes().to_vec()].concat();
        assert!(check_chunks(&both, &SMALL).unwrap() > size);
    }

    #[test]
    fn a_document_bomb_is_refused_before_it_is_inflated_whole() {
        let saved = doc_with(32 << 20).save();
        assert!(saved.len() < 200 * 1024, "compresses to {} bytes", saved.len());
        assert_eq!(check_chunks(&saved, &SMALL), Err(InflateError::DocumentTooBig { limit: SMALL.max_document_bytes }));
        let roomy = InflateLimits { max_change_bytes: 1 << 20, max_document_bytes: 64 << 20 };
        assert!(check_chunks(&saved, &roomy).unwrap() > 32 << 20);
    }

    #[test]
    fn a_compressed_change_bomb_is_refused() {
        let mut doc = doc_with(4 << 20);
        let mut change = doc.get_last_local_change().unwrap();
        let compressed = change.bytes().into_owned();
        assert_eq!(compressed[8], COMPRESSED_CHANGE, "automerge compresses large changes");
        assert!(compressed.len() < 64 * 1024);
        assert_eq!(
            check_chunks(&compressed, &SMALL),
            Err(InflateError::ChangeTooBig { limit: SMALL.max_change_bytes })
        );
        let roomy = InflateLimits { max_change_bytes: 8 << 20, max_document_bytes: 8 << 20 };
        assert!(check_chunks(&compressed, &roomy).unwrap() > 4 << 20);
    }

    #[test]
    fn many_small_chunks_are_bounded_in_total() {
        let mut doc = doc_with(30_000);
        let mut change = doc.get_last_local_change().unwrap();
        let one = change.bytes().into_owned();
        let many: Vec<&[u8]> = std::iter::repeat_n(one.as_slice(), 20).collect();
        assert_eq!(check_all(many, &SMALL), Err(InflateError::MessageTooBig { limit: SMALL.max_document_bytes }));
    }

    #[test]
    fn malformed_chunks_are_refused_without_panicking() {
        let saved = doc_with(300).save();
        for cut in 0..saved.len() {
            let _ = check_chunks(&saved[..cut], &SMALL);
        }
        assert_eq!(check_chunks(b"not a chunk", &SMALL), Err(InflateError::Malformed("no chunk magic")));
        let mut bundle = saved.clone();
        bundle[8] = BUNDLE;
        assert_eq!(check_chunks(&bundle, &SMALL), Err(InflateError::Bundle));
    }
}
