import { describe, expect, it } from "vitest"
import type { Household } from "../generated"
import { newHousehold, type AnyDoc } from "./domain"
import { addressKey, sameAddress } from "./forms"

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
