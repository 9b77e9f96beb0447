import type { Role } from "../generated"
import { getJSON, setJSON, type KV } from "./kv"

/** The user as `POST /api/auth/login` and `GET /api/me` return it. */
export interface SessionUser {
  id: string
  username: string
  role: Role
  grids: string[]
}

export type RiskLevel = "low" | "medium" | "high"

/** A grid as `GET /api/me` lists it (volunteers get no `index` and no `medic_index`). */
export interface GridInfo {
  id: string
  name: string
  risk_level: RiskLevel
  policy?: { checkins_per_day: number; contactless: boolean }
  /** The grid index: every delivery, episode and household (coordinators, admins). */
  index?: string
  /** The medic index: episodes and the households with an open episode (medics). */
  medic_index?: string
}

/**
 * What the phone keeps between visits: the token (for the API's Authorization header; the
 * WebSocket is authenticated by the HttpOnly session cookie instead), when it expires, and
 * the last `/api/me` answer so the app can start with no network.
 */
export interface Session {
  token: string
  /** Seconds since the epoch (the JWT's `exp`). */
  expires_at: number
  user: SessionUser
  inbox?: string
  grids?: GridInfo[]
  /** The community's offset from UTC (`GET /api/me`). */
  utc_offset_minutes?: number
}

const KEY = "linli:session"
const LAST_USER = "linli:last-user"

export function loadSession(kv: KV): Session | null {
  const s = getJSON<Session>(kv, KEY)
  if (!s || typeof s.token !== "string" || !s.user?.id) return null
  return s
}

export function saveSession(kv: KV, s: Session): void {
  setJSON(kv, KEY, s)
  kv.set(LAST_USER, s.user.username)
}

/** Forgets the token; the documents stay in IndexedDB for the same user's next login. */
export function clearSession(kv: KV): void {
  kv.remove(KEY)
}

export function lastUsername(kv: KV): string {
  return kv.get(LAST_USER) ?? ""
}

export function isExpired(s: Session, nowMs: number): boolean {
  return s.expires_at * 1000 <= nowMs
}

/** Worth refreshing: less than half of a 12-hour session left (or less than an hour). */
export function wantsRefresh(s: Session, nowMs: number, issuedAtMs?: number): boolean {
  const left = s.expires_at * 1000 - nowMs
  if (left <= 0) return false
  if (issuedAtMs != null) return left < (s.expires_at * 1000 - issuedAtMs) / 2
  return left < 6 * 3600_000
}

/**
 * The WebSocket URL of the sync endpoint, on the page's own origin. It carries no token:
 * the browser sends the session cookie (HttpOnly, SameSite=Strict) on the upgrade, and
 * the server accepts it from the page's origin (DESIGN §9: no token in any URL).
 */
export function syncUrl(loc: { protocol: string; host: string } = location): string {
  const scheme = loc.protocol === "https:" ? "wss" : "ws"
  return `${scheme}://${loc.host}/sync`
}
