// Placeholder so dependants compile while the language is being written (issue 2).
import type { Statement } from './ast.js'
export function parseQuery(text: string): Statement {
  throw new Error(`parseQuery not yet implemented: ${text}`)
}
