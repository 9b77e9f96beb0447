//! The PWA's files (`web/dist`), served so that a phone on a slow network downloads as
//! little as possible:
//! - precompressed `.br` / `.gz` siblings are chosen by `Accept-Encoding`;
//! - hashed assets (`/assets/…`) are immutable and cached for a year;
//! - `index.html`, the service worker and the manifest are never cached, so an update
//!   reaches phones on their next visit;
//! - any other path that is not a file gets `index.html` (client-side routes);
//! - every file carries the app's Content-Security-Policy (`headers::app_csp`), which
//!   governs the page and the service worker.

use super::AppState;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use std::path::{Component, Path, PathBuf};

/// Files that must always be revalidated.
const NO_CACHE: [&str; 4] = ["index.html", "sw.js", "registerSW.js", "manifest.webmanifest"];

/// `GET /{path}`
pub async fn serve(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let Some(root) = state.web_dir.as_deref() else { return not_built() };
    let rel = req.match_info().query("path").trim_start_matches('/');
    let rel = if rel.is_empty() { "index.html" } else { rel };
    let Some(safe) = safe_path(rel) else {
        return HttpResponse::BadRequest().finish();
    };
    let mut file = root.join(&safe);
    if !file.is_file() {
        // A client-side route, or a missing asset: assets 404, routes get the app.
        if rel.starts_with("assets/") || rel.contains('.') {
            return HttpResponse::NotFound().finish();
        }
        file = root.join("index.html");
        if !file.is_file() {
            return not_built();
        }
    }
    let accepts = req.headers().get(header::ACCEPT_ENCODING).and_then(|v| v.to_str().ok()).unwrap_or("");
    let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("").to_owned();
    let mime = mime_guess::from_path(&file).first_or_octet_stream();
    let (body_path, encoding) = [("br", ".br"), ("gzip", ".gz")]
        .iter()
        .filter(|(enc, _)| accepts_encoding(accepts, enc))
        .map(|(enc, ext)| (PathBuf::from(format!("{}{ext}", file.display())), Some(*enc)))
        .find(|(p, _)| p.is_file())
        .unwrap_or((file.clone(), None));
    // A page's policy allows its inline styles by hash: they are read from the plain file.
    let page_path = (mime.essence_str() == "text/html").then(|| file.clone());
    let read = move || -> std::io::Result<(Vec<u8>, Option<Vec<u8>>)> {
        let body = std::fs::read(&body_path)?;
        let page = match page_path {
            Some(p) if p == body_path => Some(body.clone()),
            Some(p) => Some(std::fs::read(p)?),
            None => None,
        };
        Ok((body, page))
    };
    let (body, page) = match web::block(read).await {
        Ok(Ok(b)) => b,
        _ => return HttpResponse::NotFound().finish(),
    };
    let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok());
    let csp = super::headers::app_csp(page.as_deref(), host);
    let cache = if NO_CACHE.contains(&name.as_str()) {
        "no-cache"
    } else if safe.starts_with("assets") {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=3600"
    };
    let mut resp = HttpResponse::Ok();
    resp.content_type(
        mime.essence_str().to_owned()
            + if mime.type_() == "text" || mime.subtype() == "javascript" { "; charset=utf-8" } else { "" },
    )
    .insert_header((header::CACHE_CONTROL, cache))
    .insert_header((header::VARY, "Accept-Encoding"))
    .insert_header((header::CONTENT_SECURITY_POLICY, csp));
    if let Some(enc) = encoding {
        resp.insert_header((header::CONTENT_ENCODING, enc));
    }
    resp.body(body)
}

fn accepts_encoding(header: &str, enc: &str) -> bool {
    header.split(',').any(|part| {
        let mut it = part.trim().split(';');
        let name = it.next().unwrap_or("").trim();
        let q_zero = it.any(|p| p.trim().replace(' ', "") == "q=0");
        name.eq_ignore_ascii_case(enc) && !q_zero
    })
}

/// Only plain relative paths: no `..`, no absolute paths, no drive letters.
fn safe_path(rel: &str) -> Option<PathBuf> {
    let p = Path::new(rel);
    if p.components().all(|c| matches!(c, Component::Normal(_))) {
        Some(p.to_path_buf())
    } else {
        None
    }
}

fn not_built() -> HttpResponse {
    HttpResponse::NotFound()
        .content_type("text/plain; charset=utf-8")
        .body("The Linli web app is not built here: run `make web-build` (or set web_dir).\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_cannot_escape_the_web_root() {
        assert!(safe_path("assets/app-1234.js").is_some());
        assert!(safe_path("../secret").is_none());
        assert!(safe_path("assets/../../x").is_none());
        assert!(safe_path("/etc/passwd").is_none());
    }

    #[test]
    fn encodings_are_negotiated() {
        assert!(accepts_encoding("gzip, deflate, br", "br"));
        assert!(accepts_encoding("gzip;q=1.0, br;q=0.5", "br"));
        assert!(!accepts_encoding("gzip, br;q=0", "br"));
        assert!(!accepts_encoding("gzip", "br"));
    }
}
