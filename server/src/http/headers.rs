//! Security headers, on every answer of the server.
//!
//! - Every response: `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`,
//!   `X-Frame-Options: DENY`.
//! - The app's files (`static_files`): the Content-Security-Policy of [`app_csp`], under
//!   which the built PWA runs (its own scripts, Automerge's WASM, its service worker, its
//!   inline `<style>` by hash, the WebSocket to the same host) and nothing else loads.
//! - Everything else (the JSON API, health, metrics, errors): [`NOTHING_CSP`] — such a
//!   response is never a page, so nothing may load from it and nothing may frame it.
//! - A response without its own `Cache-Control` (the API, health, metrics) gets
//!   `no-store`: answers carry personal data and must not stay in a shared or disk cache.
//!   `/api/*` always gets `no-store`, whatever the handler said.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use base64::prelude::{Engine as _, BASE64_STANDARD};
use sha2::{Digest, Sha256};

/// The policy of responses that are not the app: nothing loads, nothing frames them.
pub const NOTHING_CSP: &str = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The middleware (for `App::wrap(from_fn(security_headers))`).
pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let api = req.path() == "/api" || req.path().starts_with("/api/");
    let mut res = next.call(req).await?;
    apply(res.headers_mut(), api);
    Ok(res)
}

fn apply(h: &mut HeaderMap, api: bool) {
    let mut default = |name: HeaderName, value: &'static str| {
        if !h.contains_key(&name) {
            h.insert(name, HeaderValue::from_static(value));
        }
    };
    default(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    default(header::REFERRER_POLICY, "no-referrer");
    default(header::X_FRAME_OPTIONS, "DENY");
    default(header::CONTENT_SECURITY_POLICY, NOTHING_CSP);
    default(header::CACHE_CONTROL, "no-store");
    if api {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

/// The Content-Security-Policy of the app's files.
///
/// `page` is the HTML served, if it is a page: its inline `<style>` and `<script>`
/// elements are allowed by their SHA-256 (CSP hashes), so a rebuilt `index.html` needs no
/// change here and no other inline code runs. `host` is the request's `Host`: besides
/// `'self'`, `connect-src` names `ws://host` and `wss://host`, for browsers that read
/// CSP 2, where `'self'` does not cover the WebSocket (CSP 3 browsers need neither).
/// `'wasm-unsafe-eval'` lets Automerge compile its WASM; it allows no JavaScript eval (the
/// CBOR decoder of automerge-repo probes `Function('')` once, is refused, and decodes
/// without generated code). `'report-sample'` puts the start of refused code in the
/// violation event, so the browser tests can tell that probe from a real use of eval.
pub fn app_csp(page: Option<&[u8]>, host: Option<&str>) -> String {
    let (styles, scripts) = page.map(inline_hashes).unwrap_or_default();
    let sockets = host.filter(|h| is_plain_host(h)).map(|h| format!(" ws://{h} wss://{h}")).unwrap_or_default();
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval' 'report-sample'{scripts}; style-src 'self'{styles}; \
         img-src 'self' data:; font-src 'self'; connect-src 'self'{sockets}; worker-src 'self'; \
         manifest-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// A `Host` value that can go into a policy as it is: a name or address and a port,
/// nothing that could end a source list or start a directive.
fn is_plain_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
}

/// The CSP sources (` 'sha256-…'` each) of the inline `<style>` and `<script>` elements of
/// `page`. A `<script>` with a `src` is not inline and is skipped.
fn inline_hashes(page: &[u8]) -> (String, String) {
    let text = String::from_utf8_lossy(page);
    let source = |body: &str| format!(" 'sha256-{}'", BASE64_STANDARD.encode(Sha256::digest(body.as_bytes())));
    let styles = inline_elements(&text, "style").into_iter().map(|(_, body)| source(body)).collect();
    let scripts = inline_elements(&text, "script")
        .into_iter()
        .filter(|(attrs, _)| !attrs.to_ascii_lowercase().contains("src="))
        .map(|(_, body)| source(body))
        .collect();
    (styles, scripts)
}

/// Every `<tag …>body</tag>` of `html`, as (attributes, body). HTML built by Vite; not a
/// general parser: enough to find the elements a page carries inline.
fn inline_elements<'a>(html: &'a str, tag: &str) -> Vec<(&'a str, &'a str)> {
    let lower = html.to_ascii_lowercase();
    let (open, close) = (format!("<{tag}"), format!("</{tag}"));
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(start) = lower[at..].find(&open).map(|i| at + i) {
        let after_name = start + open.len();
        // `<styles>` or `<scripting>` is another element.
        if !lower[after_name..].starts_with(|c: char| c == '>' || c.is_ascii_whitespace()) {
            at = after_name;
            continue;
        }
        let Some(head_end) = lower[after_name..].find('>').map(|i| after_name + i) else { break };
        let Some(end) = lower[head_end..].find(&close).map(|i| head_end + i) else { break };
        found.push((&html[after_name..head_end], &html[head_end + 1..end]));
        at = end + close.len();
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_styles_and_scripts_are_allowed_by_hash_and_nothing_else() {
        let page = b"<html><head><style>\n  #a { color: red }\n</style>\
            <script type=\"module\" crossorigin src=\"/assets/index-1.js\"></script>\
            <script>console.log(1)</script><styles>x</styles></head></html>";
        let csp = app_csp(Some(page), Some("127.0.0.1:8080"));
        // As `echo -n 'console.log(1)' | openssl dgst -sha256 -binary | base64` gives them.
        let style = format!("'sha256-{}'", BASE64_STANDARD.encode(Sha256::digest(b"\n  #a { color: red }\n")));
        let script = "'sha256-CihokcEcBW4atb/CW/XWsvWwbTjqwQlE9nj9ii5ww5M='";
        assert!(csp.contains(&format!("style-src 'self' {style};")), "{csp}");
        assert!(csp.contains(&format!("script-src 'self' 'wasm-unsafe-eval' 'report-sample' {script};")), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert!(csp.contains("connect-src 'self' ws://127.0.0.1:8080 wss://127.0.0.1:8080;"), "{csp}");
        for directive in ["frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'", "worker-src 'self'"] {
            assert!(csp.contains(directive), "{directive} missing: {csp}");
        }
    }

    #[test]
    fn a_host_header_cannot_inject_directives() {
        for host in ["evil.example; script-src *", "a b", "x'y", ""] {
            let csp = app_csp(None, Some(host));
            assert!(csp.contains("connect-src 'self'; "), "{host:?}: {csp}");
        }
    }

    #[test]
    fn api_answers_are_not_stored_and_handlers_keep_their_own_headers() {
        let mut h = HeaderMap::new();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=60"));
        apply(&mut h, true);
        assert_eq!(h.get(header::CACHE_CONTROL).and_then(|v| v.to_str().ok()), Some("no-store"));
        assert_eq!(h.get(header::CONTENT_SECURITY_POLICY).and_then(|v| v.to_str().ok()), Some(NOTHING_CSP));
        let mut h = HeaderMap::new();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'self'"));
        apply(&mut h, false);
        assert_eq!(h.get(header::CACHE_CONTROL).and_then(|v| v.to_str().ok()), Some("no-cache"));
        assert_eq!(h.get(header::CONTENT_SECURITY_POLICY).and_then(|v| v.to_str().ok()), Some("default-src 'self'"));
        assert_eq!(h.get(header::X_FRAME_OPTIONS).and_then(|v| v.to_str().ok()), Some("DENY"));
    }
}
