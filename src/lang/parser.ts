/**
 * The grammar of the query language (docs/language.md), and nothing else: the parser builds a CST,
 * build.ts turns it into the AST. One parser instance per module (Chevrotain parsers are
 * costly to build and cheap to reuse); recovery is off, so the first error stops the parse.
 *
 * ```
 * statement   := [LS | LOOKUP] { whereClause | fromClause | toClause | limitClause | REVERSE } EOF
 * whereClause := WHERE predicate { AND predicate }
 * predicate   := field ( ('=' | '!=') value | IN '(' value { ',' value } ')' )
 * fromClause  := FROM pair
 * toClause    := TO pair
 * limitClause := LIMIT Word
 * pair        := field '=' value
 * field       := Word | MetaDot Str
 * value       := (Word | Str) ['*'] | '*'
 * ```
 * Rules the grammar does not express (each clause at most once (content assist leaves a
 * WHERE or FROM already written out of what it expects), TO's field, WHERE not on the
 * range's field, LOOKUP without LIMIT, no blanks inside `f=v`, what a key may hold) are checked by the builder, with their own error codes.
 */
import { CstParser, EOF, type CstNode, type IOrAlt, type IToken } from 'chevrotain'
import {
  allTokens,
  And,
  Comma,
  Eq,
  In,
  LParen,
  Neq,
  RParen,
  From,
  Limit,
  Lookup,
  Ls,
  MetaDot,
  Reverse,
  Star,
  Str,
  To,
  Where,
  Word,
} from './tokens.js'

/**
 * Chevrotain checks the grammar itself (ambiguities, left recursion) when the parser is built,
 * which costs a one-shot `ww ls` several milliseconds of start-up. The grammar is fixed, so the
 * checks run where they can catch a mistake — under the test runner, or with
 * WW_VALIDATE_GRAMMAR set — and are skipped otherwise, as Chevrotain's docs advise.
 */
export const VALIDATE_GRAMMAR = process.env.VITEST !== undefined || process.env.WW_VALIDATE_GRAMMAR !== undefined

/** The query grammar as a Chevrotain CstParser. Use the shared {@link parser} instance. */
export class QueryParser extends CstParser {
  // Alternatives are built once and reused (Chevrotain's "caching arrays of alternatives"):
  // a rule runs on every parse, and rebuilding its closures each time is most of its cost.
  private opAlts?: IOrAlt<unknown>[]
  private trailingAlts?: IOrAlt<unknown>[]
  private fieldAlts?: IOrAlt<unknown>[]
  private valueAlts?: IOrAlt<unknown>[]
  private wordOrStrAlts?: IOrAlt<unknown>[]
  private predicateAlts?: IOrAlt<unknown>[]
  private compareAlts?: IOrAlt<unknown>[]
  private andPart?: () => void
  private listPart?: () => void
  private opPart?: () => void
  private trailingPart?: () => void
  private starPart?: () => void

  constructor() {
    super(allTokens, { recoveryEnabled: false, maxLookahead: 1, skipValidations: !VALIDATE_GRAMMAR })
    this.performSelfAnalysis()
  }

  /** The whole query. */
  statement = this.RULE('statement', () => {
    this.OPTION((this.opPart ??= () => {
      this.OR((this.opAlts ??= [{ ALT: () => this.CONSUME(Ls) }, { ALT: () => this.CONSUME(Lookup) }]))
    }))
    this.MANY((this.trailingPart ??= () => {
      this.OR3(
        (this.trailingAlts ??= [
          { ALT: () => this.SUBRULE(this.whereClause) },
          { ALT: () => this.SUBRULE(this.fromClause) },
          { ALT: () => this.SUBRULE(this.toClause) },
          { ALT: () => this.SUBRULE(this.limitClause) },
          { ALT: () => this.CONSUME(Reverse) },
        ]),
      )
    }))
    this.CONSUME(EOF)
  })

  /** `WHERE pred {AND pred}`. */
  whereClause = this.RULE('whereClause', () => {
    this.CONSUME(Where)
    this.SUBRULE(this.predicate)
    this.MANY((this.andPart ??= () => {
      this.CONSUME(And)
      this.SUBRULE2(this.predicate)
    }))
  })

  /** `f=v`, `f=v*`, `f=*`, `f!=v`, `f!=v*`, `f!=*`, `f IN (v1, v2*, …)`. */
  predicate = this.RULE('predicate', () => {
    this.SUBRULE(this.field)
    this.OR(
      (this.predicateAlts ??= [
        {
          ALT: () => {
            this.OR2((this.compareAlts ??= [{ ALT: () => this.CONSUME(Eq) }, { ALT: () => this.CONSUME(Neq) }]))
            this.SUBRULE(this.value)
          },
        },
        {
          ALT: () => {
            this.CONSUME(In)
            this.CONSUME(LParen)
            this.SUBRULE2(this.value)
            this.MANY((this.listPart ??= () => {
              this.CONSUME(Comma)
              this.SUBRULE3(this.value)
            }))
            this.CONSUME(RParen)
          },
        },
      ]),
    )
  })

  /** `FROM f=v`. */
  fromClause = this.RULE('fromClause', () => {
    this.CONSUME(From)
    this.SUBRULE(this.pair)
  })

  /** `TO f=v` / `TO f=v*`. */
  toClause = this.RULE('toClause', () => {
    this.CONSUME(To)
    this.SUBRULE(this.pair)
  })

  /** `LIMIT n`; the number is a word, checked by the builder. */
  limitClause = this.RULE('limitClause', () => {
    this.CONSUME(Limit)
    this.CONSUME(Word)
  })

  /** `field=value`. */
  pair = this.RULE('pair', () => {
    this.SUBRULE(this.field)
    this.CONSUME(Eq)
    this.SUBRULE(this.value)
  })

  /** `host`, `region`, `meta.region`, `meta."a b"`. */
  field = this.RULE('field', () => {
    this.OR(
      (this.fieldAlts ??= [
        { ALT: () => this.CONSUME(Word) },
        {
          ALT: () => {
            this.CONSUME(MetaDot)
            this.CONSUME(Str)
          },
        },
      ]),
    )
  })

  /** `web`, `"a b"`, `web*`, `*`. */
  value = this.RULE('value', () => {
    this.OR(
      (this.valueAlts ??= [
        {
          ALT: () => {
            this.OR2((this.wordOrStrAlts ??= [{ ALT: () => this.CONSUME(Word) }, { ALT: () => this.CONSUME(Str) }]))
            this.OPTION((this.starPart ??= () => this.CONSUME(Star)))
          },
        },
        { ALT: () => this.CONSUME2(Star) },
      ]),
    )
  })
}

/** The one parser instance of this module. Not re-entrant: parse synchronously, one at a time. */
export const parser = new QueryParser()

/** Runs the grammar over lexed tokens; syntax errors are left in `parser.errors`. */
export function parseTokens(tokens: IToken[]): CstNode {
  parser.input = tokens
  return parser.statement()
}
