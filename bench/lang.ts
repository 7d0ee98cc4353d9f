/**
 * Query language: cost of parsing typical queries, after warm-up. Baselines measured in the
 * same run: JSON.parse of the Statement's JSON text (what decoding an already-parsed query
 * costs) and lexing alone (the share of the Chevrotain lexer).
 */
import { completeAt, formatStatement, highlight, parseQuery, tryParseQuery } from '../src/lang/index.js'
import { lexQuery } from '../src/lang/tokens.js'

const QUERIES = [
  'ls WHERE region=us-east-1',
  'ls WHERE host=web*  LIMIT 10',
  'ls FROM host=a TO host=m* REVERSE',
  'lookup WHERE peer=12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA',
]

function time(n: number, fn: (i: number) => unknown): number {
  for (let i = 0; i < 20_000; i++) fn(i) // warm-up: let the JIT settle
  ;(globalThis as { gc?: () => void }).gc?.()
  const t0 = process.hrtime.bigint()
  let sink = 0
  for (let i = 0; i < n; i++) if (fn(i) !== undefined) sink++
  const ns = Number(process.hrtime.bigint() - t0) / n
  if (sink < 0) console.log(sink)
  return ns / 1000
}

/** Prints µs per operation and the ratio to the JSON.parse baseline. */
export async function run(): Promise<void> {
  const N = 200_000
  const statements = QUERIES.map((q) => parseQuery(q))
  const json = statements.map((s) => JSON.stringify(s))
  const bad = ['ls WHRE host=a', 'ls WHERE host=a LIMT 3', 'lookup LIMIT 3', 'WHERE k="a\\q"']
  const rows: [string, number][] = [
    ['baseline: JSON.parse(statement json)', time(N, (i) => JSON.parse(json[i & 3]!))],
    ['lexQuery only', time(N, (i) => lexQuery(QUERIES[i & 3]!))],
    ['parseQuery (typical query)', time(N, (i) => parseQuery(QUERIES[i & 3]!))],
    ['formatStatement (Statement → text)', time(N, (i) => formatStatement(statements[i & 3]!))],
    ['completeAt (end of a typical query)', time(N / 4, (i) => completeAt(QUERIES[i & 3]!))],
    ['tryParseQuery (malformed, with expected + hint)', time(N / 10, (i) => tryParseQuery(bad[i & 3]!))],
    ['highlight (typical query)', time(N / 4, (i) => highlight(QUERIES[i & 3]!))],
  ]
  const base = rows[0]![1]
  for (const [label, us] of rows) {
    console.log(`${label.padEnd(50)} ${us.toFixed(2).padStart(8)} µs/op  ${(us / base).toFixed(1).padStart(6)}× baseline`)
  }
}
