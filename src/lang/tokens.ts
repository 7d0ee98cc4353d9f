/**
 * The lexer of the query language (docs/language.md), in Chevrotain's layout: token types here, the
 * grammar in parser.ts, the AST in build.ts.
 *
 * A query is a short run of `field=value` pairs and keywords. The lexer is deliberately loose:
 * every character belongs to some token, so lexing never fails, and the parser or builder
 * reports the mistake with its column. Two context rules are applied after lexing
 * ({@link lexQuery}), because Chevrotain's lexer is context free:
 * - a keyword written directly after `=` is a value (`WHERE region=to` means region "to");
 * - a `*` that does not directly follow something (`host=web *`) is a {@link LoneStar},
 *   which no rule accepts, so the parser reports it where it stands.
 */
import { createToken, Lexer, type IToken, type TokenType } from 'chevrotain'

/** Blanks between tokens; any JavaScript `\s` character. Skipped. */
export const WhiteSpace = createToken({ name: 'WhiteSpace', pattern: /\s+/, group: Lexer.SKIPPED })

/**
 * A bare word: any run of characters other than whitespace, `=`, `"` and `*`.
 * Fields, values and LIMIT's number are all words; the parser tells them apart by place.
 */
export const Word = createToken({ name: 'Word', pattern: /[^\s="*]+/ })

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
/** Keyword `TO`: inclusive upper bound. */
export const To = keyword('TO')
/** Keyword `LIMIT`: at most n records. */
export const Limit = keyword('LIMIT')
/** Keyword `REVERSE`: the opposite order. */
export const Reverse = keyword('REVERSE')

/** The keyword token types, in the order they are documented. */
export const keywordTokens: readonly TokenType[] = [Ls, Lookup, Where, From, To, Limit, Reverse]

/** Every token type; keywords come before {@link Word} so that `where` is a keyword and `wherever` a word. */
export const allTokens: TokenType[] = [
  WhiteSpace,
  Str,
  Eq,
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
  const { tokens } = lexer.tokenize(text)
  const strings = new Map<IToken, string>()
  let badString: StringProblem | undefined
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i]!
    const type = tok.tokenType
    if (type === Str) {
      const decoded = decodeString(tok.image, tok.startOffset)
      if (typeof decoded === 'string') strings.set(tok, decoded)
      else badString ??= decoded
    } else if (i > 0 && (keywordIdx.has(type.tokenTypeIdx) || type === MetaDot)) {
      const prev = tokens[i - 1]!
      if (prev.tokenType === Eq && tokenEnd(prev) === tok.startOffset) retype(tok, Word)
    } else if (type === Star) {
      const prev = tokens[i - 1]
      if (prev === undefined || tokenEnd(prev) !== tok.startOffset) retype(tok, LoneStar)
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
