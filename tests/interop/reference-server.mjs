// Reference automerge-repo sync server: the same setup as the official
// automerge/automerge-repo-sync-server (src/server.js), with plain node:http in
// place of express (it only served a "running" page). The interop test runs
// against it to prove the test itself is right; the benchmark compares Linli with it.
//
//   node reference-server.mjs --port N --data DIR
//
// Prints `listening on http://127.0.0.1:PORT` once listening (--port 0 picks a free port).
import fs from "node:fs"
import http from "node:http"
import os from "node:os"
import { parseArgs } from "node:util"
import { WebSocketServer } from "ws"
import { Repo } from "@automerge/automerge-repo"
import { NodeWSServerAdapter } from "@automerge/automerge-repo-network-websocket"
import { NodeFSStorageAdapter } from "@automerge/automerge-repo-storage-nodefs"

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "3030" },
    data: { type: "string", default: ".amrg" },
  },
})
const dir = values.data
fs.mkdirSync(dir, { recursive: true })

const socket = new WebSocketServer({ noServer: true })
const repo = new Repo({
  network: [new NodeWSServerAdapter(socket)],
  storage: new NodeFSStorageAdapter(dir),
  peerId: `storage-server-${os.hostname()}`,
  // A server does not share generously: it only syncs documents that peers
  // already know about and ask for by id.
  sharePolicy: async () => false,
})

const server = http.createServer((req, res) => {
  res.end("👍 @automerge/automerge-repo-sync-server is running")
})
server.on("upgrade", (request, sock, head) => {
  socket.handleUpgrade(request, sock, head, ws => {
    socket.emit("connection", ws, request)
  })
})
// One deviation from the official server: listen only once the adapter has attached
// its "connection" listener (it does so after the repo has read its storage id). The
// official server listens at once, and a client accepted in that window is ignored
// until the 5 s keep-alive drops it.
while (socket.listenerCount("connection") === 0) await new Promise(r => setTimeout(r, 5))
server.listen(Number(values.port), "127.0.0.1", () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`)
})

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, async () => {
    socket.close()
    server.close()
    await repo.flush().catch(() => {})
    process.exit(0)
  })
}
