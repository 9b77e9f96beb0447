/**
 * Pure domain helpers for the phone: the task status graph as each role may walk it,
 * check-in keys and deadlines in the community's time zone, sorting of the day's work,
 * and builders for new documents. The shapes are the generated TypeScript types
 * (`../generated`, from the Rust schemas); the server enforces the same rules
 * (shared/src/domain/rules), these only keep the phone from offering a refused move.
 */
import {
  FEVER_THRESHOLD_C,
  MAX_TEMP_C,
  MIN_TEMP_C,
  SCHEMA_VERSIONS,
  SLOT_DEADLINES,
  type Category,
  type Checkin,
  type Episode,
  type Household,
  type Item,
  type Kind,
  type LogEntry,
  type Medical,
  type Member,
  type Method,
  type Priority,
  type Readings,
  type Reason,
  type SummaryRow,
  type Symptom,
  type Task,
  type TaskStatus,
} from "../generated"

/** China Standard Time: the community's offset until the server has said otherwise. */
export const DEFAULT_COMMUNITY_UTC_OFFSET_MINUTES = 8 * 60

/**
 * The community's offset from UTC in minutes. The server turns a check-in's time into a
 * local date with its setting (`utc_offset_minutes`), which `GET /api/me` reports and the
 * session keeps, so the phone counts days the same way with no network.
 */
export let COMMUNITY_UTC_OFFSET_MINUTES = DEFAULT_COMMUNITY_UTC_OFFSET_MINUTES

/** Adopts the server's offset (`undefined` or nonsense: the default). */
export function setCommunityUtcOffset(minutes: number | undefined): void {
  const valid = typeof minutes === "number" && Number.isInteger(minutes) && Math.abs(minutes) <= 14 * 60
  COMMUNITY_UTC_OFFSET_MINUTES = valid ? minutes : DEFAULT_COMMUNITY_UTC_OFFSET_MINUTES
}

/** Every document a phone holds besides its lists: the work, its households, and (on a
 * volunteer's or a medic's phone) an episode's readings and (a medic's) medical record. */
export type AnyDoc = Task | Episode | Household | Readings | Medical

/** The row of a piece of work: a delivery or an observation. An episode's `readings` and
 * `medical` rows belong to their episode (a volunteer's inbox and a medic index list them
 * so that the phone stores them), and are never shown as work of their own. */
export function isWorkRow<R extends Pick<SummaryRow, "kind">>(row: R): row is R & { kind: "task" | "episode" } {
  return row.kind === "task" || row.kind === "episode"
}

export const PRIORITIES: readonly Priority[] = ["urgent", "high", "normal"]
export const CATEGORIES: readonly Category[] = ["food", "medicine", "supplies"]
export const METHODS: readonly Method[] = ["visit", "phone", "self"]
export const REASONS: readonly Reason[] = ["returnee", "close_contact", "home_isolation"]
export const SYMPTOMS: readonly Symptom[] = [
  "fever",
  "fatigue",
  "cough",
  "sore_throat",
  "sneezing",
  "diarrhoea",
  "vomiting",
  "jaundice",
  "rash",
  "conjunctival_congestion",
  "other",
]
export const TASK_STATUSES: readonly TaskStatus[] = [
  "new",
  "assigned",
  "accepted",
  "picked_up",
  "delivered",
  "failed",
  "confirmed",
  "cancelled",
]

export function priorityRank(p: Priority | null | undefined): number {
  return p === "urgent" ? 0 : p === "high" ? 1 : 2
}

/** Open: still somebody's work (not delivered, failed, confirmed or cancelled). */
export function isOpenTask(s: TaskStatus | string): boolean {
  return s === "new" || s === "assigned" || s === "accepted" || s === "picked_up"
}

/** The steps the assigned volunteer may take from `from` (the server's `volunteer_move`). */
export function volunteerNext(from: TaskStatus): TaskStatus[] {
  switch (from) {
    case "assigned":
      return ["accepted"]
    case "accepted":
      return ["picked_up"]
    case "picked_up":
      return ["delivered", "failed"]
    default:
      return []
  }
}

/** One step of the graph for coordinators (the server's `coordinator_move`). */
export function coordinatorMove(from: TaskStatus, to: TaskStatus): boolean {
  const forward =
    (from === "new" && to === "assigned") ||
    (from === "assigned" && to === "accepted") ||
    (from === "accepted" && to === "picked_up") ||
    (from === "picked_up" && (to === "delivered" || to === "failed")) ||
    ((from === "delivered" || from === "failed") && to === "confirmed") ||
    (from === "assigned" && to === "new") ||
    // A failed delivery sent again; the log keeps the failure.
    (from === "failed" && to === "assigned")
  return forward || (to === "cancelled" && isOpenTask(from))
}

export function logEntry(by: string, from: TaskStatus, to: TaskStatus, note: string, at: number): LogEntry {
  return { at, by, from, to, note }
}

// ---- time: local dates of the community ---------------------------------------------

const DAY_MS = 86_400_000

/** `YYYY-MM-DD` of `ms` in the community's time zone. */
export function communityDate(ms: number, offsetMin = COMMUNITY_UTC_OFFSET_MINUTES): string {
  return new Date(ms + offsetMin * 60_000).toISOString().slice(0, 10)
}

/** ms of `date` (`YYYY-MM-DD`) at `hh:mm` community time. */
export function communityTime(date: string, hhmm: string, offsetMin = COMMUNITY_UTC_OFFSET_MINUTES): number {
  const [h, m] = hhmm.split(":").map(Number)
  return Date.parse(`${date}T00:00:00Z`) + (h * 60 + m) * 60_000 - offsetMin * 60_000
}

export function addDays(date: string, n: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + n * DAY_MS).toISOString().slice(0, 10)
}

export function checkinKey(date: string, slot: number): string {
  return `${date}/${slot}`
}

export function parseCheckinKey(key: string): { date: string; slot: number } | null {
  const m = /^(\d{4}-\d{2}-\d{2})\/(0|[1-9]\d?)$/.exec(key)
  return m ? { date: m[1], slot: Number(m[2]) } : null
}

/** Deadline of a slot on `date` (SLOT_DEADLINES[slots - 1][slot], community time). */
export function slotDeadline(date: string, slots: number, slot: number): number {
  const row = SLOT_DEADLINES[Math.min(Math.max(slots, 1), SLOT_DEADLINES.length) - 1]
  return communityTime(date, row[Math.min(slot, row.length - 1)] ?? "20:00")
}

export interface SlotInfo {
  key: string
  date: string
  slot: number
  deadline: number
  done: boolean
}

/** The check-in slots of `date` for an episode with `slots` a day, and which are done. */
export function daySlots(date: string, slots: number, done: (key: string) => boolean): SlotInfo[] {
  const out: SlotInfo[] = []
  for (let slot = 0; slot < slots; slot++) {
    const key = checkinKey(date, slot)
    out.push({ key, date, slot, deadline: slotDeadline(date, slots, slot), done: done(key) })
  }
  return out
}

/** Whether the episode runs on `date` (and is open). */
export function episodeRunsOn(e: Pick<Episode, "start" | "end" | "status">, date: string): boolean {
  return e.status !== "closed" && e.start <= date && date <= e.end
}

/**
 * The slots still to do today and any missed on the previous day (a late check-in is
 * accepted by the server), earliest first.
 */
export function openSlots(e: Pick<Episode, "start" | "end" | "status" | "slots">, keys: readonly string[], now: number): SlotInfo[] {
  const today = communityDate(now)
  const have = new Set(keys)
  const out: SlotInfo[] = []
  for (const date of [addDays(today, -1), today]) {
    if (!episodeRunsOn(e, date)) continue
    for (const s of daySlots(date, e.slots, k => have.has(k))) {
      if (s.done) continue
      // Yesterday's slots only when missed; today's all.
      if (date < today && s.deadline > now) continue
      out.push(s)
    }
  }
  return out
}

/**
 * Whose phone holds an episode's readings — temperatures, symptoms, check-in notes — and
 * takes check-ins (DESIGN §9): the assigned volunteer's and the grid's medics' (a medic's
 * by phone, where coordinators took them before readings had a document of their own).
 * Coordinators and admins read the episode (person, dates, status, alerts) and never its
 * readings: the server does not give them, so the phone does not ask.
 */
export function readsReadings(role: string): boolean {
  return role === "volunteer" || role === "medic"
}

/**
 * Whether a role is shown a household's care details and why a person is observed
 * (DESIGN §9: ages, care flags, regular medicines; returnee, close contact…): everyone who
 * reads them but the volunteer, whose work needs the name and the door, and what the task
 * itself lists. The household and episode documents still carry them to the volunteer's
 * phone (a split of their own is left to do); the screens do not show them.
 */
export function seesCareDetails(role: string): boolean {
  return role !== "volunteer"
}

/** The check-ins the phone knows of an episode: its readings', and any an older copy of
 * the episode still holds until it syncs (`legacyCheckins`). */
export function checkinsOf(ep: Episode, readings: Pick<Readings, "checkins"> | undefined): Record<string, Checkin> {
  return { ...legacyCheckins(ep), ...readings?.checkins }
}

/**
 * What the check-in screen offers `user` for episode `ep`:
 * - `not-yours`: a coordinator or an admin (check-ins are the volunteer's and the medics',
 *   and so are the readings), or a volunteer the episode is not assigned to;
 * - `closed`: the observation is over;
 * - `preparing`: the readings are not on the phone yet (the server makes them a moment
 *   after the episode, and they come with the next sync);
 * - `done`: no slot open now;
 * - `open`: the form, for `slots`.
 * Slots are those of the readings' copy of the episode's days, which the server checks a
 * check-in against.
 */
export type CheckinOffer = { state: "not-yours" | "closed" | "preparing" | "done" } | { state: "open"; slots: SlotInfo[] }

export function checkinOffer(user: { id: string; role: string }, ep: Episode, readings: Readings | undefined, now: number): CheckinOffer {
  if (!readsReadings(user.role) || (user.role === "volunteer" && ep.assignee !== user.id)) return { state: "not-yours" }
  if (ep.status === "closed" || readings?.status === "closed") return { state: "closed" }
  if (!readings) return { state: "preparing" }
  const slots = openSlots(readings, Object.keys(checkinsOf(ep, readings)), now)
  return slots.length ? { state: "open", slots } : { state: "done" }
}

export function isFever(tempC: number): boolean {
  return tempC >= FEVER_THRESHOLD_C
}

/** Parses a temperature as typed ("37.5", "37,5"); `null` if not a body temperature. */
export function parseTemp(input: string): number | null {
  const t = Number(input.trim().replace(",", "."))
  if (!Number.isFinite(t) || input.trim() === "") return null
  if (t < MIN_TEMP_C || t > MAX_TEMP_C) return null
  return Math.round(t * 10) / 10
}

/**
 * The symptoms chosen on the check-in form. `picked` is what the user ticked besides
 * 发热 (fever); `fever` is their own choice of 发热, or `null` while it follows the
 * temperature (ticked from FEVER_THRESHOLD_C). 无症状 is shown selected exactly when
 * `chosenSymptoms` is empty, so choosing fever or any symptom deselects it.
 */
export interface SymptomChoice {
  picked: Symptom[]
  fever: boolean | null
}

export const NO_SYMPTOMS: SymptomChoice = { picked: [], fever: null }

function feverTemp(tempC: number | null): boolean {
  return tempC != null && isFever(tempC)
}

/** The symptoms to record, in the plan's order: 发热 ticked by the temperature unless the user chose. */
export function chosenSymptoms(c: SymptomChoice, tempC: number | null): Symptom[] {
  const fever = c.fever ?? feverTemp(tempC)
  return SYMPTOMS.filter(s => (s === "fever" ? fever : c.picked.includes(s)))
}

/** The user taps a symptom (发热 included): it flips from what is shown. */
export function toggleSymptom(c: SymptomChoice, sym: Symptom, tempC: number | null): SymptomChoice {
  if (sym === "fever") return { ...c, fever: !chosenSymptoms(c, tempC).includes("fever") }
  return { ...c, picked: c.picked.includes(sym) ? c.picked.filter(x => x !== sym) : [...c.picked, sym] }
}

/** The user taps 无症状: every symptom is cleared, 发热 too (even at a fever temperature). */
export function clearSymptoms(): SymptomChoice {
  return { picked: [], fever: false }
}

/**
 * The temperature changed: when it crosses the fever threshold (either way), 发热 follows
 * it again (a choice made for the old reading does not stand for the new one).
 */
export function retemp(c: SymptomChoice, before: number | null, after: number | null): SymptomChoice {
  return feverTemp(before) === feverTemp(after) ? c : { ...c, fever: null }
}

export function newCheckin(input: { temp_c: number; symptoms: Symptom[]; method: Method; note: string }, by: string, at: number): Checkin {
  const symptoms = SYMPTOMS.filter(s => input.symptoms.includes(s))
  return { temp_c: input.temp_c, symptoms, method: input.method, note: input.note.trim(), by, at }
}

// ---- the day's work ------------------------------------------------------------------

/** What the phone remembers of a loaded document, to draw lists before Automerge is up. */
export interface DocSummary {
  kind: Kind
  status: string
  /** Tasks: priority and due. */
  priority?: Priority | null
  due?: number | null
  assignee?: string | null
  household?: string | null
  /** Tasks: the items ("大米 5kg"), and whether the delivery is contactless. */
  items?: string[]
  contactless?: boolean
  /** Readings: the check-in keys taken (never the readings themselves). Episodes: the
   * keys an episode written before its readings had their own document still holds
   * (`legacyCheckins`). */
  checkins?: string[]
  /** Episodes and readings: slots a day, first and last day. */
  slots?: number
  start?: string
  end?: string
  /** Episodes: their readings document, once the server has linked it. */
  readings?: string | null
  /** Readings and medical records: their episode. */
  episode?: string
}

/**
 * The check-ins an episode document itself still holds. Episodes of schema 1 and 2 kept
 * them; from schema 3 they are in the episode's `readings`, and the server moves those of
 * an older copy there when it syncs. Until then a phone may hold such a copy (written
 * offline by the previous release), so episodes are read leniently: what it has counts as
 * taken, and nothing else of the app writes there.
 */
export function legacyCheckins(ep: Episode): Record<string, Checkin> {
  const old = (ep as Episode & { checkins?: Record<string, Checkin> }).checkins
  return old && typeof old === "object" ? old : {}
}

export function summarize(doc: AnyDoc): DocSummary {
  switch (doc.kind) {
    case "task":
      return {
        kind: "task",
        status: doc.status,
        priority: doc.priority,
        due: doc.due,
        assignee: doc.assignee,
        household: doc.household,
        items: doc.items.map(i => `${i.name} ${i.qty}${i.unit}`),
        contactless: doc.contactless,
      }
    case "episode": {
      const legacy = Object.keys(legacyCheckins(doc))
      return {
        kind: "episode",
        status: doc.status,
        assignee: doc.assignee,
        household: doc.household,
        slots: doc.slots,
        start: doc.start,
        end: doc.end,
        readings: doc.readings ?? null,
        ...(legacy.length ? { checkins: legacy } : {}),
      }
    }
    case "readings":
      return {
        kind: "readings",
        status: doc.status,
        assignee: doc.assignee,
        household: doc.household,
        episode: doc.episode,
        checkins: Object.keys(doc.checkins ?? {}),
        slots: doc.slots,
        start: doc.start,
        end: doc.end,
      }
    case "medical":
      return { kind: "medical", status: "", household: doc.household, episode: doc.episode }
    default:
      return { kind: "household", status: "" }
  }
}

/**
 * The readings document of each episode the phone knows of, by episode id: the episode's
 * own link, else a readings document naming the episode (the inbox may list the readings
 * before the server's link reaches the episode on this phone).
 */
export function readingsIds(local: Record<string, Pick<DocSummary, "kind" | "readings" | "episode">>): Map<string, string> {
  const out = new Map<string, string>()
  for (const [id, s] of Object.entries(local)) if (s.kind === "readings" && s.episode) out.set(s.episode, id)
  for (const [id, s] of Object.entries(local)) if (s.kind === "episode" && s.readings) out.set(id, s.readings)
  return out
}

/**
 * The check-in keys taken of an episode, as far as this phone knows: those in its readings
 * document, and those an older copy of the episode still holds (`legacyCheckins`).
 * Nothing when the phone holds neither — a coordinator's or an admin's phone never holds
 * readings (DESIGN §9), and a volunteer's gets them with the next sync.
 */
export function takenKeys(episode: string, local: Record<string, DocSummary>, links = readingsIds(local)): string[] {
  const readings = links.get(episode)
  return [...new Set([...(local[episode]?.checkins ?? []), ...((readings && local[readings]?.checkins) || [])])]
}

export interface WorkItem {
  id: string
  kind: "task" | "episode"
  title: string
  status: string
  priority: Priority | null
  /** Tasks: due; check-ins: the deadline of the next open slot. */
  due: number | null
  alerts: number
  household: string | null
  /** Tasks: items, contactless flag (when the document has been loaded). */
  items?: string[]
  contactless?: boolean
  /** Whether this needs doing now (an open task, or a check-in slot still open). */
  todo: boolean
  /** Episodes: the open slots (today, and missed yesterday). */
  slots?: SlotInfo[]
}

/**
 * The volunteer's day: every listed task and episode (not the readings rows listed beside
 * episodes), with what the phone knows locally (its own, possibly unsynced, changes) over
 * the server's summary row. An episode's open slots count the check-ins in its readings
 * (`takenKeys`); while those have not reached the phone, every slot is still to do.
 * Work to do comes first, by priority and then due time; check-ins count as `high`.
 */
export function workItems(
  rows: Record<string, SummaryRow>,
  local: Record<string, DocSummary>,
  now: number,
  me?: string,
): WorkItem[] {
  const items: WorkItem[] = []
  const links = readingsIds(local)
  for (const [id, row] of Object.entries(rows)) {
    if (!isWorkRow(row)) continue
    const l = local[id]
    const assignee = l ? (l.assignee ?? null) : row.assignee
    if (me && assignee !== me) continue
    const status = l?.status ?? row.status
    if (row.kind === "task") {
      items.push({
        id,
        kind: "task",
        title: row.title,
        status,
        priority: l?.priority ?? row.priority,
        due: l?.due ?? row.due,
        alerts: row.alerts,
        household: l?.household ?? row.household,
        items: l?.items,
        contactless: l?.contactless,
        todo: isOpenTask(status) && status !== "new",
      })
    } else {
      const slots =
        l && l.slots && l.start && l.end
          ? openSlots({ start: l.start, end: l.end, status: status as Episode["status"], slots: l.slots }, takenKeys(id, local, links), now)
          : []
      items.push({
        id,
        kind: "episode",
        title: row.title,
        status,
        priority: "high",
        due: slots[0]?.deadline ?? null,
        alerts: row.alerts,
        household: l?.household ?? row.household,
        todo: status !== "closed" && slots.length > 0,
        slots,
      })
    }
  }
  return items.sort(compareWork)
}

export function compareWork(a: WorkItem, b: WorkItem): number {
  if (a.todo !== b.todo) return a.todo ? -1 : 1
  const p = priorityRank(a.priority) - priorityRank(b.priority)
  if (p !== 0) return p
  const ad = a.due ?? Number.MAX_SAFE_INTEGER
  const bd = b.due ?? Number.MAX_SAFE_INTEGER
  if (ad !== bd) return ad - bd
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0
}

// ---- new documents -------------------------------------------------------------------

export function addressLabel(h: Pick<Household, "building" | "unit" | "room">): string {
  return [h.building, h.unit, h.room]
    .map(s => (s ?? "").trim())
    .filter(Boolean)
    .join("-")
}

/**
 * A row with the address in its title. Only the grid index's rows carry one: an inbox or
 * a medic index keeps every row it ever had in its history, after its reader's access to
 * the household ended (DESIGN §9), so the phone takes the address from the household
 * document while it holds it.
 */
export function withAddress<R extends { title: string }>(row: R, household?: Pick<Household, "kind" | "building" | "unit" | "room">): R {
  if (!household || household.kind !== "household" || row.title.includes(" ")) return row
  const label = addressLabel(household)
  return label ? { ...row, title: row.title ? `${label} ${row.title}` : label } : row
}

/** Removes the `automerge:` prefix: documents refer to each other by bare DocumentId. */
export function bareId(idOrUrl: string): string {
  return idOrUrl.startsWith("automerge:") ? idOrUrl.slice("automerge:".length) : idOrUrl
}

export interface NewHousehold {
  grid: string
  building: string
  unit: string
  room: string
  phone: string
  notes: string
  members: Member[]
}

export function newHousehold(h: NewHousehold): Household {
  return {
    kind: "household",
    schema: SCHEMA_VERSIONS.household,
    grid: h.grid,
    building: h.building.trim(),
    unit: h.unit.trim(),
    room: h.room.trim(),
    phone: h.phone.trim(),
    notes: h.notes.trim(),
    members: h.members.map(m => ({
      name: m.name.trim(),
      age: Math.max(0, Math.round(m.age)),
      flags: [...new Set(m.flags)],
      medicines: m.medicines.map(s => s.trim()).filter(Boolean),
    })),
  }
}

export interface NewTask {
  grid: string
  household: string
  category: Category
  items: Item[]
  priority: Priority
  due: number
  contactless: boolean
  assignee: string | null
}

/** A new delivery: `assigned` (with its log entry) when someone is on it, else `new`. */
export function newTask(t: NewTask, me: string, now: number): Task {
  const assignee = t.assignee || null
  return {
    kind: "task",
    schema: SCHEMA_VERSIONS.task,
    grid: t.grid,
    household: bareId(t.household),
    category: t.category,
    items: t.items
      .filter(i => i.name.trim() !== "" && i.qty > 0)
      .map(i => ({ name: i.name.trim(), qty: i.qty, unit: i.unit.trim() })),
    priority: t.priority,
    due: Math.round(t.due),
    contactless: t.contactless,
    assignee,
    status: assignee ? "assigned" : "new",
    failure_reason: null,
    log: assignee ? [logEntry(me, "new", "assigned", "", now)] : [],
    created_by: me,
    created_at: now,
  }
}

export interface NewEpisode {
  grid: string
  household: string
  person: { name: string; age: number }
  reason: Reason
  start: string
  end?: string
  slots: number
  assignee: string | null
}

/** A new observation episode: 14 days after `start` unless `end` is given. */
export function newEpisode(e: NewEpisode): Episode {
  return {
    kind: "episode",
    schema: SCHEMA_VERSIONS.episode,
    grid: e.grid,
    household: bareId(e.household),
    person: { name: e.person.name.trim(), age: Math.max(0, Math.round(e.person.age)) },
    reason: e.reason,
    start: e.start,
    end: e.end || addDays(e.start, 14),
    slots: Math.min(4, Math.max(1, Math.round(e.slots))),
    assignee: e.assignee || null,
    status: "active",
    closed_at: null,
    // The server makes the readings (check-ins) and the medical record (medics' notes),
    // which coordinators may not read (DESIGN §9), and links them once it has.
    readings: null,
    medical: null,
    erased: false,
  }
}

/**
 * What a risk level asks of a grid's work (the server's `RiskLevel::policy`): low, one
 * check-in a day; medium and high, two and contactless delivery.
 */
export function riskPolicy(level: "low" | "medium" | "high"): { checkins_per_day: number; contactless: boolean } {
  return level === "low" ? { checkins_per_day: 1, contactless: false } : { checkins_per_day: 2, contactless: true }
}
