/**
 * The coordinator's forms and the stairwell's daily list (issue 14): pure rules, no I/O.
 */
import type { Category, Episode, Household, Priority, Readings, Task } from "../generated"
import { communityDate, daySlots, episodeRunsOn, isOpenTask, legacyCheckins, priorityRank, type AnyDoc } from "./domain"

type Address = Pick<Household, "building" | "unit" | "room">

/** Full-width digits and letters become ASCII, spaces and the usual suffixes go: "３号楼" is "3". */
function part(s: string, suffix: RegExp): string {
  return (s ?? "")
    .replace(/[\uff01-\uff5e]/g, c => String.fromCharCode(c.charCodeAt(0) - 0xfee0))
    .replace(/\s+/g, "")
    .toLowerCase()
    .replace(suffix, "")
}

/** A building as compared: "3号楼", "３栋" and "3" are one building. */
export function buildingKey(b: string): string {
  return part(b, /(号楼|号|栋|幢|楼)$/)
}

/** An address as compared: "3号楼 2单元 501室" and "3-2-501" are the same door. */
export function addressKey(h: Address): string {
  return [buildingKey(h.building), part(h.unit, /(单元|号)$/), part(h.room, /(室|号|房)$/)].join("|")
}

/** The households of `grid` at the same address as `draft`, but `except` (the one being edited). */
export function sameAddress(
  docs: Record<string, AnyDoc>,
  draft: Address & { grid: string },
  except?: string,
): [string, Household][] {
  if (!draft.building.trim() || !draft.room.trim()) return []
  const key = addressKey(draft)
  return Object.entries(docs).filter(
    (e): e is [string, Household] => e[0] !== except && e[1].kind === "household" && e[1].grid === draft.grid && addressKey(e[1]) === key,
  )
}

/** One thing to carry or do at a door. Nothing of health: no temperatures, symptoms,
 * reasons, notes; medicines only counted. */
export type PrintLine =
  | {
      kind: "delivery"
      id: string
      category: Category
      priority: Priority
      contactless: boolean
      due: number
      /** "大米 5kg"; a medicine is `{ medicine: n }`, shown as "药品 ×n". */
      items: ({ text: string } | { medicine: number })[]
    }
  /** One check-in visit still to do today: the `n`th of the day, due by `deadline`. */
  | { kind: "visit"; id: string; n: number; deadline: number }

export interface PrintDoor {
  household: string
  unit: string
  room: string
  lines: PrintLine[]
}

export interface PrintBuilding {
  building: string
  doors: PrintDoor[]
  /** Households of the building with nothing to do today. */
  quiet: number
}

/**
 * Today's open work of each door of the building(s), for a sheet in the stairwell: the
 * deliveries open and due by the end of today (overdue ones too), and the check-in
 * visits of today. Which visits are done is in the episode's readings, which only the
 * assigned volunteer's and the medics' phones hold (DESIGN §9): where `docs` has them,
 * the visits done are left out; elsewhere (a coordinator's phone) every visit of the day
 * is listed, each with its box to tick. `buildings` empty: every building of the grid.
 */
export function printList(docs: Record<string, AnyDoc>, grid: string, buildings: string[], now: number): PrintBuilding[] {
  const today = communityDate(now)
  const households = Object.entries(docs).filter((e): e is [string, Household] => e[1].kind === "household" && e[1].grid === grid)
  const wanted = new Set(buildings.map(buildingKey))
  const doors = new Map<string, PrintLine[]>()
  const add = (household: string, line: PrintLine) => doors.set(household, [...(doors.get(household) ?? []), line])
  const readings = new Map<string, Readings>()
  for (const doc of Object.values(docs)) if (doc.kind === "readings") readings.set(doc.episode, doc)
  for (const [id, doc] of Object.entries(docs)) {
    if (doc.kind === "task") {
      const task = doc as Task
      if (!isOpenTask(task.status) || communityDate(task.due) > today) continue
      const h = docs[task.household] as Household | undefined
      const medicines = new Set(
        (h?.kind === "household" ? h.members.flatMap(m => m.medicines) : []).map(m => m.trim().toLowerCase()),
      )
      const items = task.items.map(i =>
        task.category === "medicine" || medicines.has(i.name.trim().toLowerCase()) ? { medicine: i.qty } : { text: `${i.name} ${i.qty}${i.unit}` },
      )
      add(task.household, { kind: "delivery", id, category: task.category, priority: task.priority, contactless: task.contactless, due: task.due, items })
    } else if (doc.kind === "episode") {
      const ep = doc as Episode
      if (ep.erased || !episodeRunsOn(ep, today)) continue
      const taken = { ...legacyCheckins(ep), ...readings.get(id)?.checkins }
      for (const slot of daySlots(today, ep.slots, k => k in taken)) {
        if (!slot.done) add(ep.household, { kind: "visit", id, n: slot.slot + 1, deadline: slot.deadline })
      }
    }
  }
  const byBuilding = new Map<string, PrintBuilding>()
  for (const [id, h] of households) {
    const b = h.building.trim()
    if (wanted.size && !wanted.has(buildingKey(b))) continue
    const entry = byBuilding.get(b) ?? { building: b, doors: [], quiet: 0 }
    byBuilding.set(b, entry)
    const lines = doors.get(id)
    if (!lines) {
      entry.quiet++
      continue
    }
    lines.sort((x, y) => lineRank(x) - lineRank(y))
    entry.doors.push({ household: id, unit: h.unit.trim(), room: h.room.trim(), lines })
  }
  const numeric = (a: string, b: string) => a.localeCompare(b, "zh-CN", { numeric: true })
  const out = [...byBuilding.values()].sort((a, b) => numeric(a.building, b.building))
  for (const b of out) b.doors.sort((x, y) => numeric(x.unit, y.unit) || numeric(x.room, y.room))
  return out
}

function lineRank(l: PrintLine): number {
  return l.kind === "delivery" ? priorityRank(l.priority) * 1e13 + l.due : 9e13 + l.deadline
}
