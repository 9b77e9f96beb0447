import { useEffect, useState } from "preact/hooks"
import type { DeferredStep } from "../../data/deferred"
import { addressLabel, communityDate, withAddress, workItems, type AnyDoc, type WorkItem } from "../../data/domain"
import type { Episode, Household } from "../../generated"
import { t, tr } from "../../i18n"
import { Chip, Loading, Screen, StatusChip } from "../components"
import { useAppState, useNow } from "../context"
import { fmtWhen, riskTone, rowTitle } from "../format"

let listMarked = false
/** Cards drawn at first: a long list is drawn on demand (cheap phones, CPU 4× slower). */
const PAGE = 30

/** The volunteer's day: deliveries and check-ins, most urgent first. */
export function Today(props: { wasm: number }) {
  const s = useAppState()
  const now = useNow()
  const d = s.data
  const me = s.session?.user.id
  if (!d) return <Loading />
  const items = workItems(d.rows, d.summaries, now, me)
  const card = (i: WorkItem) => <WorkCard item={i} now={now} docs={d.docs} held={d.deferred[i.id]} isNew={i.todo && !d.opened[i.id]} />
  const grids = (s.session?.grids ?? []).filter(g => s.session?.user.grids.includes(g.id))
  const [limit, setLimit] = useState(PAGE)
  const todo = items.filter(i => i.todo)
  const done = items.filter(i => !i.todo)
  const firstLoad = items.length === 0 && (d.phase === "starting" || props.wasm < 1)
  const shown = !firstLoad && items.length > 0
  useEffect(() => {
    // For the budget script: when the volunteer first sees their list.
    if (shown && !listMarked) {
      listMarked = true
      performance.mark("linli:list")
    }
  }, [shown])
  return (
    <Screen title={`${t("today.title")} · ${communityDate(now).slice(5)}`}>
      {firstLoad ? (
        <Loading
          fraction={props.wasm < 1 ? props.wasm : d.total ? d.loaded / d.total : undefined}
          label={props.wasm < 1 ? t("app.loadingEngine", { pct: Math.round(props.wasm * 100) }) : t("today.loading")}
        />
      ) : (
        <>
          {grids.length > 0 && (
            <div class="risk-chips" data-testid="risk">
              {grids.map(g => (
                <Chip tone={riskTone(g.risk_level)}>{t("vol.risk", { grid: g.name, risk: tr("risk", g.risk_level) })}</Chip>
              ))}
            </div>
          )}
          <h2 class="section">{t("today.todo", { n: todo.length })}</h2>
          {todo.length === 0 && <p class="empty">{items.length ? t("today.empty") : t("today.nothing")}</p>}
          <ul class="cards" data-testid="todo">
            {todo.slice(0, limit).map(card)}
          </ul>
          {todo.length > limit && (
            <button class="btn big" onClick={() => setLimit(limit + PAGE * 4)}>
              {t("today.more", { n: todo.length - limit })}
            </button>
          )}
          {done.length > 0 && (
            <>
              <h2 class="section">{t("today.done")}</h2>
              <ul class="cards done" data-testid="done">
                {done.slice(0, PAGE).map(card)}
              </ul>
            </>
          )}
        </>
      )}
    </Screen>
  )
}

/** Who the work is for: the person under observation, or the household's address and
 * (when its document is on the phone) its first member. */
function workFor(item: WorkItem, docs: Record<string, AnyDoc>): string {
  if (item.kind === "episode") return (docs[item.id] as Episode | undefined)?.person?.name ?? ""
  const h = household(item, docs)
  if (!h || h.kind !== "household") return ""
  return [addressLabel(h), h.members[0]?.name].filter(Boolean).join(" · ")
}

function household(item: WorkItem, docs: Record<string, AnyDoc>): Household | undefined {
  return item.household ? (docs[item.household] as Household | undefined) : undefined
}

function WorkCard(props: { item: WorkItem; now: number; docs: Record<string, AnyDoc>; held?: DeferredStep; isNew: boolean }) {
  const { item, now } = props
  const href = item.kind === "task" ? `#/task/${item.id}` : item.todo ? `#/checkin/${item.id}` : `#/episode/${item.id}`
  const overdue = item.kind === "task" && item.todo && item.due != null && item.due < now
  const slot = item.slots?.[0]
  const who = workFor(item, props.docs)
  return (
    <li>
      <a class={`card ${item.priority === "urgent" && item.todo ? "urgent" : ""}`} href={href} data-kind={item.kind} data-id={item.id}>
        <div class="card-top">
          <strong class="card-title">{rowTitle(withAddress({ title: item.title, kind: item.kind }, household(item, props.docs)))}</strong>
          {props.isNew && (
            <Chip tone="bad">
              <span data-testid="new">{t("vol.new")}</span>
            </Chip>
          )}
          {item.kind === "task" ? <StatusChip status={props.held?.to ?? item.status} /> : item.status === "escalated" ? <StatusChip status="escalated" /> : null}
        </div>
        {who && <div class="card-for">{t("vol.for", { who })}</div>}
        <div class="card-meta">
          {props.held && <Chip tone="warn">{t("vol.heldChip")}</Chip>}
          {item.kind === "task" && item.priority && item.priority !== "normal" && <Chip tone={item.priority === "urgent" ? "bad" : "warn"}>{tr("priority", item.priority)}</Chip>}
          {item.kind === "task" && item.due != null && (
            <span class={overdue ? "overdue" : ""}>{overdue ? `${t("task.overdue")} · ${fmtWhen(item.due, now)}` : t("task.due", { time: fmtWhen(item.due, now) })}</span>
          )}
          {item.kind === "task" && item.contactless && (
            <Chip tone="info">
              <span data-testid="contactless">{t("new.contactless")}</span>
            </Chip>
          )}
          {item.kind === "episode" && slot && (
            <span>
              {slot.date < communityDate(now)
                ? t("today.checkinMissed", { date: slot.date.slice(5), n: slot.slot + 1 })
                : t("today.checkinSlot", { n: slot.slot + 1, time: fmtWhen(slot.deadline, now) })}
            </span>
          )}
          {item.kind === "episode" && slot && slot.deadline < now && (
            <Chip tone="bad">
              <span data-testid="overdue">{t("vol.overdue")}</span>
            </Chip>
          )}
          {item.kind === "episode" && !slot && <span>{t("today.checkinsDone")}</span>}
          {item.alerts > 0 && <Chip tone="bad">{t("work.alerts", { n: item.alerts })}</Chip>}
        </div>
        {item.kind === "task" && item.items?.length ? <div class="card-items">{item.items.join(t("common.sep"))}</div> : null}
      </a>
    </li>
  )
}
