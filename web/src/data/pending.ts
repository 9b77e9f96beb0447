import { getJSON, setJSON, type KV } from "./kv"

/**
 * Which documents hold local changes the server has not yet confirmed. Persisted, so the
 * "N changes waiting" count survives a reload with no network.
 *
 * A document becomes pending when the phone changes it, and stops being pending when the
 * server's last known heads for it equal the phone's heads (the server acknowledges a
 * change only once it is on disk, DESIGN §2), when the server refused the change and the
 * phone went back to the server's copy, or when the server no longer lets this user read
 * the document (a delivery just completed closes the volunteer's access).
 */
export class PendingTracker {
  private readonly key: string
  private map: Record<string, number>

  constructor(
    private readonly kv: KV,
    userId: string,
  ) {
    this.key = `linli:${userId}:pending`
    this.map = getJSON<Record<string, number>>(kv, this.key) ?? {}
  }

  mark(id: string, at: number): void {
    if (this.map[id] != null) return
    this.map = { ...this.map, [id]: at }
    setJSON(this.kv, this.key, this.map)
  }

  clear(id: string): boolean {
    if (this.map[id] == null) return false
    const { [id]: _gone, ...rest } = this.map
    this.map = rest
    setJSON(this.kv, this.key, this.map)
    return true
  }

  /** Forgets every entry (logout: their work is kept aside first). */
  reset(): void {
    this.map = {}
    this.kv.remove(this.key)
  }

  has(id: string): boolean {
    return this.map[id] != null
  }

  ids(): string[] {
    return Object.keys(this.map)
  }

  get count(): number {
    return Object.keys(this.map).length
  }
}

/** Whether two sets of heads are the same (order does not matter). */
export function sameHeads(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  if (!a || !b || a.length !== b.length) return false
  const s = new Set(a)
  return b.every(h => s.has(h))
}
