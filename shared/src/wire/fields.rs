//! The first pass over a frame: walk the top-level map once, check that the whole frame
//! is well-formed and bounded, and remember where each known field's value starts. The
//! second pass ([`super::decode`]) then reads only the fields its message type needs, so
//! an odd value in a field that type does not use is ignored, as the JS peers do.

use std::borrow::Cow;

use minicbor::data::Type;
use minicbor::Decoder;

use super::cbor::{datatype, for_each_item, is_absent, is_text, read_bytes, read_text, read_uint, skip_value};
use super::error::WireError;
use super::message::PeerMetadata;
use crate::ids::{DocumentId, PeerId, StorageId};
use crate::limits::WireLimits;

/// The keys the protocol defines. Everything else is skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    Type,
    SenderId,
    TargetId,
    DocumentId,
    Data,
    PeerMetadata,
    /// Older peers' name for `peerMetadata`.
    Metadata,
    SupportedProtocolVersions,
    SelectedProtocolVersion,
    SessionId,
    Count,
    Message,
}

const FIELD_COUNT: usize = 12;

impl Field {
    fn from_key(key: &str) -> Option<Self> {
        Some(match key {
            "type" => Self::Type,
            "senderId" => Self::SenderId,
            "targetId" => Self::TargetId,
            "documentId" => Self::DocumentId,
            "data" => Self::Data,
            "peerMetadata" => Self::PeerMetadata,
            "metadata" => Self::Metadata,
            "supportedProtocolVersions" => Self::SupportedProtocolVersions,
            "selectedProtocolVersion" => Self::SelectedProtocolVersion,
            "sessionId" => Self::SessionId,
            "count" => Self::Count,
            "message" => Self::Message,
            _ => return None,
        })
    }

    /// The wire key, used in error messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Type => "type",
            Self::SenderId => "senderId",
            Self::TargetId => "targetId",
            Self::DocumentId => "documentId",
            Self::Data => "data",
            Self::PeerMetadata => "peerMetadata",
            Self::Metadata => "metadata",
            Self::SupportedProtocolVersions => "supportedProtocolVersions",
            Self::SelectedProtocolVersion => "selectedProtocolVersion",
            Self::SessionId => "sessionId",
            Self::Count => "count",
            Self::Message => "message",
        }
    }
}

/// Where each known field's value starts in a frame that has been checked to be one
/// well-formed CBOR map with nothing after it.
#[derive(Debug)]
pub(crate) struct Fields<'b> {
    frame: &'b [u8],
    positions: [Option<usize>; FIELD_COUNT],
    limits: WireLimits,
}

impl<'b> Fields<'b> {
    /// Walks the frame's top-level map.
    pub(crate) fn scan(frame: &'b [u8], limits: &WireLimits) -> Result<Self, WireError> {
        let mut d = Decoder::new(frame);
        if !matches!(datatype(&d)?, Type::Map | Type::MapIndef) {
            return Err(WireError::NotAMap);
        }
        let len = d.map().map_err(WireError::cbor)?;
        let mut positions = [None; FIELD_COUNT];
        for_each_item(&mut d, len, |d| {
            let field = if is_text(d)? {
                Field::from_key(&read_text(d)?)
            } else {
                // JS objects only have text keys; any other key cannot name a field.
                skip_value(d, 1)?;
                None
            };
            if let Some(field) = field {
                let slot = &mut positions[field as usize];
                if slot.is_some() {
                    return Err(WireError::DuplicateField(field.name()));
                }
                *slot = Some(d.position());
            }
            skip_value(d, 1)
        })?;
        let rest = frame.len() - d.position();
        if rest > 0 {
            return Err(WireError::Malformed(format!("{rest} trailing bytes after the message")));
        }
        Ok(Self { frame, positions, limits: *limits })
    }

    /// A decoder at the field's value, or `None` when the field is absent, `null` or
    /// `undefined` (all three mean "not set" to a JS peer).
    fn value(&self, field: Field) -> Result<Option<Decoder<'b>>, WireError> {
        let Some(pos) = self.positions[field as usize] else {
            return Ok(None);
        };
        let mut d = Decoder::new(self.frame);
        d.set_position(pos);
        if is_absent(&d)? {
            return Ok(None);
        }
        Ok(Some(d))
    }

    fn required(&self, field: Field) -> Result<Decoder<'b>, WireError> {
        self.value(field)?.ok_or(WireError::MissingField(field.name()))
    }

    /// An optional text field.
    pub(crate) fn opt_text(&self, field: Field) -> Result<Option<Cow<'b, str>>, WireError> {
        let Some(mut d) = self.value(field)? else {
            return Ok(None);
        };
        if !is_text(&d)? {
            return Err(WireError::WrongType { field: field.name() });
        }
        read_text(&mut d).map(Some)
    }

    /// A required text field.
    pub(crate) fn text(&self, field: Field) -> Result<Cow<'b, str>, WireError> {
        self.opt_text(field)?.ok_or(WireError::MissingField(field.name()))
    }

    /// A required text field no longer than [`WireLimits::max_id_len`].
    pub(crate) fn short_text(&self, field: Field) -> Result<String, WireError> {
        let s = self.text(field)?;
        if s.len() > self.limits.max_id_len {
            return Err(WireError::FieldTooLarge { field: field.name() });
        }
        Ok(s.into_owned())
    }

    /// A required peer id.
    pub(crate) fn peer_id(&self, field: Field) -> Result<PeerId, WireError> {
        let s = self.text(field)?;
        PeerId::with_max_len(s, self.limits.max_id_len).map_err(WireError::InvalidPeerId)
    }

    /// The required `documentId`, a bs58check string.
    pub(crate) fn document_id(&self) -> Result<DocumentId, WireError> {
        self.text(Field::DocumentId)?.parse().map_err(WireError::InvalidDocumentId)
    }

    /// The required `data` byte string, at most `max` bytes long.
    pub(crate) fn data(&self, max: usize) -> Result<Vec<u8>, WireError> {
        let mut d = self.required(Field::Data)?;
        let bytes = read_bytes(&mut d)?.ok_or(WireError::WrongType { field: "data" })?;
        // Checked before copying, so an oversized field costs nothing.
        if bytes.len() > max {
            return Err(WireError::FieldTooLarge { field: "data" });
        }
        Ok(bytes.into_owned())
    }

    /// The required `count`, an unsigned integer or an integral float.
    pub(crate) fn count(&self) -> Result<u64, WireError> {
        let mut d = self.required(Field::Count)?;
        read_uint(&mut d)?.ok_or(WireError::WrongType { field: "count" })
    }

    /// The optional `supportedProtocolVersions` list of short strings.
    pub(crate) fn versions(&self) -> Result<Option<Vec<String>>, WireError> {
        const FIELD: Field = Field::SupportedProtocolVersions;
        let Some(mut d) = self.value(FIELD)? else {
            return Ok(None);
        };
        if !matches!(datatype(&d)?, Type::Array | Type::ArrayIndef) {
            return Err(WireError::WrongType { field: FIELD.name() });
        }
        let len = d.array().map_err(WireError::cbor)?;
        let mut versions = Vec::new();
        for_each_item(&mut d, len, |d| {
            if !is_text(d)? {
                return Err(WireError::WrongType { field: FIELD.name() });
            }
            let v = read_text(d)?;
            if v.len() > self.limits.max_id_len {
                return Err(WireError::FieldTooLarge { field: FIELD.name() });
            }
            versions.push(v.into_owned());
            Ok(())
        })?;
        Ok(Some(versions))
    }

    /// The optional peer metadata, under `peerMetadata` or its alias `metadata`
    /// (`peerMetadata` wins if a peer sends both).
    pub(crate) fn peer_metadata(&self) -> Result<Option<PeerMetadata>, WireError> {
        let (field, mut d) = match self.value(Field::PeerMetadata)? {
            Some(d) => (Field::PeerMetadata, d),
            None => match self.value(Field::Metadata)? {
                Some(d) => (Field::Metadata, d),
                None => return Ok(None),
            },
        };
        if !matches!(datatype(&d)?, Type::Map | Type::MapIndef) {
            return Err(WireError::WrongType { field: field.name() });
        }
        let len = d.map().map_err(WireError::cbor)?;
        let mut meta = PeerMetadata::default();
        let (mut seen_storage, mut seen_ephemeral) = (false, false);
        for_each_item(&mut d, len, |d| {
            let key = if is_text(d)? {
                Some(read_text(d)?)
            } else {
                skip_value(d, 2)?;
                None
            };
            match key.as_deref() {
                Some("storageId") => {
                    once(&mut seen_storage, "storageId")?;
                    meta.storage_id = self.storage_id(d)?;
                }
                Some("isEphemeral") => {
                    once(&mut seen_ephemeral, "isEphemeral")?;
                    meta.is_ephemeral = match datatype(d)? {
                        Type::Bool => d.bool().map_err(WireError::cbor)?,
                        Type::Null | Type::Undefined => {
                            skip_value(d, 2)?;
                            false
                        }
                        _ => return Err(WireError::WrongType { field: "isEphemeral" }),
                    };
                }
                _ => skip_value(d, 2)?,
            }
            Ok(())
        })?;
        Ok(Some(meta))
    }

    fn storage_id(&self, d: &mut Decoder<'b>) -> Result<Option<StorageId>, WireError> {
        if is_absent(d)? {
            skip_value(d, 2)?;
            return Ok(None);
        }
        if !is_text(d)? {
            return Err(WireError::WrongType { field: "storageId" });
        }
        let s = read_text(d)?;
        StorageId::with_max_len(s, self.limits.max_id_len).map(Some).map_err(WireError::InvalidStorageId)
    }
}

fn once(seen: &mut bool, field: &'static str) -> Result<(), WireError> {
    if std::mem::replace(seen, true) {
        Err(WireError::DuplicateField(field))
    } else {
        Ok(())
    }
}
