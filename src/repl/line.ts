/**
 * The prompt's line editor as pure functions over `{ text, cursor }` (emacs/readline keys),
 * so editing is tested without a terminal. The cursor is an index into `text` in UTF-16
 * units, 0 ≤ cursor ≤ text.length.
 */

/** The line being edited. */
export interface Line {
  readonly text: string
  readonly cursor: number
}

/** An empty line. */
export const EMPTY_LINE: Line = { text: '', cursor: 0 }

/** A line holding `text` with the cursor at its end. */
export function lineOf(text: string): Line {
  return { text, cursor: text.length }
}

/** Inserts `s` at the cursor. */
export function insert(l: Line, s: string): Line {
  return { text: l.text.slice(0, l.cursor) + s + l.text.slice(l.cursor), cursor: l.cursor + s.length }
}

/** Deletes the character before the cursor (Backspace). */
export function backspace(l: Line): Line {
  if (l.cursor === 0) return l
  return { text: l.text.slice(0, l.cursor - 1) + l.text.slice(l.cursor), cursor: l.cursor - 1 }
}

/** Deletes the character under the cursor (Delete, Ctrl-D on a non-empty line). */
export function deleteForward(l: Line): Line {
  if (l.cursor >= l.text.length) return l
  return { text: l.text.slice(0, l.cursor) + l.text.slice(l.cursor + 1), cursor: l.cursor }
}

/** Moves the cursor one character left (←, Ctrl-B). */
export function left(l: Line): Line {
  return l.cursor === 0 ? l : { text: l.text, cursor: l.cursor - 1 }
}

/** Moves the cursor one character right (→, Ctrl-F). */
export function right(l: Line): Line {
  return l.cursor >= l.text.length ? l : { text: l.text, cursor: l.cursor + 1 }
}

/** To the start of the line (Home, Ctrl-A). */
export function home(l: Line): Line {
  return { text: l.text, cursor: 0 }
}

/** To the end of the line (End, Ctrl-E). */
export function end(l: Line): Line {
  return { text: l.text, cursor: l.text.length }
}

const isSpace = (c: string | undefined): boolean => c !== undefined && /\s/.test(c)

/** Index of the start of the word before `i` (skipping spaces first), as readline's Alt-B. */
function wordStartBefore(text: string, i: number): number {
  let j = i
  while (j > 0 && isSpace(text[j - 1])) j--
  while (j > 0 && !isSpace(text[j - 1])) j--
  return j
}

/** Index just past the word after `i`, as readline's Alt-F. */
function wordEndAfter(text: string, i: number): number {
  let j = i
  while (j < text.length && isSpace(text[j])) j++
  while (j < text.length && !isSpace(text[j])) j++
  return j
}

/** One word left (Alt-B, Ctrl-←). */
export function wordLeft(l: Line): Line {
  return { text: l.text, cursor: wordStartBefore(l.text, l.cursor) }
}

/** One word right (Alt-F, Ctrl-→). */
export function wordRight(l: Line): Line {
  return { text: l.text, cursor: wordEndAfter(l.text, l.cursor) }
}

/** Deletes the word before the cursor (Ctrl-W, Alt-Backspace). */
export function deleteWordBack(l: Line): Line {
  const j = wordStartBefore(l.text, l.cursor)
  return { text: l.text.slice(0, j) + l.text.slice(l.cursor), cursor: j }
}

/** Deletes the word after the cursor (Alt-D). */
export function deleteWordForward(l: Line): Line {
  const j = wordEndAfter(l.text, l.cursor)
  return { text: l.text.slice(0, l.cursor) + l.text.slice(j), cursor: l.cursor }
}

/** Deletes from the start of the line to the cursor (Ctrl-U). */
export function killToStart(l: Line): Line {
  return { text: l.text.slice(l.cursor), cursor: 0 }
}

/** Deletes from the cursor to the end of the line (Ctrl-K). */
export function killToEnd(l: Line): Line {
  return { text: l.text.slice(0, l.cursor), cursor: l.cursor }
}

/** Replaces `text[start, end)` with `s`, cursor after it (used by completion). */
export function replaceRange(l: Line, start: number, endIdx: number, s: string): Line {
  return { text: l.text.slice(0, start) + s + l.text.slice(endIdx), cursor: start + s.length }
}
