import type { AlertKind, Severity } from "../generated"
import type { GridInfo, RiskLevel, Session, SessionUser } from "./session"

/** An HTTP error of the Linli API (`{"error": {"code", "message"}}`), or `offline`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
  get offline(): boolean {
    return this.code === "offline"
  }
  get unauthorized(): boolean {
    return this.status === 401
  }
}

export interface LoginResponse {
  token: string
  expires_at: number
  user: SessionUser
}

export interface MeResponse {
  user: SessionUser
  inbox: string
  grids: GridInfo[]
  utc_offset_minutes?: number
}

export interface Dashboard {
  grid: GridInfo & { risk_history?: unknown[] }
  households: number
  care_flags: Record<string, number>
  tasks: Record<string, number>
  overdue_tasks: number
  episodes: Record<string, number>
  missing_checkins: number
  open_alerts: number
}

export type AlertStatus = "open" | "acknowledged" | "resolved"

export interface Alert {
  id: string
  doc: string
  grid: string
  kind: AlertKind
  date: string | null
  detail: string
  status: AlertStatus
  raised_at: number
  acknowledged_by: string | null
  acknowledged_at: number | null
  resolved_by: string | null
  resolved_at: number | null
  /** Triage: red, then amber, then info (older servers: absent). */
  severity?: Severity
  /** What was done, written by whoever resolved it (none when the server did). */
  resolution_note?: string | null
}

/** One community-local day of `GET /api/stats/daily`: counts only. */
export interface StatsDay {
  date: string
  checkins_done: number
  checkins_due: number
  alerts_raised: number
  alerts_resolved: number
  /** `null` for medics. */
  deliveries_done: number | null
}

/** What setting a risk level changed in the grid's open work. */
export interface RiskApplied {
  episodes: number
  tasks: number
}

export interface UserRow {
  id: string
  username: string
  role: string
  grids: string[]
  disabled?: boolean
}

export type ExportName = "tasks" | "episodes" | "households"

type Fetch = typeof fetch

/**
 * The JSON API. Screens never call it directly: they go through the app controller, which
 * also knows the session.
 */
export class Api {
  constructor(
    private readonly token: () => string | null,
    private readonly fetchImpl: Fetch = (...a) => fetch(...a),
    private readonly base = "",
  ) {}

  private async request(method: string, path: string, body?: unknown, auth = true): Promise<Response> {
    const headers: Record<string, string> = {}
    const token = this.token()
    if (auth && token) headers.authorization = `Bearer ${token}`
    if (body !== undefined) headers["content-type"] = "application/json"
    let res: Response
    try {
      res = await this.fetchImpl(this.base + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "same-origin",
        cache: "no-store",
      })
    } catch (e) {
      throw new ApiError(0, "offline", String(e))
    }
    if (!res.ok) {
      let code = `http_${res.status}`
      let message = res.statusText
      try {
        const j = (await res.json()) as { error?: { code?: string; message?: string } }
        code = j.error?.code ?? code
        message = j.error?.message ?? message
      } catch {
        // not JSON: keep the status
      }
      throw new ApiError(res.status, code, message)
    }
    return res
  }

  private async json<T>(method: string, path: string, body?: unknown, auth = true): Promise<T> {
    return (await (await this.request(method, path, body, auth)).json()) as T
  }

  login(username: string, password: string): Promise<LoginResponse> {
    return this.json("POST", "/api/auth/login", { username, password }, false)
  }
  refresh(): Promise<LoginResponse> {
    return this.json("POST", "/api/auth/refresh")
  }
  async logout(): Promise<void> {
    await this.request("POST", "/api/auth/logout")
  }
  me(): Promise<MeResponse> {
    return this.json("GET", "/api/me")
  }
  dashboard(grid: string): Promise<Dashboard> {
    return this.json("GET", `/api/grids/${encodeURIComponent(grid)}/dashboard`)
  }
  async alerts(grid?: string, status?: "all" | "resolved"): Promise<Alert[]> {
    const q = new URLSearchParams()
    if (grid) q.set("grid", grid)
    if (status) q.set("status", status)
    const qs = q.toString()
    return (await this.json<{ alerts: Alert[] }>("GET", `/api/alerts${qs ? `?${qs}` : ""}`)).alerts
  }
  async acknowledge(id: string): Promise<Alert> {
    return (await this.json<{ alert: Alert }>("POST", `/api/alerts/${encodeURIComponent(id)}/acknowledge`)).alert
  }
  /** Resolving takes a note: what was done. */
  async resolve(id: string, note: string): Promise<Alert> {
    return (await this.json<{ alert: Alert }>("POST", `/api/alerts/${encodeURIComponent(id)}/resolve`, { note })).alert
  }
  async stats(grid: string, days = 14): Promise<StatsDay[]> {
    const q = new URLSearchParams({ grid, days: String(days) })
    return (await this.json<{ days: StatsDay[] }>("GET", `/api/stats/daily?${q}`)).days
  }
  async setRisk(grid: string, level: RiskLevel): Promise<{ grid: GridInfo; applied?: RiskApplied }> {
    return this.json("PUT", `/api/grids/${encodeURIComponent(grid)}/risk`, { level })
  }
  /** An export needs a purpose: the server audits it and writes it into the file. */
  async exportCsv(name: ExportName, purpose: string): Promise<Blob> {
    return (await this.request("GET", `/api/export/${name}.csv?purpose=${encodeURIComponent(purpose)}`)).blob()
  }
  /** Admins only (the server answers 403 to others). */
  async users(): Promise<UserRow[]> {
    return (await this.json<{ users: UserRow[] }>("GET", "/api/users")).users
  }
  /** The people of a grid (id, username, role), for those who oversee it. */
  async people(grid: string): Promise<UserRow[]> {
    const { people } = await this.json<{ people: Omit<UserRow, "grids">[] }>(
      "GET",
      `/api/grids/${encodeURIComponent(grid)}/people`,
    )
    return people.map(p => ({ ...p, grids: [grid] }))
  }
}

/** Turns a login answer into a session (grids and inbox come from `/api/me`). */
export function sessionFrom(login: LoginResponse, me?: MeResponse): Session {
  return {
    token: login.token,
    expires_at: login.expires_at,
    user: me?.user ?? login.user,
    inbox: me?.inbox,
    grids: me?.grids,
    utc_offset_minutes: me?.utc_offset_minutes,
  }
}
