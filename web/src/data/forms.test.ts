import { describe, expect, it } from "vitest"
import type { Episode, Household, Readings, Task } from "../generated"
import { TEST_NOW } from "../test/setup"
import { communityDate, newEpisode, newHousehold, newTask, type AnyDoc } from "./domain"
import { buildingsOf } from "./desk"
import { addressKey, printList, sameAddress } from "./forms"

const hh = (building: string, unit: string, room: string, extra: Partial<Household> = {}): Household => ({
  ...newHousehold({ grid: "g1", building, unit, room, phone: "", notes: "", members: [] }),
  ...extra,
})

describe("the same address", () => {
  it("is the same door however it is written", () => {
    expect(addressKey(hh("3号楼", "2单元", "501室"))).toBe(addressKey(hh("3", "2", "501")))
    expect(addressKey(hh("３栋", " 2 ", "５０１"))).toBe(addressKey(hh("3", "2", "501")))
    expect(addressKey(hh("3", "", "501"))).not.toBe(addressKey(hh("3", "2", "501")))
    expect(addressKey(hh("13", "2", "501"))).not.toBe(addressKey(hh("3", "2", "501")))
  })

  it("finds the other households of the grid there, never the one being edited", () => {
    const docs: Record<string, AnyDoc> = {
      a: hh("3", "2", "501"),
      b: hh("3", "2", "502"),
      c: { ...hh("3", "2", "501"), grid: "g2" },
    }
    expect(sameAddress(docs, { grid: "g1", building: "3号楼", unit: "2", room: "501" }).map(([id]) => id)).toEqual(["a"])
    expect(sameAddress(docs, { grid: "g1", building: "3", unit: "2", room: "501" }, "a")).toEqual([])
    expect(sameAddress(docs, { grid: "g1", building: "3", unit: "2", room: "503" })).toEqual([])
    // Nothing to compare before the required fields are there.
    expect(sameAddress(docs, { grid: "g1", building: "3", unit: "2", room: "" })).toEqual([])
  })
})

describe("the stairwell's daily list", () => {
  const today = communityDate(TEST_NOW)
  const base = (household: string, over: Partial<Task> = {}): Task => ({
    ...newTask(
      { grid: "g1", household, category: "food", items: [{ name: "大米", qty: 5, unit: "kg" }], priority: "normal", due: TEST_NOW - 60_000, contactless: true, assignee: null },
      "u-coord",
      TEST_NOW - 86_400_000,
    ),
    ...over,
  })
  const ep = (household: string, over: Partial<Episode> = {}): Episode => ({
    ...newEpisode({ grid: "g1", household, person: { name: "李四", age: 40 }, reason: "close_contact", start: today, end: today, slots: 2, assignee: null }),
    ...over,
  })
  const docs: Record<string, AnyDoc> = {
    h1: hh("3", "2", "501", { members: [{ name: "张三", age: 80, flags: ["chronic"], medicines: ["硝苯地平"] }] }),
    h2: hh("3", "1", "1201"),
    h3: hh("3", "1", "201"),
    h4: hh("5", "1", "101"),
    t1: base("h1", { category: "medicine", items: [{ name: "阿莫西林", qty: 2, unit: "盒" }, { name: "布洛芬", qty: 1, unit: "盒" }] }),
    t2: base("h1", { items: [{ name: "硝苯地平", qty: 3, unit: "盒" }, { name: "大米", qty: 5, unit: "kg" }], priority: "urgent" }),
    t3: base("h2", { status: "delivered" }),
    t4: base("h2", { due: TEST_NOW + 3 * 86_400_000 }),
    t5: base("h4"),
    e1: ep("h3", { readings: "r1" }),
    // The readings of e1, on a phone that may hold them (not a coordinator's).
    r1: {
      kind: "readings",
      schema: 1,
      grid: "g1",
      episode: "e1",
      household: "h3",
      start: today,
      end: today,
      slots: 2,
      assignee: null,
      status: "active",
      checkins: { [`${today}/0`]: { temp_c: 38.6, symptoms: ["cough"], method: "visit", note: "", by: "u-vol", at: TEST_NOW } },
    } satisfies Readings,
    e2: ep("h2", { status: "closed", closed_at: TEST_NOW }),
  }

  it("lists each door's open work of today, by unit and room, deliveries first by priority", () => {
    const [b3] = printList(docs, "g1", ["3号楼"], TEST_NOW)
    expect(b3.building).toBe("3")
    expect(b3.doors.map(d => `${d.unit}-${d.room}`)).toEqual(["1-201", "2-501"])
    expect(b3.quiet).toBe(1)
    const [urgent, medicine] = b3.doors[1].lines
    expect(urgent).toMatchObject({ kind: "delivery", id: "t2", priority: "urgent" })
    expect(medicine).toMatchObject({ kind: "delivery", id: "t1", category: "medicine" })
    // The visit: only the slot still to do today, by the readings on the phone.
    expect(b3.doors[0].lines).toMatchObject([{ kind: "visit", id: "e1", n: 2 }])
  })

  it("lists every visit of the day where the phone holds no readings (a coordinator's)", () => {
    const { r1: _readings, ...coordinators } = docs
    const [b3] = printList(coordinators, "g1", ["3"], TEST_NOW)
    expect(b3.doors[0].lines).toMatchObject([
      { kind: "visit", id: "e1", n: 1 },
      { kind: "visit", id: "e1", n: 2 },
    ])
  })

  it("names no medicine, and carries nothing of health", () => {
    const list = printList(docs, "g1", [], TEST_NOW)
    expect(list.map(b => b.building)).toEqual(["3", "5"])
    const text = JSON.stringify(list)
    for (const secret of ["阿莫西林", "布洛芬", "硝苯地平", "38.6", "cough", "close_contact", "李四", "张三", "chronic"]) {
      expect(text).not.toContain(secret)
    }
    const door = list[0].doors[1]
    expect(door.lines.flatMap(l => (l.kind === "delivery" ? l.items : []))).toEqual([{ medicine: 3 }, { text: "大米 5kg" }, { medicine: 2 }, { medicine: 1 }])
  })

  it("gives the buildings in numeric order", () => {
    expect(buildingsOf([hh("10", "", "1"), hh("3", "", "1"), hh("3", "", "2"), hh(" ", "", "1")].map(household => ({ household })))).toEqual(["3", "10"])
  })
})
