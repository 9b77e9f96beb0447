/**
 * Two languages: Chinese (zh-CN) by default, English switchable. Every string the app
 * shows is a key of `zh` (the reference dictionary); `en` must have exactly the same keys
 * (checked by the compiler and by i18n.test.ts). `{name}` in a string is a parameter.
 */
import { en } from "./en"
import { zh, type Key } from "./zh"

export type { Key }
export type Lang = "zh-CN" | "en"

const DICTS: Record<Lang, Record<Key, string>> = { "zh-CN": zh, en }
const STORE_KEY = "linli:lang"

function initial(): Lang {
  try {
    const saved = globalThis.localStorage?.getItem(STORE_KEY)
    if (saved === "en" || saved === "zh-CN") return saved
  } catch {
    // no storage: default
  }
  return "zh-CN"
}

let current: Lang = initial()
const listeners = new Set<(l: Lang) => void>()

export function lang(): Lang {
  return current
}

export function setLang(l: Lang): void {
  current = l
  try {
    globalThis.localStorage?.setItem(STORE_KEY, l)
  } catch {
    // not kept: fine
  }
  if (typeof document !== "undefined") document.documentElement.lang = l
  listeners.forEach(f => f(l))
}

export function onLang(f: (l: Lang) => void): () => void {
  listeners.add(f)
  return () => listeners.delete(f)
}

/** The string for `key` in the current language, with `{param}`s filled in. */
export function t(key: Key, params?: Record<string, string | number>): string {
  const s = DICTS[current][key] ?? zh[key] ?? key
  if (!params) return s
  return s.replace(/\{(\w+)\}/g, (m, p: string) => (params[p] != null ? String(params[p]) : m))
}

/** `t` for keys built at run time (status names, symptoms…); falls back to the raw value. */
export function tr(prefix: string, value: string | null | undefined): string {
  if (value == null || value === "") return ""
  const key = `${prefix}.${value}` as Key
  return key in zh ? t(key) : value
}

export function locale(): string {
  return current === "en" ? "en-GB" : "zh-CN"
}

// Intl formatters are expensive to build: one per language, reused.
const formatters = new Map<string, Intl.DateTimeFormat>()
function formatter(kind: "time" | "datetime"): Intl.DateTimeFormat {
  const key = `${current}:${kind}`
  let f = formatters.get(key)
  if (!f) {
    f = new Intl.DateTimeFormat(
      locale(),
      kind === "time"
        ? { hour: "2-digit", minute: "2-digit", hour12: false }
        : { month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit", hour12: false },
    )
    formatters.set(key, f)
  }
  return f
}

/** Time of day, e.g. 14:05. */
export function fmtTime(ms: number): string {
  return formatter("time").format(ms)
}

/** Date and time, short. */
export function fmtDateTime(ms: number): string {
  return formatter("datetime").format(ms)
}

export const dictionaries = DICTS
