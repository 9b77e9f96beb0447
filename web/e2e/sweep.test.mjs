// Every screen of every role, on a 360 px phone and on a 1280 px laptop, in Chinese and in
// English (issue 14): nothing scrolls sideways (the page's scrollWidth at most the device
// width), primary buttons are at least 44 px high (one thumb, one hand busy), and a
// screenshot of each is saved under test-results/sweep/ to be looked at.
//
// The screens are found, not listed: from each role's navigation the sweep follows the
// first link of every kind of route it meets (a task, an episode, a household, a form…),
// so a new screen is swept as soon as something links to it. Open forms count as screens:
// the volunteer's "could not deliver" form is opened where a task offers it.
import { test } from "node:test"
import assert from "node:assert/strict"
import { assertFits, shot, uiLogin, useStack } from "./harness.mjs"

const e2e = useStack()

const SIZES = {
  phone: { viewport: { width: 360, height: 780 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 },
  laptop: { viewport: { width: 1280, height: 800 }, isMobile: false, hasTouch: false, deviceScaleFactor: 1 },
}
const LANGS = { zh: "zh-CN", en: "en" }
const ROLES = {
  coordinator: { username: "wang.coord", password: "demo-coord-2026" },
  volunteer: { username: "chen.vol", password: "demo-vol-2026" },
  medic: { username: "zhao.medic", password: "demo-medic-2026" },
}
/** The most screens one sweep opens (it stops following links after that). */
const MAX_SCREENS = 30
/** How many screens of one kind are opened (tasks: until one offers its form). */
const PER_KIND = { task: 4 }
/** Buttons that open a form on the same screen, by language. */
const FORM_OPENERS = { zh: ["无法送达"], en: ["Could not deliver"] }

/** The kind of a hash route: `#/task/abc` → `task`, `#/new/task?x` → `new/task`. */
function routeKind(href) {
  const path = href.replace(/^#\/?/, "").split("?")[0]
  const parts = path.split("/").filter(Boolean)
  if (parts.length === 0) return "home"
  return parts[0] === "new" ? `new/${parts[1] ?? ""}` : parts[0]
}

/** Visible, enabled primary buttons lower than 44 px: their text and height. */
async function shortPrimaryButtons(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll(".btn.primary, button[type=submit]")]
      .filter(b => {
        const r = b.getBoundingClientRect()
        const style = getComputedStyle(b)
        return r.width > 0 && r.height > 0 && style.visibility !== "hidden" && !b.disabled
      })
      .map(b => ({ text: b.textContent.trim().slice(0, 30), height: Math.round(b.getBoundingClientRect().height) }))
      .filter(b => b.height < 44),
  )
}

async function check(page, name) {
  await assertFits(page, name)
  const short = await shortPrimaryButtons(page)
  assert.deepEqual(short, [], `${name}: primary buttons lower than 44 px`)
  await shot(page, `sweep/${name}`)
}

for (const [size, device] of Object.entries(SIZES)) {
  for (const [lang, locale] of Object.entries(LANGS)) {
    for (const [role, user] of Object.entries(ROLES)) {
      test(`${role}, ${size}, ${lang}: every screen fits and its primary buttons are big enough`, { timeout: 240_000 }, async () => {
        const ctx = await e2e.phone({ ...device, locale, timezoneId: "Asia/Shanghai" })
        await ctx.addInitScript(l => localStorage.setItem("linli:lang", l), locale)
        const page = await ctx.newPage()
        const errors = []
        page.on("pageerror", e => errors.push(e.message))
        await uiLogin(page, e2e.stack.base, user)
        const seen = new Map()
        let formSeen = false
        const visited = new Set()
        const queue = ["#/"]
        const swept = []
        while (queue.length && swept.length < MAX_SCREENS) {
          const href = queue.shift()
          const kind = routeKind(href)
          if (visited.has(href)) continue
          if ((seen.get(kind) ?? 0) >= (PER_KIND[kind] ?? 1) || (kind === "task" && formSeen)) continue
          seen.set(kind, (seen.get(kind) ?? 0) + 1)
          visited.add(href)
          await page.goto(`${e2e.stack.base}/${href}`)
          await page.locator("main h1").first().waitFor({ timeout: 30_000 })
          // Documents arrive over sync: give lists a moment to fill before measuring.
          await page.waitForTimeout(700)
          const n = seen.get(kind)
          const name = `${size}-${lang}-${role}-${kind.replace(/\//g, "-")}${n > 1 ? `-${n}` : ""}`
          await check(page, name)
          swept.push(kind)
          for (const opener of FORM_OPENERS[lang]) {
            const button = page.getByRole("button", { name: opener, exact: true })
            if ((await button.count()) > 0 && (await button.first().isEnabled())) {
              await button.first().click()
              await page.waitForTimeout(300)
              await check(page, `${name}-form`)
              swept.push(`${kind}+form`)
              formSeen = true
              await page.goto(`${e2e.stack.base}/${href}`)
            }
          }
          const links = await page.locator('a[href^="#/"]').evaluateAll(as => as.map(a => a.getAttribute("href")))
          for (const l of links) if ((seen.get(routeKind(l)) ?? 0) < (PER_KIND[routeKind(l)] ?? 1)) queue.push(l)
        }
        console.log(`${role} ${size} ${lang}: ${swept.join(", ")}`)
        assert.ok(swept.length >= 3, `only ${swept.join(", ")} swept`)
        if (role === "volunteer") assert.ok(formSeen, "no task of the demo volunteer offered its could-not-deliver form")
        assert.deepEqual(errors, [])
        await ctx.close()
      })
    }
  }
}
