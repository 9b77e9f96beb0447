//! The gate every incoming change passes before it is merged, and every read before a
//! document is served. The sync core knows nothing of households or tasks: it asks the
//! gate. [`OpenGate`] lets everything through (the bare sync core, and its tests); the
//! domain rules implement [`Gate`] in `crate::rules`.
//!
//! A gate answers with a decision or a storage failure, never confusing the two: a
//! change the server could not check because its store failed is not refused (the phone
//! would drop its work); it is not acknowledged, and the phone offers it again later.

use super::conn::ConnHandle;
use crate::store::{StoreError, Write};
use async_trait::async_trait;
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

/// The gate could not decide yet: the batch names a document the server does not have
/// (a household whose task arrived first). Not merged and not refused: the sender is
/// asked for the changes again once `waits_for` is stored, or after a while.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deferral {
    pub waits_for: DocumentId,
    pub reason: String,
}

/// The gate could not decide, or decided no.
#[derive(Debug, Clone)]
pub enum GateError {
    Refused(Refusal),
    /// Undecided until another document arrives (see [`Deferral`]).
    Deferred(Deferral),
    /// The store failed while the gate looked something up: nothing is decided.
    Store(StoreError),
}

impl From<StoreError> for GateError {
    fn from(e: StoreError) -> Self {
        GateError::Store(e)
    }
}

impl From<Refusal> for GateError {
    fn from(r: Refusal) -> Self {
        GateError::Refused(r)
    }
}

#[async_trait]
pub trait Gate: std::fmt::Debug + Send + Sync + 'static {
    /// May this connection's user read the document as it is now? An empty document
    /// (unknown to the server) is never shown; this is asked only for existing ones.
    async fn may_read(&self, conn: &ConnHandle, doc: DocumentId, current: &Automerge) -> Result<bool, StoreError>;

    /// [`Gate::may_read`], asked when the document is about to be sent to the connection:
    /// when a peer is admitted to it, and when its peers are checked again after a change.
    /// A gate that audits reads records this one before it answers `true`; a storage
    /// failure while recording is an error, and the document is not sent.
    async fn admit(&self, conn: &ConnHandle, doc: DocumentId, current: &Automerge) -> Result<bool, StoreError> {
        self.may_read(conn, doc, current).await
    }

    /// Decides on a batch of changes. Called on the document's actor: keep it quick.
    async fn check(&self, incoming: &Incoming<'_>) -> Result<(), GateError>;

    /// Writes that commit together with the chunk merging `changes` accepted changes of
    /// `conn` (its audit entry, the projector's marker).
    fn accepted_writes(&self, _conn: &ConnHandle, _doc: DocumentId, _changes: usize) -> Vec<Write> {
        Vec::new()
    }

    /// Told after a batch was merged and stored, with the document's new state.
    fn accepted(&self, _doc: DocumentId, _after: &Automerge) {}

    /// Told after a batch was refused (it is not merged).
    async fn refused(&self, _incoming: &Incoming<'_>, _refusal: &Refusal) -> Result<(), StoreError> {
        Ok(())
    }

    /// Told after a sync message was refused before its changes were read (they would
    /// inflate beyond the limits); `message` is the sync message as sent.
    async fn refused_unread(
        &self,
        _conn: &ConnHandle,
        _doc: DocumentId,
        _refusal: &Refusal,
        _message: &[u8],
    ) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Lets every change and every read through.
#[derive(Debug, Default, Clone, Copy)]
pub struct OpenGate;

#[async_trait]
impl Gate for OpenGate {
    async fn may_read(&self, _: &ConnHandle, _: DocumentId, _: &Automerge) -> Result<bool, StoreError> {
        Ok(true)
    }

    async fn check(&self, _: &Incoming<'_>) -> Result<(), GateError> {
        Ok(())
    }
}
