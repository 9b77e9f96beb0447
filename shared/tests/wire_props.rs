//! Property tests of the codec: every message survives encode → decode, and no input,
//! random or a corrupted real frame, makes `decode` panic.

#![allow(clippy::unwrap_used)]

use linli_shared::{decode, encode, DocumentId, Message, PeerId, PeerMetadata, StorageId, WireLimits};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

const KNOWN_TYPES: [&str; 7] = ["join", "peer", "error", "request", "sync", "doc-unavailable", "ephemeral"];

fn peer_id() -> impl Strategy<Value = PeerId> {
    // Up to 40 chars of any Unicode is at most 160 bytes, inside the default limit.
    ".{1,40}".prop_map(|s| PeerId::new(s).unwrap())
}

fn document_id() -> impl Strategy<Value = DocumentId> {
    any::<[u8; 16]>().prop_map(DocumentId::from_bytes)
}

fn data() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..300)
}

fn metadata() -> impl Strategy<Value = PeerMetadata> {
    (option::of(".{1,40}"), any::<bool>())
        .prop_map(|(s, is_ephemeral)| PeerMetadata { storage_id: s.map(|s| StorageId::new(s).unwrap()), is_ephemeral })
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (peer_id(), option::of(metadata()), option::of(vec(".{0,10}", 0..4))).prop_map(
            |(sender_id, peer_metadata, supported_protocol_versions)| {
                Message::Join { sender_id, peer_metadata, supported_protocol_versions }
            }
        ),
        (peer_id(), peer_id(), metadata(), ".{0,10}").prop_map(|(s, t, m, v)| Message::Peer {
            sender_id: s,
            target_id: t,
            peer_metadata: m,
            selected_protocol_version: v,
        }),
        (peer_id(), peer_id(), ".{0,100}").prop_map(|(s, t, message)| Message::Error {
            sender_id: s,
            target_id: t,
            message,
        }),
        (peer_id(), peer_id(), document_id(), data())
            .prop_map(|(s, t, d, data)| { Message::Request { sender_id: s, target_id: t, document_id: d, data } }),
        (peer_id(), peer_id(), document_id(), data()).prop_map(|(s, t, d, data)| Message::Sync {
            sender_id: s,
            target_id: t,
            document_id: d,
            data,
        }),
        (peer_id(), peer_id(), document_id()).prop_map(|(s, t, d)| Message::DocUnavailable {
            sender_id: s,
            target_id: t,
            document_id: d,
        }),
        (peer_id(), peer_id(), document_id(), ".{0,40}", any::<u64>(), data()).prop_map(
            |(s, t, d, session_id, count, data)| Message::Ephemeral {
                sender_id: s,
                target_id: t,
                document_id: d,
                session_id,
                count,
                data,
            }
        ),
        "[a-z-]{0,30}"
            .prop_filter("known types decode as themselves", |k| !KNOWN_TYPES.contains(&k.as_str()))
            .prop_map(|kind| Message::Ignored { kind }),
    ]
}

/// One way of damaging a frame.
#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, mask: u8 },
    Set { at: usize, byte: u8 },
    Insert { at: usize, byte: u8 },
    Remove { at: usize },
    Truncate { at: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    // Positions are taken modulo the frame length when applied.
    prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(at, mask)| Mutation::Flip { at, mask }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Set { at, byte }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Insert { at, byte }),
        any::<usize>().prop_map(|at| Mutation::Remove { at }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
    ]
}

fn apply(frame: &mut Vec<u8>, m: &Mutation) {
    if frame.is_empty() {
        return;
    }
    let n = frame.len();
    match *m {
        Mutation::Flip { at, mask } => frame[at % n] ^= mask,
        Mutation::Set { at, byte } => frame[at % n] = byte,
        Mutation::Insert { at, byte } => frame.insert(at % (n + 1), byte),
        Mutation::Remove { at } => {
            frame.remove(at % n);
        }
        Mutation::Truncate { at } => frame.truncate(at % n),
    }
}

/// Bytes that look like CBOR more often than uniform noise does: a mix of interesting
/// initial bytes (containers, indefinite markers, breaks, tags, floats, big lengths).
fn cborish() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        any::<u8>(),
        prop::sample::select(vec![
            0xa1, 0xa2, 0xbf, 0x9f, 0x81, 0x5f, 0x7f, 0xff, 0xf6, 0xf7, 0xf9, 0xfa, 0xfb, 0xd8, 0x1b, 0xbb, 0x9b, 0x5b,
            0x7b, 0x64, 0x61,
        ]),
    ];
    vec(byte, 0..200)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn round_trip(m in message()) {
        let frame = encode(&m);
        prop_assert_eq!(decode(&frame, &WireLimits::default()).unwrap(), m);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..512)) {
        let _ = decode(&bytes, &WireLimits::default());
    }

    #[test]
    fn cbor_like_bytes_never_panic(bytes in cborish()) {
        let _ = decode(&bytes, &WireLimits::default());
    }

    #[test]
    fn mutated_frames_never_panic(m in message(), mutations in vec(mutation(), 1..6)) {
        let mut frame = encode(&m);
        for mutation in &mutations {
            apply(&mut frame, mutation);
        }
        let _ = decode(&frame, &WireLimits::default());
        // Tight limits exercise the size checks on the same damaged input.
        let tight = WireLimits { max_frame_bytes: 64, max_id_len: 4, max_ephemeral_bytes: 2 };
        let _ = decode(&frame, &tight);
    }
}
