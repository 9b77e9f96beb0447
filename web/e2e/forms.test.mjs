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
  await page.goto(`${e2e.stack.base}/#/work?kind=task&status=all`)
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

test("the daily list per building: today's work with boxes to tick, nothing of health, no navigation in print", { timeout: 180_000 }, async () => {
  // What the demo's episodes hold: names, reasons, temperatures, symptoms — read on a
  // medic's phone, since a coordinator's holds no readings (DESIGN §9).
  const medic = await e2e.phone({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1, isMobile: false, hasTouch: false, timezoneId: "Asia/Shanghai" })
  const med = await medic.newPage()
  await uiLogin(med, e2e.stack.base, USERS.medic)
  await med.goto(`${e2e.stack.base}/#/work`)
  const links = med.locator('[data-testid="work"] a[href^="#/episode/"]')
  await links.first().waitFor({ timeout: 30_000 })
  const episodes = await links.evaluateAll(as => as.map(a => a.getAttribute("href")))
  assert.ok(episodes.length >= 4, `episodes: ${episodes}`)
  const planted = new Set()
  for (const href of episodes) {
    await med.goto(`${e2e.stack.base}/${href}`)
    const history = med.locator('[data-testid="history"] li')
    await history.first().waitFor({ timeout: 30_000 })
    planted.add((await med.locator("main h1").innerText()).trim())
    planted.add((await med.locator(".detail-head .chip").nth(1).innerText()).trim())
    for (const text of await history.allInnerTexts()) {
      for (const m of text.matchAll(/\d{2}\.\d/g)) planted.add(m[0])
      for (const word of ["发热", "咳嗽"]) if (text.includes(word)) planted.add(word)
    }
  }
  await medic.close()
  const { ctx, page, errors } = await coordinator()
  assert.ok([...planted].some(p => /^3[78]\.\d$/.test(p)), `the demo's fever: ${[...planted]}`)
  assert.ok(planted.has("咳嗽"), `the demo's symptoms: ${[...planted]}`)
  // The households' medicines (the demo's chronic patients), and medicine deliveries.
  for (const m of ["胰岛素", "降压药"]) planted.add(m)

  // Reached from the households screen, building 3 (where the demo's episodes are).
  await page.goto(`${e2e.stack.base}/#/households`)
  await page.locator('[data-testid="print-links"] a', { hasText: "3 号楼" }).click()
  await page.waitForURL(/#\/print\?building=3$/)
  const list = page.locator('[data-testid="print-list"]')
  await list.locator("table").first().waitFor({ timeout: 30_000 })
  const visits = await list.locator("tbody tr", { hasText: "上门探访" }).count()
  assert.ok(visits >= 2, `check-in visits on building 3's list: ${visits}`)
  assert.equal(await list.locator("h2").count(), 1)
  assert.equal(await list.locator("tbody tr .box").count(), await list.locator("tbody tr").count(), "a box to tick on every row")
  await shot(page, "42-forms-print-building")

  // Every building: the medicine deliveries are counted, never named.
  await page.locator('[data-testid="print-building"]').selectOption("")
  await page.waitForURL(/#\/print$/)
  await waitUntil(async () => (await list.locator("h2").count()) >= 5, 30_000, "every building's sheet")
  await waitUntil(async () => /药品 ×2/.test(await list.innerText()), 30_000, "a medicine delivery")
  await shot(page, "43-forms-print-all")
  const text = await page.locator("body").innerText()
  for (const p of planted) assert.ok(!text.includes(p), `the print page shows ${JSON.stringify(p)}`)
  assert.doesNotMatch(text, /°C|\b3[4-9]\.\d\b|4[0-3]\.\d/)
  // In English the medicines are counted too.
  await page.locator(".lang-btn").click()
  await waitUntil(async () => /medicine ×2/.test(await list.innerText()), 10_000, "a medicine delivery in English")
  for (const p of planted) assert.ok(!(await page.locator("body").innerText()).includes(p), `the English print page shows ${p}`)
  await page.locator(".lang-btn").click()

  // Printed: no top bar or navigation, black on white, a page per building, A4.
  await page.emulateMedia({ media: "print" })
  assert.equal(await page.locator(".topbar").isVisible(), false, "the top bar in print")
  assert.equal(await page.locator("nav.bottomnav").isVisible(), false, "the navigation in print")
  assert.equal(await page.locator('[data-testid="print"]').isVisible(), false, "the print button in print")
  const style = await page.evaluate(() => {
    const sheet = document.querySelector(".print-sheet")
    return {
      color: getComputedStyle(document.body).color,
      background: getComputedStyle(document.body).backgroundColor,
      breakAfter: getComputedStyle(sheet).breakAfter,
    }
  })
  assert.equal(style.color, "rgb(0, 0, 0)")
  assert.equal(style.background, "rgb(255, 255, 255)")
  assert.equal(style.breakAfter, "page")
  await shot(page, "44-forms-print-media")
  const pdf = await page.pdf({ format: "A4", printBackground: true })
  assert.ok(pdf.length > 1000)
  await page.emulateMedia({ media: "screen" })
  assert.equal(await page.locator("nav.bottomnav").isVisible(), true)
  assert.deepEqual(errors, [])
  await ctx.close()
})
