/**
 * `values`: the distinct values of one index (or the meta keys in use) that start with a
 * prefix, in order, for completion. The work is bounded by what is returned, not by the size
 * of the table: a walk from the prefix's first position, one O(log n) jump per distinct value
 * (or one step per meta key, the meta keys being a sorted map), stopping at the end of the
 * prefix's range or at `limit`. The only other cost is entries expired but not yet swept,
 * which are skipped.
 */
import type { ValuesIndex } from '../api.js'
import type { Trees } from './fields.js'
import { type Entry, type EntryTree, fieldValue, HIGH, type IndexRef, LOW, probe, versionAt } from './indexes.js'

/**
 * Distinct values of `index` in `t` live at `at` (reading generation `gen`; Infinity: the
 * newest versions), starting with `prefix`, at most `limit` of them.
 */
export function indexValues(t: Trees, index: ValuesIndex, prefix: string, limit: number, at: number, gen: number): string[] {
  const out: string[] = []
  const max = limit
  if (!(max >= 1)) return out
  if (index.field === 'meta' && index.key === undefined) {
    // The meta keys, from the first one ≥ prefix, while they start with it.
    for (const [k, m] of t.meta.entries(prefix)) {
      if (!k.startsWith(prefix)) break
      if (!anyLive(m.tree, at, gen)) continue
      out.push(k)
      if (out.length >= max) break
    }
    return out
  }
  const ref: IndexRef = index.field === 'meta' ? { field: 'meta', key: index.key } : { field: index.field }
  const tree = treeIn(t, ref)
  if (tree === undefined) return out
  let from: Entry | undefined = probe(ref, prefix, LOW)
  const inRange = (x: Entry): boolean => (fieldValue(x.r, ref) as string).startsWith(prefix)
  for (;;) {
    const e = firstLive(tree, from, at, gen, inRange)
    if (e === undefined) break
    const v = fieldValue(e.r, ref) as string
    out.push(v)
    if (out.length >= max) break
    // Jump over the rest of this value's entries: O(log n) per distinct value.
    from = probe(ref, v, HIGH)
  }
  return out
}

/** The index on `ref` in `t`, or undefined when no record has that meta key. */
export function treeIn(t: Trees, ref: IndexRef): EntryTree | undefined {
  switch (ref.field) {
    case 'peer':
      return t.peer
    case 'server':
      return t.server
    case 'host':
      return t.host
    case 'meta':
      return t.meta.get(ref.key as string)?.tree
  }
}

const always = (): boolean => true

// True when some entry of `tree` is live: its first entry nearly always is (no iterator is
// made for that check); otherwise walk on past the expired ones.
function anyLive(tree: EntryTree, at: number, gen: number): boolean {
  const first = tree.minKey()
  if (first === undefined) return false
  const v = versionAt(first, gen)
  if (v !== undefined && v.exp >= at) return true
  return firstLive(tree, first, at, gen, always) !== undefined
}

// The first entry from `from` that is live at `at` in generation `gen`, as long as `ok`
// holds. (`ok` reads only indexed fields, which every version of an entry shares.)
function firstLive(tree: EntryTree, from: Entry | undefined, at: number, gen: number, ok: (e: Entry) => boolean): Entry | undefined {
  for (const e of tree.keys(from)) {
    if (!ok(e)) return undefined
    const v = versionAt(e, gen)
    if (v !== undefined && v.exp >= at) return e
  }
  return undefined
}
