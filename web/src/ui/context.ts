import { createContext } from "preact"
import { useContext, useEffect, useState } from "preact/hooks"
import type { App, AppState } from "../data/app"
import { onLang, type Lang, lang } from "../i18n"

export const AppContext = createContext<App | null>(null)

export function useApp(): App {
  const app = useContext(AppContext)
  if (!app) throw new Error("no app")
  return app
}

/** The app state; re-renders on every change. */
export function useAppState(): AppState {
  const app = useApp()
  const [s, set] = useState(app.state)
  useEffect(() => {
    set(app.state)
    return app.subscribe(set)
  }, [app])
  return s
}

export function useLang(): Lang {
  const [l, set] = useState(lang())
  useEffect(() => onLang(set), [])
  return l
}

/** Current time, ticking every `ms` (for due times and "last synced"). */
export function useNow(ms = 30_000): number {
  const [now, set] = useState(Date.now())
  useEffect(() => {
    const t = setInterval(() => set(Date.now()), ms)
    return () => clearInterval(t)
  }, [ms])
  return now
}

/** Asks the data layer to load this document first (a screen is waiting for it), and to
 * keep it on the phone while the screen shows it (closed work is not kept otherwise). */
export function usePriority(id: string, loaded: boolean): void {
  const app = useApp()
  const store = app.store
  useEffect(() => (id && store ? store.hold(id) : undefined), [store, id])
  // Shown once: no longer "new" on the volunteer's list.
  useEffect(() => void (id && store?.markOpened(id)), [store, id])
  useEffect(() => {
    if (!loaded && id) app.store?.prioritize(id)
  }, [app, id, loaded])
}
