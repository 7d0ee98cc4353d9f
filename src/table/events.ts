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

/** The code of the process warning the default `onListenerError` emits: a listener threw. */
export const ERR_LISTENER_THREW = 'ERR_LISTENER_THREW'

/** Told what a 'change' listener threw, and the change it was handling. */
export type ListenerErrorHandler = (error: unknown, change: TableChange) => void

/** The default `onListenerError`: a process warning (printed on stderr by Node), never a throw. */
export function warnListenerError(error: unknown, change: TableChange): void {
  const what = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
  process.emitWarning(`ww: a routing table 'change' listener threw on '${change.kind}' of ${change.record.peer}: ${what}`, {
    type: 'WwTableWarning',
    code: ERR_LISTENER_THREW,
  })
}

/** The 'change' listeners of one table. */
export class ChangeEvents {
  #listeners: ChangeListener[] = []
  readonly #onError: ListenerErrorHandler

  /** @param onError Told of every error a listener throws. */
  constructor(onError: ListenerErrorHandler = warnListenerError) {
    this.#onError = onError
  }

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

  /**
   * Calls every listener with every change, in order, after the table is consistent. Never
   * throws: writes run inside callers such as the gossipsub validator, where an exception
   * (or one rethrown later, uncaught) would take the node down. A listener that throws
   * doesn't stop the others nor undo the change; its error goes to `onError`, and an
   * `onError` that throws itself is ignored.
   */
  emit(changes: readonly TableChange[] | undefined): void {
    if (changes === undefined || changes.length === 0) return
    const ls = this.#listeners
    for (const c of changes) {
      for (const l of ls) {
        try {
          l(c)
        } catch (err) {
          this.#report(err, c)
        }
      }
    }
  }

  #report(err: unknown, c: TableChange): void {
    try {
      this.#onError(err, c)
    } catch {
      // The reporter failed too; the write must still complete, so there is nowhere left.
    }
  }
}

function checkEvent(event: string): void {
  if (event !== 'change') throw new WwError(ERR_UNKNOWN_EVENT, `unknown event: ${String(event)}`)
}
