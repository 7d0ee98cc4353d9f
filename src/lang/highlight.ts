/**
 * Syntax highlighting for the shell: classifies every character of a line, including a line
 * that is half typed or wrong. It lexes, tells fields, values and numbers apart by their
 * neighbours, then marks the spot of the first error (if any) as `error`.
 */
import type { IToken } from 'chevrotain'
import { tryParseQuery } from './parse.js'
import { MAX_QUERY_LENGTH } from './errors.js'
import { And, Comma, Eq, From, In, keywordTokens, Limit, LoneStar, LParen, MetaDot, Neq, RParen, Star, Str, To, tokenEnd, Where, Word, lexQuery } from './tokens.js'

/** What a span of the line is. */
export type HighlightKind = 'keyword' | 'field' | 'operator' | 'value' | 'string' | 'number' | 'star' | 'error' | 'space'

/** A half-open range `[start, end)` of UTF-16 offsets and its kind. */
export interface HighlightSpan {
  start: number
  end: number
  kind: HighlightKind
}

function kindOf(tokens: IToken[], i: number): HighlightKind {
  const t = tokens[i]!
  const type = t.tokenType
  const prev = tokens[i - 1]
  const next = tokens[i + 1]
  if (keywordTokens.includes(type)) return 'keyword'
  if (type === Eq || type === Neq || type === LParen || type === RParen || type === Comma) return 'operator'
  if (type === Star) return 'star'
  if (type === LoneStar) return 'error'
  if (type === MetaDot) return 'field'
  if (type === Str) {
    if (prev?.tokenType === MetaDot) return 'field'
    return 'string'
  }
  if (type === Word) {
    const p = prev?.tokenType
    if (p === Eq || p === Neq || p === LParen || p === Comma) return 'value'
    if (p === Limit) return /^[0-9]+$/.test(t.image) ? 'number' : 'error'
    const n = next?.tokenType
    if (n === Eq || n === Neq || n === In) return 'field'
    // A word still being typed: a field right after WHERE/FROM/TO/AND, otherwise a mistake.
    if (p === Where || p === From || p === To || p === And) return 'field'
    return 'error'
  }
  return 'error'
}

/**
 * Spans covering `text` from 0 to `text.length` without gaps or overlaps, in order.
 * Never throws. A line longer than the query limit is one `error` span.
 */
export function highlight(text: string): HighlightSpan[] {
  if (typeof text !== 'string' || text.length === 0) return []
  if (text.length > MAX_QUERY_LENGTH) return [{ start: 0, end: text.length, kind: 'error' }]
  const spans: HighlightSpan[] = []
  const push = (start: number, end: number, kind: HighlightKind): void => {
    if (end <= start) return
    const last = spans[spans.length - 1]
    if (last !== undefined && last.kind === kind && last.end === start) last.end = end
    else spans.push({ start, end, kind })
  }
  const { tokens } = lexQuery(text)
  const result = tryParseQuery(text)
  const errAt = result.ok ? -1 : result.error.column - 1
  // Blanks, with the error's spot marked when it points at a blank (`host= web`).
  const gap = (start: number, end: number): void => {
    if (errAt >= start && errAt < end) {
      push(start, errAt, 'space')
      push(errAt, errAt + 1, 'error')
      push(errAt + 1, end, 'space')
    } else {
      push(start, end, 'space')
    }
  }
  let pos = 0
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!
    gap(pos, t.startOffset)
    const end = tokenEnd(t)
    const hit = errAt >= t.startOffset && errAt < end
    push(t.startOffset, end, hit ? 'error' : kindOf(tokens, i))
    pos = end
  }
  gap(pos, text.length)
  return spans
}
