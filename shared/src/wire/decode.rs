//! Frame → [`Message`]: size check, then the structural scan of [`Fields`], then the
//! fields the message's `type` needs.

use super::error::WireError;
use super::fields::{Field, Fields};
use super::message::Message;
use crate::limits::WireLimits;

/// Decodes one frame. Never panics, whatever the bytes; refuses frames larger than
/// `limits.max_frame_bytes` before looking at them.
///
/// Unknown keys are skipped; unknown message types, and the heads-gossip types we do
/// not implement, decode to [`Message::Ignored`] without their other fields being read.
///
/// # Errors
///
/// A [`WireError`] saying why the frame was refused; [`WireError::code`] gives a short
/// label for metrics.
pub fn decode(frame: &[u8], limits: &WireLimits) -> Result<Message, WireError> {
    if frame.len() > limits.max_frame_bytes {
        return Err(WireError::FrameTooLarge { size: frame.len(), max: limits.max_frame_bytes });
    }
    let f = Fields::scan(frame, limits)?;
    let kind = f.short_text(Field::Type)?;
    // Whole frames are bounded by max_frame_bytes; only ephemeral data has its own cap.
    let any_size = usize::MAX;
    Ok(match kind.as_str() {
        Message::JOIN => Message::Join {
            sender_id: f.peer_id(Field::SenderId)?,
            peer_metadata: f.peer_metadata()?,
            supported_protocol_versions: f.versions()?,
        },
        Message::PEER => Message::Peer {
            sender_id: f.peer_id(Field::SenderId)?,
            target_id: f.peer_id(Field::TargetId)?,
            peer_metadata: f.peer_metadata()?.unwrap_or_default(),
            selected_protocol_version: f.short_text(Field::SelectedProtocolVersion)?,
        },
        Message::ERROR => Message::Error {
            sender_id: f.peer_id(Field::SenderId)?,
            target_id: f.peer_id(Field::TargetId)?,
            message: f.text(Field::Message)?.into_owned(),
        },
        Message::REQUEST => Message::Request {
            sender_id: f.peer_id(Field::SenderId)?,
            target_id: f.peer_id(Field::TargetId)?,
            document_id: f.document_id()?,
            data: f.data(any_size)?,
        },
        Message::SYNC => Message::Sync {
            sender_id: f.peer_id(Field::SenderId)?,
            target_id: f.peer_id(Field::TargetId)?,
            document_id: f.document_id()?,
            data: f.data(any_size)?,
        },
        Message::DOC_UNAVAILABLE => Message::DocUnavailable {
            sender_id: f.peer_id(Field::SenderId)?,
            target_id: f.peer_id(Field::TargetId)?,
            document_id: f.document_id()?,
        },
        Message::EPHEMERAL => Message::Ephemeral {
            sender_id: f.peer_id(Field::SenderId)?,
            target_id: f.peer_id(Field::TargetId)?,
            document_id: f.document_id()?,
            session_id: f.short_text(Field::SessionId)?,
            count: f.count()?,
            data: f.data(limits.max_ephemeral_bytes)?,
        },
        _ => Message::Ignored { kind },
    })
}
