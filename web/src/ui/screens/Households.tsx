import { useState } from "preact/hooks"
import { HOUSEHOLD_SORTS, buildingsOf, filterHouseholds, sortHouseholds, type HouseholdFacts, type HouseholdSort } from "../../data/desk"
import { addressLabel, isWorkRow } from "../../data/domain"
import { sameAddress } from "../../data/forms"
import type { CareFlag, Household, Member, SummaryRow } from "../../generated"
import { t, tr } from "../../i18n"
import { Chip, Field, Screen, StatusChip, Toggle, savedToast, toast } from "../components"
import { useApp, useAppState } from "../context"
import { FilterBar, Select, SortHeader, placeName, useHouseholdFacts, useWide } from "../desk"
import { rowTitle } from "../format"
import { go } from "../router"
import { useGrid } from "./Dashboard"

export const FLAGS: CareFlag[] = ["elderly_alone", "child_unattended", "disabled", "chronic"]

export function Households(props: { query: URLSearchParams }) {
  const s = useAppState()
  const wide = useWide()
  const manages = s.session?.user.role === "coordinator" || s.session?.user.role === "admin"
  const all = useHouseholdFacts()
  // The search stays out of the route: no name or phone number in a URL (DESIGN §9).
  const [q, setQ] = useState("")
  const [building, setBuilding] = useState(props.query.get("building") ?? "")
  const [flag, setFlag] = useState<CareFlag | "any" | "">((props.query.get("flag") as CareFlag) ?? "")
  const [openWork, setOpenWork] = useState(props.query.get("open") === "1")
  const [sort, setSort] = useState<HouseholdSort>("care")
  const shown = sortHouseholds(filterHouseholds(all, { query: q, building, flag, openWork }), sort)
  return (
    <Screen
      title={t("hh.title")}
      actions={
        <>
          <a class="btn small" href="#/buildings">
            {t("desk.byBuilding")}
          </a>
          {manages && (
            <a class="btn small primary" href="#/new/household">
              {t("hh.new")}
            </a>
          )}
        </>
      }
    >
      <input type="search" placeholder={t("desk.search")} aria-label={t("desk.search")} value={q} onInput={e => setQ(e.currentTarget.value)} data-testid="household-search" />
      <FilterBar wide={wide} active={!!building || !!flag || openWork}>
        <Select label={t("desk.building")} value={building} options={["", ...buildingsOf(all)]} text={b => (b ? placeName(b) : t("desk.allBuildings"))} onChange={setBuilding} testid="filter-building" />
        <Select label={t("desk.care")} value={flag} options={["", "any", ...FLAGS]} text={f => (f === "any" ? t("desk.anyFlag") : f ? tr("flag", f) : t("desk.allHouseholds"))} onChange={setFlag} testid="filter-flag" />
        <Select label={t("desk.sort")} value={sort} options={HOUSEHOLD_SORTS} text={x => t(`desk.sort.${x}`)} onChange={setSort} testid="sort" />
        <Toggle on={openWork} onClick={() => setOpenWork(!openWork)}>
          {t("desk.openWork")}
        </Toggle>
      </FilterBar>
      <p class="small" data-testid="shown">
        {t("desk.shown", { n: shown.length, total: all.length })}
      </p>
      {all.length === 0 && <p class="empty">{t("hh.empty")}</p>}
      {wide ? <HouseholdTable list={shown} sort={sort} onSort={setSort} /> : <HouseholdCards list={shown} />}
      <p class="small">{t("hh.known")}</p>
      {manages && all.length > 0 && (
        <section class="panel" data-testid="print-links">
          <h2>{t("print.open")}</h2>
          <div class="row wrap">
            {buildingsOf(all).map(b => (
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

export function FlagChips(props: { flags: CareFlag[] }) {
  return (
    <>
      {props.flags.map(f => (
        <Chip tone="warn">{tr("flag", f)}</Chip>
      ))}
    </>
  )
}

/** Work rows as links to the work: title and status. */
export function WorkLinks(props: { rows: [string, SummaryRow][]; class?: string }) {
  return (
    <ul class={props.class ?? "rows"}>
      {props.rows.map(([id, r]) => (
        <li>
          <a href={`#/${r.kind === "task" ? "task" : "episode"}/${id}`}>
            <span class="grow">{rowTitle(r)}</span>
            <StatusChip status={r.status} />
          </a>
        </li>
      ))}
    </ul>
  )
}

/** Open deliveries and observations of a household, as chips. */
export function WorkChips(props: { x: HouseholdFacts }) {
  return (
    <>
      {props.x.openTasks > 0 && <Chip tone="info">{t("desk.openTasks", { n: props.x.openTasks })}</Chip>}
      {props.x.openEpisodes > 0 && <Chip tone="info">{t("desk.openEpisodes", { n: props.x.openEpisodes })}</Chip>}
    </>
  )
}

function HouseholdCards(props: { list: HouseholdFacts[] }) {
  return (
    <ul class="rows desk-rows" data-testid="households">
      {props.list.map(x => (
        <li>
          <a href={`#/household/${x.id}`} data-id={x.id}>
            <div class="grow">
              <strong>{addressLabel(x.household)}</strong>
              <div class="small">{t("hh.members", { n: x.household.members.length })}</div>
            </div>
            <span>
              <FlagChips flags={x.flags} />
              <WorkChips x={x} />
            </span>
          </a>
        </li>
      ))}
    </ul>
  )
}

/** The desk's table: a sortable header (care flags, address, open work). */
function HouseholdTable(props: { list: HouseholdFacts[]; sort: HouseholdSort; onSort: (s: HouseholdSort) => void }) {
  const head = (label: string, by?: HouseholdSort) => <SortHeader label={label} by={by} current={props.sort} ascending={by === "address"} onSort={props.onSort} />
  return (
    <table class="desk-table" data-testid="households">
      <thead>
        <tr>
          {head(t("desk.col.address"), "address")}
          {head(t("desk.col.members"))}
          {head(t("desk.col.phone"))}
          {head(t("desk.col.flags"), "care")}
          {head(t("desk.col.work"), "work")}
        </tr>
      </thead>
      <tbody>
        {props.list.map(x => (
          <tr data-id={x.id}>
            <td>
              <a href={`#/household/${x.id}`}>{addressLabel(x.household)}</a>
            </td>
            <td>{x.household.members.map(m => m.name).join(t("common.sep"))}</td>
            <td>{x.household.phone}</td>
            <td>
              <FlagChips flags={x.flags} />
            </td>
            <td>
              <WorkChips x={x} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
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
  const rows = Object.entries(s.data?.rows ?? {}).filter(([, r]) => props.id && r.household === props.id && isWorkRow(r))
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
          <WorkLinks rows={rows} />
        </section>
      )}
    </Screen>
  )
}
