// The sync socket is authenticated by the session cookie (no token in its URL). A refresh
// revokes the old token and sets a new cookie; a new login sets one too. After each, the
// app dials the socket again and sync resumes with the new cookie: a change made then is
// acknowledged by the server (which refuses the revoked token).
import { test } from "node:test"
import assert from "node:assert/strict"
import { assertNoTokenInUrls, uiLogin, USERS, useStack, waitUntil } from "./harness.mjs"

const e2e = useStack()

/** A note on the first open delivery on the phone; resolves once the server has it. */
async function noteSynced(page, note) {
  await page.evaluate(note => {
    const d = window.linli.state.data
    const [id] = Object.entries(d.rows).find(([id, r]) => r.kind === "task" && ["assigned", "accepted", "picked_up"].includes(r.status) && d.docs[id])
    window.linli.store.addTaskNote(id, note)
  }, note)
  await waitUntil(() => page.evaluate(() => window.linli.state.data.pending === 0), 30_000, `"${note}" acknowledged`)
}

const online = page => page.evaluate(() => window.linli.state.data?.connection === "online")

test("after a refresh and after a new login the socket is dialled again and sync resumes", { timeout: 120_000 }, async () => {
  const ctx = await e2e.phone({ timezoneId: "Asia/Shanghai" })
  const page = await ctx.newPage()
  page.on("pageerror", e => console.error("page error:", e.message))
  await uiLogin(page, e2e.stack.base, USERS.vol)
  await waitUntil(async () => (await online(page)) && page.evaluate(() => Object.keys(window.linli.state.data.docs).length > 2), 60_000, "online with the work")
  await noteSynced(page, "第一次")

  // A refresh: a new token (the old one is revoked) and a new cookie.
  const before = { token: await page.evaluate(() => window.linli.state.session.token), sockets: ctx.sockets.length }
  await page.evaluate(() => window.linli.checkSession(true))
  const after = await page.evaluate(() => window.linli.state.session.token)
  assert.notEqual(after, before.token, "the session was refreshed")
  await waitUntil(async () => ctx.sockets.length > before.sockets && (await online(page)), 30_000, "the socket dialled again")
  const revoked = await fetch(`${e2e.stack.base}/api/me`, { headers: { authorization: `Bearer ${before.token}` } })
  assert.equal(revoked.status, 401, "the old token no longer works")
  await noteSynced(page, "刷新之后")

  // The same user logs in again (as after an expired session): same store, new cookie.
  const dialled = ctx.sockets.length
  await page.evaluate(({ username, password }) => window.linli.login(username, password), USERS.vol)
  await waitUntil(async () => ctx.sockets.length > dialled && (await online(page)), 30_000, "the socket dialled again after the login")
  await noteSynced(page, "重新登录之后")

  assertNoTokenInUrls(ctx)
  await ctx.close()
})
