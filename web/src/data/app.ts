/**
 * The app controller: the session, the JSON API, the data store and the device's network
 * state, behind one small interface for the screens. Screens never fetch, open sockets or
 * touch IndexedDB themselves.
 *
 * Sessions: the token lives in localStorage and goes in the API's Authorization header;
 * the WebSocket is authenticated by the HttpOnly session cookie that login and refresh
 * set, so no token is ever in a URL. After a new login or a refresh the socket is dialled
 * again, with the new cookie. An expired session never blocks work: the store keeps every
 * change locally, the sync indicator shows them waiting, and once the device is online
 * the app asks the user to log in again; the same user's new token resumes sync where it
 * stopped.
 */
import { IndexedDBStorageAdapter } from "@automerge/automerge-repo-storage-indexeddb"
import { Api, ApiError, sessionFrom, type Alert, type Dashboard, type ExportName, type RiskApplied, type StatsDay, type UserRow } from "./api"
import { setCommunityUtcOffset } from "./domain"
import { browserKV, getJSON, setJSON, type KV } from "./kv"
import { clearSession, isExpired, loadSession, saveSession, syncUrl, wantsRefresh, type RiskLevel, type Session } from "./session"
import { deleteDatabase } from "./shelf"
import { webSocketLink } from "./socket"
import { LinliStore, type State } from "./store"

export interface AppState {
  session: Session | null
  /** The token is no longer valid: work goes on; log in again when online to sync. */
  sessionExpired: boolean
  online: boolean
  data: State | null
  /** Whether the browser granted persistent storage (null: unknown / not asked yet). */
  persisted: boolean | null
}

export interface Cached<T> {
  value: T
  at: number
}

export interface AppDeps {
  kv?: KV
  api?: Api
  now?: () => number
  /** Builds the store for a session (tests pass one without IndexedDB or network).
   * `erase` deletes the store's database once it is stopped (logout). */
  makeStore?: (s: Session, kv: KV, online: boolean, hooks: StoreHooks) => MadeStore
  online?: () => boolean
  /** Resolves once Automerge's WASM is initialised: stores start only after it. */
  ready?: Promise<void>
}

type Listener = (s: AppState) => void

export interface StoreHooks {
  /** The server stopped answering for one of the store's lists. */
  onListGone: (id: string) => void
}

export interface MadeStore {
  store: LinliStore
  erase?: () => Promise<void>
}

/**
 * The list documents a user opens: their inbox, or the indexes of the grids they oversee.
 * Medics may not read a grid index (it lists deliveries): they open the medic index.
 */
export function listsFor(s: Session): string[] {
  if (s.user.role === "volunteer") return s.inbox ? [s.inbox] : []
  const medic = s.user.role === "medic"
  return (s.grids ?? []).map(g => (medic ? g.medic_index : g.index)).filter((x): x is string => !!x)
}

/** The IndexedDB database of a user's documents (automerge-repo's store). */
export const docsDatabase = (userId: string) => `linli-${userId}`

function defaultStore(s: Session, kv: KV, online: boolean, hooks: StoreHooks): MadeStore {
  const link = webSocketLink(syncUrl(), !online || isExpired(s, Date.now()))
  const name = docsDatabase(s.user.id)
  const storage = new IndexedDBStorageAdapter(name)
  const store = new LinliStore({
    user: s.user,
    lists: listsFor(s),
    kv,
    storage,
    link,
    // Every role's phone keeps only what its user may read (DESIGN §9).
    purge: true,
    onListGone: hooks.onListGone,
  })
  const erase = async () => {
    const opened = (storage as unknown as { dbPromise: Promise<IDBDatabase> }).dbPromise
    ;(await opened.catch(() => null))?.close()
    await deleteDatabase(name)
  }
  return { store, erase }
}

/** How long a fetched directory of people is used before asking the server again. */
const DIRECTORY_MAX_AGE_MS = 5 * 60_000

/**
 * A socket that keeps failing while the API answers may lack a good session cookie (the
 * browser dropped it): a refresh sets a new one. At most this often, so a socket failing
 * for another reason does not churn sessions.
 */
const COOKIE_REFRESH_EVERY_MS = 10 * 60_000

export class App {
  readonly kv: KV
  readonly api: Api
  state: AppState
  store: LinliStore | null = null
  private eraseStore?: () => Promise<void>
  private readonly now: () => number
  private readonly makeStore: NonNullable<AppDeps["makeStore"]>
  private readonly isOnline: () => boolean
  private listeners = new Set<Listener>()
  private unsubStore?: () => void
  private timer?: ReturnType<typeof setInterval>
  private connectingSince: number | null = null
  private refreshing = false
  private probeRefreshedAt = -Infinity
  /** When the directory was last fetched (it changes rarely; rows change often). */
  private directoryFetchedAt = -Infinity
  /** Whose directory that was: a user and their grids. */
  private directoryFor: string | undefined
  private directoryFetch: Promise<void> | null = null
  private readonly ready: Promise<void>

  constructor(deps: AppDeps = {}) {
    this.kv = deps.kv ?? browserKV()
    this.now = deps.now ?? Date.now
    this.isOnline = deps.online ?? (() => (typeof navigator === "undefined" ? true : navigator.onLine))
    this.api = deps.api ?? new Api(() => this.state.session?.token ?? null)
    this.makeStore = deps.makeStore ?? defaultStore
    this.ready = deps.ready ?? Promise.resolve()
    const session = loadSession(this.kv)
    setCommunityUtcOffset(session?.utc_offset_minutes)
    this.state = {
      session,
      sessionExpired: session ? isExpired(session, this.now()) : false,
      online: this.isOnline(),
      data: null,
      persisted: null,
    }
  }

  subscribe(fn: Listener): () => void {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }

  private set(patch: Partial<AppState>): void {
    if ("session" in patch) setCommunityUtcOffset(patch.session?.utc_offset_minutes)
    this.state = { ...this.state, ...patch }
    this.listeners.forEach(l => l(this.state))
  }

  /**
   * Opens the saved session's store without starting it: its state (the list as the phone
   * last saw it) is there at once, before Automerge's WASM is even loaded.
   */
  prepare(): void {
    const s = this.state.session
    if (s && !this.store) this.createStore(s)
  }

  /** Starts the data layer for the saved session, if any. */
  async boot(): Promise<void> {
    if (typeof window !== "undefined") {
      window.addEventListener("online", () => this.setOnline(true))
      window.addEventListener("offline", () => this.setOnline(false))
      document.addEventListener("visibilitychange", () => {
        if (document.visibilityState === "visible") void this.checkSession()
        // The phone put away: steps held back for undo are written now, not lost.
        else this.store?.commitSteps()
      })
      window.addEventListener("pagehide", () => this.store?.commitSteps())
    }
    this.timer = setInterval(() => void this.checkSession(), 30_000)
    const s = this.state.session
    if (!s) return
    if (!this.store) this.createStore(s)
    void this.checkSession()
    await this.startStore()
  }

  private async openStore(s: Session): Promise<void> {
    if (this.store) await this.closeStore()
    this.createStore(s)
    await this.startStore()
  }

  private createStore(s: Session): void {
    const { store, erase } = this.makeStore(s, this.kv, this.state.online, { onListGone: () => void this.refreshMe().catch(() => undefined) })
    this.store = store
    this.eraseStore = erase
    this.unsubStore = store.subscribe(data => {
      this.trackConnection(data)
      this.set({ data })
    })
    this.set({ data: store.state })
    if (!this.state.online) store.setOnline(false)
    if (this.state.sessionExpired) store.pause()
  }

  private async startStore(): Promise<void> {
    const store = this.store
    if (!store) return
    void this.askPersist()
    await this.ready
    if (store === this.store) await store.start()
  }

  private async closeStore(): Promise<void> {
    this.unsubStore?.()
    const store = this.store
    this.store = null
    this.set({ data: null })
    await store?.stop()
  }

  private async askPersist(): Promise<void> {
    try {
      const st = typeof navigator !== "undefined" ? navigator.storage : undefined
      if (!st?.persist) return
      const persisted = (await st.persisted?.()) || (await st.persist())
      this.set({ persisted })
    } catch {
      this.set({ persisted: false })
    }
  }

  // ---- network and session ------------------------------------------------------------

  setOnline(online: boolean): void {
    this.set({ online })
    if (!online) {
      this.store?.setOnline(false)
      return
    }
    if (!this.state.sessionExpired) this.store?.setOnline(true)
    void this.checkSession()
  }

  /** A socket that keeps failing while the device is online may mean a dead token. */
  private trackConnection(data: State): void {
    if (data.connection !== "connecting") {
      this.connectingSince = null
      return
    }
    const now = this.now()
    if (this.connectingSince == null) this.connectingSince = now
    else if (now - this.connectingSince > 12_000) {
      this.connectingSince = now
      void this.checkSession(true)
    }
  }

  /**
   * Expiry, refresh, and the grid list; never blocks work. `probe`: the socket keeps
   * failing although the device is online.
   */
  async checkSession(probe = false): Promise<void> {
    const s = this.state.session
    if (!s) return
    if (isExpired(s, this.now())) return this.expire()
    if (!this.isOnline()) return
    const cookieSuspect = probe && this.now() - this.probeRefreshedAt >= COOKIE_REFRESH_EVERY_MS
    try {
      if ((wantsRefresh(s, this.now()) || cookieSuspect) && !this.refreshing) {
        this.refreshing = true
        if (cookieSuspect) this.probeRefreshedAt = this.now()
        const fresh = await this.api.refresh().finally(() => (this.refreshing = false))
        this.adoptToken({ ...s, token: fresh.token, expires_at: fresh.expires_at, user: fresh.user })
      } else if (probe || !s.grids || s.utc_offset_minutes === undefined) {
        await this.refreshMe()
      }
    } catch (e) {
      if (e instanceof ApiError && e.unauthorized) this.expire()
    }
  }

  private meAsked = false
  /** Asks the server who this user is now (`GET /api/me`): their grids, and with them the
   * lists the store opens (a grid lost takes its documents off the phone). */
  async refreshMe(): Promise<void> {
    const s = this.state.session
    if (!s || this.meAsked || !this.isOnline() || this.state.sessionExpired) return
    this.meAsked = true
    try {
      const me = await this.api.me()
      const now = this.state.session
      if (!now || now.user.id !== s.user.id) return
      const next: Session = { ...now, user: me.user, inbox: me.inbox, grids: me.grids, utc_offset_minutes: me.utc_offset_minutes }
      saveSession(this.kv, next)
      this.set({ session: next })
      this.syncLists(next)
    } finally {
      this.meAsked = false
    }
  }

  /** Points the store at the session's lists (grids gained or lost). */
  private syncLists(s: Session): void {
    const lists = listsFor(s)
    if (this.store && lists.length > 0) void this.store.setLists(lists)
  }

  private expire(): void {
    if (!this.state.sessionExpired) this.set({ sessionExpired: true })
    this.store?.pause()
  }

  /** A new token, and with it a new session cookie: the socket is dialled again with it. */
  private adoptToken(next: Session): void {
    saveSession(this.kv, next)
    this.set({ session: next, sessionExpired: false })
    if (next.grids) this.syncLists(next)
    if (this.isOnline()) this.store?.reconnect()
  }

  /**
   * Logs in. The same user as before keeps their store (and its unsynced changes) and
   * only swaps the token; another user gets their own store (the previous user's changes
   * stay on the phone, in their own database, until they log in again).
   */
  async login(username: string, password: string): Promise<void> {
    const res = await this.api.login(username, password)
    let me
    try {
      me = await new Api(() => res.token).me()
    } catch {
      me = undefined
    }
    const next = sessionFrom(res, me)
    const prev = this.state.session
    if (prev && prev.user.id === next.user.id && this.store) {
      this.adoptToken({
        ...next,
        inbox: next.inbox ?? prev.inbox,
        grids: next.grids ?? prev.grids,
        utc_offset_minutes: next.utc_offset_minutes ?? prev.utc_offset_minutes,
      })
      return
    }
    // Another user: the previous one's documents leave the phone, as at their logout
    // (their unsynced work kept aside for their next login).
    if (prev && this.store) {
      try {
        await this.store.keepPendingAside()
        await this.retireStore()
      } catch (e) {
        // Not kept aside: their database stays, with the work, until they log in again.
        console.error("could not keep the previous user's unsynced work aside", e)
        await this.closeStore()
      }
    }
    saveSession(this.kv, next)
    this.set({ session: next, sessionExpired: false })
    // The store loads in the background; the screens show its progress.
    void this.openStore(next)
  }

  /**
   * Logs out, and the phone forgets this user (DESIGN §9): every document (the database
   * of automerge-repo's store is deleted), the list snapshot, the dashboard and directory
   * caches, every `linli:<user>:` entry in localStorage. Refused (false) while changes
   * wait, unless `force`: the user has been told that the waiting changes are kept aside
   * on the phone — in the shelf, whose database alone stays, and only if it holds work —
   * and sync at their next login. If they cannot be kept aside this throws, and nothing
   * is removed: the user stays logged in.
   */
  async logout(force = false): Promise<boolean> {
    const store = this.store
    store?.commitSteps()
    if (!force && (store?.state.pending ?? 0) > 0) return false
    if (store && store.state.pending > 0) await store.keepPendingAside()
    try {
      if (this.isOnline() && !this.state.sessionExpired) await this.api.logout()
    } catch {
      // offline or already expired: forgetting the token locally is enough
    }
    clearSession(this.kv)
    await this.retireStore()
    this.set({ session: null, sessionExpired: false })
    return true
  }

  /** Stops the store and removes everything of its user from the phone. */
  private async retireStore(): Promise<void> {
    const store = this.store
    const erase = this.eraseStore
    this.eraseStore = undefined
    await this.closeStore()
    if (!store) return
    await store.forgetAll()
    await erase?.().catch(e => console.error("could not delete the documents' database", e))
  }

  // ---- coordinator queries (online, cached for offline) ---------------------------------

  private async cached<T>(key: string, fetcher: () => Promise<T>): Promise<Cached<T> & { stale: boolean }> {
    const k = `linli:${this.state.session?.user.id}:cache:${key}`
    try {
      const value = await fetcher()
      const c = { value, at: this.now() }
      setJSON(this.kv, k, c)
      return { ...c, stale: false }
    } catch (e) {
      if (e instanceof ApiError && e.unauthorized) this.expire()
      const c = getJSON<Cached<T>>(this.kv, k)
      if (c) return { ...c, stale: true }
      throw e
    }
  }

  dashboard(grid: string) {
    return this.cached<Dashboard>(`dashboard:${grid}`, () => this.api.dashboard(grid))
  }

  alerts(grid?: string) {
    return this.cached<Alert[]>(`alerts:${grid ?? "*"}`, () => this.api.alerts(grid))
  }

  async acknowledge(id: string): Promise<Alert> {
    return this.api.acknowledge(id)
  }

  async resolve(id: string, note: string): Promise<Alert> {
    return this.api.resolve(id, note)
  }

  /** Resolved alerts (who, when, note), newest first. */
  alertHistory(grid?: string) {
    return this.cached<Alert[]>(`alerts-resolved:${grid ?? "*"}`, () => this.api.alerts(grid, "resolved"))
  }

  /** The dashboard's daily counts over the last `days` days. */
  stats(grid: string, days = 14) {
    return this.cached<StatsDay[]>(`stats:${grid}:${days}`, () => this.api.stats(grid, days))
  }

  async setRisk(grid: string, level: RiskLevel): Promise<RiskApplied | undefined> {
    const { grid: g, applied } = await this.api.setRisk(grid, level)
    const s = this.state.session
    if (!s) return applied
    const next = { ...s, grids: (s.grids ?? []).map(x => (x.id === grid ? { ...x, ...g } : x)) }
    saveSession(this.kv, next)
    this.set({ session: next })
    return applied
  }

  async exportCsv(name: ExportName, purpose: string): Promise<Blob> {
    return this.api.exportCsv(name, purpose)
  }

  /**
   * People who can be assigned work: everyone for an admin (`GET /api/users`), the people
   * of one's grids for coordinators and medics (`GET /api/grids/{id}/people`). The last
   * answer is kept for offline use; assignees seen in the grid index and ids typed in
   * fill the gaps.
   */
  async directory(): Promise<UserRow[]> {
    const session = this.state.session
    const key = `linli:${session?.user.id}:directory`
    // Whose people: another user, or grids gained (a login whose /api/me failed has
    // none until the next check), fetch at once.
    const whose = `${session?.user.id} ${(session?.grids ?? []).map(g => g.id).join(",")}`
    const stale = this.directoryFor !== whose || this.now() - this.directoryFetchedAt > DIRECTORY_MAX_AGE_MS
    if (session && session.user.role !== "volunteer" && this.isOnline() && stale && !this.directoryFetch) {
      this.directoryFetchedAt = this.now()
      this.directoryFor = whose
      this.directoryFetch = this.fetchDirectory(session, key).finally(() => (this.directoryFetch = null))
    }
    // Every caller waits for a fetch under way: one that read the (empty) saved list
    // meanwhile would show ids instead of names until the next fetch, minutes later.
    if (this.directoryFetch) await this.directoryFetch
    const known = getJSON<UserRow[]>(this.kv, key) ?? []
    const byId = new Map(known.map(u => [u.id, u]))
    for (const row of Object.values(this.state.data?.rows ?? {})) {
      if (row.assignee && !byId.has(row.assignee)) {
        byId.set(row.assignee, { id: row.assignee, username: "", role: "volunteer", grids: [] })
      }
    }
    return [...byId.values()]
  }

  private async fetchDirectory(session: Session, key: string): Promise<void> {
    try {
      const fetched =
        session.user.role === "admin"
          ? await this.api.users()
          : (await Promise.all((session.grids ?? []).map(g => this.api.people(g.id)))).flat()
      if (this.state.session?.user.id !== session.user.id) return
      setJSON(this.kv, key, [...new Map(fetched.map(u => [u.id, u])).values()])
    } catch {
      // offline or refused: keep what is known
    }
  }

  dispose(): void {
    if (this.timer) clearInterval(this.timer)
    void this.closeStore()
  }
}
