/**
 * Work the server did not take, kept aside on the phone (issue 8, item 5): the phone never
 * deletes its unsynced changes on the server's word alone. Before the store drops a
 * refused document, or lets go of one the server stopped answering for, it saves the
 * phone's whole copy here — Automerge's `save()` bytes, with what it was, why, when, and
 * which changes the server had not taken — in an IndexedDB database of its own (the
 * documents' database belongs to automerge-repo's adapter). Entries stay until the user
 * deletes them; they can be exported as a JSON file for support to recover them
 * (`Automerge.load` of `document`).
 */
import { getChangesMetaSince, getHeads, save, type Doc } from "@automerge/automerge/slim"

/** Why: the server refused it; it left the user's reach unsynced; the user logged out
 * with it unsynced (put back and synced at their next login). */
export type ShelfCause = "rejected" | "unavailable" | "logout"

export interface ShelvedWork {
  id: string
  /** Bare DocumentId. */
  docId: string
  /** The document's kind ("task", "episode", "household"…), for the title. */
  kind: string
  cause: ShelfCause
  /** The row title of the work, e.g. "3-2-501 food" (may be empty). */
  title: string
  /** What the server said, verbatim (empty for `unavailable`). */
  reason: string
  /** When it was kept aside, ms. */
  at: number
  /** The change hashes the server named as refused. */
  refused: string[]
  /** The phone's heads, and the server's last known heads (null: it never had any). */
  heads: string[]
  serverHeads: string[] | null
  /** Hashes of the phone's changes that the server's heads do not include. */
  unsynced: string[]
  /** `Automerge.save()` of the phone's copy when it was kept aside. */
  bytes: Uint8Array
  /** Acknowledged by the user: no longer shown as a notice (still listed in Settings). */
  seen: boolean
}

/** What the screens see of an entry: everything but the bytes. */
export type ShelvedSummary = Omit<ShelvedWork, "bytes"> & { size: number }

export function summaryOf(w: ShelvedWork): ShelvedSummary {
  const { bytes, ...rest } = w
  return { ...rest, size: bytes.byteLength }
}

/** Where the kept-aside work lives: IndexedDB on the phone ([`IndexedDBShelf`]). */
export interface Shelf {
  /** Durable when it resolves. */
  put(w: ShelvedWork): Promise<void>
  all(): Promise<ShelvedWork[]>
  remove(id: string): Promise<void>
  /** Deletes the whole shelf (its database), when it holds nothing. */
  destroy?(): Promise<void>
}

/** Most hashes kept from one refusal message (the server's list is not trusted to be small). */
const MAX_REFUSED_HASHES = 1000

/**
 * The entry for the phone's copy `doc`: its bytes, and which of its changes the server's
 * `serverHeads` (Automerge hex hashes, null if unknown) do not include.
 */
export function shelvedFrom(
  doc: Doc<unknown>,
  meta: Pick<ShelvedWork, "docId" | "kind" | "cause" | "title" | "reason" | "at"> & { refused: unknown; serverHeads: string[] | null },
): ShelvedWork {
  const heads = getHeads(doc)
  let unsynced: string[]
  try {
    unsynced = getChangesMetaSince(doc, meta.serverHeads ?? []).map(c => c.hash)
  } catch {
    // The server's heads are not all in the phone's copy: count every change as unsynced.
    unsynced = getChangesMetaSince(doc, []).map(c => c.hash)
  }
  const refused = (Array.isArray(meta.refused) ? meta.refused : [])
    .filter((h): h is string => typeof h === "string" && h.length <= 128)
    .slice(0, MAX_REFUSED_HASHES)
  return {
    ...meta,
    id: `${meta.docId}:${meta.at}:${heads.join(",").slice(0, 16)}`,
    refused,
    heads,
    unsynced,
    bytes: save(doc),
    seen: false,
  }
}

const STORE = "work"

/** A [`Shelf`] in an IndexedDB database of its own, one per user. */
export class IndexedDBShelf implements Shelf {
  private db: Promise<IDBDatabase> | null = null

  constructor(readonly name: string) {}

  private open(): Promise<IDBDatabase> {
    if (!this.db) {
      const opening = new Promise<IDBDatabase>((ok, fail) => {
        const req = indexedDB.open(this.name, 1)
        req.onupgradeneeded = () => req.result.createObjectStore(STORE, { keyPath: "id" })
        req.onsuccess = () => ok(req.result)
        req.onerror = () => fail(req.error)
        req.onblocked = () => fail(new Error(`${this.name} is blocked by another tab`))
      })
      // A failed open is tried again next time.
      opening.catch(() => (this.db = null))
      this.db = opening
    }
    return this.db
  }

  private async run<T>(mode: IDBTransactionMode, op: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
    const db = await this.open()
    return new Promise<T>((ok, fail) => {
      // "strict": the browser has flushed the entry to disk when the transaction completes.
      const tx = db.transaction(STORE, mode, { durability: "strict" })
      const req = op(tx.objectStore(STORE))
      tx.oncomplete = () => ok(req.result)
      tx.onabort = tx.onerror = () => fail(tx.error ?? req.error ?? new Error("IndexedDB transaction failed"))
    })
  }

  async put(w: ShelvedWork): Promise<void> {
    await this.run("readwrite", s => s.put(w))
  }

  async all(): Promise<ShelvedWork[]> {
    const rows = await this.run("readonly", s => s.getAll() as IDBRequest<ShelvedWork[]>)
    return rows.map(r => ({ ...r, bytes: new Uint8Array(r.bytes) }))
  }

  async remove(id: string): Promise<void> {
    await this.run("readwrite", s => s.delete(id))
  }

  async close(): Promise<void> {
    const db = this.db
    this.db = null
    ;(await db?.catch(() => null))?.close()
  }

  async destroy(): Promise<void> {
    await this.close()
    await deleteDatabase(this.name)
  }
}

/**
 * Deletes an IndexedDB database. Resolves once it is gone, or, if another tab still holds
 * it open ("blocked"), after `blockedMs`: the browser deletes it once that tab lets go.
 */
export function deleteDatabase(name: string, blockedMs = 3000): Promise<void> {
  return new Promise<void>((ok, fail) => {
    const req = indexedDB.deleteDatabase(name)
    req.onsuccess = () => ok()
    req.onerror = () => fail(req.error)
    req.onblocked = () => setTimeout(ok, blockedMs)
  })
}

function base64(bytes: Uint8Array): string {
  let s = ""
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  return btoa(s)
}

export const EXPORT_FORMAT = "linli-kept-aside/1"

/**
 * The export file (JSON) of kept-aside work: for each entry its metadata and the phone's
 * copy of the document as base64 (`Automerge.load(base64-decoded document)` gives it back).
 */
export function exportShelved(entries: ShelvedWork[], user: { id: string; username: string }, now: number): string {
  return JSON.stringify(
    {
      format: EXPORT_FORMAT,
      exported_at: new Date(now).toISOString(),
      user: { id: user.id, username: user.username },
      entries: entries.map(w => ({
        doc: `automerge:${w.docId}`,
        kind: w.kind,
        cause: w.cause,
        title: w.title,
        reason: w.reason,
        at: new Date(w.at).toISOString(),
        refused_changes: w.refused,
        heads: w.heads,
        server_heads: w.serverHeads,
        unsynced_changes: w.unsynced,
        document: base64(w.bytes),
      })),
    },
    null,
    2,
  )
}
