import { useEffect, useRef, useState } from "preact/hooks"
import { UNDO_WINDOW_MS } from "../../data/deferred"
import { coordinatorMove, isOpenTask, seesCareDetails, volunteerNext } from "../../data/domain"
import type { Household, Task, TaskStatus } from "../../generated"
import { fmtDateTime, t, tr } from "../../i18n"
import { Banner, Chip, Field, Screen, StatusChip, savedToast, toast } from "../components"
import { useApp, useAppState, useNow, usePriority } from "../context"
import { fmtWhen, rowTitle, userLabel } from "../format"
import { AssigneePicker, useNames } from "./people"

export function TaskDetail(props: { id: string }) {
  const app = useApp()
  const s = useAppState()
  const now = useNow()
  const names = useNames()
  const d = s.data
  const id = props.id
  const task = d?.docs[id] as Task | undefined
  usePriority(id, !!task)
  const row = d?.rows[id]
  const me = s.session!.user
  const manages = me.role === "coordinator" || me.role === "admin"
  const title = rowTitle(row ?? (task ? { title: task.category, kind: "task" } : null)) || t("kind.task")
  if (!d) return null
  if (!task) {
    return (
      <Screen title={title} back>
        <p class="empty">{d.gone[id] || d.phase === "ready" ? t("task.notFound") : t("common.notLoaded")}</p>
      </Screen>
    )
  }
  const mine = task.assignee === me.id
  const open = isOpenTask(task.status)
  const household = d.docs[task.household] as Household | undefined
  const overdue = open && task.due < now
  // A step held back for undo is shown as taken (its next steps offered), marked not yet
  // saved; the address follows the document, so it stays until the step is written.
  const held = d.deferred[id]
  const status = held?.to ?? task.status
  const run = (fn: () => void, what: string) => {
    try {
      fn()
      savedToast(what, s.online && d.connection === "online")
    } catch (e) {
      toast(t("common.error", { msg: String((e as Error).message ?? e) }))
    }
  }
  const step = (fn: () => void) => {
    try {
      fn()
    } catch (e) {
      toast(t("common.error", { msg: String((e as Error).message ?? e) }))
    }
  }
  return (
    <Screen title={title} back>
      <div class="detail-head">
        <StatusChip status={status} />
        {held && <Chip tone="warn">{t("vol.heldChip")}</Chip>}
        {task.priority !== "normal" && <Chip tone={task.priority === "urgent" ? "bad" : "warn"}>{tr("priority", task.priority)}</Chip>}
        <span class={overdue ? "overdue" : ""}>{overdue ? `${t("task.overdue")} · ${fmtWhen(task.due, now)}` : t("task.due", { time: fmtWhen(task.due, now) })}</span>
      </div>

      {task.contactless ? <Banner tone="info">{t("task.contactless")}</Banner> : <p class="small">{t("task.contact")}</p>}

      <section class="panel">
        <h2>
          {t("task.items")} · {tr("category", task.category)}
        </h2>
        <ul class="items" data-testid="items">
          {task.items.map(i => (
            <li>
              <span>{i.name}</span>
              <strong>
                {i.qty} {i.unit}
              </strong>
            </li>
          ))}
        </ul>
      </section>

      <section class="panel">
        <h2>{t("task.address")}</h2>
        {me.role === "volunteer" && (!mine || !open || d.gone[task.household]) ? (
          <p class="small">{t("task.addressHidden")}</p>
        ) : household ? (
          <AddressBlock h={household} careDetails={seesCareDetails(me.role)} />
        ) : (
          <p class="small">{t("task.addressLoading")}</p>
        )}
      </section>

      {task.status === "failed" && task.failure_reason && <Banner tone="bad">{t("task.failureReason", { reason: task.failure_reason })}</Banner>}

      {me.role === "volunteer" && mine && open && !d.gone[id] && (
        <VolunteerSteps status={status} onStep={(to, opts) => step(() => app.store!.stepTask(id, to, opts))} />
      )}
      {held && <HeldStep to={held.to} onUndo={() => app.store!.undoStep(id) && toast(t("vol.undone", { step: tr("status", held.to) }))} />}

      {manages && task.status === "failed" && !d.gone[id] && (
        <ResendForm assignee={task.assignee} names={names} onResend={user => run(() => app.store!.resendTask(id, user), t("task.resend"))} />
      )}

      {manages && (
        <section class="panel">
          <h2>{t("task.assignee")}</h2>
          {/* A failed delivery is re-assigned by 再次派送 above. */}
          {task.status !== "failed" && <AssigneePicker
            value={task.assignee}
            names={names}
            disabled={!open || !(task.status === "new" || task.status === "assigned" || task.status === "accepted" || task.status === "picked_up")}
            allowNone={task.status === "new" || task.status === "assigned"}
            onChange={user => run(() => app.store!.assignTask(id, user), user ? t("task.assign") : t("step.new"))}
          />}
          <div class="row wrap">
            {(["confirmed", "cancelled"] as TaskStatus[])
              .filter(to => coordinatorMove(task.status, to))
              .map(to => (
                <button
                  class={`btn ${to === "confirmed" ? "primary" : "danger"}`}
                  onClick={() => confirm(t("task.confirmStep", { step: t(`step.${to}` as "step.confirmed") })) && run(() => app.store!.moveTask(id, to), tr("status", to))}
                >
                  {t(`step.${to}` as "step.confirmed")}
                </button>
              ))}
          </div>
        </section>
      )}

      {(mine || manages) && !d.gone[id] && <NoteForm onSave={note => run(() => app.store!.addTaskNote(id, note), t("task.addNote"))} />}

      <section class="panel">
        <h2>{t("task.log")}</h2>
        <ol class="log">
          {[...task.log].reverse().map(e => (
            <li>
              <span class="when">{fmtDateTime(e.at)}</span>{" "}
              {e.from === e.to ? t("task.logNote", { note: e.note }) : `${tr("status", e.from)} → ${tr("status", e.to)}`}
              {e.from !== e.to && e.note ? ` · ${e.note}` : ""}
              <span class="who"> · {userLabel(e.by, names, me)}</span>
            </li>
          ))}
        </ol>
      </section>
    </Screen>
  )
}

/** Where the work is: the address, a call button, the access notes, and (for whoever
 * may see them, `careDetails`) the household's care flags. */
export function AddressBlock(props: { h: Household; careDetails: boolean }) {
  const h = props.h
  return (
    <div class="address" data-testid="address">
      <p class="big">{t("task.addressLine", { building: h.building, unit: h.unit || "-", room: h.room })}</p>
      {h.phone && (
        <a class="btn" href={`tel:${h.phone}`}>
          {t("task.call", { phone: h.phone })}
        </a>
      )}
      {h.notes && <p>{`${t("task.notes")}：${h.notes}`}</p>}
      {props.careDetails && h.members.some(m => m.flags.length) && (
        <p>
          {h.members.flatMap(m => m.flags).map(f => (
            <Chip tone="warn">{tr("flag", f)}</Chip>
          ))}
        </p>
      )}
    </div>
  )
}

/** One big button per allowed step; "could not deliver" asks why first. */
function VolunteerSteps(props: { status: TaskStatus; onStep: (to: TaskStatus, opts?: { failureReason?: string }) => void }) {
  const [failing, setFailing] = useState(false)
  const [reason, setReason] = useState("")
  const [other, setOther] = useState("")
  const next = volunteerNext(props.status)
  const presets = t("task.failReasons").split("|")
  if (failing) {
    const final = reason === "__other" ? other.trim() : reason
    return (
      <section class="panel" data-testid="fail-form">
        <h2>{t("task.failReason")}</h2>
        <div class="choices">
          {presets.map(p => (
            <button type="button" class={`toggle ${reason === p ? "on" : ""}`} aria-pressed={reason === p} onClick={() => setReason(p)}>
              {p}
            </button>
          ))}
          <button type="button" class={`toggle ${reason === "__other" ? "on" : ""}`} aria-pressed={reason === "__other"} onClick={() => setReason("__other")}>
            {t("task.failOther")}
          </button>
        </div>
        {reason === "__other" && (
          <Field label={t("task.failOther")}>
            <input value={other} onInput={e => setOther(e.currentTarget.value)} maxLength={500} />
          </Field>
        )}
        <div class="fail-actions">
          <button class="btn big" onClick={() => setFailing(false)}>
            {t("common.cancel")}
          </button>
          <button
            class="btn danger big"
            disabled={!final}
            onClick={() => {
              props.onStep("failed", { failureReason: final })
              setFailing(false)
            }}
          >
            {t("task.failConfirm")}
          </button>
        </div>
      </section>
    )
  }
  if (next.length === 0) return null
  return (
    <div class="steps" data-testid="steps">
      {next.map(to =>
        to === "failed" ? (
          <button class="btn danger big" onClick={() => setFailing(true)}>
            {t("step.failed")}
          </button>
        ) : (
          <button class="btn primary big" data-step={to} onClick={() => props.onStep(to)}>
            {t(`step.${to}` as "step.accepted")}
          </button>
        ),
      )}
    </div>
  )
}

/** The step just taken, not written yet: undo it within the window (deferred.ts). Below
 * the step buttons, so that the next step's button stays where it was. */
function HeldStep(props: { to: TaskStatus; onUndo: () => void }) {
  const ref = useRef<HTMLDivElement>(null)
  // Scrolled into view only if it is not (scroll-margin keeps it clear of the bottom nav).
  useEffect(() => ref.current?.scrollIntoView({ block: "nearest" }), [props.to])
  return (
    <div class="held-step" role="status" data-testid="held-step" key={props.to} ref={ref}>
      <span class="held-text">{t("vol.held", { step: tr("status", props.to) })}</span>
      <button class="btn" data-testid="undo" onClick={props.onUndo}>
        {t("vol.undo")}
      </button>
      <i class="held-bar" aria-hidden="true" style={{ animationDuration: `${UNDO_WINDOW_MS}ms` }} />
    </div>
  )
}

function NoteForm(props: { onSave: (note: string) => void }) {
  const [note, setNote] = useState("")
  return (
    <form
      class="panel row"
      onSubmit={e => {
        e.preventDefault()
        if (!note.trim()) return
        props.onSave(note)
        setNote("")
      }}
    >
      <input aria-label={t("task.addNote")} placeholder={t("task.notePlaceholder")} value={note} onInput={e => setNote(e.currentTarget.value)} maxLength={500} />
      <button class="btn">{t("task.save")}</button>
    </form>
  )
}

/** A failed delivery sent again: to the volunteer who tried, or another. */
function ResendForm(props: { assignee: string | null; names: Record<string, string>; onResend: (user: string) => void }) {
  const [user, setUser] = useState<string | null>(props.assignee)
  return (
    <section class="panel resend" data-testid="resend">
      <h2>{t("task.resendTitle")}</h2>
      <p class="small">{t("task.resendHint")}</p>
      <AssigneePicker value={user} names={props.names} immediate allowNone={false} onChange={setUser} />
      <button class="btn primary" disabled={!user} onClick={() => user && props.onResend(user)} data-testid="resend-button">
        {t("task.resend")}
      </button>
    </section>
  )
}
