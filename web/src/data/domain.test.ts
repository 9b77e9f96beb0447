import { describe, expect, it } from "vitest"
import type { Episode, Household, Readings, SummaryRow, Task, TaskStatus } from "../generated"
import { SCHEMA_VERSIONS } from "../generated"
import { TEST_NOW } from "../test/setup"
import {
  NO_SYMPTOMS,
  TASK_STATUSES,
  addressLabel,
  checkinOffer,
  checkinsOf,
  chosenSymptoms,
  clearSymptoms,
  communityDate,
  communityTime,
  coordinatorMove,
  isFever,
  newCheckin,
  newEpisode,
  newHousehold,
  newTask,
  openSlots,
  parseCheckinKey,
  parseTemp,
  retemp,
  riskPolicy,
  seesCareDetails,
  slotDeadline,
  summarize,
  takenKeys,
  toggleSymptom,
  volunteerNext,
  workItems,
  type DocSummary,
  type SymptomChoice,
} from "./domain"

describe("the unit tests' clock", () => {
  it("starts at a fixed instant, not the wall clock's (src/test/setup.ts)", () => {
    expect(Math.abs(Date.now() - TEST_NOW)).toBeLessThan(10 * 60_000)
  })
})

describe("task status graph", () => {
  it("lets the volunteer take only the forward steps of DESIGN §3", () => {
    const steps = TASK_STATUSES.flatMap(f => volunteerNext(f).map(t => `${f}>${t}`))
    expect(steps).toEqual(["assigned>accepted", "accepted>picked_up", "picked_up>delivered", "picked_up>failed"])
  })

  it("has every volunteer step among the coordinator's, as the server's rules do", () => {
    for (const f of TASK_STATUSES) for (const t of volunteerNext(f)) expect(coordinatorMove(f, t)).toBe(true)
  })

  it("lets coordinators confirm, unassign and cancel only where the graph allows", () => {
    const ok = (f: TaskStatus, t: TaskStatus) => coordinatorMove(f, t)
    expect(ok("delivered", "confirmed") && ok("failed", "confirmed") && ok("assigned", "new")).toBe(true)
    expect(ok("picked_up", "cancelled") && ok("new", "cancelled")).toBe(true)
    expect(ok("delivered", "cancelled") || ok("confirmed", "new") || ok("accepted", "assigned")).toBe(false)
  })

  it("lets coordinators send a failed delivery again, as the server's rules do (issue 14)", () => {
    expect(coordinatorMove("failed", "assigned")).toBe(true)
    expect(volunteerNext("failed")).toEqual([])
    expect(coordinatorMove("confirmed", "assigned") || coordinatorMove("failed", "new")).toBe(false)
  })

  it("knows what each risk level asks (the server's RiskLevel::policy)", () => {
    expect(riskPolicy("low")).toEqual({ checkins_per_day: 1, contactless: false })
    expect(riskPolicy("high")).toEqual({ checkins_per_day: 2, contactless: true })
  })
})

describe("community time", () => {
  it("uses the community's date, not the device's", () => {
    // 2026-01-31T16:30Z is 00:30 on 1 February in Beijing (as the server computes it).
    expect(communityDate(Date.parse("2026-01-31T16:30:00Z"))).toBe("2026-02-01")
    expect(communityDate(Date.parse("2026-01-31T15:59:00Z"))).toBe("2026-01-31")
    expect(communityTime("2026-02-01", "20:00")).toBe(Date.parse("2026-02-01T12:00:00Z"))
  })

  it("gives slot deadlines from the shared table", () => {
    expect(slotDeadline("2026-02-01", 1, 0)).toBe(communityTime("2026-02-01", "20:00"))
    expect(slotDeadline("2026-02-01", 2, 0)).toBe(communityTime("2026-02-01", "12:00"))
    expect(slotDeadline("2026-02-01", 4, 3)).toBe(communityTime("2026-02-01", "20:00"))
  })

  it("offers today's open slots and yesterday's missed ones", () => {
    const e = { start: "2026-02-01", end: "2026-02-14", status: "active" as const, slots: 2 }
    const now = communityTime("2026-02-03", "13:00")
    const open = openSlots(e, ["2026-02-02/0", "2026-02-03/0"], now).map(s => s.key)
    expect(open).toEqual(["2026-02-02/1", "2026-02-03/1"])
    expect(openSlots({ ...e, status: "closed" }, [], now)).toEqual([])
    expect(openSlots({ ...e, start: "2026-02-03" }, [], now).map(s => s.key)).toEqual(["2026-02-03/0", "2026-02-03/1"])
  })

  it("parses check-in keys the way the server does", () => {
    expect(parseCheckinKey("2026-12-01/1")).toEqual({ date: "2026-12-01", slot: 1 })
    for (const bad of ["2026-12-01", "2026-12-01/", "2026-12-01/01", "2026-12-01/-1", "x/0"]) expect(parseCheckinKey(bad)).toBeNull()
  })
})

describe("temperatures", () => {
  it("accepts body temperatures and warns from 37.3 °C", () => {
    expect(parseTemp("37.25")).toBe(37.3)
    expect(parseTemp("36,6")).toBe(36.6)
    expect(parseTemp("")).toBeNull()
    expect(parseTemp("45")).toBeNull()
    expect(parseTemp("abc")).toBeNull()
    expect(isFever(37.3)).toBe(true)
    expect(isFever(37.2)).toBe(false)
  })
})

describe("the check-in form's symptoms", () => {
  /** From reading `from`, types `temps` one after the other, as the form's input handler does. */
  const typed = (c: SymptomChoice, from: number | null, ...temps: (number | null)[]) => {
    let before = from
    for (const t of temps) {
      c = retemp(c, before, t)
      before = t
    }
    return c
  }

  it("ticks 发热 from 37.3 °C (the shared threshold), which deselects 无症状", () => {
    expect(chosenSymptoms(NO_SYMPTOMS, null)).toEqual([])
    expect(chosenSymptoms(NO_SYMPTOMS, 37.2)).toEqual([])
    expect(chosenSymptoms(NO_SYMPTOMS, 37.3)).toEqual(["fever"])
    expect(chosenSymptoms(typed(NO_SYMPTOMS, null, 38, 38.2), 38.2)).toEqual(["fever"])
  })

  it("lets the user untick an automatic 发热, until the temperature crosses the threshold again", () => {
    let c = toggleSymptom(typed(NO_SYMPTOMS, null, 38.2), "fever", 38.2)
    expect(chosenSymptoms(c, 38.2)).toEqual([])
    c = typed(c, 38.2, 38.5)
    expect(chosenSymptoms(c, 38.5), "still above: the choice stands").toEqual([])
    c = typed(c, 38.5, 36.6, 37.8)
    expect(chosenSymptoms(c, 37.8), "back below and above again: ticked again").toEqual(["fever"])
  })

  it("lets the user tick 发热 below the threshold, and drops the automatic tick when it falls below", () => {
    const manual = toggleSymptom(typed(NO_SYMPTOMS, null, 36.8), "fever", 36.8)
    expect(chosenSymptoms(manual, 36.8)).toEqual(["fever"])
    const auto = typed(NO_SYMPTOMS, null, 38.2, 36.9)
    expect(chosenSymptoms(auto, 36.9)).toEqual([])
  })

  it("deselects 无症状 for any symptom, and 无症状 clears them all, 发热 included", () => {
    let c = toggleSymptom(NO_SYMPTOMS, "cough", 36.5)
    expect(chosenSymptoms(c, 36.5)).toEqual(["cough"])
    c = toggleSymptom(typed(c, 36.5, 38.2), "fatigue", 38.2)
    expect(chosenSymptoms(c, 38.2), "in the plan's order").toEqual(["fever", "fatigue", "cough"])
    c = toggleSymptom(c, "cough", 38.2)
    expect(chosenSymptoms(c, 38.2)).toEqual(["fever", "fatigue"])
    expect(chosenSymptoms(clearSymptoms(), 38.2)).toEqual([])
  })
})

describe("the day's work", () => {
  const row = (kind: SummaryRow["kind"], extra: Partial<SummaryRow> = {}): SummaryRow => ({
    kind,
    status: kind === "task" ? "assigned" : "active",
    assignee: "u-vol",
    priority: kind === "task" ? "normal" : null,
    due: null,
    alerts: 0,
    household: "h",
    title: "",
    ...extra,
  })

  it("puts work to do first, by priority then due time, with local changes over the rows", () => {
    const now = communityTime("2026-02-03", "09:00")
    const rows: Record<string, SummaryRow> = {
      a: row("task", { priority: "normal", due: now + 1000 }),
      b: row("task", { priority: "urgent", due: now + 5000 }),
      c: row("task", { priority: "urgent", due: now + 2000 }),
      d: row("task", { priority: "urgent", due: now }),
      e: row("episode"),
      f: row("task", { assignee: "u-other" }),
      // The inbox lists an episode's readings beside it, so that the phone stores them.
      r: row("readings", { title: "readings" }),
    }
    const days = { slots: 1, start: "2026-02-01", end: "2026-02-14" }
    const local: Record<string, DocSummary> = {
      d: { kind: "task", status: "delivered", priority: "urgent", due: now, assignee: "u-vol" },
      e: { kind: "episode", status: "active", assignee: "u-vol", readings: "r", ...days },
      r: { kind: "readings", status: "active", assignee: "u-vol", episode: "e", checkins: ["2026-02-01/0", "2026-02-02/0"], ...days },
    }
    const items = workItems(rows, local, now, "u-vol")
    expect(items.map(i => i.id)).toEqual(["c", "b", "e", "a", "d"])
    expect(items.find(i => i.id === "d")!.todo).toBe(false)
    expect(items.find(i => i.id === "e")!.slots!.map(s => s.key)).toEqual(["2026-02-03/0"])
  })

  it("shows an episode's readings row as no card of its own, and counts the check-ins in them", () => {
    const now = communityTime("2026-02-03", "21:00")
    const days = { slots: 1, start: "2026-02-01", end: "2026-02-14" }
    const rows = { e: row("episode"), r: row("readings", { title: "readings" }), m: row("medical", { title: "medical" }) }
    const episode: DocSummary = { kind: "episode", status: "active", assignee: "u-vol", readings: null, ...days }
    const readings: DocSummary = { kind: "readings", status: "active", assignee: "u-vol", episode: "e", checkins: ["2026-02-02/0", "2026-02-03/0"], ...days }
    // Linked from the episode, or (before the link reaches the phone) naming the episode.
    for (const e of [{ ...episode, readings: "r" }, episode]) {
      const items = workItems(rows, { e, r: readings }, now, "u-vol")
      expect(items.map(i => [i.id, i.kind, i.todo])).toEqual([["e", "episode", false]])
      expect(takenKeys("e", { e, r: readings })).toEqual(["2026-02-02/0", "2026-02-03/0"])
    }
    // No readings on the phone yet: every slot is still to do (yesterday's missed too).
    const [waiting] = workItems(rows, { e: episode }, now, "u-vol")
    expect(waiting.slots!.map(s => s.key)).toEqual(["2026-02-02/0", "2026-02-03/0"])
  })
})

describe("check-ins and readings (DESIGN §9)", () => {
  const now = communityTime("2026-02-03", "09:00")
  const ep: Episode = {
    ...newEpisode({ grid: "g1", household: "h", person: { name: "王", age: 70 }, reason: "returnee", start: "2026-02-01", slots: 2, assignee: "u-vol" }),
    readings: "r",
  }
  const readings = (checkins: Readings["checkins"] = {}, over: Partial<Readings> = {}): Readings => ({
    kind: "readings",
    schema: SCHEMA_VERSIONS.readings,
    grid: "g1",
    episode: "e",
    household: "h",
    start: ep.start,
    end: ep.end,
    slots: ep.slots,
    assignee: ep.assignee,
    status: "active",
    checkins,
    ...over,
  })
  const reading = newCheckin({ temp_c: 36.5, symptoms: [], method: "visit", note: "" }, "u-vol", now)
  const vol = { id: "u-vol", role: "volunteer" }
  const medic = { id: "u-medic", role: "medic" }

  it("offers no check-in form to coordinators and admins, nor to another volunteer", () => {
    for (const user of [{ id: "u-coord", role: "coordinator" }, { id: "u-admin", role: "admin" }, { id: "u-other", role: "volunteer" }]) {
      expect(checkinOffer(user, ep, readings(), now), user.role).toEqual({ state: "not-yours" })
      expect(checkinOffer(user, ep, undefined, now), user.role).toEqual({ state: "not-yours" })
    }
  })

  it("offers the assigned volunteer and the grid's medics the open slots of the readings", () => {
    for (const user of [vol, medic]) {
      const offer = checkinOffer(user, ep, readings({ "2026-02-02/0": reading, "2026-02-02/1": reading }), now)
      expect(offer.state === "open" && offer.slots.map(s => s.key), user.role).toEqual(["2026-02-03/0", "2026-02-03/1"])
    }
  })

  it("waits for the readings, and says when there is nothing to do or the observation is over", () => {
    expect(checkinOffer(vol, ep, undefined, now)).toEqual({ state: "preparing" })
    const all = { "2026-02-02/0": reading, "2026-02-02/1": reading, "2026-02-03/0": reading, "2026-02-03/1": reading }
    expect(checkinOffer(vol, ep, readings(all), now)).toEqual({ state: "done" })
    expect(checkinOffer(vol, { ...ep, status: "closed", closed_at: now }, readings(), now)).toEqual({ state: "closed" })
    expect(checkinOffer(medic, ep, readings({}, { status: "closed" }), now)).toEqual({ state: "closed" })
  })

  it("reads an episode an older release wrote, with its check-ins still in it", () => {
    // Schema 2: the server moves these into the readings when the phone's copy syncs.
    const old = { ...ep, schema: 2, readings: null, checkins: { "2026-02-03/0": reading } } as Episode
    expect(summarize(old)).toMatchObject({ kind: "episode", readings: null, checkins: ["2026-02-03/0"] })
    expect(Object.keys(checkinsOf(old, readings({ "2026-02-02/0": reading }))).sort()).toEqual(["2026-02-02/0", "2026-02-03/0"])
    const offer = checkinOffer(vol, old, readings(), now)
    expect(offer.state === "open" && offer.slots.map(s => s.key)).toEqual(["2026-02-02/0", "2026-02-02/1", "2026-02-03/1"])
    // A current episode has none.
    expect(summarize(ep)).not.toHaveProperty("checkins")
    expect(summarize(readings({ "2026-02-02/0": reading }))).toMatchObject({ kind: "readings", episode: "e", checkins: ["2026-02-02/0"] })
  })
})

describe("care details on the screens (DESIGN §9)", () => {
  it("shows a household's care flags and why a person is observed to everyone but the volunteer", () => {
    expect(["admin", "coordinator", "medic"].map(seesCareDetails)).toEqual([true, true, true])
    expect(seesCareDetails("volunteer")).toBe(false)
  })
})

describe("new documents", () => {
  // Documents are strict on the server: exactly the schema's keys, no more, no fewer.
  const keys = (o: object) => Object.keys(o).sort()

  it("builds a task with exactly the schema's keys, assigned with its log entry", () => {
    const t: Task = newTask(
      {
        grid: "g1",
        household: "automerge:4NMNnkMhL8jXrdJ9jamS58PAVdXu",
        category: "food",
        items: [
          { name: " 大米 ", qty: 5, unit: "kg" },
          { name: "", qty: 1, unit: "" },
        ],
        priority: "high",
        due: 1.5,
        contactless: true,
        assignee: "u-vol",
      },
      "u-coord",
      1000,
    )
    expect(keys(t)).toEqual(
      keys({ kind: 0, schema: 0, grid: 0, household: 0, category: 0, items: 0, priority: 0, due: 0, contactless: 0, assignee: 0, status: 0, failure_reason: 0, log: 0, created_by: 0, created_at: 0 }),
    )
    expect(t.household).toBe("4NMNnkMhL8jXrdJ9jamS58PAVdXu")
    expect(t.items).toEqual([{ name: "大米", qty: 5, unit: "kg" }])
    expect(t.status).toBe("assigned")
    expect(t.log).toEqual([{ at: 1000, by: "u-coord", from: "new", to: "assigned", note: "" }])
    const unassigned = newTask({ ...t, household: t.household, assignee: null }, "u-coord", 1000)
    expect([unassigned.status, unassigned.log.length]).toEqual(["new", 0])
  })

  it("builds an episode of 14 days, its readings and record left to the server, and a household", () => {
    const e: Episode = newEpisode({ grid: "g1", household: "h", person: { name: "王", age: 70 }, reason: "returnee", start: "2026-02-01", slots: 9, assignee: null })
    expect(keys(e)).toEqual(
      keys({ kind: 0, schema: 0, grid: 0, household: 0, person: 0, reason: 0, start: 0, end: 0, slots: 0, assignee: 0, status: 0, closed_at: 0, readings: 0, medical: 0, erased: 0 }),
    )
    expect([e.schema, e.readings, e.medical]).toEqual([SCHEMA_VERSIONS.episode, null, null])
    expect([e.end, e.slots, e.status, e.closed_at, e.erased]).toEqual(["2026-02-15", 4, "active", null, false])
    const h: Household = newHousehold({ grid: "g1", building: " 3 ", unit: "", room: "501", phone: "", notes: "", members: [{ name: "李", age: 80, flags: ["elderly_alone", "elderly_alone"], medicines: [" ", "降压药"] }] })
    expect(h.members[0]).toEqual({ name: "李", age: 80, flags: ["elderly_alone"], medicines: ["降压药"] })
    expect(addressLabel(h)).toBe("3-501")
  })
})
