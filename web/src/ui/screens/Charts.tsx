/**
 * The dashboard's charts (issue 14): per community day over the last 14 days, check-ins
 * done against due, alerts raised and resolved, deliveries done. Plain SVG scaled to the
 * column's width (a 360 px phone included), from `GET /api/stats/daily`: counts only.
 */
import { useEffect, useState } from "preact/hooks"
import type { StatsDay } from "../../data/api"
import { t } from "../../i18n"
import { useApp, useAppState } from "../context"

const W = 320
const H = 110
const PAD = { left: 22, right: 4, top: 8, bottom: 18 }

interface Series {
  label: string
  /** CSS class of its bars and its legend mark. */
  cls: string
  values: number[]
}

/** Grouped bars, one group per day; the first series may be drawn behind the second (`overlay`). */
function BarChart(props: { id: string; title: string; dates: string[]; series: Series[]; overlay?: boolean }) {
  const { dates, series } = props
  const max = Math.max(1, ...series.flatMap(s => s.values))
  const plotW = W - PAD.left - PAD.right
  const plotH = H - PAD.top - PAD.bottom
  const slot = plotW / Math.max(1, dates.length)
  const groups = props.overlay ? 1 : series.length
  const barW = Math.max(1, (slot * 0.8) / groups)
  const y = (v: number) => PAD.top + plotH - (v / max) * plotH
  const summary = series.map(s => `${s.label} ${s.values.reduce((a, b) => a + b, 0)}`).join(t("common.sep"))
  return (
    <figure class="chart" data-testid={`chart-${props.id}`}>
      <figcaption>{props.title}</figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} width="100%" role="img" aria-label={`${props.title}: ${summary}`} preserveAspectRatio="xMidYMid meet">
        <line class="axis" x1={PAD.left} x2={W - PAD.right} y1={y(0)} y2={y(0)} />
        <text class="tick" x={PAD.left - 3} y={y(max) + 3} text-anchor="end">
          {max}
        </text>
        <text class="tick" x={PAD.left - 3} y={y(0)} text-anchor="end">
          0
        </text>
        {dates.map((d, i) => {
          const x0 = PAD.left + i * slot + slot * 0.1
          return (
            <g>
              {series.map((s, k) => {
                const v = s.values[i] ?? 0
                const x = props.overlay ? x0 : x0 + k * barW
                return (
                  <rect class={s.cls} x={x} y={y(v)} width={props.overlay && k > 0 ? barW * 0.6 : barW} height={Math.max(0, y(0) - y(v))} transform={props.overlay && k > 0 ? `translate(${barW * 0.2} 0)` : undefined}>
                    <title>{`${d} ${s.label} ${v}`}</title>
                  </rect>
                )
              })}
              {(dates.length - 1 - i) % 3 === 0 && (
                <text class="tick" x={x0 + (slot * 0.8) / 2} y={H - 4} text-anchor="middle">
                  {d.slice(5)}
                </text>
              )}
            </g>
          )
        })}
      </svg>
      <div class="legend">
        {series.map(s => (
          <span>
            <i class={`mark ${s.cls}`} /> {s.label}
          </span>
        ))}
      </div>
    </figure>
  )
}

export function DailyCharts(props: { grid: string }) {
  const app = useApp()
  const s = useAppState()
  const [days, setDays] = useState<StatsDay[] | null>(null)
  const [failed, setFailed] = useState(false)
  useEffect(() => {
    if (!props.grid) return
    let live = true
    app.stats(props.grid, 14).then(
      v => live && (setDays(v.value), setFailed(false)),
      () => live && setFailed(true),
    )
    return () => {
      live = false
    }
  }, [props.grid, s.online, s.data?.rows])
  if (!days) return failed ? <p class="small">{t("charts.unavailable")}</p> : null
  const dates = days.map(d => d.date)
  const deliveries = days.some(d => d.deliveries_done !== null)
  return (
    <section class="panel charts" data-testid="charts">
      <h2>{t("charts.title")}</h2>
      <BarChart
        id="checkins"
        title={t("charts.checkins")}
        dates={dates}
        overlay
        series={[
          { label: t("charts.due"), cls: "s-due", values: days.map(d => d.checkins_due) },
          { label: t("charts.done"), cls: "s-done", values: days.map(d => d.checkins_done) },
        ]}
      />
      <BarChart
        id="alerts"
        title={t("charts.alerts")}
        dates={dates}
        series={[
          { label: t("charts.raised"), cls: "s-raised", values: days.map(d => d.alerts_raised) },
          { label: t("charts.resolved"), cls: "s-resolved", values: days.map(d => d.alerts_resolved) },
        ]}
      />
      {deliveries && (
        <BarChart id="deliveries" title={t("charts.deliveries")} dates={dates} series={[{ label: t("charts.delivered"), cls: "s-delivered", values: days.map(d => d.deliveries_done ?? 0) }]} />
      )}
    </section>
  )
}
