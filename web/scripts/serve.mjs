// A tiny static server for dist/, with exactly the behaviour the Linli server must have
// when it serves the PWA (it is the reference for that, and what the end-to-end test and
// the budget script use):
//   - `/assets/*` (content-hashed names): `Cache-Control: public, max-age=31536000, immutable`
//   - `/`, `/index.html`, `/sw.js`, `/manifest.webmanifest`: `Cache-Control: no-cache`
//   - other files (icons, favicon): `Cache-Control: public, max-age=86400`
//   - a precompressed `x.br` / `x.gz` beside `x` is sent when Accept-Encoding allows
//     (`Content-Encoding`, `Vary: Accept-Encoding`); brotli preferred
//   - any other GET that is not an API path gets index.html (client-side routes)
//   - `/api/*`, `/sync` (WebSocket), `/healthz`, `/metrics` are proxied to the Linli server
//
// Usage: node scripts/serve.mjs [--port 5173] [--upstream http://127.0.0.1:8080] [--dir dist]
import http from "node:http"
import net from "node:net"
import { createReadStream, existsSync, statSync } from "node:fs"
import { extname, join, normalize, resolve } from "node:path"
import { fileURLToPath } from "node:url"

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".wasm": "application/wasm",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json",
  ".webmanifest": "application/manifest+json",
  ".txt": "text/plain; charset=utf-8",
}
const NO_CACHE = new Set(["/", "/index.html", "/sw.js", "/manifest.webmanifest"])
const PROXIED = /^\/(api\/|sync(\?|$)|healthz$|metrics$)/

export function cacheControl(path) {
  if (NO_CACHE.has(path)) return "no-cache"
  if (path.startsWith("/assets/")) return "public, max-age=31536000, immutable"
  return "public, max-age=86400"
}

/** Picks `br`, then `gzip`, if the client accepts it and a precompressed file exists. */
export function negotiate(acceptEncoding, file) {
  const accepts = enc =>
    (acceptEncoding ?? "")
      .split(",")
      .map(s => s.trim().split(";"))
      .some(([name, ...params]) => name === enc && !params.some(p => /^q=0(\.0*)?$/.test(p.trim())))
  for (const [enc, ext] of [
    ["br", ".br"],
    ["gzip", ".gz"],
  ]) {
    if (accepts(enc) && existsSync(file + ext)) return { enc, file: file + ext }
  }
  return { enc: null, file }
}

export function startServer({ port = 0, upstream = "http://127.0.0.1:8080", dir } = {}) {
  const root = resolve(dir ?? fileURLToPath(new URL("../dist/", import.meta.url)))
  let up = new URL(upstream)
  // Bytes sent to the browser (bodies as sent, i.e. compressed), for the budget script.
  const stats = { static: 0, api: 0, ws: 0, requests: [] }
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x")
    if (PROXIED.test(url.pathname + (url.search ? "?" : ""))) return proxy(req, res)
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405).end()
      return
    }
    let path = decodeURIComponent(url.pathname)
    let file = normalize(join(root, path))
    if (!file.startsWith(root)) {
      res.writeHead(403).end()
      return
    }
    if (!existsSync(file) || statSync(file).isDirectory()) {
      path = "/index.html"
      file = join(root, "index.html")
    }
    const type = TYPES[extname(file)] ?? "application/octet-stream"
    const chosen = negotiate(req.headers["accept-encoding"], file)
    const headers = {
      "content-type": type,
      "cache-control": cacheControl(path),
      vary: "Accept-Encoding",
      "content-length": statSync(chosen.file).size,
      "x-content-type-options": "nosniff",
    }
    if (chosen.enc) headers["content-encoding"] = chosen.enc
    if (path === "/sw.js") headers["service-worker-allowed"] = "/"
    res.writeHead(200, headers)
    if (req.method === "HEAD") return res.end()
    stats.static += headers["content-length"]
    stats.requests.push({ path: url.pathname, bytes: headers["content-length"], encoding: chosen.enc })
    createReadStream(chosen.file).pipe(res)
  })
  function proxy(req, res) {
    const p = http.request(
      { host: up.hostname, port: up.port, method: req.method, path: req.url, headers: { ...req.headers, host: up.host } },
      r => {
        res.writeHead(r.statusCode ?? 502, r.headers)
        r.on("data", d => (stats.api += d.length))
        r.pipe(res)
      },
    )
    p.on("error", () => {
      if (!res.headersSent) res.writeHead(502, { "content-type": "application/json" })
      res.end(JSON.stringify({ error: { code: "bad_gateway", message: "Linli server unreachable" } }))
    })
    req.pipe(p)
  }
  // WebSocket upgrades for /sync: a raw TCP pipe to the Linli server.
  server.on("upgrade", (req, socket, head) => {
    const conn = net.connect(Number(up.port), up.hostname, () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`]
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        const [k, v] = [req.rawHeaders[i], req.rawHeaders[i + 1]]
        lines.push(`${k}: ${k.toLowerCase() === "host" ? up.host : v}`)
      }
      conn.write(lines.join("\r\n") + "\r\n\r\n")
      if (head?.length) conn.write(head)
      conn.on("data", d => (stats.ws += d.length))
      conn.pipe(socket)
      socket.pipe(conn)
    })
    const close = () => {
      conn.destroy()
      socket.destroy()
    }
    conn.on("error", close)
    socket.on("error", close)
    conn.on("close", () => socket.destroy())
    socket.on("close", () => conn.destroy())
  })
  server.stats = stats
  server.resetStats = () => {
    stats.static = stats.api = stats.ws = 0
    stats.requests = []
  }
  /** Points the proxy at another Linli server (the test starts this one first). */
  server.setUpstream = u => {
    up = new URL(u)
  }
  return new Promise(ok => server.listen(port, "127.0.0.1", () => ok(server)))
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  const arg = (name, dflt) => {
    const i = process.argv.indexOf(`--${name}`)
    return i > 0 ? process.argv[i + 1] : dflt
  }
  const server = await startServer({
    port: Number(arg("port", 5173)),
    upstream: arg("upstream", process.env.LINLI_URL ?? "http://127.0.0.1:8080"),
    dir: arg("dir", undefined),
  })
  const a = server.address()
  console.log(`Linli PWA on http://127.0.0.1:${a.port}/ (API and /sync → ${arg("upstream", process.env.LINLI_URL ?? "http://127.0.0.1:8080")})`)
}
