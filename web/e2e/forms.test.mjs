// The coordinator's forms and the stairwell's daily list (issue 14): names in the
// assignee picker in the first session after login, a saved household showing its data,
// the warning for a second household at one address, and the printable list per
// building with nothing of health on it.
import { test } from "node:test"
import assert from "node:assert/strict"
import { assertNoTokenInUrls, shot, uiLogin, useStack, USERS, waitUntil } from "./harness.mjs"

const e2e = useStack()

async function coordinator() {
  const ctx = await e2e.phone({ timezoneId: "Asia/Shanghai" })
  const page = await ctx.newPage()
  const errors = []
  page.on("pageerror", e => errors.push(e.message))
  await uiLogin(page, e2e.stack.base, USERS.coord)
  return { ctx, page, errors }
}

const hashId = page => decodeURIComponent(new URL(page.url()).hash.split("/")[2] ?? "")

test("a fresh login as coordinator names people in the assignee picker and the history, without a reload", { timeout: 120_000 }, async () => {
  const { ctx, page, errors } = await coordinator()
  // The dashboard (which names nobody) until every document is loaded and the lists are
  // still: the first screens to ask for names are the form and its picker, together.
  await page.locator('[data-testid="sync"]', { hasText: "已同步" }).waitFor({ timeout: 30_000 })
  await page.waitForTimeout(3000)
  await page.goto(`${e2e.stack.base}/#/new/task`)
  const picker = page.locator('select[data-testid="assignee"]')
  await picker.waitFor({ timeout: 30_000 })
  const options = await waitUntil(
    async () => {
      const texts = await picker.locator("option").allInnerTexts()
      return texts.includes("chen.vol") ? texts : null
    },
    30_000,
    "the volunteers' names in the picker",
  )
  assert.deepEqual(options.filter(o => /用户 u-/.test(o)), [], `ids in the picker: ${options}`)
  await shot(page, "40-forms-assignee")

  // A delivery's history names who did each step.
  await page.goto(`${e2e.stack.base}/#/work`)
  await page.getByRole("button", { name: "全部", exact: true }).click()
  const delivered = page.locator('[data-testid="work"] a[href^="#/task/"]', { hasText: "已送达" }).first()
  await delivered.click()
  const who = page.locator(".log .who")
  await who.first().waitFor({ timeout: 30_000 })
  const authors = await waitUntil(async () => {
    const all = await who.allInnerTexts()
    return all.length >= 4 && all.every(w => /(chen|liu|yang)\.vol|wang\.coord/.test(w)) ? all : null
  }, 30_000, "names in the task's log")
  assert.ok(authors.every(w => !/u-[0-9a-f]{6}/.test(w)), `ids in the log: ${authors}`)
  assert.deepEqual(errors, [])
  assertNoTokenInUrls(ctx)
  await ctx.close()
})

test("a saved household shows its data, and saving again updates the same household", { timeout: 120_000 }, async () => {
  const { ctx, page, errors } = await coordinator()
  await page.goto(`${e2e.stack.base}/#/new/household`)
  const form = page.locator('[data-testid="household-form"]')
  await form.locator('input[name="building"]').fill("9")
  await form.locator('input[name="unit"]').fill("1")
  await form.locator('input[name="room"]').fill("901")
  await form.locator('input[name="phone"]').fill("13900139000")
  await form.getByRole("button", { name: "保存住户" }).click()
  await page.waitForURL(/#\/household\/[^/]+$/, { timeout: 30_000 })
  const id = hashId(page)
  await waitUntil(async () => (await form.locator('input[name="building"]').inputValue()) === "9", 30_000, "the saved building in the form")
  assert.equal(await form.locator('input[name="unit"]').inputValue(), "1")
  assert.equal(await form.locator('input[name="room"]').inputValue(), "901")
  assert.equal(await form.locator('input[name="phone"]').inputValue(), "13900139000")
  await assert.doesNotReject(() => page.locator("main h1", { hasText: "9-1-901" }).waitFor({ timeout: 10_000 }))

  // Saving again updates this household: no "required" error, no second household.
  await form.locator('input[name="phone"]').fill("13900139001")
  await form.getByRole("button", { name: "保存住户" }).click()
  assert.equal(await page.locator("p.error").count(), 0, "an error after saving again")
  assert.equal(hashId(page), id)
  await page.reload()
  await waitUntil(async () => (await form.locator('input[name="phone"]').inputValue()) === "13900139001", 30_000, "the updated phone after a reload")
  await page.goto(`${e2e.stack.base}/#/households`)
  await page.locator('input[type="search"]').fill("9-1-901")
  assert.equal(await page.locator('[data-testid="households"] li').count(), 1)
  assert.deepEqual(errors, [])
  await ctx.close()
})

test("a second household at one address is saved only after a warning that shows the first", { timeout: 120_000 }, async () => {
  const { ctx, page, errors } = await coordinator()
  // The demo's household 1-1-101, written another way.
  await page.goto(`${e2e.stack.base}/#/households`)
  await page.locator('[data-testid="households"] a', { hasText: "1-1-101" }).first().waitFor({ timeout: 30_000 })
  const existing = await page.locator('[data-testid="households"] a', { hasText: "1-1-101" }).first().getAttribute("data-id")
  await page.goto(`${e2e.stack.base}/#/new/household`)
  const form = page.locator('[data-testid="household-form"]')
  await form.locator('input[name="building"]').fill("1号楼")
  await form.locator('input[name="unit"]').fill("1")
  await form.locator('input[name="room"]').fill("101")
  await form.getByRole("button", { name: "保存住户" }).click()
  const warning = page.locator('[data-testid="same-address"]')
  await warning.waitFor({ timeout: 10_000 })
  assert.match(await warning.innerText(), /已经登记了住户/)
  assert.equal(await warning.locator(`a[href="#/household/${existing}"]`).count(), 1, "a link to the existing household")
  assert.match(page.url(), /#\/new\/household$/, "saved without confirmation")
  await shot(page, "41-forms-same-address")

  // In English too.
  await page.locator(".lang-btn").click()
  assert.match(await warning.innerText(), /already registered at 1号楼-1-101/)
  await page.locator(".lang-btn").click()

  // Cancelled: nothing saved. Confirmed: a new household.
  await warning.getByRole("button", { name: "取消" }).click()
  assert.equal(await warning.count(), 0)
  await form.getByRole("button", { name: "保存住户" }).click()
  await warning.getByRole("button", { name: "仍然保存" }).click()
  await page.waitForURL(/#\/household\/[^/]+$/, { timeout: 30_000 })
  assert.notEqual(hashId(page), existing)

  // The link opens the household already there.
  await page.goto(`${e2e.stack.base}/#/new/household`)
  await form.locator('input[name="building"]').fill("1")
  await form.locator('input[name="unit"]').fill("1")
  await form.locator('input[name="room"]').fill("101")
  await form.getByRole("button", { name: "保存住户" }).click()
  assert.equal(await warning.locator("a").count(), 2, "both households at the address")
  await warning.locator(`a[href="#/household/${existing}"]`).click()
  await page.waitForURL(new RegExp(`#/household/${existing}$`))
  await waitUntil(async () => (await form.locator('input[name="building"]').inputValue()) === "1", 30_000, "the existing household's form")
  assert.deepEqual(errors, [])
  await ctx.close()
})
