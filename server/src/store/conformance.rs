//! One conformance suite that every [`DocStore`] implementation must pass, so the
//! in-memory store used in simulations behaves like the sled store in production.

use super::{ChunkKind, DocStore};
use automerge::{transaction::Transactable, AutoCommit, ReadDoc, ROOT};
use linli_shared::DocumentId;

/// Runs every conformance check against fresh stores made by `make`. Panics on failure.
pub fn run_conformance_suite<S: DocStore>(make: impl Fn() -> S) {
    unknown_document_is_empty(&make());
    put_is_idempotent_and_loads_back(&make());
    documents_do_not_leak_into_each_other(&make());
    compaction_replaces_only_what_it_covers(&make());
    delete_removes_everything(&make());
    chunks_rebuild_the_document(&make());
}

fn unknown_document_is_empty<S: DocStore>(store: &S) {
    let loaded = store.load(&DocumentId::random()).expect("load");
    assert!(loaded.is_empty());
    assert!(store.list().expect("list").is_empty());
}

fn put_is_idempotent_and_loads_back<S: DocStore>(store: &S) {
    let doc = DocumentId::random();
    let k1 = store.put_chunk(&doc, b"one").expect("put");
    let k2 = store.put_chunk(&doc, b"one").expect("put again");
    assert_eq!(k1, k2, "content addressed");
    store.put_chunk(&doc, b"two").expect("put");
    let loaded = store.load(&doc).expect("load");
    assert_eq!(loaded.chunks.len(), 2);
    let mut bodies: Vec<_> = loaded.chunks.iter().map(|(_, b)| b.clone()).collect();
    bodies.sort();
    assert_eq!(bodies, vec![b"one".to_vec(), b"two".to_vec()]);
    assert_eq!(store.list().expect("list"), vec![doc]);
}

fn documents_do_not_leak_into_each_other<S: DocStore>(store: &S) {
    let a = DocumentId::random();
    let b = DocumentId::random();
    store.put_chunk(&a, b"a").expect("put");
    store.put_chunk(&b, b"b").expect("put");
    assert_eq!(store.load(&a).expect("load").chunks.len(), 1);
    assert_eq!(store.load(&b).expect("load").chunks[0].1, b"b");
    let mut listed = store.list().expect("list");
    listed.sort();
    let mut expected = vec![a, b];
    expected.sort();
    assert_eq!(listed, expected);
}

fn compaction_replaces_only_what_it_covers<S: DocStore>(store: &S) {
    let doc = DocumentId::random();
    let c1 = store.put_chunk(&doc, b"c1").expect("put");
    let c2 = store.put_chunk(&doc, b"c2").expect("put");
    // c3 arrives after the snapshot was taken: it must survive compaction.
    store.put_chunk(&doc, b"c3").expect("put");
    let snap = store.compact(&doc, &[], b"snapshot", &[c1, c2]).expect("compact");
    let loaded = store.load(&doc).expect("load");
    assert_eq!(loaded.chunks.len(), 2);
    assert_eq!(loaded.chunks[0].0, snap, "snapshots load first");
    assert_eq!(loaded.chunks[0].0.kind, ChunkKind::Snapshot);
    assert_eq!(loaded.chunks[1].1, b"c3");
    // A second compaction replaces the first snapshot.
    let c3 = loaded.chunks[1].0;
    let snap2 = store.compact(&doc, &[automerge::ChangeHash([7; 32])], b"snapshot2", &[snap, c3]).expect("compact");
    let loaded = store.load(&doc).expect("load");
    assert_eq!(loaded.chunks, vec![(snap2, b"snapshot2".to_vec())]);
}

fn delete_removes_everything<S: DocStore>(store: &S) {
    let doc = DocumentId::random();
    let other = DocumentId::random();
    store.put_chunk(&doc, b"x").expect("put");
    store.put_chunk(&other, b"y").expect("put");
    store.delete(&doc).expect("delete");
    assert!(store.load(&doc).expect("load").is_empty());
    assert_eq!(store.load(&other).expect("load").chunks.len(), 1);
}

fn chunks_rebuild_the_document<S: DocStore>(store: &S) {
    let id = DocumentId::random();
    let mut doc = AutoCommit::new();
    doc.put(ROOT, "kind", "task").expect("put");
    store.put_chunk(&id, &doc.save()).expect("put");
    let heads = doc.get_heads();
    doc.put(ROOT, "status", "assigned").expect("put");
    store.put_chunk(&id, &doc.save_after(&heads)).expect("put");

    let loaded = store.load(&id).expect("load");
    let mut rebuilt = automerge::Automerge::new();
    for (_, bytes) in &loaded.chunks {
        rebuilt.load_incremental(bytes).expect("load chunk");
    }
    assert_eq!(rebuilt.get_heads(), doc.get_heads());
    let (status, _) = rebuilt.get(ROOT, "status").expect("get").expect("present");
    assert_eq!(status.as_str(), Some("assigned"));
}
