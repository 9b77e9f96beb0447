// The volunteer's day on a 360 × 780 phone (issue 14), in Chinese mid-morning and in
// English at 23:30 (after the day's check-in deadline), against the real Linli server:
// no screen scrolls sideways (Today, the task, the open "could not deliver" form, the
// check-in form), primary buttons are at least 44 px high, nothing shown after a step
// covers an enabled button; a step undone within its window never reaches the server,
// one left alone does, and the address stays on screen during the window; the list shows
// deadlines with their day, who the work is for, new / overdue / contactless marks and the
// grid's risk level.
import { describe, test } from "node:test"
import assert from "node:assert/strict"
import { apiLogin, assertNoTokenInUrls, CLOCKS, shot, uiLogin, USERS, useStack, waitUntil } from "./harness.mjs"

/** Why a person is observed, as the app names it (zh, en). */
const REASONS = /返回人员|密切接触者|居家隔离|Returnee|Close contact|Home isolation/

const WIDTH = 360
const PHONE = { viewport: { width: WIDTH, height: 780 }, timezoneId: "Asia/Shanghai" }

const RUNS = [
  {
    lang: "zh-CN",
    clock: CLOCKS.morning,
    words: { fail: "无法送达", cancel: "取消", undo: "撤销", risk: /低风险|中风险|高风险/, overdue: "逾期", new: "新", contactless: "无接触配送", submit: "提交打卡" },
  },
  {
    lang: "en",
    clock: CLOCKS.lateNight,
    words: { fail: "Could not deliver", cancel: "Cancel", undo: "Undo", risk: /Low risk|Medium risk|High risk/, overdue: "Overdue", new: "New", contactless: "Contactless delivery", submit: "Save check-in" },
  },
]

/** What the list should say of a deadline, worked out here from the clock (+08:00). */
function dueLabel(due, run) {
  const local = ms => new Date(ms + 8 * 3_600_000).toISOString()
  const [day, time] = [local(due).slice(0, 10), local(due).slice(11, 16)]
  const days = (Date.parse(day) - Date.parse(local(Date.parse(run.clock)).slice(0, 10))) / 86_400_000
  const [m, d] = day.slice(5).split("-").map(Number)
  const zh = run.lang === "zh-CN"
  const when =
    days === 0 ? time
    : days === 1 ? `${zh ? "明天" : "tomorrow"} ${time}`
    : days === -1 ? `${zh ? "昨天" : "yesterday"} ${time}`
    : zh ? `${m}月${d}日 ${time}`
    : `${d} ${["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][m - 1]} ${time}`
  return days < 0 ? when : `${zh ? "截止" : "Due"} ${when}`
}

/** The app's own view of its state (the controller is `window.linli`). */
const appState = (page, id) =>
  page.evaluate(id => {
    const d = window.linli.state.data
    return d ? { pending: d.pending, status: d.docs[id]?.status, held: d.deferred[id]?.to ?? null } : null
  }, id)

async function tasksByStatus(base, token) {
  const res = await fetch(`${base}/api/grids/g1/dashboard`, { headers: { authorization: `Bearer ${token}` } })
  assert.equal(res.status, 200)
  return (await res.json()).tasks
}

/** No sideways scrolling: compared with 360, not innerWidth (Chromium zooms out to fit). */
async function fits(page, what) {
  const width = await page.evaluate(() => document.documentElement.scrollWidth)
  assert.ok(width <= WIDTH, `${what}: the page is ${width} px wide on a ${WIDTH} px phone`)
}

/** Every visible, enabled primary or big button is at least 44 px high. */
async function bigEnough(page, what) {
  const small = await page.evaluate(() =>
    [...document.querySelectorAll(".btn.primary, .btn.big, .btn.danger")]
      .filter(b => !b.disabled && b.getClientRects().length > 0)
      .map(b => ({ text: b.textContent.trim(), h: b.getBoundingClientRect().height }))
      .filter(b => b.h < 44),
  )
  assert.deepEqual(small, [], `${what}: buttons lower than 44 px`)
}

/** What is shown over or beside the screen after a step (the toast, the held step) covers
 * no enabled button but its own. */
async function coversNoButton(page, what) {
  const hits = await page.evaluate(() => {
    const shown = [...document.querySelectorAll('#toast.show, [data-testid="held-step"]')]
    const buttons = [...document.querySelectorAll("button, a.btn, .bottomnav a")].filter(b => !b.disabled && b.getClientRects().length > 0)
    const out = []
    for (const el of shown) {
      const r = el.getBoundingClientRect()
      for (const b of buttons) {
        if (el.contains(b)) continue
        const q = b.getBoundingClientRect()
        if (r.left < q.right && q.left < r.right && r.top < q.bottom && q.top < r.bottom) out.push(`${el.id || el.dataset.testid} over "${b.textContent.trim()}"`)
      }
    }
    return { shown: shown.length, out }
  })
  assert.ok(hits.shown > 0, `${what}: something says what the step did`)
  assert.deepEqual(hits.out, [], `${what}: covered buttons`)
}

for (const run of RUNS) {
  describe(`volunteer on a 360 px phone, ${run.lang}, at ${run.clock}`, () => {
    const e2e = useStack({ clock: run.clock })
    test("Today, the task, the failure form and the check-in fit; a step can be undone", { timeout: 240_000 }, () => scenario(e2e, run))
  })
}

async function scenario(e2e, run) {
  const base = e2e.stack.base
  const w = run.words
  const name = n => `vol-${run.lang}-${n}`
  const coord = await apiLogin(base, USERS.coord)
  const before = await tasksByStatus(base, coord.token)

  const ctx = await e2e.phone(PHONE)
  await ctx.addInitScript(lang => localStorage.setItem("linli:lang", lang), run.lang)
  const v = await ctx.newPage()
  v.on("pageerror", e => console.error("volunteer page error:", e.message))
  await uiLogin(v, base, USERS.vol)

  // ---- Today --------------------------------------------------------------------------
  // The delivery picked up already (the demo gives chen.vol one): 已送达 and 无法送达 are next.
  await v.locator('[data-testid="todo"] .card[data-kind="task"]').first().waitFor({ timeout: 60_000 })
  const { taskId, due } = await v.evaluate(() => {
    const [id, row] = Object.entries(window.linli.state.data.rows).find(([, r]) => r.kind === "task" && r.status === "picked_up")
    return { taskId: id, due: row.due }
  })
  const card = v.locator(`[data-testid="todo"] .card[data-id="${taskId}"]`)
  // The document's summary (contactless, items) and its household (who it is for) load.
  await card.locator('[data-testid="contactless"]').waitFor({ timeout: 60_000 })
  await card.locator(".card-for").waitFor({ timeout: 60_000 })
  const text = await card.innerText()
  assert.ok(text.includes(dueLabel(due, run)), `the deadline with its day: ${dueLabel(due, run)} in ${text}`)
  assert.ok(text.includes(w.contactless), "the contactless mark")
  assert.match(await card.locator(".card-for").innerText(), /\d+-\d+-\d+ · \S+/, "the household's address and first member")
  assert.ok(text.includes(w.new), "a delivery not opened yet is new")
  assert.match(await v.locator('[data-testid="risk"]').innerText(), w.risk, "the grid's risk level")
  const episode = v.locator('[data-testid="todo"] .card[data-kind="episode"]').first()
  await episode.locator(".card-for").waitFor({ timeout: 60_000 })
  assert.ok((await episode.locator(".card-for").innerText()).length > 3, "the person the check-in is for")
  // The inbox lists each episode's readings beside it (DESIGN §9): stored on the phone,
  // and part of the episode's card, never a card of their own.
  const readings = await waitUntil(
    () => v.evaluate(() => {
      const d = window.linli.state.data
      const ids = Object.entries(d.rows).filter(([, r]) => r.kind === "readings" && r.status !== "closed").map(([id]) => id)
      return ids.length && ids.every(id => d.docs[id]?.kind === "readings") ? ids : null
    }),
    60_000,
    "the episodes' readings on the phone",
  )
  for (const id of readings) assert.equal(await v.locator(`.card[data-id="${id}"]`).count(), 0, `a card of readings ${id}`)
  assert.equal(await v.locator('.card[data-kind="readings"]').count(), 0, "a readings card")
  if (run.clock === CLOCKS.lateNight) {
    // After 20:00 no check-in of today is done: each is overdue.
    assert.equal(await episode.locator('[data-testid="overdue"]').innerText(), w.overdue)
  }
  await fits(v, "Today")
  await bigEnough(v, "Today")
  await shot(v, name("today"))

  // ---- the task, and the failure form -------------------------------------------------
  await card.click()
  await v.locator('[data-testid="address"]').waitFor({ timeout: 60_000 })
  await fits(v, "task")
  await bigEnough(v, "task")
  await shot(v, name("task"))
  await v.getByRole("button", { name: w.fail }).click()
  const form = v.locator('[data-testid="fail-form"]')
  await form.waitFor()
  await form.locator(".toggle").first().click()
  await fits(v, "failure form")
  await bigEnough(v, "failure form")
  const confirm = form.locator(".btn.danger")
  assert.ok(await confirm.isEnabled(), "a reason chosen: the confirm button is enabled")
  const box = await confirm.boundingBox()
  assert.ok(box.x >= 0 && box.x + box.width <= WIDTH, `the confirm button is inside the screen (${JSON.stringify(box)})`)
  await shot(v, name("fail-form"))
  await form.getByRole("button", { name: w.cancel }).click()
  await form.waitFor({ state: "detached" })

  // ---- a step undone within its window never reaches the document or the server -------
  await v.locator('[data-step="delivered"]').click()
  const held = v.locator('[data-testid="held-step"]')
  await held.waitFor()
  await coversNoButton(v, "after 已送达")
  const inView = await v.evaluate(() => {
    const box = el => document.querySelector(el).getBoundingClientRect()
    const [r, bar, nav] = [box('[data-testid="held-step"]'), box(".topbar"), box(".bottomnav")]
    return r.top >= bar.bottom && r.bottom <= nav.top
  })
  assert.ok(inView, "the undo is on screen, between the top bar and the bottom navigation")
  await v.locator('[data-testid="address"]').waitFor()
  assert.deepEqual(await appState(v, taskId), { pending: 1, status: "picked_up", held: "delivered" }, "held: not in the document, and counted as waiting")
  await shot(v, name("held"))
  await held.getByRole("button", { name: w.undo }).click()
  await held.waitFor({ state: "detached" })
  await coversNoButton(v, "after undo")
  await v.locator('[data-step="delivered"]').waitFor()
  // Past the 8 s window: nothing was written, nothing waits, the server is unchanged.
  await new Promise(r => setTimeout(r, 9_500))
  assert.deepEqual(await appState(v, taskId), { pending: 0, status: "picked_up", held: null })
  assert.deepEqual(await tasksByStatus(base, coord.token), before, "the server's tasks unchanged")

  // ---- left alone, the step is written when its window ends and reaches the server -----
  await v.locator('[data-step="delivered"]').click()
  await held.waitFor()
  await v.locator('[data-testid="address"]').waitFor()
  await waitUntil(async () => (await appState(v, taskId))?.status === "delivered", 20_000, "the step written after its window")
  await waitUntil(
    async () => {
      const now = await tasksByStatus(base, coord.token)
      return now.delivered === (before.delivered ?? 0) + 1 && now.picked_up === before.picked_up - 1
    },
    30_000,
    "the server has the delivery",
  )
  await waitUntil(async () => (await appState(v, taskId))?.pending === 0, 30_000, "nothing waiting")

  // ---- a held step is written when the page goes away (pagehide), not lost -------------
  const assigned = await v.evaluate(() => Object.entries(window.linli.state.data.rows).find(([, r]) => r.kind === "task" && r.status === "assigned")?.[0])
  if (assigned) {
    const accepted = (await tasksByStatus(base, coord.token)).accepted ?? 0
    await v.goto(`${base}/#/task/${assigned}`)
    await v.locator('[data-step="accepted"]').click()
    await v.locator('[data-testid="held-step"]').waitFor()
    await v.reload()
    await waitUntil(async () => (await appState(v, assigned))?.status === "accepted", 30_000, "the step written before the page went")
    await waitUntil(async () => (await tasksByStatus(base, coord.token)).accepted === accepted + 1, 30_000, "the server has the step")
  }

  // ---- the check-in form; opened work is no longer new --------------------------------
  await v.goto(`${base}/#/`)
  const episodeId = await episode.getAttribute("data-id")
  assert.equal(await episode.locator('[data-testid="new"]').count(), 1, "a check-in not opened yet is new")
  await episode.click()
  await v.locator('[data-testid="checkin-form"]').waitFor()
  await fits(v, "check-in form")
  await bigEnough(v, "check-in form")
  await shot(v, name("checkin"))
  // Why the person is observed, and their age, are not the volunteer's to know (DESIGN §9).
  assert.doesNotMatch(await v.locator("main").innerText(), REASONS, "a reason on the volunteer's check-in form")
  // A check-in saved: back on Today, the toast covers no button.
  await v.locator('input[name="temp"]').fill("36.6")
  await v.getByRole("button", { name: w.submit }).click()
  await v.locator("#toast.show").waitFor()
  await v.locator('[data-testid="todo"]').waitFor()
  await coversNoButton(v, "after a check-in")
  await v.locator(`.card[data-id="${episodeId}"]`).waitFor()
  assert.equal(await v.locator(`.card[data-id="${episodeId}"] [data-testid="new"]`).count(), 0, "opened: no longer new")
  await fits(v, "Today after the delivery")
  assertNoTokenInUrls(ctx)
  await ctx.close()
}
