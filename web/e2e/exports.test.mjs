// The coordinator's CSV exports, downloaded through the app as a coordinator would, open
// in Chinese Excel and WPS (issue 14): UTF-8 with a byte-order mark (without it Excel
// reads GBK and shows mojibake), names and addresses rather than internal ids, local
// dates, Chinese labels, phone numbers that stay text — and the purpose asked for first,
// written into the file with who made it (DESIGN §9).
import { test } from "node:test"
import assert from "node:assert/strict"
import { readFileSync } from "node:fs"
import { USERS, uiLogin, useStack } from "./harness.mjs"

const e2e = useStack()

async function download(page, label) {
  const [file] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: label, exact: true }).click()])
  const bytes = readFileSync(await file.path())
  return { bytes, name: file.suggestedFilename() }
}

test("the households and tasks exports decode as UTF-8 with a BOM and hold names, addresses and local dates", { timeout: 120_000 }, async () => {
  const ctx = await e2e.phone({ viewport: { width: 1280, height: 800 }, isMobile: false, hasTouch: false, deviceScaleFactor: 1, acceptDownloads: true, timezoneId: "Asia/Shanghai" })
  const page = await ctx.newPage()
  await uiLogin(page, e2e.stack.base, USERS.coord)
  await page.goto(`${e2e.stack.base}/#/settings`)
  const households = page.getByRole("button", { name: "住户", exact: true })
  await households.waitFor({ timeout: 30_000 })
  assert.equal(await households.isDisabled(), true, "an export without a purpose")
  await page.locator('input[name="purpose"]').fill("核对本网格住户名单")

  for (const label of ["住户", "送货任务"]) {
    const { bytes, name } = await download(page, label)
    assert.match(name, /\.csv$/)
    assert.deepEqual([...bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf], `${label}: no UTF-8 byte-order mark`)
    const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(3))
    // Who made it, when, and why, in the file itself.
    assert.match(text, /wang\.coord|王/, `${label}: the file does not say who made it`)
    assert.match(text, /核对本网格住户名单/, `${label}: the purpose is not in the file`)
    assert.match(text, /2026-03-1\d \d\d:\d\d/, `${label}: no local date and time`)
    if (label === "住户") {
      assert.match(text, /楼号,单元,房号/, "no address columns")
      assert.match(text, /王秀英 \(70\)/, "no member names")
      // The demo's first household: its member's name and a phone number kept as text.
      assert.match(text, /1380 ?013 ?1000|138 0013 1000/, "the phone number is not text")
      assert.doesNotMatch(text, /1\.38E\+10/i)
    } else {
      // The household a task is for by its address (building-unit-room), and the
      // volunteer by name: no internal id in those columns.
      assert.match(text, /,\d+号楼\d+单元\d{3},/, "no address")
      assert.match(text, /,(chen|liu|huang)\.vol,/, "no volunteer by name")
      assert.match(text, /食品|药品|生活物资/, "categories are not in Chinese")
      assert.match(text, /已送达|已分配|已接单/, "statuses are not in Chinese")
    }
  }
  await ctx.close()
})
