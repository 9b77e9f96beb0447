// End to end, in headless Chromium against the real Linli server (issue "Never lose an
// acknowledged change", item 3 and its e2e test): the server's store fails while the
// volunteer works — its disk refuses every write (tests/fault/enospc.c, loaded with
// LD_PRELOAD, while a control file exists). The server stops acknowledging and says so;
// the volunteer's step stays on the phone, across a reload; nothing is refused or
// dropped. When the disk works again the server recovers by itself, the phone
// reconnects, and the step reaches the server.
import { test } from "node:test"
import assert from "node:assert/strict"
import { spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { apiLogin, ROOT, shot, swReady, uiLogin, USERS, useStack, waitUntil } from "./harness.mjs"

const TZ = { timezoneId: "Asia/Shanghai" }
const scratch = mkdtempSync(join(tmpdir(), "linli-fault-"))
const shim = join(scratch, "libenospc.so")
const built = spawnSync("gcc", ["-shared", "-fPIC", "-O2", "-o", shim, join(ROOT, "tests/fault/enospc.c"), "-ldl"], { encoding: "utf8" })
if (built.status !== 0) throw new Error(`building the ENOSPC shim: ${built.stderr || built.error}`)
const fault = join(scratch, "disk-full")

const e2e = useStack({ env: { LD_PRELOAD: shim, LINLI_FAULT_FILE: fault }, extra: ["--store-retry-secs", "1"] })

const appState = page =>
  page.evaluate(() => {
    const d = window.linli.state.data
    return d ? { pending: d.pending, connection: d.connection, notices: d.notices.length } : null
  })

async function health(base) {
  const res = await fetch(`${base}/healthz`)
  return { status: res.status, body: await res.json().catch(() => ({})) }
}

async function taskStatus(base, token, taskId) {
  // The export names statuses as the app does (accepted: 已接单).
  const res = await fetch(`${base}/api/export/tasks.csv?purpose=${encodeURIComponent("核对送货状态")}`, { headers: { authorization: `Bearer ${token}` } })
  if (res.status !== 200) return null
  const row = (await res.text()).split("\n").find(l => l.includes(taskId))
  return row ?? null
}

test("the server's store fails while the volunteer works: the step stays on the phone and syncs once it recovers", { timeout: 240_000 }, async () => {
  const base = e2e.stack.base
  const coord = await apiLogin(base, USERS.coord)
  const ctx = await e2e.phone(TZ)
  const v = await ctx.newPage()
  v.on("pageerror", e => console.error("volunteer page error:", e.message))
  await uiLogin(v, base, USERS.vol)
  await swReady(v)
  // One of the volunteer's assigned deliveries (the demo has some).
  const taskId = await waitUntil(
    () =>
      v.evaluate(() => {
        const rows = window.linli.state.data?.rows ?? {}
        return Object.entries(rows).find(([, r]) => r.kind === "task" && r.status === "assigned")?.[0]
      }),
    60_000,
    "an assigned delivery in the volunteer's list",
  )
  const card = v.locator(`.card[data-id="${taskId}"]`)
  await card.click()
  await v.locator('[data-testid="address"]').waitFor({ timeout: 60_000 })
  await waitUntil(async () => (await appState(v))?.connection === "online" && (await appState(v))?.pending === 0, 30_000, "online, nothing waiting")

  // ---- the disk fails ---------------------------------------------------------------
  writeFileSync(fault, "")
  await v.locator('[data-step="accepted"]').click()
  await waitUntil(async () => (await health(base)).status === 503, 30_000, "/healthz failing")
  const { body } = await health(base)
  assert.match(body.reason ?? "", /No space left/, JSON.stringify(body))
  await waitUntil(async () => (await appState(v))?.connection !== "online", 30_000, "the phone told the server cannot store")
  assert.equal((await appState(v)).pending, 1, "the step waits on the phone")
  await shot(v, "20-volunteer-server-store-failing")
  // A reload while the server still cannot store: the step is still there, and waiting.
  await v.reload()
  await waitUntil(async () => (await appState(v))?.pending === 1, 30_000, "the step still waiting after a reload")
  assert.equal((await appState(v)).notices, 0, "nothing was refused or set aside")
  assert.equal(await taskStatus(base, coord.token, taskId), null, "the server answers nothing from a failing store")

  // ---- the disk works again ------------------------------------------------------------
  rmSync(fault)
  await waitUntil(async () => (await health(base)).status === 200, 30_000, "/healthz ok again")
  await waitUntil(async () => (await appState(v))?.pending === 0, 60_000, "the step synced once the server recovered").catch(e => {
    console.error("server log:", e2e.stack.linli.log().slice(-5000))
    throw e
  })
  assert.equal((await appState(v)).notices, 0, "nothing was refused")
  const row = await taskStatus(base, coord.token, taskId)
  assert.ok(row && row.includes(",已接单,"), `the server has the step: ${row}`)
  await shot(v, "21-volunteer-synced-after-recovery")
  await ctx.close()
  if (existsSync(scratch)) rmSync(scratch, { recursive: true, force: true })
})
