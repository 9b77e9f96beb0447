import type { App as Controller } from "../data/app"
import type { Key } from "../i18n"
import { BottomNav, Notices, SessionBanner, TopBar } from "./components"
import { AppContext, useAppState, useLang } from "./context"
import { useWide } from "./desk"
import { useRoute } from "./router"
import { Buildings } from "./screens/Buildings"
import { CheckinForm, EpisodeDetail } from "./screens/Checkin"
import { Alerts, Dashboard } from "./screens/Dashboard"
import { HouseholdEdit, Households } from "./screens/Households"
import { Login } from "./screens/Login"
import { BulkTask, NewEpisode, NewTask } from "./screens/NewWork"
import { PrintList } from "./screens/Print"
import { Settings } from "./screens/Settings"
import { TaskDetail } from "./screens/TaskDetail"
import { Today } from "./screens/Today"
import { WorkList } from "./screens/Work"

export function Root(props: { app: Controller; wasm: number }) {
  return (
    <AppContext.Provider value={props.app}>
      <Shell wasm={props.wasm} />
    </AppContext.Provider>
  )
}

function Shell(props: { wasm: number }) {
  useLang()
  const s = useAppState()
  const route = useRoute()
  const wide = useWide()
  if (!s.session) return <Login />
  const role = s.session.user.role
  const volunteer = role === "volunteer"
  // A medic's work is home observations: no deliveries, no household register.
  const nav: { path: string; key: Key }[] = volunteer
    ? [
        { path: "", key: "nav.today" },
        { path: "settings", key: "nav.settings" },
      ]
    : role === "medic"
    ? [
        { path: "", key: "nav.dashboard" },
        { path: "work", key: "nav.observations" },
        { path: "alerts", key: "nav.alerts" },
        { path: "settings", key: "nav.settings" },
      ]
    : [
        { path: "", key: "nav.dashboard" },
        { path: "work", key: "nav.work" },
        { path: "households", key: "nav.households" },
        // The desk's side navigation has room for the building view; a phone reaches
        // it from the households screen.
        ...(wide ? [{ path: "buildings", key: "nav.buildings" as Key }] : []),
        { path: "alerts", key: "nav.alerts" },
        { path: "settings", key: "nav.settings" },
      ]
  const id = route.id ?? ""
  let screen
  switch (route.name) {
    case "task":
      screen = <TaskDetail id={id} />
      break
    case "checkin":
      screen = <CheckinForm id={id} />
      break
    case "episode":
      screen = <EpisodeDetail id={id} />
      break
    case "work":
      screen = volunteer ? <Today wasm={props.wasm} /> : <WorkList query={route.query} />
      break
    case "households":
      screen = <Households query={route.query} key={route.query.toString()} />
      break
    case "buildings":
      screen = <Buildings query={route.query} />
      break
    case "household":
      screen = <HouseholdEdit id={id} key={id} />
      break
    case "new-household":
      screen = <HouseholdEdit key="new" />
      break
    case "new-task":
      screen = <NewTask household={route.query.get("household") ?? undefined} />
      break
    case "new-bulk":
      screen = <BulkTask building={route.query.get("building") ?? undefined} unit={route.query.get("unit") ?? undefined} />
      break
    case "new-episode":
      screen = <NewEpisode household={route.query.get("household") ?? undefined} />
      break
    case "print":
      screen = <PrintList building={route.query.get("building") ?? undefined} />
      break
    case "alerts":
      screen = <Alerts />
      break
    case "settings":
      screen = <Settings />
      break
    default:
      screen = volunteer ? <Today wasm={props.wasm} /> : <Dashboard />
  }
  const active = route.name === "home" ? "" : route.name
  return (
    <div class={`shell role-${role}${wide ? " desk" : ""}`}>
      <TopBar />
      <div class="shell-body">
        <BottomNav items={nav} active={active} />
        <div class="shell-main">
          <SessionBanner />
          <Notices />
          {screen}
        </div>
      </div>
    </div>
  )
}
