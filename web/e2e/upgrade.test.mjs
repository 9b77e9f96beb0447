// End to end, in headless Chromium (issue 11: the schema migrations): a phone that was
// offline across a server + app upgrade loses none of its waiting work. The release is
// the one before the readings split (schema 2: its app writes a check-in into the
// episode's `checkins`, which this tree's migration detaches; the server carries it over
// into the episode's readings).
//
// The previous release (OLD_RELEASE: its server binary and its web bundle, built once by
// scripts/old-release.sh) runs on a data directory this test keeps, behind
// scripts/serve.mjs on a port that stays the page's origin throughout. chen.vol logs in
// with the old app and syncs; the phone goes offline; a check-in (36.6 °C) and a delivery
// step (picked up → delivered) wait on it. The old server stops (SIGTERM, a graceful stop
// as a deployment does it), this tree's server starts on the same data directory (without
// --demo: an upgrade, not a new community), and this tree's dist/ is served on the same
// port. The phone comes back online; its service worker picks up the new app, and the
// page is reloaded, as a user reopens the app. Then, read by other users through the API
// (a medic's episodes export, a coordinator's tasks export and dashboard, the admin's
// quarantine): the check-in and the step are on the server, and nothing of chen.vol's was
// quarantined.
//
// Two orders, because either can happen on a real phone:
//   - "old app syncs first": the server is back before the app updates; the old app,
//     still open, hands its waiting work to the new server, then the app updates.
//   - "new app syncs": the app updates while the API is still down (the web server in
//     front answers, the Linli server does not yet); the new app finds the old app's
//     waiting work in IndexedDB, still waiting, and hands it over once the server is up.
//
// When the release's app and this tree's are byte-identical (no change under web/ since
// the release), a copy of dist/ is marked as a new version (a <meta> in index.html and its
// precache revision in sw.js) so that the service-worker update is exercised all the same.
import { after, before, describe, test } from "node:test"
import assert from "node:assert/strict"
import { spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import {
  apiLogin,
  ARTIFACTS,
  assertNoCspViolations,
  CLOCKS,
  launch,
  linliBin,
  phone,
  ROOT,
  startLinli,
  startStatic,
  swReady,
  uiLogin,
  USERS,
  waitUntil,
  WEB,
} from "./harness.mjs"

/** The release deployed now: what phones in the field run, and the store they wrote. */
export const OLD_RELEASE = "abf41d0"

const TARGET = process.env.CARGO_TARGET_DIR ?? join(ROOT, "target")
/** Built by `scripts/old-release.sh`; the test builds it if missing. */
const OLD_DIR = process.env.LINLI_OLD_RELEASE_DIR ?? join(TARGET, `old-release-${OLD_RELEASE}`)
const MEDIC = { username: "zhao.medic", password: "demo-medic-2026" }
const ADMIN = { username: "admin", password: "demo-admin-2026" }
const PURPOSE = "升级测试：核对离线工作"
const TEMP = "36.6"
const CLOCK = CLOCKS.morning
const PHONE = { timezoneId: "Asia/Shanghai" }

const ORDERS = [
  { name: "old app syncs first, then updates", apiFirst: true },
  { name: "app updates while the API is down, the new app syncs", apiFirst: false },
]

/**
 * The check-ins of an episode on the phone, in the page: in the episode itself (episodes
 * of schema 1 and 2, which the release writes) or in the readings it links (schema 3),
 * whichever the app that runs keeps them in.
 */
function phoneCheckins(id) {
  const docs = window.linli.state.data.docs
  const episode = docs[id]
  return { ...episode?.checkins, ...(episode?.readings ? docs[episode.readings]?.checkins : undefined) }
}

/** The app's own view of its state (the controller is `window.linli`). */
const appState = (page, id) =>
  page.evaluate(id => {
    const d = window.linli?.state.data
    return d ? { pending: d.pending, connection: d.connection, notices: d.notices.length, status: id ? d.docs[id]?.status : undefined } : null
  }, id)

// ---- the server's side, read by other users through the API ------------------------------

/** A minimal RFC 4180 reader (quoted cells, doubled quotes, CRLF). */
function parseCsv(text) {
  const rows = []
  let row = []
  let cell = ""
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (cell += '"'), i++
      else if (c === '"') quoted = false
      else cell += c
    } else if (c === '"') quoted = true
    else if (c === ",") row.push(cell), (cell = "")
    else if (c === "\n") row.push(cell.replace(/\r$/, "")), rows.push(row), (row = []), (cell = "")
    else cell += c
  }
  if (cell || row.length) row.push(cell), rows.push(row)
  return rows
}

/** The table of an export (after its header block), as objects keyed by column name. */
async function exportRows(base, token, name) {
  const res = await fetch(`${base}/api/export/${name}.csv?purpose=${encodeURIComponent(PURPOSE)}`, { headers: { authorization: `Bearer ${token}` } })
  const text = await res.text()
  assert.equal(res.status, 200, `GET /api/export/${name}.csv: ${text.slice(0, 500)}`)
  const rows = parseCsv(text.replace(/^\ufeff/, ""))
  const at = rows.findIndex(r => r[0] === "编号")
  assert.ok(at >= 0, `${name}.csv has no table (a row starting 编号):\n${text.slice(0, 800)}`)
  const header = rows[at]
  return { header, rows: rows.slice(at + 1).filter(r => r.length > 1).map(r => Object.fromEntries(header.map((k, i) => [k, r[i] ?? ""]))), text }
}

/** A column by the start of its name (最近体温(°C) → "最近体温"). */
const col = (header, prefix) => header.find(h => h.startsWith(prefix))

/**
 * The medic's row of an episode: by its id, else (if a later schema lists the episode
 * under another document) by the household and person it was for.
 */
async function episodeRow(base, medic, episode) {
  const { header, rows, text } = await exportRows(base, medic.token, "episodes")
  const row =
    rows.find(r => r["编号"] === episode.id) ??
    rows.find(r => Object.values(r).includes(episode.id)) ??
    (episode.person ? rows.find(r => r["住户编号"] === episode.household && r["姓名"] === episode.person) : undefined)
  const temp = col(header, "最近体温")
  const count = col(header, "打卡次数")
  assert.ok(temp && count, `episodes.csv has the columns 最近体温 and 打卡次数: ${header.join(",")}`)
  return row ? { row, temp: row[temp], checkins: Number(row[count]), text } : { row: null, text }
}

async function taskRow(base, coord, taskId) {
  const { rows, text } = await exportRows(base, coord.token, "tasks")
  return { row: rows.find(r => r["编号"] === taskId) ?? null, text }
}

async function taskCounts(base, coord) {
  const res = await fetch(`${base}/api/grids/g1/dashboard`, { headers: { authorization: `Bearer ${coord.token}` } })
  assert.equal(res.status, 200, `dashboard: ${res.status}`)
  return (await res.json()).tasks
}

async function quarantine(base, admin) {
  const res = await fetch(`${base}/api/quarantine`, { headers: { authorization: `Bearer ${admin.token}` } })
  assert.equal(res.status, 200, `GET /api/quarantine: ${res.status}`)
  return (await res.json()).entries
}

// ---- the two builds of the app ---------------------------------------------------------

/** The module script index.html starts the app with. */
const entryOf = html => /<script[^>]*type="module"[^>]*src="([^"]+)"/.exec(html)?.[1] ?? /<script[^>]*src="([^"]+)"[^>]*type="module"/.exec(html)?.[1]

/**
 * This tree's dist/, or, when it is byte-identical to the release's app, a copy marked as
 * a new version: a <meta name="linli-build"> in index.html, index.html's revision in the
 * service worker's precache list changed to match (so the new worker fetches it), and the
 * stale precompressed copies of both dropped.
 */
function newDist(oldDist, scratch) {
  const dist = join(WEB, "dist")
  const same = readFileSync(join(dist, "sw.js"), "utf8") === readFileSync(join(oldDist, "sw.js"), "utf8")
  if (!same) return { dir: dist, marked: false }
  const dir = join(scratch, "dist-marked")
  cpSync(dist, dir, { recursive: true })
  const html = readFileSync(join(dir, "index.html"), "utf8")
  assert.ok(html.includes("</head>"), "index.html has a </head>")
  const marked = html.replace("</head>", '<meta name="linli-build" content="upgrade-test">\n</head>')
  writeFileSync(join(dir, "index.html"), marked)
  const sw = readFileSync(join(dir, "sw.js"), "utf8")
  const entry = /\{url:"index\.html",revision:"([0-9a-f]+)"\}/
  assert.match(sw, entry, "sw.js lists index.html with a revision (Workbox's precache manifest): the marking needs it")
  writeFileSync(join(dir, "sw.js"), sw.replace(entry, `{url:"index.html",revision:"${createHash("md5").update(marked).digest("hex")}"}`))
  for (const f of ["index.html.br", "index.html.gz", "sw.js.br", "sw.js.gz"]) if (existsSync(join(dir, f))) unlinkSync(join(dir, f))
  console.log("upgrade: the release's app is byte-identical to this tree's; serving a copy of dist/ marked as a new version")
  return { dir, marked: true }
}

/** Whether the page runs the new app (its entry script; the marking, if any). */
const runsNewApp = (page, app) =>
  page.evaluate(
    ({ entry, marked }) =>
      [...document.scripts].some(s => s.getAttribute("src") === entry) && (!marked || document.querySelector('meta[name="linli-build"]') != null),
    app,
  )

// ---- the test --------------------------------------------------------------------------

describe(`an offline phone across the upgrade from ${OLD_RELEASE} to this tree`, () => {
  let browser
  let old
  const newBin = linliBin()

  before(
    async () => {
      // The release (cached: a no-op once built; a cold build takes minutes).
      const built = spawnSync("bash", [join(WEB, "scripts/old-release.sh"), OLD_RELEASE, OLD_DIR], { stdio: "inherit" })
      if (built.status !== 0) throw new Error(`scripts/old-release.sh ${OLD_RELEASE} ${OLD_DIR} failed (${built.status ?? built.signal})`)
      old = { bin: join(OLD_DIR, "linli"), dist: join(OLD_DIR, "dist") }
      browser = await launch()
    },
    { timeout: 30 * 60_000 },
  )
  after(async () => {
    await browser?.close()
  })

  for (const order of ORDERS) {
    test(order.name, { timeout: 300_000 }, async () => {
      const scratch = mkdtempSync(join(tmpdir(), "linli-upgrade-"))
      // What runs (stopped at the end whatever happens) and whose logs to keep.
      const run = { ctx: null, web: null, linli: null, logs: [] }
      let ok = false
      try {
        await scenario({ browser, old, newBin, order, scratch, run })
        assertNoCspViolations()
        ok = true
      } finally {
        await run.ctx?.close().catch(() => undefined)
        await run.web?.stop().catch(() => undefined)
        await run.linli?.stop().catch(() => undefined)
        if (ok) rmSync(scratch, { recursive: true, force: true })
        else {
          for (const [name, server] of run.logs) writeFileSync(join(scratch, `${name}.log`), server.log())
          console.error(`upgrade: kept the data directory and the servers' logs in ${scratch}`)
        }
      }
    })
  }
})

async function scenario({ browser, old, newBin, order, scratch, run }) {
  const data = join(scratch, "data")
  const app = newDist(old.dist, scratch)
  const newIndex = readFileSync(join(app.dir, "index.html"), "utf8")
  const expected = { entry: entryOf(newIndex), marked: app.marked }
  assert.ok(expected.entry, "this tree's index.html starts the app with a module script")
  const shot = async (page, name) => {
    mkdirSync(ARTIFACTS, { recursive: true })
    await page.screenshot({ path: join(ARTIFACTS, `upgrade-${order.apiFirst ? "a" : "b"}-${name}.png`), fullPage: true })
  }

  // ---- the release, as deployed: its server on the data directory, its app in front ----
  let web = (run.web = await startStatic(undefined, { dir: old.dist }))
  const port = Number(new URL(web.url).port)
  const base = web.url
  let linli = (run.linli = await startLinli(base, [], CLOCK, {}, { bin: old.bin, data }))
  run.logs.push(["old-linli", linli])
  web.setUpstream(linli.url)

  const vol = await apiLogin(linli.url, USERS.vol)
  const coord = await apiLogin(linli.url, USERS.coord)
  const medic = await apiLogin(linli.url, MEDIC)

  // ---- chen.vol's phone, with the old app, synced --------------------------------------
  const ctx = (run.ctx = await phone(browser, PHONE, CLOCK))
  const v = await ctx.newPage()
  v.on("pageerror", e => console.error("volunteer page error:", e.message))
  await uiLogin(v, base, USERS.vol)
  await v.locator('[data-testid="todo"] .card[data-kind="task"]').first().waitFor({ timeout: 60_000 })
  const episodeCard = v.locator('[data-testid="todo"] .card[data-kind="episode"]').first()
  await episodeCard.waitFor({ timeout: 60_000 })
  await swReady(v)
  // The delivery chen.vol has picked up (the demo gives them one): 已送达 is its next step.
  const taskId = await v.evaluate(() => Object.entries(window.linli.state.data.rows).find(([, r]) => r.kind === "task" && r.status === "picked_up")?.[0])
  assert.ok(taskId, "chen.vol has a delivery picked up")
  const episodeId = await episodeCard.getAttribute("data-id")
  assert.ok(episodeId, "the check-in card names its episode")
  // Open the delivery once online so its household (the address) is on the phone too.
  await v.locator(`[data-testid="todo"] .card[data-id="${taskId}"]`).click()
  await v.locator('[data-testid="address"]').waitFor({ timeout: 60_000 })
  await v.goBack()
  await episodeCard.waitFor()
  await waitUntil(async () => {
    const s = await appState(v)
    return s?.connection === "online" && s.pending === 0
  }, 30_000, "the old app online with nothing waiting")
  await shot(v, "1-old-app-synced")

  // What the server has before: the episode's check-ins, the task's status.
  const episode = { id: episodeId }
  const before = await episodeRow(linli.url, medic, episode)
  assert.ok(before.row, `the medic's episodes export lists ${episodeId}:\n${before.text.slice(0, 1500)}`)
  Object.assign(episode, { household: before.row["住户编号"], person: before.row["姓名"] })
  const taskBefore = await taskRow(linli.url, coord, taskId)
  assert.ok(taskBefore.row, `the tasks export lists ${taskId}`)
  assert.equal(taskBefore.row["状态"], "已取货", "the task is picked up")
  const countsBefore = await taskCounts(linli.url, coord)

  // ---- offline: a check-in and a delivery step wait on the phone -----------------------
  await ctx.setOffline(true)
  await waitUntil(async () => (await appState(v))?.connection === "offline", 15_000, "the app noticing it is offline")

  await v.locator(`[data-testid="todo"] .card[data-id="${taskId}"]`).click()
  await v.locator('[data-step="delivered"]').click()
  // Held for its undo window, then written to the document.
  await waitUntil(async () => (await appState(v, taskId))?.status === "delivered", 30_000, "the step written on the phone")
  await v.goto(`${base}/#/`)

  await episodeCard.click()
  const form = v.locator('[data-testid="checkin-form"]')
  await form.waitFor()
  const keysBefore = Object.keys(await v.evaluate(phoneCheckins, episodeId))
  await v.locator('input[name="temp"]').fill(TEMP)
  await form.locator('button[type="submit"]').click()
  await v.locator('[data-testid="todo"]').waitFor()
  const checkin = Object.entries(await v.evaluate(phoneCheckins, episodeId)).find(([k]) => !keysBefore.includes(k))
  assert.ok(checkin, "the check-in is on the phone")
  const [slot, reading] = checkin
  assert.equal(reading.temp_c, Number(TEMP), `the check-in of ${slot} reads ${TEMP}`)

  // Waiting, not synced: the app says so, and the server has neither.
  await waitUntil(async () => (await appState(v))?.pending === 2, 15_000, "two documents waiting")
  await v.locator('[data-testid="sync"].sync-pending').waitFor()
  await shot(v, "2-old-app-offline-waiting")
  assert.equal((await episodeRow(linli.url, medic, episode)).checkins, before.checkins, "the server has not seen the check-in")
  assert.equal((await taskRow(linli.url, coord, taskId)).row["状态"], "已取货", "the server has not seen the step")

  // ---- the upgrade, while the phone is offline -----------------------------------------
  await web.stop()
  run.web = null
  await linli.stop("SIGTERM")
  run.linli = null
  linli = run.linli = await startLinli(base, [], CLOCK, {}, { bin: newBin, data, demo: false })
  run.logs.push(["new-linli", linli])
  // The same origin (port), this tree's app; the API behind it only in the first order.
  web = run.web = await startStatic(order.apiFirst ? linli.url : undefined, { dir: app.dir, port })
  assert.equal(web.url, base, "the page's origin is unchanged")
  const server = linli.url
  // The same users, sessions and documents: nothing was reseeded.
  const vol2 = await apiLogin(server, USERS.vol)
  assert.equal(vol2.user.id, vol.user.id, "chen.vol is the same user after the upgrade")
  const coord2 = await apiLogin(server, USERS.coord)
  const medic2 = await apiLogin(server, MEDIC)
  const admin = await apiLogin(server, ADMIN)

  // ---- back online: the app updates itself; the work reaches the server -----------------
  await ctx.setOffline(false)
  if (order.apiFirst) {
    // The old app, still open, hands its work over to the new server.
    await waitUntil(async () => (await appState(v))?.pending === 0, 60_000, "the old app's waiting work synced to the new server").catch(e => fail(e, v, linli))
  }
  // The user opens the app again: the browser checks for a new service worker.
  await v.reload()
  await waitUntil(
    async () => {
      const served = await v.evaluate(async () => {
        await (await navigator.serviceWorker.getRegistration())?.update().catch(() => undefined)
        return (await fetch("/index.html")).text()
      })
      return served === newIndex
    },
    60_000,
    "the service worker serving the new app",
  )
  // And once more: now the new app runs.
  await v.reload()
  await v.locator(".sync").waitFor({ timeout: 30_000 })
  assert.ok(await runsNewApp(v, expected), "the page runs the new app")
  await swReady(v)
  if (!order.apiFirst) {
    // The old app's work, found by the new app, still waiting.
    await waitUntil(async () => (await appState(v))?.pending === 2, 30_000, "the new app showing the two documents still waiting")
    await v.locator('[data-testid="sync"].sync-pending').waitFor()
    await shot(v, "3-new-app-waiting")
    web.setUpstream(server)
  }
  await waitUntil(async () => {
    const s = await appState(v)
    return s?.connection === "online" && s.pending === 0
  }, 60_000, "the new app online with nothing waiting").catch(e => fail(e, v, linli))
  assert.equal((await appState(v)).notices, 0, "nothing was refused")
  await shot(v, "4-new-app-synced")

  // ---- on the server, read by others ----------------------------------------------------
  const afterRow = await waitUntil(
    async () => {
      const r = await episodeRow(server, medic2, episode)
      return r.row && r.checkins === before.checkins + 1 ? r : null
    },
    30_000,
    `the medic's export counting the check-in of ${episodeId} (${slot})`,
  )
  assert.equal(afterRow.temp, TEMP, `the medic's export shows ${TEMP} °C as ${episodeId}'s latest reading (${slot})`)
  const taskAfter = await waitUntil(async () => {
    const r = await taskRow(server, coord2, taskId)
    return r.row?.["状态"] === "已送达" ? r : null
  }, 30_000, `the coordinator's export showing ${taskId} delivered`)
  assert.equal(taskAfter.row["负责人"], taskBefore.row["负责人"], "the same volunteer")
  const counts = await taskCounts(server, coord2)
  assert.equal(counts.delivered ?? 0, (countsBefore.delivered ?? 0) + 1, "one more delivery done on the dashboard")
  assert.equal(counts.picked_up ?? 0, (countsBefore.picked_up ?? 0) - 1, "one fewer picked up")
  const quarantined = (await quarantine(server, admin)).filter(
    e => e.user === vol.user.id || e.user === USERS.vol.username || [episodeId, taskId].some(id => e.doc.includes(id)),
  )
  assert.deepEqual(quarantined.map(e => ({ doc: e.doc, code: e.code, reason: e.reason })), [], "nothing of chen.vol's quarantined")
}

async function fail(e, page, linli) {
  const state = await page
    .evaluate(() => ({ online: navigator.onLine, ...window.linli?.state.data, docs: undefined, rows: undefined, summaries: undefined }))
    .catch(err => err.message)
  console.error("volunteer state:", JSON.stringify(state), "\nserver log:", linli.log().slice(-5000))
  throw e
}
