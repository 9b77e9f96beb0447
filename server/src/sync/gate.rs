//! The gate every incoming change passes before it is merged, and every read before a
//! document is served. The sync core knows nothing of households or tasks: it asks the
//! gate. [`OpenGate`] lets everything through (the bare sync core, and its tests); the
//! domain rules implement [`Gate`] in `crate::rules`.

use super::conn::ConnHandle;
use automerge::{Automerge, Change};
use linli_shared::DocumentId;

/// A batch of changes from one peer, applied to a fork of the document but not merged.
#[derive(Debug)]
pub struct Incoming<'a> {
    pub conn: &'a ConnHandle,
    pub doc: DocumentId,
    /// The canonical document before the changes.
    pub before: &'a Automerge,
    /// The fork with the changes applied.
    pub after: &'a Automerge,
    /// The changes that are new to the canonical document.
    pub changes: &'a [Change],
}

/// Why a batch of changes was refused. `reason` is shown to the sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub reason: String,
}

pub trait Gate: std::fmt::Debug + Send + Sync + 'static {
    /// May this connection's user read the document as it is now? An empty document
    /// (unknown to the server) is never shown; this is asked only for existing ones.
    fn may_read(&self, conn: &ConnHandle, doc: DocumentId, current: &Automerge) -> bool;

    /// Decides on a batch of changes. Called on the document's actor: keep it quick.
    fn check(&self, incoming: &Incoming<'_>) -> Result<(), Refusal>;

    /// Told after a batch was merged and stored.
    fn accepted(&self, _conn: &ConnHandle, _doc: DocumentId, _changes: usize, _after: &Automerge) {}

    /// Told after a batch was refused (it is not merged).
    fn refused(&self, _incoming: &Incoming<'_>, _refusal: &Refusal) {}
}

/// Lets every change and every read through.
#[derive(Debug, Default, Clone, Copy)]
pub struct OpenGate;

impl Gate for OpenGate {
    fn may_read(&self, _: &ConnHandle, _: DocumentId, _: &Automerge) -> bool {
        true
    }

    fn check(&self, _: &Incoming<'_>) -> Result<(), Refusal> {
        Ok(())
    }
}
