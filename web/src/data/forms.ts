/**
 * The coordinator's forms (issue 14): pure rules, no I/O.
 */
import type { Household } from "../generated"
import type { AnyDoc } from "./domain"

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
