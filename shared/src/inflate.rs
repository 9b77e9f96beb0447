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
//! Automerge also run-length encodes its columns: a saved document of 213 bytes can hold
//! 30,000 operations, which cost the server 12 MiB once Automerge builds them (about
//! 400 bytes each), and a run may be any length. So the same walk counts the operations
//! each change and document declares in its action column, summing the runs without
//! expanding them, against [`InflateLimits::max_message_ops`].
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
//! let limits = InflateLimits { max_change_bytes: 64 * 1024, max_document_bytes: 256 * 1024, max_message_ops: 1000 };
//! assert!(matches!(check_chunks(&saved, &limits), Err(InflateError::DocumentTooBig { .. })));
//! ```

use std::io::Read;

/// Default largest change, inflated: 1 MiB. A Linli document's fields are bounded far
/// below this (`DomainLimits`), so only a hostile or broken phone comes near it.
pub const DEFAULT_MAX_CHANGE_BYTES: usize = 1024 * 1024;

/// Default largest document a peer may send whole, inflated, and the most one sync
/// message may inflate to in all: 4 MiB.
pub const DEFAULT_MAX_DOCUMENT_BYTES: usize = 4 * 1024 * 1024;

/// Default most operations one sync message may carry, in all its changes and documents:
/// 100,000 (about 40 MiB once Automerge builds them). A Linli document holds a few
/// thousand; a phone sends a whole document only when the server lacks most of it.
pub const DEFAULT_MAX_MESSAGE_OPS: u64 = 100_000;

/// The bounds [`check_chunks`] applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InflateLimits {
    /// Largest change chunk, once inflated.
    pub max_change_bytes: usize,
    /// Largest document chunk once inflated, and largest total of one message's chunks.
    pub max_document_bytes: usize,
    /// Most operations in one message's changes and documents together.
    pub max_message_ops: u64,
}

impl Default for InflateLimits {
    fn default() -> Self {
        Self {
            max_change_bytes: DEFAULT_MAX_CHANGE_BYTES,
            max_document_bytes: DEFAULT_MAX_DOCUMENT_BYTES,
            max_message_ops: DEFAULT_MAX_MESSAGE_OPS,
        }
    }
}

/// What chunks come to: inflated bytes, and the operations they declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Measure {
    pub bytes: usize,
    pub ops: u64,
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
    #[error("the message's changes hold more than {limit} operations (max_message_ops)")]
    TooManyOps { limit: u64 },
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
/// The column of every operation's action, in changes and documents alike (column id 4,
/// in the specification's upper bits): one entry per operation.
const ACTION_COLUMN_ID: u64 = 4;
/// A document's change column of actors (id 0, type actor): one entry per change.
const CHANGE_ACTOR_SPEC: u64 = 1;

/// Checks every chunk in `data` (one entry of a sync message's changes: one chunk, or
/// several concatenated) against `limits`; returns what they come to.
///
/// # Errors
///
/// The first bound broken, or [`InflateError::Malformed`] for a chunk this reader (and
/// so Automerge) cannot parse.
pub fn check_chunks(data: &[u8], limits: &InflateLimits) -> Result<Measure, InflateError> {
    check_all(std::iter::once(data), limits)
}

/// [`check_chunks`] over every entry of a message, with one total.
///
/// # Errors
///
/// As [`check_chunks`]; [`InflateError::MessageTooBig`] and [`InflateError::TooManyOps`]
/// when the entries together go beyond the limits.
pub fn check_all<'a>(
    entries: impl IntoIterator<Item = &'a [u8]>,
    limits: &InflateLimits,
) -> Result<Measure, InflateError> {
    let mut total = Measure::default();
    for entry in entries {
        let mut rest = entry;
        while !rest.is_empty() {
            let left = Measure {
                bytes: limits.max_document_bytes.saturating_sub(total.bytes),
                ops: limits.max_message_ops.saturating_sub(total.ops),
            };
            let (one, after) = check_one(rest, limits, left)?;
            total.bytes = total.bytes.saturating_add(one.bytes);
            total.ops = total.ops.saturating_add(one.ops);
            if total.bytes > limits.max_document_bytes {
                return Err(InflateError::MessageTooBig { limit: limits.max_document_bytes });
            }
            if total.ops > limits.max_message_ops {
                return Err(InflateError::TooManyOps { limit: limits.max_message_ops });
            }
            rest = after;
        }
    }
    Ok(total)
}

/// One chunk at the start of `input`: what it comes to, and what follows it. `left` is
/// what the message may still hold.
fn check_one<'a>(input: &'a [u8], limits: &InflateLimits, left: Measure) -> Result<(Measure, &'a [u8]), InflateError> {
    let mut r = Reader(input);
    if r.take(4)? != MAGIC {
        return Err(InflateError::Malformed("no chunk magic"));
    }
    r.take(4)?; // checksum
    let kind = r.take(1)?[0];
    let len = usize::try_from(r.uleb()?).map_err(|_| InflateError::Malformed("chunk length"))?;
    let body = r.take(len)?;
    let too_many = InflateError::TooManyOps { limit: limits.max_message_ops };
    let measure = match kind {
        CHANGE => {
            if len > limits.max_change_bytes {
                return Err(InflateError::ChangeTooBig { limit: limits.max_change_bytes });
            }
            Measure { bytes: len, ops: change_ops(body, left.ops).ok_or(too_many)? }
        }
        COMPRESSED_CHANGE => {
            let bound = limits.max_change_bytes.min(left.bytes);
            // Inflated for real, at most a change's worth, to read its columns.
            let inflated = match inflate(body, bound)? {
                Some(bytes) => bytes,
                None if bound < limits.max_change_bytes => {
                    return Err(InflateError::MessageTooBig { limit: limits.max_document_bytes })
                }
                None => return Err(InflateError::ChangeTooBig { limit: limits.max_change_bytes }),
            };
            Measure { bytes: inflated.len(), ops: change_ops(&inflated, left.ops).ok_or(too_many)? }
        }
        DOCUMENT => document_measure(body, limits.max_document_bytes, left.ops).map_err(|e| match e {
            Exceeded::Ops => too_many,
            Exceeded::Other(e) => e,
        })?,
        BUNDLE => return Err(InflateError::Bundle),
        _ => return Err(InflateError::Malformed("unknown chunk type")),
    };
    Ok((measure, r.0))
}

/// The operations a change chunk's body declares; `None` beyond `limit`. A body this
/// reader cannot follow declares none: Automerge refuses it too.
fn change_ops(body: &[u8], limit: u64) -> Option<u64> {
    let Ok((columns, data)) = change_columns(body) else { return Some(0) };
    let mut r = Reader(data);
    for (spec, len) in columns {
        let Ok(column) = r.take(len) else { return Some(0) };
        if spec >> 4 == ACTION_COLUMN_ID && spec & DEFLATE_BIT == 0 {
            return rle_len(column, limit);
        }
    }
    Some(0)
}

/// A change body's op columns, (specification, length), and the data that follows them.
type ChangeColumns<'a> = (Vec<(u64, usize)>, &'a [u8]);

fn change_columns(body: &[u8]) -> Result<ChangeColumns<'_>, InflateError> {
    let mut r = Reader(body);
    let deps = usize::try_from(r.uleb()?).map_err(|_| InflateError::Malformed("deps"))?;
    r.take(deps.checked_mul(32).ok_or(InflateError::Malformed("deps"))?)?;
    r.bytes()?; // actor
    r.uleb()?; // seq
    r.uleb()?; // start op
    r.uleb()?; // time (signed, but the same bytes to skip)
    r.bytes()?; // message
    for _ in 0..r.uleb()? {
        r.bytes()?; // other actors
    }
    let mut columns = Vec::new();
    for _ in 0..r.uleb()? {
        let spec = r.uleb()?;
        columns.push((spec, usize::try_from(r.uleb()?).map_err(|_| InflateError::Malformed("column"))?));
    }
    Ok((columns, r.0))
}

/// Why [`document_measure`] stopped.
enum Exceeded {
    Ops,
    Other(InflateError),
}

impl From<InflateError> for Exceeded {
    fn from(e: InflateError) -> Self {
        Exceeded::Other(e)
    }
}

/// What a document chunk's body comes to: its raw bytes plus what its compressed columns
/// inflate to (at most `limit`), and the operations and changes its columns declare (at
/// most `ops_left` together: a change costs Automerge at least what an operation does).
fn document_measure(body: &[u8], limit: usize, ops_left: u64) -> Result<Measure, Exceeded> {
    let too_big = || Exceeded::Other(InflateError::DocumentTooBig { limit });
    let mut r = Reader(body);
    for _ in 0..r.uleb()? {
        r.bytes()?; // actors
    }
    let heads = usize::try_from(r.uleb()?).map_err(|_| InflateError::Malformed("head count"))?;
    r.take(heads.checked_mul(32).ok_or(InflateError::Malformed("head count"))?)?;
    // Change columns, then op columns: (specification, length) pairs, then their data.
    let mut columns = Vec::new();
    for group in 0..2 {
        for _ in 0..r.uleb()? {
            let spec = r.uleb()?;
            let len = usize::try_from(r.uleb()?).map_err(|_| InflateError::Malformed("column length"))?;
            let counted = match group {
                0 => spec & !DEFLATE_BIT == CHANGE_ACTOR_SPEC,
                _ => spec >> 4 == ACTION_COLUMN_ID,
            };
            columns.push((spec & DEFLATE_BIT != 0, len, counted));
        }
    }
    let mut size = body.len();
    let mut ops: u64 = 0;
    for (deflated, len, counted) in columns {
        let data = r.take(len)?;
        let without = size - len;
        let bound = limit.checked_sub(without).ok_or_else(too_big)?;
        let left = ops_left - ops;
        let entries = match (deflated, counted) {
            (true, true) => {
                let column = inflate(data, bound)?.ok_or_else(too_big)?;
                size = without + column.len();
                rle_len(&column, left).ok_or(Exceeded::Ops)?
            }
            (true, false) => {
                size = without + inflated_len(data, bound)?.ok_or_else(too_big)?;
                0
            }
            (false, true) => rle_len(data, left).ok_or(Exceeded::Ops)?,
            (false, false) => 0,
        };
        ops += entries;
    }
    if size > limit {
        return Err(too_big());
    }
    Ok(Measure { bytes: size, ops })
}

/// How many entries a run-length encoded column of unsigned LEB128 values holds, summing
/// its runs without expanding them; `None` beyond `limit`. A run is a positive count and
/// one value, a negative count and that many values, or 0 and a count of nulls.
fn rle_len(column: &[u8], limit: u64) -> Option<u64> {
    let mut r = Reader(column);
    let mut n: u64 = 0;
    while !r.0.is_empty() {
        let Ok(count) = r.sleb() else { break };
        let run = match count {
            0 => r.uleb().unwrap_or(0),
            c if c > 0 => {
                let _ = r.uleb();
                c.unsigned_abs()
            }
            c => {
                let literals = c.unsigned_abs();
                for _ in 0..literals.min(column.len() as u64) {
                    if r.uleb().is_err() {
                        break;
                    }
                }
                literals
            }
        };
        n = n.saturating_add(run);
        if n > limit {
            return None;
        }
    }
    Some(n)
}

/// What `data` inflates to, reading at most `bound + 1` bytes of output into a counter:
/// `None` beyond `bound`.
fn inflated_len(data: &[u8], bound: usize) -> Result<Option<usize>, InflateError> {
    let mut inflater = flate2::read::DeflateDecoder::new(data).take(bound as u64 + 1);
    let n =
        std::io::copy(&mut inflater, &mut std::io::sink()).map_err(|_| InflateError::Malformed("bad deflate data"))?;
    Ok(usize::try_from(n).ok().filter(|&n| n <= bound))
}

/// `data` inflated, if it comes to at most `bound` bytes (no more is ever allocated).
fn inflate(data: &[u8], bound: usize) -> Result<Option<Vec<u8>>, InflateError> {
    let mut out = Vec::new();
    flate2::read::DeflateDecoder::new(data)
        .take(bound as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| InflateError::Malformed("bad deflate data"))?;
    Ok((out.len() <= bound).then_some(out))
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

    /// A length-prefixed byte string.
    fn bytes(&mut self) -> Result<&'a [u8], InflateError> {
        let n = usize::try_from(self.uleb()?).map_err(|_| InflateError::Malformed("length"))?;
        self.take(n)
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

    fn sleb(&mut self) -> Result<i64, InflateError> {
        let mut value = 0i64;
        for shift in (0..64).step_by(7) {
            let byte = self.take(1)?[0];
            value |= i64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                if shift + 7 < 64 && byte & 0x40 != 0 {
                    value |= -1i64 << (shift + 7);
                }
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

    const SMALL: InflateLimits =
        InflateLimits { max_change_bytes: 64 * 1024, max_document_bytes: 256 * 1024, max_message_ops: 100_000 };

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
        let size = check_chunks(&saved, &SMALL).unwrap().bytes;
        assert!(size >= 3_000, "{size}");
        let change = doc.get_last_local_change().unwrap();
        let body = check_chunks(change.raw_bytes(), &SMALL).unwrap().bytes;
        assert!(body > 3_000 && body < change.raw_bytes().len(), "the change's body, without its header: {body}");
        // Several chunks in one entry, as a V2 sync message carries them.
        let both = [saved.clone(), change.raw_bytes().to_vec()].concat();
        assert!(check_chunks(&both, &SMALL).unwrap().bytes > size);
    }

    #[test]
    fn a_document_bomb_is_refused_before_it_is_inflated_whole() {
        let saved = doc_with(32 << 20).save();
        assert!(saved.len() < 200 * 1024, "compresses to {} bytes", saved.len());
        assert_eq!(check_chunks(&saved, &SMALL), Err(InflateError::DocumentTooBig { limit: SMALL.max_document_bytes }));
        let roomy = InflateLimits { max_document_bytes: 64 << 20, ..SMALL };
        assert!(check_chunks(&saved, &roomy).unwrap().bytes > 32 << 20);
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
        let roomy = InflateLimits { max_change_bytes: 8 << 20, max_document_bytes: 8 << 20, ..SMALL };
        assert!(check_chunks(&compressed, &roomy).unwrap().bytes > 4 << 20);
    }

    #[test]
    fn many_small_chunks_are_bounded_in_total() {
        let mut doc = doc_with(30_000);
        let mut change = doc.get_last_local_change().unwrap();
        let one = change.bytes().into_owned();
        let many: Vec<&[u8]> = std::iter::repeat_n(one.as_slice(), 20).collect();
        assert_eq!(check_all(many, &SMALL), Err(InflateError::MessageTooBig { limit: SMALL.max_document_bytes }));
    }

    /// A counter incremented `n` times in one change: Automerge's run-length encoding
    /// makes the saved document a few hundred bytes whatever `n`.
    fn increments(n: usize) -> AutoCommit {
        let mut doc = AutoCommit::new();
        doc.put(ROOT, "c", automerge::ScalarValue::counter(0)).unwrap();
        doc.commit();
        for _ in 0..n {
            doc.increment(ROOT, "c", 1).unwrap();
        }
        doc.commit();
        doc
    }

    #[test]
    fn the_operations_of_changes_and_documents_are_counted_from_their_runs() {
        let mut doc = increments(3_000);
        let saved = doc.save();
        assert!(saved.len() < 400, "{} bytes for 3,001 operations", saved.len());
        // A document of many empty changes declares as many entries.
        let mut empties = AutoCommit::new();
        for _ in 0..500 {
            empties.empty_change(automerge::transaction::CommitOptions::default());
        }
        assert_eq!(check_chunks(&empties.save(), &SMALL).unwrap().ops, 500, "one entry per change");
        // 3,001 operations in 2 changes.
        assert_eq!(check_chunks(&saved, &SMALL).unwrap().ops, 3_003);
        let mut change = doc.get_last_local_change().unwrap();
        assert_eq!(check_chunks(change.raw_bytes(), &SMALL).unwrap().ops, 3_000);
        let compressed = change.bytes().into_owned();
        assert_eq!(compressed[8], COMPRESSED_CHANGE);
        assert_eq!(check_chunks(&compressed, &SMALL).unwrap().ops, 3_000);

        let tight = InflateLimits { max_message_ops: 2_000, ..SMALL };
        for chunk in [&saved[..], change.raw_bytes(), &compressed[..]] {
            assert_eq!(check_chunks(chunk, &tight), Err(InflateError::TooManyOps { limit: 2_000 }));
        }
        // Two changes of 1,500 each pass alone, not together.
        let half = increments(1_499).get_last_local_change().unwrap().raw_bytes().to_vec();
        assert!(check_chunks(&half, &tight).is_ok());
        assert_eq!(check_all([&half[..], &half[..]], &tight), Err(InflateError::TooManyOps { limit: 2_000 }));
    }

    #[test]
    fn runs_are_summed_without_expanding_them() {
        // A run of 2^62 copies of one value: ten bytes.
        let mut column = vec![0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0xc0, 0x00];
        column.push(1);
        assert_eq!(rle_len(&column, u64::MAX), Some(1 << 62));
        assert_eq!(rle_len(&column, 1_000_000), None);
        // Literals (-3: three values), a null run (0, 5), and a run of 2.
        assert_eq!(rle_len(&[0x7d, 1, 2, 3, 0, 5, 2, 9], 100), Some(10));
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
