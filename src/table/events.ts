/**
 * The routing table's change events: what a change says, and the listener list that
 * delivers them after the table is consistent again.
 */
import { WwError } from '../errors.js'
import type { RoutingRecord } from '../record/record.js'

/** What happened to a peer: see `TableChange`. */
export type ChangeKind = 'joined' | 'updated' | 'left' | 'expired'

/** One membership change, emitted as the 'change' event after the table has changed. */
export interface TableChange {
  /** 'joined': new peer; 'updated': newer record of a live peer; 'left': ttl 0; 'expired': swept. */
  kind: ChangeKind
  /** The record now stored ('joined', 'updated'), the leave ('left') or the expired record. */
  record: RoutingRecord
  /** The record replaced ('updated') or removed ('left'). */
  previous?: RoutingRecord
}

/** Listener of the 'change' event. */
export type ChangeListener = (c: TableChange) => void

/** `on`/`off` was given an event other than 'change'. */
export const ERR_UNKNOWN_EVENT = 'ERR_UNKNOWN_EVENT'

/** The 'change' listeners of one table. */
export class ChangeEvents {
  #listeners: ChangeListener[] = []

  /** True when someone listens: a write builds change objects only then. */
  get active(): boolean {
    return this.#listeners.length > 0
  }

  /** Adds a listener (checks the event name). */
  on(event: string, listener: ChangeListener): void {
    checkEvent(event)
    this.#listeners = [...this.#listeners, listener]
  }

  /** Removes the first registration of `listener` (checks the event name). */
  off(event: string, listener: ChangeListener): void {
    checkEvent(event)
    const i = this.#listeners.indexOf(listener)
    if (i >= 0) this.#listeners = this.#listeners.filter((_, j) => j !== i)
  }

  // Listeners run after the table is consistent. A listener that throws doesn't stop the
  // others nor undo the change; its error is rethrown on its own, like EventTarget does.
  /** Calls every listener with every change, in order. */
  emit(changes: readonly TableChange[] | undefined): void {
    if (changes === undefined || changes.length === 0) return
    const ls = this.#listeners
    for (const c of changes) {
      for (const l of ls) {
        try {
          l(c)
        } catch (err) {
          queueMicrotask(() => {
            throw err
          })
        }
      }
    }
  }
}

function checkEvent(event: string): void {
  if (event !== 'change') throw new WwError(ERR_UNKNOWN_EVENT, `unknown event: ${String(event)}`)
}
