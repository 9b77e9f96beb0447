// Shared by the end-to-end test and the budget script: start the real Linli server on a
// free port with a demo community in a temporary directory, serve dist/ in front of it
// (scripts/serve.mjs: the caching and compression the Linli server must have), and drive
// Debian's Chromium with playwright-core (never a downloaded browser).
import { spawn, spawnSync } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import assert from "node:assert/strict"
import { after, afterEach, before } from "node:test"
import { chromium } from "playwright-core"
import { startServer } from "../scripts/serve.mjs"

export const WEB = fileURLToPath(new URL("..", import.meta.url))
export const ROOT = resolve(WEB, "..")
export const ARTIFACTS = join(WEB, "test-results")

/**
 * Instants the tests run at (no test depends on the wall clock): the server stands still
 * at one (`--test-clock`) and the browser's pages see the same (Playwright's clock). The
 * morning one is the Rust black-box tests' (tests/src/server.rs TEST_CLOCK); the other
 * is after the day's 20:00 check-in deadline, near midnight.
 */
export const CLOCKS = {
  morning: "2026-03-16T10:00:00+08:00",
  lateNight: "2026-03-16T23:30:00+08:00",
}

export const USERS = {
  coord: { username: "wang.coord", password: "demo-coord-2026" },
  vol: { username: "chen.vol", password: "demo-vol-2026" },
  /** Reads the grids' readings (DESIGN §9) and takes phone check-ins. */
  medic: { username: "zhao.medic", password: "demo-medic-2026" },
}

export function linliBin() {
  const bin = process.env.LINLI_BIN ?? join(ROOT, "target/debug/linli")
  if (!existsSync(bin)) throw new Error(`no Linli server binary at ${bin}: run \`cargo build -p linli-server\``)
  return bin
}

export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium"
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
]

/**
 * Starts `linli serve --demo` on a free port; resolves with its URL and a stop function.
 * `origin` is the page's origin (the static server in front), allowed to use the cookie;
 * `clock` (RFC 3339) the instant the server's clock stands at (the demo's dates follow it).
 * Options (the upgrade test): `bin`, another server binary; `data`, a data directory the
 * caller keeps (not removed at `stop`); `demo: false`, no `--demo`.
 */
export async function startLinli(origin, extra = [], clock, env = {}, { bin = linliBin(), data, demo = true } = {}) {
  if (!existsSync(join(WEB, "dist/index.html"))) throw new Error("no dist/: run `npm run build` first")
  const dir = data ? null : mkdtempSync(join(tmpdir(), "linli-e2e-"))
  const args = ["--data", data ?? join(dir, "data"), "serve", ...(demo ? ["--demo"] : []), "--bind", "127.0.0.1:0", ...extra]
  if (origin) args.push("--allowed-origins", origin)
  if (clock) args.push("--test-clock", clock)
  const child = spawn(bin, args, {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, LINLI_LOG: process.env.LINLI_LOG ?? "warn", LINLI_COOKIE_SECURE: "false", ...env },
  })
  // Never leave a server behind, even when the test process dies.
  const reap = () => child.exitCode == null && child.kill("SIGKILL")
  process.once("exit", reap)
  let out = ""
  let err = ""
  child.stderr.on("data", d => (err = (err + d).slice(-20_000)))
  const url = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`linli did not start:\n${out}\n${err}`)), 60_000)
    child.stdout.on("data", d => {
      out += d
      const m = /listening on (http:\/\/[\d.:]+)/.exec(out)
      if (m) {
        clearTimeout(timer)
        ok(m[1])
      }
    })
    child.on("exit", code => {
      clearTimeout(timer)
      fail(new Error(`linli exited (${code}):\n${out}\n${err}`))
    })
  })
  // The demo's documents are indexed (dashboards, alerts) just after the server listens.
  // A test-clock sweep is queued behind them and answers once written.
  if (clock) {
    const res = await fetch(`${url}/api/test/clock`, { method: "POST", headers: { "content-type": "application/json" }, body: '{"advance_secs":0}' })
    if (!res.ok) throw new Error(`POST /api/test/clock: ${res.status} ${await res.text()}`)
  }
  return {
    url,
    log: () => err,
    /** `signal`: SIGTERM (a graceful stop, SIGKILL after 5 s) or SIGKILL at once. */
    async stop(signal = "SIGTERM") {
      if (child.exitCode == null) {
        child.kill(signal)
        await new Promise(r => {
          const t = setTimeout(() => {
            child.kill("SIGKILL")
            r()
          }, 5000)
          child.once("exit", () => {
            clearTimeout(t)
            r()
          })
        })
      }
      process.off("exit", reap)
      if (dir) rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** Serves dist/ (built by `npm run build`) in front of the Linli server; `dir`, another
 * build of the app, `port`, a given port (the upgrade test keeps the page's origin). */
export async function startStatic(upstream = "http://127.0.0.1:9", { dir = join(WEB, "dist"), port = 0 } = {}) {
  if (!existsSync(join(dir, "index.html"))) throw new Error(`no ${dir}/index.html: run \`npm run build\` first`)
  const server = await startServer({ port, upstream, dir })
  const bound = server.address().port
  return {
    url: `http://127.0.0.1:${bound}`,
    setUpstream: u => server.setUpstream(u),
    stats: () => JSON.parse(JSON.stringify(server.stats)),
    resetStats: () => server.resetStats(),
    stop: () =>
      new Promise(r => {
        server.closeAllConnections?.()
        server.close(() => r())
      }),
  }
}

/** Whether this Linli binary serves the PWA itself (`serve --web-dir`). */
export function linliServesWeb() {
  const help = spawnSync(linliBin(), ["serve", "--help"], { encoding: "utf8" })
  return /--web-dir/.test(help.stdout ?? "")
}

/**
 * A fresh Linli server with the demo community, serving dist/ itself when it can (the
 * real thing: its caching, compression and same-origin cookie), else behind
 * scripts/serve.mjs. `proxy: true` always puts serve.mjs in front (the budget script
 * counts bytes there); so does LINLI_E2E_PROXY=1. `clock`: see `startLinli`.
 */
export async function startStack({ proxy = process.env.LINLI_E2E_PROXY === "1", clock, env, extra = [] } = {}) {
  if (!proxy && linliServesWeb()) {
    const linli = await startLinli(undefined, ["--web-dir", join(WEB, "dist"), ...extra], clock, env)
    return { base: linli.url, web: null, linli, clock, stop: () => linli.stop() }
  }
  const web = await startStatic()
  const linli = await startLinli(web.url, extra, clock, env)
  web.setUpstream(linli.url)
  return {
    base: web.url,
    web,
    linli,
    clock,
    async stop() {
      await web.stop()
      await linli.stop()
    },
  }
}

export async function launch() {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: run \`make web-deps\` (apt-get install chromium)`)
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true })
}

/**
 * A phone-sized context (360 px wide, touch), watched for CSP violations. It records every
 * URL its pages request and every WebSocket they open (`ctx.requested`, `ctx.sockets`),
 * for `assertNoTokenInUrls`. With `clock` (RFC 3339) its pages' `Date` stands at that
 * instant (timers still run; the service worker keeps its own clock, and nothing of the
 * app's documents depends on it).
 */
export async function phone(browser, extra = {}, clock) {
  const ctx = await browser.newContext({
    viewport: { width: 360, height: 740 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
    locale: "zh-CN",
    serviceWorkers: "allow",
    ...extra,
  })
  ctx.requested = []
  ctx.sockets = []
  ctx.on("request", r => ctx.requested.push(r.url()))
  const watch = page => page.on("websocket", ws => ctx.sockets.push(ws.url()))
  ctx.pages().forEach(watch)
  ctx.on("page", watch)
  if (clock) await ctx.clock.setFixedTime(new Date(clock))
  await watchCsp(ctx)
  return ctx
}

/** Content-Security-Policy violations seen in any watched context since the last test. */
const cspViolations = []

/** Fails if a page of a `phone()` context violated the CSP since the last call. */
export function assertNoCspViolations() {
  const seen = cspViolations.splice(0)
  if (seen.length) throw new Error(`Content-Security-Policy violations:\n${seen.join("\n")}`)
}

/**
 * Records every CSP violation of `ctx`'s pages: the `securitypolicyviolation` event each
 * page fires, and the console error Chromium logs for it (which also covers what is
 * blocked before a page's scripts run). `useStack` fails a test that saw any, but one:
 * cbor-x (automerge-repo's CBOR codec) probes `try { Function("") } catch {}` when it
 * loads, and without eval decodes without generated code. The policy's 'report-sample'
 * shows the refused code, so only that empty function is let through.
 */
async function watchCsp(ctx) {
  await ctx.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", e => {
      const probe = e.blockedURI === "eval" && /^\(?function anonymous\(\s*\) \{\s*\}\)?$/.test(e.sample)
      if (probe) return
      console.error(
        `CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline code"} ${JSON.stringify(e.sample)} at ${e.sourceFile}:${e.lineNumber}`,
      )
    })
  })
  ctx.on("console", msg => {
    if (msg.type() === "error" && /Content Security Policy|CSP violation/i.test(msg.text())) {
      cspViolations.push(`${msg.location()?.url ?? "?"}: ${msg.text()}`)
    }
  })
}

/**
 * DESIGN §9: the PWA's token is never in a URL — its sync socket is authenticated by the
 * session cookie. Checks every request and socket of `ctx` so far (and that it synced).
 */
export function assertNoTokenInUrls(ctx) {
  assert.ok(ctx.sockets.some(u => new URL(u).pathname === "/sync"), `no /sync socket among ${JSON.stringify(ctx.sockets)}`)
  const leaks = [...ctx.requested, ...ctx.sockets].filter(u => /token=/i.test(u)).map(u => u.replace(/(token=)[^&]*/gi, "$1…"))
  assert.deepEqual(leaks, [], "URLs carrying a token")
}

export async function apiLogin(base, user) {
  const res = await fetch(`${base}/api/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(user),
  })
  if (!res.ok) throw new Error(`login ${user.username}: ${res.status}`)
  return res.json()
}

/** Logs in through the login screen. */
export async function uiLogin(page, base, user) {
  await page.goto(`${base}/`)
  await page.locator('input[name="username"]').fill(user.username)
  await page.locator('input[name="password"]').fill(user.password)
  await page.locator('button[type="submit"]').click()
  await page.locator(".sync").waitFor({ timeout: 30_000 })
}

/**
 * Saves a screenshot, after checking the screen fits its device width: nothing wider than
 * the viewport. Compared with the viewport's width, not `innerWidth`: with mobile
 * emulation Chromium zooms out to fit an over-wide page, and `innerWidth` grows with it.
 */
export async function shot(page, name) {
  await assertFits(page, name)
  const path = join(ARTIFACTS, `${name}.png`)
  mkdirSync(dirname(path), { recursive: true })
  await page.screenshot({ path, fullPage: true })
}

/** Fails if the page scrolls sideways: its `scrollWidth` is more than the device width. */
export async function assertFits(page, what) {
  const width = page.viewportSize()?.width
  const scroll = await page.evaluate(() => {
    window.scrollTo(0, 0)
    return document.documentElement.scrollWidth
  })
  if (width == null || scroll > width) {
    const wide = await page.evaluate(w =>
      [...document.querySelectorAll("body *")]
        .filter(e => e.getBoundingClientRect().right > w + 0.5)
        .slice(0, 5)
        .map(e => `${e.tagName.toLowerCase()}.${[...e.classList].join(".")} (${Math.round(e.getBoundingClientRect().right)} px)`),
      width ?? 0,
    )
    throw new Error(`${what}: the page is ${scroll} px wide on a ${width} px screen; too wide: ${wide.join(", ")}`)
  }
}

/** Waits until the page's app controller has a controlling service worker. */
export async function swReady(page) {
  await page.waitForFunction(() => navigator.serviceWorker?.controller != null, null, { timeout: 60_000 })
}

export async function waitUntil(fn, ms = 30_000, what = "condition") {
  const until = Date.now() + ms
  let last
  while (Date.now() < until) {
    try {
      last = await fn()
      if (last) return last
    } catch (e) {
      last = e
    }
    await new Promise(r => setTimeout(r, 250))
  }
  throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`)
}

/**
 * For a test file (or a `describe`): the real stack and a headless Chromium, started before
 * its tests and stopped after them, with the server and the pages at `clock`. Read `.stack`
 * and `.browser` inside the tests, and open phones with `.phone(extra)`. A test during which
 * a page of a `phone()` context violated the server's Content-Security-Policy fails.
 */
export function useStack({ clock = CLOCKS.morning, env, extra } = {}) {
  const e2e = { stack: null, browser: null, clock, phone: extra => phone(e2e.browser, extra, clock) }
  before(async () => {
    e2e.stack = await startStack({ clock, env, extra })
    e2e.browser = await launch()
  })
  afterEach(assertNoCspViolations)
  after(async () => {
    await e2e.browser?.close()
    await e2e.stack?.stop()
  })
  return e2e
}
