import { useState } from "preact/hooks"
import { compareWork, isOpenTask, priorityRank } from "../../data/domain"
import type { SummaryRow } from "../../generated"
import { t } from "../../i18n"
import { Chip, Screen, StatusChip, Toggle } from "../components"
import { useAppState, useNow } from "../context"
import { fmtWhen, rowTitle, userLabel } from "../format"
import { GridPicker, useGrid } from "./Dashboard"
import { useNames } from "./people"

type Filter = "all" | "task" | "episode" | "new" | "open" | "closed"
const FILTERS: Filter[] = ["all", "task", "episode", "new", "open", "closed"]
const MEDIC_FILTERS: Filter[] = ["all", "open", "closed"]

function open(r: SummaryRow): boolean {
  return r.kind === "task" ? isOpenTask(r.status) : r.status !== "closed"
}

/** The grid's work, from the grid index (synced, so it works offline). */
export function WorkList() {
  const s = useAppState()
  const names = useNames()
  const now = useNow()
  const { grid } = useGrid()
  const [filter, setFilter] = useState<Filter>("open")
  // Medics follow home observations only (their index lists no deliveries).
  const medic = s.session?.user.role === "medic"
  const filters = medic ? MEDIC_FILTERS : FILTERS
  const rows = Object.entries(s.data?.rows ?? {})
    .filter(([id]) => !grid || (s.data?.rowGrids[id] ?? s.data?.docs[id]?.grid ?? grid.id) === grid.id)
    .filter(([, r]) => !medic || r.kind === "episode")
  const shown = rows
    .filter(([, r]) => {
      switch (filter) {
        case "task":
        case "episode":
          return r.kind === filter
        case "new":
          return r.kind === "task" && r.status === "new"
        case "open":
          return open(r)
        case "closed":
          return !open(r)
        default:
          return true
      }
    })
    .sort(([a, x], [b, y]) =>
      compareWork(
        { id: a, kind: x.kind as "task", title: "", status: x.status, priority: x.priority, due: x.due, alerts: 0, household: null, todo: open(x) },
        { id: b, kind: y.kind as "task", title: "", status: y.status, priority: y.priority, due: y.due, alerts: 0, household: null, todo: open(y) },
      ) || priorityRank(x.priority) - priorityRank(y.priority),
    )
  return (
    <Screen title={medic ? t("nav.observations") : t("work.title")}>
      <GridPicker />
      <div class="choices filters">
        {filters.map(f => (
          <Toggle on={filter === f} onClick={() => setFilter(f)}>
            {t(`work.filter.${f}` as "work.filter.all")}
          </Toggle>
        ))}
      </div>
      {shown.length === 0 && <p class="empty">{t("work.empty")}</p>}
      <ul class="rows" data-testid="work">
        {shown.map(([id, r]) => (
          <li>
            <a href={`#/${r.kind === "task" ? "task" : "episode"}/${id}`} data-id={id}>
              <div class="grow">
                <div>
                  <strong>{rowTitle(r)}</strong>
                </div>
                <div class="small">
                  {userLabel(r.assignee, names)}
                  {r.due ? ` · ${t("task.due", { time: fmtWhen(r.due, now) })}` : ""}
                </div>
              </div>
              {r.alerts > 0 && <Chip tone="bad">{t("work.alerts", { n: r.alerts })}</Chip>}
              <StatusChip status={r.status} />
            </a>
          </li>
        ))}
      </ul>
    </Screen>
  )
}
