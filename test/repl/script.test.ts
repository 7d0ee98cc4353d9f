/**
 * The files of `\i` and `\o` on a real file system: the size cap (at the limit, one byte
 * past it), what is refused (a FIFO, a directory, a missing file, NUL bytes, invalid UTF-8),
 * how lines become statements, and the output file's errors (a directory, /dev/full).
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { openOutput, readScript, scriptLines } from '../../src/repl/script.js'

const dir = mkdtempSync(join(tmpdir(), 'ww-script-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const codeOf = async (p: Promise<unknown>): Promise<string | undefined> =>
  p.then(
    () => undefined,
    (e: { code?: string }) => e.code,
  )

describe('\\i files', () => {
  it('takes one statement a line, skipping blank lines and comments, keeping line numbers', () => {
    expect(scriptLines('-- c\n\nls\r\n  # c2\n  lookup WHERE host=a  \n')).toEqual([
      { no: 3, text: 'ls' },
      { no: 5, text: 'lookup WHERE host=a' },
    ])
  })

  it('reads a file up to the cap and refuses one byte more', async () => {
    const at = join(dir, 'at.ww')
    writeFileSync(at, 'ls\n' + '-'.repeat(96) + '\n') // 100 bytes
    expect(await readScript(at, 100)).toEqual([{ no: 1, text: 'ls' }])
    const over = join(dir, 'over.ww')
    writeFileSync(over, 'ls\n' + '-'.repeat(97) + '\n') // 101 bytes
    expect(await codeOf(readScript(over, 100))).toBe('ERR_INPUT_TOO_LARGE')
  })

  it('refuses what is not a regular text file without blocking', async () => {
    const fifo = join(dir, 'fifo')
    execFileSync('mkfifo', [fifo])
    // No writer: opening it blocking would hang here.
    expect(await codeOf(readScript(fifo))).toBe('ERR_INPUT_FILE')
    expect(await codeOf(readScript(dir))).toBe('ERR_INPUT_FILE')
    expect(await codeOf(readScript(join(dir, 'missing')))).toBe('ERR_INPUT_FILE')
    expect(await codeOf(readScript(''))).toBe('ERR_INPUT_FILE')
    const nul = join(dir, 'nul.ww')
    writeFileSync(nul, 'ls\u0000\n')
    expect(await codeOf(readScript(nul))).toBe('ERR_INPUT_FILE')
    const latin1 = join(dir, 'latin1.ww')
    writeFileSync(latin1, Buffer.from([0x6c, 0x73, 0xe9, 0x0a]))
    expect(await codeOf(readScript(latin1))).toBe('ERR_INPUT_FILE')
  })
})

describe('\\o files', () => {
  it('refuses a directory at once, and reports a write error (disk full) as it happens', async () => {
    expect(await codeOf(openOutput(dir))).toBe('ERR_OUTPUT_FILE')
    expect(await codeOf(openOutput(join(dir, 'no/such/x')))).toBe('ERR_OUTPUT_FILE')
    const full = await openOutput('/dev/full')
    let called = 0
    full.onError = () => called++
    full.write('a row\n')
    await full.flushed()
    expect((full.error as NodeJS.ErrnoException).code).toBe('ENOSPC')
    expect(called).toBe(1)
    expect(full.write('more')).toBe(false)
    await full.close()
  })
})
