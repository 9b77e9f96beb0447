//! `linli backup FILE` / `linli restore FILE` / `linli check`.
//!
//! A backup is one file: a header, every sled tree with all its entries, and a SHA-256 of
//! everything before it, so a truncated or damaged backup is refused instead of restored.
//! `restore` only writes into an empty data directory. Both need the server stopped (the
//! store is locked while it runs); the file is fsynced before `backup` reports success.
//!
//! Format (all integers little-endian u32):
//! `LINLI-BACKUP 1\n`, then records `T <name len> <name>` (a tree) and
//! `E <key len> <key> <value len> <value>` (an entry of the last tree), then
//! `Z <32-byte sha256 of all previous bytes>`.

use crate::db::Db;
use crate::metrics::Metrics;
use anyhow::{bail, Context};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;

const MAGIC: &[u8] = b"LINLI-BACKUP 1\n";

/// Summary of a backup or restore.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub trees: usize,
    pub entries: usize,
}

pub fn backup(data: &Path, file: &Path) -> anyhow::Result<Counts> {
    if !data.join("store").exists() {
        bail!("no store in {} to back up", data.display());
    }
    let db = Db::open(data, Arc::new(Metrics::new()))?;
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    let mut counts = Counts::default();
    for name in db.sled.tree_names() {
        let tree = db.sled.open_tree(&name)?;
        put_record(&mut out, b'T', &[&name]);
        counts.trees += 1;
        for item in tree.iter() {
            let (k, v) = item.context("reading the store")?;
            put_record(&mut out, b'E', &[&k, &v]);
            counts.entries += 1;
        }
    }
    let digest = Sha256::digest(&out);
    out.push(b'Z');
    out.extend_from_slice(&digest);
    let tmp = file.with_extension("partial");
    let mut f = std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(&out)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, file).with_context(|| format!("writing {}", file.display()))?;
    if let Some(dir) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(counts)
}

fn put_record(out: &mut Vec<u8>, tag: u8, fields: &[&[u8]]) {
    out.push(tag);
    for f in fields {
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(f);
    }
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> anyhow::Result<&'a [u8]> {
        if self.buf.len() < n {
            bail!("backup is truncated");
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn field(&mut self) -> anyhow::Result<&'a [u8]> {
        let len = u32::from_le_bytes(self.take(4)?.try_into()?) as usize;
        self.take(len)
    }
}

pub fn restore(data: &Path, file: &Path) -> anyhow::Result<Counts> {
    let store = data.join("store");
    if store.exists() && std::fs::read_dir(&store)?.next().is_some() {
        bail!("{} already holds a store; restore only into an empty data directory", data.display());
    }
    let mut bytes = Vec::new();
    std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?.read_to_end(&mut bytes)?;
    if bytes.len() < MAGIC.len() + 33 || !bytes.starts_with(MAGIC) {
        bail!("{} is not a linli backup", file.display());
    }
    let (body, trailer) = bytes.split_at(bytes.len() - 33);
    if trailer[0] != b'Z' || Sha256::digest(body)[..] != trailer[1..] {
        bail!("{} is damaged: its checksum does not match", file.display());
    }
    let db = Db::open(data, Arc::new(Metrics::new()))?;
    let mut r = Reader { buf: &body[MAGIC.len()..] };
    let mut counts = Counts::default();
    let mut tree: Option<sled::Tree> = None;
    while !r.buf.is_empty() {
        match r.take(1)?[0] {
            b'T' => {
                tree = Some(db.sled.open_tree(r.field()?)?);
                counts.trees += 1;
            }
            b'E' => {
                let (k, v) = (r.field()?, r.field()?);
                tree.as_ref().context("entry before any tree")?.insert(k, v)?;
                counts.entries += 1;
            }
            other => bail!("unknown record {other:#x} in backup"),
        }
    }
    db.durable()?;
    Ok(counts)
}

/// What `linli check` found.
#[derive(Debug, Default)]
pub struct CheckReport {
    pub documents: usize,
    pub chunks: usize,
    pub bytes: usize,
    pub unreadable: Vec<String>,
    pub users: usize,
    pub grids: usize,
}

/// Loads every stored document and every record, and reports what cannot be read.
pub fn check(data: &Path) -> anyhow::Result<CheckReport> {
    use crate::store::DocStore;
    use automerge::ReadDoc;
    if !data.join("store").exists() {
        bail!("no store in {}", data.display());
    }
    let db = Db::open(data, Arc::new(Metrics::new()))?;
    let mut report = CheckReport::default();
    for id in db.docs.list()? {
        report.documents += 1;
        let stored = db.docs.load(&id)?;
        report.chunks += stored.chunks.len();
        report.bytes += stored.total_bytes();
        let loaded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| stored.to_automerge()));
        match loaded {
            Ok(Ok(doc)) if !doc.get_missing_deps(&[]).is_empty() => {
                report.unreadable.push(format!("{id}: missing changes"));
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => report.unreadable.push(format!("{id}: {e}")),
            Err(_) => report.unreadable.push(format!("{id}: automerge panicked")),
        }
    }
    let users = crate::auth::Users::new(db.clone());
    for item in db.users.iter().keys() {
        let id = item?;
        if users.get(&String::from_utf8_lossy(&id)).is_err() {
            report.unreadable.push(format!("user record {}", String::from_utf8_lossy(&id)));
        }
        report.users += 1;
    }
    report.grids = crate::grids::list(&db)?.len();
    Ok(report)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::store::DocStore;
    use linli_shared::DocumentId;

    #[test]
    fn backup_restores_everything_and_refuses_damage() {
        let dir = tempfile::tempdir().unwrap();
        let (src, dst, file) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("x.backup"));
        let doc = DocumentId::random();
        {
            let db = Db::open(&src, Arc::new(Metrics::new())).unwrap();
            let mut am = automerge::AutoCommit::new();
            automerge::transaction::Transactable::put(&mut am, automerge::ROOT, "kind", "task").unwrap();
            db.docs.put_chunk(&doc, &am.save()).unwrap();
            crate::grids::add(&db, "g1", "一网格").unwrap();
        }
        let made = backup(&src, &file).unwrap();
        assert!(made.entries >= 2);
        let restored = restore(&dst, &file).unwrap();
        assert_eq!(made, restored);
        let report = check(&dst).unwrap();
        assert_eq!(report.documents, 1);
        assert_eq!(report.grids, 1);
        assert!(report.unreadable.is_empty());
        // Restoring over a store is refused; so is a damaged file.
        assert!(restore(&dst, &file).is_err());
        let mut bytes = std::fs::read(&file).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xff;
        std::fs::write(&file, &bytes).unwrap();
        let err = restore(&dir.path().join("c"), &file).unwrap_err();
        assert!(err.to_string().contains("damaged"), "{err}");
    }
}
