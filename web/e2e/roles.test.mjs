// Every role's screens open at 360 px without script errors (medic and admin get the
// coordinator's shell; a volunteer of the other grid sees only their own work).
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
    assert.deepEqual(errors, [])
    assertNoTokenInUrls(ctx)
    await ctx.close()
  })
}
