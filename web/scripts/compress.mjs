// Writes precompressed copies of the built files (`x.br`, `x.gz` beside `x`), which the
// Linli server serves when the request's Accept-Encoding allows (DESIGN §6). Automerge's
// WASM is ~3.6 MB raw: brotli at quality 11 brings it near 0.8 MB.
import { brotliCompressSync, constants, gzipSync } from "node:zlib"
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const DIST = fileURLToPath(new URL("../dist/", import.meta.url))
const COMPRESSIBLE = /\.(js|mjs|css|html|wasm|svg|json|webmanifest|txt)$/

function* files(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) yield* files(p)
    else if (COMPRESSIBLE.test(name)) yield p
  }
}

let raw = 0
let br = 0
let gz = 0
for (const file of files(DIST)) {
  const data = readFileSync(file)
  if (data.length < 512) continue
  const b = brotliCompressSync(data, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: 11,
      [constants.BROTLI_PARAM_SIZE_HINT]: data.length,
      [constants.BROTLI_PARAM_MODE]: file.endsWith(".wasm") ? constants.BROTLI_MODE_GENERIC : constants.BROTLI_MODE_TEXT,
    },
  })
  const g = gzipSync(data, { level: 9 })
  writeFileSync(`${file}.br`, b)
  writeFileSync(`${file}.gz`, g)
  raw += data.length
  br += b.length
  gz += g.length
}
console.log(`precompressed: ${(raw / 1024).toFixed(0)} KiB raw → ${(br / 1024).toFixed(0)} KiB br, ${(gz / 1024).toFixed(0)} KiB gzip`)
