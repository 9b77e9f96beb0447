//! [`Message`] → frame, in the shape the JS peers expect: one definite-length map with
//! only the fields that are set, `data` as a byte string, `count` as an unsigned integer.

use minicbor::encode::{Error, Write};
use minicbor::Encoder;

use super::message::{Message, PeerMetadata};
use crate::ids::{DocumentId, PeerId};

/// Encodes one message as a CBOR frame. [`Message::Ignored`] encodes as `{type: kind}`.
#[must_use]
pub fn encode(msg: &Message) -> Vec<u8> {
    let mut e = Encoder::new(Vec::new());
    match write_message(&mut e, msg) {
        Ok(()) => e.into_writer(),
        // Writing to a Vec is infallible (its error type is `Infallible`), and these
        // Encoder calls produce no other kind of error.
        Err(err) => unreachable!("CBOR encoding into a Vec failed: {err}"),
    }
}

type Result<W> = std::result::Result<(), Error<<W as Write>::Error>>;

fn write_message<W: Write>(e: &mut Encoder<W>, msg: &Message) -> Result<W> {
    match msg {
        Message::Join { sender_id, peer_metadata, supported_protocol_versions } => {
            let n = 2 + u64::from(peer_metadata.is_some()) + u64::from(supported_protocol_versions.is_some());
            head(e, n, msg.kind(), sender_id)?;
            if let Some(meta) = peer_metadata {
                e.str("peerMetadata")?;
                write_metadata(e, meta)?;
            }
            if let Some(versions) = supported_protocol_versions {
                e.str("supportedProtocolVersions")?.array(versions.len() as u64)?;
                for v in versions {
                    e.str(v)?;
                }
            }
        }
        Message::Peer { sender_id, target_id, peer_metadata, selected_protocol_version } => {
            head(e, 5, msg.kind(), sender_id)?;
            target(e, target_id)?;
            e.str("peerMetadata")?;
            write_metadata(e, peer_metadata)?;
            e.str("selectedProtocolVersion")?.str(selected_protocol_version)?;
        }
        Message::Error { sender_id, target_id, message } => {
            head(e, 4, msg.kind(), sender_id)?;
            target(e, target_id)?;
            e.str("message")?.str(message)?;
        }
        Message::Request { sender_id, target_id, document_id, data }
        | Message::Sync { sender_id, target_id, document_id, data } => {
            head(e, 5, msg.kind(), sender_id)?;
            target(e, target_id)?;
            document(e, document_id)?;
            e.str("data")?.bytes(data)?;
        }
        Message::DocUnavailable { sender_id, target_id, document_id } => {
            head(e, 4, msg.kind(), sender_id)?;
            target(e, target_id)?;
            document(e, document_id)?;
        }
        Message::Ephemeral { sender_id, target_id, document_id, session_id, count, data } => {
            head(e, 7, msg.kind(), sender_id)?;
            target(e, target_id)?;
            document(e, document_id)?;
            e.str("sessionId")?.str(session_id)?;
            e.str("count")?.u64(*count)?;
            e.str("data")?.bytes(data)?;
        }
        Message::Ignored { kind } => {
            e.map(1)?.str("type")?.str(kind)?;
        }
    }
    Ok(())
}

/// The map header for `n` entries, then `type` and `senderId`.
fn head<W: Write>(e: &mut Encoder<W>, n: u64, kind: &str, sender: &PeerId) -> Result<W> {
    e.map(n)?.str("type")?.str(kind)?.str("senderId")?.str(sender.as_str())?;
    Ok(())
}

fn target<W: Write>(e: &mut Encoder<W>, target: &PeerId) -> Result<W> {
    e.str("targetId")?.str(target.as_str())?;
    Ok(())
}

fn document<W: Write>(e: &mut Encoder<W>, id: &DocumentId) -> Result<W> {
    e.str("documentId")?.str(&id.to_string())?;
    Ok(())
}

fn write_metadata<W: Write>(e: &mut Encoder<W>, meta: &PeerMetadata) -> Result<W> {
    match &meta.storage_id {
        Some(id) => {
            e.map(2)?.str("storageId")?.str(id.as_str())?;
        }
        None => {
            e.map(1)?;
        }
    }
    e.str("isEphemeral")?.bool(meta.is_ephemeral)?;
    Ok(())
}
