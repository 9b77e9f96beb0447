//! Decoding hand-written frames: everything the JS peers may legitimately send that our
//! own encoder never produces (undefined, floats for integers, unknown keys, aliases,
//! indefinite lengths), and one test per way a frame can be refused.

#![allow(clippy::unwrap_used)]

use std::convert::Infallible;

use linli_shared::wire::MAX_NESTING;
use linli_shared::{
    decode, encode, DocumentId, IdError, Message, PeerId, PeerMetadata, StorageId, WireError, WireLimits,
};
use minicbor::Encoder;

/// The bs58check id of the bytes 00..0f, checked against the JS bs58check.
const DOC: &str = "1Bhh3pU9gLXZiNDL6PEa1Gs9fh";

type Enc = Encoder<Vec<u8>>;
type EncResult = Result<(), minicbor::encode::Error<Infallible>>;

/// Builds a frame with minicbor's encoder, for CBOR shapes our `encode` never emits.
fn cbor(build: impl FnOnce(&mut Enc) -> EncResult) -> Vec<u8> {
    let mut e = Encoder::new(Vec::new());
    build(&mut e).unwrap();
    e.into_writer()
}

fn dec(frame: &[u8]) -> Result<Message, WireError> {
    decode(frame, &WireLimits::default())
}

fn peer(s: &str) -> PeerId {
    PeerId::new(s).unwrap()
}

fn doc() -> DocumentId {
    DOC.parse().unwrap()
}

/// A valid `sync` frame with one field replaced or added: `field` is written with `value`.
fn sync_with(field: &str, value: impl FnOnce(&mut Enc) -> EncResult) -> Vec<u8> {
    cbor(|e| {
        let mut fields = vec!["type", "senderId", "targetId", "documentId", "data"];
        if !fields.contains(&field) {
            fields.push(field);
        }
        e.map(fields.len() as u64)?;
        let mut value = Some(value);
        for f in fields {
            e.str(f)?;
            if f == field {
                if let Some(v) = value.take() {
                    v(e)?;
                }
                continue;
            }
            match f {
                "type" => e.str("sync")?,
                "senderId" => e.str("peer-a")?,
                "targetId" => e.str("server")?,
                "documentId" => e.str(DOC)?,
                _ => e.bytes(&[1, 2, 3])?,
            };
        }
        Ok(())
    })
}

// ---------------------------------------------------------------- accepted shapes

#[test]
fn join_with_undefined_storage_id_and_no_version_list() {
    let frame = cbor(|e| {
        e.map(3)?;
        e.str("type")?.str("join")?;
        e.str("senderId")?.str("peer-abc")?;
        e.str("peerMetadata")?.map(2)?;
        e.str("storageId")?.undefined()?;
        e.str("isEphemeral")?.bool(false)?;
        Ok(())
    });
    assert_eq!(
        dec(&frame).unwrap(),
        Message::Join {
            sender_id: peer("peer-abc"),
            peer_metadata: Some(PeerMetadata::default()),
            supported_protocol_versions: None,
        }
    );
}

#[test]
fn undefined_and_null_mean_absent_for_optional_fields() {
    let frame = cbor(|e| {
        e.map(4)?;
        e.str("type")?.str("join")?;
        e.str("senderId")?.str("p")?;
        e.str("peerMetadata")?.undefined()?;
        e.str("supportedProtocolVersions")?.null()?;
        Ok(())
    });
    assert_eq!(
        dec(&frame).unwrap(),
        Message::Join { sender_id: peer("p"), peer_metadata: None, supported_protocol_versions: None }
    );
    // Inside the metadata too: null storage id, undefined isEphemeral.
    let frame = cbor(|e| {
        e.map(3)?;
        e.str("type")?.str("join")?;
        e.str("senderId")?.str("p")?;
        e.str("peerMetadata")?.map(2)?;
        e.str("storageId")?.null()?;
        e.str("isEphemeral")?.undefined()?;
        Ok(())
    });
    let Message::Join { peer_metadata, .. } = dec(&frame).unwrap() else { panic!("not a join") };
    assert_eq!(peer_metadata, Some(PeerMetadata::default()));
}

#[test]
fn empty_peer_metadata_map_is_accepted() {
    // The JS client sends `{}` when the app gave no metadata.
    let frame = cbor(|e| {
        e.map(3)?;
        e.str("type")?.str("join")?;
        e.str("senderId")?.str("p")?;
        e.str("peerMetadata")?.map(0)?;
        Ok(())
    });
    let Message::Join { peer_metadata, .. } = dec(&frame).unwrap() else { panic!("not a join") };
    assert_eq!(peer_metadata, Some(PeerMetadata::default()));
}

#[test]
fn metadata_alias() {
    let frame = cbor(|e| {
        e.map(4)?;
        e.str("type")?.str("join")?;
        e.str("senderId")?.str("p")?;
        e.str("metadata")?.map(2)?;
        e.str("storageId")?.str("3760df37-a4c6-4f66-9ecd-732039a9385d")?;
        e.str("isEphemeral")?.bool(true)?;
        e.str("supportedProtocolVersions")?.array(2)?.str("1")?.str("2")?;
        Ok(())
    });
    assert_eq!(
        dec(&frame).unwrap(),
        Message::Join {
            sender_id: peer("p"),
            peer_metadata: Some(PeerMetadata {
                storage_id: Some(StorageId::new("3760df37-a4c6-4f66-9ecd-732039a9385d").unwrap()),
                is_ephemeral: true,
            }),
            supported_protocol_versions: Some(vec!["1".into(), "2".into()]),
        }
    );
}

#[test]
fn peer_metadata_wins_over_its_alias() {
    let frame = cbor(|e| {
        e.map(4)?;
        e.str("type")?.str("join")?;
        e.str("senderId")?.str("p")?;
        e.str("metadata")?.map(1)?.str("isEphemeral")?.bool(false)?;
        e.str("peerMetadata")?.map(1)?.str("isEphemeral")?.bool(true)?;
        Ok(())
    });
    let Message::Join { peer_metadata, .. } = dec(&frame).unwrap() else { panic!("not a join") };
    assert!(peer_metadata.unwrap().is_ephemeral);
}

fn ephemeral_with_count(count: impl FnOnce(&mut Enc) -> EncResult) -> Vec<u8> {
    cbor(|e| {
        e.map(7)?;
        e.str("type")?.str("ephemeral")?;
        e.str("targetId")?.str("server")?;
        e.str("documentId")?.str(DOC)?;
        e.str("data")?.bytes(&[0xa0])?;
        e.str("senderId")?.str("peer-a")?;
        e.str("count")?;
        count(e)?;
        e.str("sessionId")?.str("s1")?;
        Ok(())
    })
}

fn count_of(frame: &[u8]) -> Result<u64, WireError> {
    match dec(frame)? {
        Message::Ephemeral { count, .. } => Ok(count),
        other => panic!("not ephemeral: {other:?}"),
    }
}

#[test]
fn count_as_int_or_integral_float() {
    assert_eq!(count_of(&ephemeral_with_count(|e| e.u8(3).map(drop))), Ok(3));
    assert_eq!(count_of(&ephemeral_with_count(|e| e.f64(3.0).map(drop))), Ok(3));
    assert_eq!(count_of(&ephemeral_with_count(|e| e.f32(7.0).map(drop))), Ok(7));
    assert_eq!(count_of(&ephemeral_with_count(|e| e.f64(1_735_689_600_000.0).map(drop))), Ok(1_735_689_600_000));
    // Half float 3.0 (0xf9 0x4200), written by hand: minicbor needs a feature for it.
    assert_eq!(
        count_of(&ephemeral_with_count(|e| {
            e.writer_mut().extend_from_slice(&[0xf9, 0x42, 0x00]);
            Ok(())
        })),
        Ok(3)
    );
}

#[test]
fn count_that_is_not_a_non_negative_integer_is_refused() {
    let wrong = Err(WireError::WrongType { field: "count" });
    assert_eq!(count_of(&ephemeral_with_count(|e| e.f64(1.5).map(drop))), wrong);
    assert_eq!(count_of(&ephemeral_with_count(|e| e.f64(-1.0).map(drop))), wrong);
    assert_eq!(count_of(&ephemeral_with_count(|e| e.f64(f64::NAN).map(drop))), wrong);
    assert_eq!(count_of(&ephemeral_with_count(|e| e.f64(f64::INFINITY).map(drop))), wrong);
    assert_eq!(count_of(&ephemeral_with_count(|e| e.f64(1e20).map(drop))), wrong);
    assert_eq!(count_of(&ephemeral_with_count(|e| e.i8(-1).map(drop))), wrong);
    assert_eq!(count_of(&ephemeral_with_count(|e| e.str("3").map(drop))), wrong);
    assert_eq!(count_of(&ephemeral_with_count(|e| e.undefined().map(drop))), Err(WireError::MissingField("count")));
}

#[test]
fn unknown_keys_with_nested_values_are_skipped() {
    let frame = cbor(|e| {
        e.map(9)?;
        e.str("type")?.str("sync")?;
        // Something like remote-heads gossip, nested three levels, with a float timestamp.
        e.str("newHeads")?.map(1)?.str("storage")?.map(2)?;
        e.str("heads")?.array(2)?.str("a")?.str("b")?;
        e.str("timestamp")?.f64(1_735_689_600_000.5)?;
        e.str("senderId")?.str("peer-a")?;
        // A tagged value, an indefinite map holding an indefinite array, a non-text key.
        e.str("tagged")?.tag(minicbor::data::Tag::new(1))?.u32(1_700_000_000)?;
        e.str("indef")?.begin_map()?.str("k")?.begin_array()?.u8(1)?.null()?.end()?.end()?;
        e.u8(42)?.array(1)?.bytes(&[9])?;
        e.str("targetId")?.str("server")?;
        e.str("documentId")?.str(DOC)?;
        e.str("data")?.bytes(&[1, 2, 3])?;
        Ok(())
    });
    assert_eq!(
        dec(&frame).unwrap(),
        Message::Sync { sender_id: peer("peer-a"), target_id: peer("server"), document_id: doc(), data: vec![1, 2, 3] }
    );
}

#[test]
fn fields_a_type_does_not_use_are_not_checked() {
    // `count` is garbage, but sync does not read it.
    let frame = sync_with("count", |e| e.str("not a number").map(drop));
    assert!(matches!(dec(&frame).unwrap(), Message::Sync { .. }));
}

#[test]
fn indefinite_lengths_are_accepted() {
    let frame = cbor(|e| {
        e.begin_map()?;
        e.str("type")?.str("request")?;
        e.begin_str()?.str("sender")?.str("Id")?.end()?;
        e.begin_str()?.str("peer-")?.str("a")?.end()?;
        e.str("targetId")?.str("server")?;
        e.str("documentId")?.str(DOC)?;
        e.str("data")?.begin_bytes()?.bytes(&[1])?.bytes(&[2, 3])?.end()?;
        e.end()?;
        Ok(())
    });
    assert_eq!(
        dec(&frame).unwrap(),
        Message::Request {
            sender_id: peer("peer-a"),
            target_id: peer("server"),
            document_id: doc(),
            data: vec![1, 2, 3],
        }
    );
}

#[test]
fn tagged_uint8_array_data_is_accepted() {
    // cbor-x with default options tags a Uint8Array with tag 64.
    let frame = sync_with("data", |e| {
        e.tag(minicbor::data::Tag::new(64))?.bytes(&[1, 2, 3])?;
        Ok(())
    });
    assert!(matches!(dec(&frame).unwrap(), Message::Sync { data, .. } if data == [1, 2, 3]));
}

#[test]
fn empty_sync_data_is_fine() {
    let frame = sync_with("data", |e| e.bytes(&[]).map(drop));
    assert!(matches!(dec(&frame).unwrap(), Message::Sync { data, .. } if data.is_empty()));
}

#[test]
fn unknown_and_gossip_types_are_ignored() {
    for kind in ["remote-heads-changed", "remote-subscription-change", "brand-new-type", ""] {
        // Their other fields are not even read: a bogus documentId does not matter.
        let frame = cbor(|e| {
            e.map(3)?.str("type")?.str(kind)?;
            e.str("documentId")?.u8(1)?;
            e.str("senderId")?.bool(true)?;
            Ok(())
        });
        assert_eq!(dec(&frame).unwrap(), Message::Ignored { kind: kind.into() });
    }
}

#[test]
fn peer_without_metadata_decodes_with_defaults() {
    let frame = cbor(|e| {
        e.map(4)?;
        e.str("type")?.str("peer")?;
        e.str("senderId")?.str("server")?;
        e.str("targetId")?.str("peer-a")?;
        e.str("selectedProtocolVersion")?.str("1")?;
        Ok(())
    });
    assert!(matches!(
        dec(&frame).unwrap(),
        Message::Peer { peer_metadata, .. } if peer_metadata == PeerMetadata::default()
    ));
}

#[test]
fn nesting_up_to_the_limit_is_accepted() {
    // The message map is level 1, so MAX_NESTING - 1 arrays fit inside it.
    let frame = sync_with("deep", |e| {
        for _ in 0..MAX_NESTING - 2 {
            e.array(1)?;
        }
        e.array(0)?;
        Ok(())
    });
    assert!(dec(&frame).is_ok());
}

// ---------------------------------------------------------------- refusals

#[test]
fn oversized_frame_is_refused_before_parsing() {
    let limits = WireLimits { max_frame_bytes: 4, ..WireLimits::default() };
    // Garbage: if it were parsed first the error would be different.
    assert_eq!(decode(&[0xff; 5], &limits).unwrap_err(), WireError::FrameTooLarge { size: 5, max: 4 });
    assert_eq!(decode(&[0xff; 4], &limits).unwrap_err(), WireError::NotAMap);
}

#[test]
fn truncated_frames_are_malformed() {
    let frame = sync_with("data", |e| e.bytes(&[1, 2, 3]).map(drop));
    for cut in 0..frame.len() {
        let err = dec(&frame[..cut]).unwrap_err();
        assert!(matches!(err, WireError::Malformed(_)), "cut at {cut}: {err:?}");
    }
    assert_eq!(dec(&[]).unwrap_err(), WireError::Malformed("truncated frame".into()));
}

#[test]
fn lying_length_prefix_is_malformed_without_allocating() {
    // A map claiming 2^64-1 entries, and a byte string claiming 2^64-1 bytes.
    let frame = [0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x61, b'a', 0x01];
    assert!(matches!(dec(&frame), Err(WireError::Malformed(_))));
    let frame = [0xa1, 0x61, b'a', 0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    assert!(matches!(dec(&frame), Err(WireError::Malformed(_))));
}

#[test]
fn not_a_map() {
    assert_eq!(dec(&[0x80]).unwrap_err(), WireError::NotAMap); // []
    assert_eq!(dec(&[0x61, b'x']).unwrap_err(), WireError::NotAMap); // "x"
    assert_eq!(dec(&[0xf6]).unwrap_err(), WireError::NotAMap); // null
    assert_eq!(dec(&[0xd8, 0x69, 0xa0]).unwrap_err(), WireError::NotAMap); // tagged map
}

#[test]
fn trailing_bytes_are_malformed() {
    let mut frame = encode(&Message::Ignored { kind: "x".into() });
    frame.push(0x00);
    assert_eq!(dec(&frame).unwrap_err(), WireError::Malformed("1 trailing bytes after the message".into()));
    // Two messages in one frame.
    let one = encode(&Message::Ignored { kind: "x".into() });
    assert!(matches!(dec(&[one.clone(), one].concat()), Err(WireError::Malformed(_))));
}

#[test]
fn too_deep_nesting_is_malformed() {
    let frame = sync_with("deep", |e| {
        for _ in 0..MAX_NESTING - 1 {
            e.array(1)?;
        }
        e.array(0)?;
        Ok(())
    });
    assert!(matches!(dec(&frame), Err(WireError::Malformed(m)) if m.contains("nesting")));
    // The same through indefinite maps and tags.
    let frame = sync_with("deep", |e| {
        for i in 0..MAX_NESTING {
            if i % 2 == 0 {
                e.begin_map()?.str("k")?;
            } else {
                e.tag(minicbor::data::Tag::new(0))?;
            }
        }
        Ok(())
    });
    assert!(matches!(dec(&frame), Err(WireError::Malformed(_))));
}

#[test]
fn reserved_bytes_and_bad_utf8_are_malformed() {
    let frame = sync_with("junk", |e| {
        e.writer_mut().push(0x1c);
        Ok(())
    });
    assert!(matches!(dec(&frame), Err(WireError::Malformed(_))));
    let frame = sync_with("junk", |e| {
        e.writer_mut().extend_from_slice(&[0x62, 0xff, 0xfe]);
        Ok(())
    });
    assert!(matches!(dec(&frame), Err(WireError::Malformed(_))));
}

#[test]
fn missing_fields() {
    let frame = cbor(|e| e.map(1)?.str("senderId")?.str("p").map(drop));
    assert_eq!(dec(&frame).unwrap_err(), WireError::MissingField("type"));
    let frame = cbor(|e| e.map(1)?.str("type")?.str("join").map(drop));
    assert_eq!(dec(&frame).unwrap_err(), WireError::MissingField("senderId"));
    let frame = cbor(|e| {
        e.map(4)?.str("type")?.str("sync")?.str("senderId")?.str("p")?;
        e.str("targetId")?.str("q")?.str("documentId")?.str(DOC)?;
        Ok(())
    });
    assert_eq!(dec(&frame).unwrap_err(), WireError::MissingField("data"));
    let frame = sync_with("targetId", |e| e.undefined().map(drop));
    assert_eq!(dec(&frame).unwrap_err(), WireError::MissingField("targetId"));
    let frame = cbor(|e| {
        e.map(3)?.str("type")?.str("error")?.str("senderId")?.str("p")?;
        e.str("targetId")?.str("q")?;
        Ok(())
    });
    assert_eq!(dec(&frame).unwrap_err(), WireError::MissingField("message"));
}

#[test]
fn wrong_types() {
    let wrong = |field| Err(WireError::WrongType { field });
    let frame = cbor(|e| e.map(1)?.str("type")?.u8(1).map(drop));
    assert_eq!(dec(&frame), wrong("type"));
    assert_eq!(dec(&sync_with("senderId", |e| e.u8(7).map(drop))), wrong("senderId"));
    assert_eq!(dec(&sync_with("documentId", |e| e.bytes(&[0; 16]).map(drop))), wrong("documentId"));
    assert_eq!(dec(&sync_with("data", |e| e.str("AQID").map(drop))), wrong("data"));
    assert_eq!(dec(&sync_with("data", |e| e.array(0).map(drop))), wrong("data"));
    let join = |meta: &dyn Fn(&mut Enc) -> EncResult| {
        cbor(|e| {
            e.map(3)?.str("type")?.str("join")?.str("senderId")?.str("p")?;
            e.str("peerMetadata")?;
            meta(e)
        })
    };
    assert_eq!(dec(&join(&|e| e.str("x").map(drop))), wrong("peerMetadata"));
    assert_eq!(dec(&join(&|e| e.map(1)?.str("isEphemeral")?.u8(1).map(drop))), wrong("isEphemeral"));
    assert_eq!(dec(&join(&|e| e.map(1)?.str("storageId")?.u8(1).map(drop))), wrong("storageId"));
    let versions = |v: &dyn Fn(&mut Enc) -> EncResult| {
        cbor(|e| {
            e.map(3)?.str("type")?.str("join")?.str("senderId")?.str("p")?;
            e.str("supportedProtocolVersions")?;
            v(e)
        })
    };
    assert_eq!(dec(&versions(&|e| e.str("1").map(drop))), wrong("supportedProtocolVersions"));
    assert_eq!(dec(&versions(&|e| e.array(1)?.u8(1).map(drop))), wrong("supportedProtocolVersions"));
}

#[test]
fn invalid_document_ids() {
    let with_doc = |s: &'static str| sync_with("documentId", move |e| e.str(s).map(drop));
    assert_eq!(
        dec(&with_doc("1Bhh3pU9gLXZiNDL6PEa1Gs9fi")).unwrap_err(),
        WireError::InvalidDocumentId(IdError::BadChecksum)
    );
    assert_eq!(dec(&with_doc("")).unwrap_err(), WireError::InvalidDocumentId(IdError::Empty));
    assert!(matches!(
        dec(&with_doc("automerge:1Bhh3pU9gLXZiNDL6PEa1Gs9fh")).unwrap_err(),
        WireError::InvalidDocumentId(IdError::NotBase58 { .. })
    ));
    let long: &'static str = "1".repeat(100).leak();
    assert!(matches!(dec(&with_doc(long)).unwrap_err(), WireError::InvalidDocumentId(IdError::TooLong { .. })));
}

#[test]
fn invalid_peer_ids() {
    assert_eq!(
        dec(&sync_with("senderId", |e| e.str("").map(drop))).unwrap_err(),
        WireError::InvalidPeerId(IdError::Empty)
    );
    let limits = WireLimits { max_id_len: 5, ..WireLimits::default() };
    let frame = sync_with("targetId", |e| e.str("123456").map(drop));
    assert_eq!(decode(&frame, &limits).unwrap_err(), WireError::InvalidPeerId(IdError::TooLong { len: 6, max: 5 }));
}

#[test]
fn invalid_storage_id() {
    let frame = cbor(|e| {
        e.map(3)?.str("type")?.str("join")?.str("senderId")?.str("p")?;
        e.str("peerMetadata")?.map(1)?.str("storageId")?.str("")?;
        Ok(())
    });
    assert_eq!(dec(&frame).unwrap_err(), WireError::InvalidStorageId(IdError::Empty));
}

#[test]
fn fields_too_large() {
    let limits = WireLimits {
        // "ephemeral", the longest type string, is 9 bytes.
        max_id_len: 9,
        max_ephemeral_bytes: 4,
        ..WireLimits::default()
    };
    let ephemeral = |session: &'static str, data: &'static [u8]| {
        cbor(move |e| {
            e.map(7)?.str("type")?.str("ephemeral")?;
            e.str("senderId")?.str("p")?.str("targetId")?.str("q")?;
            e.str("documentId")?.str(DOC)?.str("count")?.u8(1)?;
            e.str("sessionId")?.str(session)?.str("data")?.bytes(data)?;
            Ok(())
        })
    };
    assert!(decode(&ephemeral("123456789", &[1, 2, 3, 4]), &limits).is_ok());
    assert_eq!(
        decode(&ephemeral("1234567890", &[1]), &limits).unwrap_err(),
        WireError::FieldTooLarge { field: "sessionId" }
    );
    assert_eq!(
        decode(&ephemeral("s", &[1, 2, 3, 4, 5]), &limits).unwrap_err(),
        WireError::FieldTooLarge { field: "data" }
    );
    // Sync data is bounded only by the frame size.
    let frame = sync_with("data", |e| e.bytes(&[0; 100]).map(drop));
    assert!(decode(&frame, &limits).is_ok());
    // The type string and version strings are ids too.
    let frame = cbor(|e| e.map(1)?.str("type")?.str("a-very-long-type").map(drop));
    assert_eq!(decode(&frame, &limits).unwrap_err(), WireError::FieldTooLarge { field: "type" });
    let frame = cbor(|e| {
        e.map(3)?.str("type")?.str("join")?.str("senderId")?.str("p")?;
        e.str("supportedProtocolVersions")?.array(1)?.str("1234567890")?;
        Ok(())
    });
    assert_eq!(decode(&frame, &limits).unwrap_err(), WireError::FieldTooLarge { field: "supportedProtocolVersions" });
}

#[test]
fn duplicate_fields() {
    let frame = cbor(|e| {
        e.map(3)?.str("type")?.str("join")?;
        e.str("senderId")?.str("a")?.str("senderId")?.str("b")?;
        Ok(())
    });
    assert_eq!(dec(&frame).unwrap_err(), WireError::DuplicateField("senderId"));
    let frame = cbor(|e| {
        e.map(3)?.str("type")?.str("join")?.str("senderId")?.str("a")?;
        e.str("peerMetadata")?.map(2)?;
        e.str("isEphemeral")?.bool(true)?.str("isEphemeral")?.bool(false)?;
        Ok(())
    });
    assert_eq!(dec(&frame).unwrap_err(), WireError::DuplicateField("isEphemeral"));
}
