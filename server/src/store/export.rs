//! Moving a whole store: `linli backup FILE`, `linli restore FILE`, `linli copy --from
//! DIR --to URL`, and `linli check`. All of them work through the store traits, so they
//! work on every engine and between engines.
//!
//! # Backup format 2
//! `LINLI-BACKUP 2\n`, then records `<tag u8> <len u32 LE> <payload>`, then `Z` and the
//! SHA-256 of every byte before it, so a truncated or damaged backup is refused. Payloads
//! are JSON records or length-prefixed byte fields (see [`Record`]). Format 1 (sled trees
//! dumped as they were) is still restored.

use super::kv::layout::{grant_key, parse_grant};
use super::{
    AccessGrant, Alert, AuditEntry, AuditRecord, BulkImport, ChunkKey, Engine, Grid, ProjRow, QuarantineEntry,
    StoreError, User, Write,
};
use anyhow::{bail, Context};
use linli_shared::DocumentId;
use sha2::{Digest, Sha256};
use std::io::{BufWriter, Read, Write as _};
use std::path::Path;

const MAGIC_V1: &[u8] = b"LINLI-BACKUP 1\n";
const MAGIC_V2: &[u8] = b"LINLI-BACKUP 2\n";

/// Everything a store holds, one record at a time.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Chunk(ChunkKey, Vec<u8>),
    Meta(String, Vec<u8>),
    User(User),
    Grid(Grid),
    Revoked(String, u64),
    NotBefore(String, u64),
    Actor(Vec<u8>, String),
    Audit(AuditRecord),
    Quarantine(QuarantineEntry),
    Row(ProjRow),
    Grant(AccessGrant),
    Alert(Alert),
    Dirty(DocumentId),
}

impl Record {
    fn into_write(self) -> Write {
        match self {
            Record::Chunk(key, bytes) => Write::ImportChunk { key, bytes },
            Record::Meta(key, value) => Write::Meta { key, value },
            Record::User(u) => Write::InsertUser(u),
            Record::Grid(g) => Write::InsertGrid(g),
            Record::Revoked(id, until) => Write::Revoke { id, until },
            Record::NotBefore(user, secs) => Write::SessionsNotBefore { user, secs },
            Record::Actor(actor, user) => Write::ImportActor { actor, user },
            Record::Audit(r) => Write::ImportAudit(r),
            Record::Quarantine(q) => Write::Quarantine(q),
            Record::Row(r) => Write::Row(r),
            Record::Grant(g) => Write::Grant(g),
            Record::Alert(a) => Write::Alert(a),
            Record::Dirty(doc) => Write::Dirty { doc, dirty: true },
        }
    }
}

/// How many records of each kind a backup, restore or copy moved.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts {
    pub documents: usize,
    pub chunks: usize,
    pub users: usize,
    pub grids: usize,
    pub audit: usize,
    pub other: usize,
}

impl Counts {
    fn count(&mut self, r: &Record) {
        match r {
            Record::Chunk(..) => self.chunks += 1,
            Record::User(_) => self.users += 1,
            Record::Grid(_) => self.grids += 1,
            Record::Audit(_) => self.audit += 1,
            _ => self.other += 1,
        }
    }

    pub fn total(&self) -> usize {
        self.chunks + self.users + self.grids + self.audit + self.other
    }
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} documents ({} chunks), {} users, {} grids, {} audit entries, {} other records",
            self.documents, self.chunks, self.users, self.grids, self.audit, self.other
        )
    }
}

/// Where exported records go: a backup file, or another engine.
#[async_trait::async_trait]
pub trait Sink: Send {
    async fn put(&mut self, record: Record) -> anyhow::Result<()>;
}

/// Sends every record of `engine` to `sink`: documents first (one at a time, so memory
/// stays bounded by the largest document), then the rest.
pub async fn export(engine: &dyn Engine, sink: &mut dyn Sink) -> anyhow::Result<Counts> {
    let mut counts = Counts::default();
    macro_rules! emit {
        ($r:expr) => {{
            let r = $r;
            counts.count(&r);
            sink.put(r).await?;
        }};
    }
    for doc in engine.list_docs().await? {
        counts.documents += 1;
        for (key, bytes) in engine.load(&doc).await?.chunks {
            emit!(Record::Chunk(key, bytes));
        }
    }
    for (k, v) in engine.meta_all().await? {
        emit!(Record::Meta(k, v));
    }
    for u in engine.users().await? {
        emit!(Record::User(u));
    }
    for g in engine.grids().await? {
        emit!(Record::Grid(g));
    }
    for (id, until) in engine.revocations().await? {
        emit!(Record::Revoked(id, until));
    }
    for (user, secs) in engine.not_before_marks().await? {
        emit!(Record::NotBefore(user, secs));
    }
    for (actor, user) in engine.actors().await? {
        emit!(Record::Actor(actor, user));
    }
    for r in engine.audit_all().await? {
        emit!(Record::Audit(r));
    }
    let mut before = None;
    loop {
        let page = engine.quarantined(before.clone(), 500).await?;
        let Some(last) = page.last() else { break };
        before = Some((last.at, last.id.clone()));
        for q in page {
            emit!(Record::Quarantine(q));
        }
    }
    for r in engine.rows(None).await? {
        emit!(Record::Row(r));
    }
    for g in engine.grants().await? {
        emit!(Record::Grant(g));
    }
    for a in engine.alerts(None).await? {
        emit!(Record::Alert(a));
    }
    for d in engine.dirty_docs().await? {
        emit!(Record::Dirty(d));
    }
    Ok(counts)
}

/// Writes records into `engine` in batches of about `BATCH` writes: through the engine's
/// bulk import if it has one (then nothing is visible until the whole import is
/// finished, and a failed import leaves nothing behind), else commit by commit.
struct Importer<'a> {
    engine: &'a dyn Engine,
    bulk: Option<Box<dyn BulkImport>>,
    pending: Vec<Write>,
    counts: Counts,
    last_doc: Option<DocumentId>,
}

const BATCH: usize = 512;

impl<'a> Importer<'a> {
    async fn new(engine: &'a dyn Engine) -> anyhow::Result<Self> {
        let bulk = engine.bulk_import().await.context("starting the import")?;
        Ok(Importer { engine, bulk, pending: Vec::new(), counts: Counts::default(), last_doc: None })
    }

    async fn add(&mut self, r: Record) -> anyhow::Result<()> {
        if let Record::Audit(a) = &r {
            if a.seq == 0 {
                // A format-1 audit entry: appended, so the store chains it.
                self.counts.audit += 1;
                self.pending.push(Write::Audit(a.entry.clone()));
                return Ok(());
            }
        }
        if let Record::Chunk(key, _) = &r {
            if self.last_doc != Some(key.doc) {
                self.counts.documents += 1;
                self.last_doc = Some(key.doc);
            }
        }
        self.counts.count(&r);
        self.pending.push(r.into_write());
        if self.pending.len() >= BATCH {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> anyhow::Result<()> {
        let batch = std::mem::take(&mut self.pending);
        match self.bulk.as_mut() {
            Some(bulk) => bulk.write(batch).await,
            None => self.engine.commit(batch).await,
        }
        .context("writing into the target store")?;
        Ok(())
    }

    async fn finish(mut self) -> anyhow::Result<Counts> {
        self.flush().await?;
        if let Some(bulk) = self.bulk.take() {
            bulk.finish().await.context("committing the import")?;
        }
        Ok(self.counts)
    }
}

#[async_trait::async_trait]
impl Sink for Importer<'_> {
    async fn put(&mut self, record: Record) -> anyhow::Result<()> {
        self.add(record).await
    }
}

/// Whether `engine` holds anything at all (a restore or copy goes only into an empty one).
pub async fn is_empty(engine: &dyn Engine) -> Result<bool, StoreError> {
    Ok(engine.list_docs().await?.is_empty() && engine.users().await?.is_empty() && engine.grids().await?.is_empty())
}

/// Copies every record of `from` into `to`, which must be empty.
pub async fn copy(from: &dyn Engine, to: &dyn Engine) -> anyhow::Result<Counts> {
    if !is_empty(to).await? {
        bail!("the target store is not empty; copy only into an empty one");
    }
    let mut importer = Importer::new(to).await?;
    let exported = export(from, &mut importer).await?;
    let imported = importer.finish().await?;
    if imported.total() != exported.total() {
        bail!("copied {} of {} records", imported.total(), exported.total());
    }
    Ok(imported)
}

/// Hashes everything written through it.
struct Hashing<W: std::io::Write> {
    inner: W,
    hash: Sha256,
}

impl<W: std::io::Write> std::io::Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn field(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

fn encode(r: &Record) -> (u8, Vec<u8>) {
    let mut p = Vec::new();
    let json = |v: &dyn erased::Json| v.to_json();
    let tag = match r {
        Record::Chunk(key, bytes) => {
            field(&mut p, &key.encode());
            field(&mut p, bytes);
            b'C'
        }
        Record::Meta(k, v) => {
            field(&mut p, k.as_bytes());
            field(&mut p, v);
            b'M'
        }
        Record::User(u) => {
            p = json(u);
            b'U'
        }
        Record::Grid(g) => {
            p = json(g);
            b'G'
        }
        Record::Revoked(id, until) => {
            field(&mut p, id.as_bytes());
            field(&mut p, &until.to_be_bytes());
            b'R'
        }
        Record::NotBefore(user, secs) => {
            field(&mut p, user.as_bytes());
            field(&mut p, &secs.to_be_bytes());
            b'N'
        }
        Record::Actor(actor, user) => {
            field(&mut p, actor);
            field(&mut p, user.as_bytes());
            b'A'
        }
        Record::Audit(a) => {
            p = json(a);
            b'L'
        }
        Record::Quarantine(q) => {
            p = json(q);
            b'Q'
        }
        Record::Row(row) => {
            p = json(row);
            b'P'
        }
        Record::Grant(g) => {
            p = grant_key(g);
            b'X'
        }
        Record::Alert(a) => {
            p = json(a);
            b'E'
        }
        Record::Dirty(d) => {
            p = d.to_string().into_bytes();
            b'Y'
        }
    };
    (tag, p)
}

mod erased {
    pub trait Json {
        fn to_json(&self) -> Vec<u8>;
    }
    impl<T: serde::Serialize> Json for T {
        fn to_json(&self) -> Vec<u8> {
            serde_json::to_vec(self).unwrap_or_default()
        }
    }
}

/// A backup file being written.
struct BackupFile {
    out: Hashing<BufWriter<std::fs::File>>,
}

#[async_trait::async_trait]
impl Sink for BackupFile {
    async fn put(&mut self, r: Record) -> anyhow::Result<()> {
        let (tag, payload) = encode(&r);
        self.out.write_all(&[tag])?;
        self.out.write_all(&(payload.len() as u32).to_le_bytes())?;
        self.out.write_all(&payload)?;
        Ok(())
    }
}

/// Writes a consistent copy of `engine` to `file` (fsynced, then moved into place).
pub async fn backup(engine: &dyn Engine, file: &Path) -> anyhow::Result<Counts> {
    let tmp = file.with_extension("partial");
    let created = std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let mut sink = BackupFile { out: Hashing { inner: BufWriter::new(created), hash: Sha256::new() } };
    sink.out.write_all(MAGIC_V2)?;
    let counts = match export(engine, &mut sink).await {
        Ok(c) => c,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    let written = (|| -> anyhow::Result<()> {
        let digest = sink.out.hash.clone().finalize();
        let mut inner = sink.out.inner;
        inner.write_all(b"Z")?;
        inner.write_all(&digest)?;
        let f = inner.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        Ok(())
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e.context(format!("writing {}", tmp.display())));
    }
    std::fs::rename(&tmp, file).with_context(|| format!("writing {}", file.display()))?;
    if let Some(dir) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(counts)
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

    fn u64(&mut self) -> anyhow::Result<u64> {
        Ok(u64::from_be_bytes(self.field()?.try_into().context("a number field")?))
    }

    fn string(&mut self) -> anyhow::Result<String> {
        Ok(String::from_utf8(self.field()?.to_vec())?)
    }
}

fn decode_v2(tag: u8, payload: &[u8]) -> anyhow::Result<Record> {
    let mut r = Reader { buf: payload };
    let json = |what: &str| -> anyhow::Result<serde_json::Value> {
        serde_json::from_slice(payload).with_context(|| format!("a {what} record"))
    };
    Ok(match tag {
        b'C' => {
            let key = ChunkKey::decode(r.field()?).context("a chunk key")?;
            Record::Chunk(key, r.field()?.to_vec())
        }
        b'M' => Record::Meta(r.string()?, r.field()?.to_vec()),
        b'U' => Record::User(serde_json::from_value(json("user")?)?),
        b'G' => Record::Grid(serde_json::from_value(json("grid")?)?),
        b'R' => Record::Revoked(r.string()?, r.u64()?),
        b'N' => Record::NotBefore(r.string()?, r.u64()?),
        b'A' => Record::Actor(r.field()?.to_vec(), r.string()?),
        b'L' => Record::Audit(serde_json::from_value(json("audit")?)?),
        b'Q' => Record::Quarantine(serde_json::from_value(json("quarantine")?)?),
        b'P' => Record::Row(serde_json::from_value(json("projection")?)?),
        b'X' => Record::Grant(parse_grant(payload).context("an access grant")?),
        b'E' => Record::Alert(serde_json::from_value(json("alert")?)?),
        b'Y' => Record::Dirty(std::str::from_utf8(payload)?.parse().context("a document id")?),
        other => bail!("unknown record {other:#x} in backup"),
    })
}

/// A format-1 backup's tree entry, as a record (`None` for what is derived, e.g. usernames).
fn decode_v1(tree: &str, k: &[u8], v: &[u8]) -> anyhow::Result<Option<Record>> {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    Ok(Some(match tree {
        "docs" => Record::Chunk(ChunkKey::decode(k).context("a chunk key")?, v.to_vec()),
        "meta" => Record::Meta(text(k), v.to_vec()),
        "users" => Record::User(serde_json::from_slice(v)?),
        "grids" => Record::Grid(serde_json::from_slice(v)?),
        "sessions" => match text(k).strip_prefix("revoked/") {
            Some(id) => Record::Revoked(id.to_owned(), u64::from_be_bytes(v.try_into().unwrap_or([0; 8]))),
            None => return Ok(None),
        },
        "actors" => Record::Actor(k.to_vec(), text(v)),
        // Legacy audit entries are chained again, in their order, by the importer.
        "audit" => return Ok(Some(Record::Audit(legacy_audit(serde_json::from_slice(v)?)))),
        "quarantine" => Record::Quarantine(serde_json::from_slice(v)?),
        "proj" => Record::Row(serde_json::from_slice(v)?),
        "access" => Record::Grant(parse_grant(k).context("an access grant")?),
        "alerts" => Record::Alert(serde_json::from_slice(v)?),
        // Derived from users, or sled's own.
        "usernames" | "__sled__default" => return Ok(None),
        other => bail!("unknown tree `{other}` in a format-1 backup"),
    }))
}

/// A legacy audit entry, to be chained when imported (seq 0 marks it).
fn legacy_audit(entry: AuditEntry) -> AuditRecord {
    AuditRecord { seq: 0, entry, detail_hash: String::new(), prev: String::new(), hash: String::new() }
}

/// Reads a backup file and checks its checksum; every record, in order.
pub fn read_backup(file: &Path) -> anyhow::Result<Vec<Record>> {
    let mut bytes = Vec::new();
    std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?.read_to_end(&mut bytes)?;
    let magic = if bytes.starts_with(MAGIC_V2) {
        MAGIC_V2
    } else if bytes.starts_with(MAGIC_V1) {
        MAGIC_V1
    } else {
        bail!("{} is not a linli backup", file.display());
    };
    if bytes.len() < magic.len() + 33 {
        bail!("{} is not a linli backup", file.display());
    }
    let (body, trailer) = bytes.split_at(bytes.len() - 33);
    if trailer[0] != b'Z' || Sha256::digest(body)[..] != trailer[1..] {
        bail!("{} is damaged: its checksum does not match", file.display());
    }
    let mut r = Reader { buf: &body[magic.len()..] };
    let mut records = Vec::new();
    if magic == MAGIC_V2 {
        while !r.buf.is_empty() {
            let tag = r.take(1)?[0];
            records.push(decode_v2(tag, r.field()?)?);
        }
    } else {
        let mut tree: Option<String> = None;
        while !r.buf.is_empty() {
            match r.take(1)?[0] {
                b'T' => tree = Some(String::from_utf8_lossy(r.field()?).into_owned()),
                b'E' => {
                    let (k, v) = (r.field()?, r.field()?);
                    let t = tree.as_deref().context("entry before any tree")?;
                    records.extend(decode_v1(t, k, v)?);
                }
                other => bail!("unknown record {other:#x} in backup"),
            }
        }
    }
    Ok(records)
}

/// Imports a backup's records into an empty `engine`.
pub async fn import(engine: &dyn Engine, records: Vec<Record>) -> anyhow::Result<Counts> {
    if !is_empty(engine).await? {
        bail!("the target already holds a store; restore only into an empty one");
    }
    let mut importer = Importer::new(engine).await?;
    for r in records {
        importer.add(r).await?;
    }
    importer.finish().await
}

/// What `linli check` found.
#[derive(Debug, Default)]
pub struct CheckReport {
    pub documents: usize,
    pub chunks: usize,
    pub bytes: usize,
    pub users: usize,
    pub grids: usize,
    pub audit_entries: u64,
    /// Every damaged document or record, with why.
    pub problems: Vec<String>,
}

/// Loads every stored document and every record; lists everything that cannot be read
/// (it does not stop at the first) and verifies the audit chain.
pub async fn check(engine: &dyn Engine) -> anyhow::Result<CheckReport> {
    use automerge::ReadDoc;
    let mut report = CheckReport::default();
    for id in engine.list_docs().await? {
        report.documents += 1;
        let stored = match engine.load(&id).await {
            Ok(s) => s,
            Err(e) => {
                report.problems.push(format!("document {id}: {e}"));
                continue;
            }
        };
        report.chunks += stored.chunks.len();
        report.bytes += stored.total_bytes();
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| stored.to_automerge())) {
            Ok(Ok(doc)) if !doc.get_missing_deps(&[]).is_empty() => {
                report.problems.push(format!("document {id}: missing changes"));
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => report.problems.push(format!("document {id}: {e}")),
            Err(_) => report.problems.push(format!("document {id}: automerge panicked")),
        }
    }
    match engine.users().await {
        Ok(users) => report.users = users.len(),
        Err(e) => report.problems.push(format!("users: {e}")),
    }
    match engine.grids().await {
        Ok(grids) => report.grids = grids.len(),
        Err(e) => report.problems.push(format!("grids: {e}")),
    }
    match engine.verify_audit().await {
        Ok(audit) => {
            report.audit_entries = audit.entries;
            if let Some((seq, why)) = audit.first_broken {
                report.problems.push(format!("audit log: entry {seq} is not what was written: {why}"));
            }
        }
        Err(e) => report.problems.push(format!("audit log: {e}")),
    }
    Ok(report)
}
