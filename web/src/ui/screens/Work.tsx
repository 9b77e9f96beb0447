import type { Alert } from "../../data/api"
import { WORK_SORTS, filterWork, missedByAlerts, missedCheckin, sortWork, workFacts, workFilterOf, workQuery, type WorkFacts, type WorkFilter, type WorkSort } from "../../data/desk"
import { CATEGORIES, PRIORITIES, TASK_STATUSES, isWorkRow, readingsIds } from "../../data/domain"
import type { Category, Household, Priority, Readings, Task } from "../../generated"
import { fmtDateTime, t, tr } from "../../i18n"
import { Chip, Screen, StatusChip, Toggle } from "../components"
import { useApp, useAppState, useNow } from "../context"
import { FilterBar, Select, SortHeader, useWide } from "../desk"
import { fmtWhen, rowTitle, userLabel } from "../format"
import { go } from "../router"
import { GridPicker, useGrid, usePolled } from "./Dashboard"
import { useNames } from "./people"

const EPISODE_STATUSES = ["active", "escalated", "closed"]
const KINDS = ["", "task", "episode"] as const

/**
 * The grid's work, from the grid index (synced, so it works offline), filtered and
 * sorted by what the route's query says (`#/work?kind=task&overdue=1`), so the
 * dashboard's counts open the list behind them and the back button restores a filter.
 * An observation is overdue by its readings where the phone holds them (a medic's), else
 * by the server's open missed-check-in alerts (a coordinator's or an admin's phone holds
 * no readings, DESIGN §9; the alerts are cached for offline use, like the dashboard's).
 */
export function WorkList(props: { query: URLSearchParams }) {
  const app = useApp()
  const s = useAppState()
  const names = useNames()
  const wide = useWide()
  const now = useNow()
  const { grid } = useGrid()
  // Medics follow home observations only (their index lists no deliveries).
  const medic = s.session?.user.role === "medic"
  const f = workFilterOf(props.query)
  if (medic) f.kind = "episode"
  const set = (patch: Partial<WorkFilter & { sort: WorkSort }>) => {
    const q = workQuery({ ...f, ...patch })
    go(q ? `work?${q}` : "work", true)
  }
  const gid = grid?.id ?? ""
  const alerts = usePolled<Alert[]>(() => app.alerts(gid), [gid, s.data?.rows, s.online])
  const docs = s.data?.docs ?? {}
  const links = readingsIds(s.data?.summaries ?? {})
  const episodeOf = new Map([...links].map(([episode, readings]) => [readings, episode]))
  const missed = missedByAlerts(alerts.data?.value ?? [], doc => episodeOf.get(doc) ?? doc)
  const readingsOf = (id: string) => {
    const r = docs[links.get(id) ?? ""] as Readings | undefined
    return r?.kind === "readings" ? r : undefined
  }
  const all: WorkFacts[] = Object.entries(s.data?.rows ?? {})
    .filter(([id]) => !grid || (s.data?.rowGrids[id] ?? docs[id]?.grid ?? grid.id) === grid.id)
    // An episode's readings and medical rows belong to it: never a line of their own.
    .filter(([, r]) => isWorkRow(r) && (!medic || r.kind === "episode"))
    .map(([id, r]) =>
      workFacts(
        id,
        r,
        now,
        r.kind === "task" ? (docs[id] as Task | undefined) : undefined,
        r.household ? (docs[r.household] as Household | undefined) : undefined,
        r.kind === "episode" && missedCheckin(now, readingsOf(id), missed.has(id)),
      ),
    )
  const shown = sortWork(filterWork(all, f), f.sort)
  const statuses = ["open", "closed", "all", ...(f.kind === "episode" ? [] : TASK_STATUSES), ...(f.kind === "task" ? [] : EPISODE_STATUSES)]
  const statusText = (x: string) => (x === "open" || x === "closed" || x === "all" ? t(`work.filter.${x}`) : tr("status", x))
  return (
    <Screen title={medic ? t("nav.observations") : t("work.title")}>
      <GridPicker />
      <FilterBar wide={wide} active={workQuery({ ...f, kind: medic ? "" : f.kind }) !== ""} testid="work-filters">
        {!medic && <Select label={t("work.kind")} value={f.kind ?? ""} options={KINDS} text={k => t(k ? `work.filter.${k}` : "work.filter.all")} onChange={kind => set({ kind, status: "open", category: "", priority: "" })} testid="filter-kind" />}
        <Select label={t("work.status")} value={f.status ?? "open"} options={[...new Set(statuses)]} text={statusText} onChange={status => set({ status })} testid="filter-status" />
        {!medic && f.kind !== "episode" && (
          <>
            <Select label={t("new.category")} value={f.category ?? ""} options={["", ...CATEGORIES] as ("" | Category)[]} text={c => (c ? tr("category", c) : t("work.any"))} onChange={category => set({ category })} testid="filter-category" />
            <Select label={t("new.priority")} value={f.priority ?? ""} options={["", ...PRIORITIES] as ("" | Priority)[]} text={p => (p ? tr("priority", p) : t("work.any"))} onChange={priority => set({ priority })} testid="filter-priority" />
          </>
        )}
        <Select label={t("desk.sort")} value={f.sort} options={WORK_SORTS} text={x => t(`work.sort.${x}`)} onChange={sort => set({ sort })} testid="sort" />
        <Toggle on={!!f.care} onClick={() => set({ care: !f.care })}>
          {t("work.care")}
        </Toggle>
        {!medic && (
          <Toggle on={!!f.overdue} onClick={() => set({ overdue: !f.overdue })}>
            {t("work.overdue")}
          </Toggle>
        )}
      </FilterBar>
      <p class="small" data-testid="shown">
        {t("work.count", { n: shown.length })}
      </p>
      {shown.length === 0 && <p class="empty">{t("work.empty")}</p>}
      {wide ? <WorkTable list={shown} names={names} sort={f.sort} onSort={sort => set({ sort })} /> : <WorkRows list={shown} names={names} now={now} />}
    </Screen>
  )
}

const href = (w: WorkFacts) => `#/${w.row.kind === "task" ? "task" : "episode"}/${w.id}`

function Marks(props: { w: WorkFacts }) {
  const w = props.w
  return (
    <>
      {w.overdue && <Chip tone="bad">{t("work.overdueChip")}</Chip>}
      {w.care && <Chip tone="warn">{t("work.careChip")}</Chip>}
      {w.row.alerts > 0 && <Chip tone="bad">{t("work.alerts", { n: w.row.alerts })}</Chip>}
    </>
  )
}

function WorkRows(props: { list: WorkFacts[]; names: Record<string, string>; now: number }) {
  return (
    <ul class="rows desk-rows" data-testid="work">
      {props.list.map(w => (
        <li>
          <a href={href(w)} data-id={w.id}>
            <div class="grow">
              <div>
                <strong>{rowTitle(w.row)}</strong>
              </div>
              <div class="small">
                {userLabel(w.row.assignee, props.names)}
                {w.row.due ? ` · ${t("task.due", { time: fmtWhen(w.row.due, props.now) })}` : ""}
              </div>
            </div>
            <Marks w={w} />
            <StatusChip status={w.row.status} />
          </a>
        </li>
      ))}
    </ul>
  )
}

/** Sorted by a header: status and priority most pressing first, due soonest first. */
function WorkTable(props: { list: WorkFacts[]; names: Record<string, string>; sort: WorkSort; onSort: (s: WorkSort) => void }) {
  const head = (label: string, by?: WorkSort) => <SortHeader label={label} by={by} current={props.sort} ascending={by === "due"} onSort={props.onSort} />
  return (
    <table class="desk-table" data-testid="work">
      <thead>
        <tr>
          {head(t("work.col.work"))}
          {head(t("work.status"), "status")}
          {head(t("new.priority"), "priority")}
          {head(t("new.due"), "due")}
          {head(t("work.col.assignee"))}
          {head(t("work.col.marks"), "care")}
        </tr>
      </thead>
      <tbody>
        {props.list.map(w => (
          <tr data-id={w.id}>
            <td>
              <a href={href(w)} data-id={w.id}>
                {rowTitle(w.row)}
              </a>
            </td>
            <td>
              <StatusChip status={w.row.status} />
            </td>
            <td>{w.row.priority ? tr("priority", w.row.priority) : ""}</td>
            <td>{w.row.due ? fmtDateTime(w.row.due) : ""}</td>
            <td>{userLabel(w.row.assignee, props.names)}</td>
            <td>
              <Marks w={w} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  )
}
