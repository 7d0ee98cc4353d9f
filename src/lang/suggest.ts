/**
 * "Did you mean": the keyword nearest to a mistyped word. Distance is Damerau-Levenshtein
 * (optimal string alignment: a swap of two neighbours counts as one edit), case-insensitive.
 */

/** Edit distance between `a` and `b` (insert, delete, substitute, swap neighbours: one each). */
export function editDistance(a: string, b: string): number {
  const n = a.length
  const m = b.length
  if (n === 0) return m
  if (m === 0) return n
  // Three rolling rows are enough for the swap rule, which looks two rows back.
  let prev2 = new Array<number>(m + 1).fill(0)
  let prev = Array.from({ length: m + 1 }, (_, j) => j)
  let cur = new Array<number>(m + 1).fill(0)
  for (let i = 1; i <= n; i++) {
    cur[0] = i
    for (let j = 1; j <= m; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let d = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, prev2[j - 2]! + 1)
      cur[j] = d
    }
    ;[prev2, prev, cur] = [prev, cur, prev2]
  }
  return prev[m]!
}

/**
 * The candidate nearest to `word` (case-insensitive), when it is close enough to be a typo:
 * at most 2 edits, and at most half the word's length (so `x` never "means" `TO`).
 * Ties go to the earlier candidate. Returns undefined when nothing is close.
 */
export function nearest(word: string, candidates: readonly string[]): string | undefined {
  // Long words can't be within 2 edits of a short keyword: skip the work.
  if (word.length === 0 || word.length > 12) return undefined
  const w = word.toUpperCase()
  const max = Math.min(2, Math.floor(word.length / 2))
  let best: string | undefined
  let bestD = max + 1
  for (const c of candidates) {
    const d = editDistance(w, c.toUpperCase())
    if (d > 0 && d < bestD) {
      best = c
      bestD = d
    }
  }
  return best
}
