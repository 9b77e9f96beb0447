// Draws the app icons (a white house on Linli red) as PNGs, with no image tools: a tiny
// rasteriser (4×4 supersampling) and a PNG encoder on Node's zlib. Run once with
// `npm run icons`; the PNGs are committed in public/icons/.
import { deflateSync } from "node:zlib"
import { mkdirSync, writeFileSync } from "node:fs"
import { fileURLToPath } from "node:url"

const OUT = fileURLToPath(new URL("../public/icons/", import.meta.url))
const RED = [0x9f, 0x1c, 0x1c]
const WHITE = [0xff, 0xff, 0xff]

const CRC_TABLE = new Uint32Array(256).map((_, n) => {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  return c >>> 0
})
function crc32(buf) {
  let c = 0xffffffff
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}
function chunk(type, data) {
  const len = Buffer.alloc(4)
  len.writeUInt32BE(data.length)
  const td = Buffer.concat([Buffer.from(type), data])
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(td))
  return Buffer.concat([len, td, crc])
}
function png(size, rgba) {
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(size, 0)
  ihdr.writeUInt32BE(size, 4)
  ihdr[8] = 8 // bit depth
  ihdr[9] = 6 // RGBA
  const raw = Buffer.alloc(size * (size * 4 + 1))
  for (let y = 0; y < size; y++) {
    raw[y * (size * 4 + 1)] = 0
    rgba.copy(raw, y * (size * 4 + 1) + 1, y * size * 4, (y + 1) * size * 4)
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(raw, { level: 9 })),
    chunk("IEND", Buffer.alloc(0)),
  ])
}

/** Shapes in unit coordinates (0..1). */
function inRoundRect(x, y, r) {
  const cx = Math.min(Math.max(x, r), 1 - r)
  const cy = Math.min(Math.max(y, r), 1 - r)
  return (x - cx) ** 2 + (y - cy) ** 2 <= r * r
}
function inTriangle(x, y, [ax, ay], [bx, by], [cx, cy]) {
  const s = (px, py, qx, qy, rx, ry) => (px - rx) * (qy - ry) - (qx - rx) * (py - ry)
  const d1 = s(x, y, ax, ay, bx, by)
  const d2 = s(x, y, bx, by, cx, cy)
  const d3 = s(x, y, cx, cy, ax, ay)
  return !((d1 < 0 || d2 < 0 || d3 < 0) && (d1 > 0 || d2 > 0 || d3 > 0))
}
function house(x, y, scale) {
  // Centre the house in the icon, scaled for the maskable safe zone.
  const u = (x - 0.5) / scale + 0.5
  const v = (y - 0.5) / scale + 0.5
  const roof = inTriangle(u, v, [0.5, 0.16], [0.14, 0.5], [0.86, 0.5])
  const body = u >= 0.24 && u <= 0.76 && v >= 0.46 && v <= 0.84
  const door = u >= 0.43 && u <= 0.57 && v >= 0.62 && v <= 0.84
  const window = ((u >= 0.3 && u <= 0.39) || (u >= 0.61 && u <= 0.7)) && v >= 0.54 && v <= 0.63
  return (roof || body) && !door && !window
}

function draw(size, { maskable }) {
  const buf = Buffer.alloc(size * size * 4)
  const S = 4
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      let bg = 0
      let fg = 0
      for (let sy = 0; sy < S; sy++) {
        for (let sx = 0; sx < S; sx++) {
          const x = (px + (sx + 0.5) / S) / size
          const y = (py + (sy + 0.5) / S) / size
          const inBg = maskable ? true : inRoundRect(x, y, 0.2)
          if (inBg) {
            bg++
            if (house(x, y, maskable ? 0.72 : 0.9)) fg++
          }
        }
      }
      const n = S * S
      const a = bg / n
      const f = bg ? fg / bg : 0
      const i = (py * size + px) * 4
      for (let c = 0; c < 3; c++) buf[i + c] = Math.round(RED[c] * (1 - f) + WHITE[c] * f)
      buf[i + 3] = Math.round(a * 255)
    }
  }
  return png(size, buf)
}

mkdirSync(OUT, { recursive: true })
const icons = [
  ["icon-192.png", 192, false],
  ["icon-512.png", 512, false],
  ["icon-maskable-512.png", 512, true],
  ["apple-touch-icon.png", 180, true],
]
for (const [name, size, maskable] of icons) {
  writeFileSync(OUT + name, draw(size, { maskable }))
  console.log("wrote", name)
}
