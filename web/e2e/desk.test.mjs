// The coordinator's desk (issue 14) at 1280×800, and the same screens at phone size:
// the side navigation and content using the width, no page wider than its window, the
// households table (sort, filter, search "3号楼"), the work list behind a dashboard
// count, the searchable household picker, item templates, and one delivery per
// household of a building that reaches the server — in Chinese and in English.
import { test } from "node:test"
import assert from "node:assert/strict"
import { USERS, apiLogin, assertNoTokenInUrls, shot, uiLogin, useStack, waitUntil } from "./harness.mjs"

const e2e = useStack()

const DESK = { viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1, isMobile: false, hasTouch: false }
const PHONE = { viewport: { width: 360, height: 780 } }
const LANGS = ["zh-CN", "en"]
// The demo's grid g1: buildings 1–5, four households each; building 3 has 3-1-303,
// 3-1-502, 3-2-401 and 3-2-603.
const BUILDING_3 = ["3-1-303", "3-1-502", "3-2-401", "3-2-603"]
const ROUTES = ["", "work", "households", "buildings", "new/task", "new/bulk?building=3", "work?kind=task&overdue=1"]

async function open(size, lang) {
  const ctx = await e2e.phone({ ...size, locale: lang, timezoneId: "Asia/Shanghai" })
  await ctx.addInitScript(l => localStorage.setItem("linli:lang", l), lang)
  const page = await ctx.newPage()
  page.errors = []
  page.on("pageerror", e => page.errors.push(e.message))
  await uiLogin(page, e2e.stack.base, USERS.coord)
  // Every household of the grid is on the device (the grid index lists them).
  await waitUntil(() => page.evaluate(() => Object.values(window.linli.state.data?.docs ?? {}).filter(d => d.kind === "household").length >= 20), 60_000, "the grid's households")
  return { ctx, page }
}

async function goto(page, path) {
  await page.goto(`${e2e.stack.base}/#/${path}`)
  await page.locator("main h1").first().waitFor({ timeout: 30_000 })
}

const pageWidth = page => page.evaluate(() => document.documentElement.scrollWidth)
const addresses = page => page.locator('[data-testid="households"] tbody tr td:first-child').allInnerTexts()

for (const lang of LANGS) {
  test(`${lang}: the desk at 1280×800 has a side navigation and uses the width; the phone keeps its column`, { timeout: 180_000 }, async () => {
    const desk = await open(DESK, lang)
    for (const path of ROUTES) {
      await goto(desk.page, path)
      await desk.page.waitForTimeout(300)
      const nav = await desk.page.locator("nav.bottomnav").boundingBox()
      assert.ok(nav && nav.x === 0 && nav.width <= 260 && nav.height >= 600, `${path}: a side navigation (${JSON.stringify(nav)})`)
      const main = await desk.page.locator("main.screen").boundingBox()
      assert.ok(main.width > 720 && main.x >= nav.width, `${path}: content ${main.width} px wide beside the navigation`)
      assert.ok((await pageWidth(desk.page)) <= 1280, `${path}: the page scrolls sideways`)
      await shot(desk.page, `40-desk-${lang}-${path.replace(/[/?&=]/g, "-") || "home"}`)
    }
    assert.ok(await desk.page.locator("nav.bottomnav a", { hasText: lang === "en" ? "Buildings" : "楼栋" }).isVisible())
    assert.deepEqual(desk.page.errors, [])
    assertNoTokenInUrls(desk.ctx)
    await desk.ctx.close()

    const phone = await open(PHONE, lang)
    for (const path of ROUTES) {
      await goto(phone.page, path)
      await phone.page.waitForTimeout(300)
      const nav = await phone.page.locator("nav.bottomnav").boundingBox()
      assert.ok(nav && nav.width === 360 && Math.round(nav.y + nav.height) === 780, `${path}: the bottom navigation (${JSON.stringify(nav)})`)
      assert.ok((await pageWidth(phone.page)) <= 360, `${path}: ${await pageWidth(phone.page)} px wide on a 360 px phone`)
      await shot(phone.page, `41-phone-${lang}-${path.replace(/[/?&=]/g, "-") || "home"}`)
    }
    assert.deepEqual(phone.page.errors, [])
    await phone.ctx.close()
  })
}

test("households table: special care first, filter by building, search 3号楼 / 3栋 / 3-2 / a name / a phone", { timeout: 120_000 }, async () => {
  const { ctx, page } = await open(DESK, "zh-CN")
  await goto(page, "households")
  const rows = page.locator('[data-testid="households"] tbody tr')
  await waitUntil(async () => (await rows.count()) === 20, 30_000, "20 households in the table")
  // Care-flagged households first (by default), the others after.
  const flagged = await rows.evaluateAll(trs => trs.map(tr => tr.querySelectorAll("td:nth-child(4) .chip").length))
  const firstPlain = flagged.indexOf(0)
  assert.ok(firstPlain > 0 && flagged.slice(firstPlain).every(n => n === 0), `special care first: ${flagged}`)
  assert.ok(flagged[0] >= flagged[firstPlain - 1], "most flags first")
  // Sort by address from the table's header.
  await page.locator("th button", { hasText: "地址" }).click()
  const byAddress = await addresses(page)
  assert.equal(byAddress[0], "1-1-101")
  assert.deepEqual(byAddress.slice(8, 12).sort(), BUILDING_3)
  // Filter by building; only with open work.
  await page.locator('[data-testid="filter-building"]').selectOption("3")
  assert.deepEqual((await addresses(page)).sort(), BUILDING_3)
  await page.locator('[data-testid="filter-building"]').selectOption("")
  const search = page.locator('[data-testid="household-search"]')
  for (const q of ["3号楼", "3栋", "３号楼"]) {
    await search.fill(q)
    assert.deepEqual((await addresses(page)).sort(), BUILDING_3, q)
  }
  await search.fill("3-2")
  assert.deepEqual((await addresses(page)).sort(), ["3-2-401", "3-2-603"])
  await search.fill("3-2-401")
  assert.deepEqual(await addresses(page), ["3-2-401"])
  const [name, phone] = (await rows.first().locator("td").allInnerTexts()).slice(1, 3)
  await search.fill("")
  await search.fill(name.split("、")[0])
  assert.deepEqual(await addresses(page), ["3-2-401"], `the name ${name}`)
  await search.fill(phone.slice(-4))
  assert.deepEqual(await addresses(page), ["3-2-401"], `the phone ${phone}`)
  await search.fill("")
  await page.locator('[data-testid="filter-flag"]').selectOption("elderly_alone")
  const elderly = await rows.evaluateAll(trs => trs.map(tr => tr.innerText))
  assert.ok(elderly.length > 0 && elderly.every(t => t.includes("独居老人")), "only the elderly living alone")
  await shot(page, "42-desk-households-filtered")
  assert.deepEqual(page.errors, [])
  await ctx.close()
})

test("a dashboard count opens the work list behind it; the list filters and sorts", { timeout: 120_000 }, async () => {
  const { ctx, page } = await open(DESK, "zh-CN")
  await goto(page, "")
  const tile = page.locator('[data-testid="dashboard"] a.tile', { hasText: "超时未送" })
  await tile.waitFor({ timeout: 30_000 })
  const overdue = Number(await tile.locator("strong").innerText())
  assert.ok(overdue >= 1, "the demo has an overdue delivery")
  await tile.click()
  await page.waitForURL(/#\/work\?.*overdue=1/)
  const rows = page.locator('[data-testid="work"] tbody tr')
  await waitUntil(async () => (await rows.count()) === overdue, 30_000, `${overdue} overdue rows`)
  assert.ok((await rows.allInnerTexts()).every(t => t.includes("逾期")), "every row is marked overdue")
  // The status count of the dashboard opens that status.
  await goto(page, "")
  const news = page.locator('[data-testid="task-counts"] a[data-status="new"]')
  const n = Number(await news.locator("strong").innerText())
  await news.click()
  await page.waitForURL(/status=new/)
  await waitUntil(async () => (await rows.count()) === n, 30_000, `${n} unassigned deliveries`)
  // Filters and sorting from the bar.
  await page.locator('[data-testid="filter-status"]').selectOption("all")
  await page.locator('[data-testid="filter-priority"]').selectOption("urgent")
  const urgent = await rows.locator("td:nth-child(3)").allInnerTexts()
  assert.ok(urgent.length > 0 && urgent.every(t => t === "紧急"), `urgent only: ${urgent}`)
  await page.locator('[data-testid="filter-priority"]').selectOption("")
  await page.locator('[data-testid="sort"]').selectOption("priority")
  const prios = await rows.locator("td:nth-child(3)").allInnerTexts()
  const rank = { 紧急: 0, 优先: 1, 普通: 2 }
  // Open work first, by priority within it.
  const statuses = await page.evaluate(() => [...document.querySelectorAll('[data-testid="work"] tbody tr')].map(tr => tr.querySelector(".chip").textContent))
  const firstDone = statuses.findIndex(s => ["已送达", "未送达", "已确认", "已取消", "已结束"].includes(s))
  const openPrios = prios.slice(0, firstDone < 0 ? prios.length : firstDone).filter(p => p in rank).map(p => rank[p])
  assert.deepEqual(openPrios, [...openPrios].sort((a, b) => a - b), `by priority: ${prios}`)
  // The table's headers sort too (due time is the default: no `sort` in the route).
  await page.locator("th button", { hasText: "截止时间" }).click()
  await page.waitForURL(u => !/sort=/.test(u.hash))
  await page.locator("th button", { hasText: "优先级" }).click()
  await page.waitForURL(/sort=priority/)
  await page.locator('[data-testid="filter-category"]').selectOption("medicine")
  const titles = await rows.locator("td:first-child").allInnerTexts()
  assert.ok(titles.length > 0 && titles.every(t => t.includes("药品")), `medicine only: ${titles}`)
  await shot(page, "43-desk-work-filtered")
  assert.deepEqual(page.errors, [])
  await ctx.close()
})

for (const lang of LANGS) {
  test(`${lang}: one delivery per household of building 3, from a template, reaches the server`, { timeout: 150_000 }, async () => {
    const en = lang === "en"
    const { token } = await apiLogin(e2e.stack.base, USERS.coord)
    const serverNew = async () => {
      const res = await fetch(`${e2e.stack.base}/api/grids/g1/dashboard`, { headers: { authorization: `Bearer ${token}` } })
      assert.equal(res.status, 200)
      return (await res.json()).tasks.new ?? 0
    }
    const before = await serverNew()
    const { ctx, page } = await open(DESK, lang)

    // The household picker of the single form searches the same way.
    await goto(page, "new/task")
    const search = page.locator('[data-testid="household-search"]')
    await search.fill(en ? "3栋" : "3号楼")
    const options = page.locator('[data-testid="household-option"]')
    assert.deepEqual((await options.locator("strong").allInnerTexts()).sort(), BUILDING_3)
    await search.fill("3-2-401")
    assert.deepEqual(await options.locator("strong").allInnerTexts(), ["3-2-401"])
    await options.first().click()
    assert.match(await page.locator('[data-testid="household-picked"]').innerText(), /3-2-401/)
    // A template fills the items; the current items can be saved as one of the user's own.
    await page.locator('[data-testid="template"]', { hasText: en ? "Standard food parcel" : "标准生活物资包" }).click()
    assert.equal(await page.locator('[data-testid="item-name"]').first().inputValue(), en ? "Rice" : "大米")
    await page.locator('[data-testid="item-name"]').nth(1).fill(en ? "Flour" : "面粉")
    await page.getByRole("button", { name: en ? "Save these items as a template" : "把当前物品存为模板" }).click()
    await page.locator('[data-testid="template-name"]').fill(en ? "Flour parcel" : "面粉包")
    await page.locator('[data-testid="template-save"]').click()

    // From the building view to the bulk form of building 3.
    await goto(page, "buildings")
    const b3 = page.locator('.building[data-building="3"]')
    await b3.waitFor()
    assert.deepEqual((await b3.locator(":scope .unit > ul > li > a strong").allInnerTexts()).sort(), BUILDING_3)
    await b3.locator('[data-testid="bulk-link"]').click()
    await page.waitForURL(/#\/new\/bulk\?building=3/)
    await page.locator('[data-testid="bulk-targets"]').waitFor()
    assert.match(await page.locator('[data-testid="bulk-targets"]').innerText(), /\b4\b/)
    await page.locator('[data-testid="template"]', { hasText: en ? "Flour parcel" : "面粉包" }).click()
    assert.equal(await page.locator('[data-testid="item-name"]').nth(1).inputValue(), en ? "Flour" : "面粉")
    await page.getByRole("radio", { name: en ? "Urgent" : "紧急" }).click()
    await shot(page, `44-desk-bulk-${lang}`)
    await page.locator('[data-testid="create"]').click()
    const confirm = page.getByRole("button", { name: en ? "Create 4 deliveries" : "创建 4 项送货" })
    await confirm.click()
    const done = await page.locator('[data-testid="bulk-done"]').innerText()
    assert.match(done, en ? /4 deliveries created for Building 3/ : /已为3号楼创建 4 项送货/)
    await waitUntil(() => page.evaluate(() => window.linli.state.data?.pending === 0), 30_000, "the deliveries synced")
    // The server has them: four more unassigned deliveries on its dashboard, and one new
    // row per household of building 3 in the grid index it writes.
    await waitUntil(async () => (await serverNew()) === before + 4, 30_000, "four new deliveries on the server")
    const created = await waitUntil(async () => {
      const rows = await page.evaluate(() => Object.values(window.linli.state.data.rows))
      const mine = rows.filter(r => r.kind === "task" && r.status === "new" && r.priority === "urgent" && r.title.startsWith("3-"))
      return mine.length >= 4 && mine
    }, 30_000, "the server's grid index lists them")
    const per = created.map(r => r.title.split(" ")[0])
    for (const a of BUILDING_3) assert.ok(per.includes(a), `a delivery for ${a}: ${per}`)
    assert.deepEqual(page.errors, [])
    assertNoTokenInUrls(ctx)
    await ctx.close()
  })
}
