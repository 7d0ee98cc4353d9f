import { describe, expect, it } from 'vitest'
import { cannotConnect, CliError, describeError, ERR_CANNOT_CONNECT, EXIT, rootCode, streamFailed } from '../../src/client/errors.js'
import { WwError } from '../../src/errors.js'
import { tryParseQuery, renderCaret, type QueryError } from '../../src/lang/index.js'

describe('command-line errors', () => {
  it('maps failures to the exit codes of docs/cli.md', () => {
    expect(EXIT).toEqual({ ok: 0, usage: 1, connect: 2, stream: 3, unauthorized: 4 })
    const c = cannotConnect('ws://h:1', new WwError('ERR_CONNECT_FAILED', 'refused'))
    expect(c.code).toBe(ERR_CANNOT_CONNECT)
    expect(c.exitCode).toBe(2)
    expect(c.message).toContain('(ERR_CONNECT_FAILED)')
    const s = streamFailed(7, new WwError('ERR_CONNECTION_LOST', 'gone'))
    expect(s.exitCode).toBe(3)
    expect(s.message).toContain('after 7 records')
  })

  it('finds the innermost code in a cause chain', () => {
    const inner = new WwError('ERR_INNER', 'x')
    expect(rootCode(new WwError('ERR_OUTER', 'y', { cause: inner }))).toBe('ERR_INNER')
    expect(rootCode(new Error('plain'))).toBeUndefined()
  })

  it('shows user mistakes without a stack, with the hint', () => {
    const d = describeError(new CliError('ERR_USAGE', 'bad thing', { hint: 'do this' }))
    expect(d).toEqual({ text: 'ww: bad thing (ERR_USAGE)\nhint: do this\n', exitCode: 1 })
    const w = describeError(new WwError('ERR_SOMETHING', 'went wrong'))
    expect(w.text).toBe('ww: went wrong (ERR_SOMETHING)\n')
    expect(w.exitCode).toBe(1)
  })

  it('draws the caret for a query error', () => {
    const r = tryParseQuery('ls WHRE a=b')
    expect(r.ok).toBe(false)
    const err = (r as { error: QueryError }).error
    const d = describeError(err, (e) => renderCaret('ls WHRE a=b', e as QueryError))
    expect(d.exitCode).toBe(1)
    expect(d.text.split('\n').slice(0, 2)).toEqual(['ls WHRE a=b', '   ^'])
  })

  it('reports anything else as a bug, with its stack', () => {
    const d = describeError(new TypeError('undefined is not a function'))
    expect(d.exitCode).toBe(1)
    expect(d.text).toContain('this is a bug in ww')
    expect(d.text).toContain('TypeError: undefined is not a function')
    expect(d.text).toMatch(/\n\s+at /)
  })
})
