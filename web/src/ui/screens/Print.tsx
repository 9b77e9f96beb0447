import { communityDate } from "../../data/domain"
import { buildingsOf } from "../../data/desk"
import { printList, type PrintLine } from "../../data/forms"
import { fmtDateTime, fmtTime, t, tr } from "../../i18n"
import { Screen } from "../components"
import { useAppState, useNow } from "../context"
import { go } from "../router"
import { useGrid } from "./Dashboard"
import { useHouseholds } from "../desk"

/**
 * The daily list of a building (`#/print?building=3`, or every building), to print and
 * post in the stairwell: each door's open work of today with a box to tick. Nothing of
 * health on it (DESIGN §9): no names, temperatures, symptoms, reasons or notes; medicines
 * only counted.
 */
export function PrintList(props: { building?: string }) {
  const s = useAppState()
  const { grid } = useGrid()
  const now = useNow(60_000)
  const households = useHouseholds()
  const role = s.session?.user.role
  if (!grid || (role !== "coordinator" && role !== "admin")) {
    return (
      <Screen title={t("print.title")} back>
        <p class="empty">{t("task.notFound")}</p>
      </Screen>
    )
  }
  const buildings = buildingsOf(households.map(([, household]) => ({ household })))
  const list = printList(s.data?.docs ?? {}, grid.id, props.building ? [props.building] : [], now)
  return (
    <Screen
      title={t("print.title")}
      back
      actions={
        <button class="btn small primary no-print" onClick={() => window.print()} data-testid="print">
          {t("print.print")}
        </button>
      }
    >
      <label class="field no-print">
        <span class="label">{t("hh.building")}</span>
        <select value={props.building ?? ""} onChange={e => go(`print${e.currentTarget.value ? `?building=${encodeURIComponent(e.currentTarget.value)}` : ""}`, true)} data-testid="print-building">
          <option value="">{t("print.all")}</option>
          {buildings.map(b => (
            <option value={b}>{t("print.building", { b })}</option>
          ))}
        </select>
      </label>
      {list.length === 0 && <p class="empty">{t("print.noBuilding")}</p>}
      <div data-testid="print-list">
        {list.map(b => (
          <section class="print-sheet">
            <h2>{t("print.building", { b: b.building })}</h2>
            <p class="small">{t("print.head", { grid: grid.name, date: communityDate(now) })}</p>
            {b.doors.length === 0 ? (
              <p class="empty">{t("print.nothing")}</p>
            ) : (
              <table class="print-table">
                <thead>
                  <tr>
                    <th>{t("print.door")}</th>
                    <th>{t("print.what")}</th>
                    <th>{t("print.done")}</th>
                  </tr>
                </thead>
                <tbody>
                  {b.doors.flatMap(door =>
                    door.lines.map((line, i) => (
                      <tr class={i === 0 ? "first" : ""}>
                        <th scope="row">{i === 0 ? [door.unit, door.room].filter(Boolean).join("-") : ""}</th>
                        <td>
                          <Line line={line} />
                        </td>
                        <td class="tick">
                          <span class="box" aria-hidden="true" />
                        </td>
                      </tr>
                    )),
                  )}
                </tbody>
              </table>
            )}
            {b.quiet > 0 && <p class="small">{t("print.quiet", { n: b.quiet })}</p>}
            <p class="small">{t("print.privacy")}</p>
          </section>
        ))}
      </div>
    </Screen>
  )
}

function Line(props: { line: PrintLine }) {
  const l = props.line
  if (l.kind === "visit") {
    return <strong>{t("print.visit", { n: l.n, time: fmtTime(l.deadline) })}</strong>
  }
  const items = l.items.map(i => ("medicine" in i ? t("print.medicine", { n: i.medicine }) : i.text)).join(t("common.sep"))
  return (
    <>
      <strong>{t("print.delivery", { category: tr("category", l.category) })}</strong>
      {l.priority !== "normal" && ` · ${tr("priority", l.priority)}`}
      {l.contactless && ` · ${t("print.contactless")}`}
      {` · ${t("print.due", { time: fmtDateTime(l.due) })}`}
      <div>{items}</div>
    </>
  )
}
