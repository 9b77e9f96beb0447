import type { Chunk, StorageAdapterInterface, StorageKey } from "@automerge/automerge-repo/slim"

/** An in-memory storage adapter: gives a test "server" Repo a storage id, as the real
 * server has (the phone tracks what the server has confirmed by its storage id). */
export class MemStorage implements StorageAdapterInterface {
  private m = new Map<string, Uint8Array>()
  private k(key: StorageKey): string {
    return key.join("\u0000")
  }
  async load(key: StorageKey): Promise<Uint8Array | undefined> {
    return this.m.get(this.k(key))
  }
  async save(key: StorageKey, data: Uint8Array): Promise<void> {
    this.m.set(this.k(key), data)
  }
  async remove(key: StorageKey): Promise<void> {
    this.m.delete(this.k(key))
  }
  async loadRange(prefix: StorageKey): Promise<Chunk[]> {
    const p = this.k(prefix)
    return [...this.m.entries()]
      .filter(([k]) => k === p || k.startsWith(p + "\u0000"))
      .map(([k, data]) => ({ key: k.split("\u0000"), data }))
  }
  async removeRange(prefix: StorageKey): Promise<void> {
    const p = this.k(prefix)
    for (const k of [...this.m.keys()]) if (k === p || k.startsWith(p + "\u0000")) this.m.delete(k)
  }
}
