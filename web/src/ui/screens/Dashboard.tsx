import { useCallback, useEffect, useState } from "preact/hooks"
import type { Alert, Dashboard as Dash } from "../../data/api"
import { isWorkRow } from "../../data/domain"
import type { GridInfo } from "../../data/session"
import { fmtDateTime, fmtTime, t, tr } from "../../i18n"
import type { Severity, SummaryRow } from "../../generated"
import { Banner, Chip, Field, Screen, Segmented, StatusChip, toast } from "../components"
import { useApp, useAppState } from "../context"
import { alertDetail, rowTitle } from "../format"
import { DailyCharts } from "./Charts"
import { useNames } from "./people"

export function useGrid(): { grids: GridInfo[]; grid: GridInfo | undefined; setGrid: (id: string) => void } {
  const s = useAppState()
  const grids = s.session?.grids ?? []
  const [id, setId] = useState(() => localStorage.getItem("linli:grid") ?? "")
  const grid = grids.find(g => g.id === id) ?? grids[0]
  const setGrid = (g: string) => {
    localStorage.setItem("linli:grid", g)
    setId(g)
  }
  return { grids, grid, setGrid }
}

export function GridPicker() {
  const { grids, grid, setGrid } = useGrid()
  if (grids.length < 2) return null
  return (
    <label class="field inline">
      <span class="label">{t("dash.grid")}</span>
      <select value={grid?.id} onChange={e => setGrid(e.currentTarget.value)}>
        {grids.map(g => (
          <option value={g.id}>{g.name}</option>
        ))}
      </select>
    </label>
  )
}

/** Polls an online query while the screen is open; falls back to the cached answer. */
export function usePolled<T>(fetch: () => Promise<{ value: T; at: number; stale: boolean }>, deps: unknown[], every = 15_000) {
  const [data, setData] = useState<{ value: T; at: number; stale: boolean } | null>(null)
  const [failed, setFailed] = useState(false)
  const load = useCallback(() => {
    fetch().then(
      v => {
        setData(v)
        setFailed(false)
      },
      () => setFailed(true),
    )
  }, deps)
  useEffect(() => {
    load()
    const timer = setInterval(load, every)
    return () => clearInterval(timer)
  }, [load])
  return { data, failed, reload: load }
}

export function Dashboard() {
  const app = useApp()
  const s = useAppState()
  const { grid } = useGrid()
  const gid = grid?.id ?? ""
  const rowsKey = s.data?.rows
  const dash = usePolled<Dash>(() => app.dashboard(gid), [gid, rowsKey, s.online])
  const alerts = usePolled<Alert[]>(() => app.alerts(gid), [gid, rowsKey, s.online])
  const rows = s.data?.rows ?? {}
  const toConfirm = Object.entries(rows).filter(
    ([id, r]) => r.kind === "task" && (r.status === "delivered" || r.status === "failed") && (s.data?.rowGrids[id] ?? gid) === gid,
  )
  const manages = s.session?.user.role === "coordinator" || s.session?.user.role === "admin"
  // Deliveries are not a medic's work: no delivery tiles, counts or confirmations.
  const deliveries = s.session?.user.role !== "medic"
  const v = dash.data?.value
  return (
    <Screen
      title={grid ? grid.name : t("dash.title")}
      actions={
        <button
          class="btn small"
          onClick={() => {
            dash.reload()
            alerts.reload()
          }}
        >
          {t("dash.refresh")}
        </button>
      }
    >
      <GridPicker />
      {grid && (
        <p>
          <Chip tone={grid.risk_level === "high" ? "bad" : grid.risk_level === "medium" ? "warn" : "ok"}>{tr("risk", grid.risk_level)}</Chip>{" "}
          {grid.policy && t("risk.policy", { n: grid.policy.checkins_per_day, contactless: grid.policy.contactless ? t("risk.contactless") : t("risk.contact") })}
        </p>
      )}
      {manages && (
        <div class="row wrap">
          <a class="btn primary" href="#/new/task">
            {t("dash.newTask")}
          </a>
          <a class="btn" href="#/new/household">
            {t("dash.newHousehold")}
          </a>
          <a class="btn" href="#/new/episode">
            {t("dash.newEpisode")}
          </a>
          <a class="btn" href="#/new/bulk" data-testid="bulk-link">
            {t("dash.bulk")}
          </a>
        </div>
      )}
      {dash.data && (
        <p class="small">
          {t("dash.asOf", { time: fmtTime(dash.data.at) })}
          {dash.data.stale ? ` ${t("dash.stale")}` : ""}
        </p>
      )}
      {!v && dash.failed && <Banner tone="warn">{t("dash.unavailable")}</Banner>}
      {v && (
        <div class="tiles" data-testid="dashboard">
          <Tile label={t("dash.households")} value={v.households} href={deliveries ? "#/households" : undefined} />
          {deliveries && <Tile label={t("dash.overdue")} value={v.overdue_tasks} tone={v.overdue_tasks ? "bad" : ""} href="#/work?kind=task&overdue=1" />}
          <Tile label={t("dash.missing")} value={v.missing_checkins} tone={v.missing_checkins ? "bad" : ""} href="#/work?kind=episode&overdue=1" />
          <Tile label={t("dash.openAlerts")} value={v.open_alerts} tone={v.open_alerts ? "bad" : ""} href="#/alerts" />
        </div>
      )}
      {v && (
        <section class="panel">
          {deliveries && (
            <>
              <h2>{t("dash.tasks")}</h2>
              <div class="counts" data-testid="task-counts">
                {Object.entries(v.tasks).map(([status, n]) => (
                  <a class="count" data-status={status} href={`#/work?kind=task&status=${status}`}>
                    <StatusChip status={status} /> <strong>{n}</strong>
                  </a>
                ))}
              </div>
            </>
          )}
          <h2>{t("dash.episodes")}</h2>
          <div class="counts">
            {Object.entries(v.episodes).map(([status, n]) => (
              <a class="count" href={`#/work?kind=episode&status=${status}`}>
                <StatusChip status={status} /> <strong>{n}</strong>
              </a>
            ))}
          </div>
          {Object.keys(v.care_flags).length > 0 && (
            <>
              <h2>{t("dash.careFlags")}</h2>
              <div class="counts">
                {Object.entries(v.care_flags).map(([flag, n]) => {
                  const body = (
                    <>
                      <Chip tone="warn">{tr("flag", flag)}</Chip> <strong>{n}</strong>
                    </>
                  )
                  // Medics have no household register to open.
                  return deliveries ? (
                    <a class="count" href={`#/households?flag=${flag}`}>
                      {body}
                    </a>
                  ) : (
                    <span class="count">{body}</span>
                  )
                })}
              </div>
            </>
          )}
        </section>
      )}
      {gid && <DailyCharts grid={gid} />}
      {deliveries && (
        <section class="panel">
          <h2>{t("dash.toConfirm")}</h2>
          {toConfirm.length === 0 && <p class="empty">{t("dash.noneToConfirm")}</p>}
          <ul class="rows" data-testid="to-confirm">
            {toConfirm.map(([id, r]) => (
              <li>
                <a href={`#/task/${id}`} data-id={id}>
                  <span>{rowTitle(r)}</span>
                  <StatusChip status={r.status} />
                </a>
              </li>
            ))}
          </ul>
        </section>
      )}
      <section class="panel">
        <h2>{t("dash.latestAlerts")}</h2>
        <AlertList alerts={(alerts.data?.value ?? []).slice(0, 6)} onChanged={alerts.reload} offline={!alerts.data && alerts.failed} />
      </section>
    </Screen>
  )
}

function Tile(props: { label: string; value: number; tone?: string; href?: string }) {
  const body = (
    <>
      <strong>{props.value}</strong>
      <span>{props.label}</span>
    </>
  )
  return props.href ? (
    <a class={`tile ${props.tone ?? ""}`} href={props.href}>
      {body}
    </a>
  ) : (
    <div class={`tile ${props.tone ?? ""}`}>{body}</div>
  )
}

const SEVERITIES: Severity[] = ["red", "amber", "info"]

/** Open alerts, grouped by severity (red, amber, info) as the server orders them. */
export function AlertList(props: { alerts: Alert[]; onChanged: () => void; offline?: boolean }) {
  const app = useApp()
  const s = useAppState()
  const rows = s.data?.rows ?? {}
  const [busy, setBusy] = useState<string | null>(null)
  const [resolving, setResolving] = useState<string | null>(null)
  const [note, setNote] = useState("")
  if (props.offline) return <Banner tone="warn">{t("alerts.offline")}</Banner>
  if (props.alerts.length === 0) return <p class="empty">{t("dash.noAlerts")}</p>
  const act = async (a: Alert, what: "acknowledge" | "resolve") => {
    setBusy(a.id)
    try {
      await (what === "acknowledge" ? app.acknowledge(a.id) : app.resolve(a.id, note.trim()))
      if (what === "resolve") {
        setResolving(null)
        setNote("")
      }
      props.onChanged()
    } catch (e) {
      toast(t("alerts.failed", { msg: (e as Error).message }))
    } finally {
      setBusy(null)
    }
  }
  return (
    <div data-testid="alerts">
      {SEVERITIES.map(sev => {
        const group = props.alerts.filter(a => (a.severity ?? "amber") === sev)
        if (group.length === 0) return null
        return (
          <section class={`alert-group ${sev}`} data-severity={sev}>
            <h3>
              {t(`severity.${sev}` as "severity.red")} · {group.length}
            </h3>
            <ul class="alerts">
              {group.map(a => (
                <li class={`alert ${a.status} sev-${sev}`} data-kind={a.kind} data-doc={a.doc} data-severity={sev}>
                  <AlertHead a={a} rows={rows} />
                  {a.status !== "resolved" && resolving !== a.id && (
                    <div class="row">
                      {a.status === "open" && (
                        <button class="btn small" disabled={busy === a.id || !s.online} onClick={() => act(a, "acknowledge")}>
                          {t("alerts.ack")}
                        </button>
                      )}
                      <button
                        class="btn small primary"
                        disabled={busy === a.id || !s.online}
                        onClick={() => {
                          setResolving(a.id)
                          setNote("")
                        }}
                      >
                        {t("alerts.resolve")}
                      </button>
                    </div>
                  )}
                  {resolving === a.id && (
                    <form
                      class="stack resolve-form"
                      onSubmit={e => {
                        e.preventDefault()
                        if (note.trim()) void act(a, "resolve")
                      }}
                    >
                      <Field label={t("alerts.note")}>
                        <textarea maxLength={MAX_NOTE} rows={2} value={note} placeholder={t("alerts.notePlaceholder")} onInput={e => setNote(e.currentTarget.value)} data-testid="resolve-note" />
                      </Field>
                      <div class="row">
                        <button type="button" class="btn small" onClick={() => setResolving(null)}>
                          {t("common.cancel")}
                        </button>
                        <button type="submit" class="btn small primary" disabled={!note.trim() || busy === a.id || !s.online} data-testid="resolve-confirm">
                          {t("alerts.resolveConfirm")}
                        </button>
                      </div>
                    </form>
                  )}
                </li>
              ))}
            </ul>
          </section>
        )
      })}
    </div>
  )
}

/** The most a resolution note may hold (the server's `MAX_RESOLUTION_NOTE`). */
const MAX_NOTE = 200

function AlertHead(props: { a: Alert; rows: Record<string, Pick<SummaryRow, "title" | "kind">> }) {
  const a = props.a
  const row = props.rows[a.doc]
  // Only work has a screen of its own (an episode's readings are shown on the episode's).
  const href = row && isWorkRow(row) ? `#/${row.kind === "task" ? "task" : "episode"}/${a.doc}` : undefined
  const sev = a.severity ?? "amber"
  return (
    <>
      <div class="row spread">
        <strong>
          {tr("alert", a.kind)}
          {a.detail ? ` · ${alertDetail(a)}` : ""}
        </strong>
        <Chip tone={a.status === "open" ? (sev === "info" ? "warn" : "bad") : a.status === "acknowledged" ? "warn" : "ok"}>{t(`alerts.${a.status}` as "alerts.open")}</Chip>
      </div>
      <div class="small">
        {href ? <a href={href}>{rowTitle(row)}</a> : a.doc.slice(0, 8)}
        {a.date ? ` · ${a.date}` : ""} · {t("alerts.raised", { time: fmtDateTime(a.raised_at) })}
      </div>
    </>
  )
}

/** Resolved alerts: who resolved each, when, and the note they left. */
function AlertHistory(props: { alerts: Alert[]; offline?: boolean }) {
  const s = useAppState()
  const names = useNames()
  const rows = s.data?.rows ?? {}
  if (props.offline) return <Banner tone="warn">{t("alerts.offline")}</Banner>
  if (props.alerts.length === 0) return <p class="empty">{t("alerts.noHistory")}</p>
  return (
    <ul class="alerts" data-testid="alert-history">
      {props.alerts.map(a => (
        <li class="alert resolved" data-kind={a.kind} data-doc={a.doc} data-severity={a.severity ?? "amber"}>
          <AlertHead a={a} rows={rows} />
          <div class="small resolution">
            {t("alerts.resolvedBy", {
              who: a.resolved_by === "server" ? t("alerts.bySystem") : names[a.resolved_by ?? ""] || (a.resolved_by ?? "").slice(0, 10),
              time: a.resolved_at ? fmtDateTime(a.resolved_at) : "",
            })}
          </div>
          <p class="resolution-note">{a.resolution_note || t("alerts.autoResolved")}</p>
        </li>
      ))}
    </ul>
  )
}

export function Alerts() {
  const app = useApp()
  const { grid } = useGrid()
  const s = useAppState()
  const [tab, setTab] = useState<"open" | "resolved">("open")
  const [data, setData] = useState<{ value: Alert[]; stale: boolean } | null>(null)
  const [failed, setFailed] = useState(false)
  const load = useCallback(() => {
    ;(tab === "open" ? app.alerts(grid?.id) : app.alertHistory(grid?.id)).then(
      v => {
        setData(v)
        setFailed(false)
      },
      () => setFailed(true),
    )
  }, [grid?.id, s.online, tab])
  useEffect(() => {
    setData(null)
    load()
    const timer = setInterval(load, 15_000)
    return () => clearInterval(timer)
  }, [load])
  return (
    <Screen title={t("alerts.title")}>
      <GridPicker />
      <Segmented name={t("alerts.title")} value={tab} options={["open", "resolved"] as const} label={v => t(v === "open" ? "alerts.tabOpen" : "alerts.tabResolved")} onChange={setTab} />
      {data?.stale && <p class="small">{t("dash.stale")}</p>}
      {tab === "open" ? (
        <AlertList alerts={data?.value ?? []} onChanged={load} offline={!data && failed} />
      ) : (
        <AlertHistory alerts={data?.value ?? []} offline={!data && failed} />
      )}
    </Screen>
  )
}
