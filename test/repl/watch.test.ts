/**
 * The shell's `watch QUERY`: the matches, then every change, until Ctrl-C (`cancel()`),
 * over the real protocol server and client (memory transport).
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { FormatRegistry } from '../../src/format/index.js'
import { parseInput } from '../../src/repl/commands.js'
import { ShellCore } from '../../src/repl/core.js'
import { fakeRecord, localNode, type LocalNode } from './fixture.js'

let node: LocalNode | undefined
afterEach(async () => {
  await node?.close()
  node = undefined
})

function sink(): { write(s: string): boolean; needsDrain: boolean; drain(): Promise<void>; text(): string } {
  let out = ''
  return {
    write(s: string) {
      out += s
      return true
    },
    needsDrain: false,
    drain: async () => {},
    text: () => out,
  }
}

describe('shell watch', () => {
  it('parses `watch QUERY` apart from queries', () => {
    expect(parseInput('watch WHERE role=db')).toEqual({ kind: 'watch', text: 'WHERE role=db' })
    expect(parseInput('WATCH')).toEqual({ kind: 'watch', text: '' })
    expect(parseInput('ls WHERE watch=1')).toEqual({ kind: 'query', text: 'ls WHERE watch=1' })
  })

  it('prints the matches, synced, each change, and stops on Ctrl-C with the node freed', async () => {
    node = await localNode([fakeRecord(1), fakeRecord(2)])
    const core = new ShellCore({ addr: node.url, format: 'ndjson', formats: FormatRegistry.withBuiltins(), transports: node.transports })
    const out = sink()
    const running = core.run('watch WHERE role=db', out)
    await vi.waitFor(() => expect(out.text()).toContain('"synced"'))
    node.table.upsert(fakeRecord(3))
    await vi.waitFor(() => expect(out.text().trim().split('\n')).toHaveLength(3))
    const lines = out.text().trim().split('\n').map((l) => JSON.parse(l) as { event: string; peer: string })
    expect(lines.map((l) => [l.event, l.peer])).toEqual([
      ['record', fakeRecord(1).peer],
      ['synced', undefined],
      ['joined', fakeRecord(3).peer],
    ])
    expect(core.progress.running).toBe(true)
    expect(core.cancel()).toBe(true)
    const r = await running
    expect(r).toMatchObject({ exitCode: 0, count: 2, info: 'watch stopped' })
    await vi.waitFor(() => expect(node!.table.watching).toBe(0))
    await core.close()
  })

  it('refuses LIMIT without contacting the node', async () => {
    node = await localNode([])
    const core = new ShellCore({ addr: node.url, format: 'text', formats: FormatRegistry.withBuiltins(), transports: node.transports })
    const r = await core.run('watch LIMIT 2', sink())
    expect(r.exitCode).toBe(1)
    expect(r.error).toMatch(/LIMIT/)
    expect(core.session).toBeUndefined()
  })
})
