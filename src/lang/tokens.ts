/**
 * The lexer of the query language (docs/language.md), in Chevrotain's layout: token types here, the
 * grammar in parser.ts, the AST in build.ts.
 *
 * A query is a short run of `field=value` pairs and keywords. The lexer is deliberately loose:
 * every character belongs to some token, so lexing never fails, and the parser or builder
 * reports the mistake with its column. Two context rules are applied after lexing
 * ({@link lexQuery}), because Chevrotain's lexer is context free:
 * - a keyword written directly after `=` or `!=`, or inside an `IN ( … )` list, is a value
 *   (`WHERE region=to` means region "to");
 * - a `*` that does not directly follow something (`host=web *`) is a {@link LoneStar},
 *   which no rule accepts, so the parser reports it where it stands.
 */
import { createToken, Lexer, type IToken, type TokenType } from 'chevrotain'

/** Blanks between tokens; any JavaScript `\s` character. Skipped. */
export const WhiteSpace = createToken({ name: 'WhiteSpace', pattern: /\s+/, group: Lexer.SKIPPED })

// Whether the lexer is inside an `IN ( … )` list, where `,` and `)` end a word. Set by the
// list's parentheses as they are matched, reset by lexQuery before each run (lexing is
// synchronous, one query at a time).
let inList = false

const WORD = /(?:[^\s="*!]|!(?!=))+/y
const LIST_WORD = /(?:[^\s="*!(),]|!(?!=))+/y

function sticky(re: RegExp, text: string, offset: number): RegExpExecArray | null {
  re.lastIndex = offset
  return re.exec(text)
}

/**
 * A bare word: any run of characters other than whitespace, `=`, `"`, `*` and the `!` of
 * `!=`; inside an `IN ( … )` list also other than `(`, `)` and `,`. Fields, values and
 * LIMIT's number are all words; the parser tells them apart by place, the builder rejects a
 * key holding `!`, `<`, `>`, `(`, `)` or `,`.
 */
export const Word = createToken({
  name: 'Word',
  pattern: { exec: (text, offset) => sticky(inList ? LIST_WORD : WORD, text, offset) },
  line_breaks: false,
})

/**
 * `meta.` directly followed by a quote: the start of a quoted meta key (`meta."a b"`).
 * Without the quote, `meta.KEY` is one {@link Word}.
 */
export const MetaDot = createToken({
  name: 'MetaDot',
  pattern: /meta\.(?=")/,
  start_chars_hint: ['m'],
  longer_alt: Word,
})

/**
 * A double-quoted string. The pattern is lenient on purpose (an unknown escape, a missing
 * closing quote) so that {@link lexQuery} can report ERR_QUERY_BAD_STRING at the right column
 * instead of the lexer failing somewhere vaguer.
 */
export const Str = createToken({ name: 'Str', pattern: /"(?:[^"\\]|\\[\s\S]?)*"?/ })

/** `=` between a field and its value. */
export const Eq = createToken({ name: 'Eq', pattern: /=/ })

/** `!=` between a field and its value: the negation of `=`. */
export const Neq = createToken({ name: 'Neq', pattern: /!=/ })

/** `(` directly after `IN` (blanks between are fine): opens the list of values. */
export const LParen = createToken({
  name: 'LParen',
  pattern: {
    exec: (text, offset, tokens: IToken[]) => {
      if (text.charCodeAt(offset) !== 40 /* ( */) return null
      // After IN (which only matches before a `(`), or a stray `(` inside a list.
      if (!inList && tokens[tokens.length - 1]?.tokenType !== In) return null
      inList = true
      return ['(']
    },
  },
  start_chars_hint: ['('],
  line_breaks: false,
})

/** `)` closing an `IN` list (elsewhere `)` is part of a word). */
export const RParen = createToken({
  name: 'RParen',
  pattern: {
    exec: (text, offset) => {
      if (!inList || text.charCodeAt(offset) !== 41 /* ) */) return null
      inList = false
      return [')']
    },
  },
  start_chars_hint: [')'],
  line_breaks: false,
})

/** `,` between the values of an `IN` list (elsewhere `,` is part of a word). */
export const Comma = createToken({
  name: 'Comma',
  pattern: { exec: (text, offset) => (inList && text.charCodeAt(offset) === 44 /* , */ ? [','] : null) },
  start_chars_hint: [','],
  line_breaks: false,
})

/** `*` directly after a value (or directly after `=`): a prefix match. */
export const Star = createToken({ name: 'Star', pattern: /\*/ })

/** A `*` with a blank before it: never valid; exists so the parser reports it in place. */
export const LoneStar = createToken({ name: 'LoneStar', pattern: Lexer.NA })

function keyword(name: string): TokenType {
  return createToken({ name, pattern: new RegExp(name.toLowerCase(), 'i'), longer_alt: Word })
}

/** Keyword `LS` (case-insensitive): stream every match. */
export const Ls = keyword('LS')
/** Keyword `LOOKUP`: the first match or nothing. */
export const Lookup = keyword('LOOKUP')
/** Keyword `WHERE`: exact or prefix match. */
export const Where = keyword('WHERE')
/** Keyword `FROM`: lower bound of a range scan. */
export const From = keyword('FROM')
/** Keyword `AND`: joins the predicates of WHERE. */
export const And = keyword('AND')
const IN = /in(?=\s*\()/iy

/**
 * Keyword `IN`: `f IN (v1, v2*)`, any of the listed values. Only a keyword where a list
 * follows (blanks, then `(`) and not as a value (directly after `=`/`!=`): a key or value
 * named `in` or `in(x)` stays a word.
 */
export const In = createToken({
  name: 'IN',
  pattern: {
    exec: (text, offset, tokens: IToken[]) => {
      const prev = tokens[tokens.length - 1]
      if (prev !== undefined && (prev.tokenType === Eq || prev.tokenType === Neq) && tokenEnd(prev) === offset) return null
      return sticky(IN, text, offset)
    },
  },
  start_chars_hint: ['i', 'I'],
  line_breaks: false,
})
/** Keyword `TO`: inclusive upper bound. */
export const To = keyword('TO')
/** Keyword `LIMIT`: at most n records. */
export const Limit = keyword('LIMIT')
/** Keyword `REVERSE`: the opposite order. */
export const Reverse = keyword('REVERSE')

/** The keyword token types, in the order they are documented. */
export const keywordTokens: readonly TokenType[] = [Ls, Lookup, Where, From, To, Limit, Reverse, And, In]

/** Every token type; keywords come before {@link Word} so that `where` is a keyword and `wherever` a word. */
export const allTokens: TokenType[] = [
  WhiteSpace,
  Str,
  Neq,
  Eq,
  LParen,
  RParen,
  Comma,
  Star,
  LoneStar,
  MetaDot,
  ...keywordTokens,
  Word,
]

// Built once per module. safeMode: Chevrotain's first-char optimisation can't handle the
// complement set of Word (it would be turned off with a warning anyway); with a dozen token
// types and queries a few dozen characters long, trying each pattern in turn is cheap.
// Lexer definition checks follow the parser's rule (see VALIDATE_GRAMMAR in parser.ts).
const lexer = new Lexer(allTokens, {
  positionTracking: 'onlyOffset',
  safeMode: true,
  skipValidations: process.env.VITEST === undefined && process.env.WW_VALIDATE_GRAMMAR === undefined,
})

const keywordIdx = new Set(keywordTokens.map((t) => t.tokenTypeIdx))

/** A string token's problem, found while decoding it. */
export interface StringProblem {
  /** 0-based offset of the spot in the query. */
  offset: number
  message: string
  /** What would have been valid at that spot. */
  expected: string[]
}

/** What {@link lexQuery} returns: tokens for the parser and decoded string values. */
export interface LexResult {
  tokens: IToken[]
  /** The decoded text of each well-formed Str token. */
  strings: Map<IToken, string>
  /** The first malformed string, if any (the parser still runs so the leftmost error wins). */
  badString?: StringProblem
}

/**
 * Lexes a query and applies the context rules described at the top of this file.
 * Never throws: every character of any input belongs to some token.
 */
export function lexQuery(text: string): LexResult {
  inList = false
  let tokens: IToken[]
  try {
    tokens = lexer.tokenize(text).tokens
  } finally {
    inList = false
  }
  let depth = 0
  const strings = new Map<IToken, string>()
  let badString: StringProblem | undefined
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i]!
    const type = tok.tokenType
    if (type === Str) {
      const decoded = decodeString(tok.image, tok.startOffset)
      if (typeof decoded === 'string') strings.set(tok, decoded)
      else badString ??= decoded
    } else if (type === LParen) {
      depth = 1
    } else if (type === RParen) {
      depth = 0
    } else if (depth > 0 && (keywordIdx.has(type.tokenTypeIdx) || type === MetaDot)) {
      // Inside an IN list every word is a value: `IN (to, and)`.
      retype(tok, Word)
    } else if (i > 0 && (keywordIdx.has(type.tokenTypeIdx) || type === MetaDot)) {
      const prev = tokens[i - 1]!
      if ((prev.tokenType === Eq || prev.tokenType === Neq) && tokenEnd(prev) === tok.startOffset) retype(tok, Word)
    } else if (type === Star) {
      const prev = tokens[i - 1]
      // In a list, `*` alone is a value wherever a value starts: `IN (a, *)`.
      const listStart = prev !== undefined && (prev.tokenType === Comma || prev.tokenType === LParen)
      if (!listStart && (prev === undefined || tokenEnd(prev) !== tok.startOffset)) retype(tok, LoneStar)
    }
  }
  return badString === undefined ? { tokens, strings } : { tokens, strings, badString }
}

function retype(tok: IToken, type: TokenType): void {
  tok.tokenType = type
  tok.tokenTypeIdx = type.tokenTypeIdx!
}

/**
 * Decodes the image of a Str token: `\"` and `\\` are the only escapes.
 * Returns the problem (with the offset of the spot) when the string is malformed.
 */
export function decodeString(image: string, offset: number): string | StringProblem {
  let out = ''
  let i = 1
  for (;;) {
    if (i >= image.length) return unterminated(offset)
    const c = image[i]!
    if (c === '"') return out
    if (c === '\\') {
      const n = image[i + 1]
      if (n === '"' || n === '\\') {
        out += n
        i += 2
        continue
      }
      if (n === undefined) return unterminated(offset)
      return {
        offset: offset + i,
        message: `unknown escape \\${n}: only \\" and \\\\ are allowed`,
        expected: ['\\"', '\\\\'],
      }
    }
    out += c
    i++
  }
}

function unterminated(offset: number): StringProblem {
  return { offset, message: 'unterminated string: add a closing "', expected: ['"'] }
}

/** The offset just past a token (the lexer tracks start offsets only, which is faster). */
export function tokenEnd(tok: IToken): number {
  return tok.startOffset + tok.image.length
}
