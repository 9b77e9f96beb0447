//! The server's JSON API (DESIGN §6) as the tests call it: one request, the status and the
//! body, with the bearer token of the user asking.

use crate::ServerProcess;
use anyhow::Context;
use reqwest::Method;
use serde_json::Value;

/// An HTTP response: status code and body text.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

impl Reply {
    /// The body as JSON (`Value::Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// Sends `method path` to `server` as the holder of `token`, with an optional JSON body.
pub async fn call(
    server: &ServerProcess,
    method: Method,
    token: &str,
    path: &str,
    body: Option<&Value>,
) -> anyhow::Result<Reply> {
    let mut req = reqwest::Client::new().request(method.clone(), server.http(path)).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(b);
    }
    let resp = req.send().await.with_context(|| format!("{method} {path}"))?;
    let status = resp.status().as_u16();
    let body = resp.text().await?;
    Ok(Reply { status, body })
}

/// `GET path`.
pub async fn get(server: &ServerProcess, token: &str, path: &str) -> anyhow::Result<Reply> {
    call(server, Method::GET, token, path, None).await
}

/// `POST path` with a JSON body (`{}` when `None`).
pub async fn post(server: &ServerProcess, token: &str, path: &str, body: Option<&Value>) -> anyhow::Result<Reply> {
    call(server, Method::POST, token, path, Some(body.unwrap_or(&serde_json::json!({})))).await
}

/// `PUT path` with a JSON body.
pub async fn put(server: &ServerProcess, token: &str, path: &str, body: &Value) -> anyhow::Result<Reply> {
    call(server, Method::PUT, token, path, Some(body)).await
}

/// `GET path`, which must answer 200 with JSON.
pub async fn get_ok(server: &ServerProcess, token: &str, path: &str) -> anyhow::Result<Value> {
    let r = get(server, token, path).await?;
    anyhow::ensure!(r.status == 200, "GET {path}: {} {}", r.status, r.body);
    Ok(r.json())
}

/// Percent-encodes one path segment (everything but unreserved characters), e.g. an alert
/// id that holds `/` and `:`.
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The audit log entries (admin token), newest first, optionally filtered by action prefix.
pub async fn audit(server: &ServerProcess, admin_token: &str, action: Option<&str>) -> anyhow::Result<Vec<Value>> {
    let path = match action {
        Some(a) => format!("/api/audit?limit=5000&action={}", encode_segment(a)),
        None => "/api/audit?limit=5000".to_owned(),
    };
    let v = get_ok(server, admin_token, &path).await?;
    Ok(v["entries"].as_array().cloned().unwrap_or_default())
}

/// Every quarantine entry (admin token), newest first, following the pages' cursors.
pub async fn quarantine(server: &ServerProcess, admin_token: &str) -> anyhow::Result<Vec<Value>> {
    let mut all = Vec::new();
    let mut path = "/api/quarantine".to_owned();
    loop {
        let v = get_ok(server, admin_token, &path).await?;
        all.extend(v["entries"].as_array().cloned().unwrap_or_default());
        match v["next"].as_str() {
            Some(next) => path = format!("/api/quarantine?before={}", encode_segment(next)),
            None => return Ok(all),
        }
    }
}

/// `GET /api/me`: the user, their inbox URL and their grids (with index URLs).
pub async fn me(server: &ServerProcess, token: &str) -> anyhow::Result<Value> {
    get_ok(server, token, "/api/me").await
}

/// The DocumentId of an `automerge:<id>` URL in a JSON value.
pub fn doc_id(url: &Value) -> anyhow::Result<linli_shared::DocumentId> {
    let s = url.as_str().with_context(|| format!("not a document URL: {url}"))?;
    linli_shared::DocumentId::from_url(s).map_err(|e| anyhow::anyhow!("{s}: {e}"))
}

/// The user's inbox document (from `GET /api/me`).
pub async fn inbox_of(server: &ServerProcess, token: &str) -> anyhow::Result<linli_shared::DocumentId> {
    doc_id(&me(server, token).await?["inbox"])
}

/// The grid-index document of `grid`, as `GET /api/me` lists it for this user.
pub async fn index_of(server: &ServerProcess, token: &str, grid: &str) -> anyhow::Result<linli_shared::DocumentId> {
    grid_doc(server, token, grid, "index").await
}

/// The medic-index document of `grid` (what its medics open), as `GET /api/me` lists it.
pub async fn medic_index_of(
    server: &ServerProcess,
    token: &str,
    grid: &str,
) -> anyhow::Result<linli_shared::DocumentId> {
    grid_doc(server, token, grid, "medic_index").await
}

async fn grid_doc(
    server: &ServerProcess,
    token: &str,
    grid: &str,
    key: &str,
) -> anyhow::Result<linli_shared::DocumentId> {
    let me = me(server, token).await?;
    let g = me["grids"]
        .as_array()
        .and_then(|gs| gs.iter().find(|g| g["id"] == grid))
        .with_context(|| format!("grid {grid} not in /api/me: {me}"))?;
    doc_id(&g[key])
}
