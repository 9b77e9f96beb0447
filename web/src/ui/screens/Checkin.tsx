import { useState } from "preact/hooks"
import {
  METHODS,
  NO_SYMPTOMS,
  SYMPTOMS,
  checkinOffer,
  checkinsOf,
  chosenSymptoms,
  clearSymptoms,
  isFever,
  newCheckin,
  parseCheckinKey,
  parseTemp,
  readsReadings,
  seesCareDetails,
  retemp,
  toggleSymptom,
  type SymptomChoice,
} from "../../data/domain"
import type { Episode, Household, Method, Readings, Symptom } from "../../generated"
import { fmtDateTime, fmtTime, t, tr } from "../../i18n"
import { Banner, Chip, Field, Screen, Segmented, StatusChip, Toggle, savedToast, toast } from "../components"
import { useApp, useAppState, useNow, usePriority } from "../context"
import { userLabel } from "../format"
import { go } from "../router"
import { AddressBlock } from "./TaskDetail"
import { AssigneePicker, useNames } from "./people"

/**
 * The readings of episode `id` on this phone, loaded first and kept while the screen shows
 * them — for the users who may read them. `undefined` until the server has made and linked
 * them (a new episode's come a moment after the episode) and they have synced.
 */
function useReadings(id: string, ep: Episode | undefined, role: string): Readings | undefined {
  const app = useApp()
  const s = useAppState()
  const mine = readsReadings(role)
  // Read again on every render: the link arrives with the episode, the document after it.
  const rid = mine && ep ? (app.store?.readingsId(id) ?? "") : ""
  const readings = rid ? (s.data?.docs[rid] as Readings | undefined) : undefined
  const loaded = readings?.kind === "readings"
  usePriority(rid, loaded)
  return loaded ? readings : undefined
}

/**
 * The check-in form: temperature (numeric keypad), the plan's symptoms, how, a note. It
 * writes into the episode's readings; until those are on the phone it says so and waits.
 */
export function CheckinForm(props: { id: string }) {
  const app = useApp()
  const s = useAppState()
  const now = useNow()
  const d = s.data
  const ep = d?.docs[props.id] as Episode | undefined
  usePriority(props.id, !!ep)
  const me = s.session!.user
  const readings = useReadings(props.id, ep, me.role)
  const [slotKey, setSlotKey] = useState<string | null>(null)
  const [temp, setTemp] = useState("")
  // 发热 follows the temperature until the user ticks or unticks it (domain.ts).
  const [choice, setChoice] = useState<SymptomChoice>(NO_SYMPTOMS)
  const [method, setMethod] = useState<Method>(me.role === "volunteer" ? "visit" : "phone")
  const [note, setNote] = useState("")
  const [touched, setTouched] = useState(false)
  if (!d) return null
  if (!ep) {
    return (
      <Screen title={t("checkin.title")} back>
        <p class="empty">{d.phase === "ready" ? t("task.notFound") : t("common.notLoaded")}</p>
      </Screen>
    )
  }
  const offer = checkinOffer(me, ep, readings, now)
  const slots = offer.state === "open" ? offer.slots : []
  const key = slotKey && slots.some(x => x.key === slotKey) ? slotKey : slots[0]?.key
  const value = parseTemp(temp)
  const symptoms = chosenSymptoms(choice, value)
  const household = d.docs[ep.household] as Household | undefined
  const submit = (e: Event) => {
    e.preventDefault()
    setTouched(true)
    if (value == null || !key) return
    try {
      app.store!.addCheckin(props.id, key, newCheckin({ temp_c: value, symptoms, method, note }, me.id, Date.now()))
      savedToast(t("checkin.saved"), s.online && d.connection === "online")
      go("", true)
    } catch (err) {
      toast(t("common.error", { msg: String((err as Error).message ?? err) }))
    }
  }
  const toggle = (sym: Symptom) => setChoice(c => toggleSymptom(c, sym, value))
  return (
    <Screen title={t("checkin.title")} back>
      <p class="big">
        {seesCareDetails(me.role) ? (
          <>
            {t("checkin.for", { name: ep.person.name, age: ep.person.age })} · {tr("reason", ep.reason)}
          </>
        ) : (
          ep.person.name
        )}
      </p>
      {household && <p class="small">{t("task.addressLine", { building: household.building, unit: household.unit || "-", room: household.room })}</p>}
      <p>
        <a href={`#/episode/${props.id}`}>{readsReadings(me.role) ? t("checkin.history") : t("ep.title")} ›</a>
      </p>
      {offer.state === "not-yours" ? (
        <Banner tone="info">
          <span data-testid="checkin-not-yours">{t("checkin.notYours")}</span>
        </Banner>
      ) : offer.state === "closed" ? (
        <Banner tone="info">{t("checkin.closed")}</Banner>
      ) : offer.state === "preparing" ? (
        <Banner tone="info">
          <span data-testid="checkin-preparing">{t("checkin.preparing")}</span>
        </Banner>
      ) : offer.state === "done" ? (
        <Banner tone="ok">{t("checkin.noSlot")}</Banner>
      ) : (
        <form class="stack" onSubmit={submit} data-testid="checkin-form">
          {slots.length > 1 && (
            <Field group label={t("checkin.slot")}>
              <div class="choices">
                {slots.map(x => (
                  <Toggle on={x.key === key} onClick={() => setSlotKey(x.key)}>
                    {t("checkin.slotLabel", { date: x.date.slice(5), n: x.slot + 1, time: fmtTime(x.deadline) })}
                  </Toggle>
                ))}
              </div>
            </Field>
          )}
          <Field label={t("checkin.temp")} error={touched && value == null ? t("checkin.tempBad") : null}>
            <input
              class="temp"
              name="temp"
              type="text"
              inputMode="decimal"
              pattern="[0-9]*[.,]?[0-9]*"
              autocomplete="off"
              placeholder={t("checkin.tempPlaceholder")}
              value={temp}
              onInput={e => {
                const next = e.currentTarget.value
                setChoice(c => retemp(c, parseTemp(temp), parseTemp(next)))
                setTemp(next)
              }}
              onBlur={() => setTouched(true)}
            />
          </Field>
          {value != null && isFever(value) && (
            <div class="banner bad" role="alert" data-testid="fever-warning">
              {t("checkin.fever", { temp: value.toFixed(1) })}
            </div>
          )}
          <fieldset>
            <legend>{t("checkin.symptoms")}</legend>
            <div class="choices">
              <Toggle on={symptoms.length === 0} onClick={() => setChoice(clearSymptoms())} tone="okish">
                {t("checkin.noSymptoms")}
              </Toggle>
              {SYMPTOMS.map(sym => (
                <Toggle on={symptoms.includes(sym)} onClick={() => toggle(sym)}>
                  {tr("symptom", sym)}
                </Toggle>
              ))}
            </div>
          </fieldset>
          <Field group label={t("checkin.method")}>
            <Segmented name={t("checkin.method")} value={method} options={METHODS} label={m => tr("method", m)} onChange={setMethod} />
          </Field>
          <Field label={t("checkin.note")}>
            <textarea rows={2} value={note} maxLength={1000} onInput={e => setNote(e.currentTarget.value)} />
          </Field>
          <button class="btn primary big" type="submit" disabled={!key}>
            {t("checkin.submit")}
          </button>
        </form>
      )}
    </Screen>
  )
}

/**
 * A person's observation. The assigned volunteer and the grid's medics see its check-in
 * history (from its readings) and take check-ins; coordinators and admins manage it —
 * assignee, closing — and see its status and open alerts, never the readings (DESIGN §9).
 */
export function EpisodeDetail(props: { id: string }) {
  const app = useApp()
  const s = useAppState()
  const now = useNow()
  const names = useNames()
  const d = s.data
  const ep = d?.docs[props.id] as Episode | undefined
  usePriority(props.id, !!ep)
  const me = s.session!.user
  const readings = useReadings(props.id, ep, me.role)
  const manages = me.role === "coordinator" || me.role === "admin"
  const reads = readsReadings(me.role)
  if (!d) return null
  if (!ep) {
    return (
      <Screen title={t("ep.title")} back>
        <p class="empty">{d.phase === "ready" ? t("task.notFound") : t("common.notLoaded")}</p>
      </Screen>
    )
  }
  const entries = Object.entries(checkinsOf(ep, readings)).sort(([a], [b]) => (a < b ? 1 : a > b ? -1 : 0))
  const open = ep.status !== "closed"
  const alerts = d.rows[props.id]?.alerts ?? 0
  const canCheckIn = checkinOffer(me, ep, readings, now).state === "open"
  const household = d.docs[ep.household] as Household | undefined
  const run = (fn: () => void, what: string) => {
    try {
      fn()
      savedToast(what, s.online && d.connection === "online")
    } catch (e) {
      toast(t("common.error", { msg: String((e as Error).message ?? e) }))
    }
  }
  return (
    <Screen title={ep.person.name || t("ep.title")} back>
      <div class="detail-head">
        <StatusChip status={ep.status} />
        {seesCareDetails(me.role) && <Chip>{tr("reason", ep.reason)}</Chip>}
        {alerts > 0 && (
          <a href="#/alerts" data-testid="episode-alerts">
            <Chip tone="bad">{t("work.alerts", { n: alerts })}</Chip>
          </a>
        )}
        <span>{t("checkin.period", { start: ep.start, end: ep.end, slots: ep.slots })}</span>
      </div>
      {household && manages && (
        <section class="panel">
          <AddressBlock h={household} careDetails={seesCareDetails(me.role)} />
        </section>
      )}
      {canCheckIn && (
        <a class="btn primary big" href={`#/checkin/${props.id}`} data-testid="checkin-link">
          {me.role === "volunteer" ? t("checkin.open") : t("checkin.phone")}
        </a>
      )}
      {manages && (
        <section class="panel">
          <h2>{t("ep.assignee")}</h2>
          <AssigneePicker value={ep.assignee} names={names} disabled={!open} onChange={u => run(() => app.store!.assignEpisode(props.id, u), t("task.assign"))} />
          {open && (
            <button class="btn danger" onClick={() => confirm(t("ep.closeConfirm")) && run(() => app.store!.closeEpisode(props.id), t("ep.close"))}>
              {t("ep.close")}
            </button>
          )}
        </section>
      )}
      {reads ? (
        <section class="panel">
          <h2>{t("checkin.history")}</h2>
          {!readings && open && entries.length === 0 && <p class="empty">{t("checkin.preparing")}</p>}
          {(readings || !open) && entries.length === 0 && <p class="empty">{t("checkin.noHistory")}</p>}
          <ul class="history" data-testid="history">
            {entries.map(([k, c]) => {
              const p = parseCheckinKey(k)
              return (
                <li class={isFever(c.temp_c) || c.symptoms.length ? "abnormal" : ""}>
                  <div class="row spread">
                    <strong>{p ? `${p.date}${ep.slots > 1 ? ` #${p.slot + 1}` : ""}` : k}</strong>
                    <strong class={isFever(c.temp_c) ? "fever" : ""}>{c.temp_c.toFixed(1)} °C</strong>
                  </div>
                  <div>{c.symptoms.length ? c.symptoms.map(x => tr("symptom", x)).join(t("common.sep")) : t("checkin.noSymptoms")}</div>
                  <div class="small">
                    {t("checkin.by", { method: tr("method", c.method), time: fmtDateTime(c.at) })}
                    <span class="who"> · {userLabel(c.by, names, me)}</span>
                    {c.note ? ` · ${c.note}` : ""}
                  </div>
                </li>
              )
            })}
          </ul>
        </section>
      ) : (
        <section class="panel" data-testid="readings-hidden">
          <h2>{t("checkin.history")}</h2>
          <p class="small">{t("ep.readingsHidden")}</p>
        </section>
      )}
    </Screen>
  )
}
