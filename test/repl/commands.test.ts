import { describe, expect, it } from 'vitest'
import { helpText, parseInput } from '../../src/repl/commands.js'

describe('shell input', () => {
  it('tells meta-commands from queries', () => {
    expect(parseInput('  ')).toEqual({ kind: 'empty' })
    expect(parseInput('help')).toEqual({ kind: 'help' })
    expect(parseInput('\\q')).toEqual({ kind: 'quit' })
    expect(parseInput('\\timing')).toEqual({ kind: 'timing' })
    expect(parseInput('\\timing off')).toEqual({ kind: 'timing', on: false })
    expect(parseInput('\\format json')).toEqual({ kind: 'format', name: 'json' })
    expect(parseInput('\\format')).toEqual({ kind: 'format' })
    expect(parseInput('\\connect ws://h:1')).toEqual({ kind: 'connect', url: 'ws://h:1' })
    expect(parseInput('\\connect')).toEqual({ kind: 'connect' })
    expect(parseInput('\\bogus x')).toEqual({ kind: 'unknown', command: '\\bogus' })
    expect(parseInput('ls WHERE host=a')).toEqual({ kind: 'query', text: 'ls WHERE host=a' })
    // A query that merely starts like a word of help is still a query.
    expect(parseInput('helpme')).toEqual({ kind: 'query', text: 'helpme' })
  })

  it('lists the formats in the help', () => {
    expect(helpText(['text', 'csv'])).toContain('text, csv')
  })
})
