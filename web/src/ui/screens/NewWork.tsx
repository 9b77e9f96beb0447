import { useState } from "preact/hooks"
import { buildingsOf, householdMatches, householdsIn } from "../../data/desk"
import { CATEGORIES, PRIORITIES, REASONS, addDays, addressLabel, communityDate, type NewTask as NewTaskDoc } from "../../data/domain"
import { BUILTIN_TEMPLATES, saveTemplate, savedTemplates, type ItemTemplate } from "../../data/templates"
import type { Category, Item, Priority, Reason } from "../../generated"
import { t, tr } from "../../i18n"
import { Banner, Confirm, Field, Screen, Segmented, savedToast, toast } from "../components"
import { useApp, useAppState } from "../context"
import { Select, placeName, useHouseholdFacts, useHouseholds } from "../desk"
import { go } from "../router"
import { useGrid } from "./Dashboard"
import { AssigneePicker, useNames } from "./people"

function localInput(ms: number): string {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000)
  return d.toISOString().slice(0, 16)
}

const PICKER_ROWS = 8

/** Find a household by address ("3号楼", "3-2-501"), name or phone, and pick it. */
function HouseholdPicker(props: { value: string; onChange: (id: string) => void }) {
  const list = useHouseholds()
  const [q, setQ] = useState("")
  const picked = list.find(([id]) => id === props.value)?.[1]
  if (picked) {
    return (
      <Field group label={t("new.household")}>
        <div class="row picked" data-testid="household-picked" data-id={props.value}>
          <strong class="grow">
            {addressLabel(picked)}
            {picked.members[0] ? ` · ${picked.members[0].name}` : ""}
          </strong>
          <button type="button" class="btn small" onClick={() => props.onChange("")}>
            {t("pick.change")}
          </button>
        </div>
      </Field>
    )
  }
  const found = list.filter(([, h]) => householdMatches(h, q))
  return (
    <Field group label={t("new.household")}>
      <input type="search" value={q} placeholder={t("desk.search")} aria-label={t("desk.search")} onInput={e => setQ(e.currentTarget.value)} data-testid="household-search" />
      <ul class="picker" data-testid="household-options">
        {found.slice(0, PICKER_ROWS).map(([id, h]) => (
          <li>
            <button type="button" class="pick" data-testid="household-option" data-id={id} onClick={() => props.onChange(id)}>
              <strong>{addressLabel(h)}</strong>
              {h.members[0] ? ` · ${h.members[0].name}` : ""}
            </button>
          </li>
        ))}
      </ul>
      {found.length === 0 && <p class="empty">{t("pick.none")}</p>}
      {found.length > PICKER_ROWS && <p class="small">{t("pick.more", { n: found.length - PICKER_ROWS })}</p>}
    </Field>
  )
}

type ItemDraft = Omit<Item, "qty"> & { qty: string }
const blankItem = (): ItemDraft => ({ name: "", qty: "1", unit: "" })

/** What a delivery is (category, items, priority, due, contact): the same for one
 * household and for every household of a building. */
interface DeliveryDraft {
  category: Category
  items: ItemDraft[]
  priority: Priority
  due: string
  contactless: boolean
}

function useDeliveryDraft(contactless: boolean) {
  return useState<DeliveryDraft>(() => ({
    category: "food",
    items: [blankItem()],
    priority: "normal",
    due: localInput(Math.ceil((Date.now() + 2 * 3600_000) / 900_000) * 900_000),
    contactless,
  }))
}

/** The draft as the fields of `NewTask` (`store.createTask`), or what is missing. */
function deliveryOf(d: DeliveryDraft): { delivery: Omit<NewTaskDoc, "grid" | "household" | "assignee"> } | { error: string } {
  const items = d.items.map(i => ({ name: i.name.trim(), qty: Number(i.qty.replace(",", ".")), unit: i.unit.trim() })).filter(i => i.name && i.qty > 0)
  if (items.length === 0) return { error: t("new.needItems") }
  return { delivery: { category: d.category, items, priority: d.priority, due: new Date(d.due).getTime(), contactless: d.contactless } }
}

function templateItems(tpl: ItemTemplate): ItemDraft[] {
  return tpl.items.map(i => ({
    name: tpl.builtin ? tr("tpl.item", i.name) : i.name,
    qty: String(i.qty),
    unit: tpl.builtin ? tr("tpl.unit", i.unit) : i.unit,
  }))
}

/** Built-in templates and the user's own; applying one fills the items (and category). */
function Templates(props: { draft: DeliveryDraft; onApply: (d: DeliveryDraft) => void }) {
  const app = useApp()
  const s = useAppState()
  const user = s.session!.user.id
  const [saved, setSaved] = useState(() => savedTemplates(app.kv, user))
  const [naming, setNaming] = useState<string | null>(null)
  const save = () => {
    const r = deliveryOf(props.draft)
    if ("error" in r) return toast(r.error)
    if (!naming?.trim()) return
    saveTemplate(app.kv, user, naming, props.draft.category, r.delivery.items, Date.now())
    setSaved(savedTemplates(app.kv, user))
    setNaming(null)
    toast(t("tpl.saved"))
  }
  return (
    <div class="templates" role="group" aria-label={t("tpl.title")}>
      <span class="label">{t("tpl.title")}</span>
      <div class="choices">
        {[...BUILTIN_TEMPLATES, ...saved].map(tpl => (
          <button type="button" class="toggle" data-testid="template" onClick={() => props.onApply({ ...props.draft, category: tpl.category, items: templateItems(tpl) })}>
            {tpl.builtin ? tr("tpl", tpl.id) : tpl.name}
          </button>
        ))}
      </div>
      {naming == null ? (
        <button type="button" class="btn small" onClick={() => setNaming("")}>
          {t("tpl.save")}
        </button>
      ) : (
        <div class="row">
          <Field label={t("tpl.name")}>
            <input value={naming} onInput={e => setNaming(e.currentTarget.value)} maxLength={40} data-testid="template-name" />
          </Field>
          <button type="button" class="btn" onClick={save} data-testid="template-save">
            {t("tpl.saveNow")}
          </button>
        </div>
      )}
    </div>
  )
}

function DeliveryFields(props: { draft: DeliveryDraft; onChange: (d: DeliveryDraft) => void }) {
  const d = props.draft
  const set = (patch: Partial<DeliveryDraft>) => props.onChange({ ...d, ...patch })
  const setItem = (i: number, patch: Partial<ItemDraft>) => set({ items: d.items.map((x, j) => (j === i ? { ...x, ...patch } : x)) })
  return (
    <>
      <Templates draft={d} onApply={props.onChange} />
      <Field group label={t("new.category")}>
        <Segmented name={t("new.category")} value={d.category} options={CATEGORIES} label={c => tr("category", c)} onChange={category => set({ category })} />
      </Field>
      <fieldset>
        <legend>{t("new.items")}</legend>
        {d.items.map((it, i) => (
          <div class="row item-row">
            <input aria-label={t("new.itemName")} placeholder={t("new.itemName")} value={it.name} onInput={e => setItem(i, { name: e.currentTarget.value })} data-testid="item-name" maxLength={100} />
            <input aria-label={t("new.itemQty")} class="qty" inputMode="decimal" value={it.qty} onInput={e => setItem(i, { qty: e.currentTarget.value })} data-testid="item-qty" />
            <input aria-label={t("new.itemUnit")} class="unit" placeholder={t("new.itemUnit")} value={it.unit} onInput={e => setItem(i, { unit: e.currentTarget.value })} data-testid="item-unit" maxLength={100} />
          </div>
        ))}
        <button type="button" class="btn small" onClick={() => set({ items: [...d.items, blankItem()] })}>
          {t("new.addItem")}
        </button>
      </fieldset>
      <Field group label={t("new.priority")}>
        <Segmented name={t("new.priority")} value={d.priority} options={PRIORITIES} label={p => tr("priority", p)} onChange={priority => set({ priority })} />
      </Field>
      <Field label={t("new.due")}>
        <input type="datetime-local" value={d.due} onInput={e => set({ due: e.currentTarget.value })} required data-testid="due" />
      </Field>
      <label class="check">
        <input type="checkbox" checked={d.contactless} onChange={e => set({ contactless: e.currentTarget.checked })} /> {t("new.contactless")}
      </label>
    </>
  )
}

export function NewTask(props: { household?: string }) {
  const app = useApp()
  const s = useAppState()
  const names = useNames()
  const { grid } = useGrid()
  const [household, setHousehold] = useState(props.household ?? "")
  const [draft, setDraft] = useDeliveryDraft(grid?.policy?.contactless ?? true)
  const [assignee, setAssignee] = useState<string | null>(null)
  const [err, setErr] = useState<string | null>(null)
  const submit = (e: Event) => {
    e.preventDefault()
    if (!household) return setErr(t("new.pickHousehold"))
    const r = deliveryOf(draft)
    if ("error" in r) return setErr(r.error)
    try {
      const id = app.store!.createTask({ ...r.delivery, grid: grid!.id, household, assignee })
      savedToast(t("task.created"), s.online && s.data?.connection === "online")
      go(`task/${id}`, true)
    } catch (x) {
      toast(t("common.error", { msg: (x as Error).message }))
    }
  }
  return (
    <Screen title={t("new.task")} back>
      <form class="stack" onSubmit={submit} data-testid="new-task">
        <HouseholdPicker value={household} onChange={setHousehold} />
        <DeliveryFields draft={draft} onChange={setDraft} />
        <AssigneePicker value={assignee} names={names} onChange={setAssignee} immediate />
        {err && <p class="error">{err}</p>}
        <button class="btn primary big" type="submit" data-testid="create">
          {t("new.create")}
        </button>
      </form>
    </Screen>
  )
}

/**
 * One delivery for every household of a building (or one unit of it), each created
 * offline first as its own task document, exactly as `NewTask` creates one.
 */
export function BulkTask(props: { building?: string; unit?: string }) {
  const app = useApp()
  const s = useAppState()
  const { grid } = useGrid()
  const all = useHouseholdFacts()
  const buildings = buildingsOf(all)
  const [building, setBuilding] = useState(props.building ?? "")
  const [unit, setUnit] = useState(props.unit ?? "")
  const [draft, setDraft] = useDeliveryDraft(grid?.policy?.contactless ?? true)
  const [confirm, setConfirm] = useState(false)
  const [done, setDone] = useState<string | null>(null)
  const [err, setErr] = useState<string | null>(null)
  const units = [...new Set(householdsIn(all, building).map(x => x.household.unit.trim()))].filter(Boolean)
  const targets = building ? householdsIn(all, building, unit) : []
  const place = building ? placeName(building, unit) : ""
  const ask = (e: Event) => {
    e.preventDefault()
    setDone(null)
    if (targets.length === 0) return setErr(t("bulk.none"))
    const r = deliveryOf(draft)
    if ("error" in r) return setErr(r.error)
    setErr(null)
    setConfirm(true)
  }
  const create = () => {
    setConfirm(false)
    const r = deliveryOf(draft)
    if ("error" in r) return setErr(r.error)
    let n = 0
    try {
      for (const x of targets) {
        app.store!.createTask({ ...r.delivery, grid: grid!.id, household: x.id, assignee: null })
        n++
      }
      setDone(t("bulk.done", { n, place }))
      savedToast(t("bulk.created", { n }), s.online && s.data?.connection === "online")
    } catch (x) {
      setErr(t("bulk.partly", { n, total: targets.length, msg: (x as Error).message }))
    }
  }
  return (
    <Screen title={t("bulk.title")} back>
      {done && (
        <Banner tone="ok">
          <span data-testid="bulk-done">{done}</span>{" "}
          <a href="#/work?kind=task&status=new">{t("bulk.see")}</a>
        </Banner>
      )}
      <form class="stack" onSubmit={ask} data-testid="new-bulk">
        <div class="filterbar">
          <Select
            label={t("desk.building")}
            value={building}
            options={["", ...buildings]}
            text={b => (b ? placeName(b) : t("bulk.pickBuilding"))}
            onChange={b => {
              setBuilding(b)
              setUnit("")
            }}
            testid="bulk-building"
          />
          {units.length > 0 && <Select label={t("hh.unit")} value={unit} options={["", ...units]} text={u => (u ? t("desk.unitName", { u }) : t("desk.allUnits"))} onChange={setUnit} testid="bulk-unit" />}
        </div>
        {building && (
          <p data-testid="bulk-targets">
            <strong>{t("bulk.targets", { n: targets.length })}</strong> {targets.map(x => addressLabel(x.household)).join(t("common.sep"))}
          </p>
        )}
        <DeliveryFields draft={draft} onChange={setDraft} />
        {err && <p class="error">{err}</p>}
        {!confirm && (
          <button class="btn primary big" type="submit" data-testid="create" disabled={!building}>
            {t("bulk.create", { n: targets.length })}
          </button>
        )}
      </form>
      {/* Outside the form: its buttons must not submit it. */}
      {confirm && <Confirm text={t("bulk.confirm", { n: targets.length, place })} label={t("bulk.create", { n: targets.length })} onCancel={() => setConfirm(false)} onConfirm={create} />}
    </Screen>
  )
}

export function NewEpisode(props: { household?: string }) {
  const app = useApp()
  const s = useAppState()
  const names = useNames()
  const { grid } = useGrid()
  const today = communityDate(Date.now())
  const [household, setHousehold] = useState(props.household ?? "")
  const [name, setName] = useState("")
  const [age, setAge] = useState("")
  const [reason, setReason] = useState<Reason>("close_contact")
  const [start, setStart] = useState(today)
  const [end, setEnd] = useState(addDays(today, 14))
  const [slots, setSlots] = useState(String(grid?.policy?.checkins_per_day ?? 1))
  const [assignee, setAssignee] = useState<string | null>(null)
  const [err, setErr] = useState<string | null>(null)
  const submit = (e: Event) => {
    e.preventDefault()
    if (!household) return setErr(t("new.pickHousehold"))
    if (!name.trim()) return setErr(t("new.needPerson"))
    try {
      const id = app.store!.createEpisode({ grid: grid!.id, household, person: { name, age: Number(age) || 0 }, reason, start, end, slots: Number(slots), assignee })
      savedToast(t("new.episodeCreated"), s.online && s.data?.connection === "online")
      go(`episode/${id}`, true)
    } catch (x) {
      toast(t("common.error", { msg: (x as Error).message }))
    }
  }
  return (
    <Screen title={t("new.episode")} back>
      <form class="stack" onSubmit={submit} data-testid="new-episode">
        <HouseholdPicker value={household} onChange={setHousehold} />
        <div class="row">
          <Field label={t("new.person")}>
            <input value={name} onInput={e => setName(e.currentTarget.value)} maxLength={100} />
          </Field>
          <Field label={t("new.age")}>
            <input class="qty" inputMode="numeric" value={age} onInput={e => setAge(e.currentTarget.value.replace(/\D/g, ""))} />
          </Field>
        </div>
        <Field group label={t("new.reason")}>
          <Segmented name={t("new.reason")} value={reason} options={REASONS} label={r => tr("reason", r)} onChange={setReason} />
        </Field>
        <div class="row">
          <Field label={t("new.start")}>
            <input
              type="date"
              value={start}
              onInput={e => {
                setStart(e.currentTarget.value)
                setEnd(addDays(e.currentTarget.value, 14))
              }}
            />
          </Field>
          <Field label={t("new.end")}>
            <input type="date" value={end} min={start} onInput={e => setEnd(e.currentTarget.value)} />
          </Field>
        </div>
        <Field group label={t("new.slots")}>
          <Segmented name={t("new.slots")} value={slots} options={["1", "2", "3", "4"]} label={x => x} onChange={setSlots} />
        </Field>
        <AssigneePicker value={assignee} names={names} onChange={setAssignee} immediate />
        {err && <p class="error">{err}</p>}
        <button class="btn primary big" type="submit">
          {t("new.create")}
        </button>
      </form>
    </Screen>
  )
}
