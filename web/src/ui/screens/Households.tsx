import { useState } from "preact/hooks"
import { addressLabel } from "../../data/domain"
import { buildingsOf, sameAddress } from "../../data/forms"
import type { CareFlag, Household, Member } from "../../generated"
import { t, tr } from "../../i18n"
import { Chip, Field, Screen, StatusChip, Toggle, savedToast, toast } from "../components"
import { useApp, useAppState } from "../context"
import { rowTitle } from "../format"
import { go } from "../router"
import { useGrid } from "./Dashboard"

const FLAGS: CareFlag[] = ["elderly_alone", "child_unattended", "disabled", "chronic"]

/** Every household this phone knows, most special care first. */
export function useHouseholds(): [string, Household][] {
  const s = useAppState()
  const { grid } = useGrid()
  return Object.entries(s.data?.docs ?? {})
    .filter((e): e is [string, Household] => e[1].kind === "household" && (!grid || e[1].grid === grid.id))
    .sort(([, a], [, b]) => addressLabel(a).localeCompare(addressLabel(b), "zh-CN", { numeric: true }))
}

export function Households() {
  const s = useAppState()
  const manages = s.session?.user.role === "coordinator" || s.session?.user.role === "admin"
  const list = useHouseholds()
  const [q, setQ] = useState("")
  const query = q.trim().toLowerCase()
  const shown = query
    ? list.filter(([, h]) => `${addressLabel(h)} ${h.members.map(m => m.name).join(" ")} ${h.phone}`.toLowerCase().includes(query))
    : list
  return (
    <Screen
      title={t("hh.title")}
      actions={
        manages ? (
          <a class="btn small primary" href="#/new/household">
            {t("hh.new")}
          </a>
        ) : null
      }
    >
      <input type="search" placeholder={t("hh.search")} aria-label={t("hh.search")} value={q} onInput={e => setQ(e.currentTarget.value)} />
      {list.length === 0 && <p class="empty">{t("hh.empty")}</p>}
      <ul class="rows" data-testid="households">
        {shown.map(([id, h]) => (
          <li>
            <a href={`#/household/${id}`} data-id={id}>
              <div class="grow">
                <strong>{addressLabel(h)}</strong>
                <div class="small">{t("hh.members", { n: h.members.length })}</div>
              </div>
              <span>
                {[...new Set(h.members.flatMap(m => m.flags))].map(f => (
                  <Chip tone="warn">{tr("flag", f)}</Chip>
                ))}
              </span>
            </a>
          </li>
        ))}
      </ul>
      <p class="small">{t("hh.known")}</p>
      {manages && list.length > 0 && (
        <section class="panel" data-testid="print-links">
          <h2>{t("print.open")}</h2>
          <div class="row wrap">
            {buildingsOf(list.map(([, h]) => h)).map(b => (
              <a class="btn small" href={`#/print?building=${encodeURIComponent(b)}`}>
                {t("print.building", { b })}
              </a>
            ))}
            <a class="btn small" href="#/print">
              {t("print.all")}
            </a>
          </div>
        </section>
      )}
    </Screen>
  )
}

interface Draft {
  building: string
  unit: string
  room: string
  phone: string
  notes: string
  members: (Omit<Member, "medicines"> & { medicines: string })[]
}

function draftOf(h?: Household): Draft {
  return {
    building: h?.building ?? "",
    unit: h?.unit ?? "",
    room: h?.room ?? "",
    phone: h?.phone ?? "",
    notes: h?.notes ?? "",
    members: (h?.members ?? []).map(m => ({ ...m, flags: [...m.flags], medicines: m.medicines.join("，") })),
  }
}

function membersOf(d: Draft): Member[] {
  return d.members
    .filter(m => m.name.trim())
    .map(m => ({
      name: m.name,
      age: Number(m.age) || 0,
      flags: m.flags,
      medicines: m.medicines.split(/[,，、;；]/).map(x => x.trim()).filter(Boolean),
    }))
}

/** Create (no id) or edit a household; coordinators only. */
export function HouseholdEdit(props: { id?: string }) {
  const app = useApp()
  const s = useAppState()
  const { grid } = useGrid()
  const existing = props.id ? (s.data?.docs[props.id] as Household | undefined) : undefined
  const manages = s.session?.user.role === "coordinator" || s.session?.user.role === "admin"
  // The form follows the document until the user types: a household just created (or
  // opened before it is loaded) shows its data once the store has it.
  const [edited, setEdited] = useState<Draft | null>(null)
  const d = edited ?? draftOf(existing)
  const [err, setErr] = useState<string | null>(null)
  const [asked, setAsked] = useState(false)
  const dupes = grid ? sameAddress(s.data?.docs ?? {}, { grid: existing?.grid ?? grid.id, ...d }, props.id) : []
  const rows = Object.entries(s.data?.rows ?? {}).filter(([, r]) => props.id && r.household === props.id)
  if (props.id && !existing) {
    return (
      <Screen title={t("hh.edit")} back>
        <p class="empty">{t("hh.notFound")}</p>
      </Screen>
    )
  }
  const set = (patch: Partial<Draft>) => {
    setEdited({ ...d, ...patch })
    if ("building" in patch || "unit" in patch || "room" in patch) setAsked(false)
  }
  const setMember = (i: number, patch: Partial<Draft["members"][number]>) => set({ members: d.members.map((m, j) => (j === i ? { ...m, ...patch } : m)) })
  const save = (e?: Event, sure = false) => {
    e?.preventDefault()
    if (!d.building.trim() || !d.room.trim()) return setErr(t("hh.required"))
    setErr(null)
    // Another household at this door: say so, show it, and save only when confirmed.
    if (dupes.length > 0 && !sure) return setAsked(true)
    setAsked(false)
    try {
      const online = s.online && s.data?.connection === "online"
      if (props.id) {
        app.store!.updateHousehold(props.id, { building: d.building, unit: d.unit, room: d.room, phone: d.phone, notes: d.notes, members: membersOf(d) })
        setEdited(null)
        savedToast(t("hh.saved"), online)
      } else {
        const id = app.store!.createHousehold({ grid: grid!.id, building: d.building, unit: d.unit, room: d.room, phone: d.phone, notes: d.notes, members: membersOf(d) })
        savedToast(t("hh.saved"), online)
        go(`household/${id}`, true)
      }
    } catch (x) {
      toast(t("common.error", { msg: (x as Error).message }))
    }
  }
  return (
    <Screen title={existing ? addressLabel(existing) : t("hh.new")} back>
      {props.id && manages && (
        <div class="row wrap">
          <a class="btn primary" href={`#/new/task?household=${props.id}`}>
            {t("dash.newTask")}
          </a>
          <a class="btn" href={`#/new/episode?household=${props.id}`}>
            {t("dash.newEpisode")}
          </a>
        </div>
      )}
      <form class="stack" onSubmit={save} data-testid="household-form">
        <fieldset class="plain" disabled={!manages}>
        <div class="row">
          <Field label={`${t("hh.building")} *`}>
            <input name="building" value={d.building} onInput={e => set({ building: e.currentTarget.value })} maxLength={100} />
          </Field>
          <Field label={t("hh.unit")}>
            <input name="unit" value={d.unit} onInput={e => set({ unit: e.currentTarget.value })} maxLength={100} />
          </Field>
          <Field label={`${t("hh.room")} *`}>
            <input name="room" value={d.room} onInput={e => set({ room: e.currentTarget.value })} maxLength={100} />
          </Field>
        </div>
        <Field label={t("hh.phone")}>
          <input name="phone" type="tel" inputMode="tel" value={d.phone} onInput={e => set({ phone: e.currentTarget.value })} maxLength={100} />
        </Field>
        <Field label={t("hh.notes")}>
          <textarea rows={2} value={d.notes} onInput={e => set({ notes: e.currentTarget.value })} maxLength={2000} />
        </Field>
        {d.members.map((m, i) => (
          <fieldset class="member">
            <legend>
              {t("hh.member")} {i + 1}
            </legend>
            <div class="row">
              <Field label={t("hh.memberName")}>
                <input value={m.name} onInput={e => setMember(i, { name: e.currentTarget.value })} maxLength={100} />
              </Field>
              <Field label={t("hh.memberAge")}>
                <input type="text" inputMode="numeric" value={String(m.age)} onInput={e => setMember(i, { age: Number(e.currentTarget.value.replace(/\D/g, "")) || 0 })} />
              </Field>
            </div>
            <div class="choices">
              {FLAGS.map(f => (
                <Toggle on={m.flags.includes(f)} onClick={() => setMember(i, { flags: m.flags.includes(f) ? m.flags.filter(x => x !== f) : [...m.flags, f] })}>
                  {tr("flag", f)}
                </Toggle>
              ))}
            </div>
            <Field label={t("hh.medicines")}>
              <input value={m.medicines} onInput={e => setMember(i, { medicines: e.currentTarget.value })} />
            </Field>
            <button type="button" class="btn small danger" onClick={() => set({ members: d.members.filter((_, j) => j !== i) })}>
              {t("hh.removeMember")}
            </button>
          </fieldset>
        ))}
        <button type="button" class="btn" onClick={() => set({ members: [...d.members, { name: "", age: 0, flags: [], medicines: "" }] })}>
          {t("hh.addMember")}
        </button>
        {err && <p class="error">{err}</p>}
        {asked && dupes.length > 0 && (
          <div class="banner warn" role="alert" data-testid="same-address">
            <p>{t("forms.sameAddress", { address: addressLabel(d) })}</p>
            <ul class="rows">
              {dupes.map(([id, h]) => (
                <li>
                  <a href={`#/household/${id}`} data-id={id}>
                    <strong class="grow">{addressLabel(h)}</strong>
                    <span class="small">{t("hh.members", { n: h.members.length })}</span>
                  </a>
                </li>
              ))}
            </ul>
            <div class="row wrap">
              <button type="button" class="btn" onClick={() => setAsked(false)}>
                {t("common.cancel")}
              </button>
              <button type="button" class="btn primary" onClick={() => save(undefined, true)} data-testid="save-anyway">
                {t("forms.saveAnyway")}
              </button>
            </div>
          </div>
        )}
        {manages && (
          <button class="btn primary big" type="submit">
            {t("hh.save")}
          </button>
        )}
        </fieldset>
      </form>
      {props.id && (
        <section class="panel">
          <h2>{t("hh.work")}</h2>
          {rows.length === 0 && <p class="empty">{t("hh.noWork")}</p>}
          <ul class="rows">
            {rows.map(([id, r]) => (
              <li>
                <a href={`#/${r.kind === "task" ? "task" : "episode"}/${id}`}>
                  <span class="grow">{rowTitle(r)}</span>
                  <StatusChip status={r.status} />
                </a>
              </li>
            ))}
          </ul>
        </section>
      )}
    </Screen>
  )
}
