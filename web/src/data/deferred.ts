/**
 * A volunteer's status step held back for a short window, so that a mistaken tap can be
 * undone. The server lets no task move back (shared/src/domain/rules/task.rs), so undo
 * cannot be a reverse step: the step is written into the task's document only when its
 * window ends, when the volunteer moves on to another step, or when the page is hidden
 * or closed; undo drops it, and nothing of it ever reached the document.
 *
 * Pure bookkeeping: the store says how a step is written (`write`) and hears of every
 * change (`changed`); timers are injected so tests run without waiting.
 */
import type { TaskStatus } from "../generated"

/** How long a step can be undone. */
export const UNDO_WINDOW_MS = 8_000

export interface DeferredStep {
  task: string
  to: TaskStatus
  note?: string
  failureReason?: string
  /** When the volunteer tapped: the time of the log entry, wherever it is written. */
  at: number
}

export interface Timers {
  set(fn: () => void, ms: number): unknown
  clear(handle: unknown): void
}

const realTimers: Timers = {
  set: (fn, ms) => setTimeout(fn, ms),
  clear: h => clearTimeout(h as ReturnType<typeof setTimeout>),
}

export class DeferredSteps {
  private readonly steps = new Map<string, { step: DeferredStep; timer: unknown }>()

  constructor(
    private readonly write: (step: DeferredStep) => void,
    private readonly changed: () => void,
    private readonly windowMs = UNDO_WINDOW_MS,
    private readonly timers: Timers = realTimers,
  ) {}

  /** Holds a step back for the window. Any step held before is written first: the
   * volunteer has moved on. */
  defer(step: DeferredStep): void {
    this.commitAll()
    const timer = this.timers.set(() => this.commitSafely(step.task), this.windowMs)
    this.steps.set(step.task, { step, timer })
    this.changed()
  }

  /** Drops the task's held step; false when there was none (its window had ended). */
  undo(task: string): boolean {
    const held = this.steps.get(task)
    if (!held) return false
    this.timers.clear(held.timer)
    this.steps.delete(task)
    this.changed()
    return true
  }

  /** Writes the task's held step now. */
  commit(task: string): void {
    const held = this.steps.get(task)
    if (!held) return
    this.timers.clear(held.timer)
    // Removed before writing: a write that fails must not leave a step that can never go.
    this.steps.delete(task)
    try {
      this.write(held.step)
    } finally {
      this.changed()
    }
  }

  /** Writes every held step now (page hidden or closed, another step, logout). */
  commitAll(): void {
    for (const task of [...this.steps.keys()]) this.commitSafely(task)
  }

  private commitSafely(task: string): void {
    try {
      this.commit(task)
    } catch (e) {
      // The task changed meanwhile (cancelled by the coordinator?): the step is void.
      console.error("a held step could not be written", e)
    }
  }

  get(task: string): DeferredStep | undefined {
    return this.steps.get(task)?.step
  }

  /** The held steps by task id (for the screens). */
  all(): Record<string, DeferredStep> {
    return Object.fromEntries([...this.steps].map(([id, h]) => [id, h.step]))
  }

  ids(): string[] {
    return [...this.steps.keys()]
  }
}
