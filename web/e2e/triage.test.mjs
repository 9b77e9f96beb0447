// Issue 14, the coordinator's desk at 360×780 (on the injected clock, CLOCKS.morning):
// alerts grouped and ordered by severity, resolved with a note into 已处理; the
// dashboard's 14-day charts without sideways scroll; a failed delivery sent again.
import { test } from "node:test"
import assert from "node:assert/strict"
import { USERS, shot, uiLogin, useStack, waitUntil } from "./harness.mjs"

const e2e = useStack()
const SIZE = { viewport: { width: 360, height: 780 }, timezoneId: "Asia/Shanghai" }
const RANK = { red: 0, amber: 1, info: 2 }

async function scrollWidth(page) {
  return page.evaluate(() => document.documentElement.scrollWidth)
}

async function coordinator() {
  const ctx = await e2e.phone(SIZE)
  const page = await ctx.newPage()
  const errors = []
  page.on("pageerror", e => errors.push(e.message))
  await uiLogin(page, e2e.stack.base, USERS.coord)
  return { ctx, page, errors }
}

test("alerts are grouped by severity, and one resolved with a note shows in 已处理", { timeout: 120_000 }, async () => {
  const { ctx, page, errors } = await coordinator()
  await page.goto(`${e2e.stack.base}/#/alerts`)
  const items = page.locator('[data-testid="alerts"] li.alert')
  await items.first().waitFor({ timeout: 30_000 })
  const order = await items.evaluateAll(ls => ls.map(l => ({ sev: l.dataset.severity, kind: l.dataset.kind })))
  assert.ok(order.every((a, i) => i === 0 || RANK[order[i - 1].sev] <= RANK[a.sev]), `ordered by severity: ${JSON.stringify(order)}`)
  // The demo's three days abnormal is red, at the top, not 12th of 15 in one colour.
  const three = order.findIndex(a => a.kind === "three_days_abnormal")
  assert.ok(three >= 0 && order[three].sev === "red", `three days abnormal: ${JSON.stringify(order)}`)
  assert.equal(order[0].sev, "red")
  assert.match(await page.locator('[data-testid="alerts"] .alert-group.red h3').innerText(), /紧急/)
  assert.ok(await scrollWidth(page) <= 360, "the alert list scrolls sideways")
  await shot(page, "40-triage-alerts")

  // Resolve the first red alert: a note is required.
  const first = items.first()
  const doc = await first.getAttribute("data-doc")
  const kind = await first.getAttribute("data-kind")
  await first.getByRole("button", { name: "已解决" }).click()
  const confirm = first.locator('[data-testid="resolve-confirm"]')
  assert.equal(await confirm.isDisabled(), true, "resolving without a note")
  await first.locator('[data-testid="resolve-note"]').fill("已电话联系，安排上门复测")
  assert.ok(await scrollWidth(page) <= 360, "the note form scrolls sideways")
  await shot(page, "41-triage-resolve-note")
  await confirm.click()
  const same = page.locator(`[data-testid="alerts"] li.alert[data-doc="${doc}"][data-kind="${kind}"]`)
  const before = order.filter(a => a.kind === kind).length
  await waitUntil(async () => (await items.count()) === order.length - 1, 30_000, "the resolved alert leaves the open list")
  assert.ok((await same.count()) <= before - 1 || before > 1)

  await page.getByRole("radio", { name: "已处理" }).click()
  const history = page.locator('[data-testid="alert-history"]')
  await history.waitFor({ timeout: 30_000 })
  const entry = history.locator("li", { hasText: "已电话联系，安排上门复测" })
  await entry.first().waitFor({ timeout: 30_000 })
  assert.match(await entry.first().innerText(), /wang\.coord/, "who resolved it")
  assert.ok(await scrollWidth(page) <= 360, "the history scrolls sideways")
  await shot(page, "42-triage-history")
  assert.deepEqual(errors, [])
  await ctx.close()
})

test("the dashboard draws its 14-day charts on a 360 px phone", { timeout: 90_000 }, async () => {
  const { ctx, page, errors } = await coordinator()
  await page.goto(`${e2e.stack.base}/#/`)
  for (const id of ["checkins", "alerts", "deliveries"]) {
    await page.locator(`[data-testid="chart-${id}"] svg`).waitFor({ timeout: 30_000 })
  }
  const bars = await page.locator('[data-testid="chart-checkins"] rect').count()
  assert.equal(bars, 28, "14 days of due and done")
  const box = await page.locator('[data-testid="charts"]').boundingBox()
  assert.ok(box && box.x >= 0 && box.x + box.width <= 360, `the charts fit: ${JSON.stringify(box)}`)
  assert.ok(await scrollWidth(page) <= 360, `the dashboard is ${await scrollWidth(page)} px wide`)
  const label = await page.locator('[data-testid="chart-checkins"] svg').getAttribute("aria-label")
  assert.match(label, /应打 \d+/)
  await page.locator('[data-testid="charts"]').scrollIntoViewIfNeeded()
  await shot(page, "43-triage-charts")
  assert.deepEqual(errors, [])
  await ctx.close()
})

test("a failed delivery is sent again", { timeout: 90_000 }, async () => {
  const { ctx, page, errors } = await coordinator()
  await page.goto(`${e2e.stack.base}/#/`)
  const failed = page.locator('[data-testid="to-confirm"] li a', { hasText: "未送达" }).first()
  await failed.waitFor({ timeout: 30_000 })
  const id = await failed.getAttribute("data-id")
  await failed.click()
  const resend = page.locator('[data-testid="resend"]')
  await resend.waitFor({ timeout: 30_000 })
  assert.ok(await scrollWidth(page) <= 360, "the task screen scrolls sideways")
  await shot(page, "44-triage-resend")
  await resend.locator('[data-testid="resend-button"]').click()
  await waitUntil(async () => /已分配/.test(await page.locator(".detail-head").innerText()), 30_000, "the task assigned again")
  const log = await page.locator(".log").innerText()
  assert.match(log, /未送达 → 已分配/, `the log: ${log}`)
  assert.match(log, /已取货 → 未送达/, "the failure stays in the log")
  // The server accepted it: the dashboard no longer lists it to confirm.
  await page.goto(`${e2e.stack.base}/#/`)
  await page.locator('[data-testid="to-confirm"]').waitFor()
  await waitUntil(async () => (await page.locator(`[data-testid="to-confirm"] a[data-id="${id}"]`).count()) === 0, 30_000, "off the list to confirm")
  await page.waitForTimeout(500)
  assert.equal(await page.locator(".notice, .banner.bad").filter({ hasText: "拒绝" }).count(), 0, "a refusal")
  assert.deepEqual(errors, [])
  await ctx.close()
})

test("the risk level asks before it changes, saying what changes", { timeout: 90_000 }, async () => {
  const { ctx, page, errors } = await coordinator()
  await page.goto(`${e2e.stack.base}/#/settings`)
  const high = page.getByRole("radio", { name: "高风险" })
  await high.click()
  const ask = page.locator('[data-testid="risk-confirm"]')
  await ask.waitFor()
  const text = await ask.innerText()
  assert.match(text, /每天打卡 2 次/, text)
  assert.match(text, /无接触配送/, text)
  assert.ok(await scrollWidth(page) <= 360, "the question scrolls sideways")
  await shot(page, "45-triage-risk-confirm")
  await ask.getByRole("button", { name: "取消" }).click()
  assert.equal(await page.getByRole("radio", { name: "低风险" }).getAttribute("aria-checked"), "true", "cancelled")
  await high.click()
  await ask.getByRole("button", { name: "设为高风险" }).click()
  await waitUntil(async () => (await high.getAttribute("aria-checked")) === "true" && (await ask.count()) === 0, 30_000, "set to high")
  await waitUntil(async () => /已按新要求调整/.test(await page.locator("#toast").innerText()), 10_000, "the toast says what was applied")
  assert.deepEqual(errors, [])
  await ctx.close()
})
