/**
 * The one bounded file reader (src/file.ts) on a real file system: at the bound and one byte
 * past it, a file that is not regular (a FIFO with no writer, a directory, /dev/zero) refused
 * at once without blocking or reading forever, a missing file, and the token-file rule.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { FileReadError, firstLineToken, MAX_TOKEN_FILE_BYTES, readFileBounded, readTokenFile } from '../src/file.js'

const dir = mkdtempSync(join(tmpdir(), 'ww-file-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const fifo = join(dir, 'fifo')
execFileSync('mkfifo', [fifo])

describe('readFileBounded', () => {
  it('reads a file past the size stat gives (a /proc file says 0), growing its buffer', async () => {
    const maps = (await readFileBounded('/proc/self/maps', 1 << 24, 'ERR_X')).toString()
    expect(maps.length).toBeGreaterThan(4096)
    expect(maps.endsWith('\n')).toBe(true)
    await expect(readFileBounded('/proc/self/maps', 4096, 'ERR_X')).rejects.toMatchObject({ code: 'ERR_X', reason: 'larger than 4096 bytes' })
  })

  it('reads a file of exactly the bound, and an empty one', async () => {
    const at = join(dir, 'at')
    writeFileSync(at, 'x'.repeat(10_000))
    expect((await readFileBounded(at, 10_000, 'ERR_X')).toString()).toBe('x'.repeat(10_000))
    const empty = join(dir, 'empty')
    writeFileSync(empty, '')
    expect((await readFileBounded(empty, 10, 'ERR_X')).length).toBe(0)
  })

  it('refuses one byte past the bound with the given code, naming the file', async () => {
    const over = join(dir, 'over')
    writeFileSync(over, 'x'.repeat(10_001))
    await expect(readFileBounded(over, 10_000, 'ERR_X')).rejects.toMatchObject({ code: 'ERR_X', reason: 'larger than 10000 bytes', message: expect.stringContaining(over) })
    await expect(readFileBounded(over, 10_000, 'ERR_X', { tooLargeCode: 'ERR_BIG', label: '--flag F' })).rejects.toMatchObject({ code: 'ERR_BIG', message: 'cannot read --flag F: larger than 10000 bytes' })
  })

  it.each([
    ['a FIFO with no writer', fifo, 'not a regular file'],
    ['a directory', dir, 'is a directory'],
    ['an endless device', '/dev/zero', 'not a regular file'],
    ['a missing file', join(dir, 'missing'), 'no such file or directory'],
  ])('refuses %s at once', async (_, path, reason) => {
    const err = await readFileBounded(path, 100, 'ERR_X').then(() => undefined, (e: unknown) => e)
    expect(err).toBeInstanceOf(FileReadError)
    expect(err).toMatchObject({ code: 'ERR_X', path, reason })
  })
})

describe('the token file rule', () => {
  it('is the first line, blanks around it trimmed; an empty first line is no token', () => {
    expect(firstLineToken('sekrit\nsecond')).toBe('sekrit')
    expect(firstLineToken('  sekrit \t\r\nsecond')).toBe('sekrit')
    expect(firstLineToken('sekrit')).toBe('sekrit')
    expect(firstLineToken('\nsekrit')).toBeUndefined()
    expect(firstLineToken('   \n')).toBeUndefined()
    expect(firstLineToken('')).toBeUndefined()
  })

  it('reads at most MAX_TOKEN_FILE_BYTES: a file of exactly that is read, one byte more refused', async () => {
    const at = join(dir, 'token-at')
    writeFileSync(at, 'tok\n' + '#'.repeat(MAX_TOKEN_FILE_BYTES - 4))
    expect(await readTokenFile(at, 'ERR_T')).toBe('tok')
    const over = join(dir, 'token-over')
    writeFileSync(over, 'tok\n' + '#'.repeat(MAX_TOKEN_FILE_BYTES - 3))
    await expect(readTokenFile(over, 'ERR_T')).rejects.toMatchObject({ code: 'ERR_T', reason: `larger than ${MAX_TOKEN_FILE_BYTES} bytes` })
    const blank = join(dir, 'token-blank')
    writeFileSync(blank, '\ntok\n')
    await expect(readTokenFile(blank, 'ERR_T', 'the file')).rejects.toMatchObject({ code: 'ERR_T', message: 'the file has no token on its first line' })
  })
})
