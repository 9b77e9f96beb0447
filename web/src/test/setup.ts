// Vitest runs in Node: IndexedDB comes from fake-indexeddb, and importing the full
// Automerge entry point initialises its WASM (the app itself uses the slim entry and
// loads the WASM with progress, src/boot/wasm.ts).
import "fake-indexeddb/auto"
import "@automerge/automerge"
import { vi } from "vitest"

// No unit test depends on the wall clock: `Date` starts at one fixed instant on every run
// and moves on with real time (so timeouts and durations still work). LINLI_TEST_NOW
// (RFC 3339) starts it elsewhere, to check a suite at another hour:
//   LINLI_TEST_NOW=2026-03-16T23:30:00+08:00 npm run test:unit
export const TEST_NOW = Date.parse(process.env.LINLI_TEST_NOW ?? "2026-03-16T10:00:00+08:00")
if (Number.isNaN(TEST_NOW)) throw new Error(`LINLI_TEST_NOW is not an RFC 3339 instant: ${process.env.LINLI_TEST_NOW}`)
vi.useFakeTimers({ toFake: ["Date"], now: TEST_NOW, shouldAdvanceTime: true })
