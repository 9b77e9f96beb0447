import { afterEach, describe, expect, it } from "vitest"
import { Api, ApiError, type LoginResponse, type MeResponse } from "./api"
import { App, listsFor } from "./app"
import { COMMUNITY_UTC_OFFSET_MINUTES, communityDate, DEFAULT_COMMUNITY_UTC_OFFSET_MINUTES, setCommunityUtcOffset } from "./domain"
import { memoryKV, type KV } from "./kv"
import { saveSession, syncUrl, type Session, type SessionUser } from "./session"
import { IndexedDBShelf, type Shelf } from "./shelf"
import { LinliStore } from "./store"
import type { Household } from "../generated"
import { pair, waitFor } from "../test/pair"

const COORD: SessionUser = { id: "u-coord", username: "wang.coord", role: "coordinator", grids: ["g1"] }
const NOW = Date.parse("2026-03-10T04:00:00Z")

/** A fake API: answers like the server, counts calls, fails as told (`meStatus`: every
 * authenticated call). */
function fakeApi(opts: { meStatus?: number } = {}) {
  const calls: string[] = []
  let n = 0
  const login = async (username: string): Promise<LoginResponse> => {
    calls.push(`login:${username}`)
    const user = username === COORD.username ? COORD : { ...COORD, id: "u-other", username }
    return { token: `token-${++n}`, expires_at: NOW / 1000 + 12 * 3600, user }
  }
  const me = async (): Promise<MeResponse> => {
    calls.push("me")
    if (opts.meStatus) throw new ApiError(opts.meStatus, "expired", "expired")
    return { user: COORD, inbox: "automerge:inbox", grids: [{ id: "g1", name: "一网格", risk_level: "low" }] }
  }
  const refresh = async (): Promise<LoginResponse> => {
    if (opts.meStatus) throw new ApiError(opts.meStatus, "expired", "expired")
    return login(COORD.username)
  }
  const api = { login, me, refresh, logout: async () => void calls.push("logout") } as unknown as Api
  return { api, calls }
}

/** A shelf on a full disk. */
function fullShelf(): Shelf {
  return {
    put: async () => {
      throw new DOMException("the quota has been exceeded", "QuotaExceededError")
    },
    all: async () => [],
    remove: async () => undefined,
  }
}

const apps: App[] = []
afterEach(() => {
  apps.splice(0).forEach(a => a.dispose())
  setCommunityUtcOffset(undefined)
})

/** A network link that counts how often the socket is dialled (`resume`). */
function countingLink() {
  const [adapter] = pair()
  const link = { adapter, dials: 0, pause: () => undefined, resume: () => void link.dials++ }
  return link
}

function makeApp(kv: KV, api: Api, online: { value: boolean }, link?: ReturnType<typeof countingLink>) {
  const stores: LinliStore[] = []
  const app = new App({
    kv,
    api,
    now: () => NOW,
    online: () => online.value,
    makeStore: (s: Session) => {
      const store = new LinliStore({ user: s.user, lists: [], kv, now: () => NOW, link })
      stores.push(store)
      return { store }
    },
  })
  apps.push(app)
  return { app, stores }
}

describe("App sessions", () => {
  it("keeps working with an expired session offline, and resumes with the same user's new login", async () => {
    const kv = memoryKV()
    saveSession(kv, { token: "old", expires_at: NOW / 1000 - 60, user: COORD, grids: [{ id: "g1", name: "一网格", risk_level: "low" }] })
    const online = { value: false }
    const { api, calls } = fakeApi()
    const { app, stores } = makeApp(kv, api, online)
    expect(app.state.sessionExpired).toBe(true)
    app.prepare()
    await app.boot()
    // Work goes on: a household created offline with an expired session waits to sync.
    const id = app.store!.createHousehold({ grid: "g1", building: "3", unit: "2", room: "501", phone: "", notes: "", members: [] })
    expect(app.store!.state.pending).toBe(1)
    expect(app.store!.doc(id)?.kind).toBe("household")

    // Back online: still expired (the banner asks to log in); nothing was thrown away.
    online.value = true
    app.setOnline(true)
    await app.checkSession()
    expect(app.state.sessionExpired).toBe(true)
    expect(app.state.online).toBe(true)

    // The same user logs in again: same store, same waiting change, new token.
    await app.login("wang.coord", "pw")
    expect(app.state.sessionExpired).toBe(false)
    expect(app.state.session!.token).toBe("token-1")
    expect(stores).toHaveLength(1)
    expect(app.store).toBe(stores[0])
    expect(app.store!.state.pending).toBe(1)
    expect(calls).toContain("login:wang.coord")
  })

  it("treats a 401 from the server as an expired session, without blocking", async () => {
    const kv = memoryKV()
    saveSession(kv, { token: "t", expires_at: NOW / 1000 + 3 * 3600, user: COORD })
    const { api } = fakeApi({ meStatus: 401 })
    const { app } = makeApp(kv, api, { value: true })
    app.prepare()
    await app.boot()
    await app.checkSession(true)
    expect(app.state.sessionExpired).toBe(true)
    expect(app.state.session?.user.id).toBe(COORD.id)
  })

  it("dials the sync socket with no token in its URL (the session cookie authenticates it)", () => {
    expect(syncUrl({ protocol: "https:", host: "linli.example" })).toBe("wss://linli.example/sync")
    expect(syncUrl({ protocol: "http:", host: "127.0.0.1:8080" })).toBe("ws://127.0.0.1:8080/sync")
  })

  it("re-dials the socket after a refresh, so it is authenticated by the new cookie", async () => {
    const kv = memoryKV()
    // Two hours left of a twelve-hour session: time to refresh.
    saveSession(kv, { token: "old", expires_at: NOW / 1000 + 2 * 3600, user: COORD, grids: [] })
    const { api, calls } = fakeApi()
    const link = countingLink()
    const { app } = makeApp(kv, api, { value: true }, link)
    app.prepare()
    await app.boot()
    await waitFor(() => app.state.session?.token === "token-1", 5000, "the refreshed session")
    expect(calls).toEqual(["login:wang.coord"])
    expect(link.dials).toBe(1)
  })

  it("refreshes the session when the socket keeps failing while the API answers (a missing or stale cookie)", async () => {
    const kv = memoryKV()
    saveSession(kv, { token: "t", expires_at: NOW / 1000 + 11 * 3600, user: COORD, grids: [], utc_offset_minutes: 480 })
    const { api, calls } = fakeApi()
    const link = countingLink()
    const { app } = makeApp(kv, api, { value: true }, link)
    app.prepare()
    await app.boot()
    expect(calls).toEqual([])
    await app.checkSession(true)
    expect(calls).toEqual(["login:wang.coord"])
    expect(app.state.session?.token).toBe("token-1")
    expect(link.dials).toBe(1)
    // Not again and again while it keeps failing: the next probes only ask who we are.
    await app.checkSession(true)
    expect(calls).toEqual(["login:wang.coord", "me"])
    expect(link.dials).toBe(1)
  })

  it("refuses to log out while changes wait, unless forced; then keeps them aside, forgets the rest, and syncs them at the next login", async () => {
    const kv = memoryKV()
    saveSession(kv, { token: "t", expires_at: NOW / 1000 + 12 * 3600, user: COORD, grids: [] })
    const { api } = fakeApi()
    const { app, stores } = makeApp(kv, api, { value: false })
    app.prepare()
    await app.boot()
    const id = app.store!.createHousehold({ grid: "g1", building: "1", unit: "", room: "101", phone: "", notes: "门口放了一把伞", members: [] })
    kv.set("linli:u-coord:cache:dashboard:g1", "{}")
    expect(await app.logout()).toBe(false)
    expect(app.state.session).not.toBeNull()
    expect(await app.logout(true)).toBe(true)
    expect(app.state.session).toBeNull()
    // Nothing of the user is left in localStorage: not the snapshot, the caches, the
    // pending set; the waiting change is on the shelf.
    expect(kv.keys().filter(k => k.startsWith("linli:u-coord:"))).toEqual([])
    const kept = await new IndexedDBShelf("linli-shelf-u-coord").all()
    expect(kept.map(w => [w.docId, w.cause])).toEqual([[id, "logout"]])

    // The same user's next login puts it back, waiting, and off the shelf.
    await app.login("wang.coord", "pw")
    await waitFor(() => stores.length === 2 && stores[1].state.phase === "ready", 5000, "the new store")
    expect(stores[1].state.pending).toBe(1)
    expect(stores[1].doc<Household>(id)?.notes).toBe("门口放了一把伞")
    expect(stores[1].state.shelved).toEqual([])
    expect(await new IndexedDBShelf("linli-shelf-u-coord").all()).toEqual([])
  })

  it("keeps everything when the waiting changes cannot be kept aside at logout", async () => {
    const kv = memoryKV()
    saveSession(kv, { token: "t", expires_at: NOW / 1000 + 12 * 3600, user: COORD, grids: [] })
    const { api } = fakeApi()
    const app = new App({
      kv,
      api,
      now: () => NOW,
      online: () => false,
      makeStore: (s: Session) => ({ store: new LinliStore({ user: s.user, lists: [], kv, now: () => NOW, shelf: fullShelf() }) }),
    })
    apps.push(app)
    app.prepare()
    await app.boot()
    app.store!.createHousehold({ grid: "g1", building: "1", unit: "", room: "101", phone: "", notes: "", members: [] })
    await expect(app.logout(true)).rejects.toThrow(/could not be kept aside/)
    expect(app.state.session).not.toBeNull()
    expect(app.store!.state.pending).toBe(1)
    expect(kv.get("linli:u-coord:pending")).toContain("\"")
  })
})

describe("App directory", () => {
  it("names the grid's people for a coordinator, from the server once, then offline from what it kept", async () => {
    const kv = memoryKV()
    saveSession(kv, { token: "t", expires_at: NOW / 1000 + 3600, user: COORD, grids: [{ id: "g1", name: "一网格", risk_level: "low" }] })
    const asked: string[] = []
    const api = {
      people: async (grid: string) => {
        asked.push(grid)
        return [
          { id: "u-vol", username: "chen.vol", role: "volunteer", grids: [grid] },
          { id: "u-coord", username: "wang.coord", role: "coordinator", grids: [grid] },
        ]
      },
      users: async () => {
        throw new ApiError(403, "forbidden", "administrators only")
      },
    } as unknown as Api
    const online = { value: true }
    const { app } = makeApp(kv, api, online)
    const first = await app.directory()
    expect(first.map(u => [u.id, u.username, u.role])).toEqual([
      ["u-vol", "chen.vol", "volunteer"],
      ["u-coord", "wang.coord", "coordinator"],
    ])
    expect(asked).toEqual(["g1"])
    // Rows change all the time; the directory is not fetched again for each change.
    await app.directory()
    expect(asked).toEqual(["g1"])

    // Another start, offline: the names are still there.
    online.value = false
    const { app: offline } = makeApp(kv, api, online)
    expect((await offline.directory()).map(u => u.username)).toEqual(["chen.vol", "wang.coord"])
    expect(asked).toEqual(["g1"])
  })
})

describe("App directory on a first login", () => {
  const people = (asked: string[]) => async (grid: string) => {
    asked.push(grid)
    await new Promise(r => setTimeout(r, 20))
    return [{ id: "u-vol", username: "chen.vol", role: "volunteer", grids: [grid] }]
  }

  it("gives names to every screen that asks while the first fetch is under way", async () => {
    const kv = memoryKV()
    saveSession(kv, { token: "t", expires_at: NOW / 1000 + 3600, user: COORD, grids: [{ id: "g1", name: "一网格", risk_level: "low" }] })
    const asked: string[] = []
    const { app } = makeApp(kv, { people: people(asked) } as unknown as Api, { value: true })
    // The picker and the screen around it ask at once, before anything was saved.
    const [a, b] = await Promise.all([app.directory(), app.directory()])
    expect(a.map(u => u.username)).toEqual(["chen.vol"])
    expect(b.map(u => u.username)).toEqual(["chen.vol"])
    expect(asked).toEqual(["g1"])
  })

  it("fetches the next user's people at their login, and again once their grids are known", async () => {
    const kv = memoryKV()
    const grids = [{ id: "g1", name: "一网格", risk_level: "low" as const }]
    saveSession(kv, { token: "t", expires_at: NOW / 1000 + 3600, user: { ...COORD, id: "u-li", username: "li.coord" }, grids })
    const asked: string[] = []
    const api = {
      people: people(asked),
      logout: async () => undefined,
      login: async (): Promise<LoginResponse> => ({ token: "t2", expires_at: NOW / 1000 + 3600, user: COORD }),
    } as unknown as Api
    const { app } = makeApp(kv, api, { value: true })
    await app.directory()
    await app.logout(true)
    await app.login(COORD.username, "pw")
    // /api/me is not answered here: no grids, no people, until the next check gives them.
    expect(await app.directory()).toEqual([])
    app.state.session!.grids = grids
    expect((await app.directory()).map(u => u.username)).toEqual(["chen.vol"])
    expect(asked).toEqual(["g1", "g1"])
  })
})

describe("App community time", () => {
  it("counts days with the server's UTC offset from /api/me, also after a restart with no network", async () => {
    const kv = memoryKV()
    // A session saved before the server said anything about its offset.
    saveSession(kv, { token: "t", expires_at: NOW / 1000 + 12 * 3600, user: COORD, grids: [] })
    const me = async (): Promise<MeResponse> => ({ user: COORD, inbox: "automerge:inbox", grids: [], utc_offset_minutes: -300 })
    const online = { value: true }
    const { app } = makeApp(kv, { me } as unknown as Api, online)
    // The default until told otherwise: 2026-03-10 04:00 UTC is the 10th in China.
    expect(COMMUNITY_UTC_OFFSET_MINUTES).toBe(DEFAULT_COMMUNITY_UTC_OFFSET_MINUTES)
    expect(communityDate(NOW)).toBe("2026-03-10")
    await app.checkSession()
    expect(app.state.session?.utc_offset_minutes).toBe(-300)
    // Five hours behind UTC it is still the 9th.
    expect(communityDate(NOW)).toBe("2026-03-09")

    // Another start with no network: the saved session keeps the offset.
    setCommunityUtcOffset(undefined)
    online.value = false
    makeApp(kv, { me } as unknown as Api, online)
    expect(COMMUNITY_UTC_OFFSET_MINUTES).toBe(-300)
  })
})

describe("listsFor", () => {
  const grids = [{ id: "g1", name: "一网格", risk_level: "low" as const, index: "automerge:grid", medic_index: "automerge:medic" }]
  const session = (role: SessionUser["role"]): Session =>
    ({ token: "t", expires_at: NOW / 1000 + 3600, user: { ...COORD, role }, inbox: "automerge:inbox", grids })

  it("gives coordinators the grid index, medics the medic index, volunteers their inbox", () => {
    expect(listsFor(session("coordinator"))).toEqual(["automerge:grid"])
    expect(listsFor(session("admin"))).toEqual(["automerge:grid"])
    expect(listsFor(session("medic"))).toEqual(["automerge:medic"])
    expect(listsFor(session("volunteer"))).toEqual(["automerge:inbox"])
  })
})
