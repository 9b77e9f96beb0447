/**
 * Loads Automerge's WASM (~3.6 MB raw, ~1.1 MB compressed) with progress, so a first visit
 * on a slow network shows how far it has got. On a repeat visit it comes from the service
 * worker's precache in a moment.
 */
import { initializeWasm, isWasmInitialized } from "@automerge/automerge/slim"
import wasmUrl from "@automerge/automerge/automerge.wasm?url"

declare const __WASM_SIZE__: number

export async function loadWasm(onProgress: (fraction: number) => void): Promise<void> {
  if (isWasmInitialized()) return onProgress(1)
  const total = typeof __WASM_SIZE__ === "number" && __WASM_SIZE__ > 0 ? __WASM_SIZE__ : 3_600_000
  let res: Response
  try {
    res = await fetch(wasmUrl)
  } catch {
    // Let wasm-bindgen try (and report) on its own.
    await initializeWasm(wasmUrl)
    return onProgress(1)
  }
  if (!res.ok || !res.body || typeof TransformStream === "undefined") {
    await initializeWasm((res.ok ? res : wasmUrl) as never)
    return onProgress(1)
  }
  let loaded = 0
  let last = 0
  const counted = res.body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, ctl) {
        loaded += chunk.byteLength
        const f = Math.min(0.99, loaded / total)
        if (f - last >= 0.01) {
          last = f
          onProgress(f)
        }
        ctl.enqueue(chunk)
      },
    }),
  )
  // Streaming compilation needs the wasm content type on the Response.
  await initializeWasm(new Response(counted, { headers: { "content-type": "application/wasm" } }) as never)
  onProgress(1)
}
