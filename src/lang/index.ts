/**
 * The query language (docs/language.md), front door. `parseQuery` turns text into the Statement of
 * ast.ts or throws a QueryError; `tryParseQuery` returns the error as data for the shell.
 * Also here: the canonical printer, caret rendering, syntax highlighting and the word lists
 * for completion. The language is documented for users in docs/language.md.
 */
export type { Constraint, FieldName, Index, Pattern, Predicate, Selector, Statement } from './ast.js'
export * from './errors.js'
export { MAX_LIMIT } from './build.js'
export { formatStatement } from './format.js'
export { validateStatement, MAX_PREDICATES, MAX_IN_VALUES } from './validate.js'
export { renderCaret } from './caret.js'
export { completeAt, type Completion } from './complete.js'
export { highlight, type HighlightKind, type HighlightSpan } from './highlight.js'

/** The keywords of the language, upper case (they are matched case-insensitively). */
export const KEYWORDS = ['LS', 'LOOKUP', 'WHERE', 'FROM', 'TO', 'LIMIT', 'REVERSE', 'AND', 'IN'] as const

/** The indexed record fields; any other bare name is a meta key. */
export const BUILTIN_FIELDS = ['host', 'peer', 'server'] as const

export { clearParseCache, parseQuery, tryParseQuery, type ParseResult } from './parse.js'
