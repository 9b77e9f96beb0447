// A change the real server refuses: the phone keeps the refused work aside (listed,
// exportable), tells the volunteer in plain words, goes back to the server's copy of that
// one document, and keeps (and syncs) its other work. The refused change is made straight
// through the data layer, as an old or buggy client would: the screens never offer it (a
// volunteer may not move a delivery's due time).
import { test } from "node:test"
import assert from "node:assert/strict"
import { readFile } from "node:fs/promises"
import { load } from "@automerge/automerge"
import { assertNoTokenInUrls, shot, uiLogin, USERS, useStack, waitUntil } from "./harness.mjs"

/** Downloads what `click` offers and parses it as the kept-aside export. */
async function exported(page, click) {
  const [download] = await Promise.all([page.waitForEvent("download"), click()])
  // Named by the community's date, which is the page's fixed clock's (+08:00).
  assert.equal(download.suggestedFilename(), `linli-kept-aside-${e2e.clock.slice(0, 10)}.json`)
  const file = JSON.parse(await readFile(await download.path(), "utf8"))
  assert.equal(file.format, "linli-kept-aside/1")
  return file
}

/** The phone's copy of the document in an exported entry. */
const savedDoc = entry => load(Buffer.from(entry.document, "base64"))

const e2e = useStack()

test("a refused change is reported and the document recovered from the server", { timeout: 120_000 }, async () => {
  const ctx = await e2e.phone({ timezoneId: "Asia/Shanghai" })
  const page = await ctx.newPage()
  page.on("pageerror", e => console.error("page error:", e.message))
  page.on("console", m => m.type() === "error" && console.error("page console:", m.text()))
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
  const banner = page.locator('[data-testid="notice"][data-kind="rejected"]')
  await banner.waitFor({ timeout: 30_000 })
  const notice = await banner.innerText()
  assert.match(notice, /这项工作被服务器拒绝，你的更改已另存：「.+」/)
  assert.match(notice, /due/)
  await shot(page, "20-volunteer-change-refused")

  // The refused change is kept aside: the export holds the phone's copy with it.
  const file = await exported(page, () => banner.getByRole("button", { name: "导出" }).click())
  assert.equal(file.entries.length, 1)
  const [entry] = file.entries
  assert.equal(entry.doc, `automerge:${bad}`)
  assert.equal(entry.cause, "rejected")
  assert.match(entry.reason, /due/)
  assert.ok(entry.refused_changes.length > 0, "the server named the refused changes")
  for (const h of entry.refused_changes) assert.ok(entry.unsynced_changes.includes(h), `refused ${h} is among the unsynced`)
  assert.equal(savedDoc(entry).due, due + 3_600_000)

  // The refused document is back to the server's version; the other change went through.
  await waitUntil(() => page.evaluate(([id, due]) => window.linli.state.data.docs[id]?.due === due, [bad, due]), 30_000, "server copy restored")
  await waitUntil(() => page.evaluate(() => window.linli.state.data.pending === 0), 30_000, "nothing waiting")
  const log = await page.evaluate(id => window.linli.state.data.docs[id].log.map(e => e.note), good)
  assert.ok(log.includes("门口有快递柜"))

  // It stays recovered after a reload (the refused change is gone from the document's
  // IndexedDB too), and the notice stays until it is dismissed, which asks first.
  await page.reload()
  await waitUntil(() => page.evaluate(([id, due]) => window.linli.state.data?.docs[id]?.due === due, [bad, due]), 30_000, "still the server's copy")
  await banner.waitFor({ timeout: 30_000 })
  await banner.getByRole("button", { name: "知道了" }).click()
  await banner.getByText("不再显示这条提示？").waitFor()
  await shot(page, "21-volunteer-refused-dismiss")
  await banner.getByRole("button", { name: "确定" }).click()
  await banner.waitFor({ state: "detached" })

  // Settings lists it (after a reload too) and exports it; deleting asks first.
  await page.reload()
  await page.goto(`${e2e.stack.base}/#/settings`)
  const kept = page.locator(`[data-testid="kept-aside"] li[data-doc="${bad}"]`)
  await kept.waitFor({ timeout: 30_000 })
  assert.equal(await page.locator('[data-testid="notice"]').count(), 0, "a dismissed notice stays dismissed")
  assert.match(await kept.innerText(), /服务器拒绝/)
  await shot(page, "22-volunteer-settings-kept-aside")
  const again = await exported(page, () => kept.getByRole("button", { name: "导出" }).click())
  assert.deepEqual(again.entries.map(e => e.doc), [`automerge:${bad}`])
  assert.equal(savedDoc(again.entries[0]).due, due + 3_600_000)
  await kept.getByRole("button", { name: "删除" }).click()
  await kept.getByText("删除后这些更改无法找回").waitFor()
  await kept.getByRole("button", { name: "取消" }).click()
  assert.equal(await kept.count(), 1, "cancel keeps it")
  assertNoTokenInUrls(ctx)
  await ctx.close()
})
