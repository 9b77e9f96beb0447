/**
 * Item templates for deliveries: a few built into the app (a standard food parcel…) and
 * the coordinator's own, saved on this phone under the user's `linli:<user>:` prefix (so
 * logging out forgets them with the rest of the user's entries).
 */
import type { Category, Item } from "../generated"
import { getJSON, setJSON, type KV } from "./kv"

export interface ItemTemplate {
  id: string
  /** Shown as is (the user's own) or, for built-in ones, the dictionary key `tpl.<id>`. */
  name: string
  category: Category
  items: Item[]
  builtin?: boolean
}

/** `"rice 5 kg"` as an item. */
function item(spec: string): Item {
  const [name, qty, unit] = spec.split(" ")
  return { name, qty: Number(qty), unit }
}

/** Built-in templates; their names and item names and units are dictionary keys
 * (`tpl.<id>`, `tpl.item.<name>`, `tpl.unit.<unit>`), so a template fills the form in
 * the user's language. */
export const BUILTIN_TEMPLATES: readonly ItemTemplate[] = [
  { id: "food", category: "food", items: ["rice 5 kg", "oil 1 bottle", "vegetables 2 kg", "eggs 10 piece", "noodles 1 pack"] },
  { id: "baby", category: "supplies", items: ["formula 1 can", "diapers 1 pack"] },
  { id: "hygiene", category: "supplies", items: ["masks 20 piece", "disinfectant 1 bottle", "tissues 2 pack"] },
].map(t => ({ ...t, name: t.id, builtin: true, category: t.category as Category, items: t.items.map(item) }))

const key = (userId: string) => `linli:${userId}:templates`

/** The user's own templates saved on this phone (newest first). */
export function savedTemplates(kv: KV, userId: string): ItemTemplate[] {
  const list = getJSON<ItemTemplate[]>(kv, key(userId))
  return Array.isArray(list) ? list.filter(t => t && typeof t.name === "string" && Array.isArray(t.items)) : []
}

/** Saves `items` as a template called `name` (replacing one of the same name). */
export function saveTemplate(kv: KV, userId: string, name: string, category: Category, items: Item[], now: number): ItemTemplate {
  const t: ItemTemplate = { id: `u${now.toString(36)}`, name: name.trim(), category, items: items.map(i => ({ ...i })) }
  setJSON(kv, key(userId), [t, ...savedTemplates(kv, userId).filter(x => x.name !== t.name)])
  return t
}
