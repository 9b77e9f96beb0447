/// <reference types="vitest/config" />
import { defineConfig } from "vite"
import { VitePWA } from "vite-plugin-pwa"
import { statSync } from "node:fs"
import { fileURLToPath } from "node:url"

// Where `npm run dev` / `npm run preview` send /api and /sync: a running Linli server.
const LINLI = process.env.LINLI_URL ?? "http://127.0.0.1:8080"

// Raw size of Automerge's WASM, so the loading screen can show progress while it arrives
// (the browser hands us decompressed bytes, so Content-Length of a compressed response is
// no use).
const wasmPath = fileURLToPath(new URL("./node_modules/@automerge/automerge/dist/automerge.wasm", import.meta.url))
const WASM_SIZE = statSync(wasmPath).size

const proxy = {
  "/api": { target: LINLI, changeOrigin: false },
  "/sync": { target: LINLI.replace(/^http/, "ws"), ws: true },
}

export default defineConfig({
  define: { __WASM_SIZE__: JSON.stringify(WASM_SIZE) },
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    target: "es2020",
    // Never inline assets: the service worker precaches them as files.
    assetsInlineLimit: 0,
    sourcemap: false,
    reportCompressedSize: false,
  },
  server: { proxy },
  preview: { proxy },
  plugins: [
    VitePWA({
      // Registered by src/boot/sw.ts once the app has started, so the service worker's
      // precache finds the big WASM already in the HTTP cache instead of downloading it
      // a second time on the first visit.
      injectRegister: false,
      registerType: "autoUpdate",
      manifest: {
        name: "邻里 Linli",
        short_name: "邻里",
        description: "社区封控期间的送货与居家健康监测 · Deliveries and home-isolation check-ins",
        lang: "zh-CN",
        start_url: "/",
        scope: "/",
        display: "standalone",
        orientation: "portrait",
        background_color: "#ffffff",
        theme_color: "#9f1c1c",
        icons: [
          { src: "icons/icon-192.png", sizes: "192x192", type: "image/png" },
          { src: "icons/icon-512.png", sizes: "512x512", type: "image/png" },
          { src: "icons/icon-maskable-512.png", sizes: "512x512", type: "image/png", purpose: "maskable" },
        ],
      },
      workbox: {
        globPatterns: ["**/*.{js,css,html,wasm,png,svg,webmanifest}"],
        // Automerge's WASM is ~3.6 MB raw.
        maximumFileSizeToCacheInBytes: 8 * 1024 * 1024,
        // Hashed files need no cache-busting revision (and so may come from the HTTP cache).
        dontCacheBustURLsMatching: /^assets\//,
        navigateFallback: "index.html",
        navigateFallbackDenylist: [/^\/api\//, /^\/sync/, /^\/healthz/, /^\/metrics/],
        cleanupOutdatedCaches: true,
        clientsClaim: true,
        skipWaiting: true,
        // One sw.js, no separate workbox-*.js for the server to cache.
        inlineWorkboxRuntime: true,
      },
    }),
  ],
  test: {
    environment: "node",
    include: ["src/**/*.test.ts"],
    setupFiles: ["src/test/setup.ts"],
    testTimeout: 20_000,
  },
})
