// What the interop tests share: real automerge-repo clients (Repo + WebSocketClientAdapter,
// each with its own NodeFSStorageAdapter), bounded waits, valid Linli documents, and the
// HTTP API. Each test file registers `after(cleanup)`.
import assert from "node:assert/strict"
import fs from "node:fs"
import os from "node:os"
import path from "node:path"
import { Repo, encodeHeads } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"
import { NodeFSStorageAdapter } from "@automerge/automerge-repo-storage-nodefs"

export const STEP_MS = 15_000 // bound of every wait: a broken server fails, never hangs

export const repos = []
export const servers = []

/** Shuts every client down and kills every server: each test file's `after` hook. */
export async function cleanup() {
  for (const repo of repos) {
    // shutdown() throws if the adapter is already disconnected, and flush() rejects
    // for unavailable handles: neither matters here.
    try {
      await repo.shutdown()
    } catch {}
  }
  for (const server of servers) await server.kill9()
  // A repo whose shutdown() threw may still be writing a sync state to its directory:
  // let those writes land, and ignore one that finds its directory gone.
  await new Promise(r => setTimeout(r, 300))
  process.on("unhandledRejection", e => {
    if (e?.code !== "ENOENT") throw e
  })
  for (const dir of [...tmpDirs, ...servers.map(s => s.dataDir)]) fs.rmSync(dir, { recursive: true, force: true })
  // After disconnect(), a client adapter may still fire a reconnect timer set when its
  // socket closed, and then retry forever: do not let that keep this process alive.
  setTimeout(() => process.exit(), 2000).unref()
}

const tmpDirs = []
export function tmp(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `interop-${prefix}-`))
  tmpDirs.push(dir)
  return dir
}

/** A client repo with its own on-disk storage, connected to `url`. */
export function client(name, url, storageDir = tmp(name)) {
  const adapter = new WebSocketClientAdapter(url, 500) // retry every 500 ms
  const repo = new Repo({ network: [adapter], storage: new NodeFSStorageAdapter(storageDir), peerId: `${name}-${process.pid}` })
  repo.label = name
  // Heads the server reported in its sync messages, per document: what it acknowledged.
  repo.serverHeads = {}
  repo.synchronizer.on("sync-state", ({ documentId, syncState }) => {
    if (syncState.theirHeads) repo.serverHeads[documentId] = syncState.theirHeads
  })
  repos.push(repo)
  return repo
}

const t0 = Date.now()
export function step(what) {
  if (process.env.INTEROP_VERBOSE === "1") process.stderr.write(`[test +${Date.now() - t0} ms] ${what}\n`)
}

/** Polls `check` (which throws while not yet true) until it passes, at most `ms`. */
export async function eventually(what, check, ms = STEP_MS) {
  const deadline = Date.now() + ms
  for (;;) {
    try {
      return await check()
    } catch (e) {
      if (Date.now() > deadline) {
        e.message = `timed out after ${ms} ms waiting for ${what}: ${e.message}`
        throw e
      }
    }
    await new Promise(r => setTimeout(r, 100))
  }
}

export function withTimeout(what, promise, ms = STEP_MS) {
  let timer
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)
    }),
  ]).finally(() => clearTimeout(timer))
}

export const connected = async repo => {
  await eventually(`${repo.label} to be connected`, () => assert.ok(repo.peers.length > 0, "no peer yet"))
  step(`${repo.label} connected`)
}

/** Waits until the server's sync messages to `repo` carry the heads of `handles`. */
export const acknowledged = (repo, handles, what) =>
  eventually(`the server to acknowledge ${what}`, () => {
    for (const h of handles) {
      assert.deepEqual(encodeHeads(repo.serverHeads[h.documentId] ?? []).sort(), sortedHeads(h))
    }
  })

export const plain = doc => JSON.parse(JSON.stringify(doc)) // Counter → number, text → string
export const sortedHeads = handle => [...handle.heads()].sort()

/** A valid household of grid g1 (Linli refuses documents outside its schema). */
export const household = (room, fields = {}) => ({
  kind: "household", schema: 1, grid: "g1", building: "3", unit: "2", room,
  phone: "", notes: "", members: [], ...fields,
})
export const member = (name, age = 40) => ({ name, age, flags: [], medicines: [] })

/** `GET path` of Linli's HTTP API as `user`. */
export async function api(server, user, path) {
  const res = await fetch(`${server.httpBase}${path}`, { headers: { authorization: `Bearer ${server.token(user)}` } })
  const text = await res.text()
  assert.equal(res.status, 200, `GET ${path} as ${user}: ${text}`)
  return JSON.parse(text)
}

/** Collects the `{"linli":"rejected"}` messages the server sends about `handle`. */
export function rejections(handle) {
  const got = []
  handle.on("ephemeral-message", ({ message }) => {
    if (message?.linli === "rejected") got.push(message)
  })
  return got
}
