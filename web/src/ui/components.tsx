import type { ComponentChildren, JSX } from "preact"
import { useState } from "preact/hooks"
import type { App } from "../data/app"
import { communityDate } from "../data/domain"
import type { ShelvedSummary } from "../data/shelf"
import type { SummaryRow } from "../generated"
import { fmtTime, lang, setLang, t, tr, type Key } from "../i18n"
import { useApp, useAppState, useNow } from "./context"
import { go } from "./router"
import { rowTitle, statusClass } from "./format"

export function Screen(props: { title: string; back?: boolean; children: ComponentChildren; actions?: ComponentChildren }) {
  return (
    <main class="screen">
      <div class="screen-head">
        {props.back && (
          <button class="icon-btn" onClick={() => history.back()} aria-label={t("nav.back")}>
            ‹
          </button>
        )}
        <h1>{props.title}</h1>
        {props.actions}
      </div>
      {props.children}
    </main>
  )
}

export function TopBar() {
  const s = useAppState()
  return (
    <header class="topbar">
      <span class="brand">{t("app.name")}</span>
      <SyncIndicator />
      <button class="lang-btn" onClick={() => setLang(lang() === "en" ? "zh-CN" : "en")} aria-label={t("app.langLabel")}>
        {t("app.lang")}
      </button>
      {s.session && <span class="sr-only">{s.session.user.username}</span>}
    </header>
  )
}

/** Online / offline / N changes waiting / last synced. */
export function SyncIndicator() {
  const s = useAppState()
  useNow(15_000)
  const d = s.data
  if (!d) return null
  const conn = !s.online ? "offline" : d.connection
  const label = conn === "online" ? t("sync.online") : conn === "offline" ? t("sync.offline") : t("sync.connecting")
  const detail =
    d.pending > 0 ? t("sync.waiting", { n: d.pending }) : d.lastSynced ? t("sync.synced", { time: fmtTime(d.lastSynced) }) : t("sync.never")
  return (
    <div class={`sync sync-${conn}${d.pending > 0 ? " sync-pending" : ""}`} role="status" aria-live="polite" data-testid="sync">
      <span class="dot" aria-hidden="true" />
      <span class="sync-state">{label}</span>
      <span class="sync-detail">{detail}</span>
    </div>
  )
}

export function BottomNav(props: { items: { path: string; key: Key; badge?: number }[]; active: string }) {
  return (
    <nav class="bottomnav">
      {props.items.map(i => (
        <a href={`#/${i.path}`} class={props.active === i.path ? "active" : ""} aria-current={props.active === i.path ? "page" : undefined}>
          {t(i.key)}
          {i.badge ? <span class="badge">{i.badge}</span> : null}
        </a>
      ))}
    </nav>
  )
}

export function Chip(props: { children: ComponentChildren; tone?: string }) {
  return <span class={`chip ${props.tone ?? ""}`}>{props.children}</span>
}

export function StatusChip(props: { status: string }) {
  return <Chip tone={statusClass(props.status)}>{tr("status", props.status)}</Chip>
}

export function Field(props: { label: string; children: ComponentChildren; hint?: string; error?: string | null; group?: boolean }) {
  if (props.group) {
    // Buttons (segmented controls, choices) are not labelled by an enclosing <label>.
    return (
      <div class="field" role="group" aria-label={props.label}>
        <span class="label" aria-hidden="true">
          {props.label}
        </span>
        {props.children}
        {props.error && <span class="error">{props.error}</span>}
      </div>
    )
  }
  return (
    <label class="field">
      <span class="label">{props.label}</span>
      {props.children}
      {props.hint && <span class="hint">{props.hint}</span>}
      {props.error && <span class="error">{props.error}</span>}
    </label>
  )
}

export function Toggle(props: { on: boolean; onClick: () => void; children: ComponentChildren; tone?: string }) {
  return (
    <button type="button" class={`toggle ${props.on ? "on" : ""} ${props.tone ?? ""}`} aria-pressed={props.on} onClick={props.onClick}>
      {props.children}
    </button>
  )
}

export function Segmented<T extends string>(props: { value: T; options: readonly T[]; label: (v: T) => string; onChange: (v: T) => void; name: string }) {
  return (
    <div class="segmented" role="radiogroup" aria-label={props.name}>
      {props.options.map(o => (
        <button type="button" role="radio" aria-checked={props.value === o} class={props.value === o ? "on" : ""} onClick={() => props.onChange(o)}>
          {props.label(o)}
        </button>
      ))}
    </div>
  )
}

export function Banner(props: { tone: "warn" | "bad" | "info" | "ok"; children: ComponentChildren }) {
  return <div class={`banner ${props.tone}`}>{props.children}</div>
}

/** A question with Cancel and a confirming button (for what cannot be undone). */
export function Confirm(props: { text: string; label: string; danger?: boolean; onCancel: () => void; onConfirm: () => void }) {
  return (
    <Banner tone="warn">
      <p>{props.text}</p>
      <div class="row wrap">
        <button class="btn" onClick={props.onCancel}>
          {t("common.cancel")}
        </button>
        <button class={`btn ${props.danger ? "danger" : "primary"}`} onClick={props.onConfirm}>
          {props.label}
        </button>
      </div>
    </Banner>
  )
}

/** Why the server refused a change, in plain words (its own text is shown beside). */
export function refusalWhy(reason: string): Key {
  if (/actor|another user/.test(reason)) return "notice.rejected.actor"
  if (/`(status|log[.\w]*|failure_reason)`/.test(reason)) return "notice.rejected.status"
  if (/`checkins/.test(reason)) return "notice.rejected.checkin"
  return "notice.rejected.other"
}

/** The work's title as the user knows it ("3-2-501 · 食品"), or "a piece of work". */
export function workTitle(w: { title: string; kind: string }): string {
  return w.title ? rowTitle({ title: w.title, kind: w.kind as SummaryRow["kind"] }) : t("notice.untitled")
}

/** Hands a file to the user (a download). */
export function saveFile(blob: Blob, name: string): void {
  const a = document.createElement("a")
  a.href = URL.createObjectURL(blob)
  a.download = name
  document.body.appendChild(a)
  a.click()
  a.remove()
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000)
}

/** Downloads kept-aside work (the given entries, or all) as one JSON file. */
export async function exportKept(app: App, ids?: string[]): Promise<void> {
  try {
    const json = await app.store!.exportShelved(ids)
    saveFile(new Blob([json], { type: "application/json" }), `linli-kept-aside-${communityDate(Date.now())}.json`)
  } catch (e) {
    toast(t("set.exportFailed", { msg: (e as Error).message }))
  }
}

/** One piece of kept-aside work: what, why, and what became of the phone's copy. */
export function KeptText(props: { w: ShelvedSummary }) {
  const w = props.w
  const title = workTitle(w)
  return (
    <>
      <p>
        <strong>{w.cause === "rejected" ? t("shelf.rejected", { title }) : t("shelf.unavailable", { title })}</strong>
      </p>
      {w.cause === "rejected" && <p>{t(refusalWhy(w.reason))}</p>}
      {w.cause === "rejected" && <p>{t("shelf.restored")}</p>}
      {w.reason && <p class="small">{t("notice.details", { reason: w.reason })}</p>}
    </>
  )
}

/** A kept-aside entry the user has not acknowledged yet; it stays until they do. */
function KeptNotice(props: { w: ShelvedSummary }) {
  const app = useApp()
  const [confirm, setConfirm] = useState(false)
  const w = props.w
  return (
    <div class="banner bad" role="alert" data-testid="notice" data-kind={w.cause} data-id={w.id}>
      <KeptText w={w} />
      {confirm ? (
        <Confirm text={t("shelf.dismissConfirm")} label={t("common.confirm")} onCancel={() => setConfirm(false)} onConfirm={() => void app.store?.markShelvedSeen(w.id)} />
      ) : (
        <div class="row wrap">
          <button class="btn" onClick={() => void exportKept(app, [w.id])}>
            {t("shelf.export")}
          </button>
          <button class="btn" onClick={() => setConfirm(true)}>
            {t("notice.dismiss")}
          </button>
        </div>
      )}
    </div>
  )
}

/** Refused changes, kept aside or (if that failed) still waiting, in plain words. */
export function Notices() {
  const app = useApp()
  const s = useAppState()
  const notices = s.data?.notices ?? []
  const kept = (s.data?.shelved ?? []).filter(w => !w.seen)
  if (notices.length === 0 && kept.length === 0) return null
  return (
    <div class="notices">
      {kept.map(w => (
        <KeptNotice w={w} key={w.id} />
      ))}
      {notices.map(n => (
        <div class="banner bad" role="alert" data-testid="notice" data-kind="not-kept">
          <p>
            <strong>{t("notice.notKept", { title: workTitle({ title: n.title, kind: "task" }) })}</strong>
          </p>
          <p>{t(refusalWhy(n.reason))}</p>
          {n.reason && <p class="small">{t("notice.details", { reason: n.reason })}</p>}
          <button class="btn" onClick={() => app.store?.dismissNotice(n.id)}>
            {t("notice.dismiss")}
          </button>
        </div>
      ))}
    </div>
  )
}

/** Expired session: work goes on; once online, log in again (same user) to sync. */
export function SessionBanner() {
  const app = useApp()
  const s = useAppState()
  const [password, setPassword] = useState("")
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  if (!s.sessionExpired || !s.session) return null
  if (!s.online) return <Banner tone="warn">{t("session.expiredOffline")}</Banner>
  const submit = async (e: JSX.TargetedEvent<HTMLFormElement>) => {
    e.preventDefault()
    setBusy(true)
    setError(null)
    try {
      await app.login(s.session!.user.username, password)
      setPassword("")
    } catch (err) {
      setError(loginError(err))
    } finally {
      setBusy(false)
    }
  }
  return (
    <form class="banner warn" onSubmit={submit} data-testid="relogin">
      <p>{t("session.expired")}</p>
      <Field label={`${t("login.password")} (${s.session.user.username})`} error={error}>
        <input type="password" autocomplete="current-password" value={password} onInput={e => setPassword(e.currentTarget.value)} required />
      </Field>
      <button class="btn primary" disabled={busy}>
        {busy ? t("login.busy") : t("session.relogin")}
      </button>
    </form>
  )
}

export function loginError(err: unknown): string {
  const e = err as { code?: string; status?: number; message?: string }
  if (e?.code === "offline") return t("login.offline")
  if (e?.status === 401 || e?.code === "bad_credentials") return t("login.bad")
  if (e?.status === 429 || e?.code === "too_many_attempts") return t("login.tooMany")
  if (e?.code === "busy") return t("login.serverBusy")
  return t("login.error", { msg: e?.message ?? String(err) })
}

/**
 * A short message that fades. It is drawn over the top bar's brand and sync indicator (not
 * its language button), so it never covers a button of the screen; without a top bar
 * (login) at the top of the page.
 */
let toastTimer: ReturnType<typeof setTimeout> | undefined
const TOAST_MS = 2500
export function toast(message: string): void {
  let el = document.getElementById("toast")
  const bar = document.querySelector(".topbar")
  if (!el) {
    el = document.createElement("div")
    el.id = "toast"
    el.setAttribute("role", "status")
  }
  // The top bar is drawn again after a login or logout: the toast follows it.
  const home = bar ?? document.body
  if (el.parentElement !== home) home.appendChild(el)
  if (bar) {
    // Up to the bar's first button (the language button, wider in one language than in the other).
    const lefts = [...bar.querySelectorAll("button, a")].map(b => b.getBoundingClientRect().left)
    const right = bar.getBoundingClientRect().right
    el.style.right = lefts.length ? `${Math.ceil(right - Math.min(...lefts)) + 6}px` : ""
  }
  el.textContent = message
  el.className = "show"
  clearTimeout(toastTimer)
  toastTimer = setTimeout(() => el!.classList.remove("show"), TOAST_MS)
}

/** "Saved" plus whether it will sync now or later. */
export function savedToast(what: string, online: boolean): void {
  toast(`${what} · ${online ? t("sync.savedNow") : t("sync.offlineSaved")}`)
}

export function Loading(props: { label?: string; fraction?: number }) {
  return (
    <div class="loading" role="status" aria-live="polite">
      {props.fraction != null && (
        <div class="bar">
          <i style={{ width: `${Math.round(props.fraction * 100)}%` }} />
        </div>
      )}
      <p>{props.label ?? t("app.loading")}</p>
    </div>
  )
}

export function linkTo(path: string) {
  return (e: Event) => {
    e.preventDefault()
    go(path)
  }
}
