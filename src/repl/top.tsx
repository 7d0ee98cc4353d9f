/**
 * `ww top`'s screen (Ink 6 + React 19): the peers matching a query, kept current by a watch
 * (`View.watch` with `heartbeats` and `times`, docs/protocol.md#watch) and redrawn in place.
 *
 * - `TopModel` is the state, without React: the matching peers with when the node first saw
 *   each instance and when its last heartbeat came (turned from the node's `age`/`seen`
 *   durations into times on this machine's clock as each event arrives, so no clock
 *   agreement is needed), and per-second counts of joins, leaves and expiries for the last
 *   minute (60 buckets: bounded however busy the cluster).
 * - `TopView` draws a model as text lines that fit the terminal: a title, the column header,
 *   the rows, a footer with the last minute's counts and the help line.
 * - `TopApp` adds the keys (`h`/`p`/`a`/`s` sort by host, peer, age, seen; the same key again
 *   reverses; `q` quits, Ctrl-C interrupts), the terminal size and the redraws: at most 10
 *   per second on changes, and once a second for the ages.
 *
 * The command (connecting, the alternate screen, exit codes) is src/cli/top.ts.
 */
import React, { useEffect, useRef, useState } from 'react'
import { Box, Text, useInput, useStdout } from 'ink'
import type { WatchEvent } from '../api.js'
import { formatAge } from '../format/text.js'
import type { RoutingRecord } from '../record/record.js'

/** A column `ww top` sorts by. */
export type TopSort = 'host' | 'peer' | 'age' | 'seen'

/** The sort keys (the help line lists them). */
export const TOP_SORT_KEYS: Readonly<Record<string, TopSort>> = { h: 'host', p: 'peer', a: 'age', s: 'seen' }

/** One matching peer as `ww top` holds it. */
export interface TopPeer {
  record: RoutingRecord
  /** When (this machine's clock, ms) the node first took in this instance; undefined when it didn't say. */
  since: number | undefined
  /** When (this machine's clock, ms) the node received its latest heartbeat; undefined when it didn't say. */
  seenAt: number | undefined
}

/** The last minute's changes. */
export interface TopCounts {
  joined: number
  left: number
  expired: number
  unmatched: number
}

const WINDOW_S = 60
type CountKind = keyof TopCounts

/** The matching peers and the last minute's changes; see the file comment. */
export class TopModel {
  /** The current match set (after `synced`), peer → what is shown of it. */
  readonly peers = new Map<string, TopPeer>()
  /** True once the current watch delivered its initial matches. */
  synced = false
  /** Bumped on every change that alters what is drawn. */
  version = 0
  // The initial matches of the running watch, until its `synced` replaces `peers` with them.
  #fresh: Map<string, TopPeer> | undefined = new Map()
  // Ring of per-second counts: second → counts (index second % 60).
  readonly #buckets: Array<{ sec: number } & TopCounts> = Array.from({ length: WINDOW_S }, () => ({ sec: -1, joined: 0, left: 0, expired: 0, unmatched: 0 }))
  #listener: (() => void) | undefined

  /** Called after every change (one listener: the view). */
  onChange(listener: (() => void) | undefined): void {
    this.#listener = listener
  }

  /** Asks the view to redraw (a notice beside the model changed). */
  touch(): void {
    this.version++
    this.#listener?.()
  }

  /**
   * A new watch begins (after a reconnect): its initial matches replace the peers at its
   * `synced`; until then the old ones stay on screen. Nothing of the difference is counted
   * (whether a missing peer left or expired is not known).
   */
  restart(): void {
    this.#fresh = new Map()
  }

  /** Takes in one watch event that arrived at `now` (this machine's clock, ms). */
  apply(e: WatchEvent, now: number): void {
    switch (e.kind) {
      case 'record':
        ;(this.#fresh ?? this.peers).set(e.record.peer, this.#peer(e.record, e, now))
        return
      case 'synced':
        if (this.#fresh !== undefined) {
          this.peers.clear()
          for (const [k, v] of this.#fresh) this.peers.set(k, v)
          this.#fresh = undefined
        }
        this.synced = true
        break
      case 'joined':
      case 'updated':
        if (e.kind === 'joined') this.#count('joined', now)
        this.peers.set(e.record.peer, this.#peer(e.record, e, now))
        break
      case 'left':
      case 'expired':
      case 'unmatched':
        this.#count(e.kind, now)
        this.peers.delete(e.record.peer)
        break
    }
    this.version++
    this.#listener?.()
  }

  // The node's age/seen are durations when the event was sent: times on this clock now.
  // Without them, a newer record of the same instance keeps what was known, and an
  // `updated` (with heartbeats, one per heartbeat) means it was just seen.
  #peer(r: RoutingRecord, e: { kind: string; age?: number; seen?: number }, now: number): TopPeer {
    const had = this.peers.get(r.peer)
    const same = had !== undefined && had.record.server === r.server
    const since = e.age !== undefined ? now - e.age : same ? had.since : undefined
    const seenAt = e.seen !== undefined ? now - e.seen : e.kind === 'updated' || e.kind === 'joined' ? now : same ? had.seenAt : undefined
    return { record: r, since, seenAt }
  }

  #count(kind: CountKind, now: number): void {
    const sec = Math.floor(now / 1000)
    const b = this.#buckets[sec % WINDOW_S]!
    if (b.sec !== sec) {
      b.sec = sec
      b.joined = b.left = b.expired = b.unmatched = 0
    }
    b[kind]++
  }

  /** Joins, leaves, expiries and unmatched peers in the 60 s before `now`. */
  counts(now: number): TopCounts {
    const sec = Math.floor(now / 1000)
    const c: TopCounts = { joined: 0, left: 0, expired: 0, unmatched: 0 }
    for (const b of this.#buckets) {
      if (b.sec <= sec - WINDOW_S || b.sec > sec) continue
      c.joined += b.joined
      c.left += b.left
      c.expired += b.expired
      c.unmatched += b.unmatched
    }
    return c
  }

  /**
   * The peers in display order: by host (then peer), peer, age (youngest first) or seen
   * (longest silent first); `reverse` flips it. Unknown times sort last.
   */
  rows(sort: TopSort, reverse = false): TopPeer[] {
    const rows = [...this.peers.values()]
    const byPeer = (a: TopPeer, b: TopPeer): number => (a.record.peer < b.record.peer ? -1 : a.record.peer > b.record.peer ? 1 : 0)
    const num = (x: number | undefined, desc: boolean): number => (x === undefined ? Infinity : desc ? -x : x)
    let cmp: (a: TopPeer, b: TopPeer) => number
    switch (sort) {
      case 'host':
        cmp = (a, b) => (a.record.host < b.record.host ? -1 : a.record.host > b.record.host ? 1 : byPeer(a, b))
        break
      case 'peer':
        cmp = byPeer
        break
      case 'age': // youngest first: the most recent `since` first
        cmp = (a, b) => num(a.since, true) - num(b.since, true) || byPeer(a, b)
        break
      case 'seen': // longest silent first: the oldest `seenAt` first
        cmp = (a, b) => num(a.seenAt, false) - num(b.seenAt, false) || byPeer(a, b)
        break
    }
    rows.sort(reverse ? (a, b) => cmp(b, a) : cmp)
    return rows
  }
}

// Control characters (a hostile host or meta value could move the cursor) shown as '?'.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g
const clean = (s: string): string => s.replace(CONTROL, '?')

function fit(s: string, w: number): string {
  return s.length <= w ? s.padEnd(w) : s.slice(0, Math.max(0, w - 1)) + '…'
}

/** How the view is drawn. */
export interface TopViewProps {
  model: TopModel
  sort: TopSort
  reverse: boolean
  /** This machine's clock, ms (ages are drawn relative to it). */
  now: number
  /** The first line: what is watched where. */
  title: string
  /** A notice instead of the peer count (connection lost, reconnecting). */
  status?: string
  /** Terminal size. */
  columns: number
  rows: number
}

const GAP = '  '
const HOST_MAX = 30
const META_MAX = 20
const META_COLS = 4

/** The help line: the keys. */
export function topHelp(sort: TopSort, reverse: boolean): string {
  return `sort: h host · p peer · a age · s seen (again: reverse) — now ${sort}${reverse ? ' ↑' : ''} · q quit`
}

/** The screen's lines for a model, at most `rows − 1` of them (Ink clears a screen it fills). */
export function topLines(p: TopViewProps): { title: string; header: string; body: string[]; footer: string; help: string } {
  const peers = p.model.rows(p.sort, p.reverse)
  // The meta keys most peers have, as columns (region-like), at most META_COLS of them.
  const freq = new Map<string, number>()
  for (const x of peers) for (const k of Object.keys(x.record.meta)) freq.set(k, (freq.get(k) ?? 0) + 1)
  const keys = [...freq.keys()].sort((a, b) => freq.get(b)! - freq.get(a)! || (a < b ? -1 : 1)).slice(0, META_COLS)
  const space = Math.max(1, p.rows - 5) // title, header, footer, help, and one spare line
  const shown = peers.slice(0, space)
  let hostW = 4
  let peerW = 4
  const metaW = keys.map((k) => Math.min(META_MAX, k.length))
  for (const x of shown) {
    hostW = Math.max(hostW, Math.min(HOST_MAX, x.record.host.length))
    peerW = Math.max(peerW, x.record.peer.length)
    keys.forEach((k, i) => (metaW[i] = Math.min(META_MAX, Math.max(metaW[i]!, (x.record.meta[k] ?? '').length))))
  }
  const line = (host: string, peer: string, meta: string[], age: string, seen: string): string =>
    (fit(host, hostW) + GAP + fit(peer, peerW) + GAP + meta.map((m, i) => fit(m, metaW[i]!) + GAP).join('') + age.padStart(4) + GAP + seen.padStart(4)).slice(0, p.columns)
  const t = (x: number | undefined): string => (x === undefined ? '-' : formatAge(Math.max(0, p.now - x)))
  const body = shown.map((x) =>
    line(
      clean(x.record.host === '' ? '-' : x.record.host),
      x.record.peer,
      keys.map((k) => clean(x.record.meta[k] ?? '-')),
      t(x.since),
      t(x.seenAt),
    ),
  )
  if (peers.length > shown.length) body.push(`… ${peers.length - shown.length} more (a taller terminal shows them)`.slice(0, p.columns))
  const c = p.model.counts(p.now)
  const what = p.status ?? (p.model.synced ? `${peers.length} peer${peers.length === 1 ? '' : 's'}` : 'loading…')
  return {
    title: `${p.title} — ${what}`.slice(0, p.columns),
    header: line('HOST', 'PEER', keys.map((k) => clean(k).toUpperCase()), 'AGE', 'SEEN'),
    body,
    footer: `last minute: ${c.joined} joined · ${c.left} left · ${c.expired} expired${c.unmatched > 0 ? ` · ${c.unmatched} unmatched` : ''}`.slice(0, p.columns),
    help: topHelp(p.sort, p.reverse).slice(0, p.columns),
  }
}

/** The screen: title, table, footer, help line. */
export function TopView(p: TopViewProps): React.ReactElement {
  const l = topLines(p)
  return (
    <Box flexDirection="column">
      <Text bold>{l.title}</Text>
      <Text inverse>{l.header.padEnd(Math.min(p.columns, l.header.length))}</Text>
      {l.body.map((s, i) => (
        <Text key={i}>{s}</Text>
      ))}
      <Text color="cyan">{l.footer}</Text>
      <Text dimColor>{l.help}</Text>
    </Box>
  )
}

/** Props of `TopApp`. */
export interface TopAppProps {
  model: TopModel
  title: string
  /** A notice for the title line, read at each redraw (connection lost, reconnecting). */
  status?: () => string | undefined
  /** `q` (0) or Ctrl-C (130). */
  onQuit: (code: number) => void
  /** Clock, ms. @default Date.now */
  now?: () => number
  /** Least time between two redraws for changes, ms. @default 100 */
  throttleMs?: number
}

/** The live screen: a `TopView` redrawn as the model changes and as time passes, with the keys. */
export function TopApp({ model, title, status, onQuit, now = Date.now, throttleMs = 100 }: TopAppProps): React.ReactElement {
  const { stdout } = useStdout()
  const [, setTick] = useState(0)
  const [sort, setSort] = useState<TopSort>('host')
  const [reverse, setReverse] = useState(false)
  const sortRef = useRef({ sort, reverse })
  const [size, setSize] = useState({ columns: stdout.columns || 80, rows: stdout.rows || 24 })

  useEffect(() => {
    let timer: NodeJS.Timeout | undefined
    let last = 0
    model.onChange(() => {
      if (timer !== undefined) return
      const wait = Math.max(0, last + throttleMs - performance.now())
      timer = setTimeout(() => {
        timer = undefined
        last = performance.now()
        setTick((n) => n + 1)
      }, wait)
    })
    const second = setInterval(() => setTick((n) => n + 1), 1000)
    const resize = (): void => setSize({ columns: stdout.columns || 80, rows: stdout.rows || 24 })
    stdout.on('resize', resize)
    return () => {
      model.onChange(undefined)
      clearTimeout(timer)
      clearInterval(second)
      stdout.off('resize', resize)
    }
  }, [model, stdout, throttleMs])

  useInput((input, key) => {
    if (key.ctrl && input === 'c') return onQuit(130)
    if (input === 'q') return onQuit(0)
    const s = TOP_SORT_KEYS[input]
    if (s === undefined) return
    // The same key again reverses; another key sorts by its column, in its natural order.
    const next = { sort: s, reverse: sortRef.current.sort === s ? !sortRef.current.reverse : false }
    sortRef.current = next
    setSort(next.sort)
    setReverse(next.reverse)
  })

  return <TopView model={model} sort={sort} reverse={reverse} now={now()} title={title} status={status?.()} columns={size.columns} rows={size.rows} />
}
