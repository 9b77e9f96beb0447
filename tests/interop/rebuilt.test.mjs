// A list the server rebuilt (DESIGN §9: an erasure rebuilds the inboxes and indexes that
// showed what it erased, as fresh histories) and a real automerge-repo phone that still
// holds the old one. Before, the server went on writing the list as its own actor, so
// its next change reused a sequence number of its old changes; the phone's next sync
// message held both, Automerge refused it whole, and the server closed the phone's
// connection each time it came back: the phone could sync nothing any more. Now the
// rebuilt list has an author of its own, the phone is told to drop its copy (the PWA
// does: web/src/data/store.ts), and its other documents keep syncing.
import { after, test } from "node:test"
import assert from "node:assert/strict"
import { serverKind, startLinli, TEST_NOW } from "./servers.mjs"
import { acknowledged, api, cleanup, client, connected, eventually, rejections, servers, step, withTimeout } from "./clients.mjs"

after(cleanup)

const USERS = {
  adam: { password: "adam-password-1", role: "admin", grids: [] },
  alice: { password: "alice-password-1", role: "coordinator" },
  bob: { password: "bob-password-1", role: "volunteer" },
}

test("a phone holding a list the server rebuilt is told to drop it, and goes on syncing", { timeout: 90_000, skip: serverKind() !== "linli" && "Linli's erasure" }, async () => {
  const server = await startLinli({ users: USERS })
  servers.push(server)
  try {
    const id = u => server.userId(u)
    const A = client("rebuilt-alice", server.url("alice"))
    const V = client("rebuilt-bob", server.url("bob"))
    await Promise.all([connected(A), connected(V)])
    const household = room =>
      A.create({ kind: "household", schema: 1, grid: "g1", building: "7", unit: "1", room, phone: "", notes: "", members: [] })
    const delivery = h =>
      A.create({
        kind: "task", schema: 1, grid: "g1", household: h.documentId, category: "food", items: [], priority: "high",
        due: TEST_NOW + 3_600_000, contactless: true, assignee: id("bob"), status: "assigned", failure_reason: null,
        log: [], created_by: id("alice"), created_at: TEST_NOW,
      })
    const [gone, kept] = [household("101"), household("102")]
    const [goneTask, keptTask] = [delivery(gone), delivery(kept)]
    await acknowledged(A, [gone, kept, goneTask, keptTask], "the households and deliveries")
    const me = await api(server, "bob", "/api/me")
    const inbox = await withTimeout("bob's inbox", V.find(me.inbox))
    const told = rejections(inbox)
    await eventually("both deliveries in bob's inbox", () => assert.equal(Object.keys(inbox.doc().docs).length, 2))

    step("an admin erases one household: bob's inbox is rebuilt without its delivery")
    const res = await fetch(`${server.httpBase}/api/households/${gone.documentId}/erase`, {
      method: "POST", headers: { authorization: `Bearer ${server.token("adam")}` },
    })
    assert.equal(res.status, 200, await res.text())

    step("the server writes the rebuilt list again: a new delivery for bob")
    const later = delivery(kept)
    await acknowledged(A, [later], "the new delivery")
    // (The old copy merges both histories: which `docs` map it shows is Automerge's pick,
    // so it may keep showing the old rows. That is why the phone is to drop it.)

    step("the old phone's other documents still sync")
    const task = await withTimeout("bob finds the kept delivery", V.find(keptTask.url))
    task.change(d => {
      d.log.push({ at: TEST_NOW + 60_000, by: id("bob"), from: "assigned", to: "accepted", note: "" })
      d.status = "accepted"
    })
    await acknowledged(V, [task], "bob's acceptance")
    await eventually("alice to see it", () => assert.equal(keptTask.doc().status, "accepted"))
    assert.ok(!server.logs.some(l => /sync message rejected|duplicate seq/.test(l)), "a sync message was rejected")
    await eventually("bob's phone to be told its inbox is out of date", () =>
      assert.match(told[0]?.reason ?? "", /rebuilt this list/))

    step("a phone without the old copy gets the rebuilt list")
    const V2 = client("rebuilt-bob-2", server.url("bob"))
    await connected(V2)
    const fresh = await withTimeout("bob's inbox on a new phone", V2.find(me.inbox))
    await eventually("the fresh copy to list the kept deliveries only", () =>
      assert.deepEqual(Object.keys(fresh.doc().docs).sort(), [keptTask.documentId, later.documentId].sort()))
    assert.ok(!JSON.stringify(fresh.doc()).includes(goneTask.documentId), "the erased delivery is still listed")
  } catch (e) {
    server.dumpLogs()
    throw e
  }
})
