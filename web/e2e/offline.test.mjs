// End to end, in headless Chromium against the real Linli server (issue "The PWA"):
// a coordinator creates and assigns a delivery; the volunteer's phone goes offline,
// completes the delivery and a check-in, reloads the page while still offline (the app
// opens from the service worker and the work is still there), comes back online; the
// coordinator's dashboard then shows the delivery done and the check-in's fever alert.
// It runs at two instants (server and browser clocks fixed): mid-morning, and 23:30,
// after the day's 20:00 check-in deadline and near midnight. Screenshots of the main
// screens go to test-results/ (the late run's with a "-late" suffix).
import { describe, test } from "node:test"
import assert from "node:assert/strict"
import { assertNoTokenInUrls, apiLogin, CLOCKS, shot as shotAs, swReady, uiLogin, USERS, useStack, waitUntil } from "./harness.mjs"

const TZ = { timezoneId: "Asia/Shanghai" }

/** The app's own view of its state (the controller is exposed as `window.linli`). */
const appState = page =>
  page.evaluate(() => {
    const d = window.linli.state.data
    return d ? { pending: d.pending, connection: d.connection, notices: d.notices.length } : null
  })

async function dashboard(base, token) {
  const res = await fetch(`${base}/api/grids/g1/dashboard`, { headers: { authorization: `Bearer ${token}` } })
  assert.equal(res.status, 200)
  return res.json()
}

const RUNS = [
  { name: "mid-morning", clock: CLOCKS.morning, suffix: "" },
  { name: "23:30, after the day's check-in deadline", clock: CLOCKS.lateNight, suffix: "-late" },
]

for (const run of RUNS) {
  describe(`at ${run.name} (${run.clock})`, () => {
    const e2e = useStack({ clock: run.clock })
    const shot = (page, name) => shotAs(page, `${name}${run.suffix}`)
    test("a delivery and a check-in done offline reach the coordinator's dashboard", { timeout: 240_000 }, () => scenario(e2e, shot))
  })
}

async function scenario(e2e, shot) {
  const base = e2e.stack.base
  const vol = await apiLogin(base, USERS.vol)
  const coordApi = await apiLogin(base, USERS.coord)
  const before = await dashboard(base, coordApi.token)
  const deliveredBefore = before.tasks.delivered ?? 0

  // ---- the coordinator creates and assigns a delivery ---------------------------------
  const coordCtx = await e2e.phone(TZ)
  const coord = await coordCtx.newPage()
  coord.on("pageerror", e => console.error("coordinator page error:", e.message))
  await coord.goto(`${base}/`)
  await coord.locator('input[name="username"]').waitFor()
  await shot(coord, "00-login")
  await uiLogin(coord, base, USERS.coord)
  await coord.locator('[data-testid="dashboard"]').waitFor({ timeout: 60_000 })
  await shot(coord, "01-coordinator-dashboard")

  await coord.goto(`${base}/#/new/task`)
  const households = coord.locator('[data-testid="household-option"]')
  await waitUntil(async () => (await households.count()) > 0, 60_000, "households in the picker")
  await households.first().click()
  await coord.locator('[data-testid="item-name"]').fill("面粉")
  await coord.locator('[data-testid="item-qty"]').fill("2")
  await coord.locator('[data-testid="item-unit"]').fill("袋")
  await coord.getByRole("radio", { name: "紧急" }).click()
  const picker = coord.locator('[data-testid="assignee"]')
  if ((await picker.locator(`option[value="${vol.user.id}"]`).count()) > 0) {
    await picker.selectOption(vol.user.id)
  } else {
    await picker.selectOption("__other")
    await coord.locator('[data-testid="assignee-id"]').fill(vol.user.id)
  }
  await shot(coord, "02-coordinator-new-delivery")
  await coord.locator('[data-testid="create"]').click()
  await coord.waitForURL(/#\/task\//)
  const taskId = decodeURIComponent(new URL(coord.url()).hash.split("/")[2])
  assert.ok(taskId, "the new task's id is in the URL")
  await waitUntil(async () => (await appState(coord))?.pending === 0, 30_000, "the new delivery synced")
  await shot(coord, "03-coordinator-delivery")

  // ---- the volunteer's phone gets it --------------------------------------------------
  const volCtx = await e2e.phone(TZ)
  const v = await volCtx.newPage()
  v.on("pageerror", e => console.error("volunteer page error:", e.message))
  await uiLogin(v, base, USERS.vol)
  const card = v.locator(`.card[data-id="${taskId}"]`)
  await card.waitFor({ timeout: 60_000 })
  await swReady(v)
  // Open the delivery once online so its address is on the phone.
  await card.click()
  await v.locator('[data-testid="address"]').waitFor({ timeout: 60_000 })
  await v.goBack()
  const checkinCard = v.locator('[data-testid="todo"] .card[data-kind="episode"]').first()
  await checkinCard.waitFor({ timeout: 30_000 })
  await waitUntil(async () => (await appState(v))?.connection === "online", 30_000, "volunteer online")
  // The check-in goes into the episode's readings, which the inbox lists beside it.
  const firstEpisode = await checkinCard.getAttribute("data-id")
  await waitUntil(() => v.evaluate(id => !!window.linli.store.readings(id), firstEpisode), 30_000, "the episode's readings on the phone")
  await shot(v, "04-volunteer-today")

  // ---- offline: complete the delivery and a check-in ----------------------------------
  await volCtx.setOffline(true)
  await waitUntil(async () => (await appState(v))?.connection === "offline", 15_000, "the app noticing it is offline")
  await card.click()
  for (const step of ["accepted", "picked_up", "delivered"]) {
    await v.locator(`[data-step="${step}"]`).click()
  }
  await v.locator('[data-testid="steps"]').waitFor({ state: "detached" })
  await shot(v, "05-volunteer-delivered-offline")
  await v.goBack()

  await checkinCard.click()
  const form = v.locator('[data-testid="checkin-form"]')
  await form.waitFor()
  const episodeId = decodeURIComponent(new URL(v.url()).hash.split("/")[2])
  await v.locator('input[name="temp"]').fill("38.2")
  await v.locator('[data-testid="fever-warning"]').waitFor()
  await v.getByRole("button", { name: "咳嗽" }).click()
  await shot(v, "06-volunteer-checkin-form")
  await v.getByRole("button", { name: "提交打卡" }).click()
  await v.locator('[data-testid="todo"]').waitFor()
  assert.equal((await appState(v)).pending, 2, "two documents wait to sync")
  await v.locator(".sync-pending").waitFor()

  // Nothing has reached the server.
  const during = await dashboard(base, coordApi.token)
  assert.equal(during.tasks.delivered ?? 0, deliveredBefore, "the server has not seen the delivery yet")

  // ---- reload with no network: the app still opens, the work is still there -----------
  await v.reload()
  await v.locator(`[data-testid="done"] .card[data-id="${taskId}"]`).waitFor({ timeout: 30_000 })
  await waitUntil(async () => (await appState(v))?.pending === 2, 30_000, "changes still waiting after the reload")
  assert.match(await v.locator('[data-testid="sync"]').innerText(), /离线[\s\S]*2 项待同步/)
  await shot(v, "07-volunteer-reloaded-offline")
  // A new tab (the browser closed and opened again), still offline.
  const tab = await volCtx.newPage()
  await tab.goto(`${base}/`)
  await tab.locator(`[data-testid="done"] .card[data-id="${taskId}"]`).waitFor({ timeout: 30_000 })
  await tab.close()
  await v.goto(`${base}/#/episode/${episodeId}`)
  await v.locator('[data-testid="history"] li.abnormal').first().waitFor()
  assert.match(await v.locator('[data-testid="history"]').innerText(), /38\.2 °C/)
  await shot(v, "08-volunteer-checkin-history")

  // ---- back online: it syncs by itself ------------------------------------------------
  await volCtx.setOffline(false)
  await waitUntil(async () => (await appState(v))?.pending === 0, 60_000, "everything synced").catch(async e => {
    const state = await v.evaluate(() => ({ online: navigator.onLine, ...window.linli.state.data, docs: undefined, rows: undefined, summaries: undefined }))
    console.error("volunteer state:", JSON.stringify(state), "\nserver log:", e2e.stack.linli.log().slice(-5000))
    throw e
  })
  assert.equal((await appState(v)).notices, 0, "nothing was refused")
  await v.goto(`${base}/#/`)
  await shot(v, "09-volunteer-synced")

  // ---- the coordinator sees the delivery done and the check-in's alert ----------------
  await coord.goto(`${base}/#/`)
  await waitUntil(
    async () => {
      await coord.getByRole("button", { name: "刷新" }).click()
      const delivered = await coord.locator('[data-testid="task-counts"] [data-status="delivered"] strong').innerText().catch(() => "0")
      const alerts = await coord.locator('[data-testid="alerts"]').innerText().catch(() => "")
      const confirm = await coord.locator(`[data-testid="to-confirm"] a[data-id="${taskId}"]`).count()
      const fever = await coord.locator(`[data-testid="alerts"] li[data-kind="fever"][data-doc="${episodeId}"]`).count()
      return Number(delivered) === deliveredBefore + 1 && fever > 0 && !/38\.2/.test(alerts) && confirm === 1
    },
    60_000,
    "the dashboard showing the delivery and the fever alert, without the reading (DESIGN §9)",
  )
  await shot(coord, "10-coordinator-dashboard-after")
  const after = await dashboard(base, coordApi.token)
  assert.equal(after.tasks.delivered, deliveredBefore + 1)

  await coord.goto(`${base}/#/task/${taskId}`)
  await coord.getByText("已送达").first().waitFor()
  await shot(coord, "11-coordinator-delivery-done")
  await coord.goto(`${base}/#/alerts`)
  await coord.locator('[data-testid="alerts"]').waitFor()
  await shot(coord, "12-coordinator-alerts")
  // Acknowledge the new fever alert.
  const fever = coord.locator(`[data-testid="alerts"] li[data-kind="fever"][data-doc="${episodeId}"]`).first()
  assert.doesNotMatch(await coord.locator('[data-testid="alerts"]').innerText(), /38\.2/, "a coordinator's alert carries no reading")
  await fever.getByRole("button", { name: "已知晓" }).click()
  await waitUntil(async () => (await fever.innerText()).includes("已知晓") && (await fever.getByRole("button", { name: "已知晓" }).count()) === 0, 30_000, "the alert acknowledged")
  // The observation on the coordinator's screen: its status and alerts, never the reading
  // (the readings are the volunteer's and the medics', DESIGN §9).
  await coord.goto(`${base}/#/episode/${episodeId}`)
  await coord.locator('[data-testid="readings-hidden"]').waitFor({ timeout: 30_000 })
  assert.doesNotMatch(await coord.locator("main").innerText(), /38\.2|°C/, "a reading on the coordinator's screen")
  // A CSV export needs a purpose: the button waits for one, and the file names it.
  await coord.goto(`${base}/#/settings`)
  const exportTasks = coord.getByRole("button", { name: "送货任务" })
  assert.ok(await exportTasks.isDisabled(), "an export without a purpose")
  await coord.getByLabel("导出用途").fill("核对今日送货")
  const [download] = await Promise.all([coord.waitForEvent("download"), exportTasks.click()])
  assert.equal(download.suggestedFilename(), "linli-tasks.csv")
  const csv = await (await import("node:fs/promises")).readFile(await download.path(), "utf8")
  assert.ok(csv.startsWith("\ufeff"), "a UTF-8 byte order mark, for Excel")
  assert.match(csv, /^导出目的,核对今日送货\r?$/m)
  assert.match(csv, /^编号,网格,住户编号,地址,类别/m)
  assert.ok(csv.includes(taskId), "the export lists the new delivery")
  await shot(coord, "14-coordinator-settings")

  // English works too.
  await coord.goto(`${base}/#/alerts`)
  await coord.locator('[data-testid="alerts"]').waitFor()
  await coord.getByRole("button", { name: "切换到英文" }).click()
  await coord.getByRole("heading", { name: "Alerts" }).waitFor()
  await shot(coord, "13-coordinator-alerts-en")

  assertNoTokenInUrls(volCtx)
  assertNoTokenInUrls(coordCtx)
  await volCtx.close()
  await coordCtx.close()
}
