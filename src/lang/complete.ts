/**
 * Tab completion for the shell: what fits at the cursor, from the grammar itself (the
 * parser's content assist), so completion never offers what the parser would reject.
 * The shell adds what only the node knows: meta keys and the values of an index.
 */
import type { IToken } from 'chevrotain'
import type { FieldName } from './ast.js'
import { MAX_QUERY_LENGTH } from './errors.js'
import { expectedAfter } from './syntax.js'
import { formatField } from './format.js'
import { And, Comma, Eq, From, In, keywordTokens, Limit, Lookup, LParen, MetaDot, Neq, Reverse, Str, To, tokenEnd, Where, Word, decodeString, lexQuery } from './tokens.js'

const BUILTINS = ['host', 'peer', 'server'] as const

/** What may be typed at the cursor. */
export interface Completion {
  /** Offset where the word being completed starts: a completion replaces `text.slice(start, cursor)`. */
  start: number
  /** The part of that word already typed (may start with `meta.` for a meta key). */
  prefix: string
  /** Keywords valid here that start with `prefix` (case-insensitive), upper case. */
  keywords: string[]
  /** True when any field fits here: offer `fields`, and the meta keys the node knows. */
  field: boolean
  /**
   * Field names to offer that start with `prefix`: the builtin fields when any field fits, or
   * only the other end's field after `FROM f=v TO` or `TO f=v FROM` (then `field` is false: no other key fits).
   */
  fields: string[]
  /** When a value fits here: the index whose values to offer (those starting with `prefix`). */
  value?: { field: FieldName; key?: string }
}

function isWordLike(t: IToken): boolean {
  return t.tokenType === Word || keywordTokens.includes(t.tokenType)
}

/** The index named by the field tokens just before an `=` at `eqAt`, if it names one. */
function fieldBefore(tokens: IToken[], eqAt: number): { field: FieldName; key?: string } | undefined {
  const t = tokens[eqAt - 1]
  if (t === undefined) return undefined
  if (t.tokenType === Str && tokens[eqAt - 2]?.tokenType === MetaDot) {
    const key = decodeString(t.image, t.startOffset)
    return typeof key === 'string' && key !== '' && !key.includes('=') ? { field: 'meta', key } : undefined
  }
  if (t.tokenType !== Word) return undefined
  const name = t.image
  if (name.startsWith('meta.')) return name.length > 5 ? { field: 'meta', key: name.slice(5) } : undefined
  if ((BUILTINS as readonly string[]).includes(name)) return { field: name as FieldName }
  if (name === 'seq' || name === 'ttl') return undefined
  return { field: 'meta', key: name }
}

/** The builtin fields named so far by FROM/TO (`range`) and by WHERE's predicates (`where`). */
function namedFields(tokens: IToken[]): { range: string[]; where: string[] } {
  const range: string[] = []
  const where: string[] = []
  let inWhere = false
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!.tokenType
    if (t === Where) inWhere = true
    else if (t === From || t === To || t === Limit || t === Reverse) inWhere = false
    else if (t === Eq || t === Neq || t === In) {
      const f = fieldBefore(tokens, i)
      if (f !== undefined) (inWhere ? where : range).push(formatField(f))
    }
  }
  return { range, where }
}

/**
 * What fits at `cursor` (default: the end) in `text`. Never throws; where nothing fits
 * (inside a string, after a mistake) the lists are empty.
 */
export function completeAt(text: string, cursor: number = text.length): Completion {
  const none = (start: number, prefix: string): Completion => ({ start, prefix, keywords: [], field: false, fields: [] })
  if (typeof text !== 'string') return none(0, '')
  const at = Math.max(0, Math.min(Number.isFinite(cursor) ? Math.floor(cursor) : text.length, text.length))
  if (at > MAX_QUERY_LENGTH) return none(at, '')
  const { tokens } = lexQuery(text.slice(0, at))
  const last = tokens[tokens.length - 1]
  let start = at
  let prefix = ''
  let preceding = tokens
  if (last !== undefined && tokenEnd(last) === at) {
    if (isWordLike(last)) {
      start = last.startOffset
      prefix = last.image
      preceding = tokens.slice(0, -1)
    } else if (last.tokenType !== Eq && last.tokenType !== Neq && last.tokenType !== LParen && last.tokenType !== Comma) {
      // Right after a string, a `*` or `meta.`: nothing to complete until a blank.
      return none(at, '')
    }
  }
  const expected = expectedAfter(preceding)
  const upper = prefix.toUpperCase()
  // The grammar allows these; the builder would reject them (each clause once, TO not with
  // WHERE, LIMIT not with LOOKUP), so don't offer them.
  const has = (type: unknown): boolean => preceding.some((t) => t.tokenType === type)
  const ruledOut = new Set<string>()
  for (const t of [To, Limit, Reverse]) if (has(t)) ruledOut.add(t.name)
  if (has(Lookup)) ruledOut.add(Limit.name)
  const keywords = expected.filter(
    (e) => keywordTokens.some((k) => k.name === e) && e.startsWith(upper) && !ruledOut.has(e),
  )
  let field = expected.includes('a field')
  let fields: string[] = field ? BUILTINS.filter((f) => f.startsWith(prefix)) : []
  const clause = preceding[preceding.length - 1]?.tokenType
  // The other end of a range, when this clause is FROM or TO and the other came first.
  const other = clause === To ? From : clause === From ? To : undefined
  const otherAt = other === undefined ? -1 : preceding.findIndex((t) => t.tokenType === other)
  if (field && otherAt >= 0) {
    // FROM and TO must name the same field: offer the one the other end named.
    const eqAt = preceding.findIndex((t, i) => i > otherAt && t.tokenType === Eq)
    const named = eqAt > 0 ? fieldBefore(preceding, eqAt) : undefined
    field = false
    fields = named === undefined ? [] : [formatField(named)].filter((f) => f.startsWith(prefix))
  } else if (field) {
    // WHERE and FROM/TO name different fields: leave out the builtins the other side names.
    const { range, where } = namedFields(preceding)
    const taken = clause === Where || clause === And ? range : where
    fields = fields.filter((f) => !taken.includes(f))
  }
  const out: Completion = { start, prefix, keywords, field, fields }
  if (expected.includes('a value')) {
    let opAt = preceding.length - 1
    const op = preceding[opAt]?.tokenType
    if (op === LParen || op === Comma) {
      // In an IN list: the field is the one before IN.
      while (opAt > 0 && preceding[opAt]!.tokenType !== In) opAt--
    }
    const at = preceding[opAt]?.tokenType
    const value = at === Eq || at === Neq || at === In ? fieldBefore(preceding, opAt) : undefined
    if (value !== undefined) out.value = value
  }
  return out
}
