/**
 * The canonical text of a Statement: `parseQuery(formatStatement(s))` deep-equals `s` for every
 * valid Statement. Keywords are upper case, the op lower case (`ls`, `lookup`, like the
 * commands), clauses in the order selector, constraints (as listed), REVERSE; values and keys
 * are quoted only when they must be.
 */
import type { Constraint, Index, Pattern, Predicate, Statement } from './ast.js'

const KEYWORD_SET = new Set(['LS', 'LOOKUP', 'WHERE', 'FROM', 'TO', 'LIMIT', 'REVERSE', 'AND', 'IN'])
// Names that a bare key can't take: they mean something else (builtin, unindexed field, keyword).
const RESERVED_KEYS = new Set(['host', 'peer', 'server', 'seq', 'ttl'])

/**
 * True when `s` can't be written as a bare word: empty, or holds a blank, `=`, `"`, `*`,
 * `!` (which could start `!=`), `(`, `)` or `,` (which end a word in an IN list).
 */
export function needsQuotes(s: string): boolean {
  return s === '' || /[\s="*!(),]/.test(s)
}

// A bare key may not hold these either (they are operator slips: see build.ts).
function keyNeedsQuotes(s: string): boolean {
  return needsQuotes(s) || /[<>]/.test(s)
}

/** `s` as a double-quoted string, with `"` and `\` escaped. */
export function quote(s: string): string {
  return `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`
}

/** The text of a field: `host`, `region`, `meta.limit`, `meta."a b"`. */
export function formatField(index: Pick<Index, 'field' | 'key'>): string {
  if (index.field !== 'meta') return index.field
  const key = index.key ?? ''
  if (keyNeedsQuotes(key)) return `meta.${quote(key)}`
  if (RESERVED_KEYS.has(key) || KEYWORD_SET.has(key.toUpperCase()) || key.startsWith('meta.')) return `meta.${key}`
  return key
}

/** The text of a value pattern: `web`, `web*`, `*`, `"a b"`. */
export function formatPattern(p: Pattern): string {
  const v = p.prefix && p.value === '' ? '' : needsQuotes(p.value) ? quote(p.value) : p.value
  return `${v}${p.prefix ? '*' : ''}`
}

/** The text of an index: `host=web`, `host=web*`, `host=*`, `region="a b"`. */
export function formatIndex(index: Index, op = '='): string {
  return `${formatField(index)}${op}${formatPattern(index)}`
}

/** The text of a predicate: `host=web*`, `region!=eu`, `role IN (db, "a b")`. */
export function formatPredicate(p: Predicate): string {
  if (p.kind === 'eq') return formatIndex(p.index)
  if (p.kind === 'ne') return formatIndex(p.index, '!=')
  return `${formatField(p)} IN (${p.values.map(formatPattern).join(', ')})`
}

function formatConstraint(c: Constraint): string {
  return c.kind === 'limit' ? `LIMIT ${c.n}` : `TO ${formatIndex(c.index)}`
}

/** Canonical query text for a Statement; parses back to an equal Statement. */
export function formatStatement(s: Statement): string {
  const parts: string[] = [s.op]
  if (s.selector.kind === 'match') parts.push(`WHERE ${formatIndex(s.selector.index)}`)
  if (s.where !== undefined && s.where.length > 0) parts.push(`WHERE ${s.where.map(formatPredicate).join(' AND ')}`)
  if (s.selector.kind === 'from') parts.push(`FROM ${formatIndex(s.selector.index)}`)
  for (const c of s.constraints) parts.push(formatConstraint(c))
  if (s.reverse) parts.push('REVERSE')
  return parts.join(' ')
}
