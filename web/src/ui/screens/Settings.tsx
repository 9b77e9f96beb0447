import { useState } from "preact/hooks"
import type { ExportName } from "../../data/api"
import type { RiskLevel } from "../../data/session"
import { fmtDateTime, lang, setLang, t, tr } from "../../i18n"
import type { ShelvedSummary } from "../../data/shelf"
import { Banner, Confirm, exportKept, Field, KeptText, saveFile, Screen, Segmented, toast } from "../components"
import { useApp, useAppState } from "../context"
import { riskPolicy } from "../../data/domain"
import { useGrid } from "./Dashboard"

const RISKS: RiskLevel[] = ["low", "medium", "high"]

export function Settings() {
  const app = useApp()
  const s = useAppState()
  const { grid } = useGrid()
  const [confirmOut, setConfirmOut] = useState(false)
  const [purpose, setPurpose] = useState("")
  const user = s.session!.user
  const manages = user.role === "coordinator" || user.role === "admin"
  const pending = s.data?.pending ?? 0
  const download = async (name: ExportName) => {
    try {
      saveFile(await app.exportCsv(name, purpose.trim()), `linli-${name}.csv`)
    } catch (e) {
      toast(t("set.exportFailed", { msg: (e as Error).message }))
    }
  }
  const [askRisk, setAskRisk] = useState<RiskLevel | null>(null)
  const setRisk = async (level: RiskLevel) => {
    setAskRisk(null)
    if (!grid) return
    try {
      const applied = await app.setRisk(grid.id, level)
      toast(applied ? t("risk.savedApplied", { episodes: applied.episodes, tasks: applied.tasks }) : t("risk.saved"))
    } catch (e) {
      toast(t("common.error", { msg: (e as Error).message }))
    }
  }
  const logout = async (force: boolean) => {
    let done
    try {
      done = await app.logout(force)
    } catch (e) {
      // The waiting changes could not be kept aside: nothing was removed, still logged in.
      toast(t("common.error", { msg: (e as Error).message }))
      return
    }
    if (!done) setConfirmOut(true)
    else location.hash = "#/"
  }
  return (
    <Screen title={t("set.title")}>
      <section class="panel">
        <h2>{t("set.account")}</h2>
        <p class="big">{t("set.accountLine", { name: user.username, role: tr("role", user.role) })}</p>
        {(s.session?.grids?.length ?? 0) > 0 && <p>{t("set.grids", { grids: s.session!.grids!.map(g => g.name).join(t("common.sep")) })}</p>}
      </section>
      <section class="panel">
        <h2>{t("set.language")}</h2>
        <Segmented name={t("set.language")} value={lang()} options={["zh-CN", "en"] as const} label={l => (l === "en" ? "English" : "中文")} onChange={setLang} />
      </section>
      <section class="panel">
        <h2>{t("set.sync")}</h2>
        <p>{t("set.pending", { n: pending })}</p>
        {s.data?.lastSynced && <p>{t("set.lastSynced", { time: fmtDateTime(s.data.lastSynced) })}</p>}
        <h2>{t("set.storage")}</h2>
        <p class="small">{s.persisted ? t("set.persisted") : t("set.notPersisted")}</p>
      </section>
      <KeptAside />
      {manages && grid && (
        <section class="panel">
          <h2>
            {t("risk.title")} · {grid.name}
          </h2>
          <Segmented
            name={t("risk.title")}
            value={askRisk ?? grid.risk_level}
            options={RISKS}
            label={r => tr("risk", r)}
            onChange={r => (!s.online ? toast(t("set.offline")) : setAskRisk(r === grid.risk_level ? null : r))}
          />
          {askRisk && (
            <div data-testid="risk-confirm">
              <Confirm
                text={t("risk.confirm", {
                  level: tr("risk", askRisk),
                  n: riskPolicy(askRisk).checkins_per_day,
                  contactless: riskPolicy(askRisk).contactless ? t("risk.contactless") : t("risk.contact"),
                })}
                label={t("risk.set", { level: tr("risk", askRisk) })}
                onCancel={() => setAskRisk(null)}
                onConfirm={() => void setRisk(askRisk)}
              />
            </div>
          )}
        </section>
      )}
      {user.role !== "volunteer" && (
        <section class="panel">
          <h2>{t("set.exports")}</h2>
          <p class="small">{t("set.exportWhy")}</p>
          <Field label={t("set.exportPurpose")}>
            <input name="purpose" value={purpose} maxLength={200} placeholder={t("set.exportPurposeHint")} onInput={e => setPurpose(e.currentTarget.value)} />
          </Field>
          <div class="row wrap">
            {(["tasks", "episodes", "households"] as ExportName[])
              .filter(n => !(user.role === "medic" && n === "tasks"))
              .map(n => (
                <button class="btn" disabled={!s.online || !purpose.trim()} onClick={() => download(n)}>
                  {t(`set.export.${n}` as "set.export.tasks")}
                </button>
              ))}
          </div>
        </section>
      )}
      {confirmOut ? (
        <Banner tone="warn">
          <p>{t("set.logoutBlocked", { n: pending })}</p>
          <div class="row">
            <button class="btn" onClick={() => setConfirmOut(false)}>
              {t("common.cancel")}
            </button>
            <button class="btn danger" onClick={() => logout(true)}>
              {t("set.logoutAnyway")}
            </button>
          </div>
        </Banner>
      ) : (
        <button class="btn danger big" onClick={() => logout(false)}>
          {t("set.logout")}
        </button>
      )}
    </Screen>
  )
}

/** Work the server did not take, kept on the phone until the user deletes it. */
function KeptAside() {
  const app = useApp()
  const s = useAppState()
  const kept = s.data?.shelved ?? []
  if (kept.length === 0) return null
  return (
    <section class="panel" data-testid="kept-aside">
      <h2>{t("shelf.title")}</h2>
      <p class="small">{t("shelf.intro")}</p>
      <ul class="kept">
        {kept.map(w => (
          <KeptEntry w={w} key={w.id} />
        ))}
      </ul>
      {kept.length > 1 && (
        <button class="btn" onClick={() => void exportKept(app)}>
          {t("shelf.exportAll")}
        </button>
      )}
    </section>
  )
}

function KeptEntry(props: { w: ShelvedSummary }) {
  const app = useApp()
  const [confirm, setConfirm] = useState(false)
  const w = props.w
  return (
    <li data-id={w.id} data-doc={w.docId}>
      <p class="small">{t("shelf.when", { time: fmtDateTime(w.at), cause: t(`shelf.cause.${w.cause}`) })}</p>
      <KeptText w={w} />
      {confirm ? (
        <Confirm text={t("shelf.deleteConfirm")} label={t("shelf.delete")} danger onCancel={() => setConfirm(false)} onConfirm={() => void app.store?.deleteShelved(w.id)} />
      ) : (
        <div class="row wrap">
          <button class="btn" onClick={() => void exportKept(app, [w.id])}>
            {t("shelf.export")}
          </button>
          <button class="btn danger" onClick={() => setConfirm(true)}>
            {t("shelf.delete")}
          </button>
        </div>
      )}
    </li>
  )
}
