// Regenerates the JS reference vectors hard-coded in `../js_vectors.rs` and in
// `src/ids/document_id.rs`. Not run by `cargo test`; run it by hand when upgrading the
// JS side:
//
//   mkdir /tmp/vec && cp gen-vectors.mjs /tmp/vec && cd /tmp/vec && npm init -y &&
//   npm i bs58check@4 @automerge/automerge-repo@2 && node gen-vectors.mjs
//
// Frames are encoded with automerge-repo's own `cbor.encode` (cbor-x with
// `tagUint8Array: false, useRecords: false`), exactly what the WebSocket adapter sends.
import bs58check from "bs58check";
import { cbor } from "@automerge/automerge-repo/slim";

const hex = (b) => Buffer.from(b).toString("hex");

const payloads = [
  new Uint8Array(16),
  Uint8Array.from({ length: 16 }, (_, i) => i),
  new Uint8Array(16).fill(0xff),
  Uint8Array.from([0xde, 0xad, 0xbe, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98]),
];
for (const p of payloads) console.log("bs58check", hex(p), bs58check.encode(p));

const documentId = bs58check.encode(payloads[1]); // 1Bhh3pU9gLXZiNDL6PEa1Gs9fh
const frames = {
  // WebSocketClientAdapter.join() with no storage (storageId is undefined, not absent).
  join: { type: "join", senderId: "peer-abc", peerMetadata: { storageId: undefined, isEphemeral: false }, supportedProtocolVersions: ["1"] },
  joinWithStorage: { type: "join", senderId: "peer-abc", peerMetadata: { storageId: "3760df37-a4c6-4f66-9ecd-732039a9385d", isEphemeral: false }, supportedProtocolVersions: ["1"] },
  sync: { type: "sync", senderId: "peer-abc", targetId: "server", documentId, data: new Uint8Array([1, 2, 3, 4, 250]) },
  request: { type: "request", senderId: "peer-abc", targetId: "server", documentId, data: new Uint8Array([0x42, 0x00]) },
  docUnavailable: { type: "doc-unavailable", senderId: "server", targetId: "peer-abc", documentId },
  // NetworkSubsystem's key order: the message, then count, sessionId, senderId.
  ephemeral: { type: "ephemeral", targetId: "server", documentId, data: new Uint8Array([0xa1, 0x61, 0x78, 0x01]), count: 3, sessionId: "k3j2h1", senderId: "peer-abc" },
  ephemeralBigCount: { type: "ephemeral", targetId: "server", documentId, data: new Uint8Array([7]), count: 2 ** 40, sessionId: "s", senderId: "peer-abc" },
  // What WebSocketServerAdapter answers to a join.
  peer: { type: "peer", senderId: "server", peerMetadata: { storageId: "3760df37-a4c6-4f66-9ecd-732039a9385d", isEphemeral: false }, selectedProtocolVersion: "1", targetId: "peer-abc" },
  error: { type: "error", senderId: "server", message: "unsupported protocol version", targetId: "peer-abc" },
  remoteHeads: { type: "remote-heads-changed", senderId: "peer-abc", targetId: "server", documentId, newHeads: { "3760df37-a4c6-4f66-9ecd-732039a9385d": { heads: ["abc"], timestamp: Date.UTC(2024, 0, 1) + 0.5 } } },
};
for (const [name, msg] of Object.entries(frames)) console.log("cbor", name, hex(cbor.encode(msg)));
