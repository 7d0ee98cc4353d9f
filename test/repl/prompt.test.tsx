// Colours on, before Ink (and its chalk) load, so the frame shows the highlighting.
process.env.FORCE_COLOR = '1'
import { describe, expect, it } from 'vitest'
import React from 'react'
import type { Line } from '../../src/repl/line.js'

const { render } = await import('ink-testing-library')
const { Prompt, promptSegments } = await import('../../src/repl/prompt.js')

const at = (text: string, cursor: number): Line => ({ text, cursor })
const plain = (s: string): string => s.replace(/\u001b\[[0-9;]*m/g, '')

describe('prompt', () => {
  it('covers the whole line with highlight kinds and marks the cursor cell', () => {
    const segs = promptSegments(at('ls WHERE region=us-east-1', 3))
    expect(segs.map((s) => s.text).join('')).toBe('ls WHERE region=us-east-1')
    expect(segs.filter((s) => s.cursor)).toEqual([{ text: 'W', kind: 'keyword', cursor: true }])
    expect(segs.find((s) => s.text === 'region')?.kind).toBe('field')
    expect(segs.find((s) => s.text === 'us-east-1')?.kind).toBe('value')
  })

  it('draws the cursor after the text as an inverse blank', () => {
    const segs = promptSegments(at('ls', 2))
    expect(segs.at(-1)).toEqual({ text: ' ', kind: 'space', cursor: true })
  })

  it('renders the prompt, coloured by kind, with an inverse cursor', () => {
    const { lastFrame, unmount } = render(<Prompt line={at('ls WHERE host=a', 0)} />)
    const frame = lastFrame() ?? ''
    expect(plain(frame)).toBe('ww> ls WHERE host=a')
    // inverse (7) on the cursor cell, keywords blue, fields cyan.
    expect(frame).toContain('\u001b[7m')
    expect(frame).toMatch(/\u001b\[34m(\u001b\[1m)?WHERE/)
    expect(frame).toContain('\u001b[36mhost')
    unmount()
  })

  it('marks a mistake in red', () => {
    const { lastFrame, unmount } = render(<Prompt line={at('ls WHRE', 7)} />)
    expect(lastFrame()).toContain('\u001b[31m')
    unmount()
  })
})
