// The dashboard's 漏打卡 (missed check-ins) count opens the observations behind it. The
// server starts at 10:00 and its clock is moved to 21:00, past the day's 20:00 check-in
// deadline (a slot that was already past when the server learnt of the episode raises
// nothing, so the demo's start time alone would show none); the list the count opens
// holds only observations with a missed slot, each marked 逾期 (issue 14).
import { test } from "node:test"
import assert from "node:assert/strict"
import { CLOCKS, USERS, uiLogin, useStack, waitUntil } from "./harness.mjs"

const e2e = useStack({ clock: CLOCKS.morning })
const EVENING = "2026-03-16T21:00:00+08:00"

test("漏打卡 opens the observations with a check-in past its deadline, each marked overdue", { timeout: 120_000 }, async () => {
  const advance_secs = (Date.parse(EVENING) - Date.parse(CLOCKS.morning)) / 1000
  const moved = await fetch(`${e2e.stack.linli.url}/api/test/clock`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ advance_secs }) })
  assert.ok(moved.ok, `POST /api/test/clock: ${moved.status}`)
  const ctx = await e2e.phone({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1, isMobile: false, hasTouch: false, timezoneId: "Asia/Shanghai" })
  await ctx.clock.setFixedTime(new Date(EVENING))
  const page = await ctx.newPage()
  await uiLogin(page, e2e.stack.base, USERS.coord)
  const tile = page.locator('[data-testid="dashboard"] a.tile', { hasText: "漏打卡" })
  await tile.waitFor({ timeout: 30_000 })
  const missed = await waitUntil(async () => Number(await tile.locator("strong").innerText()) || null, 30_000, "missed check-ins on the dashboard")
  assert.ok(missed >= 1, "the demo has missed check-ins at 21:00")
  await tile.click()
  await page.waitForURL(/#\/work\?kind=episode&overdue=1/)
  const rows = page.locator('[data-testid="work"] tbody tr')
  const n = await waitUntil(async () => (await rows.count()) || null, 30_000, "observations in the list")
  const texts = await rows.allInnerTexts()
  assert.ok(texts.every(t => t.includes("逾期")), `every row is marked overdue: ${texts.join(" | ")}`)
  // Not every observation: those checked in on time are not listed.
  await page.goto(`${e2e.stack.base}/#/work?kind=episode`)
  const all = await waitUntil(async () => (await rows.count()) || null, 30_000, "all observations")
  assert.ok(n <= all, `${n} overdue of ${all}`)
  await ctx.close()
})
