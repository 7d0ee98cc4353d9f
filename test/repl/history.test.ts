import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { History, MAX_HISTORY_FILE_BYTES } from '../../src/repl/history.js'

describe('history', () => {
  const dirs: string[] = []
  afterEach(async () => {
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
  })
  async function tmp(): Promise<string> {
    const d = await mkdtemp(join(tmpdir(), 'ww-hist-'))
    dirs.push(d)
    return d
  }

  it('navigates back and forth and keeps the draft', async () => {
    const h = new History()
    await h.add('ls')
    await h.add('ls LIMIT 1')
    expect(h.prev('typing')).toBe('ls LIMIT 1')
    expect(h.prev('ls LIMIT 1')).toBe('ls')
    expect(h.prev('ls')).toBeUndefined()
    expect(h.next()).toBe('ls LIMIT 1')
    expect(h.next()).toBe('typing')
    expect(h.next()).toBeUndefined()
  })

  it('skips blanks and consecutive duplicates', async () => {
    const h = new History()
    await h.add('ls')
    await h.add('ls')
    await h.add('   ')
    expect(h.entries).toEqual(['ls'])
  })

  it('persists between instances in a file it creates', async () => {
    const file = join(await tmp(), 'sub', 'history')
    const a = new History({ file })
    await a.load()
    await a.add('ls WHERE region=us-east-1')
    await a.add('lookup WHERE host=a')
    const b = new History({ file })
    await b.load()
    expect(b.entries).toEqual(['ls WHERE region=us-east-1', 'lookup WHERE host=a'])
    expect(b.prev('')).toBe('lookup WHERE host=a')
  })

  it('stays bounded, in memory and on disk', async () => {
    const file = join(await tmp(), 'history')
    const h = new History({ file, max: 5 })
    await h.load()
    for (let i = 0; i < 23; i++) await h.add(`ls LIMIT ${i + 1}`)
    expect(h.entries).toHaveLength(5)
    expect(h.entries[4]).toBe('ls LIMIT 23')
    const lines = (await readFile(file, 'utf8')).trim().split('\n')
    expect(lines.length).toBeLessThanOrEqual(10)
    const again = new History({ file, max: 5 })
    await again.load()
    expect(again.entries).toEqual(h.entries)
  })

  it('treats an unreadable file as empty history', async () => {
    const d = await tmp()
    await writeFile(join(d, 'history'), 'ok\n')
    const h = new History({ file: d }) // a directory: reading fails
    await h.load()
    expect(h.entries).toEqual([])
  })
  it('loads a history file up to its bound and skips a larger one, a FIFO or a directory', async () => {
    const d = await tmp()
    const at = join(d, 'at')
    // Exactly at the bound: loaded, last lines kept.
    const line = 'x'.repeat(1023) + '\n'
    await writeFile(at, line.repeat(MAX_HISTORY_FILE_BYTES / 1024 - 1) + 'ls WHERE a=1\n'.padStart(1024, ' '))
    const ok = new History({ file: at, max: 3 })
    await ok.load()
    expect(ok.entries.at(-1)?.trim()).toBe('ls WHERE a=1')
    // One byte past it: an empty history, the file left as it was.
    const over = join(d, 'over')
    await writeFile(over, 'y'.repeat(MAX_HISTORY_FILE_BYTES) + '\n')
    const big = new History({ file: over })
    await big.load()
    expect(big.entries).toEqual([])
    // A FIFO would block a plain read forever; a directory is a mistake.
    const fifo = join(d, 'fifo')
    execFileSync('mkfifo', [fifo])
    const f = new History({ file: fifo })
    await f.load()
    expect(f.entries).toEqual([])
    const dir = new History({ file: d })
    await dir.load()
    expect(dir.entries).toEqual([])
  })
})
