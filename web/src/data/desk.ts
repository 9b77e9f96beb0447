/**
 * The coordinator's desk, pure: finding households by the ways people write an address
 * ("3号楼", "3栋", "3-1", "3-2-501"), a name or a phone number; sorting and filtering
 * households and work; grouping households by building and unit. No I/O: screens pass
 * in what the store holds, so every rule here is tested without a browser.
 */
import type { CareFlag, Category, Household, Priority, Readings, SummaryRow } from "../generated"
import type { Alert } from "./api"
import { CATEGORIES, isOpenTask, isWorkRow, openSlots, priorityRank, withAddress } from "./domain"

// ---- search --------------------------------------------------------------------------

/** Full-width digits, letters and dashes as their ASCII forms; lower case; no outer space. */
export function normalize(q: string): string {
  return q
    .replace(/[\uFF01-\uFF5E]/g, c => String.fromCharCode(c.charCodeAt(0) - 0xfee0))
    .replace(/[\u2010-\u2015\u2212]/g, "-")
    .trim()
    .toLowerCase()
}

/** An address as typed: building, then unit and room when given. */
export interface AddressQuery {
  building: string
  unit?: string
  room?: string
  /** "3-2": unit 2, or room 2 of a building without units. */
  unitOrRoom?: string
}

const BUILDING = "(?:号楼|号|栋|幢|楼|座)"
const CHINESE = new RegExp(`^([0-9a-z]+)\\s*${BUILDING}\\s*(?:([0-9a-z]+)\\s*(?:单元|门))?\\s*(?:([0-9a-z]+)\\s*(?:室|号|房)?)?$`)
const DASHED = /^([0-9a-z]+)\s*[-/]\s*([0-9a-z]+)(?:\s*[-/]\s*([0-9a-z]+))?$/

/**
 * Reads an address query: "3号楼" / "3栋" / "3幢" (building 3), "3号楼2单元", "3栋2单元501",
 * "3-2" (building 3, unit 2 — or room 2 where there are no units), "3-2-501". Anything
 * else (a name, a phone number, a single number) is `null`.
 */
export function parseAddress(query: string): AddressQuery | null {
  const q = normalize(query)
  const zh = CHINESE.exec(q)
  if (zh) return { building: zh[1], unit: zh[2], room: zh[3] }
  const dashed = DASHED.exec(q)
  if (dashed) return dashed[3] ? { building: dashed[1], unit: dashed[2], room: dashed[3] } : { building: dashed[1], unitOrRoom: dashed[2] }
  return null
}

/** Numbers as written ("03" is "3"), other text as is. */
function same(a: string, b: string): boolean {
  const x = normalize(a)
  const y = normalize(b)
  return x === y || (/^\d+$/.test(x) && /^\d+$/.test(y) && Number(x) === Number(y))
}

function matchesAddress(h: Pick<Household, "building" | "unit" | "room">, a: AddressQuery): boolean {
  if (!same(h.building, a.building)) return false
  if (a.unit != null && !same(h.unit, a.unit)) return false
  if (a.room != null && !same(h.room, a.room)) return false
  if (a.unitOrRoom == null) return true
  return h.unit.trim() ? same(h.unit, a.unitOrRoom) : same(h.room, a.unitOrRoom)
}

/**
 * Whether household `h` is what the user searched for: an address (see `parseAddress`),
 * a single number (that building or that room), part of a member's name, or part of the
 * phone number (at least three digits, spaces and dashes ignored).
 */
export function householdMatches(h: Pick<Household, "building" | "unit" | "room" | "phone" | "members">, query: string): boolean {
  const q = normalize(query)
  if (!q) return true
  const address = parseAddress(q)
  if (address && matchesAddress(h, address)) return true
  if (/^[0-9a-z]+$/.test(q) && (same(h.building, q) || same(h.room, q))) return true
  // A phone number may be written with dashes, like an address ("138-0013-1009").
  const digits = q.replace(/[\s-]/g, "")
  if (/^\d{3,}$/.test(digits) && h.phone.replace(/\D/g, "").includes(digits)) return true
  if (address) return false
  return h.members.some(m => normalize(m.name).includes(q))
}

// ---- households ----------------------------------------------------------------------

/** What the desk shows of a household: its care flags and its open work. */
export interface HouseholdFacts {
  id: string
  household: Household
  flags: CareFlag[]
  openTasks: number
  openEpisodes: number
}

export function isOpenRow(r: Pick<SummaryRow, "kind" | "status">): boolean {
  return r.kind === "task" ? isOpenTask(r.status) : r.status !== "closed"
}

/** Each household with its flags and its open work from the list rows (an episode's
 * readings and medical rows are part of the episode, not work of their own). */
export function householdFacts(households: [string, Household][], rows: Record<string, SummaryRow>): HouseholdFacts[] {
  const open = new Map<string, { tasks: number; episodes: number }>()
  for (const r of Object.values(rows)) {
    if (!r.household || !isWorkRow(r) || !isOpenRow(r)) continue
    const n = open.get(r.household) ?? { tasks: 0, episodes: 0 }
    if (r.kind === "task") n.tasks++
    else n.episodes++
    open.set(r.household, n)
  }
  return households.map(([id, household]) => ({
    id,
    household,
    flags: [...new Set(household.members.flatMap(m => m.flags))],
    openTasks: open.get(id)?.tasks ?? 0,
    openEpisodes: open.get(id)?.episodes ?? 0,
  }))
}

const collator = new Intl.Collator("zh-CN", { numeric: true })

/** Building, then unit, then room, numbers in numeric order ("2" before "10"). */
export function compareAddress(a: Pick<Household, "building" | "unit" | "room">, b: Pick<Household, "building" | "unit" | "room">): number {
  return collator.compare(a.building.trim(), b.building.trim()) || collator.compare(a.unit.trim(), b.unit.trim()) || collator.compare(a.room.trim(), b.room.trim())
}

export type HouseholdSort = "care" | "address" | "work"
export const HOUSEHOLD_SORTS: readonly HouseholdSort[] = ["care", "address", "work"]

export interface HouseholdFilter {
  query?: string
  building?: string
  flag?: CareFlag | "any" | ""
  openWork?: boolean
}

export function filterHouseholds(list: HouseholdFacts[], f: HouseholdFilter): HouseholdFacts[] {
  return list.filter(
    x =>
      (!f.building || same(x.household.building, f.building)) &&
      (!f.flag || (f.flag === "any" ? x.flags.length > 0 : x.flags.includes(f.flag))) &&
      (!f.openWork || x.openTasks + x.openEpisodes > 0) &&
      householdMatches(x.household, f.query ?? ""),
  )
}

/** `care` (the default): care-flagged first, most flags first, then by address. */
export function sortHouseholds(list: HouseholdFacts[], sort: HouseholdSort = "care"): HouseholdFacts[] {
  const byAddress = (a: HouseholdFacts, b: HouseholdFacts) => compareAddress(a.household, b.household)
  const by: Record<HouseholdSort, (a: HouseholdFacts, b: HouseholdFacts) => number> = {
    care: (a, b) => b.flags.length - a.flags.length || byAddress(a, b),
    address: byAddress,
    work: (a, b) => b.openTasks + b.openEpisodes - (a.openTasks + a.openEpisodes) || byAddress(a, b),
  }
  return [...list].sort(by[sort])
}

/** The buildings of these households, in address order. */
export function buildingsOf(list: Pick<HouseholdFacts, "household">[]): string[] {
  return [...new Set(list.map(x => x.household.building.trim()).filter(Boolean))].sort(collator.compare)
}

export interface BuildingGroup<T> {
  building: string
  units: { unit: string; households: T[] }[]
}

/** Households by building, then unit (in address order). */
export function groupByBuilding<T extends Pick<HouseholdFacts, "household">>(list: T[]): BuildingGroup<T>[] {
  const sorted = [...list].sort((a, b) => compareAddress(a.household, b.household))
  const out: BuildingGroup<T>[] = []
  for (const x of sorted) {
    const building = x.household.building.trim()
    const unit = x.household.unit.trim()
    let g = out[out.length - 1]
    if (!g || g.building !== building) out.push((g = { building, units: [] }))
    let u = g.units[g.units.length - 1]
    if (!u || u.unit !== unit) g.units.push((u = { unit, households: [] }))
    u.households.push(x)
  }
  return out
}

/** The households of one building (and, if given, one unit): the targets of a bulk delivery. */
export function householdsIn<T extends Pick<HouseholdFacts, "household">>(list: T[], building: string, unit = ""): T[] {
  return list
    .filter(x => same(x.household.building, building) && (!unit || same(x.household.unit, unit)))
    .sort((a, b) => compareAddress(a.household, b.household))
}

// ---- work ----------------------------------------------------------------------------

/** What the work list sorts and filters a row by. */
export interface WorkFacts {
  id: string
  row: SummaryRow
  category: Category | null
  /** The household has a member with a care flag. */
  care: boolean
  open: boolean
  overdue: boolean
}

/** The category of a delivery row: the loaded document's, else the row title's last word. */
export function rowCategory(row: Pick<SummaryRow, "kind" | "title">, doc?: { category?: Category }): Category | null {
  if (row.kind !== "task") return null
  if (doc?.category) return doc.category
  const word = row.title.slice(row.title.lastIndexOf(" ") + 1)
  return (CATEGORIES as readonly string[]).includes(word) ? (word as Category) : null
}

/** What the desk reads an observation's missed check-ins from. */
export type MissedFrom = Pick<Readings, "start" | "end" | "status" | "slots" | "checkins">

/**
 * The observations with a check-in slot passed and nobody's check-in for it, as the server
 * says through its `missed_checkin` alerts (what the dashboard counts as 漏打卡): the
 * alerts not resolved yet — the server resolves one itself once the check-in is made up.
 * This is all a coordinator's or an admin's phone can know of it, since the readings are
 * not theirs to hold (DESIGN §9). `episodeOf` names the episode an alert's document
 * belongs to, should the server raise one on an episode's readings rather than on the
 * episode itself.
 */
export function missedByAlerts(alerts: readonly Pick<Alert, "doc" | "kind" | "status">[], episodeOf: (doc: string) => string = d => d): Set<string> {
  return new Set(alerts.filter(a => a.kind === "missed_checkin" && a.status !== "resolved").map(a => episodeOf(a.doc)))
}

/**
 * Whether an observation has a check-in slot past its deadline without a check-in: from
 * its readings on a phone that holds them (a medic's, up to its own latest check-ins,
 * offline too), else from what the server said (`missedByAlerts`).
 */
export function missedCheckin(now: number, readings: MissedFrom | undefined, alerted: boolean): boolean {
  if (!readings) return alerted
  return openSlots(readings, Object.keys(readings.checkins), now).some(s => s.deadline < now)
}

/**
 * What the work list sorts and filters a row by. `missed`: whether the observation has a
 * missed check-in (`missedCheckin`); the row alone cannot say.
 */
export function workFacts(
  id: string,
  row: SummaryRow,
  now: number,
  doc?: { category?: Category },
  household?: Pick<Household, "kind" | "members" | "building" | "unit" | "room">,
  missed = false,
): WorkFacts {
  const open = isOpenRow(row)
  return {
    id,
    row: withAddress(row, household),
    category: rowCategory(row, doc),
    care: !!household?.members.some(m => m.flags.length > 0),
    open,
    // An observation is overdue when a check-in slot's deadline passed without a check-in
    // (what the dashboard counts as 漏打卡); a delivery when its due time passed.
    overdue: open && (row.kind === "task" ? row.due != null && row.due < now : row.kind === "episode" && missed),
  }
}

export type WorkStatus = "open" | "closed" | "all" | string
export type WorkSort = "due" | "priority" | "status" | "care"
export const WORK_SORTS: readonly WorkSort[] = ["due", "priority", "status", "care"]

export interface WorkFilter {
  kind?: "" | "task" | "episode"
  /** `open` (the default), `closed`, `all`, or one status (`new`, `escalated`…). */
  status?: WorkStatus
  category?: "" | Category
  priority?: "" | Priority
  care?: boolean
  overdue?: boolean
}

export function filterWork(list: WorkFacts[], f: WorkFilter): WorkFacts[] {
  const status = f.status || "open"
  return list.filter(
    w =>
      (!f.kind || w.row.kind === f.kind) &&
      (status === "all" || (status === "open" ? w.open : status === "closed" ? !w.open : w.row.status === status)) &&
      (!f.category || w.category === f.category) &&
      (!f.priority || w.row.priority === f.priority) &&
      (!f.care || w.care) &&
      (!f.overdue || w.overdue),
  )
}

const STATUS_ORDER = ["escalated", "new", "assigned", "accepted", "picked_up", "active", "delivered", "failed", "confirmed", "cancelled", "closed"]

/** Open before closed, then the chosen key, then due time (none last), then priority. */
export function sortWork(list: WorkFacts[], sort: WorkSort = "due"): WorkFacts[] {
  const due = (w: WorkFacts) => w.row.due ?? Number.MAX_SAFE_INTEGER
  const prio = (w: WorkFacts) => priorityRank(w.row.priority)
  const status = (w: WorkFacts) => {
    const i = STATUS_ORDER.indexOf(w.row.status)
    return i < 0 ? STATUS_ORDER.length : i
  }
  const key: Record<WorkSort, (a: WorkFacts, b: WorkFacts) => number> = {
    due: () => 0,
    priority: (a, b) => prio(a) - prio(b),
    status: (a, b) => status(a) - status(b),
    care: (a, b) => Number(b.care) - Number(a.care),
  }
  return [...list].sort((a, b) => Number(b.open) - Number(a.open) || key[sort](a, b) || due(a) - due(b) || prio(a) - prio(b) || a.id.localeCompare(b.id))
}

/** A work filter from a route's query (`#/work?status=new&overdue=1`), as the dashboard links. */
export function workFilterOf(q: URLSearchParams): WorkFilter & { sort: WorkSort } {
  const sort = q.get("sort") as WorkSort
  const kind = q.get("kind")
  return {
    kind: kind === "task" || kind === "episode" ? kind : "",
    status: q.get("status") || "open",
    category: (q.get("category") as Category) || "",
    priority: (q.get("priority") as Priority) || "",
    care: q.get("care") === "1",
    overdue: q.get("overdue") === "1",
    sort: WORK_SORTS.includes(sort) ? sort : "due",
  }
}

/** The query of a work filter (only what differs from the defaults). */
export function workQuery(f: WorkFilter & { sort?: WorkSort }): string {
  const q = new URLSearchParams()
  if (f.kind) q.set("kind", f.kind)
  if (f.status && f.status !== "open") q.set("status", f.status)
  if (f.category) q.set("category", f.category)
  if (f.priority) q.set("priority", f.priority)
  if (f.care) q.set("care", "1")
  if (f.overdue) q.set("overdue", "1")
  if (f.sort && f.sort !== "due") q.set("sort", f.sort)
  return q.toString()
}
