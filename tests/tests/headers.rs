//! Security headers and who may read `/metrics` (issue 9 item 11), against the real binary:
//! the app shell under a Content-Security-Policy that allows its own inline style by hash
//! and nothing inline else, no framing, no referrer, no sniffing; API answers never
//! stored; `/metrics` for local callers by default, behind a token or on a listener of
//! its own when the operator says so.

use linli_tests::server::ALICE;
use linli_tests::{Community, ServerProcess};
use reqwest::header::HeaderMap;
use std::path::Path;

/// The inline style of the test app's `index.html`, and its CSP source (as
/// `base64(sha256(STYLE))` gives it, computed outside Linli).
const STYLE: &str = "\n      #splash { color: #9f1c1c }\n    ";
const STYLE_SOURCE: &str = "'sha256-2VpvQRLXFswL2VjBRQyi7/AdGkYM8DtKAXzJdMztYiE='";

/// A small built app, as Vite lays it out: a page with an inline style and a module
/// script, a hashed asset, the service worker.
fn write_app(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir.join("assets"))?;
    std::fs::write(
        dir.join("index.html"),
        format!(
            "<!doctype html>\n<html>\n  <head>\n    <style>{STYLE}</style>\n    \
             <script type=\"module\" crossorigin src=\"/assets/index-1a2b3c.js\"></script>\n  </head>\n  \
             <body><div id=\"app\"></div></body>\n</html>\n"
        ),
    )?;
    std::fs::write(dir.join("assets/index-1a2b3c.js"), "console.log('app')\n")?;
    std::fs::write(dir.join("sw.js"), "self.addEventListener('fetch', () => {})\n")?;
    Ok(())
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// The headers every answer carries, whatever it is.
fn assert_common(h: &HeaderMap, what: &str) {
    assert_eq!(header(h, "x-content-type-options"), "nosniff", "{what}");
    assert_eq!(header(h, "referrer-policy"), "no-referrer", "{what}");
    assert_eq!(header(h, "x-frame-options"), "DENY", "{what}");
    assert!(header(h, "content-security-policy").contains("frame-ancestors 'none'"), "{what}: {h:?}");
}

async fn get(url: &str, token: Option<&str>) -> anyhow::Result<(u16, HeaderMap, String)> {
    let mut req = reqwest::Client::new().get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    Ok((status, headers, resp.text().await?))
}

#[tokio::test]
async fn the_app_the_api_and_health_carry_security_headers() -> anyhow::Result<()> {
    let web = tempfile::tempdir()?;
    write_app(web.path())?;
    let web_dir = web.path().to_string_lossy().into_owned();
    let c = Community::start(&["--web-dir", &web_dir]).await?;
    let s = &c.server;

    // The app shell, at `/` and at a client-side route: the app's policy.
    for path in ["/", "/tasks/42"] {
        let (status, h, body) = get(&s.http(path), None).await?;
        assert_eq!(status, 200, "{path}");
        assert!(body.contains("<div id=\"app\">"), "{path}: {body}");
        assert_common(&h, path);
        let csp = header(&h, "content-security-policy");
        for directive in [
            "default-src 'self'".to_owned(),
            "script-src 'self' 'wasm-unsafe-eval' 'report-sample';".to_owned(),
            format!("style-src 'self' {STYLE_SOURCE};"),
            format!("connect-src 'self' ws://{0} wss://{0};", s.addr),
            "img-src 'self' data:".to_owned(),
            "worker-src 'self'".to_owned(),
            "manifest-src 'self'".to_owned(),
            "object-src 'none'".to_owned(),
            "base-uri 'none'".to_owned(),
            "form-action 'self'".to_owned(),
        ] {
            assert!(csp.contains(&directive), "{path}: `{directive}` not in {csp}");
        }
        assert!(!csp.contains("unsafe-inline") && !csp.contains("'unsafe-eval'"), "{path}: {csp}");
        assert_eq!(header(&h, "cache-control"), "no-cache", "{path}");
    }
    // A hashed asset and the service worker: the same policy (it governs the worker).
    for (path, cache) in [("/assets/index-1a2b3c.js", "immutable"), ("/sw.js", "no-cache")] {
        let (status, h, _) = get(&s.http(path), None).await?;
        assert_eq!(status, 200, "{path}");
        assert_common(&h, path);
        assert!(header(&h, "content-security-policy").contains("worker-src 'self'"), "{path}: {h:?}");
        assert!(header(&h, "cache-control").contains(cache), "{path}: {h:?}");
    }

    // The API, refused and answered: never stored, never a page.
    let (status, h, body) = get(&s.http("/api/me"), None).await?;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("\"error\""), "{body}");
    assert_common(&h, "401 /api/me");
    assert_eq!(header(&h, "cache-control"), "no-store");
    assert_eq!(header(&h, "content-security-policy").split(';').next(), Some("default-src 'none'"));
    let token = c.token(ALICE).await?;
    let (status, h, _) = get(&s.http("/api/me"), Some(&token)).await?;
    assert_eq!(status, 200);
    assert_common(&h, "200 /api/me");
    assert_eq!(header(&h, "cache-control"), "no-store");

    // Health.
    let (status, h, _) = get(&s.http("/healthz"), None).await?;
    assert_eq!(status, 200);
    assert_common(&h, "/healthz");
    assert_eq!(header(&h, "cache-control"), "no-store");
    Ok(())
}

/// `HEAD` is answered as `GET` without a body (link checkers, `curl -I`, load balancers),
/// and the server says which address to open in a browser.
#[tokio::test]
async fn head_is_answered_like_get_and_the_app_s_address_is_printed() -> anyhow::Result<()> {
    let web = tempfile::tempdir()?;
    write_app(web.path())?;
    let web_dir = web.path().to_string_lossy().into_owned();
    let c = Community::start(&["--web-dir", &web_dir]).await?;
    let s = &c.server;
    let client = reqwest::Client::new();
    for path in ["/", "/tasks/42", "/assets/index-1a2b3c.js", "/healthz"] {
        let (status, got, _) = get(&s.http(path), None).await?;
        let head = client.head(s.http(path)).send().await?;
        assert_eq!((head.status().as_u16(), status), (200, 200), "HEAD {path}");
        assert_eq!(header(head.headers(), "content-type"), header(&got, "content-type"), "HEAD {path}");
        assert_common(head.headers(), path);
        assert!(head.bytes().await?.is_empty(), "HEAD {path} has a body");
    }
    // Printed right after the listening line, which the test harness waits for.
    let open = format!("Open http://{}/ in a browser", s.addr);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !s.printed().contains(&open) {
        assert!(tokio::time::Instant::now() < deadline, "no `{open}` in:\n{}", s.printed());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Ok(())
}

/// With neither `metrics_token` nor `metrics_bind`, `/metrics` answers callers on this
/// machine only: a request relayed by a proxy (which would make any remote caller look
/// local) is refused.
#[tokio::test]
async fn metrics_are_for_local_callers_by_default() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let s = ServerProcess::start(&dir.path().join("data"), 0, &[]).await?;
    let (status, h, body) = get(&s.http("/metrics"), None).await?;
    assert_eq!(status, 200);
    assert!(body.contains("linli_connections"), "{body}");
    assert_common(&h, "/metrics");
    for relay in ["x-forwarded-for", "forwarded", "x-real-ip"] {
        let resp = reqwest::Client::new().get(s.http("/metrics")).header(relay, "203.0.113.9").send().await?;
        assert_eq!(resp.status(), 403, "a request relayed with {relay}");
    }
    Ok(())
}

/// `metrics_token`: `/metrics` requires it, from anywhere; `metrics_bind`: `/metrics` is
/// served there and not on the main listener.
#[tokio::test]
async fn metrics_need_the_token_and_move_to_their_own_listener() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let token = "metrics-token-for-the-test-0123456789";
    let config = dir.path().join("linli.toml");
    std::fs::write(&config, format!("metrics_token = \"{token}\"\n"))?;
    let config = config.to_string_lossy().into_owned();

    let s = ServerProcess::start(&dir.path().join("a"), 0, &["--config", &config]).await?;
    assert_eq!(get(&s.http("/metrics"), None).await?.0, 401, "no token");
    assert_eq!(get(&s.http("/metrics"), Some("metrics-token-for-the-test-wrong")).await?.0, 401, "a wrong token");
    let (status, _, body) = get(&s.http("/metrics"), Some(token)).await?;
    assert_eq!(status, 200);
    assert!(body.contains("linli_auth_failures_total{code=\"metrics_token\"} 2"), "refusals are counted: {body}");

    let s =
        ServerProcess::start(&dir.path().join("b"), 0, &["--config", &config, "--metrics-bind", "127.0.0.1:0"]).await?;
    let metrics = s.metrics_addr.ok_or_else(|| anyhow::anyhow!("no metrics listener announced"))?;
    assert_ne!(metrics, s.addr);
    assert_eq!(get(&s.http("/metrics"), Some(token)).await?.0, 404, "the main listener no longer serves /metrics");
    assert_eq!(get(&format!("http://{metrics}/metrics"), None).await?.0, 401, "the token still applies");
    let (status, h, body) = get(&format!("http://{metrics}/metrics"), Some(token)).await?;
    assert_eq!(status, 200);
    assert!(body.contains("linli_connections"), "{body}");
    assert_common(&h, "metrics listener");
    assert_eq!(get(&format!("http://{metrics}/healthz"), None).await?.0, 200);
    assert_eq!(get(&format!("http://{metrics}/api/me"), None).await?.0, 404, "only metrics and health there");
    Ok(())
}
