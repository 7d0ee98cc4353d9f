/**
 * Turns Chevrotain's first syntax error into a QueryError: the column of the offending token,
 * the human-readable list of what was valid there (from the parser's own content assist, so it
 * never drifts from the grammar), and a hint for the common slips.
 */
import type { IRecognitionException, IToken, TokenType } from 'chevrotain'
import { ERR_QUERY_DUPLICATE_CLAUSE, ERR_QUERY_SYNTAX, QueryError } from './errors.js'
import { parser } from './parser.js'
import { nearest } from './suggest.js'
import { Comma, Eq, From, keywordTokens, LoneStar, LParen, MetaDot, Neq, RParen, Star, Str, tokenEnd, Where, Word } from './tokens.js'

/** The label of a token type where the parser expects it, by the rule it appears in. */
function label(type: TokenType, rule: string | undefined): string {
  if (type.name === 'EOF') return 'end of query'
  if (type === Eq) return '='
  if (type === Neq) return '!='
  if (type === LParen) return '('
  if (type === RParen) return ')'
  if (type === Comma) return ','
  if (type === Star) return '*'
  if (keywordTokens.includes(type)) return type.name
  if (rule === 'limitClause') return 'a number'
  if (rule === 'field') return 'a field'
  if (rule === 'value') return 'a value'
  if (type === Str) return 'a quoted string'
  if (type === MetaDot) return 'meta."KEY"'
  return type.name
}

/** Human-readable list of what the grammar accepts after `preceding`, without duplicates. */
export function expectedAfter(preceding: IToken[]): string[] {
  const out: string[] = []
  // The grammar takes the clauses in any order; a query has one WHERE and one FROM.
  const used = new Set(preceding.filter((t) => t.tokenType === Where || t.tokenType === From).map((t) => t.tokenType))
  for (const path of parser.computeContentAssist('statement', preceding)) {
    if (used.has(path.nextTokenType)) continue
    const l = label(path.nextTokenType, path.ruleStack[path.ruleStack.length - 1])
    if (!out.includes(l)) out.push(l)
  }
  return out
}

// Keeps messages one line long whatever the user pasted.
function short(s: string): string {
  return s.length > 40 ? `${s.slice(0, 37)}...` : s
}

function describe(tok: IToken): string {
  if (tok.tokenType.name === 'EOF') return 'the query ends too early'
  if (tok.tokenType === Str) return `unexpected string ${short(tok.image)}`
  if (tok.tokenType === Word) return `unexpected word "${short(tok.image)}"`
  if (keywordTokens.includes(tok.tokenType)) return `unexpected ${tok.tokenType.name}`
  return `unexpected "${tok.image}"`
}

/** Builds the QueryError for the parser's first error. */
export function syntaxError(err: IRecognitionException, tokens: IToken[], text: string): QueryError {
  const tok = err.token
  const isEof = tok.tokenType.name === 'EOF' || Number.isNaN(tok.startOffset)
  const at = isEof ? tokens.length : tokens.indexOf(tok)
  const preceding = tokens.slice(0, at < 0 ? tokens.length : at)
  let expected = expectedAfter(preceding)
  const prev = preceding[preceding.length - 1]
  const start = isEof ? text.length : tok.startOffset
  // A '*' is only valid glued to the value, so after a blank it is not an option.
  if (prev !== undefined && tokenEnd(prev) !== start) expected = expected.filter((e) => e !== '*')

  const next = isEof ? undefined : tokens[at + 1]
  const keyAttempt = keywordTokens.includes(tok.tokenType) && (next?.tokenType === Eq || next?.tokenType === Neq)
  if (!keyAttempt && (tok.tokenType === Where || tok.tokenType === From) && preceding.some((t) => t.tokenType === tok.tokenType)) {
    return new QueryError(ERR_QUERY_DUPLICATE_CLAUSE, `a query has at most one ${tok.tokenType.name}`, {
      column: start + 1,
      expected,
      ...(tok.tokenType === Where ? { hint: 'join conditions with AND: WHERE a=1 AND b=2' } : {}),
    })
  }

  let hint: string | undefined
  const glued = prev !== undefined && tokenEnd(prev) === start
  if (glued && prev.tokenType === Star && (tok.tokenType === Word || tok.tokenType === Str)) {
    // `host=a*b`: a star inside a value.
    hint = 'a * can only end a value (a prefix match); to match a literal *, quote the value: "a*b"'
  } else if (glued && tok.tokenType === Str && (prev.tokenType === Word || prev.tokenType === Str)) {
    // `host=a"b"`: a quote inside a bare value.
    hint = 'to put " in a value, quote the whole value and escape the quote: "a\\"b"'
  } else if (tok.tokenType === LoneStar) {
    hint = 'write * directly after the value, as in host=web*'
  } else if (prev?.tokenType === Word && expected.includes('!=') && /[<>!]/.test(prev.image)) {
    // `region<us`, `region>x`: a comparison ww does not have, glued into the key.
    hint = /!/.test(prev.image) ? 'did you mean !=?' : 'ranges are written FROM f=v and TO f=v (or use !=)'
  } else if (tok.tokenType === Word && tok.image.toUpperCase() === 'IN' && expected.includes('IN')) {
    hint = 'IN takes a list in parentheses: f IN (a, b*)'
  } else if (tok.tokenType === Word) {
    const keywords = expected.filter((e) => keywordTokens.some((k) => k.name === e))
    const guess = nearest(tok.image, keywords)
    if (guess !== undefined) hint = `did you mean ${guess}?`
  } else if (keyAttempt && expected.includes('a field')) {
    // `WHERE limit=3`: a meta key that collides with a keyword.
    const name = text.slice(tok.startOffset, tokenEnd(tok))
    hint = `use meta.${name} for a meta key named ${name}`
  } else if (tok.tokenType === Str && expected.includes('a field')) {
    hint = `a quoted key is written meta.${tok.image}`
  }
  const where = isEof ? 'at the end' : `at column ${start + 1}`
  const message = `${describe(tok)} ${where}; expected ${expected.join(', ') || 'nothing'}`
  return new QueryError(ERR_QUERY_SYNTAX, message, hint === undefined ? { column: start + 1, expected } : { column: start + 1, expected, hint })
}
