/**
 * The Ink shell against a real protocol server and table (memory transport): typing and
 * editing, streaming results with a live count, Ctrl-C cancelling, history, completion,
 * syntax errors with the caret, meta-commands, connection loss and reconnect, leaving.
 */
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import React from 'react'
import { render } from 'ink-testing-library'
import { ShellApp, splitPaste } from '../../src/repl/app.js'
import { ShellCore } from '../../src/repl/core.js'
import { History } from '../../src/repl/history.js'
import { Completer, type CompleterInit } from '../../src/repl/complete.js'
import { FormatRegistry } from '../../src/format/index.js'
import { serve } from '../../src/proto/server/server.js'
import { fakeRecord, localNode, type LocalNode } from './fixture.js'

const plain = (s: string): string => s.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '')
const KEY = { enter: '\r', up: '\u001b[A', left: '\u001b[D', tab: '\t', ctrlC: '\u0003', ctrlD: '\u0004', ctrlA: '\u0001', ctrlW: '\u0017', ctrlU: '\u0015' }

describe('shell (Ink)', () => {
  let node: LocalNode | undefined
  let cleanup: Array<() => void> = []
  afterEach(async () => {
    for (const c of cleanup.splice(0)) c()
    await node?.close()
    node = undefined
  })

  async function shell(records = 5, opts: { flushMs?: number; completer?: CompleterInit } = {}) {
    node = await localNode(Array.from({ length: records }, (_, i) => fakeRecord(i)))
    const core = new ShellCore({ addr: node.url, format: 'text', formats: FormatRegistry.withBuiltins(), transports: node.transports, session: node.session })
    const history = new History()
    let exited: number | undefined
    const ui = render(<ShellApp core={core} history={history} completer={new Completer(node.session.view, opts.completer)} flushMs={opts.flushMs ?? 10} tickMs={20} onExit={(c) => (exited = c)} />)
    cleanup.push(() => ui.unmount())
    // Frames are many (one per batch of rows): strip each once.
    let seen = 0
    let text = ''
    const all = (): string => {
      // In debug mode each frame is what was printed plus the live area; keep what was printed.
      for (; seen < ui.frames.length; seen++) text += plain(ui.frames[seen]!)
      return text
    }
    const last = (): string => plain(ui.lastFrame() ?? '')
    const type = async (s: string): Promise<void> => {
      ui.stdin.write(s)
      // Ink handles input on the next turn; give it one before the next key.
      await new Promise((r) => setTimeout(r, 15))
    }
    await vi.waitFor(() => expect(last().includes('ww>'), 'the prompt').toBe(true), { timeout: 15_000 })
    return { ui, core, history, all, last, type, exited: () => exited }
  }

  it('runs a typed query and prints the rows with a count', async () => {
    const s = await shell(5)
    await s.type('ls WHERE role=web')
    await vi.waitFor(() => expect(s.last().includes('ww> ls WHERE role=web'), 'the typed line').toBe(true), { timeout: 15_000 })
    await s.type(KEY.enter)
    await vi.waitFor(() => expect(s.all().includes('(3 records)'), 'the result').toBe(true), { timeout: 15_000 })
    const out = s.all()
    expect(out).toContain(fakeRecord(0).host)
    expect(out).toContain(fakeRecord(2).host)
    expect(out).not.toContain(fakeRecord(1).host)
    expect(out).toMatch(/PEER\s+SERVER\s+HOST\s+AGE\s+SEEN\s+META/)
  })

  it('splits a paste against the line being edited: complete lines run, the rest stays', () => {
    const at = { text: 'ls WHERE  LIMIT 1', cursor: 9 }
    expect(splitPaste(at, 'host=a\r\nlookup\u001b[A WHERE\thost=b\n\n  \nls')).toEqual({
      run: ['ls WHERE host=a LIMIT 1', 'lookup WHERE host=b'],
      line: { text: 'ls', cursor: 2 },
    })
    expect(splitPaste({ text: '', cursor: 0 }, 'ls\n')).toEqual({ run: ['ls'], line: { text: '', cursor: 0 } })
    expect(splitPaste({ text: 'ls ', cursor: 3 }, 'LIMIT 2')).toEqual({ run: [], line: { text: 'ls LIMIT 2', cursor: 10 } })
  })

  it('edits the line: cursor moves, home, delete word, kill', async () => {
    const s = await shell(1)
    await s.type('WHERE host=a')
    await s.type(KEY.ctrlA)
    await s.type('ls ')
    await vi.waitFor(() => expect(s.last().includes('ww> ls WHERE host=a'), 'insert at home').toBe(true), { timeout: 15_000 })
    await s.type('\u0005') // Ctrl-E
    await s.type(KEY.ctrlW)
    await vi.waitFor(() => expect(/ww> ls WHERE\s*$/m.test(s.last()), 'delete word').toBe(true), { timeout: 15_000 })
    await s.type(KEY.left)
    await s.type(KEY.left)
    await s.type('X')
    await vi.waitFor(() => expect(s.last().includes('ww> ls WHERXE'), 'insert after moving left').toBe(true), { timeout: 15_000 })
    await s.type(KEY.ctrlU)
    await vi.waitFor(() => expect(/ww> E\s*$/m.test(s.last()), 'kill to start').toBe(true), { timeout: 15_000 })
  })

  it('shows a syntax error with the caret under the column and the hint', async () => {
    const s = await shell(1)
    await s.type('ls WHERE host=a LIMT 3')
    await s.type(KEY.enter)
    await vi.waitFor(() => expect(s.all().includes('did you mean LIMIT'), 'the hint').toBe(true), { timeout: 15_000 })
    const lines = s.all().split('\n')
    const q = lines.findIndex((l) => l === 'ls WHERE host=a LIMT 3')
    expect(q).toBeGreaterThanOrEqual(0)
    expect(lines[q + 1]).toBe(' '.repeat(16) + '^')
  })

  it('streams a long result with a live count, and Ctrl-C cancels it so the node stops', async () => {
    const s = await shell(60_000, { flushMs: 50 })
    await s.type('ls')
    await s.type(KEY.enter)
    await vi.waitFor(() => expect(/[1-9][0-9]* records · /.test(s.last()), 'the live count').toBe(true), { timeout: 15_000 })
    await s.type(KEY.ctrlC)
    await vi.waitFor(() => expect(s.all().includes('cancelled'), 'the cancel').toBe(true), { timeout: 15_000 })
    await vi.waitFor(() => expect(s.last().includes('ww>'), 'the prompt back').toBe(true), { timeout: 15_000 })
    const m = /\((\d+) records\)/.exec(s.all())
    expect(m).not.toBeNull()
    expect(Number(m![1])).toBeLessThan(60_000)
    await vi.waitFor(() => expect(node!.server.stats().streams, 'the node to stop streaming').toBe(0), { timeout: 15_000 })
  })

  it('recalls history with the up arrow', async () => {
    const s = await shell(2)
    await s.type('ls LIMIT 1')
    await s.type(KEY.enter)
    await vi.waitFor(() => expect(s.all().includes('(1 record)'), 'the first result').toBe(true), { timeout: 15_000 })
    await s.type(KEY.up)
    await vi.waitFor(() => expect(s.last().includes('ww> ls LIMIT 1'), 'the recalled line').toBe(true), { timeout: 15_000 })
    expect(s.history.entries).toEqual(['ls LIMIT 1'])
  })

  it('completes a meta key with Tab, then its value', async () => {
    const s = await shell(3)
    await s.type('ls WHERE reg')
    await s.type(KEY.tab)
    await vi.waitFor(() => expect(s.last().includes('ww> ls WHERE region='), 'the completed key').toBe(true), { timeout: 15_000 })
    await s.type('eu')
    await s.type(KEY.tab)
    await vi.waitFor(() => expect(s.last().includes('ww> ls WHERE region=eu-west-1'), 'the completed value').toBe(true), { timeout: 15_000 })
  })

  it('completes a file name from a folder larger than its cap: the line stays, the names read are listed, a note says so', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ww-tab-'))
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }))
    for (let i = 0; i < 30; i++) closeSync(openSync(join(dir, `f${String(i).padStart(2, '0')}`), 'w'))
    const s = await shell(1, { completer: { fileLimit: 5 } })
    await s.type(`\\i ${dir}/f`)
    await s.type(KEY.tab)
    await vi.waitFor(() => expect(s.last(), 'the note').toContain('type more of the name'), { timeout: 15_000 })
    expect(s.last()).toContain(`ww> \\i ${dir}/f\n`)
    expect(s.last().match(new RegExp(`${dir}/f\\d\\d`, 'g'))).toHaveLength(5)
    // The next key clears the note.
    await s.type('0')
    await vi.waitFor(() => expect(s.last(), 'the note cleared').not.toContain('type more of the name'), { timeout: 15_000 })
  })

  it('treats a final Enter or Tab in a chunk of typed text as the key (paste, tmux send-keys)', async () => {
    const s = await shell(3)
    await s.type('ls WHERE reg\t')
    await vi.waitFor(() => expect(s.last().includes('ww> ls WHERE region='), 'completion from a chunk').toBe(true), { timeout: 15_000 })
    await s.type('\u0015')
    await s.type('ls LIMIT 1\r')
    await vi.waitFor(() => expect(s.all().includes('(1 record)'), 'a query submitted from a chunk').toBe(true), { timeout: 15_000 })
  })

  it('switches format and timing with meta-commands', async () => {
    const s = await shell(2)
    await s.type('\\format ndjson')
    await s.type(KEY.enter)
    await vi.waitFor(() => expect(s.all().includes('format is ndjson'), 'format switched').toBe(true), { timeout: 15_000 })
    await s.type('\\timing')
    await s.type(KEY.enter)
    await vi.waitFor(() => expect(s.all().includes('timing is on'), 'timing on').toBe(true), { timeout: 15_000 })
    await s.type('ls LIMIT 1')
    await s.type(KEY.enter)
    await vi.waitFor(() => expect(/\(1 record, [0-9.]+ (ms|s)\)/.test(s.all()), 'timed result').toBe(true), { timeout: 15_000 })
    expect(s.all()).toContain(`{"peer":"${fakeRecord(0).peer}"`)
    await s.type('help')
    await s.type(KEY.enter)
    await vi.waitFor(() => expect(s.all().includes('Meta-commands:'), 'help').toBe(true), { timeout: 15_000 })
  })

  it('reports a lost connection and reconnects on Enter', async () => {
    const s = await shell(2)
    const url = node!.url
    await node!.server.close()
    await vi.waitFor(() => expect(s.all().includes('lost'), 'the loss notice').toBe(true), { timeout: 15_000 })
    expect(s.all()).toContain('press Enter to reconnect')
    const again = await serve({ listen: url, table: node!.table, peer: fakeRecord(0).peer, transports: node!.transports })
    cleanup.push(() => void again.close())
    await s.type(KEY.enter)
    await vi.waitFor(() => expect(s.all().includes(`connected to ${url}`), 'the reconnect').toBe(true), { timeout: 15_000 })
    await s.type('ls')
    await s.type(KEY.enter)
    await vi.waitFor(() => expect(s.all().includes('(2 records)'), 'a query after reconnecting').toBe(true), { timeout: 15_000 })
  })

  it('Ctrl-C stops a \\connect to a node that never answers', async () => {
    const silent = createServer(() => {})
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()))
    cleanup.push(() => void silent.close())
    const port = (silent.address() as AddressInfo).port
    const s = await shell(1)
    const started = Date.now()
    await s.type(`\\connect ws://127.0.0.1:${port}`)
    await s.type(KEY.enter)
    await vi.waitFor(() => expect(s.last().includes(`… connecting to ws://127.0.0.1:${port}`), 'the dial in progress').toBe(true), { timeout: 15_000 })
    await s.type(KEY.ctrlC)
    await vi.waitFor(() => expect(s.all().includes(`cannot connect to ws://127.0.0.1:${port}`), 'the aborted dial').toBe(true), { timeout: 15_000 })
    expect(Date.now() - started).toBeLessThan(8000)
    await vi.waitFor(() => expect(s.last().includes('ww>'), 'the prompt back').toBe(true), { timeout: 15_000 })
  })

  it('leaves on Ctrl-D at an empty prompt, and on Ctrl-C pressed twice', async () => {
    const a = await shell(1)
    await a.type(KEY.ctrlD)
    await vi.waitFor(() => expect(a.exited(), 'exit on Ctrl-D').toBeDefined(), { timeout: 15_000 })

    const b = await shell(1)
    await b.type(KEY.ctrlC)
    await vi.waitFor(() => expect(b.last().includes('press Ctrl-C again'), 'the warning').toBe(true), { timeout: 15_000 })
    expect(b.exited()).toBeUndefined()
    await b.type(KEY.ctrlC)
    await vi.waitFor(() => expect(b.exited(), 'exit on the second Ctrl-C').toBeDefined(), { timeout: 15_000 })
  })
})
