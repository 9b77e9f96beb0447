import { describe, expect, it } from "vitest"
import type { Household, SummaryRow } from "../generated"
import type { Alert } from "./api"
import {
  filterHouseholds,
  filterWork,
  groupByBuilding,
  householdFacts,
  householdMatches,
  householdsIn,
  missedByAlerts,
  missedCheckin,
  parseAddress,
  sortHouseholds,
  sortWork,
  workFacts,
  workFilterOf,
  workQuery,
} from "./desk"
import { memoryKV } from "./kv"
import { en } from "../i18n/en"
import { zh } from "../i18n/zh"
import { BUILTIN_TEMPLATES, saveTemplate, savedTemplates } from "./templates"

function hh(building: string, unit: string, room: string, extra: Partial<Household> = {}): Household {
  return { kind: "household", schema: 1, grid: "g1", building, unit, room, phone: "13800131000", notes: "", members: [], ...extra }
}

const H = {
  a: hh("3", "1", "303", { members: [{ name: "王秀英", age: 80, flags: ["elderly_alone"], medicines: [] }] }),
  b: hh("3", "2", "501", { phone: "138 0013 1009" }),
  c: hh("13", "1", "101", { members: [{ name: "李明", age: 40, flags: [], medicines: [] }] }),
  d: hh("3", "", "2"),
  e: hh("10", "2", "301", { members: [{ name: "张伟", age: 9, flags: ["child_unattended", "disabled"], medicines: [] }] }),
}
const all = Object.entries(H) as [string, Household][]
const found = (q: string) => all.filter(([, h]) => householdMatches(h, q)).map(([id]) => id)

describe("household search", () => {
  it("reads the ways people write an address", () => {
    expect(parseAddress("3号楼")).toEqual({ building: "3", unit: undefined, room: undefined })
    expect(parseAddress("3栋2单元501")).toEqual({ building: "3", unit: "2", room: "501" })
    expect(parseAddress("３－２－５０１")).toEqual({ building: "3", unit: "2", room: "501" })
    expect(parseAddress("3-1")).toEqual({ building: "3", unitOrRoom: "1" })
    expect(parseAddress("王秀英")).toBeNull()
    expect(parseAddress("3")).toBeNull()
  })

  it("finds a building by 3号楼, 3栋, 3幢 — and not building 13", () => {
    for (const q of ["3号楼", "3栋", "3幢", " 3 号楼 ", "３号楼"]) expect(found(q), q).toEqual(["a", "b", "d"])
  })

  it("finds a unit and a room", () => {
    expect(found("3-1")).toEqual(["a"])
    expect(found("3-2")).toEqual(["b", "d"]) // unit 2, or room 2 where there are no units
    expect(found("3-2-501")).toEqual(["b"])
    expect(found("3号楼2单元")).toEqual(["b"])
    expect(found("3栋2单元501室")).toEqual(["b"])
    expect(found("3-2-502")).toEqual([])
  })

  it("finds a member's name and a phone number", () => {
    expect(found("秀英")).toEqual(["a"])
    expect(found("李明")).toEqual(["c"])
    expect(found("1009")).toEqual(["b"])
    expect(found("138-0013-1009")).toEqual(["b"])
    expect(found("")).toEqual(["a", "b", "c", "d", "e"])
  })

  it("a single number is that building or that room", () => {
    expect(found("13")).toEqual(["c"])
    expect(found("501")).toEqual(["b"])
  })
})

const row = (kind: "task" | "episode" | "readings" | "medical", household: string, status: string, extra: Partial<SummaryRow> = {}): SummaryRow => ({
  kind,
  status,
  assignee: null,
  priority: kind === "task" ? "normal" : null,
  due: null,
  alerts: 0,
  household,
  title: { task: "x food", episode: "x check-in", readings: "readings", medical: "medical" }[kind],
  ...extra,
})

describe("households on the desk", () => {
  const rows = {
    t1: row("task", "b", "assigned"),
    t2: row("task", "b", "confirmed"),
    t3: row("task", "c", "new"),
    e1: row("episode", "c", "active"),
    e2: row("episode", "d", "closed"),
    // A medic's index lists an episode's readings and medical record beside it: they are
    // the episode's, not work of their own.
    r1: row("readings", "c", "active"),
    m1: row("medical", "c", "active"),
  }
  const facts = householdFacts(all, rows)

  it("counts open work per household, an episode's readings and record with the episode", () => {
    const by = Object.fromEntries(facts.map(f => [f.id, [f.openTasks, f.openEpisodes]]))
    expect(by).toEqual({ a: [0, 0], b: [1, 0], c: [1, 1], d: [0, 0], e: [0, 0] })
  })

  it("puts care-flagged households first by default, then by address (numerically)", () => {
    expect(sortHouseholds(facts).map(f => f.id)).toEqual(["e", "a", "d", "b", "c"])
    expect(sortHouseholds(facts, "address").map(f => f.id)).toEqual(["d", "a", "b", "e", "c"])
    expect(sortHouseholds(facts, "work").map(f => f.id)).toEqual(["c", "b", "d", "a", "e"])
  })

  it("filters by building, care flag, open work and search", () => {
    const ids = (f: Parameters<typeof filterHouseholds>[1]) => filterHouseholds(facts, f).map(x => x.id)
    expect(ids({ building: "3" })).toEqual(["a", "b", "d"])
    expect(ids({ flag: "any" })).toEqual(["a", "e"])
    expect(ids({ flag: "disabled" })).toEqual(["e"])
    expect(ids({ openWork: true })).toEqual(["b", "c"])
    expect(ids({ building: "3", openWork: true, query: "3-2" })).toEqual(["b"])
  })

  it("groups by building then unit, and picks a building's households", () => {
    const groups = groupByBuilding(facts)
    expect(groups.map(g => [g.building, g.units.map(u => [u.unit, u.households.map(h => h.id)])])).toEqual([
      ["3", [["", ["d"]], ["1", ["a"]], ["2", ["b"]]]],
      ["10", [["2", ["e"]]]],
      ["13", [["1", ["c"]]]],
    ])
    expect(householdsIn(facts, "3").map(f => f.id)).toEqual(["d", "a", "b"])
    expect(householdsIn(facts, "3", "2").map(f => f.id)).toEqual(["b"])
  })
})

describe("the work list", () => {
  const now = 1_000_000
  const list = [
    workFacts("w1", row("task", "a", "accepted", { due: now - 1, priority: "normal" }), now, undefined, H.a),
    workFacts("w2", row("task", "b", "new", { due: now + 10, priority: "urgent", title: "3-2-501 medicine" }), now, undefined, H.b),
    workFacts("w3", row("task", "c", "confirmed", { due: now - 100 }), now, { category: "supplies" }, H.c),
    workFacts("w4", row("episode", "e", "escalated"), now, undefined, H.e),
    workFacts("w5", row("task", "e", "assigned", { due: now + 5, priority: "high" }), now, undefined, H.e),
  ]
  const ids = (l: typeof list) => l.map(w => w.id)

  it("knows category, care flag and overdue", () => {
    expect(list.map(w => [w.category, w.care, w.overdue])).toEqual([
      ["food", true, true],
      ["medicine", false, false],
      ["supplies", false, false],
      [null, true, false],
      ["food", true, false],
    ])
  })

  it("takes a medic's or volunteer's row address from the household on the phone (their lists carry none)", () => {
    const titled = (title: string, household?: Household) => workFacts("w6", row("episode", "a", "active", { title }), now, undefined, household).row.title
    expect(titled("check-in", H.a)).toBe("3-1-303 check-in") // a medic index row
    expect(titled("3-2-501 check-in", H.a)).toBe("3-2-501 check-in") // a grid index row: as written
    expect(titled("check-in")).toBe("check-in") // the household is not on the phone (yet)
  })

  it("filters by status, category, priority, care flag and overdue", () => {
    expect(ids(filterWork(list, {}))).toEqual(["w1", "w2", "w4", "w5"])
    expect(ids(filterWork(list, { status: "closed" }))).toEqual(["w3"])
    expect(ids(filterWork(list, { status: "new" }))).toEqual(["w2"])
    expect(ids(filterWork(list, { status: "all", category: "supplies" }))).toEqual(["w3"])
    expect(ids(filterWork(list, { priority: "urgent" }))).toEqual(["w2"])
    expect(ids(filterWork(list, { care: true, kind: "task" }))).toEqual(["w1", "w5"])
    expect(ids(filterWork(list, { overdue: true }))).toEqual(["w1"])
  })

  it("counts an observation overdue when a check-in slot passed without a check-in (漏打卡), from its readings", () => {
    // 2026-03-16 22:00 in the community (UTC+8): the day's one check-in was due by 20:00.
    const late = Date.parse("2026-03-16T22:00:00+08:00")
    const morning = Date.parse("2026-03-16T10:00:00+08:00")
    const checkin = { temp_c: 36.6, symptoms: [], method: "visit" as const, note: "", by: "u-v", at: late - 3_600_000 }
    const readings = (checkins: Record<string, typeof checkin>) => ({ start: "2026-03-10", end: "2026-03-20", status: "active" as const, slots: 1, checkins })
    const facts = (r: ReturnType<typeof readings>, at: number) => workFacts("e1", row("episode", "e", "active"), at, undefined, H.e, missedCheckin(at, r, false)).overdue
    expect(facts(readings({ "2026-03-15/0": checkin }), late)).toBe(true)
    expect(facts(readings({ "2026-03-15/0": checkin, "2026-03-16/0": checkin }), late)).toBe(false)
    expect(facts(readings({ "2026-03-15/0": checkin }), morning)).toBe(false)
    // Yesterday's slot missed counts as well.
    expect(facts(readings({}), morning)).toBe(true)
    // The phone's own readings come first: a check-in made up here is not overdue, whatever
    // the server said before it synced.
    expect(missedCheckin(late, readings({ "2026-03-15/0": checkin, "2026-03-16/0": checkin }), true)).toBe(false)
  })

  it("takes a coordinator's overdue observations from the server's missed check-in alerts, having no readings", () => {
    const alert = (doc: string, kind: Alert["kind"], status: Alert["status"]) => ({ doc, kind, status })
    const missed = missedByAlerts(
      [
        alert("e1", "missed_checkin", "open"),
        alert("e2", "missed_checkin", "acknowledged"),
        alert("e3", "missed_checkin", "resolved"),
        alert("e4", "fever", "open"),
        // Raised on an episode's readings: it counts for the episode.
        alert("r5", "missed_checkin", "open"),
      ],
      doc => (doc === "r5" ? "e5" : doc),
    )
    expect([...missed].sort()).toEqual(["e1", "e2", "e5"])
    const overdue = (id: string, status = "active") => workFacts(id, row("episode", "e", status, { alerts: 1 }), now, undefined, H.e, missedCheckin(now, undefined, missed.has(id))).overdue
    expect(["e1", "e2", "e3", "e4", "e5"].map(id => overdue(id))).toEqual([true, true, false, false, true])
    // A closed observation is overdue no more; a delivery never by check-ins.
    expect(overdue("e1", "closed")).toBe(false)
    expect(workFacts("t", row("task", "e", "assigned", { due: now + 1 }), now, undefined, H.e, true).overdue).toBe(false)
  })

  it("sorts open work first, by due, priority, status or care flag", () => {
    expect(ids(sortWork(list))).toEqual(["w1", "w5", "w2", "w4", "w3"])
    expect(ids(sortWork(list, "priority"))).toEqual(["w2", "w5", "w1", "w4", "w3"])
    expect(ids(sortWork(list, "status"))).toEqual(["w4", "w2", "w5", "w1", "w3"])
    expect(ids(sortWork(list, "care"))).toEqual(["w1", "w5", "w4", "w2", "w3"])
  })

  it("reads and writes its filter in the route's query", () => {
    const f = workFilterOf(new URLSearchParams("overdue=1&kind=task&sort=priority"))
    expect(f).toEqual({ kind: "task", status: "open", category: "", priority: "", care: false, overdue: true, sort: "priority" })
    expect(workQuery(f)).toBe("kind=task&overdue=1&sort=priority")
    expect(workQuery(workFilterOf(new URLSearchParams("")))).toBe("")
  })
})

describe("item templates", () => {
  it("are saved on the phone per user, newest first, one per name", () => {
    const kv = memoryKV()
    saveTemplate(kv, "u1", "米油", "food", [{ name: "大米", qty: 5, unit: "kg" }], 1)
    saveTemplate(kv, "u1", "药", "medicine", [{ name: "胰岛素", qty: 2, unit: "支" }], 2)
    saveTemplate(kv, "u1", "米油", "food", [{ name: "大米", qty: 10, unit: "kg" }], 3)
    expect(savedTemplates(kv, "u1").map(t => [t.name, t.items[0].qty])).toEqual([
      ["米油", 10],
      ["药", 2],
    ])
    expect(savedTemplates(kv, "u2")).toEqual([])
    expect(kv.keys()).toEqual(["linli:u1:templates"])
  })
})

describe("built-in templates", () => {
  it("have their names, items and units in both dictionaries", () => {
    const keys = BUILTIN_TEMPLATES.flatMap(t => [`tpl.${t.id}`, ...t.items.flatMap(i => [`tpl.item.${i.name}`, `tpl.unit.${i.unit}`])])
    for (const k of keys) {
      expect(k in zh, k).toBe(true)
      expect(k in en, k).toBe(true)
    }
    expect(BUILTIN_TEMPLATES.find(t => t.id === "food")?.items.map(i => (zh as Record<string, string>)[`tpl.item.${i.name}`])).toEqual(["大米", "食用油", "蔬菜", "鸡蛋", "挂面"])
  })
})
