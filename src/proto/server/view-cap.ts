/**
 * The node-side View capability over a routing table (docs/protocol.md), and the null View.
 *
 * Methods (arguments are the `a` map of a `call` frame; see docs/protocol.md):
 *   iter    {q: Statement, times?: bool}      → stream of records (LS semantics), with age/seen if asked
 *   lookup  {q: Statement}                    → the first record, or nil
 *   values  {index, prefix?, limit?}          → array of strings
 *   watch   {q: Statement, heartbeats?: bool, times?: bool} → stream of watch events (docs/protocol.md#watch)
 *   reverse (with `bind`)                     → nil; binds a View yielding the opposite order
 *   count   {q: Statement}                    → uint: how many records iter would yield
 *   explain {q: Statement}                    → map: the plan and rows (QueryPlan of api.ts)
 * Each `iter`/`lookup` reads a fresh snapshot taken when the call arrives, so upserts during
 * a long stream don't change what it yields.
 */
import { WwError } from '../../errors.js'
import type { Statement } from '../../lang/ast.js'
import type { RoutingRecord } from '../../record/record.js'
import { checkWatchable, type NodeInfo, type QueryPlan, type ValuesIndex, type WatchEvent } from '../../api.js'
import { ERR_NOT_AUTHORIZED } from '../wire/codes.js'
import { ERR_BAD_FRAME } from '../wire/frames.js'
import { type CallContext, type CallOutcome, type ServerCap, type StreamSource, unknownMethod } from './caps.js'
import { validateStatement, MAX_QUERY_VALUE } from '../wire/statement.js'
import { encodeRecord, writeRecord } from '../wire/record-codec.js'
import { writeWatchEvent } from '../wire/watch-codec.js'

/** What the View needs of a table (the table's `RoutingTable` has this shape). */
export interface ServedTable {
  /**
   * A scan on a fresh snapshot that is released as soon as the scan ends or is closed, so a
   * busy node doesn't keep old record versions alive until the collector runs.
   */
  scan(s: Statement): Iterator<RoutingRecord>
  /**
   * Distinct values of an index starting with `prefix`, at most `limit`, live now; its work
   * must be bounded by what it returns (it answers every client's completion requests).
   */
  values(index: ValuesIndex, prefix?: string, limit?: number): string[]
  /**
   * A live query (`RoutingTable.watcher`): the current matches, `synced`, then the changes,
   * answering `next()` synchronously when it can; `return()` ends it and frees what it holds.
   * Must refuse LIMIT and LOOKUP (ERR_WATCH_LIMIT). A table without it answers `watch` with
   * ERR_UNKNOWN_METHOD.
   */
  /**
   * `age` and `seen` (ms) of the live instance `server` of `peer`, for `iter` with
   * `times: true`; without it such records go without them.
   */
  times?(peer: string, server: string): { age: number; seen: number } | undefined
  watcher?(s: Statement, options: { heartbeats?: boolean; times?: boolean }): { next(): IteratorResult<WatchEvent> | Promise<IteratorResult<WatchEvent>>; return(): IteratorResult<WatchEvent> }
  /** How many records `scan(s)` yields (`count`); without it, the scan is counted here. */
  count?(s: Statement): number
  /** The plan and rows of `s` (`explain`); without it, `explain` is an unknown method. */
  explain?(s: Statement): QueryPlan
}

/** Largest `limit` of a `values` call; larger ones are clamped. */
export const MAX_VALUES = 10_000

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array) && !(v instanceof Date)
}

function valuesArgs(a: Record<string, unknown>): { index: ValuesIndex; prefix: string; limit: number } {
  const ix = a.index
  if (!isMap(ix) || (ix.field !== 'host' && ix.field !== 'peer' && ix.field !== 'server' && ix.field !== 'meta')) {
    throw new WwError(ERR_BAD_FRAME, "values: 'index' must be a map {field: host|peer|server|meta, key?}")
  }
  const index: ValuesIndex = { field: ix.field }
  if (ix.key !== undefined && ix.key !== null) {
    if (ix.field !== 'meta' || typeof ix.key !== 'string' || ix.key.length > MAX_QUERY_VALUE) {
      throw new WwError(ERR_BAD_FRAME, "values: 'index.key' must be a string, and only with field meta")
    }
    index.key = ix.key
  }
  const prefix = a.prefix ?? ''
  if (typeof prefix !== 'string' || prefix.length > MAX_QUERY_VALUE) throw new WwError(ERR_BAD_FRAME, "values: 'prefix' must be a string")
  const limit = a.limit ?? MAX_VALUES
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 0) throw new WwError(ERR_BAD_FRAME, "values: 'limit' must be a non-negative integer")
  return { index, prefix, limit: Math.min(limit, MAX_VALUES) }
}

// Each record with its instance's age and last-seen, as they are when it is pulled to be sent.
function withTimes(scan: Iterator<RoutingRecord>, times: (peer: string, server: string) => { age: number; seen: number } | undefined): Iterator<unknown> {
  return {
    next() {
      const r = scan.next()
      if (r.done === true) return r
      const t = times(r.value.peer, r.value.server)
      return { done: false, value: t === undefined ? r.value : { ...r.value, age: t.age, seen: t.seen } }
    },
    return(v?: unknown) {
      scan.return?.()
      return { done: true, value: v }
    },
  }
}

function watchOptions(a: Record<string, unknown>): { heartbeats: boolean; times: boolean } {
  const heartbeats = a.heartbeats ?? false
  if (typeof heartbeats !== 'boolean') throw new WwError(ERR_BAD_FRAME, "watch: 'heartbeats' must be a boolean")
  const times = a.times ?? false
  if (typeof times !== 'boolean') throw new WwError(ERR_BAD_FRAME, "watch: 'times' must be a boolean")
  return { heartbeats, times }
}

/** A View of `table`; `reversed` flips the order of everything it yields. */
export class ViewCap implements ServerCap {
  readonly isNull = false
  readonly #table: ServedTable
  readonly #reversed: boolean
  readonly #info: (() => NodeInfo) | undefined

  /** `info`: what the node says about itself (`info`); without it, `info` is an unknown method. */
  constructor(table: ServedTable, reversed = false, info?: () => NodeInfo) {
    this.#table = table
    this.#reversed = reversed
    this.#info = info
  }

  #statement(a: Record<string, unknown>): Statement {
    const s = validateStatement(a.q)
    return this.#reversed ? { ...s, reverse: !s.reverse } : s
  }

  call(m: string, a: Record<string, unknown>, ctx: CallContext): CallOutcome {
    switch (m) {
      case 'iter': {
        // Every argument is checked before the scan: a scan holds a generation of the table.
        const times = a.times ?? false
        if (typeof times !== 'boolean') throw new WwError(ERR_BAD_FRAME, "iter: 'times' must be a boolean")
        const scan = this.#table.scan(this.#statement(a))
        if (times && this.#table.times !== undefined) return { stream: withTimes(scan, this.#table.times.bind(this.#table)) }
        return { stream: scan, encode: encodeRecord, write: writeRecord }
      }
      case 'watch': {
        if (this.#table.watcher === undefined) throw unknownMethod('View', m)
        const w = this.#table.watcher(this.#statement(a), watchOptions(a))
        return { stream: w as StreamSource, write: writeWatchEvent }
      }
      case 'lookup': {
        const it = this.#table.scan({ ...this.#statement(a), op: 'lookup' })
        try {
          const r = it.next()
          return { value: r.done === true ? null : r.value }
        } finally {
          it.return?.()
        }
      }
      case 'values': {
        const { index, prefix, limit } = valuesArgs(a)
        return { value: this.#table.values(index, prefix, limit) }
      }
      case 'reverse':
        ctx.bind(new ViewCap(this.#table, !this.#reversed, this.#info))
        return { value: null }
      case 'count': {
        const s = this.#statement(a)
        if (this.#table.count !== undefined) return { value: this.#table.count(s) }
        let n = 0
        const it = this.#table.scan(s)
        while (it.next().done !== true) n++
        return { value: n }
      }
      case 'explain': {
        if (this.#table.explain === undefined) throw unknownMethod('View', m)
        return { value: { ...this.#table.explain(this.#statement(a)) } }
      }
      case 'info': {
        if (this.#info === undefined) throw unknownMethod('View', m)
        const i = this.#info()
        return { value: { ...i, p2p: [...i.p2p], heartbeats: { ...i.heartbeats } } }
      }
      default:
        throw unknownMethod('View', m)
    }
  }
}

/** The null View: `iter` ends at once, `lookup` yields nil, `values` [] and `reverse` another null View. */
export class NullViewCap implements ServerCap {
  readonly isNull = true
  call(m: string, a: Record<string, unknown>, ctx: CallContext): CallOutcome {
    switch (m) {
      case 'iter':
        // Still checked: a malformed query is the client's bug whatever it is allowed to see.
        validateStatement(a.q)
        return { stream: [][Symbol.iterator]() }
      case 'watch':
        checkWatchable(validateStatement(a.q))
        watchOptions(a)
        return { stream: [{ kind: 'synced' }][Symbol.iterator]() }
      case 'lookup':
        validateStatement(a.q)
        return { value: null }
      case 'values':
        valuesArgs(a)
        return { value: [] }
      case 'count':
        validateStatement(a.q)
        return { value: 0 }
      case 'reverse':
        ctx.bind(new NullViewCap())
        return { value: null }
      case 'info':
        throw new WwError(ERR_NOT_AUTHORIZED, "the node's information is for clients holding the real View: present the node's token")
      default:
        throw unknownMethod('View', m)
    }
  }
}
