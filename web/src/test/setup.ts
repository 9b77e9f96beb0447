// Vitest runs in Node: IndexedDB comes from fake-indexeddb, and importing the full
// Automerge entry point initialises its WASM (the app itself uses the slim entry and
// loads the WASM with progress, src/boot/wasm.ts).
import "fake-indexeddb/auto"
import "@automerge/automerge"
