/**
 * Renders a query error the way a shell shows it: the query, a caret under the column, and
 * the message with its hint.
 */
import type { QueryError } from './errors.js'

/**
 * Three or more lines: the query (line breaks and tabs shown as spaces so the caret lines up),
 * `^` under the error's column (after the last character for "at the end"), the message, and
 * `hint: …` when there is one.
 */
export function renderCaret(text: string, err: QueryError): string {
  const line = text.replace(/[\t\n\r\v\f\u2028\u2029]/g, ' ')
  const column = Math.max(1, Math.min(err.column, line.length + 1))
  const lines = [line, `${' '.repeat(column - 1)}^`, err.message]
  if (err.hint !== undefined) lines.push(`hint: ${err.hint}`)
  return lines.join('\n')
}
