/**
 * Hash routes (`#/task/<id>`), so the server serves one `index.html` and the service
 * worker's navigation fallback covers every screen offline.
 */
import { useEffect, useState } from "preact/hooks"

export interface Route {
  name: string
  id?: string
  query: URLSearchParams
}

export function parse(hash: string): Route {
  const raw = hash.replace(/^#\/?/, "")
  const [path, qs = ""] = raw.split("?")
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent)
  const query = new URLSearchParams(qs)
  if (parts.length === 0) return { name: "home", query }
  if (parts[0] === "new") return { name: `new-${parts[1] ?? ""}`, query }
  return { name: parts[0], id: parts[1], query }
}

export function go(path: string, replace = false): void {
  const hash = `#/${path.replace(/^\//, "")}`
  if (replace) history.replaceState(null, "", hash)
  else location.hash = hash
  if (replace) window.dispatchEvent(new HashChangeEvent("hashchange"))
  window.scrollTo(0, 0)
}

export function back(fallback = ""): void {
  if (history.length > 1) history.back()
  else go(fallback, true)
}

export function useRoute(): Route {
  const [first] = useState(() => location.hash)
  const [route, setRoute] = useState(() => parse(first))
  useEffect(() => {
    const on = () => setRoute(parse(location.hash))
    window.addEventListener("hashchange", on)
    // The hash may have changed between the first render and now (a link opened while
    // the app was starting): that hashchange was missed.
    if (location.hash !== first) on()
    return () => window.removeEventListener("hashchange", on)
  }, [])
  return route
}
