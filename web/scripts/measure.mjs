// Measures the budgets of the issue "The PWA" against a real Linli server and Debian's
// Chromium, and writes test-results/budget.json:
//   1. bytes transferred on a first visit and on a repeat visit (CDP network events of
//      the page, and every byte the server in front sent: static files, API, WebSocket);
//   2. JS + CSS gzip size, and everything but Automerge's WASM (dist/, gzip -9);
//   3. time until the volunteer's task list shows on a repeat visit, service worker warm,
//      CPU throttled 4× (Emulation.setCPUThrottlingRate), with ~200 documents on the phone
//      (the `linli:list` performance mark, from navigation start), and until every stored
//      document is loaded into Automerge (`linli:loaded`);
//   4. (for information) a first visit on a slow phone network (1.6 Mbit/s, 150 ms RTT).
// Usage: npm run build && node scripts/measure.mjs   (needs target/debug/linli)
import { readdirSync, readFileSync, statSync, writeFileSync, mkdirSync } from "node:fs"
import { join } from "node:path"
import { gzipSync } from "node:zlib"
import { ARTIFACTS, USERS, WEB, launch, phone, startStack, swReady, uiLogin, waitUntil } from "../e2e/harness.mjs"
import { seedDeliveries } from "./seed.mjs"

const RUNS = Number(process.env.RUNS ?? 5)
const kb = n => `${(n / 1024).toFixed(1)} KiB`

function distSizes() {
  const dist = join(WEB, "dist")
  const out = { jsCssGzip: 0, allButWasmGzip: 0, wasmRaw: 0, wasmGzip: 0, wasmBrotli: 0, files: [] }
  const walk = dir => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name)
      if (statSync(p).isDirectory()) walk(p)
      else if (!/\.(br|gz)$/.test(name)) {
        const data = readFileSync(p)
        const gz = gzipSync(data, { level: 9 }).length
        const rel = p.slice(dist.length + 1)
        out.files.push({ file: rel, raw: data.length, gzip: gz })
        if (name.endsWith(".wasm")) {
          out.wasmRaw = data.length
          out.wasmGzip = gz
          out.wasmBrotli = statSync(`${p}.br`).size
        } else {
          out.allButWasmGzip += /\.(png)$/.test(name) ? data.length : gz
          if (/\.(js|css)$/.test(name)) out.jsCssGzip += gz
        }
      }
    }
  }
  walk(dist)
  return out
}

/** Records the page's network traffic through CDP. */
async function watch(ctx, page) {
  const cdp = await ctx.newCDPSession(page)
  await cdp.send("Network.enable")
  const reqs = new Map()
  cdp.on("Network.responseReceived", e => {
    reqs.set(e.requestId, { url: e.response.url, fromSW: !!e.response.fromServiceWorker, fromCache: !!e.response.fromDiskCache, bytes: 0 })
  })
  cdp.on("Network.loadingFinished", e => {
    const r = reqs.get(e.requestId)
    if (r) r.bytes = e.encodedDataLength
  })
  return {
    cdp,
    summary() {
      const all = [...reqs.values()]
      const network = all.filter(r => !r.fromSW && !r.fromCache)
      return {
        requests: all.length,
        fromServiceWorker: all.filter(r => r.fromSW).length,
        fromHttpCache: all.filter(r => r.fromCache).length,
        networkBytes: network.reduce((a, r) => a + r.bytes, 0),
        biggest: network.sort((a, b) => b.bytes - a.bytes).slice(0, 5).map(r => ({ url: new URL(r.url).pathname, bytes: r.bytes })),
      }
    },
  }
}

const marks = page =>
  page.evaluate(() => Object.fromEntries(performance.getEntriesByType("mark").filter(m => m.name.startsWith("linli:")).map(m => [m.name, Math.round(m.startTime)])))

const median = xs => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

const stack = await startStack({ proxy: true })
const browser = await launch()
const result = { date: new Date().toISOString(), chromium: browser.version(), sizes: distSizes() }
try {
  process.stdout.write("seeding 200 deliveries for chen.vol… ")
  const seeded = await seedDeliveries(stack.linli.url, { n: 200, coord: USERS.coord, volunteer: USERS.vol })
  console.log("done")

  // ---- first visit ------------------------------------------------------------------
  const ctx = await phone(browser, { timezoneId: "Asia/Shanghai" })
  let page = await ctx.newPage()
  let net = await watch(ctx, page)
  stack.web.resetStats()
  await uiLogin(page, stack.base, USERS.vol)
  await swReady(page)
  // Everything of the volunteer's on the phone: all inbox rows loaded, and the service
  // worker's precache complete.
  await waitUntil(
    () =>
      page.evaluate(ids => {
        const d = window.linli.state.data
        return !!d && ids.every(id => d.docs[id]) && d.phase === "ready"
      }, seeded.ids),
    180_000,
    "all seeded deliveries on the phone",
  )
  await page.evaluate(async () => {
    const reg = await navigator.serviceWorker.ready
    while (reg.installing || reg.waiting) await new Promise(r => setTimeout(r, 100))
  })
  await page.waitForTimeout(1500) // let IndexedDB writes and the snapshot land
  const docsOnPhone = await page.evaluate(() => Object.keys(window.linli.state.data.docs).length)
  result.firstVisit = { page: net.summary(), server: stack.web.stats(), docsOnPhone, marks: await marks(page) }
  delete result.firstVisit.server.requests
  await page.close()

  // ---- repeat visits, CPU 4× slower --------------------------------------------------
  result.repeatVisits = []
  for (let i = 0; i < RUNS; i++) {
    page = await ctx.newPage()
    net = await watch(ctx, page)
    await net.cdp.send("Emulation.setCPUThrottlingRate", { rate: 4 })
    stack.web.resetStats()
    const t0 = Date.now()
    await page.goto(`${stack.base}/`)
    await page.waitForFunction(() => performance.getEntriesByName("linli:list").length > 0, null, { timeout: 60_000 })
    const wall = Date.now() - t0
    await page.waitForFunction(() => performance.getEntriesByName("linli:loaded").length > 0, null, { timeout: 120_000 })
    const cards = await page.locator('[data-testid="todo"] .card').count()
    await page.waitForTimeout(1000)
    const server = stack.web.stats()
    result.repeatVisits.push({
      marks: await marks(page),
      wallMs: wall,
      cards,
      page: net.summary(),
      server: { static: server.static, api: server.api, ws: server.ws, staticRequests: server.requests.length },
    })
    await page.close()
  }
  // The same repeat visit without throttling, for comparison.
  page = await ctx.newPage()
  await page.goto(`${stack.base}/`)
  await page.waitForFunction(() => performance.getEntriesByName("linli:loaded").length > 0, null, { timeout: 120_000 })
  result.repeatUnthrottled = { marks: await marks(page) }
  await page.close()
  await ctx.close()

  // ---- first visit on a slow phone network (information) ------------------------------
  const slowCtx = await phone(browser, { timezoneId: "Asia/Shanghai" })
  const slow = await slowCtx.newPage()
  const slowNet = await watch(slowCtx, slow)
  await slowNet.cdp.send("Network.emulateNetworkConditions", {
    offline: false,
    latency: 150,
    downloadThroughput: (1.6 * 1024 * 1024) / 8,
    uploadThroughput: (750 * 1024) / 8,
  })
  await slow.goto(`${stack.base}/`)
  await slow.waitForFunction(() => performance.getEntriesByName("linli:wasm").length > 0, null, { timeout: 120_000 })
  result.slowFirstVisit = { marks: await marks(slow), page: slowNet.summary(), network: "1.6 Mbit/s down, 750 kbit/s up, 150 ms latency (CDP, page only)" }
  await slowCtx.close()
} finally {
  await browser.close()
  await stack.stop()
}

mkdirSync(ARTIFACTS, { recursive: true })
writeFileSync(join(ARTIFACTS, "budget.json"), JSON.stringify(result, null, 2))
const s = result.sizes
const lists = result.repeatVisits.map(r => r.marks["linli:list"])
const readies = result.repeatVisits.map(r => r.marks["linli:loaded"])
console.log(`
Budgets (Chromium ${result.chromium})
  JS + CSS, gzip:                          ${kb(s.jsCssGzip)}   (budget 150 KiB)
  everything but the WASM, gzip:           ${kb(s.allButWasmGzip)}
  Automerge WASM:                          ${kb(s.wasmRaw)} raw, ${kb(s.wasmGzip)} gzip, ${kb(s.wasmBrotli)} brotli
  first visit, bytes from the server:      ${kb(result.firstVisit.server.static)} files + ${kb(result.firstVisit.server.api)} API + ${kb(result.firstVisit.server.ws)} sync (${result.firstVisit.docsOnPhone} documents)
  first visit, page network bytes (CDP):   ${kb(result.firstVisit.page.networkBytes)} in ${result.firstVisit.page.requests} requests
  repeat visit, bytes from the server:     ${result.repeatVisits.map(r => kb(r.server.static)).join(", ")} files; ${result.repeatVisits.map(r => kb(r.server.api)).join(", ")} API; ${result.repeatVisits.map(r => kb(r.server.ws)).join(", ")} sync
  repeat visit, page network bytes (CDP):  ${result.repeatVisits.map(r => kb(r.page.networkBytes)).join(", ")} (${result.repeatVisits[0].page.fromServiceWorker} of ${result.repeatVisits[0].page.requests} requests from the service worker)
  repeat visit, CPU 4×, list shown:        ${lists.join(", ")} ms (median ${median(lists)} ms; budget 2000 ms)
  repeat visit, CPU 4×, all docs loaded:   ${readies.join(", ")} ms (median ${median(readies)} ms; the list does not wait for this)
  repeat visit, no throttling:             list ${result.repeatUnthrottled.marks["linli:list"]} ms, all docs loaded ${result.repeatUnthrottled.marks["linli:loaded"]} ms
  slow network first visit, WASM ready:    ${result.slowFirstVisit.marks["linli:wasm"]} ms (${kb(result.slowFirstVisit.page.networkBytes)})
  written to test-results/budget.json`)
