/**
 * The phone's data: it owns the automerge-repo `Repo` (IndexedDB storage, one WebSocket
 * to the Linli server) and is the only code that touches either. Screens read `state`
 * (immutable snapshots, one new object per change) and call the actions below.
 *
 * Offline first (DESIGN §3): at start the phone opens its list document (a volunteer's
 * `inbox`, a coordinator's `grid-index`es) and `find()`s every id listed, so all of its
 * work is in IndexedDB and is synced after every reconnect, including documents changed
 * offline and not opened since. Every change is made locally first; the server merges it
 * when it can, or refuses it with an ephemeral `{"linli":"rejected"}` message, after which
 * the phone keeps its copy of that one document aside (shelf.ts), drops it and fetches
 * the server's. Unsynced work never leaves the phone on the server's word alone: a
 * document waits (pending) until the server's heads include it, or until it is on the
 * shelf.
 */
import type {
  AnyDocumentId,
  DocHandle,
  DocHandleEphemeralMessagePayload,
  DocHandleRemoteHeadsPayload,
  DocumentId,
  NetworkAdapterInterface,
  PeerId,
  StorageAdapterInterface,
  StorageId,
} from "@automerge/automerge-repo/slim"
import { decodeHeads, Repo } from "@automerge/automerge-repo/slim"
import type { Checkin, Episode, GridIndex, Household, Inbox, Readings, SummaryRow, Task, TaskStatus } from "../generated"
import {
  bareId,
  coordinatorMove,
  isOpenTask,
  legacyCheckins,
  logEntry,
  newEpisode,
  newHousehold,
  newTask,
  parseCheckinKey,
  readingsIds,
  summarize,
  volunteerNext,
  type AnyDoc,
  type DocSummary,
  type NewEpisode,
  type NewHousehold,
  type NewTask,
} from "./domain"
import { DeferredSteps, type DeferredStep } from "./deferred"
import { getJSON, setJSON, type KV } from "./kv"
import { PendingTracker, sameHeads } from "./pending"
import type { SessionUser } from "./session"
import { exportShelved, IndexedDBShelf, shelvedFrom, summaryOf, type Shelf, type ShelfCause, type ShelvedSummary, type ShelvedWork } from "./shelf"

export type Connection = "online" | "connecting" | "offline"

/** A refusal whose work could not be kept aside: the phone's copy stays, still waiting. */
export interface Notice {
  id: string
  kind: "rejected"
  docId: string
  /** The row title of the document, e.g. "3-2-501 food" (may be empty). */
  title: string
  /** What the server said, verbatim (English, for the curious and for support). */
  reason: string
  at: number
}

export interface State {
  /** `starting` until the list documents and what they list are loaded from IndexedDB. */
  phase: "starting" | "ready"
  connection: Connection
  /** Documents with changes the server has not confirmed yet, counting the tasks whose
   * step is held back for undo (on the phone, not yet on the server either). */
  pending: number
  /** Status steps held back for undo (deferred.ts), by task id. */
  deferred: Record<string, DeferredStep>
  /** Work opened on this phone (the rest of the assigned work is marked new). */
  opened: Record<string, true>
  /** When the phone last knew it had nothing waiting, ms. */
  lastSynced: number | null
  /** Rows of the list documents (inbox / grid indexes), by bare DocumentId. */
  rows: Record<string, SummaryRow>
  /** The grid of the list each row came from. */
  rowGrids: Record<string, string>
  /** What the phone knows of each loaded document (also kept for the next cold start). */
  summaries: Record<string, DocSummary>
  /** Loaded documents, by bare DocumentId. */
  docs: Record<string, AnyDoc>
  /** Documents the server says this user may no longer (or may not) read. */
  gone: Record<string, true>
  /** Households and other documents known beyond the lists (e.g. created here). */
  extra: string[]
  loaded: number
  total: number
  notices: Notice[]
  /** Work the server did not take, kept aside on the phone (newest first). */
  shelved: ShelvedSummary[]
}

/** The network link: a WebSocket adapter that can be paused (offline) and re-pointed. */
export interface Link {
  adapter: NetworkAdapterInterface
  pause(): void
  resume(): void
}

export interface StoreOptions {
  user: SessionUser
  /** The list documents to open: the inbox, or the grid indexes. */
  lists: string[]
  kv: KV
  storage?: StorageAdapterInterface
  link?: Link
  now?: () => number
  /** Remove from the phone what this user may no longer read, or no longer works on
   * (every role; see `purgeNow`). */
  purge?: boolean
  /** Where refused work is kept aside (default: an IndexedDB database of this user's). */
  shelf?: Shelf
  /** automerge-repo's throttle of the saves it makes itself (default 100 ms). The
   * phone's own changes do not wait for it (see `change`). */
  saveDebounceMs?: number
  /** The server stopped answering for one of the lists (a grid lost?): the app asks the
   * server which lists are this user's now, and calls `setLists`. */
  onListGone?: (id: string) => void
}

const SNAP_VERSION = 1
interface Snapshot {
  v: number
  rows: Record<string, SummaryRow>
  summaries: Record<string, DocSummary>
}

type Listener = (s: State) => void

export class LinliStore {
  readonly repo: Repo
  state: State
  private readonly user: SessionUser
  private readonly kv: KV
  private readonly now: () => number
  private readonly pending: PendingTracker
  private readonly link?: Link
  private readonly purge: boolean
  private readonly shelf: Shelf
  private readonly onListGone?: (id: string) => void
  private listIds: string[]
  /** Households the lists give this user (a grid index lists every household of its grid,
   * a medic index those with an open episode). */
  private listedHouseholds = new Set<string>()
  /** Documents a screen shows right now (closed work opened again): kept while shown. */
  private readonly held = new Map<string, number>()
  private readonly listDetachers = new Map<string, () => void>()
  private readonly handles = new Map<string, DocHandle<AnyDoc>>()
  private readonly listHandles = new Map<string, DocHandle<GridIndex | Inbox>>()
  private readonly finding = new Map<string, Promise<DocHandle<AnyDoc> | null>>()
  private readonly recovering = new Set<string>()
  private readonly cleanups: (() => void)[] = []
  private listeners = new Set<Listener>()
  private serverPeer: PeerId | null = null
  private serverStorage: StorageId | null
  private emitTimer: ReturnType<typeof setTimeout> | null = null
  private snapTimer: ReturnType<typeof setTimeout> | null = null
  private purgeTimer: ReturnType<typeof setTimeout> | null = null
  private paused = false
  private stopped = false
  private readonly deferred = new DeferredSteps(
    step => this.writeStep(step),
    () => {
      this.saveSteps()
      this.set({ deferred: this.deferred.all(), pending: this.pendingCount() })
    },
  )
  /** Steps written into their document whose save to IndexedDB has not been confirmed. */
  private readonly unsaved = new Map<string, DeferredStep>()

  constructor(opts: StoreOptions) {
    this.user = opts.user
    this.kv = opts.kv
    this.now = opts.now ?? Date.now
    this.link = opts.link
    this.purge = opts.purge ?? false
    this.onListGone = opts.onListGone
    this.shelf = opts.shelf ?? new IndexedDBShelf(`linli-shelf-${opts.user.id}`)
    this.listIds = opts.lists.map(bareId)
    this.pending = new PendingTracker(opts.kv, opts.user.id)
    this.serverStorage = (this.kv.get(this.k("server-storage")) as StorageId | null) ?? null
    const snap = getJSON<Snapshot>(opts.kv, this.k("snap"))
    const fresh = snap?.v === SNAP_VERSION
    this.state = {
      phase: "starting",
      connection: opts.link ? "connecting" : "offline",
      pending: this.pending.count,
      deferred: {},
      opened: Object.fromEntries((getJSON<string[]>(opts.kv, this.k("opened")) ?? []).map(id => [id, true])),
      lastSynced: Number(this.kv.get(this.k("last-synced"))) || null,
      rows: fresh ? snap.rows : {},
      rowGrids: {},
      summaries: fresh ? snap.summaries : {},
      docs: {},
      gone: {},
      extra: getJSON<string[]>(opts.kv, this.k("extra")) ?? [],
      loaded: 0,
      total: 0,
      notices: [],
      shelved: [],
    }
    this.repo = new Repo({
      storage: opts.storage,
      network: opts.link ? [opts.link.adapter] : [],
      peerId: `${opts.user.id}-${Math.random().toString(36).slice(2, 10)}` as PeerId,
      // The server announces nothing; the phone offers the server every document it has
      // open, which after start is all of the user's work.
      sharePolicy: async () => true,
      saveDebounceRate: opts.saveDebounceMs,
    })
    // automerge-repo 2.5.6 reports the sync state of a document it has just deleted (a
    // message in flight when the phone forgot it), then fails on the missing handle and
    // writes that sync state back to IndexedDB. A forgotten document stays forgotten.
    const sync = this.repo.synchronizer as unknown as { emit: (event: string, ...args: unknown[]) => boolean }
    const emit = sync.emit.bind(sync)
    sync.emit = (event, ...args) => {
      const docId = (args[0] as { documentId?: string } | undefined)?.documentId
      if (event === "sync-state" && docId && !this.repo.handles[docId as never]) return false
      return emit(event, ...args)
    }
    const net = this.repo.networkSubsystem
    const onPeer = ({ peerId, peerMetadata }: { peerId: PeerId; peerMetadata?: { storageId?: StorageId } }) => {
      this.serverPeer = peerId
      const sid = peerMetadata?.storageId
      if (sid && sid !== this.serverStorage) {
        this.serverStorage = sid
        this.kv.set(this.k("server-storage"), sid)
      }
      this.set({ connection: "online" })
      this.noteSynced()
      // Documents that were unavailable (e.g. not yet assigned when first asked for)
      // are asked for again on every connection.
      this.retryMissing()
    }
    const onPeerGone = ({ peerId }: { peerId: PeerId }) => {
      if (peerId === this.serverPeer) this.serverPeer = null
      this.set({ connection: this.paused ? "offline" : "connecting" })
    }
    const onMessage = (msg: { type: string; documentId?: string }) => {
      if (msg.type === "doc-unavailable" && msg.documentId) this.onUnavailable(msg.documentId)
    }
    net.on("peer", onPeer)
    net.on("peer-disconnected", onPeerGone)
    net.on("message", onMessage)
    this.cleanups.push(() => {
      net.off("peer", onPeer)
      net.off("peer-disconnected", onPeerGone)
      net.off("message", onMessage)
    })
  }

  private k(name: string): string {
    return `linli:${this.user.id}:${name}`
  }

  // ---- subscription -------------------------------------------------------------------

  subscribe(fn: Listener): () => void {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }

  private set(patch: Partial<State>, now = false): void {
    this.state = { ...this.state, ...patch }
    this.scheduleEmit(now)
  }

  private scheduleEmit(now = false): void {
    if (now) {
      if (this.emitTimer) clearTimeout(this.emitTimer)
      this.emitTimer = null
      this.listeners.forEach(l => l(this.state))
      return
    }
    if (this.emitTimer) return
    // Coalesce bursts into one render: per frame or so once running, and less often while
    // hundreds of documents load at start (each render redraws the whole list).
    this.emitTimer = setTimeout(
      () => {
        this.emitTimer = null
        this.listeners.forEach(l => l(this.state))
      },
      this.state.phase === "starting" || this.active > 4 ? 250 : 16,
    )
  }

  private scheduleSnapshot(): void {
    if (this.snapTimer) return
    this.snapTimer = setTimeout(() => this.saveSnapshot(), 500)
  }

  private saveSnapshot(): void {
    if (this.snapTimer) clearTimeout(this.snapTimer)
    this.snapTimer = null
    const snap: Snapshot = { v: SNAP_VERSION, rows: this.state.rows, summaries: this.state.summaries }
    setJSON(this.kv, this.k("snap"), snap)
  }

  // ---- start --------------------------------------------------------------------------

  /** Opens the list documents and everything they list. Resolves once what is stored on
   * the phone is loaded (documents still to come from the server arrive later). */
  async start(): Promise<void> {
    const known = new Set<string>([
      ...Object.keys(this.state.rows),
      ...Object.keys(this.state.summaries),
      ...this.state.extra,
      ...this.pending.ids(),
    ])
    await this.restoreKept()
    const lists = this.listIds.map(id => this.openList(id))
    // Everything the phone knew at its last run loads from IndexedDB straight away, in
    // parallel with the lists. A document that is not on the phone waits for the
    // network; start does not wait for those.
    const local = [...known].map(id => this.load(id))
    const all = Promise.all([this.loadShelf(), ...lists, ...local, this.replaySteps()]).then(() => globalThis.performance?.mark?.("linli:loaded"))
    await Promise.race([all, new Promise(r => setTimeout(r, 4000))])
    if (!this.stopped) this.set({ phase: "ready" }, true)
    globalThis.performance?.mark?.("linli:ready")
  }

  private async openList(id: string): Promise<void> {
    const progress = this.repo.findWithProgress<GridIndex | Inbox>(id as AnyDocumentId)
    const attach = (handle: DocHandle<GridIndex | Inbox>) => {
      if (this.listHandles.has(id) || !this.listIds.includes(id)) return
      this.attachList(id, handle)
      this.onListChange()
    }
    if (progress.state === "ready") return attach(progress.handle)
    if (!("subscribe" in progress)) return
    await new Promise<void>(resolve => {
      let done = false
      const finish = () => {
        if (!done) {
          done = true
          resolve()
        }
      }
      const unsub = progress.subscribe(p => {
        if (p.state === "ready") {
          unsub()
          attach(p.handle)
          finish()
        } else if (p.state === "unavailable" || p.state === "failed") {
          unsub()
          finish()
          // Not on the phone and not reachable now: try again on the next connection.
          this.missingLists.add(id)
        }
      })
      // Not stored here and no network: go on with what the phone has.
      setTimeout(finish, 1500)
    })
  }

  private missingLists = new Set<string>()
  private missingDocs = new Set<string>()

  private retryMissing(): void {
    for (const id of [...this.missingLists]) {
      this.missingLists.delete(id)
      void this.openListAgain(id)
    }
    for (const id of [...this.missingDocs]) {
      this.missingDocs.delete(id)
      const row = this.state.rows[id]
      if (this.wanted(id) && (!row || this.mayRead(row) || this.held.has(id))) void this.load(id)
    }
  }

  private async openListAgain(id: string): Promise<void> {
    try {
      const handle = await this.repo.find<GridIndex | Inbox>(id as AnyDocumentId)
      if (!this.listIds.includes(id)) return
      if (!this.listHandles.has(id)) this.attachList(id, handle)
      this.onListChange()
    } catch {
      this.missingLists.add(id)
    }
  }

  private attachList(id: string, handle: DocHandle<GridIndex | Inbox>): void {
    this.listHandles.set(id, handle)
    const onChange = () => this.onListChange()
    const onEphemeral = (p: DocHandleEphemeralMessagePayload<GridIndex | Inbox>) => this.onEphemeral(id, p.senderId, p.message)
    handle.on("change", onChange)
    handle.on("ephemeral-message", onEphemeral)
    const detach = () => {
      handle.off("change", onChange)
      handle.off("ephemeral-message", onEphemeral)
    }
    this.listDetachers.set(id, detach)
    this.cleanups.push(detach)
  }

  /** Whether every list document is open (only then do the lists say what is no longer
   * this user's: a list not loaded yet lists nothing). */
  private listsReady(): boolean {
    return this.listIds.length > 0 && this.listIds.every(id => this.listHandles.has(id))
  }

  /**
   * The user's lists changed (a grid gained or lost, `GET /api/me`): lists of grids no
   * longer theirs are closed and removed from the phone, and with them everything only
   * they listed (at the next purge); new ones are opened.
   */
  async setLists(lists: string[]): Promise<void> {
    const next = lists.map(bareId)
    const dropped = this.listIds.filter(id => !next.includes(id))
    const added = next.filter(id => !this.listIds.includes(id))
    if (!dropped.length && !added.length) return
    this.listIds = next
    for (const id of dropped) {
      this.listDetachers.get(id)?.()
      this.listDetachers.delete(id)
      this.listHandles.delete(id)
      this.missingLists.delete(id)
      await this.removeFromPhone(id)
    }
    this.onListChange()
    await Promise.all(added.map(id => this.openList(id)))
  }

  private onListChange(): void {
    const rows: Record<string, SummaryRow> = {}
    const rowGrids: Record<string, string> = {}
    const households: string[] = []
    for (const h of this.listHandles.values()) {
      const doc = h.doc()
      if (!doc?.docs) continue
      for (const [id, row] of Object.entries(doc.docs)) {
        // A grid index lists every household of the grid; `rows` is the work.
        if (row.kind === "household") {
          households.push(id)
          continue
        }
        rows[id] = { ...row }
        rowGrids[id] = doc.grid
      }
    }
    this.listedHouseholds = new Set(this.user.role === "volunteer" ? [] : households)
    // What the lists give is governed by the lists from now on: once listed, a document
    // made here is no longer kept for having been made here.
    const extra = this.state.extra.filter(id => !rows[id] && !this.listedHouseholds.has(id))
    if (extra.length !== this.state.extra.length) setJSON(this.kv, this.k("extra"), extra)
    this.set({ rows, rowGrids, extra })
    this.scheduleSnapshot()
    if (this.settling.size) this.settle()
    // Coordinators keep every household of their grids on the phone, medics those with an
    // open episode (the medic index lists no others).
    for (const id of this.listedHouseholds) if (!this.handles.has(id)) void this.load(id)
    for (const [id, row] of Object.entries(rows)) {
      if (!this.handles.has(id) && this.keepsRow(row)) void this.load(id)
      // A volunteer's household comes with the work: the address is needed at the door.
      if (row.household && this.needsHousehold(row) && !this.handles.has(row.household)) void this.load(row.household)
    }
    this.schedulePurge()
  }

  private needsHousehold(row: SummaryRow | DocSummary): boolean {
    const role = this.user.role
    if (role === "coordinator" || role === "admin") return true
    if (role === "medic") return row.kind === "episode" && row.status !== "closed"
    if (row.kind === "task") return isOpenTask(row.status) && row.assignee === this.user.id
    if (row.kind === "episode") return row.status !== "closed" && row.assignee === this.user.id
    return false
  }

  /**
   * Whether the server lets this user read a listed document (DESIGN §4, §9), so the phone
   * does not ask for what it will be refused: medics never read tasks; coordinators and
   * admins never read an episode's readings or medical record (their lists do not give
   * them either); volunteers read their work, and the readings of their episode, only
   * while it is open (what they finished stays listed for a few days).
   */
  private mayRead(row: SummaryRow): boolean {
    const role = this.user.role
    if (role === "medic") return row.kind !== "task"
    if (role !== "volunteer") return row.kind !== "readings" && row.kind !== "medical"
    if (row.assignee !== this.user.id) return false
    return row.kind === "task" ? isOpenTask(row.status) : row.status !== "closed"
  }

  /**
   * Whether the phone keeps listed work: its user may read it and it is not closed. A
   * closed episode, and a task once closed (confirmed after delivered or failed, or
   * cancelled), stay listed for a few days but are not kept on coordinators', medics' and
   * admins' phones; opened again, they are fetched from the server. (A volunteer's phone
   * asks for open work of theirs only, and keeps what it has while the inbox lists it.)
   */
  private keepsRow(row: SummaryRow): boolean {
    if (!this.mayRead(row)) return false
    if (row.kind === "task") return row.status !== "confirmed" && row.status !== "cancelled"
    // An episode's readings and medical record are listed with the episode's status.
    if (row.kind === "episode" || row.kind === "readings" || row.kind === "medical") return row.status !== "closed"
    return true
  }

  /**
   * Whether the phone should hold this document: it has unsynced changes, a screen shows
   * it, or the lists give it to this user —
   * - volunteer: what the inbox lists, and a household while open work of theirs refers
   *   to it;
   * - coordinator, admin, medic: listed work that is not closed (`keepsRow`), the
   *   households their lists give them, and the household of work they keep;
   * - for everyone, a document made here until the lists first list it, unless the server
   *   said it is not theirs.
   */
  private wanted(id: string): boolean {
    if (this.pending.has(id) || this.held.has(id)) return true
    if (this.state.extra.includes(id) && !this.state.gone[id]) return true
    const row = this.state.rows[id]
    if (this.user.role === "volunteer") {
      if (row) return true
      // A household, while some open work of this volunteer refers to it.
      return Object.values(this.state.rows).some(r => r.household === id && this.needsHousehold(r))
    }
    if (row) return this.keepsRow(row)
    if (this.listedHouseholds.has(id)) return true
    return Object.values(this.state.rows).some(r => r.household === id && this.keepsRow(r) && this.needsHousehold(r))
  }

  /**
   * A screen shows `id` (e.g. closed work opened from the list): it stays on the phone,
   * and is loaded if need be, until the returned function is called.
   */
  hold(idOrUrl: string): () => void {
    const id = bareId(idOrUrl)
    this.held.set(id, (this.held.get(id) ?? 0) + 1)
    let released = false
    return () => {
      if (released) return
      released = true
      const n = (this.held.get(id) ?? 1) - 1
      if (n > 0) this.held.set(id, n)
      else {
        this.held.delete(id)
        this.schedulePurge()
      }
    }
  }

  // ---- loading documents --------------------------------------------------------------

  private active = 0
  private queue: { id: string; go: () => void }[] = []

  private slot(id: string): Promise<() => void> {
    const release = () => {
      this.active--
      this.queue.shift()?.go()
    }
    if (this.active < 24) {
      this.active++
      return Promise.resolve(release)
    }
    return new Promise(resolve =>
      this.queue.push({
        id,
        go: () => {
          this.active++
          resolve(release)
        },
      }),
    )
  }

  /** A screen needs this document now: load it before the others still queued. */
  prioritize(idOrUrl: string): void {
    const id = bareId(idOrUrl)
    if (this.handles.has(id)) return
    const i = this.queue.findIndex(q => q.id === id)
    if (i > 0) this.queue.unshift(...this.queue.splice(i, 1))
    else if (i < 0 && !this.finding.has(id)) void this.load(id)
  }

  /** Finds a document (IndexedDB first, then the server) and keeps it up to date. */
  load(idOrUrl: string): Promise<DocHandle<AnyDoc> | null> {
    const id = bareId(idOrUrl)
    const existing = this.handles.get(id)
    if (existing) return Promise.resolve(existing)
    const inflight = this.finding.get(id)
    if (inflight) return inflight
    this.set({ total: this.state.total + 1 })
    const p = (async () => {
      const release = await this.slot(id)
      let released = false
      const free = () => {
        if (!released) {
          released = true
          release()
        }
      }
      // A find that waits for the network must not hold a slot for long.
      const timer = setTimeout(free, 2000)
      try {
        const handle = await this.repo.find<AnyDoc>(id as AnyDocumentId)
        this.attach(id, handle)
        return handle
      } catch {
        this.missingDocs.add(id)
        return null
      } finally {
        clearTimeout(timer)
        free()
        this.finding.delete(id)
        this.set({ loaded: this.state.loaded + 1 })
      }
    })()
    this.finding.set(id, p)
    return p
  }

  private attach(id: string, handle: DocHandle<AnyDoc>): void {
    if (this.handles.get(id) === handle) return
    this.handles.set(id, handle)
    const onChange = () => this.onDocChange(id, handle)
    const onEphemeral = (p: DocHandleEphemeralMessagePayload<AnyDoc>) => this.onEphemeral(id, p.senderId, p.message)
    const onRemote = (p: DocHandleRemoteHeadsPayload) => this.onRemoteHeads(id, handle, p.storageId, p.heads)
    handle.on("change", onChange)
    handle.on("ephemeral-message", onEphemeral)
    handle.on("remote-heads", onRemote)
    const detach = () => {
      handle.off("change", onChange)
      handle.off("ephemeral-message", onEphemeral)
      handle.off("remote-heads", onRemote)
    }
    this.detachers.set(id, detach)
    this.cleanups.push(detach)
    this.onDocChange(id, handle)
    if (this.serverStorage) {
      const info = handle.getSyncInfo(this.serverStorage)
      if (info) this.onRemoteHeads(id, handle, this.serverStorage, info.lastHeads)
    }
  }

  private detachers = new Map<string, () => void>()

  private onDocChange(id: string, handle: DocHandle<AnyDoc>): void {
    const doc = handle.doc()
    if (!doc || !("kind" in doc)) return
    const summary = summarize(doc)
    this.set({
      docs: { ...this.state.docs, [id]: doc },
      summaries: { ...this.state.summaries, [id]: summary },
    })
    this.scheduleSnapshot()
    if (this.pending.has(id)) this.checkPending(id, handle)
    if (doc.kind !== "household" && doc.household && this.needsHousehold(summary) && !this.handles.has(doc.household)) {
      void this.load(doc.household)
    }
  }

  // ---- sync bookkeeping ---------------------------------------------------------------

  private onRemoteHeads(id: string, handle: DocHandle<AnyDoc>, storageId: StorageId, heads: readonly string[]): void {
    if (storageId !== this.serverStorage) return
    if (this.pending.has(id)) {
      if (handle.isReady() && sameHeads(heads, handle.heads())) this.clearPending(id)
    } else {
      this.noteSynced()
    }
  }

  private checkPending(id: string, handle: DocHandle<AnyDoc>): void {
    if (!this.serverStorage || !handle.isReady()) return
    const info = handle.getSyncInfo(this.serverStorage)
    if (info && sameHeads(info.lastHeads, handle.heads())) this.clearPending(id)
  }

  /** Documents waiting for the server, and tasks whose step is held back (not in the
   * document yet, so not pending there). */
  private pendingCount(): number {
    return this.pending.count + this.deferred.ids().filter(id => !this.pending.has(id)).length
  }

  private markPending(id: string): void {
    this.pending.mark(id, this.now())
    this.set({ pending: this.pendingCount() })
  }

  private clearPending(id: string): void {
    if (this.pending.clear(id)) this.set({ pending: this.pendingCount() })
    this.noteSynced()
  }

  private lastNoted = 0
  private noteSynced(): void {
    if (this.state.connection !== "online" || this.pendingCount() > 0) return
    const now = this.now()
    if (now - this.lastNoted < 1000 && this.state.lastSynced) return
    this.lastNoted = now
    this.kv.set(this.k("last-synced"), String(now))
    this.set({ lastSynced: now })
  }

  /**
   * The server refused our changes to `id`: keep the phone's copy aside, and go back to
   * the server's. Only the server's word counts: ephemeral messages of other peers of the
   * document are relayed with their own sender id, and one of them must not make the
   * phone drop work.
   */
  private onEphemeral(id: string, sender: PeerId, message: unknown): void {
    const m = message as { linli?: string; reason?: string; changes?: unknown } | null
    if (!m || m.linli !== "rejected") return
    if (!this.serverPeer || sender !== this.serverPeer) return
    if (this.listIds.includes(id)) void this.reloadList(id)
    else void this.recover(id, String(m.reason ?? ""), m.changes)
  }

  /**
   * The server refused our copy of a list. The phone never writes a list, so the copy
   * holds a history the server replaced (an erasure rebuilds the lists that showed what
   * it erased); merged with the new one it may go on showing the old rows. Nothing of
   * the user's is in it: drop it and fetch the server's. Until it is back the lists are
   * not ready, so nothing is let go of meanwhile.
   */
  async reloadList(id: string): Promise<void> {
    await this.exclusively(id, async () => {
      const handle = this.listHandles.get(id)
      this.listDetachers.get(id)?.()
      this.listDetachers.delete(id)
      this.listHandles.delete(id)
      if (handle) await this.repo.flush([handle.documentId]).catch(() => undefined)
      await this.deleteCopy(id, handle)
      if (!this.stopped && this.listIds.includes(id)) await this.openListAgain(id)
    })
  }

  /** Runs `work` on `id` unless a recovery of it is under way already. */
  private async exclusively(id: string, work: () => Promise<void>): Promise<void> {
    if (this.recovering.has(id)) return
    this.recovering.add(id)
    try {
      await work()
    } finally {
      this.recovering.delete(id)
    }
  }

  /** Deletes the phone's copy of `id`: the repo's handle, and what its storage holds. */
  private async deleteCopy(id: string, handle?: DocHandle<unknown>): Promise<void> {
    if (handle) this.repo.delete(handle.documentId)
    await this.repo.storageSubsystem?.removeDoc(id as never).catch(() => undefined)
  }

  private notify(n: Omit<Notice, "id" | "at" | "title">): void {
    const title = this.state.rows[n.docId]?.title ?? ""
    const notice: Notice = { ...n, title, id: `${n.kind}:${n.docId}:${this.now()}`, at: this.now() }
    const others = this.state.notices.filter(x => !(x.docId === n.docId && x.kind === n.kind))
    this.set({ notices: [...others, notice] }, true)
  }

  dismissNotice(id: string): void {
    this.set({ notices: this.state.notices.filter(n => n.id !== id) }, true)
  }

  /**
   * Keeps the phone's copy of `id` aside, durably, before the phone lets go of it.
   * Resolves false if it could not (the caller then keeps the document and its changes
   * waiting).
   */
  private async setAside(id: string, handle: DocHandle<AnyDoc>, cause: ShelfCause, reason: string, refused: unknown = []): Promise<boolean> {
    try {
      const doc = handle.doc()
      if (!doc) return false
      const info = this.serverStorage ? handle.getSyncInfo(this.serverStorage) : undefined
      const entry = shelvedFrom(doc, {
        docId: id,
        kind: String((doc as { kind?: unknown }).kind ?? ""),
        cause,
        title: this.state.rows[id]?.title ?? "",
        reason,
        at: this.now(),
        refused,
        serverHeads: info ? decodeHeads(info.lastHeads) : null,
      })
      // The same state kept aside twice (the refusal repeated) is one entry.
      const same = this.state.shelved.find(w => w.docId === id && sameHeads(w.heads, entry.heads))
      if (same) return true
      await this.shelf.put(entry)
      this.set({ shelved: [summaryOf(entry), ...this.state.shelved] }, true)
      return true
    } catch (e) {
      console.error("could not keep refused work aside", e)
      return false
    }
  }

  private async loadShelf(): Promise<void> {
    try {
      const all = await this.shelf.all()
      const known = new Set(this.state.shelved.map(w => w.id))
      const loaded = all.filter(w => !known.has(w.id)).map(summaryOf)
      const shelved = [...this.state.shelved, ...loaded].sort((a, b) => b.at - a.at)
      this.set({ shelved })
    } catch (e) {
      console.error("could not read the kept-aside work", e)
    }
  }

  /** The export file (JSON) of kept-aside work: the given entries, or all of them. */
  async exportShelved(ids?: string[]): Promise<string> {
    const all = await this.shelf.all()
    const chosen = ids ? all.filter(w => ids.includes(w.id)) : all
    return exportShelved(chosen.sort((a, b) => b.at - a.at), this.user, this.now())
  }

  /** The user has read the notice of a kept-aside entry (it stays listed in Settings). */
  async markShelvedSeen(id: string): Promise<void> {
    const entry = (await this.shelf.all()).find(w => w.id === id)
    if (!entry) return
    await this.shelf.put({ ...entry, seen: true })
    this.set({ shelved: this.state.shelved.map(w => (w.id === id ? { ...w, seen: true } : w)) }, true)
  }

  /** Deletes a kept-aside entry for good (the screens ask for confirmation first). */
  async deleteShelved(id: string): Promise<void> {
    await this.shelf.remove(id)
    this.set({ shelved: this.state.shelved.filter(w => w.id !== id) }, true)
  }

  /**
   * Keeps the phone's copy of one document aside, drops it and fetches the server's.
   * Other documents, and their unsynced changes, are untouched. If the copy cannot be
   * kept aside, nothing is dropped: the document and its changes stay, waiting, and the
   * user is told.
   */
  async recover(id: string, reason = "", refused: unknown = []): Promise<void> {
    await this.exclusively(id, async () => {
      const handle = this.handles.get(id)
      // No more changes through the store from here: what is kept aside is final.
      this.detachers.get(id)?.()
      this.detachers.delete(id)
      this.handles.delete(id)
      if (handle) {
        // Let any throttled save land first, so it cannot write the refused state back.
        await this.repo.flush([handle.documentId]).catch(() => undefined)
        if (!(await this.setAside(id, handle, "rejected", reason, refused))) {
          this.attach(id, handle)
          this.notify({ kind: "rejected", docId: id, reason })
          return
        }
        await new Promise(r => setTimeout(r, 150))
      }
      await this.deleteCopy(id, handle)
      this.pending.clear(id)
      const { [id]: _d, ...docs } = this.state.docs
      const { [id]: _s, ...summaries } = this.state.summaries
      this.set({ docs, summaries, pending: this.pendingCount() }, true)
      if (this.wanted(id) && !this.stopped) await this.load(id)
    })
  }


  /**
   * The server says this user may not read `id` (any more): work that was reassigned or
   * cancelled, a delivery this volunteer just completed, or a household they no longer
   * serve — or, for a moment, a server that cannot read its store.
   *
   * A pending document is never let go of on that word alone: it waits for the lists to
   * say what became of it (settle). Completing a delivery closes it and with it the
   * volunteer's access, and the server stops answering before its acknowledgement
   * reaches the phone; so a pending delivery the phone closed is settled by the inbox:
   * the server lists the task there with the status it merged. The same status: done.
   * Another, or no row: the phone's changes did not get in (e.g. the coordinator
   * cancelled or reassigned it meanwhile); they are kept aside and the user is told.
   */
  private onUnavailable(id: string): void {
    if (this.listIds.includes(id)) {
      // A list of this user's is no longer theirs (a grid lost?): the app asks the server
      // which lists are (`setLists`); until then the phone keeps what the list gave.
      this.onListGone?.(id)
      return
    }
    if (!this.handles.has(id)) {
      // A stub automerge-repo made again for a forgotten document: forget it too.
      if (this.repo.handles[id as never]) this.schedulePurge()
      return
    }
    this.set({ gone: { ...this.state.gone, [id]: true } })
    if (this.pending.has(id) && !this.settling.has(id)) {
      const doc = this.state.docs[id]
      const closedByMe = doc?.kind === "task" && !isOpenTask(doc.status) && doc.log.at(-1)?.by === this.user.id
      this.settling.set(id, closedByMe ? doc.status : null)
      this.settle()
    }
    this.schedulePurge()
  }

  /**
   * Pending documents the server stopped answering for, waiting for the lists to say what
   * became of them: the status the phone closed a delivery with, or null (the work must
   * have left this user's reach before its changes are given up).
   */
  private readonly settling = new Map<string, string | null>()

  private settle(): void {
    // Until every list is open, the lists cannot say what left this user's reach.
    if (!this.listsReady()) return
    for (const [id, status] of [...this.settling]) {
      if (!this.pending.has(id)) {
        this.settling.delete(id)
        continue
      }
      const row = this.state.rows[id]
      if (status != null && row?.status === status) {
        this.settling.delete(id)
        this.clearPending(id)
        continue
      }
      const lost = status != null ? !row || (!isOpenTask(row.status) && row.status !== status) : !this.reachable(id)
      if (!lost) continue
      this.settling.delete(id)
      void this.keepLost(id, status, row ? `status: ${row.status}` : "")
    }
  }

  /** Whether the lists still give this user `id`. */
  private reachable(id: string): boolean {
    const row = this.state.rows[id]
    if (row) return this.mayRead(row)
    // Households and work not listed yet are not rows: a volunteer's household is theirs
    // while open work of theirs refers to it; the others' while their lists give it them,
    // or work of theirs refers to it, or it was made here and is not listed yet.
    const referred = Object.values(this.state.rows).some(r => r.household === id && this.needsHousehold(r))
    if (this.user.role === "volunteer") return referred
    return referred || this.listedHouseholds.has(id) || this.state.extra.includes(id)
  }

  /** Work whose changes did not get in and are no longer the user's: keep them aside. */
  private async keepLost(id: string, status: string | null, reason: string): Promise<void> {
    const handle = this.handles.get(id)
    if (handle && (await this.setAside(id, handle, "unavailable", reason))) {
      this.clearPending(id)
      this.schedulePurge()
    } else if (this.pending.has(id)) {
      // Not kept aside: it stays on the phone, waiting; the next list change tries again.
      this.settling.set(id, status)
    }
  }

  // ---- purge: the phone keeps only what its user may read (DESIGN §9) -----------------

  private schedulePurge(): void {
    if (!this.purge || this.purgeTimer || this.stopped) return
    this.purgeTimer = setTimeout(() => {
      this.purgeTimer = null
      void this.purgeNow()
    }, 2000)
  }

  /**
   * Removes from the phone (automerge-repo's IndexedDB store, the list snapshot, the
   * summaries) every document this user no longer works on or may no longer read: see
   * `wanted` for each role. That covers work that left the inbox and households without
   * open work of a volunteer's; closed work, households and work their lists no longer
   * give coordinators, medics and admins (a grid lost, a household erased); what the
   * server stopped answering for and the lists no longer give. Nothing with unsynced
   * changes is removed (`settle` first keeps them aside), and nothing is removed until
   * every list is open.
   */
  async purgeNow(): Promise<string[]> {
    if (!this.purge || !this.listsReady() || this.stopped) return []
    const removed: string[] = []
    // automerge-repo's own handles too: a message about a forgotten document makes it an
    // empty stub, which it stores.
    const ids = new Set([...this.handles.keys(), ...Object.keys(this.state.summaries), ...this.state.extra, ...Object.keys(this.repo.handles)])
    for (const id of ids) {
      if (this.listIds.includes(id) || this.wanted(id) || this.recovering.has(id) || this.settling.has(id)) continue
      // A document being fetched stays until it arrives (the next purge takes it).
      if (this.finding.has(id)) continue
      await this.removeFromPhone(id)
      removed.push(id)
    }
    if (removed.length) {
      const docs = { ...this.state.docs }
      const summaries = { ...this.state.summaries }
      for (const id of removed) {
        delete docs[id]
        delete summaries[id]
      }
      const extra = this.state.extra.filter(id => !removed.includes(id))
      if (extra.length !== this.state.extra.length) setJSON(this.kv, this.k("extra"), extra)
      this.set({ docs, summaries, extra })
      this.scheduleSnapshot()
    }
    return removed
  }

  /** Deletes one document from the phone: its handle, and every chunk in IndexedDB. */
  private async removeFromPhone(id: string): Promise<void> {
    this.detachers.get(id)?.()
    this.detachers.delete(id)
    this.handles.delete(id)
    this.missingDocs.delete(id)
    if (this.repo.handles[id as never]) this.repo.delete(id as never)
    await this.repo.storageSubsystem?.removeDoc(id as never).catch(() => undefined)
  }

  /**
   * Logging out: keeps the unsynced changes of every pending document aside (the shelf,
   * cause `logout`), so that nothing unsynced is lost when the phone forgets the rest; the
   * same user's next login puts them back and syncs them (`start`). Throws, having
   * removed nothing, if any of them could not be kept.
   */
  async keepPendingAside(): Promise<number> {
    let kept = 0
    for (const id of this.pending.ids()) {
      const handle = this.handles.get(id) ?? (await this.load(id))
      if (!handle || !handle.isReady()) throw new Error(`unsynced work ${id} is not loaded: nothing was removed`)
      await this.repo.flush([handle.documentId]).catch(() => undefined)
      if (!(await this.setAside(id, handle, "logout", ""))) throw new Error("the unsynced work could not be kept aside: nothing was removed")
      kept++
    }
    return kept
  }

  /**
   * Removes everything of this user from the phone: every document in automerge-repo's
   * store, the list snapshot, the pending set and every other `linli:<user>:` entry in
   * localStorage, and the shelf's database unless it holds kept-aside work (that is the
   * user's own unsynced work: only they delete it). Call after `keepPendingAside` and
   * `stop`. Resolves with whether the shelf was kept.
   */
  async forgetAll(): Promise<{ shelfKept: boolean }> {
    const ids = new Set([
      ...this.handles.keys(),
      ...this.listIds,
      ...this.listHandles.keys(),
      ...Object.keys(this.state.summaries),
      ...Object.keys(this.state.rows),
      ...this.state.extra,
      ...this.pending.ids(),
      ...Object.keys(this.repo.handles),
    ])
    for (const id of ids) await this.repo.storageSubsystem?.removeDoc(id as never).catch(() => undefined)
    const prefix = `linli:${this.user.id}:`
    for (const key of this.kv.keys()) if (key.startsWith(prefix)) this.kv.remove(key)
    let shelfKept = true
    try {
      shelfKept = (await this.shelf.all()).length > 0
      if (!shelfKept) await this.shelf.destroy?.()
    } catch (e) {
      console.error("could not read the kept-aside work", e)
    }
    this.pending.reset()
    this.set({ rows: {}, rowGrids: {}, summaries: {}, docs: {}, extra: [], pending: 0 }, true)
    return { shelfKept }
  }

  /**
   * Work kept aside when this user logged out with changes waiting goes back into the
   * phone's store, waiting again, and syncs like any change (if the server refuses it or
   * it is no longer theirs, it is kept aside again as usual). Its shelf entry is removed
   * once the document is stored.
   */
  private async restoreKept(): Promise<void> {
    let all: ShelvedWork[]
    try {
      all = await this.shelf.all()
    } catch {
      return
    }
    for (const w of all.filter(w => w.cause === "logout").sort((a, b) => a.at - b.at)) {
      try {
        const handle = this.repo.import<AnyDoc>(w.bytes, { docId: w.docId as DocumentId })
        if (!handle.isReady()) handle.doneLoading()
        this.markPending(w.docId)
        await this.repo.flush([handle.documentId])
        this.attach(w.docId, handle)
        await this.shelf.remove(w.id)
      } catch (e) {
        // It stays on the shelf (listed in Settings, exportable): nothing is lost.
        console.error("could not restore kept-aside work", e)
      }
    }
  }

  // ---- network ------------------------------------------------------------------------

  /** The device lost or regained its network (window `offline` / `online`). */
  setOnline(online: boolean): void {
    if (!this.link) return
    if (online) {
      if (!this.paused && this.state.connection === "online") return
      this.paused = false
      this.set({ connection: "connecting" })
      this.link.resume()
    } else {
      this.paused = true
      this.link.pause()
      this.set({ connection: "offline" })
    }
  }

  /** Reconnects (e.g. with a new token). */
  reconnect(): void {
    if (!this.link) return
    this.paused = false
    this.set({ connection: "connecting" })
    this.link.resume()
  }

  /** Stops syncing (session expired: there is no point retrying with a dead token). */
  pause(): void {
    if (!this.link) return
    this.paused = true
    this.link.pause()
    this.set({ connection: "offline" })
  }

  async stop(): Promise<void> {
    // A step held back for undo is the user's work: it is written before the store goes.
    this.deferred.commitAll()
    this.stopped = true
    this.cleanups.forEach(c => c())
    if (this.snapTimer) this.saveSnapshot()
    for (const t of [this.emitTimer, this.purgeTimer]) if (t) clearTimeout(t)
    this.link?.pause()
    await this.repo.flush().catch(() => undefined)
    this.repo.networkSubsystem.adapters.forEach(a => {
      try {
        a.disconnect()
      } catch {
        // already disconnected
      }
    })
  }

  // ---- reading ------------------------------------------------------------------------

  doc<T extends AnyDoc>(id: string): T | undefined {
    return this.state.docs[bareId(id)] as T | undefined
  }

  // ---- changing -----------------------------------------------------------------------

  private handle(id: string): DocHandle<AnyDoc> {
    const h = this.handles.get(bareId(id))
    if (!h || !h.isReady()) throw new Error(`document ${id} is not loaded`)
    return h
  }

  private change<T extends AnyDoc>(id: string, fn: (d: T) => void): void {
    const h = this.handle(id) as unknown as DocHandle<T>
    h.change(d => fn(d as T))
    this.markPending(bareId(id))
    this.persist(h)
    this.onDocChange(bareId(id), h as unknown as DocHandle<AnyDoc>)
  }

  /**
   * Writes the phone's change to IndexedDB at once. automerge-repo's own save waits up to
   * its throttle (100 ms) after a previous one; a phone put away or a tab closed right
   * after a tap must not lose what the tap did.
   */
  private persist(h: DocHandle<unknown>): void {
    this.repo.flush([h.documentId]).catch(e => console.error("could not save a change on the phone", e))
  }

  private create<T extends AnyDoc>(value: T): string {
    const h = this.repo.create<T>(value)
    const id = h.documentId as string
    this.markPending(id)
    this.persist(h)
    this.attach(id, h as unknown as DocHandle<AnyDoc>)
    this.set({ extra: [...this.state.extra, id] })
    setJSON(this.kv, this.k("extra"), this.state.extra)
    return id
  }

  // Volunteer

  /** One status step of the assigned volunteer, logged; `failed` needs a reason. Written
   * at once (see `stepTask` for the step that can be undone). */
  advanceTask(id: string, to: TaskStatus, opts: { note?: string; failureReason?: string; at?: number } = {}): void {
    const t = this.doc<Task>(id)
    if (!t || t.kind !== "task") throw new Error("no such task")
    if (!volunteerNext(t.status).includes(to) && !coordinatorMove(t.status, to)) {
      throw new Error(`${t.status} → ${to} is not a step`)
    }
    const reason = opts.failureReason?.trim() ?? ""
    if (to === "failed" && !reason) throw new Error("a failed delivery needs a reason")
    const at = opts.at ?? this.now()
    this.change<Task>(id, d => {
      d.log.push(logEntry(this.user.id, d.status, to, opts.note?.trim() || (to === "failed" ? reason : ""), at))
      d.status = to
      if (to === "failed") d.failure_reason = reason
    })
  }

  /**
   * The volunteer's step, held back for the undo window (deferred.ts): written when the
   * window ends, at the next step or write, or by `commitSteps` (page hidden or closed).
   * Any step held before is written first; the step is checked against the task as it is
   * then, so a step that is not allowed throws at the tap, not later.
   */
  stepTask(id: string, to: TaskStatus, opts: { note?: string; failureReason?: string } = {}): void {
    this.deferred.commitAll()
    const t = this.doc<Task>(id)
    if (!t || t.kind !== "task") throw new Error("no such task")
    if (!volunteerNext(t.status).includes(to)) throw new Error(`${t.status} → ${to} is not a step`)
    if (to === "failed" && !opts.failureReason?.trim()) throw new Error("a failed delivery needs a reason")
    this.deferred.defer({ task: id, to, note: opts.note, failureReason: opts.failureReason, at: this.now() })
  }

  /** Remembers that a screen showed this work (so it is no longer marked new). Only the
   * ids still listed are kept, so the list does not grow for ever. */
  markOpened(idOrUrl: string): void {
    const id = bareId(idOrUrl)
    if (this.state.opened[id]) return
    const opened: Record<string, true> = { [id]: true }
    for (const k of Object.keys(this.state.opened)) if (this.state.rows[k]) opened[k] = true
    this.set({ opened })
    setJSON(this.kv, this.k("opened"), Object.keys(opened))
  }

  /** Drops the task's held step (undo); false when its window had already ended. */
  undoStep(id: string): boolean {
    return this.deferred.undo(id)
  }

  /** Writes every held step now: the page is being hidden or closed, or the user leaves. */
  commitSteps(): void {
    this.deferred.commitAll()
  }

  private writeStep(step: DeferredStep): void {
    this.advanceTask(step.task, step.to, step)
    // Written, maybe at pagehide, when the page may go before IndexedDB has saved it: it is
    // kept in localStorage (synchronous) until the save is confirmed.
    this.unsaved.set(step.task, step)
    this.saveSteps()
    this.repo
      .flush([step.task as DocumentId])
      .then(() => {
        if (this.unsaved.get(step.task) !== step) return
        this.unsaved.delete(step.task)
        this.saveSteps()
      })
      .catch(() => undefined)
  }

  /** Held and not yet saved steps, in localStorage: a page closed or killed in the
   * window loses no step (`replaySteps`). */
  private saveSteps(): void {
    const steps = [...Object.values(this.deferred.all()), ...this.unsaved.values()]
    if (steps.length) setJSON(this.kv, this.k("steps"), steps)
    else this.kv.remove(this.k("steps"))
  }

  /**
   * At start: the steps the last run held or had not seen saved are written, unless the
   * task took them already (its log has the entry) or can no longer take them.
   */
  private async replaySteps(): Promise<void> {
    for (const step of getJSON<DeferredStep[]>(this.kv, this.k("steps")) ?? []) {
      await this.load(step.task)
      const t = this.doc<Task>(step.task)
      const taken = t?.log.some(e => e.to === step.to && e.at === step.at && e.by === this.user.id)
      try {
        if (t && !taken && volunteerNext(t.status).includes(step.to)) this.writeStep(step)
      } catch (e) {
        console.error("a step of the last run could not be written", e)
      }
    }
    this.saveSteps()
  }

  /** A note in the task's log (`from` = `to`). */
  addTaskNote(id: string, note: string): void {
    const text = note.trim()
    if (!text) return
    this.deferred.commitAll()
    const now = this.now()
    this.change<Task>(id, d => {
      d.log.push(logEntry(this.user.id, d.status, d.status, text, now))
    })
  }

  /**
   * The readings document of episode `id` (its check-ins, DESIGN §9), if the phone knows
   * which it is: the episode's link, which the server sets shortly after the episode is
   * made, else a readings document on the phone that names the episode.
   */
  readingsId(id: string): string | null {
    const episode = bareId(id)
    const linked = this.doc<Episode>(episode)?.readings
    return linked ? bareId(linked) : (readingsIds(this.state.summaries).get(episode) ?? null)
  }

  /** The readings of episode `id`, once they are on the phone (the assigned volunteer's
   * and the grid's medics' phones only: nobody else may read them). */
  readings(id: string): Readings | undefined {
    const rid = this.readingsId(id)
    const r = rid ? this.doc<Readings>(rid) : undefined
    return r?.kind === "readings" ? r : undefined
  }

  /**
   * Records a check-in of episode `id` under `key` ("YYYY-MM-DD/<slot>"), in the episode's
   * readings document: the only part of it a phone writes (the rest is the server's copy
   * of the episode). Throws while the readings are not on the phone yet (a new episode's
   * are made by the server), and for a key already taken — in the readings, or in an
   * older copy of the episode not yet synced (`legacyCheckins`), which the server moves
   * into the readings.
   */
  addCheckin(id: string, key: string, checkin: Checkin): void {
    if (!parseCheckinKey(key)) throw new Error(`bad check-in key ${key}`)
    this.deferred.commitAll()
    const e = this.doc<Episode>(id)
    if (!e || e.kind !== "episode") throw new Error("no such episode")
    const rid = this.readingsId(id)
    const r = this.readings(id)
    if (!rid || !r || !this.handles.get(rid)?.isReady()) throw new Error("the check-in sheet of this observation is not on the phone yet")
    if (e.status === "closed" || r.status === "closed") throw new Error("the observation is closed")
    if (r.checkins[key] || legacyCheckins(e)[key]) throw new Error("this check-in is already recorded")
    this.change<Readings>(rid, d => {
      d.checkins[key] = checkin
    })
  }

  // Coordinator

  createHousehold(h: NewHousehold): string {
    return this.create(newHousehold(h))
  }

  updateHousehold(id: string, patch: Partial<Omit<Household, "kind" | "schema" | "grid">>): void {
    const clean = newHousehold({ ...(this.doc<Household>(id) as Household), ...patch } as NewHousehold)
    this.change<Household>(id, d => {
      for (const k of ["building", "unit", "room", "phone", "notes"] as const) {
        if (d[k] !== clean[k]) d[k] = clean[k]
      }
      if (patch.members) d.members = clean.members
    })
  }

  createTask(t: NewTask): string {
    return this.create(newTask(t, this.user.id, this.now()))
  }

  /** Assigns, reassigns (`userId`) or unassigns (`null`) a delivery. */
  assignTask(id: string, userId: string | null): void {
    const now = this.now()
    this.change<Task>(id, d => {
      if (userId) {
        if (d.status === "new") {
          d.log.push(logEntry(this.user.id, "new", "assigned", "", now))
          d.status = "assigned"
        } else if (d.assignee !== userId) {
          d.log.push(logEntry(this.user.id, d.status, d.status, `reassigned`, now))
        }
        d.assignee = userId
      } else {
        if (d.status !== "assigned") throw new Error("only an assigned delivery can be unassigned")
        d.log.push(logEntry(this.user.id, "assigned", "new", "", now))
        d.status = "new"
        d.assignee = null
      }
    })
  }

  /**
   * Sends a failed delivery again (failed → assigned), to the same or another volunteer.
   * The failure stays in the log (its reason is the failing entry's note).
   */
  resendTask(id: string, userId: string): void {
    const t = this.doc<Task>(id)
    if (!t || t.status !== "failed") throw new Error("only a failed delivery is sent again")
    const now = this.now()
    this.change<Task>(id, d => {
      d.log.push(logEntry(this.user.id, "failed", "assigned", "", now))
      d.status = "assigned"
      d.assignee = userId
      d.failure_reason = null
    })
  }

  /** Coordinator moves: confirm (delivered | failed → confirmed) and cancel. */
  moveTask(id: string, to: TaskStatus, note = ""): void {
    const t = this.doc<Task>(id)
    if (!t || !coordinatorMove(t.status, to)) throw new Error(`${t?.status} → ${to} is not a step`)
    const now = this.now()
    this.change<Task>(id, d => {
      d.log.push(logEntry(this.user.id, d.status, to, note.trim(), now))
      d.status = to
    })
  }

  createEpisode(e: NewEpisode): string {
    return this.create(newEpisode(e))
  }

  assignEpisode(id: string, userId: string | null): void {
    this.change<Episode>(id, d => {
      d.assignee = userId
    })
  }

  closeEpisode(id: string): void {
    const now = this.now()
    this.change<Episode>(id, d => {
      d.status = "closed"
      d.closed_at = now
    })
  }

  /** Remembers a document beyond the lists (e.g. a household opened from a task). */
  remember(id: string): void {
    const bare = bareId(id)
    if (this.state.extra.includes(bare)) return
    this.set({ extra: [...this.state.extra, bare] })
    setJSON(this.kv, this.k("extra"), this.state.extra)
  }
}
