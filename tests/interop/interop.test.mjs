// Interop test: unmodified automerge-repo 2.5.6 clients (Repo + WebSocketClientAdapter,
// each with its own NodeFSStorageAdapter, i.e. real offline-first clients) sync through
// the server under test (INTEROP_SERVER=linli|reference, see servers.mjs): offline
// edits, concurrent edits, a kill -9 and restart of the server, convergence, and
// "unavailable" for a document nobody has. Every document is a valid Linli document
// (Linli refuses anything outside its schema). Against Linli only: a coordinator assigns
// a delivery, the volunteer learns of it through the inbox the server writes, delivers
// it offline, and the coordinator's copy, dashboard and grid index show it delivered.
import { after, test } from "node:test"
import assert from "node:assert/strict"
import WebSocket from "ws"
import { encodeHeads, generateAutomergeUrl, splice } from "@automerge/automerge-repo"
import { serverKind, startLinli, startServer, TEST_NOW } from "./servers.mjs"
import {
  acknowledged, api, cleanup, client, connected, eventually, household, member, plain, rejections, servers,
  sortedHeads, step, withTimeout,
} from "./clients.mjs"

after(cleanup)

test("automerge-repo clients sync through the server, offline and across a kill -9", { timeout: 90_000 }, async () => {
  const server = await startServer()
  servers.push(server)
  try {
    // a. A creates and edits two households; B (the grid's other coordinator) finds them
    //    by URL and sees A's content.
    step("a")
    const A = client("alice", server.url("alice"))
    const B = client("carol", server.url("carol"))
    await Promise.all([connected(A), connected(B)])
    const serverPeer = A.peers[0]
    assert.equal(typeof A.peerMetadataByPeerId[serverPeer]?.storageId, "string", "server advertises a storageId")

    const h1 = A.create(household("501", { notes: "Linli notes" }))
    h1.change(d => {
      splice(d, ["notes"], 0, 0, "邻里 ")
      d.members.push({ name: "王秀英", age: 78, flags: ["elderly_alone"], medicines: [] })
      d.phone = "13800000000"
    })
    const h2 = A.create(household("502"))
    h2.change(d => {
      d.members.push(member("a-1"))
      d.phone = "13700000002"
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
    assert.deepEqual(plain(b1.doc()), household("501", {
      notes: "邻里 Linli notes", phone: "13800000000",
      members: [{ name: "王秀英", age: 78, flags: ["elderly_alone"], medicines: [] }],
    }))
    assert.deepEqual(plain(b2.doc()), household("502", { phone: "13700000002", members: [member("a-1")] }))

    // b. B goes offline and edits both documents; A edits them concurrently: the same
    //    text, the same lists (members, and one member's medicines), different fields.
    step("b")
    B.networkSubsystem.disconnect()
    await eventually("B to be offline", () => assert.equal(B.peers.length, 0))
    b1.change(d => {
      d.phone = "13900000000"
      d.members.push(member("b1"))
      d.members[0].medicines.push("insulin")
      splice(d, ["notes"], d.notes.length, 0, " (B)")
    })
    b2.change(d => {
      d.members.push(member("b-1"))
      d.notes = "B was here"
    })
    h1.change(d => {
      d.unit = "二单元"
      d.members.push(member("a3"))
      d.members[0].medicines.push("aspirin")
      splice(d, ["notes"], 0, 0, "【重要】")
    })
    h2.change(d => {
      d.members.push(member("a-2"))
      d.phone = "13700000003"
    })

    // c. Once the server has acknowledged A's edits (its sync reply carries A's
    //    heads) and a fresh client C gets them from it, kill -9 and restart it.
    step("c")
    await acknowledged(A, [h1, h2], "A's edits")
    const C = client("alice-2", server.url("alice"))
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
    const D = client("carol-2", server.url("carol"))
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
    const names = list => list.map(m => m.name)
    const doc1 = plain(h1.doc())
    assert.equal(doc1.notes, "【重要】邻里 Linli notes (B)")
    assert.equal(doc1.unit, "二单元")
    assert.equal(doc1.phone, "13900000000")
    assert.deepEqual(names(doc1.members.slice(0, 1)), ["王秀英"])
    assert.deepEqual(names(doc1.members.slice(1)).sort(), ["a3", "b1"])
    assert.deepEqual([...doc1.members[0].medicines].sort(), ["aspirin", "insulin"])
    const doc2 = plain(h2.doc())
    assert.equal(doc2.phone, "13700000003")
    assert.equal(doc2.notes, "B was here")
    assert.deepEqual(names(doc2.members.slice(0, 1)), ["a-1"])
    assert.deepEqual(names(doc2.members.slice(1)).sort(), ["a-2", "b-1"])

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
    const E = client("alice-3", server.url("alice"))
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

// The server keeps at most one document in memory and evicts idle ones after a second,
// so every edit below lands on a document that left memory while both clients stayed
// connected. The server then has to pick up each client's sync where it stopped (its
// parked subscription asks the client to restart it), and still acknowledge every edit.
test("connected clients keep syncing and being acknowledged while documents leave memory", { timeout: 90_000, skip: serverKind() !== "linli" && "Linli's eviction settings" }, async () => {
  const server = await startLinli({ flags: ["--max-docs-in-memory", "1", "--doc-idle-secs", "1"] })
  servers.push(server)
  try {
    const A = client("alice-ev", server.url("alice"))
    const B = client("carol-ev", server.url("carol"))
    await Promise.all([connected(A), connected(B)])
    const ours = ["701", "702", "703"].map(room => A.create(household(room)))
    await acknowledged(A, ours, "three new households")
    const theirs = []
    for (const h of ours) theirs.push(await withTimeout("B finds a household", B.find(h.url)))
    for (let round = 0; round < 4; round++) {
      step(`eviction round ${round}`)
      // Both edit different documents, then leave them idle long enough to be evicted.
      ours[round % 3].change(d => d.members.push(member(`a${round}`)))
      theirs[(round + 1) % 3].change(d => d.members.push(member(`b${round}`)))
      await acknowledged(A, ours, `A's edit of round ${round}`)
      await acknowledged(B, theirs, `B's edit of round ${round}`)
      await new Promise(r => setTimeout(r, 1500))
    }
    await eventually("A and B to converge", () => {
      for (let i = 0; i < 3; i++) assert.deepEqual(sortedHeads(theirs[i]), sortedHeads(ours[i]))
    })
    const names = ours.flatMap(h => h.doc().members.map(m => m.name)).sort()
    assert.deepEqual(names, ["a0", "a1", "a2", "a3", "b0", "b1", "b2", "b3"])
    const metrics = await (await fetch(`${server.httpBase}/metrics`)).text()
    const evictions = Number(/^linli_evictions_total (\d+)/m.exec(metrics)?.[1] ?? 0)
    assert.ok(evictions >= 4, `documents were evicted ${evictions} times`)
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

test("a volunteer delivers an assigned task offline; the coordinator sees it delivered", { timeout: 90_000, skip: serverKind() !== "linli" && "Linli's inboxes, grid indexes and dashboard" }, async t => {
  const server = await startServer()
  servers.push(server)
  try {
    const [aliceId, bobId] = [server.userId("alice"), server.userId("bob")]
    const bobMe = await api(server, "bob", "/api/me")
    const aliceMe = await api(server, "alice", "/api/me")
    assert.match(bobMe.inbox, /^automerge:/)
    assert.ok(bobMe.grids.some(g => g.id === "g1"), JSON.stringify(bobMe))
    assert.ok(bobMe.grids.find(g => g.id === "g1").index == null, "a volunteer gets no grid index")
    const indexUrl = aliceMe.grids.find(g => g.id === "g1")?.index
    assert.match(indexUrl ?? "", /^automerge:/)

    // The coordinator registers a household and assigns a delivery to bob.
    step("task: create")
    const A = client("alice", server.url("alice"))
    const V = client("bob", server.url("bob"))
    await Promise.all([connected(A), connected(V)])
    const hh = A.create(household("601", { members: [{ name: "李建国", age: 81, flags: ["elderly_alone", "chronic"], medicines: ["insulin"] }] }))
    const now = TEST_NOW
    const task = A.create({
      kind: "task", schema: 1, grid: "g1", household: hh.documentId,
      category: "food", items: [{ name: "大米", qty: 5, unit: "kg" }],
      priority: "normal", due: now + 3_600_000, contactless: true,
      assignee: bobId, status: "assigned", failure_reason: null, log: [],
      created_by: aliceId, created_at: now,
    })
    const refusedToA = [rejections(hh), rejections(task)]
    await acknowledged(A, [hh, task], "the household and the task")
    assert.deepEqual(refusedToA, [[], []])

    // The volunteer's phone opens its inbox and finds the task listed, then the task and
    // its household.
    step("task: inbox")
    const inbox = await withTimeout("bob finds his inbox", V.find(bobMe.inbox))
    const row = await eventually("the task in bob's inbox", () => {
      const r = inbox.doc().docs?.[task.documentId]
      assert.ok(r, `not listed: ${JSON.stringify(plain(inbox.doc()))}`)
      return plain(r)
    })
    assert.equal(row.kind, "task")
    assert.equal(row.status, "assigned")
    assert.equal(row.assignee, bobId)
    const vTask = await withTimeout("bob finds the task", V.find(`automerge:${task.documentId}`))
    const refusedToV = rejections(vTask)
    assert.deepEqual(plain(vTask.doc()), plain(task.doc()))
    const vHousehold = await withTimeout("bob finds the household", V.find(`automerge:${vTask.doc().household}`))
    assert.equal(vHousehold.doc().room, "601")

    // Offline: accepted → picked up → delivered, each move logged and signed by bob.
    step("task: offline delivery")
    V.networkSubsystem.disconnect()
    await eventually("bob to be offline", () => assert.equal(V.peers.length, 0))
    for (const [i, to] of ["accepted", "picked_up", "delivered"].entries()) {
      vTask.change(d => {
        d.log.push({ at: TEST_NOW + (i + 1) * 60_000, by: bobId, from: d.status, to, note: "" })
        d.status = to
      })
    }
    const delivered = plain(vTask.doc())
    assert.deepEqual(delivered.log.map(e => [e.from, e.to]), [["assigned", "accepted"], ["accepted", "picked_up"], ["picked_up", "delivered"]])

    // Back online: the coordinator's copy shows it delivered, exactly as bob wrote it.
    step("task: reconnect")
    V.networkSubsystem.reconnect()
    await connected(V)
    await eventually("alice to see the delivery", () => assert.equal(task.doc().status, "delivered"))
    assert.deepEqual(refusedToV, [], "bob's delivery was refused")
    assert.deepEqual(plain(task.doc()), delivered)

    // The dashboard counts it, the grid index lists it delivered, and bob's inbox too.
    step("task: dashboard and indexes")
    await eventually("the dashboard to count the delivery", async () => {
      const dash = await api(server, "alice", "/api/grids/g1/dashboard")
      assert.ok((dash.tasks?.delivered ?? 0) >= 1, JSON.stringify(dash))
    })
    const index = await withTimeout("alice finds the grid index", A.find(indexUrl))
    await eventually("the grid index to list the task delivered", () => {
      const r = index.doc().docs?.[task.documentId]
      assert.equal(r?.status, "delivered", JSON.stringify(plain(index.doc())))
      assert.equal(r.kind, "task")
      assert.equal(r.assignee, bobId)
    })
    await eventually("bob's inbox to list the task delivered", () =>
      assert.equal(inbox.doc().docs?.[task.documentId]?.status, "delivered"))

    // DESIGN §2: a change is acknowledged by a sync reply carrying its heads. The change
    // that delivers the task also ends bob's right to read it; the server sends him
    // `doc-unavailable` without acknowledging it first (see tests/tests/domain_flow.rs,
    // the_change_that_closes_a_task_is_acknowledged).
    await t.test("bob's phone gets the delivery acknowledged", () =>
      eventually("the server to acknowledge bob's delivery", () =>
        assert.deepEqual(encodeHeads(V.serverHeads[vTask.documentId] ?? []).sort(), sortedHeads(vTask)), 3000))
  } catch (e) {
    server.dumpLogs()
    throw e
  }
})

test("presence: handle.broadcast() between two real clients reaches the other and disconnects nobody", { timeout: 60_000 }, async () => {
  const server = await startServer()
  servers.push(server)
  try {
    const A = client("alice-presence", server.url("alice"))
    const B = client("carol-presence", server.url("carol"))
    await Promise.all([connected(A), connected(B)])
    const a = A.create(household("601"))
    await acknowledged(A, [a], "the household")
    const b = await withTimeout("B finds the household", B.find(a.url))
    await eventually("B to have the household", () => assert.deepEqual(sortedHeads(b), sortedHeads(a)))
    const heard = repo => {
      const got = []
      const handle = repo === A ? a : b
      handle.on("ephemeral-message", ({ message }) => got.push(message))
      return got
    }
    const atA = heard(A)
    const atB = heard(B)
    // Heartbeats, as Presence sends them: several from each side, in turn. Before the fix
    // the first one reaching B made B pass it back under A's peer id, and the server
    // closed B's connection as `wrong_sender`.
    for (let i = 0; i < 3; i++) {
      a.broadcast({ type: "heartbeat", from: "alice", i })
      await eventually(`B to hear heartbeat ${i}`, () => assert.ok(atB.some(m => m.from === "alice" && m.i === i)))
      b.broadcast({ type: "heartbeat", from: "carol", i })
      await eventually(`A to hear heartbeat ${i}`, () => assert.ok(atA.some(m => m.from === "carol" && m.i === i)))
    }
    // Nobody was disconnected, and nobody heard their own message back or a repeat.
    assert.equal(A.peers.length, 1, "A is still connected")
    assert.equal(B.peers.length, 1, "B is still connected")
    assert.deepEqual(atA.map(m => m.from), ["carol", "carol", "carol"])
    assert.deepEqual(atB.map(m => m.from), ["alice", "alice", "alice"])
    assert.ok(!server.logs.some(l => /wrong_sender/.test(l)), "no connection was closed as wrong_sender")
    // And edits still sync both ways after all that.
    b.change(d => { d.notes = "carol was here" })
    await eventually("A to see B's edit", () => assert.equal(a.doc().notes, "carol was here"))
    // Stop both before their storage folders are removed (a throttled save could race it).
    for (const repo of [A, B]) await repo.shutdown()
  } catch (e) {
    server.dumpLogs()
    throw e
  }
})

test("a task synced before the household it names waits for it, then is accepted", { timeout: 60_000, skip: serverKind() !== "linli" && "Linli checks references between documents" }, async () => {
  const server = await startServer()
  servers.push(server)
  try {
    // Two phones of the grid's coordinators: one made the household offline, the other the
    // task for it. The task's phone is online first.
    const H = client("alice-households", server.url("alice"))
    await connected(H)
    H.networkSubsystem.disconnect()
    await eventually("H to be offline", () => assert.equal(H.peers.length, 0))
    const hh = H.create(household("701"))
    const W = client("carol-tasks", server.url("carol"))
    await connected(W)
    const task = W.create({
      kind: "task", schema: 1, grid: "g1", household: hh.documentId,
      category: "medicine", items: [{ name: "胰岛素", qty: 1, unit: "盒" }],
      priority: "urgent", due: TEST_NOW + 3_600_000, contactless: false,
      assignee: null, status: "new", failure_reason: null, log: [],
      created_by: server.userId("carol"), created_at: TEST_NOW,
    })
    const refused = rejections(task)
    // For a second and a half: neither merged nor refused.
    await new Promise(r => setTimeout(r, 1500))
    assert.notDeepEqual(encodeHeads(W.serverHeads[task.documentId] ?? []).sort(), sortedHeads(task), "merged before its household")
    assert.deepEqual(refused, [], "refused while its household was on its way")
    // The household arrives: the task goes in, without being refused.
    H.networkSubsystem.reconnect()
    await connected(H)
    await acknowledged(H, [hh], "the household")
    await acknowledged(W, [task], "the task, once its household is in")
    assert.deepEqual(refused, [])
    for (const repo of [H, W]) await repo.shutdown()
  } catch (e) {
    server.dumpLogs()
    throw e
  }
})
