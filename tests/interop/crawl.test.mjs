// The need-to-know crawl (DESIGN §9, issue "Need to know"): real automerge-repo clients
// plant distinctive values in one household's documents, as each role would write them
// (a coordinator registers the household, a delivery and an observation episode; the
// volunteer checks in; the medic writes a note). Then a fresh phone of each role logs in,
// starts from `GET /api/me` and every API answer that role gets, and follows every
// document id it finds in every document it can obtain, and in every API answer, plus
// every id of the fixture, as a curious user who learnt them would. Each planted value is
// looked for in everything that phone received, in every state of each document's
// history (not only the current one), and in every API answer and export.
//
// A value found where the table of DESIGN §9 does not allow it is a leak. The leaks that
// the documents' current shape still causes are listed in KNOWN_LEAKS, each with the
// split that will end it (docs/need-to-know.md); the test fails on any other leak, and
// also when a listed one is gone, so the list stays exactly what is true. Controls: each
// role must find what its work needs, so a crawl that reaches nothing cannot pass.
import { after, test } from "node:test"
import assert from "node:assert/strict"
import * as Automerge from "@automerge/automerge"
import { encodeHeads, isValidDocumentId } from "@automerge/automerge-repo"
import { serverKind, startLinli, TEST_NOW } from "./servers.mjs"
import { acknowledged, cleanup, client, connected, eventually, rejections, servers, step, withTimeout } from "./clients.mjs"

after(cleanup)

const USERS = {
  adam: { password: "adam-password-1", role: "admin", grids: [] },
  alice: { password: "alice-password-1", role: "coordinator" },
  dora: { password: "dora-password-1", role: "medic" },
  bob: { password: "bob-password-1", role: "volunteer" },
  eve: { password: "eve-password-1", role: "volunteer" },
}

/** The planted values, by field class of DESIGN §9, and how each is recognised in JSON or CSV. */
const MARKERS = {
  address: /PLANT-ROOM/,
  phone: /13900007731|139 0000 7731/,
  access_notes: /PLANT-ACCESS-NOTE/,
  person_name: /PLANT-PERSON/,
  other_name: /PLANT-OTHER-MEMBER/,
  age: /"age":|年龄/,
  care_flag: /elderly_alone|独居老人/,
  task_medicine: /PLANT-MED-TASK/,
  other_medicine: /PLANT-MED-OTHER/,
  reason: /returnee|返回人员/,
  temperature: /38\.37|38\.4(?!\d)/,
  symptom: /jaundice|黄疸/,
  checkin_note: /PLANT-CHECKIN-NOTE/,
  medical_note: /PLANT-MEDICAL-NOTE/,
}
const ALL = Object.keys(MARKERS)
const READINGS = ["temperature", "symptom", "checkin_note"]
const without = (...gone) => ALL.filter(m => !gone.includes(m))

/**
 * DESIGN §9 per user, while the work is open: what each may see (`allowed`) and what
 * their work needs them to find (`needs`, the crawl's controls).
 */
const OPEN = {
  adam: { allowed: without(...READINGS, "medical_note"), needs: without(...READINGS, "medical_note") },
  alice: { allowed: without(...READINGS, "medical_note"), needs: without(...READINGS, "medical_note") },
  dora: { allowed: ALL, needs: [...READINGS, "medical_note", "reason", "person_name", "address"] },
  bob: {
    allowed: ["address", "phone", "access_notes", "person_name", "task_medicine", ...READINGS],
    needs: ["address", "phone", "access_notes", "person_name", "task_medicine", ...READINGS],
  },
  eve: { allowed: [], needs: [] },
}
/** Once the delivery is cancelled and the episode closed. */
const CLOSED = {
  dora: { allowed: without("address", "phone", "access_notes"), needs: [...READINGS, "medical_note", "reason"] },
  bob: { allowed: [], needs: [] },
}

/**
 * Leaks today's document shapes still cause (issue "Need to know", left for the next
 * split; docs/need-to-know.md, "What schema 3 does not split yet"), as `user channel`.
 */
const KNOWN_LEAKS = {
  // The volunteer receives the whole household (every member, ages, care flags and
  // medicines) and the whole episode (with the reason and the person's age).
  "bob phone": ["other_name", "age", "care_flag", "other_medicine", "reason"],
}

const today = "2026-03-16" // TEST_CLOCK's local date

/** Every document id in a JSON or CSV text: bare ids and automerge: URLs. */
function idsIn(text) {
  return (text.match(/[1-9A-HJ-NP-Za-km-z]{20,40}/g) ?? []).filter(s => isValidDocumentId(s))
}

/** A document's every state: after each change of its history, and now, as JSON. */
function everyState(doc) {
  const states = [JSON.stringify(doc)]
  for (const change of Automerge.getAllChanges(doc)) {
    states.push(JSON.stringify(Automerge.view(doc, [Automerge.decodeChange(change).hash])))
  }
  return states
}

/** `GET path` as `user`: the body of a 200 answer, else null. */
async function answer(server, user, path) {
  const res = await fetch(`${server.httpBase}${path}`, { headers: { authorization: `Bearer ${server.token(user)}` } })
  const text = await res.text()
  return res.status === 200 ? text : null
}

const PURPOSE = encodeURIComponent("need-to-know crawl")
const API_PATHS = [
  "/api/me", "/api/grids", "/api/grids/g1/dashboard", "/api/grids/g1/people", "/api/stats/daily?grid=g1",
  "/api/alerts", "/api/alerts?status=all", "/api/users", "/api/audit", "/api/quarantine",
  ...["tasks", "episodes", "households"].map(e => `/api/export/${e}.csv?purpose=${PURPOSE}`),
]

/**
 * What a fresh phone of `user` can obtain: every API answer, then every document it can
 * find, following the ids in all of them (and `extraIds`). Returns the texts by channel.
 */
async function crawl(server, user, extraIds) {
  const api = []
  for (const path of API_PATHS) {
    const text = await answer(server, user, path)
    if (text !== null) api.push({ where: `GET ${path}`, text })
  }
  const repo = client(`crawl-${user}`, server.url(user))
  await connected(repo)
  const queue = [...extraIds, ...api.flatMap(a => idsIn(a.text))]
  const seen = new Set()
  const docs = []
  while (queue.length > 0) {
    const id = queue.shift()
    if (seen.has(id)) continue
    seen.add(id)
    let handle
    try {
      handle = await withTimeout(`${user} asks for ${id}`, repo.find(`automerge:${id}`))
    } catch (e) {
      if (/unavailable/i.test(e.message)) continue
      throw e
    }
    // Whole: the server's last sync message to this phone carries these heads.
    await eventually(`${user} to have all of ${id}`, () =>
      assert.deepEqual(encodeHeads(repo.serverHeads[id] ?? []).sort(), [...handle.heads()].sort()))
    const states = everyState(handle.doc())
    docs.push({ where: `document ${id} (${handle.doc().kind})`, text: states.join("\n") })
    queue.push(...states.flatMap(idsIn))
  }
  // (shutdown() would throw for the handles that stayed unavailable; cleanup() ends it.)
  repo.networkSubsystem.disconnect()
  return { phone: docs, api }
}

/** The markers found in `texts`, each with where it was found first. */
function found(texts) {
  const out = {}
  for (const [marker, re] of Object.entries(MARKERS)) {
    for (const t of texts) {
      const m = re.exec(t.text)
      if (!m) continue
      out[marker] = `${t.where}: …${t.text.slice(Math.max(0, m.index - 60), m.index + 40)}…`
      break
    }
  }
  return out
}

/**
 * Checks one crawl against the table and the leaks still `known` (by `user channel`):
 * returns the leaks as `user channel: marker (where)`, and the needs it did not find.
 */
function judge(user, table, got, known) {
  const leaks = []
  const reached = new Set()
  for (const channel of ["phone", "api"]) {
    const hits = found(got[channel])
    for (const [marker, where] of Object.entries(hits)) {
      reached.add(marker)
      const excused = known[`${user} ${channel}`] ?? []
      if (!table.allowed.includes(marker) && !excused.includes(marker)) leaks.push(`${user} ${channel}: ${marker} (${where})`)
    }
    for (const marker of known[`${user} ${channel}`] ?? []) {
      if (!hits[marker]) leaks.push(`${user} ${channel}: ${marker} no longer leaks: remove it from KNOWN_LEAKS`)
    }
  }
  const missing = table.needs.filter(m => !reached.has(m))
  return { leaks, missing }
}

test("need to know: each role's phone and API answers hold only what DESIGN §9 allows", { timeout: 180_000, skip: serverKind() !== "linli" && "Linli's roles" }, async () => {
  const server = await startLinli({ users: USERS })
  servers.push(server)
  try {
    const id = u => server.userId(u)
    step("plant: the coordinator registers a household, a delivery and an episode")
    const A = client("plant-alice", server.url("alice"))
    const V = client("plant-bob", server.url("bob"))
    const M = client("plant-dora", server.url("dora"))
    await Promise.all([connected(A), connected(V), connected(M)])
    const hh = A.create({
      kind: "household", schema: 1, grid: "g1", building: "7", unit: "1", room: "PLANT-ROOM",
      phone: "13900007731", notes: "PLANT-ACCESS-NOTE",
      members: [
        { name: "PLANT-PERSON", age: 77, flags: ["elderly_alone"], medicines: ["PLANT-MED-TASK", "PLANT-MED-OTHER"] },
        { name: "PLANT-OTHER-MEMBER", age: 12, flags: [], medicines: [] },
      ],
    })
    const task = A.create({
      kind: "task", schema: 1, grid: "g1", household: hh.documentId, category: "medicine",
      items: [{ name: "PLANT-MED-TASK", qty: 1, unit: "盒" }], priority: "high", due: TEST_NOW + 3_600_000,
      contactless: true, assignee: id("bob"), status: "assigned", failure_reason: null, log: [],
      created_by: id("alice"), created_at: TEST_NOW,
    })
    const episode = A.create({
      kind: "episode", schema: 3, grid: "g1", household: hh.documentId,
      person: { name: "PLANT-PERSON", age: 77 }, reason: "returnee", start: today, end: "2026-03-29", slots: 1,
      assignee: id("bob"), status: "active", closed_at: null, readings: null, medical: null, erased: false,
    })
    const refused = [hh, task, episode].map(rejections)
    await acknowledged(A, [hh, task, episode], "the household, the delivery and the episode")
    await eventually("the server to link the episode's medical record and readings", () => {
      assert.equal(typeof episode.doc().medical, "string")
      assert.equal(typeof episode.doc().readings, "string")
    })

    step("plant: the volunteer checks in (in the episode's readings), the medic writes a note")
    const checkin = await withTimeout("bob finds the readings", V.find(`automerge:${episode.doc().readings}`))
    refused.push(rejections(checkin))
    checkin.change(d => {
      d.checkins[`${today}/0`] = {
        temp_c: 38.37, symptoms: ["jaundice"], method: "visit", note: "PLANT-CHECKIN-NOTE", by: id("bob"), at: TEST_NOW,
      }
    })
    const record = await withTimeout("dora finds the medical record", M.find(`automerge:${episode.doc().medical}`))
    refused.push(rejections(record))
    record.change(d => {
      d.notes.push({ at: TEST_NOW, by: id("dora"), text: "PLANT-MEDICAL-NOTE" })
    })
    await acknowledged(V, [checkin], "the check-in")
    await acknowledged(M, [record], "the medical note")
    assert.deepEqual(refused.flat(), [], "a planting change was refused")
    const fixture = [hh.documentId, task.documentId, episode.documentId, record.documentId, checkin.documentId]
    // The server's summaries (indexes, inboxes, alerts) follow the changes it accepted.
    await eventually("the fever alert", async () => assert.match(await answer(server, "alice", "/api/alerts") ?? "", /fever/))

    const problems = []
    const crawlAll = async (table, phase, known) => {
      for (const [user, expected] of Object.entries(table)) {
        step(`crawl ${phase}: ${user}`)
        const got = await crawl(server, user, fixture)
        const { leaks, missing } = judge(user, expected, got, known)
        problems.push(...leaks.map(l => `${phase}: ${l}`))
        problems.push(...missing.map(m => `${phase}: ${user} did not find ${m}, which their work needs`))
        step(`crawl ${phase}: ${user}: ${got.phone.length} documents, ${got.api.length} API answers`)
      }
    }
    await crawlAll(OPEN, "open", KNOWN_LEAKS)

    step("the work ends: the delivery is cancelled, the episode closed")
    const [aTask, aEpisode] = [task, episode]
    aTask.change(d => {
      d.log.push({ at: TEST_NOW + 60_000, by: id("alice"), from: "assigned", to: "cancelled", note: "" })
      d.status = "cancelled"
    })
    aEpisode.change(d => {
      d.status = "closed"
      d.closed_at = TEST_NOW + 60_000
    })
    await acknowledged(A, [aTask, aEpisode], "the cancellation and the closing")
    assert.deepEqual(refused.flat(), [], "a closing change was refused")
    // The server's summaries follow: the projector revokes the volunteer's and the medics'
    // access to the household before it writes the grid index.
    const me = JSON.parse(await answer(server, "alice", "/api/me"))
    const index = await withTimeout("alice finds the grid index", A.find(me.grids.find(g => g.id === "g1").index))
    await eventually("the grid index to list the work as ended", () => {
      assert.equal(index.doc().docs?.[task.documentId]?.status, "cancelled")
      assert.equal(index.doc().docs?.[episode.documentId]?.status, "closed")
    })
    // Nothing is excused once the work is over.
    await crawlAll(CLOSED, "closed", {})

    assert.deepEqual(problems, [], `need-to-know violations:\n${problems.join("\n")}`)
  } catch (e) {
    server.dumpLogs()
    throw e
  }
})
