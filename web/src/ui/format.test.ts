import { afterEach, describe, expect, it } from "vitest"
import { setLang } from "../i18n"
import { fmtWhen, userLabel } from "./format"

/** An instant given in community time at +08:00. */
const at = (s: string) => Date.parse(`${s}+08:00`)

describe("fmtWhen: deadlines on the volunteer's list", () => {
  afterEach(() => setLang("zh-CN"))

  it("shows the time alone today, and the day otherwise (zh-CN)", () => {
    const now = at("2026-03-16T10:00:00")
    expect(fmtWhen(at("2026-03-16T20:00:00"), now)).toBe("20:00")
    expect(fmtWhen(at("2026-03-16T00:00:00"), now)).toBe("00:00")
    expect(fmtWhen(at("2026-03-17T03:04:00"), now)).toBe("明天 03:04")
    expect(fmtWhen(at("2026-03-15T20:00:00"), now)).toBe("昨天 20:00")
    expect(fmtWhen(at("2026-03-18T09:00:00"), now)).toBe("3月18日 09:00")
  })

  it("in English", () => {
    setLang("en")
    const now = at("2026-03-16T10:00:00")
    expect(fmtWhen(at("2026-03-16T09:30:00"), now)).toBe("09:30")
    expect(fmtWhen(at("2026-03-17T03:04:00"), now)).toBe("tomorrow 03:04")
    expect(fmtWhen(at("2026-03-15T20:00:00"), now)).toBe("yesterday 20:00")
    expect(fmtWhen(at("2026-03-18T09:00:00"), now)).toBe("18 Mar 09:00")
  })

  it("crosses month and year ends", () => {
    expect(fmtWhen(at("2026-04-01T08:00:00"), at("2026-03-31T23:30:00"))).toBe("明天 08:00")
    expect(fmtWhen(at("2026-02-28T23:59:00"), at("2026-03-01T00:10:00"))).toBe("昨天 23:59")
    expect(fmtWhen(at("2027-01-01T00:30:00"), at("2026-12-31T22:00:00"))).toBe("明天 00:30")
    expect(fmtWhen(at("2026-05-01T12:00:00"), at("2026-04-29T12:00:00"))).toBe("5月1日 12:00")
  })

  it("uses the community's offset, not the phone's time zone", () => {
    // 2026-03-16 18:30 UTC: 02:30 the next day at +08:00, 18:30 the same day at +00:00.
    const due = Date.parse("2026-03-16T18:30:00Z")
    const now = Date.parse("2026-03-16T10:00:00Z")
    expect(fmtWhen(due, now, 480)).toBe("明天 02:30")
    expect(fmtWhen(due, now, 0)).toBe("18:30")
    expect(fmtWhen(due, now, -300)).toBe("13:30")
    // Just after midnight community time, 23:00 the evening before is yesterday.
    expect(fmtWhen(Date.parse("2026-03-16T15:00:00Z"), Date.parse("2026-03-16T16:05:00Z"), 480)).toBe("昨天 23:00")
  })
})

describe("userLabel: who wrote a log entry", () => {
  const names = { "u-coord": "wang.coord" }
  it("names known people, marks oneself, and shows an unknown id to those who oversee", () => {
    expect(userLabel("u-coord", names, { id: "u-me", role: "coordinator" })).toBe("wang.coord")
    expect(userLabel("u-me", { "u-me": "chen.vol" }, { id: "u-me", role: "volunteer" })).toBe("chen.vol (我)")
    expect(userLabel("u-571f1df4abcdef", {}, { id: "u-me", role: "coordinator" })).toBe("用户 u-571f1df4…")
  })
  it("a volunteer, who has no directory, sees other people as staff, never an id", () => {
    expect(userLabel("u-571f1df4abcdef", {}, { id: "u-me", role: "volunteer" })).toBe("工作人员")
    expect(userLabel(null, {}, { id: "u-me", role: "volunteer" })).toBe("未分配")
  })
})
