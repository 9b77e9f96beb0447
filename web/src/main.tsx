import { render } from "preact"
import { loadWasm } from "./boot/wasm"
import { registerServiceWorker } from "./boot/sw"
import { App } from "./data/app"
import { lang, setLang, t } from "./i18n"
import { Root } from "./ui/App"
import "./styles.css"

performance.mark("linli:start")
setLang(lang())
let wasmReady!: () => void
const app = new App({ ready: new Promise<void>(r => (wasmReady = r)) })
app.prepare()
const mount = document.getElementById("app")!
const splash = document.getElementById("splash")
const bar = document.getElementById("splash-bar")
const text = document.getElementById("splash-text")

let wasm = 0
const draw = () => render(<Root app={app} wasm={wasm} />, mount)

// Without a session the login screen needs no Automerge; with one, the list shows from
// the phone's snapshot at once. Only a first start after login waits for the WASM, with
// progress on screen.
draw()
splash?.remove()

loadWasm(f => {
  wasm = f
  if (bar) bar.style.width = `${Math.round(f * 100)}%`
  if (text) text.textContent = t("app.loadingEngine", { pct: Math.round(f * 100) })
  draw()
})
  .then(() => {
    performance.mark("linli:wasm")
    wasm = 1
    wasmReady()
    draw()
    registerServiceWorker()
  })
  .catch(e => {
    console.error("Linli failed to start", e)
    mount.insertAdjacentHTML("afterbegin", `<div class="banner bad">${t("common.error", { msg: String(e) })}</div>`)
  })

void app.boot()

// For the end-to-end test and debugging: the controller (no secrets beyond what the
// page already holds).
;(window as unknown as { linli: App }).linli = app
