/** A small synchronous key-value store: `localStorage` in the browser, memory in tests. */
export interface KV {
  get(key: string): string | null
  set(key: string, value: string): void
  remove(key: string): void
  /** Every key (to forget one user's entries at logout). */
  keys(): string[]
}

export function memoryKV(): KV {
  const m = new Map<string, string>()
  return {
    get: k => m.get(k) ?? null,
    set: (k, v) => void m.set(k, v),
    remove: k => void m.delete(k),
    keys: () => [...m.keys()],
  }
}

/** `localStorage`, falling back to memory where it is unavailable (private mode, tests). */
export function browserKV(): KV {
  try {
    const ls = globalThis.localStorage
    const probe = "linli:probe"
    ls.setItem(probe, "1")
    ls.removeItem(probe)
    return {
      get: k => ls.getItem(k),
      set: (k, v) => {
        try {
          ls.setItem(k, v)
        } catch {
          // Quota: the value is a cache; the documents themselves live in IndexedDB.
        }
      },
      remove: k => ls.removeItem(k),
      keys: () => Array.from({ length: ls.length }, (_, i) => ls.key(i)).filter((k): k is string => k != null),
    }
  } catch {
    return memoryKV()
  }
}

export function getJSON<T>(kv: KV, key: string): T | null {
  const raw = kv.get(key)
  if (raw == null) return null
  try {
    return JSON.parse(raw) as T
  } catch {
    return null
  }
}

export function setJSON(kv: KV, key: string, value: unknown): void {
  kv.set(key, JSON.stringify(value))
}
