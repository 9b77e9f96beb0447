// Every role's screens open at 360 px without script errors (admins get the
// coordinator's shell, medics one of home observations without deliveries; a volunteer
// of the other grid sees only their own work). Readings are the volunteer's and the
// medics' (DESIGN §9): a coordinator's observation screen shows no check-ins and offers
// no check-in form, and their phone holds no readings; a medic takes a check-in by phone,
// into the episode's readings, and the server takes it.
import { test } from "node:test"
import assert from "node:assert/strict"
import { assertNoTokenInUrls, shot, uiLogin, USERS, useStack, waitUntil } from "./harness.mjs"

const e2e = useStack()

const ROLES = [
  { username: "admin", password: "demo-admin-2026", screens: ["", "work", "households", "alerts", "settings"] },
  { username: "zhao.medic", password: "demo-medic-2026", screens: ["", "work", "alerts", "settings"] },
  { username: "li.coord", password: "demo-coord-2026", screens: ["", "work", "households", "new/task", "new/episode", "new/household"] },
  { username: "huang.vol", password: "demo-vol-2026", screens: ["", "settings"] },
]

for (const role of ROLES) {
  test(`${role.username}: every screen opens`, { timeout: 90_000 }, async () => {
    const ctx = await e2e.phone({ timezoneId: "Asia/Shanghai" })
    const page = await ctx.newPage()
    const errors = []
    page.on("pageerror", e => errors.push(e.message))
    await uiLogin(page, e2e.stack.base, role)
    for (const path of role.screens) {
      await page.goto(`${e2e.stack.base}/#/${path}`)
      await page.locator("main h1").first().waitFor({ timeout: 30_000 })
      await page.waitForTimeout(300)
      await shot(page, `30-${role.username}-${path.replace(/\//g, "-") || "home"}`)
    }
    if (role.username === "zhao.medic") {
      // No deliveries anywhere in a medic's shell: not in the navigation, the work list
      // (home observations only) or the dashboard.
      const nav = await page.locator("nav.bottomnav").innerText()
      assert.match(nav, /居家观察/)
      assert.doesNotMatch(nav, /住户|工作/, `the medic's navigation: ${nav}`)
      await page.goto(`${e2e.stack.base}/#/work`)
      await page.locator("main h1", { hasText: "居家观察" }).waitFor()
      await page.locator('[data-testid="work"] a').first().waitFor({ timeout: 30_000 })
      assert.equal(await page.getByRole("button", { name: "送货", exact: true }).count(), 0, "a deliveries filter")
      const hrefs = await page.locator('[data-testid="work"] a').evaluateAll(as => as.map(a => a.getAttribute("href")))
      assert.ok(hrefs.length > 0 && hrefs.every(h => h.startsWith("#/episode/")), `the medic's work: ${hrefs}`)
      await page.goto(`${e2e.stack.base}/#/`)
      await page.locator('[data-testid="dashboard"]').waitFor({ timeout: 30_000 })
      assert.equal(await page.locator('[data-testid="task-counts"], [data-testid="to-confirm"]').count(), 0, "delivery panels on the medic's dashboard")
    }
    assert.deepEqual(errors, [])
    assertNoTokenInUrls(ctx)
    await ctx.close()
  })
}

test("a coordinator sees an observation without its readings and takes no check-in; a medic checks in by phone", { timeout: 120_000 }, async () => {
  const base = e2e.stack.base
  const coordCtx = await e2e.phone({ timezoneId: "Asia/Shanghai" })
  const coord = await coordCtx.newPage()
  const errors = []
  coord.on("pageerror", e => errors.push(e.message))
  await uiLogin(coord, base, USERS.coord)
  await coord.goto(`${base}/#/work?kind=episode`)
  const link = coord.locator('[data-testid="work"] a[href^="#/episode/"]').first()
  await link.waitFor({ timeout: 30_000 })
  const id = decodeURIComponent((await link.getAttribute("href")).split("/")[2])
  await link.click()
  await coord.locator('[data-testid="readings-hidden"]').waitFor({ timeout: 30_000 })
  assert.equal(await coord.locator('[data-testid="history"], [data-testid="checkin-link"]').count(), 0, "check-ins on the coordinator's screen")
  assert.doesNotMatch(await coord.locator("main").innerText(), /°C/, "a reading on the coordinator's screen")
  await shot(coord, "31-coordinator-episode-no-readings")
  // Asked for the form all the same (an old link), the screen says whose check-ins are.
  await coord.goto(`${base}/#/checkin/${id}`)
  await coord.locator('[data-testid="checkin-not-yours"]').waitFor({ timeout: 30_000 })
  assert.equal(await coord.locator('[data-testid="checkin-form"]').count(), 0, "a check-in form for the coordinator")
  const held = await coord.evaluate(() => Object.values(window.linli.state.data.docs).filter(d => d.kind === "readings" || d.kind === "medical").length)
  assert.equal(held, 0, "readings or medical records on the coordinator's phone")
  const readingsId = await coord.evaluate(id => window.linli.store.readingsId(id), id)
  assert.ok(readingsId, "the episode links its readings")

  const medCtx = await e2e.phone({ timezoneId: "Asia/Shanghai" })
  const med = await medCtx.newPage()
  med.on("pageerror", e => errors.push(e.message))
  await uiLogin(med, base, USERS.medic)
  await med.goto(`${base}/#/episode/${id}`)
  await med.locator('[data-testid="history"] li').first().waitFor({ timeout: 30_000 })
  const before = await med.locator('[data-testid="history"] li').count()
  await med.locator('[data-testid="checkin-link"]', { hasText: "电话打卡" }).click()
  const form = med.locator('[data-testid="checkin-form"]')
  await form.waitFor({ timeout: 30_000 })
  assert.equal(await form.getByRole("radio", { name: "电话" }).getAttribute("aria-checked"), "true", "a medic's check-in is by phone")
  await med.locator('input[name="temp"]').fill("36.9")
  await form.locator('button[type="submit"]').click()
  await waitUntil(async () => med.evaluate(() => window.linli.state.data.pending === 0 && window.linli.state.data.connection === "online"), 30_000, "the medic's check-in synced")
  const mine = await med.evaluate(
    ({ id, me }) => Object.values(window.linli.store.readings(id)?.checkins ?? {}).filter(c => c.by === me && c.method === "phone" && c.temp_c === 36.9).length,
    { id, me: await med.evaluate(() => window.linli.state.session.user.id) },
  )
  assert.equal(mine, 1, "the medic's check-in in the readings")
  assert.equal(await med.evaluate(() => window.linli.state.data.notices.length), 0, "the check-in refused")
  await med.goto(`${base}/#/episode/${id}`)
  await waitUntil(async () => (await med.locator('[data-testid="history"] li').count()) === before + 1, 30_000, "the check-in in the history")
  await shot(med, "32-medic-episode-after-phone-checkin")
  // The coordinator's phone still holds no readings, and shows none.
  await coord.goto(`${base}/#/episode/${id}`)
  await coord.locator('[data-testid="readings-hidden"]').waitFor({ timeout: 30_000 })
  assert.doesNotMatch(await coord.locator("main").innerText(), /36\.9/)
  assert.deepEqual(errors, [])
  assertNoTokenInUrls(coordCtx)
  assertNoTokenInUrls(medCtx)
  await coordCtx.close()
  await medCtx.close()
})
