import { useState } from "preact/hooks"
import { CATEGORIES, PRIORITIES, REASONS, addDays, addressLabel, communityDate } from "../../data/domain"
import type { Category, Item, Priority, Reason } from "../../generated"
import { t, tr } from "../../i18n"
import { Field, Screen, Segmented, savedToast, toast } from "../components"
import { useApp, useAppState } from "../context"
import { go } from "../router"
import { useGrid } from "./Dashboard"
import { useHouseholds } from "./Households"
import { AssigneePicker, useNames } from "./people"

function localInput(ms: number): string {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000)
  return d.toISOString().slice(0, 16)
}

function HouseholdSelect(props: { value: string; onChange: (id: string) => void }) {
  const list = useHouseholds()
  return (
    <Field label={t("new.household")}>
      <select value={props.value} onChange={e => props.onChange(e.currentTarget.value)} data-testid="household" required>
        <option value="">{t("new.pickHousehold")}</option>
        {list.map(([id, h]) => (
          <option value={id}>
            {addressLabel(h)}
            {h.members[0] ? ` · ${h.members[0].name}` : ""}
          </option>
        ))}
      </select>
    </Field>
  )
}

export function NewTask(props: { household?: string }) {
  const app = useApp()
  const s = useAppState()
  const names = useNames()
  const { grid } = useGrid()
  const [household, setHousehold] = useState(props.household ?? "")
  const [category, setCategory] = useState<Category>("food")
  const [items, setItems] = useState<(Omit<Item, "qty"> & { qty: string })[]>([{ name: "", qty: "1", unit: "" }])
  const [priority, setPriority] = useState<Priority>("normal")
  const [due, setDue] = useState(() => localInput(Math.ceil((Date.now() + 2 * 3600_000) / 900_000) * 900_000))
  const [contactless, setContactless] = useState(grid?.policy?.contactless ?? true)
  const [assignee, setAssignee] = useState<string | null>(null)
  const [err, setErr] = useState<string | null>(null)
  const setItem = (i: number, patch: Partial<(typeof items)[number]>) => setItems(items.map((x, j) => (j === i ? { ...x, ...patch } : x)))
  const submit = (e: Event) => {
    e.preventDefault()
    const clean = items.map(i => ({ name: i.name.trim(), qty: Number(i.qty.replace(",", ".")), unit: i.unit.trim() })).filter(i => i.name && i.qty > 0)
    if (!household) return setErr(t("new.pickHousehold"))
    if (clean.length === 0) return setErr(t("new.needItems"))
    try {
      const id = app.store!.createTask({ grid: grid!.id, household, category, items: clean, priority, due: new Date(due).getTime(), contactless, assignee })
      savedToast(t("task.created"), s.online && s.data?.connection === "online")
      go(`task/${id}`, true)
    } catch (x) {
      toast(t("common.error", { msg: (x as Error).message }))
    }
  }
  return (
    <Screen title={t("new.task")} back>
      <form class="stack" onSubmit={submit} data-testid="new-task">
        <HouseholdSelect value={household} onChange={setHousehold} />
        <Field group label={t("new.category")}>
          <Segmented name={t("new.category")} value={category} options={CATEGORIES} label={c => tr("category", c)} onChange={setCategory} />
        </Field>
        <fieldset>
          <legend>{t("new.items")}</legend>
          {items.map((it, i) => (
            <div class="row item-row">
              <input aria-label={t("new.itemName")} placeholder={t("new.itemName")} value={it.name} onInput={e => setItem(i, { name: e.currentTarget.value })} data-testid="item-name" maxLength={100} />
              <input aria-label={t("new.itemQty")} class="qty" inputMode="decimal" value={it.qty} onInput={e => setItem(i, { qty: e.currentTarget.value })} data-testid="item-qty" />
              <input aria-label={t("new.itemUnit")} class="unit" placeholder={t("new.itemUnit")} value={it.unit} onInput={e => setItem(i, { unit: e.currentTarget.value })} data-testid="item-unit" maxLength={100} />
            </div>
          ))}
          <button type="button" class="btn small" onClick={() => setItems([...items, { name: "", qty: "1", unit: "" }])}>
            {t("new.addItem")}
          </button>
        </fieldset>
        <Field group label={t("new.priority")}>
          <Segmented name={t("new.priority")} value={priority} options={PRIORITIES} label={p => tr("priority", p)} onChange={setPriority} />
        </Field>
        <Field label={t("new.due")}>
          <input type="datetime-local" value={due} onInput={e => setDue(e.currentTarget.value)} required data-testid="due" />
        </Field>
        <label class="check">
          <input type="checkbox" checked={contactless} onChange={e => setContactless(e.currentTarget.checked)} /> {t("new.contactless")}
        </label>
        <AssigneePicker value={assignee} names={names} onChange={setAssignee} immediate />
        {err && <p class="error">{err}</p>}
        <button class="btn primary big" type="submit" data-testid="create">
          {t("new.create")}
        </button>
      </form>
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
        <HouseholdSelect value={household} onChange={setHousehold} />
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
