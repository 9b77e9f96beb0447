// Interop test: unmodified automerge-repo 2.5.6 clients (Repo + WebSocketClientAdapter,
// each with its own NodeFSStorageAdapter, i.e. real offline-first clients) sync through
// the server under test (INTEROP_SERVER=linli|reference, see servers.mjs): offline
// edits, concurrent edits, a kill -9 and restart of the server, convergence, and
// "unavailable" for a document nobody has.
import { after, test } from "node:test"
import assert from "node:assert/strict"
import fs from "node:fs"
import os from "node:os"
import path from "node:path"
import WebSocket from "ws"
import { Counter, Repo, encodeHeads, generateAutomergeUrl, splice } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"
import { NodeFSStorageAdapter } from "@automerge/automerge-repo-storage-nodefs"
import { serverKind, startServer } from "./servers.mjs"

const STEP_MS = 15_000 // bound of every wait: a broken server fails, never hangs

const repos = []
const servers = []
after(async () => {
  for (const repo of repos) {
    // shutdown() throws if the adapter is already disconnected, and flush() rejects
    // for unavailable handles: neither matters here.
    try {
      await repo.shutdown()
    } catch {}
  }
  for (const server of servers) await server.kill9()
  for (const dir of [...tmpDirs, ...servers.map(s => s.dataDir)]) fs.rmSync(dir, { recursive: true, force: true })
  // After disconnect(), a client adapter may still fire a reconnect timer set when its
  // socket closed, and then retry forever: do not let that keep this process alive.
  setTimeout(() => process.exit(), 2000).unref()
})

const tmpDirs = []
function tmp(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `interop-${prefix}-`))
  tmpDirs.push(dir)
  return dir
}

/** A client repo with its own on-disk storage, connected to `url`. */
function client(name, url, storageDir = tmp(name)) {
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
function step(what) {
  if (process.env.INTEROP_VERBOSE === "1") process.stderr.write(`[test +${Date.now() - t0} ms] ${what}\n`)
}

/** Polls `check` (which throws while not yet true) until it passes, at most `ms`. */
async function eventually(what, check, ms = STEP_MS) {
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

function withTimeout(what, promise, ms = STEP_MS) {
  let timer
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)
    }),
  ]).finally(() => clearTimeout(timer))
}

const connected = async repo => {
  await eventually(`${repo.label} to be connected`, () => assert.ok(repo.peers.length > 0, "no peer yet"))
  step(`${repo.label} connected`)
}

/** Waits until the server's sync messages to `repo` carry the heads of `handles`. */
const acknowledged = (repo, handles, what) =>
  eventually(`the server to acknowledge ${what}`, () => {
    for (const h of handles) {
      assert.deepEqual(encodeHeads(repo.serverHeads[h.documentId] ?? []).sort(), sortedHeads(h))
    }
  })

const plain = doc => JSON.parse(JSON.stringify(doc)) // Counter → number, text → string
const sortedHeads = handle => [...handle.heads()].sort()

test("automerge-repo clients sync through the server, offline and across a kill -9", { timeout: 90_000 }, async () => {
  const server = await startServer()
  servers.push(server)
  try {
    // a. A creates and edits two documents; B finds them by URL and sees A's content.
    step("a")
    const A = client("alice", server.url("alice"))
    const B = client("bob", server.url("bob"))
    await Promise.all([connected(A), connected(B)])
    const serverPeer = A.peers[0]
    assert.equal(typeof A.peerMetadataByPeerId[serverPeer]?.storageId, "string", "server advertises a storageId")

    const h1 = A.create({ title: "Linli notes", items: ["a1"], count: new Counter(0) })
    h1.change(d => {
      splice(d, ["title"], 0, 0, "邻里 ")
      d.items.push("a2")
      d.count.increment(5)
    })
    const h2 = A.create({ name: "second doc", tasks: [], n: 1 })
    h2.change(d => {
      d.tasks.push("a-task-1")
      d.n = 2
    })
    // The server announces nothing and answers "unavailable" for what it lacks: B
    // may only look for the documents once the server has them.
    await acknowledged(A, [h1, h2], "the new documents")
    const b1 = await withTimeout("B finds doc 1", B.find(h1.url))
    const b2 = await withTimeout("B finds doc 2", B.find(h2.url))
    await eventually("B to see A's edits", () => {
      assert.deepEqual(sortedHeads(b1), sortedHeads(h1))
      assert.deepEqual(sortedHeads(b2), sortedHeads(h2))
    })
    assert.deepEqual(plain(b1.doc()), { title: "邻里 Linli notes", items: ["a1", "a2"], count: 5 })
    assert.deepEqual(plain(b2.doc()), { name: "second doc", tasks: ["a-task-1"], n: 2 })

    // b. B goes offline and edits both documents; A edits them concurrently.
    step("b")
    B.networkSubsystem.disconnect()
    await eventually("B to be offline", () => assert.equal(B.peers.length, 0))
    b1.change(d => {
      d.fromB = "offline edit"
      d.items.push("b1")
      d.count.increment(2)
      splice(d, ["title"], d.title.length, 0, " (B)")
    })
    b2.change(d => {
      d.tasks.push("b-task")
      d.doneByB = true
    })
    h1.change(d => {
      d.fromA = "online edit"
      d.items.push("a3")
      d.count.increment(10)
    })
    h2.change(d => {
      d.tasks.push("a-task-2")
      d.n = 3
    })

    // c. Once the server has acknowledged A's edits (its sync reply carries A's
    //    heads) and a fresh client C gets them from it, kill -9 and restart it.
    step("c")
    await acknowledged(A, [h1, h2], "A's edits")
    const C = client("carol", server.url("alice"))
    await connected(C)
    for (const h of [h1, h2]) {
      const c = await withTimeout("C finds a doc", C.find(h.url))
      await eventually("C to see A's edits", () => assert.deepEqual(sortedHeads(c), sortedHeads(h)))
    }
    await server.kill9()
    await server.restart()

    // d. B reconnects; A reconnects by itself. A, B and a fresh D converge.
    step("d")
    B.networkSubsystem.reconnect()
    const D = client("dave", server.url("bob"))
    await Promise.all([connected(A), connected(B), connected(D)])
    step("d: all connected")
    const d1 = await withTimeout("D finds doc 1", D.find(h1.url))
    const d2 = await withTimeout("D finds doc 2", D.find(h2.url))
    step("d: D found both")
    await eventually("A, B and D to converge", () => {
      for (const [a, b, d] of [[h1, b1, d1], [h2, b2, d2]]) {
        assert.deepEqual(sortedHeads(b), sortedHeads(a), "B vs A")
        assert.deepEqual(sortedHeads(d), sortedHeads(a), "D vs A")
      }
    }, 30_000)
    for (const [a, b, d] of [[h1, b1, d1], [h2, b2, d2]]) {
      assert.deepEqual(plain(b.doc()), plain(a.doc()))
      assert.deepEqual(plain(d.doc()), plain(a.doc()))
    }
    const doc1 = plain(h1.doc())
    assert.equal(doc1.title, "邻里 Linli notes (B)")
    assert.equal(doc1.fromA, "online edit")
    assert.equal(doc1.fromB, "offline edit")
    assert.equal(doc1.count, 17)
    assert.deepEqual(doc1.items.slice(0, 2), ["a1", "a2"])
    assert.deepEqual([...doc1.items.slice(2)].sort(), ["a3", "b1"])
    const doc2 = plain(h2.doc())
    assert.equal(doc2.n, 3)
    assert.equal(doc2.doneByB, true)
    assert.deepEqual(doc2.tasks.slice(0, 1), ["a-task-1"])
    assert.deepEqual([...doc2.tasks.slice(1)].sort(), ["a-task-2", "b-task"])

    // e. A document nobody ever created is "unavailable", promptly.
    step("e")
    const missing = generateAutomergeUrl()
    await assert.rejects(withTimeout("find of a never-created doc to settle", A.find(missing)), /unavailable/)

    // f. What the server acknowledged survives a kill -9 even when no client is
    //    left to push it again: all clients go offline, a fresh E reads from disk.
    step("f")
    await acknowledged(A, [h1, h2], "the merged heads")
    for (const repo of [A, B, C, D]) repo.networkSubsystem.disconnect()
    await server.kill9()
    await server.restart()
    const E = client("erin", server.url("alice"))
    await connected(E)
    for (const h of [h1, h2]) {
      const e = await withTimeout("E finds a doc after the restart", E.find(h.url))
      assert.deepEqual(sortedHeads(e), sortedHeads(h))
      assert.deepEqual(plain(e.doc()), plain(h.doc()))
    }
  } catch (e) {
    server.dumpLogs()
    throw e
  }
})

test("the WebSocket upgrade without a valid token is refused with 401", { skip: serverKind() !== "linli" && "only Linli authenticates" }, async () => {
  const server = await startServer()
  servers.push(server)
  const upgrade = url =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(url)
      ws.on("unexpected-response", (req, res) => {
        resolve(res.statusCode)
        req.destroy()
      })
      ws.on("open", () => {
        resolve(101)
        ws.close()
      })
      ws.on("error", e => (e.message.includes("Unexpected server response") ? undefined : reject(e)))
    })
  try {
    const base = `ws://127.0.0.1:${server.port}/sync`
    assert.equal(await withTimeout("no token", upgrade(base)), 401)
    assert.equal(await withTimeout("bad token", upgrade(`${base}?token=not-a-jwt`)), 401)
    assert.equal(await withTimeout("forged token", upgrade(`${base}?token=${server.token("alice").slice(0, -4)}AAAA`)), 401)
    assert.equal(await withTimeout("valid token", upgrade(server.url("alice"))), 101)
  } catch (e) {
    server.dumpLogs()
    throw e
  }
})
