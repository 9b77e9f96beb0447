// Seeds many deliveries for one volunteer through the real sync protocol, as a
// coordinator's automerge-repo client would (for the budget script: "200 documents
// stored locally").
import { Repo } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"

async function login(base, username, password) {
  const res = await fetch(`${base}/api/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username, password }),
  })
  if (!res.ok) throw new Error(`login ${username}: ${res.status}`)
  return res.json()
}

/**
 * Creates `n` deliveries in the coordinator's first grid, assigned to `volunteer`, spread
 * over the households the grid index knows; resolves when the server lists them all.
 */
export async function seedDeliveries(linliUrl, { n = 200, coord, volunteer }) {
  const c = await login(linliUrl, coord.username, coord.password)
  const v = await login(linliUrl, volunteer.username, volunteer.password)
  const me = await (await fetch(`${linliUrl}/api/me`, { headers: { authorization: `Bearer ${c.token}` } })).json()
  const grid = me.grids[0]
  const adapter = new WebSocketClientAdapter(`${linliUrl.replace(/^http/, "ws")}/sync?token=${encodeURIComponent(c.token)}`)
  const repo = new Repo({ network: [adapter], sharePolicy: async () => true })
  try {
    const index = await repo.find(grid.index)
    const households = [...new Set(Object.values(index.doc().docs).map(r => r.household).filter(Boolean))]
    if (households.length === 0) throw new Error("no households in the grid index")
    const now = Date.now()
    const ids = []
    const cats = ["food", "medicine", "supplies"]
    const pris = ["urgent", "high", "normal"]
    for (let i = 0; i < n; i++) {
      const h = repo.create({
        kind: "task",
        schema: 1,
        grid: grid.id,
        household: households[i % households.length],
        category: cats[i % 3],
        items: [{ name: ["大米", "胰岛素", "口罩"][i % 3], qty: 1 + (i % 5), unit: ["kg", "支", "盒"][i % 3] }],
        priority: pris[i % 3],
        due: now + (i + 1) * 600_000,
        contactless: true,
        assignee: v.user.id,
        status: "assigned",
        failure_reason: null,
        log: [{ at: now, by: c.user.id, from: "new", to: "assigned", note: "" }],
        created_by: c.user.id,
        created_at: now,
      })
      ids.push(h.documentId)
    }
    const until = Date.now() + 180_000
    while (Date.now() < until) {
      const listed = index.doc().docs
      if (ids.every(id => listed[id])) return { ids, volunteer: v.user.id }
      await new Promise(r => setTimeout(r, 500))
    }
    throw new Error("the server did not list every seeded delivery in time")
  } finally {
    await repo.shutdown().catch(() => undefined)
  }
}
