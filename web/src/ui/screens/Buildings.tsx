import { useState } from "preact/hooks"
import { buildingsOf, groupByBuilding, isOpenRow } from "../../data/desk"
import { addressLabel, isWorkRow } from "../../data/domain"
import { t } from "../../i18n"
import { Screen } from "../components"
import { useAppState } from "../context"
import { Select, placeName, useHouseholdFacts } from "../desk"
import { GridPicker } from "./Dashboard"
import { FlagChips, WorkChips, WorkLinks } from "./Households"

/**
 * The stairwell view: households by building, then unit, each with its care flags and
 * its open work (deliveries, observations — their titles and status, never readings or
 * reasons).
 */
export function Buildings(props: { query: URLSearchParams }) {
  const s = useAppState()
  const manages = s.session?.user.role === "coordinator" || s.session?.user.role === "admin"
  const all = useHouseholdFacts()
  const [building, setBuilding] = useState(props.query.get("building") ?? "")
  const rows = Object.entries(s.data?.rows ?? {}).filter(([, r]) => r.household && isWorkRow(r) && isOpenRow(r))
  const groups = groupByBuilding(all).filter(g => !building || g.building === building)
  return (
    <Screen title={t("desk.buildingsTitle")} back>
      <GridPicker />
      <div class="filterbar">
        <Select label={t("desk.building")} value={building} options={["", ...buildingsOf(all)]} text={b => (b ? placeName(b) : t("desk.allBuildings"))} onChange={setBuilding} testid="filter-building" />
      </div>
      {all.length === 0 && <p class="empty">{t("hh.empty")}</p>}
      <div class="buildings" data-testid="buildings">
        {groups.map(g => {
          const households = g.units.flatMap(u => u.households)
          const tasks = households.reduce((n, x) => n + x.openTasks, 0)
          const episodes = households.reduce((n, x) => n + x.openEpisodes, 0)
          return (
            <section class="building" data-building={g.building}>
              <div class="row spread">
                <h2>{placeName(g.building)}</h2>
                {manages && (
                  <a class="btn small" href={`#/new/bulk?building=${encodeURIComponent(g.building)}`} data-testid="bulk-link">
                    {t("desk.bulk")}
                  </a>
                )}
              </div>
              <p class="small">{t("desk.buildingSummary", { n: households.length, tasks, episodes })}</p>
              {g.units.map(u => (
                <div class="unit">
                  <h3>{u.unit ? t("desk.unitName", { u: u.unit }) : t("desk.noUnit")}</h3>
                  <ul class="rows desk-rows">
                    {u.households.map(x => (
                      <li data-id={x.id}>
                        <a href={`#/household/${x.id}`}>
                          <strong class="grow">{addressLabel(x.household)}</strong>
                          <FlagChips flags={x.flags} />
                          <WorkChips x={x} />
                        </a>
                        <WorkLinks class="unit-work" rows={rows.filter(([, r]) => r.household === x.id)} />
                      </li>
                    ))}
                  </ul>
                </div>
              ))}
            </section>
          )
        })}
      </div>
    </Screen>
  )
}
