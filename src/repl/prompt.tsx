/**
 * The prompt line: the text coloured by the language's `highlight()` spans, with the cursor
 * drawn as an inverse cell (so it shows in any terminal and in tests, without moving the
 * terminal's own cursor).
 */
import React from 'react'
import { Text } from 'ink'
import { highlight, type HighlightKind } from '../lang/index.js'
import type { Line } from './line.js'

/** Ink text styles per highlight kind. */
export const HIGHLIGHT_STYLE: Record<HighlightKind, { color?: string; bold?: boolean; underline?: boolean }> = {
  keyword: { color: 'blue', bold: true },
  field: { color: 'cyan' },
  operator: { color: 'gray' },
  value: { color: 'green' },
  string: { color: 'green' },
  number: { color: 'magenta' },
  star: { color: 'yellow' },
  error: { color: 'red', underline: true },
  space: {},
}

/** Splits the line into styled pieces, the cursor's cell marked. */
export function promptSegments(line: Line): Array<{ text: string; kind: HighlightKind; cursor: boolean }> {
  const spans = highlight(line.text)
  const out: Array<{ text: string; kind: HighlightKind; cursor: boolean }> = []
  for (const s of spans) {
    if (line.cursor >= s.start && line.cursor < s.end) {
      if (line.cursor > s.start) out.push({ text: line.text.slice(s.start, line.cursor), kind: s.kind, cursor: false })
      out.push({ text: line.text[line.cursor]!, kind: s.kind, cursor: true })
      if (line.cursor + 1 < s.end) out.push({ text: line.text.slice(line.cursor + 1, s.end), kind: s.kind, cursor: false })
    } else {
      out.push({ text: line.text.slice(s.start, s.end), kind: s.kind, cursor: false })
    }
  }
  if (line.cursor >= line.text.length) out.push({ text: ' ', kind: 'space', cursor: true })
  return out
}

/** Props of `Prompt`. */
export interface PromptProps {
  line: Line
  /** @default 'ww> ' */
  prompt?: string
  /** Dims the prompt (while disconnected). @default false */
  dim?: boolean
}

/** The highlighted, editable prompt line. */
export function Prompt({ line, prompt = 'ww> ', dim = false }: PromptProps): React.ReactElement {
  return (
    <Text>
      <Text color={dim ? 'gray' : 'cyan'}>{prompt}</Text>
      {promptSegments(line).map((seg, i) => (
        <Text key={i} {...HIGHLIGHT_STYLE[seg.kind]} inverse={seg.cursor}>
          {seg.text}
        </Text>
      ))}
    </Text>
  )
}
