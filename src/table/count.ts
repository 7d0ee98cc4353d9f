/**
 * Counting a range of an index in O(log n) without walking it, for the planner's estimates.
 *
 * sorted-btree keeps the size of every internal node's subtree (`BNodeInternal._size`, what
 * its own `size` reads) and, in an internal node, the largest key of each child
 * (`keys[i] === children[i].maxKey()`). The rank of a key — how many keys sort below it — is
 * then one descent: at each level, add the sizes of the children left of the one the key
 * falls into. That reads the library's node layout, which is not part of its typed API, so
 * test/table/count.test.ts checks the counts against a walk on trees built, edited and
 * cloned at random: a change of layout in a new sorted-btree fails there, not silently here.
 */
import type { BTree } from './indexes.js'

interface Node<K> {
  keys: K[]
  children?: Node<K>[]
  size(): number
}

// First index i with keys[i] >= k (keys sorted by cmp), or keys.length.
function lowerBound<K>(keys: K[], k: K, cmp: (a: K, b: K) => number): number {
  let lo = 0
  let hi = keys.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (cmp(keys[mid]!, k) < 0) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** How many keys of `tree` sort strictly below `k`: O(log n · node size). */
export function rank<K>(tree: BTree<K, unknown>, k: K): number {
  const cmp = tree._compare
  let node = (tree as unknown as { _root: Node<K> })._root
  let n = 0
  while (node.children !== undefined) {
    const i = lowerBound(node.keys, k, cmp)
    const children = node.children
    if (i >= children.length) return n + node.size()
    for (let j = 0; j < i; j++) n += children[j]!.size()
    node = children[i]!
  }
  return n + lowerBound(node.keys, k, cmp)
}

/**
 * How many keys lie in `[lo, hi)` (undefined: open on that side). Exact for the tree as
 * it is; the table's trees may still hold entries that expired and were not swept, so for
 * the records a scan yields it is an upper bound.
 */
export function countRange<K>(tree: BTree<K, unknown>, lo: K | undefined, hi: K | undefined): number {
  const below = lo === undefined ? 0 : rank(tree, lo)
  const upto = hi === undefined ? tree.size : rank(tree, hi)
  return Math.max(0, upto - below)
}
