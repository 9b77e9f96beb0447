import type { JSX } from "preact"
import { useState } from "preact/hooks"
import { lastUsername } from "../../data/session"
import { lang, setLang, t } from "../../i18n"
import { Field, loginError } from "../components"
import { useApp } from "../context"

export function Login() {
  const app = useApp()
  const [username, setUsername] = useState(() => lastUsername(app.kv))
  const [password, setPassword] = useState("")
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const submit = async (e: JSX.TargetedEvent<HTMLFormElement>) => {
    e.preventDefault()
    setBusy(true)
    setError(null)
    try {
      await app.login(username.trim(), password)
      location.hash = "#/"
    } catch (err) {
      setError(loginError(err))
    } finally {
      setBusy(false)
    }
  }
  return (
    <main class="screen login">
      <div class="login-head">
        <div class="logo" aria-hidden="true">邻</div>
        <h1>{t("login.title")}</h1>
        <p>{t("login.subtitle")}</p>
      </div>
      <form onSubmit={submit} class="stack">
        <Field label={t("login.username")}>
          <input name="username" autocomplete="username" autocapitalize="none" value={username} onInput={e => setUsername(e.currentTarget.value)} required />
        </Field>
        <Field label={t("login.password")}>
          <input name="password" type="password" autocomplete="current-password" value={password} onInput={e => setPassword(e.currentTarget.value)} required />
        </Field>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <button class="btn primary big" disabled={busy} type="submit">
          {busy ? t("login.busy") : t("login.submit")}
        </button>
      </form>
      <button class="btn ghost" onClick={() => setLang(lang() === "en" ? "zh-CN" : "en")}>
        {t("app.lang")}
      </button>
    </main>
  )
}
