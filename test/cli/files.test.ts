/**
 * Every file ww reads on a user's word goes through the one bounded reader (src/file.ts):
 * the config file, a context's token file, a client's `--tls-*` PEM files, the shell's `\i`
 * script, and `ww start`'s `--token-file` and `--tls-*` files. Each refuses, with its own
 * code, a file past its bound, a FIFO with no writer (at once, not blocking) and a directory;
 * and the token rule (first line, blanks trimmed, at most 64 KiB) is the same for
 * `ww start --token-file` and a context's `tokenFile`. Real files in a temporary folder.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { endpointOptions, ERR_SECRET_FILE, resolveToken } from '../../src/cli/start.js'
import { ERR_CONFIG_INVALID, MAX_CONFIG_BYTES, readConfig } from '../../src/client/config.js'
import { createContext, ERR_TOKEN_FILE } from '../../src/client/context.js'
import { ERR_USAGE } from '../../src/client/errors.js'
import { MAX_TOKEN_FILE_BYTES } from '../../src/file.js'
import { ERR_INPUT_FILE, ERR_INPUT_TOO_LARGE, readScript, SCRIPT_MAX_BYTES } from '../../src/repl/script.js'
import { hostileFiles } from '../hostile-files.js'

// A FIFO with no writer, a directory, and a file one byte past the largest bound (1 MiB).
const { dir, fifo, folder, big, remove } = hostileFiles('ww-files-', Math.max(MAX_CONFIG_BYTES, SCRIPT_MAX_BYTES))
afterAll(remove)
const noConfig = { XDG_CONFIG_HOME: join(dir, 'no-config') }

// How a read ended: its error's code and whether the message gives `why`.
const outcome = (p: Promise<unknown>, why: string): Promise<{ code: string | undefined; says: boolean }> =>
  p.then(
    () => ({ code: 'read', says: false }),
    (e: { code?: string; message?: string }) => ({ code: e.code, says: e.message?.includes(why) === true }),
  )

const pem = join(dir, 'ok.pem')
writeFileSync(pem, 'PEM')

// A home whose config.json is a FIFO, a folder, or a valid JSON object padded past the bound.
let homes = 0
function configAt(kind: 'fifo' | 'folder' | 'big'): NodeJS.ProcessEnv {
  const home = join(dir, `home${homes++}`)
  mkdirSync(join(home, 'ww'), { recursive: true })
  const file = join(home, 'ww', 'config.json')
  if (kind === 'fifo') execFileSync('mkfifo', [file])
  else if (kind === 'folder') mkdirSync(file)
  else writeFileSync(file, '{}' + ' '.repeat(MAX_CONFIG_BYTES))
  return { XDG_CONFIG_HOME: home }
}

// A home whose current context reads its token from `tokenFile`.
function contextWithToken(tokenFile: string): NodeJS.ProcessEnv {
  const home = join(dir, `home${homes++}`)
  mkdirSync(join(home, 'ww'), { recursive: true })
  writeFileSync(join(home, 'ww', 'config.json'), JSON.stringify({ current: 'c', contexts: { c: { tokenFile } } }))
  return { XDG_CONFIG_HOME: home }
}

const readers: Array<[string, (path: string) => Promise<unknown>, string, string]> = [
  ['the config file', async (p) => readConfig(configAt(p === fifo ? 'fifo' : p === folder ? 'folder' : 'big')), ERR_CONFIG_INVALID, ERR_CONFIG_INVALID],
  ["a context's tokenFile", async (p) => createContext({}, contextWithToken(p)), ERR_TOKEN_FILE, ERR_TOKEN_FILE],
  ['the client --tls-ca', async (p) => createContext({ tlsCa: p }, noConfig), ERR_USAGE, ERR_USAGE],
  ['the client --tls-cert', async (p) => createContext({ tlsCert: p, tlsKey: pem }, noConfig), ERR_USAGE, ERR_USAGE],
  ['the shell\'s \\i script', async (p) => readScript(p), ERR_INPUT_FILE, ERR_INPUT_TOO_LARGE],
  ['ww start --token-file', async (p) => resolveToken({ tokenFile: p }), ERR_SECRET_FILE, ERR_SECRET_FILE],
  ['ww start --tls-cert', async (p) => endpointOptions({ tlsCert: p, tlsKey: pem }), ERR_SECRET_FILE, ERR_SECRET_FILE],
  ['ww start --tls-client-ca', async (p) => endpointOptions({ tlsCert: pem, tlsKey: pem, tlsClientCa: p }), ERR_SECRET_FILE, ERR_SECRET_FILE],
]

describe('every file reader refuses what it must not read', () => {
  it.each(readers)('%s: a FIFO, a directory, a file past its bound', async (_, read, code, tooLarge) => {
    // The reason is checked too: an empty read of the FIFO, say, would fail later with the same code.
    expect(await outcome(read(fifo), 'not a regular file'), 'FIFO').toEqual({ code, says: true })
    expect(await outcome(read(folder), 'is a directory'), 'directory').toEqual({ code, says: true })
    expect(await outcome(read(big), 'larger than'), 'too large').toEqual({ code: tooLarge, says: true })
  })
})

describe('the token file rule is the same for ww start and a context', () => {
  const cases: Array<[string, string]> = [
    ['first line', 'sekrit\nsecond line\n'],
    ['blanks and CRLF trimmed', '  sekrit \t\r\nsecond\r\n'],
    ['no newline', 'sekrit'],
    ['empty first line', '\nsekrit\n'],
    ['blank first line', '   \n'],
    ['empty file', ''],
    ['exactly 64 KiB', 'sekrit\n' + '#'.repeat(MAX_TOKEN_FILE_BYTES - 7)],
    ['64 KiB and one byte', 'sekrit\n' + '#'.repeat(MAX_TOKEN_FILE_BYTES - 6)],
  ]
  it.each(cases)('%s', async (name, text) => {
    const file = join(dir, `token-${name.replace(/\W+/g, '-')}`)
    writeFileSync(file, text)
    const start = await resolveToken({ tokenFile: file }).then((t) => ({ token: t }), () => ({ refused: true }))
    const context = await createContext({}, contextWithToken(file)).then((c) => ({ token: c.options.token }), () => ({ refused: true }))
    expect(context).toEqual(start)
    const want = name === 'first line' || name === 'blanks and CRLF trimmed' || name === 'no newline' || name === 'exactly 64 KiB' ? { token: 'sekrit' } : { refused: true }
    expect(start).toEqual(want)
  })
})
