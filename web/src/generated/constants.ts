// Generated from shared/src/domain by `UPDATE_TS=1 cargo test -p linli-shared ts_bindings`. Do not edit.

export const SCHEMA_VERSION = 1;
/** The schema version of each kind this build writes (a document's root `schema`). */
export const SCHEMA_VERSIONS = { "household": 1, "task": 1, "episode": 3, "medical": 1, "readings": 1, "grid-index": 1, "medic-index": 1, "inbox": 1 } as const;
/** Body temperatures accepted in a check-in, °C. */
export const MIN_TEMP_C = 34.0;
export const MAX_TEMP_C = 43.0;
/** A check-in at or above this temperature raises a fever alert. */
export const FEVER_THRESHOLD_C = 37.3;
export const MAX_SLOTS = 4;
export const MAX_AGE = 150;
/** Deadline of each check-in slot (local time), by number of slots a day: SLOT_DEADLINES[slots - 1][slot]. */
export const SLOT_DEADLINES: ReadonlyArray<ReadonlyArray<string>> = [["20:00"], ["12:00", "20:00"], ["10:00", "15:00", "20:00"], ["08:00", "12:00", "16:00", "20:00"]];
/** The server's default limits (it may be configured tighter or looser). */
export const DEFAULT_LIMITS = {
  max_string_chars: 2000,
  max_short_chars: 100,
  max_list_len: 200,
  max_checkins: 200,
  max_episode_days: 90,
} as const;
