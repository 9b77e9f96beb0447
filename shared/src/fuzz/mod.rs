//! The entry points of the fuzz targets in `fuzz/` (cargo fuzz, libFuzzer) and of the
//! test that replays their fixtures (`shared/tests/fuzz_replay.rs`): each function runs one
//! untrusted input down the path the server takes for it, so a crasher found by the
//! fuzzer is replayed by `cargo test` through exactly the same code.
//!
//! - [`wire_decode`]: a WebSocket frame through the CBOR codec, and back.
//! - [`sync_message`]: a peer's `sync` message applied to a real Linli document the way
//!   the server's document actor and gate do it.
//! - [`hydrate`]: a saved Automerge document, or a JSON value, read as a Linli document.
//!
//! Each returns what happened, so a fixture can pin the expected refusal. None of them
//! may panic, except where the server itself runs the code under `catch_unwind` (calls
//! into Automerge that apply a peer's changes): those run inside [`boundary`], which a
//! fuzz target's panic hook can tell apart with [`in_boundary`].
//!
//! ```
//! use linli_shared::fuzz::{self, SyncOutcome};
//!
//! // The first byte picks the user and the stored document (here: an admin and a task),
//! // the rest is the sync message; a message that is not one is refused as corrupt.
//! assert!(matches!(fuzz::sync_message(&[0b1000, 0x42]), SyncOutcome::Corrupt(_)));
//! ```

mod base;
mod hydrate;
mod sync;
mod wire;

use std::cell::Cell;
use std::hint::black_box;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::domain::{alerts, DocFacts, DomainDoc, DomainLimits};

pub use base::{base_document, BaseDoc, Case, NOW_MS};
pub use hydrate::{hydrate, HydrateOutcome, Load, Reading};
pub use sync::{sync_message, SyncOutcome};
pub use wire::wire_decode;

/// What the server computes from a document it accepted (its projections): the facts
/// access decisions use, the index row and the alerts, at [`NOW_MS`].
fn project(doc: &DomainDoc) {
    let limits = DomainLimits::default();
    black_box((DocFacts::of(doc), doc.summary()));
    match doc {
        DomainDoc::Task(t) => {
            black_box(alerts::task_alerts(t, NOW_MS));
        }
        DomainDoc::Readings(r) => {
            // The server computes an episode's alerts from its readings' check-ins.
            let ep = base::episode_of(r);
            if let Some(now) = limits.local_datetime(NOW_MS) {
                black_box(alerts::episode_alerts(&ep, &r.checkins, now, now - chrono::TimeDelta::days(30)));
            }
        }
        _ => {}
    }
}

thread_local! {
    static IN_BOUNDARY: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` under `catch_unwind`, as the server runs Automerge on a peer's data, and
/// marks the thread as inside the boundary meanwhile (see [`in_boundary`]).
///
/// # Errors
///
/// The panic payload, if `f` panicked.
pub fn boundary<T>(f: impl FnOnce() -> T) -> std::thread::Result<T> {
    let outer = IN_BOUNDARY.with(|b| b.replace(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    IN_BOUNDARY.with(|b| b.set(outer));
    result
}

/// Whether the current thread is inside [`boundary`]: a panic hook uses it to let the
/// panics the server catches unwind, and to abort on every other.
#[must_use]
pub fn in_boundary() -> bool {
    IN_BOUNDARY.with(Cell::get)
}
