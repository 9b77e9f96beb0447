/**
 * Pieces of the coordinator's desk shared by its screens: whether the screen is wide
 * (the desk layout), a labelled select for filter bars, the households with their care
 * flags and open work, and how a building or unit is named.
 */
import type { ComponentChildren } from "preact"
import { useEffect, useState } from "preact/hooks"
import { compareAddress, householdFacts, type HouseholdFacts } from "../data/desk"
import type { Household } from "../generated"
import { t } from "../i18n"
import { useAppState } from "./context"
import { useGrid } from "./screens/Dashboard"

/** The desk layout's breakpoint (styles.css uses the same). */
export const WIDE = "(min-width: 1024px)"

/** Whether the window is desk-wide; follows resizing. */
export function useWide(): boolean {
  const [wide, setWide] = useState(() => typeof matchMedia === "function" && matchMedia(WIDE).matches)
  useEffect(() => {
    if (typeof matchMedia !== "function") return
    const query = matchMedia(WIDE)
    const on = () => setWide(query.matches)
    query.addEventListener("change", on)
    on()
    return () => query.removeEventListener("change", on)
  }, [])
  return wide
}

export function Select<T extends string>(props: { label: string; value: T; options: readonly T[]; text: (v: T) => string; onChange: (v: T) => void; testid?: string }) {
  return (
    <label class="field filter">
      <span class="label">{props.label}</span>
      <select value={props.value} onChange={e => props.onChange(e.currentTarget.value as T)} data-testid={props.testid}>
        {props.options.map(o => (
          <option value={o}>{props.text(o)}</option>
        ))}
      </select>
    </label>
  )
}

/** Every household of the grid this phone knows, in address order. */
export function useHouseholds(): [string, Household][] {
  const s = useAppState()
  const { grid } = useGrid()
  return Object.entries(s.data?.docs ?? {})
    .filter((e): e is [string, Household] => e[1].kind === "household" && (!grid || e[1].grid === grid.id))
    .sort(([, a], [, b]) => compareAddress(a, b))
}

/** The grid's households with their care flags and open work. */
export function useHouseholdFacts(): HouseholdFacts[] {
  const s = useAppState()
  return householdFacts(useHouseholds(), s.data?.rows ?? {})
}

/** "3号楼", "3号楼 2单元" (Building 3, Unit 2). */
export function placeName(building: string, unit = ""): string {
  const b = t("desk.buildingName", { b: building })
  return unit ? `${b} ${t("desk.unitName", { u: unit })}` : b
}

/** A filter bar: always shown on the desk; on a phone folded away unless a filter is on. */
export function FilterBar(props: { wide: boolean; active: boolean; children: ComponentChildren; testid?: string }) {
  const bar = (
    <div class="filterbar" data-testid={props.testid}>
      {props.children}
    </div>
  )
  if (props.wide) return bar
  return (
    <details class="filterbox" open={props.active}>
      <summary>{t("desk.filters")}</summary>
      {bar}
    </details>
  )
}

/** A table header cell; with `by`, a button that sorts the table by it (`current`). */
export function SortHeader<T extends string>(props: { label: string; by?: T; current?: T; ascending?: boolean; onSort?: (by: T) => void }) {
  const { by, current } = props
  if (!by || !props.onSort) return <th>{props.label}</th>
  const on = by === current
  return (
    <th aria-sort={!on ? "none" : props.ascending ? "ascending" : "descending"}>
      <button type="button" class="th-sort" onClick={() => props.onSort!(by)}>
        {props.label}
        {on ? (props.ascending ? " ▲" : " ▼") : ""}
      </button>
    </th>
  )
}
