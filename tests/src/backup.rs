//! `linli backup` files (format 2) as records, to read and to write back (damaged or
//! extended on purpose): `LINLI-BACKUP 2\n`, records `<tag u8> <len u32 LE> <payload>`,
//! then `Z` and the SHA-256 of every byte before it.

use std::io::Write;
use std::process::Stdio;

/// A backup's records: (tag, payload).
pub type Records = Vec<(u8, Vec<u8>)>;

pub const MAGIC: &[u8] = b"LINLI-BACKUP 2\n";

pub fn parse_backup(bytes: &[u8]) -> Records {
    assert!(bytes.starts_with(MAGIC), "a format-2 backup");
    let body = &bytes[MAGIC.len()..bytes.len() - 33];
    let mut at = 0;
    let mut records = Vec::new();
    while at < body.len() {
        let tag = body[at];
        let len = u32::from_le_bytes(body[at + 1..at + 5].try_into().expect("4 bytes")) as usize;
        records.push((tag, body[at + 5..at + 5 + len].to_vec()));
        at += 5 + len;
    }
    records
}

/// SHA-256 by coreutils' `sha256sum` (the tests need no hashing crate of their own).
pub fn sha256(bytes: &[u8]) -> Vec<u8> {
    let mut child = std::process::Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sha256sum (coreutils)");
    child.stdin.take().expect("stdin").write_all(bytes).expect("write");
    let out = child.wait_with_output().expect("sha256sum");
    let hex = String::from_utf8_lossy(&out.stdout);
    (0..32).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex")).collect()
}

pub fn write_backup(records: &Records) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    for (tag, payload) in records {
        out.push(*tag);
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(payload);
    }
    let digest = sha256(&out);
    out.push(b'Z');
    out.extend_from_slice(&digest);
    out
}

/// One entry of a backup: (tree, key, value).
pub type Entry = (String, Vec<u8>, Vec<u8>);

/// The entries of a `linli backup` file (format 2, see server/src/store/export.rs): a
/// chunk record as ("docs", key, bytes), any other record as (its tag, "", payload).
pub fn backup_entries(bytes: &[u8]) -> anyhow::Result<Vec<Entry>> {
    const MAGIC: &[u8] = b"LINLI-BACKUP 2\n";
    anyhow::ensure!(bytes.starts_with(MAGIC) && bytes.len() >= MAGIC.len() + 33, "not a linli backup");
    let body = &bytes[MAGIC.len()..bytes.len() - 33];
    let field = |buf: &[u8], pos: &mut usize| -> anyhow::Result<Vec<u8>> {
        let len = u32::from_le_bytes(buf.get(*pos..*pos + 4).ok_or_else(|| anyhow::anyhow!("truncated"))?.try_into()?);
        *pos += 4;
        let v = buf.get(*pos..*pos + len as usize).ok_or_else(|| anyhow::anyhow!("truncated"))?.to_vec();
        *pos += len as usize;
        Ok(v)
    };
    let (mut pos, mut out) = (0usize, Vec::new());
    while pos < body.len() {
        let tag = body[pos];
        pos += 1;
        let payload = field(body, &mut pos)?;
        if tag == b'C' {
            let mut at = 0;
            let key = field(&payload, &mut at)?;
            let value = field(&payload, &mut at)?;
            out.push(("docs".to_owned(), key, value));
        } else {
            out.push(((tag as char).to_string(), Vec::new(), payload));
        }
    }
    Ok(out)
}

/// Everything readable in a store, as text to search: every key and value as stored, and
/// for every value that is Automerge data (change chunks, snapshots, quarantined changes),
/// every string ever written in its whole history, change by change — Automerge may
/// compress columns, so the raw bytes alone could hide a value.
pub fn readable_text(entries: &[Entry]) -> String {
    let mut text = String::new();
    let automerge_values = |bytes: &[u8], text: &mut String| {
        let Ok(doc) = automerge::Automerge::load(bytes) else { return };
        for change in doc.get_changes(&[]) {
            for op in change.decode().operations {
                if let automerge::legacy::OpType::Put(automerge::ScalarValue::Str(s)) = &op.action {
                    text.push_str(s);
                }
            }
            text.push('\n');
        }
    };
    for (tree, k, v) in entries {
        text.push_str(tree);
        text.push('\n');
        text.push_str(&String::from_utf8_lossy(k));
        text.push('\n');
        text.push_str(&String::from_utf8_lossy(v));
        text.push('\n');
        automerge_values(v, &mut text);
        // Quarantined changes are kept hex-encoded inside JSON.
        if let Ok(q) = serde_json::from_slice::<serde_json::Value>(v) {
            for raw in q["changes"].as_array().into_iter().flatten().filter_map(serde_json::Value::as_str) {
                if let Ok(bytes) = hex_decode(raw) {
                    text.push_str(&String::from_utf8_lossy(&bytes));
                    automerge_values(&bytes, &mut text);
                }
            }
        }
    }
    text
}

fn hex_decode(s: &str) -> anyhow::Result<Vec<u8>> {
    anyhow::ensure!(s.len().is_multiple_of(2), "odd hex");
    (0..s.len()).step_by(2).map(|i| Ok(u8::from_str_radix(&s[i..i + 2], 16)?)).collect()
}

/// Which of `gone` are found as raw bytes in the files under `dir` (`value in path`);
/// fails if `kept`, a value that was not erased, is not found: the search would prove
/// nothing.
pub fn raw_finds(dir: &std::path::Path, kept: &str, gone: &[&str]) -> anyhow::Result<Vec<String>> {
    let mut found = Vec::new();
    let mut control = false;
    for path in files_under(dir)? {
        let bytes = std::fs::read(&path)?;
        let has = |m: &str| bytes.windows(m.len()).any(|w| w == m.as_bytes());
        control |= has(kept);
        for value in gone {
            if has(value) {
                found.push(format!("{value} in {}", path.display()));
            }
        }
    }
    anyhow::ensure!(
        control,
        "{kept} (not erased) is not found as raw bytes in {}: the search proves nothing",
        dir.display()
    );
    Ok(found)
}

fn files_under(dir: &std::path::Path) -> anyhow::Result<Vec<std::path::PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            out.extend(files_under(&path)?);
        } else {
            out.push(path);
        }
    }
    Ok(out)
}
