import { useEffect, useState } from "preact/hooks"
import type { UserRow } from "../../data/api"
import { t } from "../../i18n"
import { Field } from "../components"
import { useApp, useAppState } from "../context"
import { userLabel } from "../format"

/** Usernames by user id, as far as this phone knows them. */
export function useNames(): Record<string, string> {
  const users = useDirectory()
  const s = useAppState()
  const names: Record<string, string> = {}
  for (const u of users) if (u.username) names[u.id] = u.username
  if (s.session) names[s.session.user.id] = s.session.user.username
  return names
}

export function useDirectory(): UserRow[] {
  const app = useApp()
  const s = useAppState()
  const [users, setUsers] = useState<UserRow[]>([])
  const rows = s.data?.rows
  useEffect(() => {
    let live = true
    void app.directory().then(u => live && setUsers(u))
    return () => {
      live = false
    }
  }, [app, rows])
  return users
}

/** Choose who does the work: known people, or a user id typed in. */
export function AssigneePicker(props: {
  value: string | null
  names: Record<string, string>
  onChange: (user: string | null) => void
  disabled?: boolean
  allowNone?: boolean
  immediate?: boolean
}) {
  const users = useDirectory().filter(u => u.role === "volunteer" || u.id === props.value)
  const s = useAppState()
  const [choice, setChoice] = useState(props.value ?? "")
  const [typed, setTyped] = useState("")
  useEffect(() => setChoice(props.value ?? ""), [props.value])
  const ids = new Set(users.map(u => u.id))
  if (props.value) ids.add(props.value)
  const picked = choice === "__other" ? typed.trim() : choice
  const changed = (picked || null) !== (props.value || null)
  const apply = (v: string) => {
    setChoice(v)
    if (props.immediate && v !== "__other") props.onChange(v || null)
  }
  return (
    <div class="stack">
      <Field label={t("new.assignee")}>
        <select value={choice} disabled={props.disabled} onChange={e => apply(e.currentTarget.value)} data-testid="assignee">
          {(props.allowNone ?? true) && <option value="">{t("new.nobody")}</option>}
          {[...ids].map(id => (
            <option value={id}>{userLabel(id, props.names, s.session?.user.id)}</option>
          ))}
          <option value="__other">{t("new.otherUser")}</option>
        </select>
      </Field>
      {choice === "__other" && (
        <Field label={t("new.userId")}>
          <input
            value={typed}
            autocapitalize="none"
            data-testid="assignee-id"
            onInput={e => {
              setTyped(e.currentTarget.value)
              if (props.immediate) props.onChange(e.currentTarget.value.trim() || null)
            }}
          />
        </Field>
      )}
      {!props.immediate && (
        <button class="btn primary" disabled={props.disabled || !changed || (choice === "__other" && !picked)} onClick={() => props.onChange(picked || null)} data-testid="assign">
          {props.value ? t("task.reassign") : t("task.assign")}
        </button>
      )}
    </div>
  )
}
