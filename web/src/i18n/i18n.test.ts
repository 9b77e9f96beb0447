import { readFileSync, readdirSync, statSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { CATEGORIES, METHODS, PRIORITIES, REASONS, SYMPTOMS, TASK_STATUSES } from "../data/domain"
import { en } from "./en"
import { setLang, t, tr } from "./index"
import { zh } from "./zh"

const params = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map(m => m[1]).sort()

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap(name => {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) return name === "generated" || name === "i18n" ? [] : sources(p)
    return /\.tsx?$/.test(name) && !name.endsWith(".test.ts") ? [p] : []
  })
}

describe("dictionaries", () => {
  it("have the same keys in both languages", () => {
    expect(Object.keys(en).sort()).toEqual(Object.keys(zh).sort())
  })

  it("use the same parameters in both languages, and no empty strings", () => {
    for (const k of Object.keys(zh) as (keyof typeof zh)[]) {
      expect(params(en[k]), k).toEqual(params(zh[k]))
      expect(zh[k].trim(), k).not.toBe("")
      expect(en[k].trim(), k).not.toBe("")
    }
  })

  it("translate every value the documents can hold", () => {
    const values: [string, readonly string[]][] = [
      ["status", [...TASK_STATUSES, "active", "escalated", "closed"]],
      ["category", CATEGORIES],
      ["priority", PRIORITIES],
      ["method", METHODS],
      ["reason", REASONS],
      ["symptom", SYMPTOMS],
      ["flag", ["elderly_alone", "child_unattended", "disabled", "chronic"]],
      ["alert", ["fever", "symptoms", "three_days_abnormal", "missed_checkin", "overdue_delivery"]],
      ["risk", ["low", "medium", "high"]],
      ["role", ["admin", "coordinator", "medic", "volunteer"]],
    ]
    for (const [prefix, list] of values) for (const v of list) expect(`${prefix}.${v}` in zh, `${prefix}.${v}`).toBe(true)
  })

  it("cover every key the screens ask for", () => {
    // Every literal t("…") in the sources must be a key (the compiler checks typed calls;
    // this also catches keys built from strings).
    const missing: string[] = []
    for (const file of sources(join(__dirname, ".."))) {
      for (const m of readFileSync(file, "utf8").matchAll(/\bt\(\s*"([^"]+)"/g)) if (!(m[1] in zh)) missing.push(`${file}: ${m[1]}`)
    }
    expect(missing).toEqual([])
  })

  it("fill in parameters and fall back to the raw value for unknown names", () => {
    setLang("en")
    expect(t("sync.waiting", { n: 3 })).toBe("3 waiting to sync")
    expect(tr("status", "picked_up")).toBe("Picked up")
    expect(tr("status", "weird")).toBe("weird")
    setLang("zh-CN")
    expect(t("sync.waiting", { n: 3 })).toBe("3 项待同步")
  })
})
