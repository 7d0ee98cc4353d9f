/**
 * The CST visitor that builds the AST of ast.ts, and checks the rules the grammar leaves out:
 * each clause at most once, TO only alone or after FROM on the same field, no LIMIT on LOOKUP,
 * LIMIT's range, meta keys, strings, and no blank inside `f=v`. Errors are thrown as
 * QueryError with the column of the offending spot, checked left to right.
 */
import type { CstNode, IToken } from 'chevrotain'
import type { Constraint, FieldName, Index, Selector, Statement } from './ast.js'
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

function fieldLabel(index: Index): string {
  return index.field === 'meta' ? `meta.${index.key ?? ''}` : index.field
}

function sameField(a: Index, b: Index): boolean {
  return a.field === b.field && a.key === b.key
}

/** A pair as the builder sees it, with the spots needed for errors. */
interface Pair {
  index: Index
  /** Offset of the pair's first character (the field). */
  start: number
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
    let selector: Selector = { kind: 'all' }
    const where = node(ctx, 'whereClause')
    const from = node(ctx, 'fromClause')
    if (where !== undefined) selector = { kind: 'match', index: (this.visit(where) as Pair).index }
    if (from !== undefined) {
      // FROM f=v* means FROM f=v: a lower bound has no use for a prefix.
      const index = (this.visit(from) as Pair).index
      selector = { kind: 'from', index: { ...index, prefix: false } }
    }

    // The trailing clauses in the order written, so errors come left to right and
    // constraints keep the user's order.
    const trailing: { offset: number; kind: 'to' | 'limit' | 'reverse'; item: CstNode | IToken }[] = []
    for (const n of (ctx.toClause ?? []) as CstNode[]) {
      trailing.push({ offset: (n.children.TO![0] as IToken).startOffset, kind: 'to', item: n })
    }
    for (const n of (ctx.limitClause ?? []) as CstNode[]) {
      trailing.push({ offset: (n.children.LIMIT![0] as IToken).startOffset, kind: 'limit', item: n })
    }
    for (const t of (ctx.REVERSE ?? []) as IToken[]) trailing.push({ offset: t.startOffset, kind: 'reverse', item: t })
    trailing.sort((a, b) => a.offset - b.offset)

    const constraints: Constraint[] = []
    const seen = new Set<string>()
    let reverse = false
    for (const c of trailing) {
      if (seen.has(c.kind)) {
        throw new QueryError(ERR_QUERY_DUPLICATE_CLAUSE, `${c.kind.toUpperCase()} may appear only once`, {
          column: col(c.offset),
        })
      }
      seen.add(c.kind)
      if (c.kind === 'reverse') {
        reverse = true
      } else if (c.kind === 'limit') {
        if (op === 'lookup') {
          throw new QueryError(ERR_QUERY_LOOKUP_LIMIT, 'LOOKUP takes no LIMIT: it yields at most one record', {
            column: col(c.offset),
            hint: 'use ls … LIMIT n for several records',
          })
        }
        constraints.push({ kind: 'limit', n: this.visit(c.item as CstNode) as number })
      } else {
        if (selector.kind === 'match') {
          throw new QueryError(ERR_QUERY_TO_WITH_WHERE, 'TO cannot be combined with WHERE', {
            column: col(c.offset),
            hint: 'use FROM f=v TO f=w for a range',
          })
        }
        const pair = this.visit(c.item as CstNode) as Pair
        if (selector.kind === 'from' && !sameField(selector.index, pair.index)) {
          const want = fieldLabel(selector.index)
          throw new QueryError(ERR_QUERY_TO_FIELD, `TO must name the same field as FROM (${want})`, {
            column: col(pair.start),
            expected: [want],
          })
        }
        constraints.push({ kind: 'to', index: pair.index })
      }
    }
    return { op, selector, constraints, reverse }
  }

  whereClause(ctx: Ctx): Pair {
    return this.visit(node(ctx, 'pair')!) as Pair
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
    const fieldNode = node(ctx, 'field')!
    const eq = tok(ctx, 'Eq')!
    const valueNode = node(ctx, 'value')!
    const f = this.visit(fieldNode) as { field: FieldName; key?: string; start: number; end: number }
    if (f.end + 1 !== eq.startOffset) {
      throw new QueryError(ERR_QUERY_SYNTAX, 'no blank allowed before "=": write field=value', {
        column: col(f.end + 1),
        expected: ['='],
      })
    }
    const v = valueNode.children
    const first = (v.Word?.[0] ?? v.Str?.[0] ?? v.Star![0]) as IToken
    if (tokenEnd(eq) !== first.startOffset) {
      throw new QueryError(ERR_QUERY_SYNTAX, 'no blank allowed after "=": write field=value', {
        column: col(tokenEnd(eq)),
        expected: ['a value', '*'],
      })
    }
    const value = this.visit(valueNode) as { value: string; prefix: boolean }
    const index: Index =
      f.field === 'meta'
        ? { field: 'meta', key: f.key!, value: value.value, prefix: value.prefix }
        : { field: f.field, value: value.value, prefix: value.prefix }
    return { index, start: f.start }
  }

  field(ctx: Ctx): { field: FieldName; key?: string; start: number; end: number } {
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

  value(ctx: Ctx): { value: string; prefix: boolean } {
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
