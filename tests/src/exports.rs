//! The CSV exports as a test reads them: `GET /api/export/<name>?purpose=…`, the UTF-8
//! byte order mark, the header block (who, when, why) up to the first blank line, then
//! the table with its Chinese column names.

use crate::api::{self, encode_segment};
use crate::ServerProcess;
use linli_shared::DocumentId;
use std::time::Duration;

/// The purpose the tests give unless they test purposes.
pub const PURPOSE: &str = "核对本周物资发放名单";

/// A small CSV reader (RFC 4180 quoting): rows of fields; a blank line is a row of one
/// empty field.
pub fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let (mut row, mut field, mut quoted, mut chars) = (Vec::new(), String::new(), false, text.chars().peekable());
    while let Some(ch) = chars.next() {
        match (quoted, ch) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, '\r') => {}
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

/// An export: its header block (key, value), its column names and its rows.
#[derive(Debug)]
pub struct Csv {
    pub meta: Vec<(String, String)>,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// The whole file as text (without the byte order mark).
    pub text: String,
}

impl Csv {
    pub fn ids(&self) -> Vec<&str> {
        self.rows.iter().map(|r| r[0].as_str()).collect()
    }

    pub fn has(&self, id: &DocumentId) -> bool {
        self.ids().contains(&id.to_string().as_str())
    }

    pub fn cell(&self, id: &DocumentId, column: &str) -> String {
        let col = self.header.iter().position(|h| h == column).unwrap_or_else(|| panic!("no column {column}"));
        let row = self.rows.iter().find(|r| r[0] == id.to_string()).unwrap_or_else(|| panic!("no row {id}"));
        row[col].clone()
    }

    /// The value of a line of the header block.
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.meta.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Parses a file as the server sends it; fails without the byte order mark, the
    /// header block or the column names.
    pub fn parse(body: &[u8]) -> anyhow::Result<Csv> {
        let text = std::str::from_utf8(body)?;
        let text = text.strip_prefix('\u{feff}').ok_or_else(|| anyhow::anyhow!("no UTF-8 byte order mark"))?;
        let mut rows = parse_csv(text).into_iter();
        let mut meta = Vec::new();
        for row in rows.by_ref() {
            if row == [""] {
                break;
            }
            anyhow::ensure!(row.len() == 2, "a header line is `key,value`: {row:?}");
            meta.push((row[0].clone(), row[1].clone()));
        }
        let header = rows.next().ok_or_else(|| anyhow::anyhow!("no column names"))?;
        Ok(Csv { meta, header, rows: rows.collect(), text: text.to_owned() })
    }
}

/// `GET /api/export/<name>` with `purpose` (none when `None`): the status, and the file
/// when it is 200.
pub async fn export_with(
    server: &ServerProcess,
    token: &str,
    name: &str,
    purpose: Option<&str>,
) -> anyhow::Result<(u16, Option<Csv>)> {
    let path = match purpose {
        Some(p) => format!("/api/export/{name}?purpose={}", encode_segment(p)),
        None => format!("/api/export/{name}"),
    };
    let resp = reqwest::Client::new().get(server.http(&path)).bearer_auth(token).send().await?;
    let status = resp.status().as_u16();
    let body = resp.bytes().await?;
    if status != 200 {
        return Ok((status, None));
    }
    Ok((200, Some(Csv::parse(&body)?)))
}

/// [`export_with`] the tests' [`PURPOSE`].
pub async fn export(server: &ServerProcess, token: &str, name: &str) -> anyhow::Result<(u16, Option<Csv>)> {
    export_with(server, token, name, Some(PURPOSE)).await
}

/// Exports `name` until `ready` holds (the exports read projections the server updates
/// in the background); bounded by `timeout`.
pub async fn export_when(
    server: &ServerProcess,
    token: &str,
    name: &str,
    timeout: Duration,
    ready: impl Fn(&Csv) -> bool,
) -> anyhow::Result<Csv> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let (status, csv) = export(server, token, name).await?;
        anyhow::ensure!(status == 200, "{name}: {status}");
        let csv = csv.expect("200 has a body");
        if ready(&csv) || tokio::time::Instant::now() > deadline {
            return Ok(csv);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The audit entries of `action` (prefix) by `user`.
pub async fn entries_of(
    server: &ServerProcess,
    admin: &str,
    action: &str,
    user: &str,
) -> anyhow::Result<Vec<serde_json::Value>> {
    Ok(api::audit(server, admin, Some(action)).await?.into_iter().filter(|e| e["user"] == user).collect())
}
