// Every role's screens open at 360 px without script errors (admins get the
// coordinator's shell, medics one of home observations without deliveries; a volunteer
// of the other grid sees only their own work).
import { test } from "node:test"
import assert from "node:assert/strict"
import { assertNoTokenInUrls, shot, uiLogin, useStack } from "./harness.mjs"

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
