// DESIGN §9: a phone keeps only what its user may still read. Against the real server in
// headless Chromium, this test reads each page's IndexedDB directly (every database that
// indexedDB.databases() lists, every value of every object store, automerge-repo's chunks
// as raw bytes) for strings planted in the documents, with a control that finds each one
// first: (a) a volunteer's phone holds no household once the delivery there is done;
// (b) a coordinator's and a medic's phone hold no episode once it is closed, and a
// coordinator's never holds its readings (a medic's phone check-in, DESIGN §9); (c) after a
// logout nothing of the user is left (their databases are gone, and their localStorage
// entries) — and a logout with changes waiting keeps only those, on the shelf, until the
// same user's next login syncs them.
import { test } from "node:test"
import assert from "node:assert/strict"
import { apiLogin, assertNoTokenInUrls, uiLogin, USERS, useStack, waitUntil } from "./harness.mjs"

const e2e = useStack()
const TZ = { timezoneId: "Asia/Shanghai" }
const MEDIC = { username: "zhao.medic", password: "demo-medic-2026" }

/**
 * Where the page's IndexedDB holds each needle: "database/store" for every value that
 * contains its UTF-8 bytes (binary values as they are, strings and objects walked).
 */
function search(page, needles) {
  return page.evaluate(async needles => {
    const enc = new TextEncoder()
    const pats = needles.map(n => enc.encode(n))
    const has = (b, p) => {
      outer: for (let i = 0; i <= b.length - p.length; i++) {
        for (let j = 0; j < p.length; j++) if (b[i + j] !== p[j]) continue outer
        return true
      }
      return false
    }
    const walk = (v, out) => {
      if (v instanceof Uint8Array) out.push(v)
      else if (v instanceof ArrayBuffer) out.push(new Uint8Array(v))
      else if (typeof v === "string") out.push(enc.encode(v))
      else if (v && typeof v === "object") for (const x of Object.values(v)) walk(x, out)
      return out
    }
    const found = Object.fromEntries(needles.map(n => [n, []]))
    const dbs = (await indexedDB.databases()).map(d => d.name)
    let values = 0
    // automerge-repo's keys are [documentId, "snapshot" | "incremental" | "sync-state", …].
    const docIds = []
    for (const name of dbs) {
      const db = await new Promise((ok, fail) => {
        const r = indexedDB.open(name)
        r.onsuccess = () => ok(r.result)
        r.onerror = () => fail(r.error)
      })
      for (const store of db.objectStoreNames) {
        const all = await new Promise((ok, fail) => {
          const r = db.transaction(store).objectStore(store).getAll()
          r.onsuccess = () => ok(r.result)
          r.onerror = () => fail(r.error)
        })
        values += all.length
        const keys = await new Promise((ok, fail) => {
          const r = db.transaction(store).objectStore(store).getAllKeys()
          r.onsuccess = () => ok(r.result)
          r.onerror = () => fail(r.error)
        })
        // An empty stub (a snapshot of no changes: the SHA-256 of nothing) that automerge-repo
        // may write when a message about a forgotten document arrives holds nothing.
        const EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        for (const k of keys) if (Array.isArray(k) && !(k[1] === "snapshot" && k[2] === EMPTY) && !docIds.includes(k[0])) docIds.push(k[0])
        for (const v of all)
          for (const bytes of walk(v, []))
            needles.forEach((n, i) => {
              if (has(bytes, pats[i]) && !found[n].includes(`${name}/${store}`)) found[n].push(`${name}/${store}`)
            })
      }
      db.close()
    }
    return { dbs, values, found, docIds }
  }, needles)
}

const data = (page, fn, arg) => page.evaluate(fn, arg)
const ready = page => data(page, () => window.linli.state.data?.phase === "ready" && window.linli.state.data.connection === "online")
const pending = page => data(page, () => window.linli.state.data?.pending)
const hasDoc = (page, id) => data(page, id => !!window.linli.state.data?.docs[id], id)

test("each role's phone forgets what its user may no longer read, and a logout forgets the user", { timeout: 300_000 }, async () => {
  const base = e2e.stack.base
  const tag = Math.random().toString(36).slice(2, 8)
  const P = { house: `PLANT-house-${tag}`, person: `PLANT-person-${tag}`, item: `PLANT-item-${tag}`, pending: `PLANT-pending-${tag}`, reading: `PLANT-reading-${tag}` }
  const volId = (await apiLogin(base, USERS.vol)).user.id
  const coordId = (await apiLogin(base, USERS.coord)).user.id

  // ---- the coordinator plants: a household, two deliveries for the volunteer, an episode
  const coordCtx = await e2e.phone(TZ)
  const coord = await coordCtx.newPage()
  coord.on("pageerror", e => console.error("coordinator page error:", e.message))
  await uiLogin(coord, base, USERS.coord)
  await waitUntil(() => ready(coord), 60_000, "the coordinator online")
  const ids = await data(
    coord,
    ({ P, volId }) => {
      const s = window.linli.store
      const house = s.createHousehold({ grid: "g1", building: "99", unit: "9", room: "909", phone: "", notes: P.house, members: [] })
      const task = (name, at) =>
        s.createTask({ grid: "g1", household: house, category: "food", items: [{ name, qty: 1, unit: "袋" }], priority: "normal", due: at, contactless: false, assignee: volId })
      const due = Date.now() + 3 * 3600_000
      const done = task("大米", due)
      const open = task(P.item, due)
      const episode = s.createEpisode({ grid: "g1", household: house, person: { name: P.person, age: 70 }, reason: "close_contact", start: "2026-03-16", slots: 1, assignee: null })
      return { house, done, open, episode }
    },
    { P, volId },
  )
  await waitUntil(async () => (await pending(coord)) === 0, 60_000, "the coordinator's work synced")

  // ---- (a) the volunteer: the household leaves the phone once the delivery is done ------
  const volCtx = await e2e.phone(TZ)
  const vol = await volCtx.newPage()
  vol.on("pageerror", e => console.error("volunteer page error:", e.message))
  await uiLogin(vol, base, USERS.vol)
  await waitUntil(async () => (await hasDoc(vol, ids.done)) && (await hasDoc(vol, ids.open)) && (await hasDoc(vol, ids.house)), 60_000, "the volunteer's work")
  // The volunteer's other work there keeps the household: finish that one first, so the
  // delivery below is the last of theirs at this address.
  await waitUntil(async () => (await search(vol, [P.house])).found[P.house].length > 0, 30_000, "control: the household on the volunteer's phone")
  const volBefore = await search(vol, [P.house, P.item])
  console.log("volunteer before:", JSON.stringify(volBefore))
  for (const id of [ids.done, ids.open])
    await data(
      vol,
      async id => {
        const s = window.linli.store
        for (const step of ["accepted", "picked_up", "delivered"]) s.advanceTask(id, step)
      },
      id,
    ).catch(e => {
      throw e
    })
  await waitUntil(async () => (await pending(vol)) === 0, 60_000, "the deliveries settled")
  await waitUntil(async () => !(await hasDoc(vol, ids.house)), 60_000, "the household forgotten")
  const volAfter = await search(vol, [P.house])
  console.log("volunteer after the delivery:", JSON.stringify(volAfter))
  assert.deepEqual(volAfter.found[P.house], [], "no household on the volunteer's phone")
  assert.ok(!volAfter.docIds.includes(ids.house), "no key of the household in automerge-repo's store")
  assert.ok(volAfter.dbs.includes(`linli-${volId}`), "the volunteer's documents are still there")

  // ---- (b) the episode is closed: it leaves the coordinator's and the medic's phones ----
  const medCtx = await e2e.phone(TZ)
  const med = await medCtx.newPage()
  med.on("pageerror", e => console.error("medic page error:", e.message))
  await uiLogin(med, base, MEDIC)
  await waitUntil(async () => (await hasDoc(med, ids.episode)) && (await hasDoc(med, ids.house)), 60_000, "the episode on the medic's phone")
  // The medic takes a phone check-in, with a note, into the episode's readings (which the
  // server made and linked after the coordinator created the episode).
  await waitUntil(() => data(med, id => !!window.linli.store.readings(id), ids.episode), 60_000, "the episode's readings on the medic's phone")
  await data(
    med,
    ({ id, note }) => {
      const me = window.linli.state.session.user.id
      window.linli.store.addCheckin(id, "2026-03-16/0", { temp_c: 36.7, symptoms: [], method: "phone", note, by: me, at: Date.now() })
    },
    { id: ids.episode, note: P.reading },
  )
  await waitUntil(async () => (await pending(med)) === 0, 60_000, "the medic's check-in synced")
  await waitUntil(async () => (await search(med, [P.reading])).found[P.reading].length > 0, 30_000, "control: the readings saved on the medic's phone")
  const readingsId = await data(med, id => window.linli.store.readingsId(id), ids.episode)
  for (const [who, page] of [["coordinator", coord], ["medic", med]]) {
    // In memory first, in IndexedDB once automerge-repo's throttled save has run.
    await waitUntil(async () => (await search(page, [P.person])).found[P.person].length > 0, 30_000, `control: the episode saved on the ${who}'s phone`)
    const before = await search(page, [P.person, P.house])
    console.log(`${who} before the close:`, JSON.stringify(before))
    assert.ok(before.found[P.person].length > 0, `control: the episode on the ${who}'s phone`)
  }
  // The coordinator's phone holds the episode, which links its readings, but never them.
  const coordReadings = await search(coord, [P.reading])
  assert.deepEqual(coordReadings.found[P.reading], [], "readings on the coordinator's phone")
  assert.ok(!coordReadings.docIds.includes(readingsId), "a key of the readings in the coordinator's store")
  await data(coord, id => window.linli.store.closeEpisode(id), ids.episode)
  await waitUntil(async () => (await pending(coord)) === 0, 60_000, "the close synced")
  for (const [who, page] of [["coordinator", coord], ["medic", med]]) {
    await waitUntil(async () => !(await hasDoc(page, ids.episode)), 60_000, `the episode forgotten by the ${who}'s phone`)
    const after = await search(page, [P.person])
    console.log(`${who} after the close:`, JSON.stringify(after))
    assert.deepEqual(after.found[P.person], [], `no episode on the ${who}'s phone`)
    assert.ok(!after.docIds.includes(ids.episode), `no key of the episode in the ${who}'s store`)
  }
  // The readings leave the medic's phone with their episode.
  await waitUntil(async () => !(await hasDoc(med, readingsId)), 60_000, "the readings forgotten by the medic's phone")
  const medReadings = await search(med, [P.reading])
  assert.deepEqual(medReadings.found[P.reading], [], "no readings on the medic's phone")
  assert.ok(!medReadings.docIds.includes(readingsId))
  // The medic reads a household only while it has an open episode: it went too.
  await waitUntil(async () => !(await hasDoc(med, ids.house)), 60_000, "the household forgotten by the medic's phone")
  const medAfter = await search(med, [P.house])
  assert.deepEqual(medAfter.found[P.house], [], "no household on the medic's phone")
  assert.ok(!medAfter.docIds.includes(ids.house))
  // The coordinator keeps the grid's households.
  assert.ok((await search(coord, [P.house])).found[P.house].length > 0, "the household stays on the coordinator's phone")

  // ---- (c) logout: nothing of the volunteer is left ------------------------------------
  await data(vol, () => window.linli.logout()).then(ok => assert.equal(ok, true))
  const volGone = await search(vol, [P.house, P.item, ids.done, ids.open])
  console.log("volunteer after logout:", JSON.stringify(volGone))
  assert.deepEqual(volGone.dbs.filter(n => n.includes(volId)), [], "no database of the volunteer")
  for (const n of [P.house, P.item, ids.done, ids.open]) assert.deepEqual(volGone.found[n], [], n)
  assert.deepEqual(await data(vol, id => Object.keys(localStorage).filter(k => k.startsWith(`linli:${id}:`)), volId), [])

  // ---- (c') logout with a change waiting: only that change stays, and syncs next time ---
  await coordCtx.setOffline(true)
  await waitUntil(() => data(coord, () => window.linli.state.data?.connection === "offline"), 15_000, "offline")
  await data(coord, ({ id, note }) => window.linli.store.updateHousehold(id, { notes: note }), { id: ids.house, note: P.pending })
  await waitUntil(async () => (await pending(coord)) === 1, 15_000, "the change waiting")
  assert.equal(await data(coord, () => window.linli.logout()), false, "refused while a change waits")
  assert.equal(await data(coord, () => window.linli.logout(true)), true)
  const coordGone = await search(coord, [P.pending])
  console.log("coordinator after a forced logout:", JSON.stringify(coordGone))
  assert.deepEqual(coordGone.dbs.filter(n => n.includes(coordId)), [`linli-shelf-${coordId}`], "only the shelf is left")
  assert.deepEqual(coordGone.found[P.pending], [`linli-shelf-${coordId}/work`])
  assert.deepEqual(await data(coord, id => Object.keys(localStorage).filter(k => k.startsWith(`linli:${id}:`)), coordId), [])
  await coordCtx.setOffline(false)
  await data(coord, u => window.linli.login(u.username, u.password), USERS.coord)
  await waitUntil(
    () => data(coord, ({ id, note }) => window.linli.state.data?.pending === 0 && window.linli.state.data.docs[id]?.notes === note && window.linli.state.data.connection === "online", { id: ids.house, note: P.pending }),
    60_000,
    "the kept change synced after the next login",
  )
  assert.deepEqual((await data(coord, () => window.linli.state.data.shelved)).length, 0)

  assertNoTokenInUrls(coordCtx)
  for (const c of [coordCtx, volCtx, medCtx]) await c.close()
})
