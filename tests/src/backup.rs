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
