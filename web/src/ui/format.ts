import type { Alert } from "../data/api"
import { addDays, COMMUNITY_UTC_OFFSET_MINUTES, communityDate } from "../data/domain"
import type { RiskLevel } from "../data/session"
import type { SummaryRow } from "../generated"
import { t, tr } from "../i18n"

const pad = (n: number) => String(n).padStart(2, "0")

/**
 * A moment as the volunteer's list shows it, in community time (the server's offset, not
 * the phone's time zone) against `now` (the app's clock): "09:00" today, "明天 03:04",
 * "昨天 20:00", else the date: "3月18日 09:00" / "18 Mar 09:00".
 */
export function fmtWhen(ms: number, now: number, offsetMin = COMMUNITY_UTC_OFFSET_MINUTES): string {
  const local = new Date(ms + offsetMin * 60_000)
  const time = `${pad(local.getUTCHours())}:${pad(local.getUTCMinutes())}`
  const day = communityDate(ms, offsetMin)
  const today = communityDate(now, offsetMin)
  if (day === today) return time
  if (day === addDays(today, 1)) return t("when.tomorrow", { time })
  if (day === addDays(today, -1)) return t("when.yesterday", { time })
  const mon = t("when.months").split("|")[local.getUTCMonth()]
  return t("when.date", { mon, day: local.getUTCDate(), time })
}

/** The chip tone of a grid's risk level. */
export function riskTone(level: RiskLevel): string {
  return level === "high" ? "bad" : level === "medium" ? "warn" : "ok"
}

/**
 * A row title as the server writes it: an address and a kind of work in English
 * ("3-2-501 food", "3-2-501 check-in", "readings" for an episode's readings, e.g. in a
 * notice about refused check-ins). The kind is translated; the address is kept.
 */
export function rowTitle(row: Pick<SummaryRow, "title" | "kind"> | undefined | null): string {
  if (!row) return ""
  const title = row.title ?? ""
  const i = title.lastIndexOf(" ")
  const [address, word] = i >= 0 ? [title.slice(0, i), title.slice(i + 1)] : ["", title]
  const words: Record<string, string> = { "check-in": t("title.check-in"), readings: t("title.readings") }
  const known = tr("category", word) !== word ? tr("category", word) : (words[word] ?? "")
  if (known) return address ? `${address} · ${known}` : known
  return title || t(row.kind === "task" ? "kind.task" : "kind.episode")
}

/** A user shown by name when known, else by a short id. */
export function userLabel(id: string | null | undefined, names: Record<string, string>, me?: { id: string; role: string } | string): string {
  if (!id) return t("task.unassigned")
  const name = names[id]
  const myId = typeof me === "string" ? me : me?.id
  // A volunteer's phone has no directory of people (the server names the grid's people
  // only to those who oversee it): whoever else wrote is "staff", not a raw id.
  const unknown = typeof me === "object" && me.role === "volunteer" ? t("common.staff") : t("common.unknownUser", { id: id.length > 12 ? `${id.slice(0, 10)}…` : id })
  const label = name || unknown
  return id === myId ? `${label} (${t("common.you")})` : label
}

export function statusClass(status: string): string {
  switch (status) {
    case "delivered":
    case "confirmed":
      return "ok"
    case "failed":
    case "escalated":
      return "bad"
    case "cancelled":
    case "closed":
      return "muted"
    case "new":
      return "warn"
    default:
      return "info"
  }
}

/** An alert's detail, which the server writes in English, in the user's language. */
export function alertDetail(a: Pick<Alert, "kind" | "detail">): string {
  const d = a.detail ?? ""
  switch (a.kind) {
    case "symptoms":
      return d
        .split(/,\s*/)
        .filter(Boolean)
        .map(x => tr("symptom", x))
        .join(t("common.sep"))
    case "three_days_abnormal": {
      const m = /(\d+) days in a row, (\S+) to (\S+)/.exec(d)
      return m ? t("alertd.abnormal", { days: m[1], first: m[2], last: m[3] }) : d
    }
    case "missed_checkin": {
      const m = /check-in (\d+) of (\d+) due by (\S+)/.exec(d)
      return m ? t("alertd.missed", { n: m[1], of: m[2], time: m[3] }) : d
    }
    case "overdue_delivery": {
      const m = /^(\w+) delivery, (\w+) priority/.exec(d)
      return m ? `${tr("category", m[1])} · ${tr("priority", m[2])}` : d
    }
    default:
      return d
  }
}
