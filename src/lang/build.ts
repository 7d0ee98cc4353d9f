/**
 * The CST visitor that builds the AST of ast.ts, and checks the rules the grammar leaves out:
 * each clause at most once, TO only alone or after FROM on the same field, WHERE predicates
 * not on the field FROM/TO bound, no LIMIT on LOOKUP, LIMIT's range, meta keys (no operator
 * characters in a bare key), strings, and no blank inside `f=v` / `f!=v`. Errors are thrown as
 * QueryError with the column of the offending spot, checked left to right.
 */
import type { CstNode, IToken } from 'chevrotain'
import type { Constraint, FieldName, Index, Pattern, Predicate, Selector, Statement } from './ast.js'
import {
  ERR_QUERY_BAD_KEY,
  ERR_QUERY_BAD_LIMIT,
  ERR_QUERY_BAD_STRING,
  ERR_QUERY_DUPLICATE_CLAUSE,
  ERR_QUERY_LOOKUP_LIMIT,
  ERR_QUERY_SYNTAX,
  ERR_QUERY_TO_FIELD,
  ERR_QUERY_TO_WITH_WHERE,
  ERR_QUERY_UNKNOWN_FIELD,
  QueryError,
} from './errors.js'
import { parser } from './parser.js'
import { decodeString, tokenEnd } from './tokens.js'

/** The largest LIMIT: 2^31-1, so that a limit always fits a signed 32-bit integer on the wire. */
export const MAX_LIMIT = 2 ** 31 - 1

/** Record fields that exist but are not indexed: a bare `seq` is an error, not a meta key. */
export const UNINDEXED_FIELDS: readonly string[] = ['seq', 'ttl']

const BUILTIN = new Set<string>(['host', 'peer', 'server'])

type Ctx = Record<string, (CstNode | IToken)[] | undefined>

function tok(ctx: Ctx, name: string): IToken | undefined {
  return ctx[name]?.[0] as IToken | undefined
}

function node(ctx: Ctx, name: string): CstNode | undefined {
  return ctx[name]?.[0] as CstNode | undefined
}

function col(offset: number): number {
  return offset + 1
}

function fieldLabel(index: Pick<Index, 'field' | 'key'>): string {
  return index.field === 'meta' ? `meta.${index.key ?? ''}` : index.field
}

function sameField(a: Pick<Index, 'field' | 'key'>, b: Pick<Index, 'field' | 'key'>): boolean {
  return a.field === b.field && a.key === b.key
}

/** A pair as the builder sees it, with the spots needed for errors. */
interface Pair {
  index: Index
  /** Offset of the pair's first character (the field). */
  start: number
}

/** A predicate and the offset of its field. */
interface Located {
  predicate: Predicate
  start: number
}

/** A field as written, with its first and last offsets. */
interface FieldSpot {
  field: FieldName
  key?: string
  start: number
  end: number
}

function indexOf(f: FieldSpot, v: Pattern): Index {
  return f.field === 'meta'
    ? { field: 'meta', key: f.key!, value: v.value, prefix: v.prefix }
    : { field: f.field, value: v.value, prefix: v.prefix }
}

/** The field a predicate names, as an Index-shaped `{field, key}`. */
function fieldOf(p: Predicate): Pick<Index, 'field' | 'key'> {
  return p.kind === 'in' ? { field: p.field, key: p.key } : p.index
}

// Characters a bare key may not hold: each is a slip for an operator that ww has or lacks.
const KEY_SLIPS: Record<string, string> = {
  '!': 'did you mean !=?',
  '<': 'ranges are written FROM f=v and TO f=v (or use !=)',
  '>': 'ranges are written FROM f=v and TO f=v (or use !=)',
  '(': 'a list of values is written f IN (a, b*)',
  ')': 'a list of values is written f IN (a, b*)',
  ',': 'a list of values is written f IN (a, b*); several conditions are joined with AND',
}

/**
 * A bare key holding `!`, `<`, `>`, `(`, `)` or `,` is an operator the user meant, not a
 * key: `region!=x` lexes as `!=`, but `region>=x` would otherwise look up the key `region>`
 * and silently find nothing. (A quoted key, `meta."a!b"`, may hold them.)
 */
function checkBareKey(name: string, start: number): void {
  const at = name.search(/[!<>(),]/)
  if (at < 0) return
  const ch = name[at]!
  throw new QueryError(ERR_QUERY_SYNTAX, `a bare key cannot hold "${ch}"`, {
    column: col(start + at),
    expected: ['=', '!=', 'IN'],
    hint: KEY_SLIPS[ch]!,
  })
}

const BaseVisitor = parser.getBaseCstVisitorConstructor()

/** Builds a Statement from the CST of `statement`. Use through {@link buildStatement}. */
class AstBuilder extends BaseVisitor {
  private strings: Map<IToken, string> = new Map()

  constructor() {
    super()
    this.validateVisitor()
  }

  build(cst: CstNode, strings: Map<IToken, string>): Statement {
    this.strings = strings
    try {
      return this.visit(cst) as Statement
    } finally {
      this.strings = new Map()
    }
  }

  statement(ctx: Ctx): Statement {
    const op = tok(ctx, 'LOOKUP') !== undefined ? 'lookup' : 'ls'

    // Every clause in the order written, so errors come left to right and constraints keep
    // the user's order.
    type Kind = 'where' | 'from' | 'to' | 'limit' | 'reverse'
    const clauses: { offset: number; kind: Kind; item: CstNode | IToken }[] = []
    const add = (kind: Kind, name: string, keyword: string): void => {
      for (const n of (ctx[name] ?? []) as CstNode[]) {
        clauses.push({ offset: (n.children[keyword]![0] as IToken).startOffset, kind, item: n })
      }
    }
    add('where', 'whereClause', 'WHERE')
    add('from', 'fromClause', 'FROM')
    add('to', 'toClause', 'TO')
    add('limit', 'limitClause', 'LIMIT')
    for (const t of (ctx.REVERSE ?? []) as IToken[]) clauses.push({ offset: t.startOffset, kind: 'reverse', item: t })
    clauses.sort((a, b) => a.offset - b.offset)

    const constraints: Constraint[] = []
    const seen = new Set<string>()
    let reverse = false
    let from: Index | undefined
    // The field FROM/TO bound (FROM's, or the first TO's): WHERE may not name it.
    let range: Index | undefined
    let preds: Located[] = []
    for (const c of clauses) {
      if (seen.has(c.kind)) {
        throw new QueryError(ERR_QUERY_DUPLICATE_CLAUSE, `${c.kind.toUpperCase()} may appear only once`, {
          column: col(c.offset),
          ...(c.kind === 'where' ? { hint: 'join conditions with AND: WHERE a=1 AND b=2' } : {}),
        })
      }
      seen.add(c.kind)
      if (c.kind === 'reverse') {
        reverse = true
      } else if (c.kind === 'where') {
        preds = this.visit(c.item as CstNode) as Located[]
        for (const p of preds) {
          if (range !== undefined && sameField(range, fieldOf(p.predicate))) {
            throw new QueryError(ERR_QUERY_TO_WITH_WHERE, `WHERE cannot name ${fieldLabel(range)}: FROM/TO already bound it`, {
              column: col(p.start),
              hint: `put the bounds on ${fieldLabel(range)} in FROM/TO, the other conditions in WHERE`,
            })
          }
        }
      } else if (c.kind === 'from') {
        // FROM f=v* means FROM f=v: a lower bound has no use for a prefix.
        const pair = this.visit(c.item as CstNode) as Pair
        if (range !== undefined && !sameField(range, pair.index)) {
          const want = fieldLabel(range)
          throw new QueryError(ERR_QUERY_TO_FIELD, `FROM must name the same field as TO (${want})`, {
            column: col(pair.start),
            expected: [want],
          })
        }
        this.checkRangeField(preds, pair.index, c.offset, 'FROM')
        from = { ...pair.index, prefix: false }
        range = from
      } else if (c.kind === 'limit') {
        if (op === 'lookup') {
          throw new QueryError(ERR_QUERY_LOOKUP_LIMIT, 'LOOKUP takes no LIMIT: it yields at most one record', {
            column: col(c.offset),
            hint: 'use ls … LIMIT n for several records',
          })
        }
        constraints.push({ kind: 'limit', n: this.visit(c.item as CstNode) as number })
      } else {
        const pair = this.visit(c.item as CstNode) as Pair
        if (from !== undefined && !sameField(from, pair.index)) {
          const want = fieldLabel(from)
          throw new QueryError(ERR_QUERY_TO_FIELD, `TO must name the same field as FROM (${want})`, {
            column: col(pair.start),
            expected: [want],
          })
        }
        this.checkRangeField(preds, pair.index, c.offset, 'TO')
        range ??= pair.index
        constraints.push({ kind: 'to', index: pair.index })
      }
    }
    const only = preds.length === 1 ? preds[0]!.predicate : undefined
    if (only?.kind === 'eq' && range === undefined) {
      // One `WHERE f=v`: the original form, which every node understands.
      return { op, selector: { kind: 'match', index: only.index }, constraints, reverse }
    }
    const selector: Selector = from === undefined ? { kind: 'all' } : { kind: 'from', index: from }
    const out: Statement = { op, selector, constraints, reverse }
    if (preds.length > 0) out.where = preds.map((p) => p.predicate)
    return out
  }

  // A FROM/TO on a field that a WHERE predicate already names.
  private checkRangeField(preds: Located[], index: Index, offset: number, clause: string): void {
    if (!preds.some((p) => sameField(fieldOf(p.predicate), index))) return
    throw new QueryError(ERR_QUERY_TO_WITH_WHERE, `${clause} cannot bound ${fieldLabel(index)}: WHERE already names it`, {
      column: col(offset),
      hint: `put the bounds on ${fieldLabel(index)} in FROM/TO, the other conditions in WHERE`,
    })
  }

  whereClause(ctx: Ctx): Located[] {
    return ((ctx.predicate ?? []) as CstNode[]).map((n) => this.visit(n) as Located)
  }

  predicate(ctx: Ctx): Located {
    const f = this.visit(node(ctx, 'field')!) as FieldSpot
    const values = (ctx.value ?? []) as CstNode[]
    const opTok = tok(ctx, 'Eq') ?? tok(ctx, 'Neq')
    if (opTok !== undefined) {
      const v = this.compare(f, opTok, values[0]!)
      const index = indexOf(f, v)
      return { predicate: opTok.tokenType.name === 'Neq' ? { kind: 'ne', index } : { kind: 'eq', index }, start: f.start }
    }
    const patterns = values.map((n) => this.visit(n) as Pattern)
    const predicate: Predicate =
      f.field === 'meta' ? { kind: 'in', field: 'meta', key: f.key!, values: patterns } : { kind: 'in', field: f.field, values: patterns }
    return { predicate, start: f.start }
  }

  fromClause(ctx: Ctx): Pair {
    return this.visit(node(ctx, 'pair')!) as Pair
  }

  toClause(ctx: Ctx): Pair {
    return this.visit(node(ctx, 'pair')!) as Pair
  }

  limitClause(ctx: Ctx): number {
    const word = tok(ctx, 'Word')!
    const n = /^[0-9]+$/.test(word.image) ? Number(word.image) : NaN
    if (!(n >= 1 && n <= MAX_LIMIT)) {
      throw new QueryError(ERR_QUERY_BAD_LIMIT, `LIMIT needs a whole number from 1 to ${MAX_LIMIT}, not ${word.image.length > 40 ? `${word.image.slice(0, 37)}...` : word.image}`, {
        column: col(word.startOffset),
        expected: [`a whole number from 1 to ${MAX_LIMIT}`],
      })
    }
    return n
  }

  pair(ctx: Ctx): Pair {
    const f = this.visit(node(ctx, 'field')!) as FieldSpot
    const v = this.compare(f, tok(ctx, 'Eq')!, node(ctx, 'value')!)
    return { index: indexOf(f, v), start: f.start }
  }

  // `field=value` / `field!=value`, written without blanks.
  private compare(f: FieldSpot, opTok: IToken, valueNode: CstNode): Pattern {
    if (f.end + 1 !== opTok.startOffset) {
      throw new QueryError(ERR_QUERY_SYNTAX, `no blank allowed before "${opTok.image}": write field${opTok.image}value`, {
        column: col(f.end + 1),
        expected: [opTok.image],
      })
    }
    const v = valueNode.children
    const first = (v.Word?.[0] ?? v.Str?.[0] ?? v.Star![0]) as IToken
    if (tokenEnd(opTok) !== first.startOffset) {
      throw new QueryError(ERR_QUERY_SYNTAX, `no blank allowed after "${opTok.image}": write field${opTok.image}value`, {
        column: col(tokenEnd(opTok)),
        expected: ['a value', '*'],
      })
    }
    return this.visit(valueNode) as Pattern
  }

  field(ctx: Ctx): FieldSpot {
    const metaDot = tok(ctx, 'MetaDot')
    if (metaDot !== undefined) {
      const str = tok(ctx, 'Str')!
      const key = this.decode(str)
      const start = metaDot.startOffset
      if (key === '') {
        throw new QueryError(ERR_QUERY_BAD_KEY, 'a meta key cannot be empty', { column: col(str.startOffset), expected: ['a meta key'] })
      }
      const eqAt = str.image.indexOf('=')
      if (eqAt >= 0) {
        throw new QueryError(ERR_QUERY_BAD_KEY, 'a meta key cannot contain "="', { column: col(str.startOffset + eqAt) })
      }
      return { field: 'meta', key, start, end: tokenEnd(str) - 1 }
    }
    const word = tok(ctx, 'Word')!
    const name = word.image
    const start = word.startOffset
    const end = tokenEnd(word) - 1
    checkBareKey(name, start)
    if (name.startsWith('meta.')) {
      const key = name.slice(5)
      if (key === '') {
        throw new QueryError(ERR_QUERY_BAD_KEY, 'a meta key cannot be empty', { column: col(end + 1), expected: ['a meta key'] })
      }
      return { field: 'meta', key, start, end }
    }
    if (BUILTIN.has(name)) return { field: name as FieldName, start, end }
    if (UNINDEXED_FIELDS.includes(name)) {
      throw new QueryError(ERR_QUERY_UNKNOWN_FIELD, `${name} is a record field without an index: it cannot be queried`, {
        column: col(start),
        expected: ['host', 'peer', 'server', 'a meta key'],
        hint: `use meta.${name} for a meta key named ${name}`,
      })
    }
    return { field: 'meta', key: name, start, end }
  }

  value(ctx: Ctx): Pattern {
    const word = tok(ctx, 'Word')
    const str = tok(ctx, 'Str')
    const prefix = ctx.Star !== undefined
    if (word !== undefined) return { value: word.image, prefix }
    if (str !== undefined) return { value: this.decode(str), prefix }
    return { value: '', prefix }
  }

  private decode(str: IToken): string {
    const known = this.strings.get(str)
    if (known !== undefined) return known
    const decoded = decodeString(str.image, str.startOffset)
    if (typeof decoded === 'string') return decoded
    throw new QueryError(ERR_QUERY_BAD_STRING, decoded.message, {
      column: col(decoded.offset),
      expected: decoded.expected,
    })
  }
}

const builder = new AstBuilder()

/** Builds the Statement of a successfully parsed query; throws QueryError for the rules the grammar leaves out. */
export function buildStatement(cst: CstNode, strings: Map<IToken, string>): Statement {
  return builder.build(cst, strings)
}
