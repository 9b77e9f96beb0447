import { decodeSyncMessage, getHeads, init, load, loadIncremental } from "@automerge/automerge/slim"
import { Repo, type DocHandle, type PeerId } from "@automerge/automerge-repo/slim"
import { IndexedDBStorageAdapter } from "@automerge/automerge-repo-storage-indexeddb"
import { afterEach, describe, expect, it } from "vitest"
import type { Episode, GridIndex, Household, Inbox, Readings, SummaryRow, Task } from "../generated"
import { SCHEMA_VERSIONS } from "../generated"
import { MemStorage } from "../test/memstorage"
import { pair, waitFor, type PairAdapter } from "../test/pair"
import { communityDate, newCheckin, newEpisode, newHousehold, newTask, takenKeys, workItems } from "./domain"
import { memoryKV, type KV } from "./kv"
import type { SessionUser } from "./session"
import { EXPORT_FORMAT, IndexedDBShelf, type ShelvedWork } from "./shelf"
import { LinliStore } from "./store"

const VOL: SessionUser = { id: "u-vol", username: "chen.vol", role: "volunteer", grids: ["g1"] }
const NOW = Date.parse("2026-03-10T04:00:00Z") // 12:00 in the community

let dbCount = 0
const stores: LinliStore[] = []
const servers: Repo[] = []

afterEach(async () => {
  await Promise.all(stores.splice(0).map(s => s.stop()))
  servers.splice(0).forEach(r => r.networkSubsystem.adapters.forEach(a => a.disconnect()))
})

/** The readings document the Linli server makes for an episode (`Readings::for_episode`):
 * the server's copy of the episode's days, assignee and status, and no check-ins yet. */
function readingsFor(episodeId: string, e: Episode): Readings {
  const { grid, household, start, end, slots, assignee, status } = e
  return { kind: "readings", schema: SCHEMA_VERSIONS.readings, grid, episode: episodeId, household, start, end, slots, assignee, status, checkins: {} }
}

/** A "server" Repo holding a household, a delivery and an episode assigned to the
 * volunteer with its readings (linked from the episode, as the server does), and the
 * volunteer's inbox listing the three. */
function world() {
  const server = new Repo({ storage: new MemStorage(), peerId: "server" as PeerId, sharePolicy: async () => false })
  servers.push(server)
  const house = server.create<Household>(
    newHousehold({ grid: "g1", building: "3", unit: "2", room: "501", phone: "13800000000", notes: "", members: [] }),
  )
  const task = server.create<Task>(
    newTask(
      {
        grid: "g1",
        household: house.documentId,
        category: "food",
        items: [{ name: "大米", qty: 5, unit: "kg" }],
        priority: "urgent",
        due: NOW + 3600_000,
        contactless: true,
        assignee: VOL.id,
      },
      "u-coord",
      NOW - 3600_000,
    ),
  )
  const episode = server.create<Episode>(
    newEpisode({
      grid: "g1",
      household: house.documentId,
      person: { name: "王秀英", age: 70 },
      reason: "close_contact",
      start: communityDate(NOW - 2 * 86_400_000),
      slots: 1,
      assignee: VOL.id,
    }),
  )
  const readings = server.create<Readings>(readingsFor(episode.documentId, episode.doc()))
  episode.change(d => {
    d.readings = readings.documentId
  })
  const row = (kind: "task" | "episode" | "readings", status: string): SummaryRow => ({
    kind,
    status,
    assignee: VOL.id,
    priority: kind === "task" ? "urgent" : null,
    due: kind === "task" ? NOW + 3600_000 : null,
    alerts: 0,
    household: house.documentId,
    title: { task: "food", episode: "check-in", readings: "readings" }[kind],
  })
  const inbox = server.create<Inbox>({
    kind: "inbox",
    schema: 1,
    grid: "g1",
    user: VOL.id,
    docs: {
      [task.documentId]: row("task", "assigned"),
      [episode.documentId]: row("episode", "active"),
      [readings.documentId]: row("readings", "active"),
    },
  })
  return { server, house, task, episode, readings, inbox }
}

function connect(server: Repo): { phone: PairAdapter; link: { adapter: PairAdapter; pause(): void; resume(): void } } {
  const [phone, srv] = pair()
  server.networkSubsystem.addNetworkAdapter(srv)
  return { phone, link: { adapter: phone, pause: () => phone.cut(), resume: () => phone.mend() } }
}

/**
 * Plays the Linli server's gate on the server's end of `c`: sync messages carrying changes
 * to `docId` are dropped (not merged), and `refuse` (the `rejected` message, if any) is
 * called once, after the first of them.
 */
function refuseChanges(c: ReturnType<typeof connect>, docId: string, refuse?: () => void): void {
  const srvSide = c.phone.other!
  let told = false
  const deliver = srvSide.emit.bind(srvSide) as (event: string, msg: unknown) => boolean
  srvSide.emit = ((event: string, msg: { type: string; documentId?: string; data?: Uint8Array }) => {
    if (event === "message" && msg.type === "sync" && msg.documentId === docId && msg.data) {
      if (decodeSyncMessage(msg.data).changes.length > 0) {
        if (!told && refuse) {
          told = true
          setTimeout(refuse, 5)
        }
        return true
      }
    }
    return deliver(event, msg)
  }) as typeof srvSide.emit
}

/** The server stops answering for `docId` (`doc-unavailable`), as Linli does when access ends. */
function unavailable(c: ReturnType<typeof connect>, store: LinliStore, docId: string): void {
  c.phone.emit("message", { type: "doc-unavailable", senderId: "server" as PeerId, targetId: store.repo.peerId, documentId: docId as never })
}

/** A shelf whose disk is full. */
class FullShelf extends IndexedDBShelf {
  override async put(_w: ShelvedWork): Promise<void> {
    throw new DOMException("the quota has been exceeded", "QuotaExceededError")
  }
}

function phoneStore(w: ReturnType<typeof world>, kv: KV, db: string, link?: ReturnType<typeof connect>["link"], shelf = new IndexedDBShelf(`${db}-shelf`)) {
  const store = new LinliStore({
    user: VOL,
    lists: [w.inbox.url],
    kv,
    storage: new IndexedDBStorageAdapter(db),
    link,
    now: () => NOW,
    purge: true,
    shelf,
  })
  stores.push(store)
  return store
}

/** A volunteer's phone, online, with its work loaded and synced once. */
async function syncedPhone() {
  const w = world()
  const kv = memoryKV()
  const db = `t${++dbCount}`
  const c = connect(w.server)
  const store = phoneStore(w, kv, db, c.link)
  await store.start()
  await waitFor(() => [w.task, w.episode, w.readings].every(h => store.state.docs[h.documentId]))
  await waitFor(() => store.state.lastSynced != null, 5000, "first sync")
  return { w, kv, db, c, store }
}

const serverDoc = <T,>(h: DocHandle<T>) => h.doc() as T

describe("LinliStore", () => {
  it("stores the inbox, everything it lists and the households, and opens them again with no network", async () => {
    const w = world()
    const kv = memoryKV()
    const db = `t${++dbCount}`
    const online = phoneStore(w, kv, db, connect(w.server).link)
    await online.start()
    await waitFor(() => [w.task, w.episode, w.readings, w.house].every(h => online.state.docs[h.documentId]), 5000, "docs")
    expect(Object.keys(online.state.rows)).toHaveLength(3)
    expect(online.state.connection).toBe("online")
    await online.stop()

    // A reload with no network: the list shows from the snapshot before anything loads,
    // and every document comes back from IndexedDB.
    const offline = phoneStore(w, kv, db)
    expect(Object.keys(offline.state.rows)).toHaveLength(3)
    await offline.start()
    await waitFor(() => [w.task, w.episode, w.readings, w.house].every(h => offline.state.docs[h.documentId]), 5000, "docs offline")
    expect(offline.readings(w.episode.documentId)?.episode).toBe(w.episode.documentId)
    expect(offline.doc<Task>(w.task.documentId)?.items[0].name).toBe("大米")
    expect(offline.doc<Household>(w.house.documentId)?.room).toBe("501")
    expect(offline.state.connection).toBe("offline")
  })

  it("keeps offline changes waiting across a reload and syncs them on reconnect", async () => {
    const { w, kv, db, c, store } = await syncedPhone()

    store.setOnline(false)
    expect(store.state.connection).toBe("offline")
    const id = w.task.documentId
    store.advanceTask(id, "accepted")
    store.advanceTask(id, "picked_up")
    store.advanceTask(id, "delivered", { note: "门口" })
    const today = communityDate(NOW)
    store.addCheckin(w.episode.documentId, `${today}/0`, newCheckin({ temp_c: 38.2, symptoms: ["cough"], method: "visit", note: "" }, VOL.id, NOW))
    // The delivery and the readings wait; the episode itself is not written.
    expect(store.state.pending).toBe(2)
    expect(serverDoc(w.task).status).toBe("assigned")
    const local = store.doc<Task>(id)!
    expect(local.log.map(e => `${e.from}>${e.to}`)).toEqual(["new>assigned", "assigned>accepted", "accepted>picked_up", "picked_up>delivered"])
    expect(local.log.at(-1)).toMatchObject({ by: VOL.id, at: NOW, note: "门口" })
    await store.stop()

    // Reload while still offline: the changes and the waiting count are still there.
    const again = phoneStore(w, kv, db, c.link)
    expect(again.state.pending).toBe(2)
    again.setOnline(false)
    await again.start()
    await waitFor(() => again.doc<Task>(id)?.status === "delivered", 5000, "local status after reload")
    expect(again.readings(w.episode.documentId)?.checkins[`${today}/0`]?.temp_c).toBe(38.2)

    again.setOnline(true)
    await waitFor(() => serverDoc(w.task).status === "delivered", 5000, "server has the delivery")
    await waitFor(() => serverDoc(w.readings).checkins[`${today}/0`] != null, 5000, "server has the check-in")
    await waitFor(() => again.state.pending === 0, 5000, "nothing waiting")
    expect(again.state.lastSynced).toBe(NOW)
  })

  it("writes a check-in into the episode's readings, never into the episode", async () => {
    const { w, store } = await syncedPhone()
    const episode = w.episode.documentId
    const heads = getHeads(store.repo.handles[episode as never].doc())
    const key = `${communityDate(NOW)}/0`
    const reading = () => newCheckin({ temp_c: 37.8, symptoms: ["fever"], method: "visit", note: "门口测" }, VOL.id, NOW)
    store.addCheckin(episode, key, reading())

    expect(store.readings(episode)?.checkins[key]).toEqual({ temp_c: 37.8, symptoms: ["fever"], method: "visit", note: "门口测", by: VOL.id, at: NOW })
    expect(getHeads(store.repo.handles[episode as never].doc())).toEqual(heads)
    expect(Object.keys(store.doc<Episode>(episode)!)).not.toContain("checkins")
    expect(store.state.pending).toBe(1)
    await waitFor(() => serverDoc(w.readings).checkins[key]?.temp_c === 37.8, 5000, "the server's readings have it")
    await waitFor(() => store.state.pending === 0, 5000, "acknowledged")
    expect(Object.keys(serverDoc(w.episode))).not.toContain("checkins")
    // With yesterday's missed slot made up late, nothing is left to do: the episode's card
    // says so, and the readings row is no card of its own.
    store.addCheckin(episode, `${communityDate(NOW - 86_400_000)}/0`, reading())
    const items = workItems(store.state.rows, store.state.summaries, NOW, VOL.id)
    expect(items.map(i => [i.id, i.kind, i.todo])).toEqual([
      [w.task.documentId, "task", true],
      [episode, "episode", false],
    ])
    // A slot is taken once.
    expect(() => store.addCheckin(episode, key, reading())).toThrow(/already recorded/)
  })

  it("waits for a new episode's readings: every slot open, no check-in until the server has made them", async () => {
    const { w, store } = await syncedPhone()
    const fresh = w.server.create<Episode>(
      newEpisode({ grid: "g1", household: w.house.documentId, person: { name: "李建国", age: 52 }, reason: "returnee", start: communityDate(NOW), slots: 2, assignee: VOL.id }),
    )
    const row = (kind: "episode" | "readings"): SummaryRow => ({ kind, status: "active", assignee: VOL.id, priority: null, due: null, alerts: 0, household: w.house.documentId, title: kind === "episode" ? "check-in" : "readings" })
    w.inbox.change(d => {
      d.docs[fresh.documentId] = row("episode")
    })
    await waitFor(() => !!store.state.docs[fresh.documentId], 5000, "the new episode")
    expect(store.doc<Episode>(fresh.documentId)?.readings).toBeNull()
    expect(store.readingsId(fresh.documentId)).toBeNull()
    const key = `${communityDate(NOW)}/0`
    const reading = newCheckin({ temp_c: 36.6, symptoms: [], method: "visit", note: "" }, VOL.id, NOW)
    expect(() => store.addCheckin(fresh.documentId, key, reading)).toThrow(/not on the phone yet/)
    expect(store.state.pending).toBe(0)
    const item = workItems(store.state.rows, store.state.summaries, NOW, VOL.id).find(i => i.id === fresh.documentId)
    expect(item?.slots?.map(x => x.key)).toEqual([key, `${communityDate(NOW)}/1`])

    // The server makes the readings, links them and lists them.
    const readings = w.server.create<Readings>(readingsFor(fresh.documentId, fresh.doc()))
    fresh.change(d => {
      d.readings = readings.documentId
    })
    w.inbox.change(d => {
      d.docs[readings.documentId] = row("readings")
    })
    await waitFor(() => !!store.readings(fresh.documentId), 5000, "the readings on the phone")
    expect(store.readingsId(fresh.documentId)).toBe(readings.documentId)
    store.addCheckin(fresh.documentId, key, reading)
    await waitFor(() => serverDoc(readings).checkins[key]?.temp_c === 36.6, 5000, "the server's readings have it")
  })

  it("reads an episode an older release wrote with its check-ins in it, and counts those as taken", async () => {
    const w = world()
    const key = `${communityDate(NOW)}/0`
    // Schema 2: check-ins in the episode (the server moves them into the readings when the
    // phone's copy syncs). Here the server's copy still has them too.
    const old = w.server.create<Episode>({
      ...newEpisode({ grid: "g1", household: w.house.documentId, person: { name: "赵桂兰", age: 81 }, reason: "close_contact", start: communityDate(NOW), slots: 1, assignee: VOL.id }),
      schema: 2,
      checkins: { [key]: newCheckin({ temp_c: 36.4, symptoms: [], method: "visit", note: "" }, VOL.id, NOW - 60_000) },
    } as Episode)
    const readings = w.server.create<Readings>(readingsFor(old.documentId, old.doc()))
    old.change(d => {
      d.readings = readings.documentId
    })
    const row = (kind: "episode" | "readings"): SummaryRow => ({ kind, status: "active", assignee: VOL.id, priority: null, due: null, alerts: 0, household: w.house.documentId, title: kind === "episode" ? "check-in" : "readings" })
    w.inbox.change(d => {
      d.docs[old.documentId] = row("episode")
      d.docs[readings.documentId] = row("readings")
    })
    const store = phoneStore(w, memoryKV(), `t${++dbCount}`, connect(w.server).link)
    await store.start()
    await waitFor(() => !!store.state.docs[old.documentId] && !!store.readings(old.documentId), 5000, "the old episode and its readings")
    expect(takenKeys(old.documentId, store.state.summaries)).toEqual([key])
    const item = workItems(store.state.rows, store.state.summaries, NOW, VOL.id).find(i => i.id === old.documentId)
    expect(item).toMatchObject({ kind: "episode", todo: false })
    expect(() => store.addCheckin(old.documentId, key, newCheckin({ temp_c: 36.8, symptoms: [], method: "visit", note: "" }, VOL.id, NOW))).toThrow(/already recorded/)
    expect(Object.keys(serverDoc(readings).checkins)).toEqual([])
  })

  it("holds a volunteer's step back for undo: nothing reaches the document or the server until it is written", async () => {
    const { w, store } = await syncedPhone()
    const id = w.task.documentId

    // Undo within the window: the document and the server never see the step.
    store.stepTask(id, "accepted")
    expect(store.state.deferred[id]?.to).toBe("accepted")
    expect(store.state.pending).toBe(1)
    expect(store.doc<Task>(id)!.status).toBe("assigned")
    expect(store.undoStep(id)).toBe(true)
    expect(store.state.pending).toBe(0)
    expect(store.state.deferred).toEqual({})
    expect(store.doc<Task>(id)!.log.map(e => e.to)).toEqual(["assigned"])

    // The next step writes the held one; leaving (page hidden) writes the rest.
    store.stepTask(id, "accepted")
    store.stepTask(id, "picked_up")
    expect(store.doc<Task>(id)!.status).toBe("accepted")
    expect(() => store.stepTask(id, "confirmed")).toThrow(/not a step/)
    store.stepTask(id, "delivered", { note: "门口" })
    expect(store.state.pending).toBe(1)
    store.commitSteps()
    expect(store.state.deferred).toEqual({})
    expect(store.doc<Task>(id)!.log.map(e => `${e.from}>${e.to}`)).toEqual(["new>assigned", "assigned>accepted", "accepted>picked_up", "picked_up>delivered"])
    await waitFor(() => serverDoc(w.task).status === "delivered", 5000, "server has the delivery")
    await waitFor(() => store.state.pending === 0, 5000, "nothing waiting")
  })

  it("writes at the next start a step held when the page was killed, once", async () => {
    const first = await syncedPhone()
    const { w, kv, db } = first
    await first.store.stop()
    const id = w.task.documentId
    // What a page killed in the window leaves in localStorage; it starts again offline.
    kv.set(`linli:${VOL.id}:steps`, JSON.stringify([{ task: id, to: "accepted", at: NOW - 5000 }]))
    const store = phoneStore(w, kv, db)
    await store.start()
    await waitFor(() => store.doc<Task>(id)?.status === "accepted", 5000, "the step written at start")
    await waitFor(() => kv.get(`linli:${VOL.id}:steps`) == null, 5000, "the saved step forgotten once on the phone")
    await store.stop()

    // Had the page gone again before the save was confirmed, the step is not taken twice.
    kv.set(`linli:${VOL.id}:steps`, JSON.stringify([{ task: id, to: "accepted", at: NOW - 5000 }]))
    const again = phoneStore(w, kv, db)
    await again.start()
    await waitFor(() => again.doc<Task>(id)?.status === "accepted", 5000, "the task loaded")
    await waitFor(() => kv.get(`linli:${VOL.id}:steps`) == null, 5000, "nothing left to write")
    expect(again.doc<Task>(id)!.log.map(e => e.to)).toEqual(["assigned", "accepted"])
    expect(again.doc<Task>(id)!.log.at(-1)!.at).toBe(NOW - 5000)
  })

  it("writes the phone's own changes to IndexedDB at once, not after automerge-repo's save throttle", async () => {
    const w = world()
    const db = `t${++dbCount}`
    const store = new LinliStore({
      user: VOL,
      lists: [w.inbox.url],
      kv: memoryKV(),
      storage: new IndexedDBStorageAdapter(db),
      link: connect(w.server).link,
      now: () => NOW,
      // automerge-repo's own saves do not come within this test.
      saveDebounceMs: 3_600_000,
      shelf: new IndexedDBShelf(`${db}-shelf`),
    })
    stores.push(store)
    await store.start()
    const id = w.task.documentId
    await waitFor(() => !!store.state.docs[id], 5000, "the task")
    store.addTaskNote(id, "门口有快递柜")
    const stored = async () => {
      const chunks = await new IndexedDBStorageAdapter(db).loadRange([id])
      const doc = chunks.filter(c => c.key[1] !== "sync-state").reduce((d, c) => loadIncremental(d, c.data!), init<Task>())
      return doc.log?.at(-1)?.note
    }
    await waitFor(async () => (await stored()) === "门口有快递柜", 5000, "the note in IndexedDB")
  })

  it("keeps a refused document's changes aside, durably, then recovers the server's copy without losing other work", async () => {
    const w = world()
    const kv = memoryKV()
    const db = `t${++dbCount}`
    const c = connect(w.server)
    // A check-in is written into the episode's readings: those are what the server refuses.
    const refused = w.readings.documentId
    // The server names the refused changes: here, the phone's last change to the readings.
    let hashes: string[] = []
    refuseChanges(c, refused, () => {
      hashes = getHeads(store.repo.handles[refused as never].doc())
      w.readings.broadcast({ linli: "rejected", reason: "field `checkins.x`: no", changes: hashes })
    })

    const store = phoneStore(w, kv, db, c.link)
    await store.start()
    await waitFor(() => [w.task, w.episode, w.readings].every(h => store.state.docs[h.documentId]))
    store.setOnline(false)
    const key = `${communityDate(NOW)}/0`
    store.addCheckin(w.episode.documentId, key, newCheckin({ temp_c: 36.5, symptoms: [], method: "visit", note: "" }, VOL.id, NOW))
    store.advanceTask(w.task.documentId, "accepted")
    expect(store.state.pending).toBe(2)
    store.setOnline(true)

    await waitFor(() => store.state.shelved.some(x => x.docId === refused), 5000, "the refused work kept aside")
    await waitFor(() => serverDoc(w.task).status === "accepted", 5000, "other work synced")
    await waitFor(() => !!store.state.docs[refused] && Object.keys(store.doc<Readings>(refused)!.checkins).length === 0, 5000, "server copy back")
    await waitFor(() => store.state.pending === 0, 5000, "nothing waiting")
    expect(Object.keys(serverDoc(w.readings).checkins)).toHaveLength(0)
    expect(store.state.notices).toEqual([])

    // What was kept: what, why, when, the refused hashes, and the phone's copy itself.
    const kept = store.state.shelved.find(x => x.docId === refused)!
    expect(kept).toMatchObject({ cause: "rejected", kind: "readings", title: "readings", reason: "field `checkins.x`: no", at: NOW, seen: false })
    expect(hashes.length).toBeGreaterThan(0)
    expect(kept.refused).toEqual(hashes)
    expect(kept.unsynced).toEqual(expect.arrayContaining(hashes))
    const file = JSON.parse(await store.exportShelved([kept.id]))
    expect(file).toMatchObject({ format: EXPORT_FORMAT, user: { id: VOL.id, username: VOL.username } })
    expect(file.entries).toHaveLength(1)
    expect(file.entries[0]).toMatchObject({ doc: w.readings.url, cause: "rejected", refused_changes: hashes, unsynced_changes: kept.unsynced })
    const copy = load<Readings>(Uint8Array.from(atob(file.entries[0].document), ch => ch.charCodeAt(0)))
    expect(copy.checkins[key]?.temp_c).toBe(36.5)

    // It is still there after a reload; read, it stays listed; deleted, it is gone.
    await store.stop()
    const again = phoneStore(w, kv, db)
    await again.start()
    expect(again.state.shelved.map(x => x.id)).toEqual([kept.id])
    await again.markShelvedSeen(kept.id)
    await again.stop()
    const third = phoneStore(w, kv, db)
    await third.start()
    expect(third.state.shelved.map(x => [x.id, x.seen])).toEqual([[kept.id, true]])
    await third.deleteShelved(kept.id)
    expect(third.state.shelved).toEqual([])
    expect(JSON.parse(await third.exportShelved()).entries).toEqual([])
  })

  it("drops nothing when the refused work cannot be kept aside", async () => {
    const w = world()
    const db = `t${++dbCount}`
    const c = connect(w.server)
    const id = w.readings.documentId
    refuseChanges(c, id, () => w.readings.broadcast({ linli: "rejected", reason: "field `checkins.x`: no", changes: [] }))
    const store = phoneStore(w, memoryKV(), db, c.link, new FullShelf(`${db}-shelf`))
    await store.start()
    await waitFor(() => !!store.state.docs[w.episode.documentId] && !!store.state.docs[id] && store.state.connection === "online", 5000, "online with the episode")
    const key = `${communityDate(NOW)}/0`
    store.addCheckin(w.episode.documentId, key, newCheckin({ temp_c: 36.5, symptoms: [], method: "visit", note: "" }, VOL.id, NOW))

    await waitFor(() => store.state.notices.some(n => n.kind === "rejected" && n.docId === id), 5000, "the user told")
    expect(store.state.shelved).toEqual([])
    expect(store.doc<Readings>(id)?.checkins[key]?.temp_c).toBe(36.5)
    expect(store.state.pending).toBe(1)
    // The phone's copy is still the one it works on (and offers the server).
    store.addTaskNote(w.task.documentId, "still here")
    expect((await store.repo.find<Readings>(id)).doc().checkins[key]?.temp_c).toBe(36.5)
  })

  /** The volunteer adds a note to the delivery that the server does not take; then it
   * stops answering for the delivery. */
  async function noteThenUnavailable() {
    const w = world()
    const c = connect(w.server)
    const id = w.task.documentId
    refuseChanges(c, id)
    const store = phoneStore(w, memoryKV(), `t${++dbCount}`, c.link)
    await store.start()
    await waitFor(() => [w.task, w.episode, w.house].every(h => store.state.docs[h.documentId]) && store.state.connection === "online")
    store.addTaskNote(id, "门口有快递柜")
    unavailable(c, store, id)
    return { w, store, id }
  }

  it("keeps a pending document the server stops answering for while its work is still listed", async () => {
    const { store, id } = await noteThenUnavailable()
    await waitFor(() => store.state.gone[id] === true, 5000, "the server's word")

    expect(await store.purgeNow()).toEqual([])
    expect(store.state.pending).toBe(1)
    expect(store.doc<Task>(id)?.log.at(-1)?.note).toBe("门口有快递柜")
    expect(store.state.shelved).toEqual([])
  })

  it("keeps aside the unsynced changes of work that left the volunteer's reach before removing it", async () => {
    // Reassigned meanwhile: the server stops answering and the inbox no longer lists it.
    const { w, store, id } = await noteThenUnavailable()
    w.inbox.change(d => {
      delete d.docs[id]
    })
    await waitFor(() => !store.state.rows[id], 5000, "the row gone")
    await waitFor(() => store.state.pending === 0, 5000, "given up only once kept aside")
    const kept = store.state.shelved.find(x => x.docId === id)!
    expect(kept).toMatchObject({ cause: "unavailable", kind: "task" })
    expect(await store.purgeNow()).toContain(id)
    const file = JSON.parse(await store.exportShelved())
    const copy = load<Task>(Uint8Array.from(atob(file.entries[0].document), ch => ch.charCodeAt(0)))
    expect(copy.log.at(-1)?.note).toBe("门口有快递柜")
  })

  it("takes `rejected` only from the server, not from another peer relaying through it", async () => {
    const w = world()
    const c = connect(w.server)
    const id = w.readings.documentId
    // The server does not merge the phone's changes to the readings (nor says why), so the
    // phone's check-in waits; another client of the server then forges a refusal.
    refuseChanges(c, id)
    const store = phoneStore(w, memoryKV(), `t${++dbCount}`, c.link)
    await store.start()
    await waitFor(() => !!store.state.docs[w.episode.documentId] && !!store.state.docs[id] && store.state.connection === "online", 5000, "online with the episode")
    const key = `${communityDate(NOW)}/0`
    store.addCheckin(w.episode.documentId, key, newCheckin({ temp_c: 36.5, symptoms: [], method: "visit", note: "" }, VOL.id, NOW))
    expect(store.state.pending).toBe(1)

    const heard: string[] = []
    ;(await store.repo.find<Readings>(id)).on("ephemeral-message", p => heard.push(p.senderId))
    const [mallory, srv] = pair()
    w.server.networkSubsystem.addNetworkAdapter(srv)
    const other = new Repo({ network: [mallory], peerId: "mallory" as PeerId, sharePolicy: async () => true })
    servers.push(other)
    const forged = await other.find<Readings>(w.readings.url)
    forged.broadcast({ linli: "rejected", reason: "forged", changes: [] })
    // The store's own listener came first and runs synchronously: by the time this one
    // hears the message, the store has acted on it, or not.
    await waitFor(() => heard.includes("mallory"), 5000, "the forged message to reach the phone")
    expect(store.state.notices).toEqual([])
    expect(store.doc<Readings>(id)?.checkins[key]?.temp_c).toBe(36.5)
    expect(store.state.pending).toBe(1)
  })

  it("drops its copy of a list the server refuses, and takes the server's, keeping nothing aside", async () => {
    const { w, c, store } = await syncedPhone()
    const id = w.inbox.documentId
    // Linli refuses any change to a list: it holds a history the server replaced (an
    // erasure). Here the phone's copy lost a row the server's still has.
    refuseChanges(c, id, () =>
      w.inbox.broadcast({ linli: "rejected", reason: "the server rebuilt this list (an erasure): drop it", changes: [] }))
    const mine = await store.repo.find<Inbox>(w.inbox.url)
    mine.change(d => {
      delete d.docs[w.episode.documentId]
    })
    await waitFor(() => !store.state.rows[w.episode.documentId], 5000, "the row gone from the phone's copy")
    await waitFor(() => !!store.state.rows[w.episode.documentId], 5000, "the server's copy back")
    const again = await store.repo.find<Inbox>(w.inbox.url)
    expect(Object.keys(again.doc().docs).sort()).toEqual(Object.keys(serverDoc(w.inbox).docs).sort())
    expect(store.state.shelved).toEqual([])
    expect(store.state.notices).toEqual([])
  })

  it("removes work that left the inbox, and households without open work, from the phone", async () => {
    const w = world()
    const kv = memoryKV()
    const db = `t${++dbCount}`
    const store = phoneStore(w, kv, db, connect(w.server).link)
    await store.start()
    await waitFor(() => [w.task, w.episode, w.readings, w.house].every(h => store.state.docs[h.documentId]))
    w.inbox.change(d => {
      delete d.docs[w.task.documentId]
      delete d.docs[w.episode.documentId]
      delete d.docs[w.readings.documentId]
    })
    await waitFor(() => Object.keys(store.state.rows).length === 0, 5000, "rows gone")
    const removed = await store.purgeNow()
    expect(removed.sort()).toEqual([w.task.documentId, w.episode.documentId, w.readings.documentId, w.house.documentId].sort())
    await store.stop()
    const storage = new IndexedDBStorageAdapter(db)
    await new Promise(r => setTimeout(r, 50))
    // Nothing of the household is left (a late sync message may leave an empty stub).
    const left = await storage.loadRange([w.house.documentId])
    for (const c of left.filter(c => c.key[1] !== "sync-state")) {
      expect(Object.keys(loadIncremental(init(), c.data!))).toEqual([])
    }
  })

  it("keeps every household its grid index lists on a coordinator's phone, apart from the work", async () => {
    const w = world()
    const lonely = w.server.create<Household>(
      newHousehold({ grid: "g1", building: "7", unit: "1", room: "101", phone: "", notes: "", members: [] }),
    )
    const listed = (title: string): SummaryRow => ({
      kind: "household",
      status: "active",
      assignee: null,
      priority: null,
      due: null,
      alerts: 0,
      household: null,
      title,
    })
    const index = w.server.create<GridIndex>({
      kind: "grid-index",
      schema: 1,
      grid: "g1",
      docs: { [lonely.documentId]: listed("7-1-101"), [w.house.documentId]: listed("3-2-501") },
    })
    const coord: SessionUser = { id: "u-coord", username: "wang.coord", role: "coordinator", grids: ["g1"] }
    const store = new LinliStore({ user: coord, lists: [index.url], kv: memoryKV(), storage: new IndexedDBStorageAdapter(`t${++dbCount}`), link: connect(w.server).link, now: () => NOW })
    stores.push(store)
    await store.start()
    await waitFor(() => [lonely, w.house].every(h => store.state.docs[h.documentId]), 5000, "households")
    expect(store.doc<Household>(lonely.documentId)?.room).toBe("101")
    expect(store.state.rows).toEqual({})
  })
})

/** What the phone's IndexedDB holds of `id`, beyond automerge-repo's sync state: the
 * document's keys (an empty stub left by a late sync message has none). */
async function storedKeys(db: string, id: string): Promise<string[]> {
  const chunks = (await new IndexedDBStorageAdapter(db).loadRange([id])).filter(c => c.key[1] !== "sync-state")
  if (chunks.length === 0) return []
  return Object.keys(chunks.reduce((d, c) => loadIncremental(d, c.data!), init<Record<string, unknown>>()))
}

describe("LinliStore purge for coordinators, medics and admins", () => {
  const COORD: SessionUser = { id: "u-coord", username: "wang.coord", role: "coordinator", grids: ["g1"] }
  const MEDIC: SessionUser = { id: "u-medic", username: "zhao.medic", role: "medic", grids: ["g1"] }
  const row = (kind: SummaryRow["kind"], status: string, household: string | null, title: string): SummaryRow => ({
    kind,
    status,
    assignee: VOL.id,
    priority: kind === "task" ? "urgent" : null,
    due: null,
    alerts: 0,
    household,
    title,
  })

  /** A grid index (or a medic index) listing the world's delivery, episode and household,
   * and a second household. */
  function indexed(kind: "grid-index" | "medic-index") {
    const w = world()
    const other = w.server.create<Household>(newHousehold({ grid: "g1", building: "7", unit: "1", room: "101", phone: "", notes: "", members: [] }))
    const h = w.house.documentId
    const docs: Record<string, SummaryRow> = {
      [w.episode.documentId]: row("episode", "active", h, "3-2-501 check-in"),
      [h]: row("household", "active", null, "3-2-501"),
      [other.documentId]: row("household", "active", null, "7-1-101"),
    }
    // A grid index lists deliveries; a medic index an episode's readings beside it (a
    // coordinator may not read them, DESIGN §9).
    if (kind === "grid-index") docs[w.task.documentId] = row("task", "assigned", h, "3-2-501 food")
    else docs[w.readings.documentId] = row("readings", "active", h, "readings")
    const index = w.server.create<GridIndex>({ kind, schema: 1, grid: "g1", docs } as unknown as GridIndex)
    return { ...w, other, index }
  }

  function store(user: SessionUser, lists: string[], w: { server: Repo }, db: string) {
    const c = connect(w.server)
    const s = new LinliStore({ user, lists, kv: memoryKV(), storage: new IndexedDBStorageAdapter(db), link: c.link, now: () => NOW, purge: true, shelf: new IndexedDBShelf(`${db}-shelf`) })
    stores.push(s)
    return { s, c }
  }

  it("coordinator: closed work and households the grid index no longer lists leave the phone; open work and pending changes stay", async () => {
    const w = indexed("grid-index")
    const db = `t${++dbCount}`
    const { s } = store(COORD, [w.index.url], w, db)
    await s.start()
    const all = [w.task, w.episode, w.house, w.other].map(h => h.documentId)
    await waitFor(() => all.every(id => s.state.docs[id]), 5000, "everything listed")
    expect(await s.purgeNow()).toEqual([])

    // The delivery is confirmed and the episode closed (still listed for a few days), the
    // other household is erased (no longer listed), and the coordinator has a change
    // waiting on the household it names.
    s.updateHousehold(w.house.documentId, { notes: "改了门禁" })
    w.index.change(d => {
      d.docs[w.task.documentId].status = "confirmed"
      d.docs[w.episode.documentId].status = "closed"
      delete d.docs[w.other.documentId]
    })
    await waitFor(() => s.state.rows[w.task.documentId]?.status === "confirmed", 5000, "the index's change")
    await waitFor(() => s.state.pending === 0, 5000, "the household's change acknowledged")
    s.updateHousehold(w.house.documentId, { notes: "还没同步" })
    s.setOnline(false)
    const removed = await s.purgeNow()
    expect(removed.sort()).toEqual([w.task.documentId, w.episode.documentId, w.other.documentId].sort())
    expect(Object.keys(s.state.docs).sort()).toEqual([w.house.documentId])
    // The rows stay (the list shows closed work); the documents are gone from IndexedDB.
    expect(s.state.rows[w.task.documentId]).toBeDefined()
    await s.stop()
    for (const id of removed) expect(await storedKeys(db, id)).toEqual([])
    expect(await storedKeys(db, w.house.documentId)).toContain("notes")
  })

  it("coordinator: nothing pending is removed, even once the index no longer lists it", async () => {
    const w = indexed("grid-index")
    const { s, c } = store(COORD, [w.index.url], w, `t${++dbCount}`)
    // The server does not take the phone's change to the household (nor says why): it waits.
    refuseChanges(c, w.other.documentId)
    await s.start()
    await waitFor(() => !!s.state.docs[w.other.documentId] && s.state.connection === "online", 5000, "the other household")
    s.updateHousehold(w.other.documentId, { notes: "还没同步" })
    w.index.change(d => {
      delete d.docs[w.other.documentId]
    })
    await waitFor(() => s.state.pending === 1, 5000, "waiting")
    await waitFor(async () => (await s.repo.find<GridIndex>(w.index.url)).doc().docs[w.other.documentId] === undefined, 5000, "the index's change")
    expect(await s.purgeNow()).toEqual([])
    expect(s.doc<Household>(w.other.documentId)?.notes).toBe("还没同步")
    expect(s.state.pending).toBe(1)
  })

  it("coordinator: closed work opened on a screen is fetched again and kept while shown", async () => {
    const w = indexed("grid-index")
    const { s } = store(COORD, [w.index.url], w, `t${++dbCount}`)
    await s.start()
    await waitFor(() => !!s.state.docs[w.task.documentId], 5000, "the delivery")
    w.index.change(d => {
      d.docs[w.task.documentId].status = "cancelled"
    })
    await waitFor(() => s.state.rows[w.task.documentId]?.status === "cancelled", 5000, "cancelled")
    expect(await s.purgeNow()).toEqual([w.task.documentId])
    const release = s.hold(w.task.documentId)
    s.prioritize(w.task.documentId)
    await waitFor(() => !!s.state.docs[w.task.documentId], 5000, "fetched again")
    expect(await s.purgeNow()).toEqual([])
    release()
    expect(await s.purgeNow()).toEqual([w.task.documentId])
  })

  it("coordinator: the documents of a grid lost leave the phone, and its index too", async () => {
    const w = indexed("grid-index")
    const other = w.server.create<GridIndex>({ kind: "grid-index", schema: 1, grid: "g2", docs: {} })
    const db = `t${++dbCount}`
    const { s } = store(COORD, [w.index.url, other.url], w, db)
    await s.start()
    const all = [w.task, w.episode, w.house, w.other].map(h => h.documentId)
    await waitFor(() => all.every(id => s.state.docs[id]), 5000, "everything listed")
    // The real server stops syncing a grid its user lost: let this sync settle first.
    await new Promise(r => setTimeout(r, 300))
    await s.setLists([other.url])
    const removed = await s.purgeNow()
    expect(removed.sort()).toEqual([...all].sort())
    expect(s.state.rows).toEqual({})
    await s.stop()
    for (const id of [...all, w.index.documentId]) expect(await storedKeys(db, id)).toEqual([])
  })

  it("coordinator: what the server stops answering for and the lists no longer give leaves the phone", async () => {
    const w = indexed("grid-index")
    const { s, c } = store(COORD, [w.index.url], w, `t${++dbCount}`)
    // A household made on this phone, then synced; the server later says it is not theirs.
    await s.start()
    await waitFor(() => !!s.state.docs[w.house.documentId] && s.state.connection === "online", 5000, "online")
    const made = s.createHousehold({ grid: "g1", building: "9", unit: "9", room: "909", phone: "", notes: "", members: [] })
    await waitFor(() => s.state.pending === 0, 5000, "synced")
    expect(await s.purgeNow()).toEqual([])
    // The real server stops syncing what it answers "unavailable" for: let this one's
    // sync settle first (automerge-repo cannot take messages for a document it deleted).
    await new Promise(r => setTimeout(r, 300))
    unavailable(c, s, made)
    await waitFor(() => s.state.gone[made] === true, 5000, "the server's word")
    expect(await s.purgeNow()).toEqual([made])
    // Listed work the server stops answering for stays (the server may be failing).
    unavailable(c, s, w.task.documentId)
    await waitFor(() => s.state.gone[w.task.documentId] === true, 5000, "the server's word")
    expect(await s.purgeNow()).toEqual([])
  })

  it("coordinator: never asks for an episode's readings, even were a list to give them", async () => {
    const w = indexed("grid-index")
    w.index.change(d => {
      d.docs[w.readings.documentId] = row("readings", "active", w.house.documentId, "readings")
    })
    const { s } = store(COORD, [w.index.url], w, `t${++dbCount}`)
    await s.start()
    await waitFor(() => [w.task, w.episode, w.house, w.other].every(h => s.state.docs[h.documentId]), 5000, "everything else listed")
    await new Promise(r => setTimeout(r, 300))
    // The episode names its readings; the phone knows which they are and leaves them be.
    expect(s.readingsId(w.episode.documentId)).toBe(w.readings.documentId)
    expect(s.readings(w.episode.documentId)).toBeUndefined()
    expect(s.repo.handles[w.readings.documentId as never]).toBeUndefined()
    expect(() => s.addCheckin(w.episode.documentId, `${communityDate(NOW)}/0`, newCheckin({ temp_c: 36.5, symptoms: [], method: "phone", note: "" }, COORD.id, NOW))).toThrow(/not on the phone/)
    expect(s.state.pending).toBe(0)
  })

  it("medic: keeps an episode's readings and takes a phone check-in into them", async () => {
    const w = indexed("medic-index")
    const { s } = store(MEDIC, [w.index.url], w, `t${++dbCount}`)
    await s.start()
    await waitFor(() => !!s.state.docs[w.episode.documentId] && !!s.readings(w.episode.documentId) && s.state.connection === "online", 5000, "the episode and its readings")
    const key = `${communityDate(NOW)}/0`
    s.addCheckin(w.episode.documentId, key, newCheckin({ temp_c: 37.1, symptoms: ["cough"], method: "phone", note: "电话随访" }, MEDIC.id, NOW))
    await waitFor(() => serverDoc(w.readings).checkins[key]?.by === MEDIC.id, 5000, "the server's readings have it")
    expect(serverDoc(w.readings).checkins[key]).toMatchObject({ temp_c: 37.1, method: "phone" })
    expect(Object.keys(serverDoc(w.episode))).not.toContain("checkins")
    await waitFor(() => s.state.pending === 0, 5000, "acknowledged")
  })

  it("medic: a closed episode and the household it was for leave the phone", async () => {
    const w = indexed("medic-index")
    const db = `t${++dbCount}`
    const { s } = store(MEDIC, [w.index.url], w, db)
    await s.start()
    await waitFor(() => [w.episode, w.readings, w.house].every(h => s.state.docs[h.documentId]), 5000, "the episode, its readings and its household")
    // Closed: the medic index keeps the episode's rows a few days, and no longer lists the
    // household (no open episode there).
    w.index.change(d => {
      d.docs[w.episode.documentId].status = "closed"
      d.docs[w.readings.documentId].status = "closed"
      delete d.docs[w.house.documentId]
    })
    await waitFor(() => s.state.rows[w.episode.documentId]?.status === "closed", 5000, "closed")
    const removed = await s.purgeNow()
    expect(removed.sort()).toEqual([w.episode.documentId, w.readings.documentId, w.house.documentId].sort())
    expect(Object.keys(s.state.docs).sort()).toEqual([w.other.documentId])
    await s.stop()
    for (const id of removed) expect(await storedKeys(db, id)).toEqual([])
  })

  it("forgets everything of its user: documents, lists, snapshot and localStorage entries; the shelf only if empty", async () => {
    const w = indexed("grid-index")
    const db = `t${++dbCount}`
    const kv = memoryKV()
    const c = connect(w.server)
    const shelf = new IndexedDBShelf(`${db}-shelf`)
    const s = new LinliStore({ user: COORD, lists: [w.index.url], kv, storage: new IndexedDBStorageAdapter(db), link: c.link, now: () => NOW, purge: true, shelf })
    stores.push(s)
    await s.start()
    const all = [w.task, w.episode, w.house, w.other].map(h => h.documentId)
    await waitFor(() => all.every(id => s.state.docs[id]), 5000, "everything listed")
    s.setOnline(false)
    s.updateHousehold(w.other.documentId, { notes: "离线时改的" })
    expect(await s.keepPendingAside()).toBe(1)
    await s.stop()
    expect(await s.forgetAll()).toEqual({ shelfKept: true })
    for (const id of [...all, w.index.documentId]) expect(await storedKeys(db, id)).toEqual([])
    expect(kv.keys().filter(k => k.startsWith(`linli:${COORD.id}:`))).toEqual([])
    const kept = await shelf.all()
    expect(kept.map(k => [k.docId, k.cause])).toEqual([[w.other.documentId, "logout"]])
    expect(load<Household>(kept[0].bytes).notes).toBe("离线时改的")
  })
})
