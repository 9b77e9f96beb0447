// Starts the sync server under test for the interop tests, with one interface for
// two implementations:
//   startLinli({dataDir, port, flags}) the real `linli` binary (LINLI_BIN or ../../target/debug/linli),
//                                    with extra `serve` flags
//   startReference({dataDir, port})  reference-server.mjs (the official JS sync server setup)
//   startServer(opts)                picks one by INTEROP_SERVER=linli|reference (default linli)
// Each returns { kind, port, httpBase, url(user), token(user), userId(user), kill9(), stop(), restart(),
// dumpLogs() }. Linli gets grid g1 with USERS: alice and carol coordinate it, bob volunteers in it
// (or the `users` given: {name: {password, role, grids = ["g1"]}}).
// Linli's clock stands still at TEST_CLOCK (`--test-clock`), and the documents the tests
// write use the same instant (TEST_NOW), so no test depends on the time of day.
// Child output is kept in memory and printed by dumpLogs() (the tests call it on
// failure), or streamed to stderr as it comes with INTEROP_VERBOSE=1.
// With LINLI_TEST_ENGINE=postgres each Linli data directory gets a PostgreSQL database of
// its own on the cluster at LINLI_TEST_POSTGRES (as tests/src/postgres.rs does for the
// Rust tests); `make test` starts that cluster and runs these tests a second time so.
import { spawn, spawnSync } from "node:child_process"
import fs from "node:fs"
import os from "node:os"
import path from "node:path"
import readline from "node:readline"
import { fileURLToPath } from "node:url"

const here = path.dirname(fileURLToPath(import.meta.url))
const VERBOSE = process.env.INTEROP_VERBOSE === "1"
const START_TIMEOUT_MS = 30_000
const LISTENING = /listening on http:\/\/(127\.0\.0\.1:(\d+))/

/** The instant Linli's clock stands at in these tests (as in the Rust black-box tests). */
export const TEST_CLOCK = "2026-03-16T10:00:00+08:00"
/** TEST_CLOCK in ms since the epoch: the time the tests' documents are written at. */
export const TEST_NOW = Date.parse(TEST_CLOCK)

export const USERS = {
  alice: { password: "alice-password-1", role: "coordinator" },
  carol: { password: "carol-password-1", role: "coordinator" },
  bob: { password: "bob-password-1", role: "volunteer" },
}

// Every child we started, killed when this process exits whatever the reason.
const children = new Set()
process.on("exit", () => children.forEach(c => c.kill("SIGKILL")))
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => process.exit(130))
}

export function serverKind() {
  const kind = process.env.INTEROP_SERVER ?? "linli"
  if (kind !== "linli" && kind !== "reference") {
    throw new Error(`INTEROP_SERVER must be linli or reference, not ${kind}`)
  }
  return kind
}

export function startServer(opts = {}) {
  return serverKind() === "linli" ? startLinli(opts) : startReference(opts)
}

export function linliBin() {
  const bin = process.env.LINLI_BIN ?? path.resolve(here, "../../target/debug/linli")
  if (!fs.existsSync(bin)) {
    throw new Error(`linli binary not found at ${bin}: build it (cargo build -p linli-server) or set LINLI_BIN`)
  }
  return bin
}

function freshDir(dataDir, prefix) {
  const dir = dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  fs.mkdirSync(dir, { recursive: true })
  return { dir, fresh: fs.readdirSync(dir).length === 0 }
}

/** Spawns `cmd args` and resolves once it prints the listening line. */
function spawnListening(name, cmd, args, logs, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env: { NO_COLOR: "1", ...process.env, ...env } })
    children.add(child)
    const exited = new Promise(r => child.once("exit", (code, sig) => r({ code, sig })))
    child.exited = exited
    exited.then(() => children.delete(child))
    const log = stream => line => {
      logs.push(`[${name} ${stream}] ${line}`)
      if (logs.length > 5000) logs.shift()
      if (VERBOSE) process.stderr.write(`[${name} ${stream}] ${line}\n`)
    }
    readline.createInterface({ input: child.stderr }).on("line", log("stderr"))
    let done = false
    const timer = setTimeout(() => {
      fail(new Error(`${name} did not print a listening line within ${START_TIMEOUT_MS} ms`))
      child.kill("SIGKILL")
    }, START_TIMEOUT_MS)
    const fail = err => {
      if (done) return
      done = true
      clearTimeout(timer)
      reject(new Error(`${err.message}\n${logs.slice(-50).join("\n")}`))
    }
    readline.createInterface({ input: child.stdout }).on("line", line => {
      log("stdout")(line)
      const m = LISTENING.exec(line)
      if (m && !done) {
        done = true
        clearTimeout(timer)
        resolve({ child, port: Number(m[2]) })
      }
    })
    child.once("error", fail)
    exited.then(({ code, sig }) => fail(new Error(`${name} exited (code ${code}, signal ${sig}) before listening`)))
  })
}

/** Common shape of a running server; `launch(port)` starts one process. */
async function managed({ kind, launch, port, afterStart }) {
  const logs = []
  let child
  ;({ child, port } = await launch(port ?? 0, logs))
  const server = {
    kind,
    get port() { return port },
    get httpBase() { return `http://127.0.0.1:${port}` },
    logs,
    dumpLogs() {
      if (!VERBOSE) process.stderr.write(`--- ${kind} server log ---\n${logs.join("\n")}\n--- end ---\n`)
    },
    async kill9() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
      await child.exited
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill("SIGTERM")
      const t = setTimeout(() => child.kill("SIGKILL"), 10_000)
      await child.exited
      clearTimeout(t)
    },
    async restart() {
      await server.stop()
      // The old process's port may take a moment to be free again: retry a few times.
      for (let attempt = 1; ; attempt++) {
        try {
          ;({ child } = await launch(port, logs))
          return server
        } catch (e) {
          if (attempt >= 5) throw e
          await new Promise(r => setTimeout(r, 200 * attempt))
        }
      }
    },
  }
  if (afterStart) await afterStart(server)
  return server
}

export async function startReference({ dataDir, port } = {}) {
  const { dir } = freshDir(dataDir, "interop-ref-")
  const script = path.join(here, "reference-server.mjs")
  const server = await managed({
    kind: "reference",
    port,
    launch: (p, logs) =>
      spawnListening("reference", process.execPath, [script, "--port", String(p), "--data", dir], logs),
  })
  const kill9 = server.kill9
  server.dataDir = dir
  server.url = () => `ws://127.0.0.1:${server.port}`
  server.token = () => undefined
  server.userId = () => undefined
  // The reference server has no durability contract: it acknowledges a change before
  // its storage write, which it throttles to 100 ms. Give that write time to land so
  // the test checks the protocol, not the reference server's durability.
  server.kill9 = async () => {
    await new Promise(r => setTimeout(r, 500))
    await kill9()
  }
  return server
}

function runCli(bin, dir, args, input, env = {}) {
  const r = spawnSync(bin, ["--data", dir, ...args], {
    input, encoding: "utf8", timeout: 30_000, env: { ...process.env, ...env },
  })
  if (r.status !== 0) {
    throw new Error(`linli ${args.join(" ")} failed (status ${r.status} ${r.error ?? ""}):\n${r.stdout}\n${r.stderr}`)
  }
}

export async function login(httpBase, username, password) {
  const res = await fetch(`${httpBase}/api/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username, password }),
  })
  const text = await res.text()
  if (res.status !== 200) throw new Error(`login ${username}: HTTP ${res.status}: ${text}`)
  const body = JSON.parse(text)
  if (typeof body.token !== "string") throw new Error(`login ${username}: no token in ${text}`)
  return body
}

/** The psql of the tests' PostgreSQL (LINLI_TEST_PG_BIN, else the cluster script's). */
function psqlBin() {
  if (process.env.LINLI_TEST_PG_BIN) return path.join(process.env.LINLI_TEST_PG_BIN, "psql")
  const r = spawnSync("bash", [path.resolve(here, "../postgres/cluster.sh"), "bin"], { encoding: "utf8" })
  if (r.status !== 0) throw new Error(`no PostgreSQL: ${r.stderr}`)
  return path.join(r.stdout.trim(), "psql")
}

/**
 * The environment that puts Linli's store for `dir` in PostgreSQL when
 * LINLI_TEST_ENGINE=postgres: a database made for the directory the first time, kept in
 * `dir/database-url` so a restart finds it. Empty for sled.
 */
function engineEnv(dir) {
  const file = path.join(dir, "database-url")
  if (fs.existsSync(file)) return { LINLI_DATABASE_URL: fs.readFileSync(file, "utf8").trim() }
  if (process.env.LINLI_TEST_ENGINE !== "postgres") return {}
  const admin = process.env.LINLI_TEST_POSTGRES
  if (!admin) throw new Error("LINLI_TEST_ENGINE=postgres needs LINLI_TEST_POSTGRES (make test sets it)")
  const name = `linli_js_${process.pid}_${Math.random().toString(16).slice(2, 10)}`
  const r = spawnSync(psqlBin(), ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", admin, "-c", `CREATE DATABASE ${name}`], {
    encoding: "utf8",
  })
  if (r.status !== 0) throw new Error(`CREATE DATABASE failed: ${r.stderr}`)
  const url = new URL(admin)
  url.pathname = `/${name}`
  fs.writeFileSync(file, url.toString())
  return { LINLI_DATABASE_URL: url.toString() }
}

export async function startLinli({ dataDir, port, flags = [], users = USERS } = {}) {
  const bin = linliBin()
  const { dir, fresh } = freshDir(dataDir, "interop-linli-")
  const env = engineEnv(dir)
  if (fresh) {
    runCli(bin, dir, ["grid", "add", "g1", "--name", "一网格"], undefined, env)
    for (const [username, u] of Object.entries(users)) {
      const grids = (u.grids ?? ["g1"]).flatMap(g => ["--grid", g])
      runCli(bin, dir, ["user", "add", "--username", username, "--role", u.role, ...grids], `${u.password}\n`, env)
    }
  }
  const tokens = {}
  const ids = {}
  const server = await managed({
    kind: "linli",
    port,
    launch: (p, logs) =>
      spawnListening("linli", bin, ["--data", dir, "serve", "--bind", `127.0.0.1:${p}`, "--test-clock", TEST_CLOCK, ...flags], logs, env),
    afterStart: async s => {
      try {
        for (const [username, u] of Object.entries(users)) {
          const body = await login(s.httpBase, username, u.password)
          tokens[username] = body.token
          ids[username] = body.user?.id
        }
      } catch (e) {
        s.dumpLogs()
        await s.kill9()
        throw e
      }
    },
  })
  server.dataDir = dir
  server.token = user => {
    if (!tokens[user]) throw new Error(`no token for user ${user}`)
    return tokens[user]
  }
  server.userId = user => {
    if (!ids[user]) throw new Error(`no user id for user ${user}`)
    return ids[user]
  }
  server.url = user => `ws://127.0.0.1:${server.port}/sync?token=${encodeURIComponent(server.token(user))}`
  return server
}
