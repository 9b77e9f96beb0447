// A change the real server refuses: the phone tells the volunteer in plain words, goes
// back to the server's copy of that one document, and keeps (and syncs) its other work.
// The refused change is made straight through the data layer, as an old or buggy client
// would: the screens never offer it (a volunteer may not move a delivery's due time).
import { test } from "node:test"
import assert from "node:assert/strict"
import { phone, shot, uiLogin, USERS, useStack, waitUntil } from "./harness.mjs"

const e2e = useStack()

test("a refused change is reported and the document recovered from the server", { timeout: 120_000 }, async () => {
  const ctx = await phone(e2e.browser, { timezoneId: "Asia/Shanghai" })
  const page = await ctx.newPage()
  page.on("pageerror", e => console.error("page error:", e.message))
  await uiLogin(page, e2e.stack.base, USERS.vol)
  await waitUntil(
    () =>
      page.evaluate(() => {
        const d = window.linli.state.data
        const open = Object.entries(d.rows).filter(([id, r]) => r.kind === "task" && ["assigned", "accepted", "picked_up"].includes(r.status) && d.docs[id])
        return d.connection === "online" && open.length >= 2
      }),
    60_000,
    "two open deliveries on the phone",
  )
  const [bad, good] = await page.evaluate(() => {
    const d = window.linli.state.data
    return Object.entries(d.rows)
      .filter(([id, r]) => r.kind === "task" && ["assigned", "accepted", "picked_up"].includes(r.status) && d.docs[id])
      .map(([id]) => id)
      .slice(0, 2)
  })
  const due = await page.evaluate(id => window.linli.state.data.docs[id].due, bad)

  // Offline, a forbidden change to one delivery and an allowed one to the other.
  await ctx.setOffline(true)
  await waitUntil(() => page.evaluate(() => window.linli.state.data.connection === "offline"), 15_000, "offline")
  await page.evaluate(
    ([bad, good]) => {
      const store = window.linli.store
      store.change(bad, d => {
        d.due = d.due + 3_600_000
      })
      store.addTaskNote(good, "门口有快递柜")
    },
    [bad, good],
  )
  await waitUntil(() => page.evaluate(() => window.linli.state.data.pending === 2), 5_000, "two changes waiting")

  await ctx.setOffline(false)
  await page.locator('[data-testid="notice"]').waitFor({ timeout: 30_000 })
  const notice = await page.locator('[data-testid="notice"]').innerText()
  assert.match(notice, /服务器没有接受你对「.+」的修改/)
  assert.match(notice, /due/)
  await shot(page, "20-volunteer-change-refused")

  // The refused document is back to the server's version; the other change went through.
  await waitUntil(() => page.evaluate(([id, due]) => window.linli.state.data.docs[id]?.due === due, [bad, due]), 30_000, "server copy restored")
  await waitUntil(() => page.evaluate(() => window.linli.state.data.pending === 0), 30_000, "nothing waiting")
  const log = await page.evaluate(id => window.linli.state.data.docs[id].log.map(e => e.note), good)
  assert.ok(log.includes("门口有快递柜"))

  // It stays recovered after a reload (the refused change is gone from IndexedDB too).
  await page.reload()
  await waitUntil(() => page.evaluate(([id, due]) => window.linli.state.data?.docs[id]?.due === due, [bad, due]), 30_000, "still the server's copy")
  await page.getByRole("button", { name: "知道了" }).count()
  await ctx.close()
})
