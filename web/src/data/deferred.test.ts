import { describe, expect, it } from "vitest"
import { DeferredSteps, type DeferredStep, type Timers } from "./deferred"

/** Timers that run only when the test says (`fire`), to step through windows. */
function manualTimers() {
  let next = 0
  const due = new Map<number, () => void>()
  const timers: Timers = {
    set: fn => {
      due.set(++next, fn)
      return next
    },
    clear: h => void due.delete(h as number),
  }
  return { timers, fire: () => [...due.entries()].forEach(([h, fn]) => (due.delete(h), fn())), count: () => due.size }
}

function setup() {
  const written: DeferredStep[] = []
  let changes = 0
  const t = manualTimers()
  const steps = new DeferredSteps(
    s => void written.push(s),
    () => void changes++,
    8000,
    t.timers,
  )
  return { steps, written, changes: () => changes, ...t }
}

const step = (task: string, to: DeferredStep["to"], at = 1): DeferredStep => ({ task, to, at })

describe("DeferredSteps", () => {
  it("writes a step only when its window ends", () => {
    const { steps, written, fire } = setup()
    steps.defer(step("t1", "accepted"))
    expect(written).toEqual([])
    expect(steps.get("t1")?.to).toBe("accepted")
    fire()
    expect(written.map(s => s.to)).toEqual(["accepted"])
    expect(steps.ids()).toEqual([])
  })

  it("drops a step undone within its window, and nothing is written later", () => {
    const { steps, written, fire, count } = setup()
    steps.defer(step("t1", "delivered"))
    expect(steps.undo("t1")).toBe(true)
    expect(count()).toBe(0)
    fire()
    expect(written).toEqual([])
    expect(steps.undo("t1")).toBe(false)
  })

  it("writes the held step at once when the volunteer moves on to another step", () => {
    const { steps, written } = setup()
    steps.defer(step("t1", "accepted", 1))
    steps.defer(step("t1", "picked_up", 2))
    expect(written.map(s => s.to)).toEqual(["accepted"])
    expect(steps.get("t1")?.to).toBe("picked_up")
    steps.defer(step("t2", "accepted", 3))
    expect(written.map(s => s.to)).toEqual(["accepted", "picked_up"])
    expect(steps.ids()).toEqual(["t2"])
  })

  it("writes everything held when asked (page hidden or closed), keeping the tap's time", () => {
    const { steps, written, count } = setup()
    steps.defer(step("t1", "failed", 42))
    steps.commitAll()
    expect(written).toEqual([{ task: "t1", to: "failed", at: 42 }])
    expect(count()).toBe(0)
    expect(steps.all()).toEqual({})
  })

  it("forgets a step whose write fails, and reports every change", () => {
    const t = manualTimers()
    let changes = 0
    const steps = new DeferredSteps(
      () => {
        throw new Error("cancelled meanwhile")
      },
      () => void changes++,
      8000,
      t.timers,
    )
    steps.defer(step("t1", "accepted"))
    expect(() => steps.commit("t1")).toThrow("cancelled meanwhile")
    expect(steps.ids()).toEqual([])
    expect(changes).toBe(2)
    // At the end of the window, the failure is logged, not thrown out of the timer.
    steps.defer(step("t2", "accepted"))
    expect(() => t.fire()).not.toThrow()
    expect(steps.ids()).toEqual([])
  })
})
