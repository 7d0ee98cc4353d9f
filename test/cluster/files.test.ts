/**
 * The node's own files go through the one bounded reader (src/file.ts) too: the identity
 * (`--identity`), the swarm key (`--swarm-key`) and the allow-list (`--allow-peers`). Each
 * refuses a FIFO with no writer (at once, where a plain read would wait for a writer
 * forever), a directory, an endless device and a file past its bound. Real files.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { ERR_ALLOW_LIST_INVALID, loadAllowList } from '../../src/cluster/admission.js'
import { ERR_IDENTITY_CORRUPT, ERR_IDENTITY_IO, loadIdentity } from '../../src/cluster/identity.js'
import { ERR_SWARM_KEY_INVALID, ERR_SWARM_KEY_IO, loadSwarmKey } from '../../src/cluster/swarm-key.js'
import { hostileFiles } from '../hostile-files.js'

// A FIFO with no writer, a directory, and a file one byte past the largest bound (1 MiB).
const { dir, fifo, folder, big, remove } = hostileFiles('ww-cluster-files-', 1 << 20, '#')
afterAll(remove)

const outcome = (p: Promise<unknown>, why: string): Promise<{ code: string | undefined; says: boolean }> =>
  p.then(
    () => ({ code: 'read', says: false }),
    (e: { code?: string; message?: string }) => ({ code: e.code, says: e.message?.includes(why) === true }),
  )

const readers: Array<[string, (path: string) => Promise<unknown>, string, string]> = [
  ['the identity file', loadIdentity, ERR_IDENTITY_IO, ERR_IDENTITY_CORRUPT],
  ['the swarm key file', loadSwarmKey, ERR_SWARM_KEY_IO, ERR_SWARM_KEY_INVALID],
  ['the allow-list', loadAllowList, ERR_ALLOW_LIST_INVALID, ERR_ALLOW_LIST_INVALID],
]

describe("the node's files are read bounded, regular files only", () => {
  it.each(readers)('%s: a FIFO, a directory, /dev/zero, a file past its bound', async (_, read, code, tooLarge) => {
    expect(await outcome(read(fifo), 'not a regular file'), 'FIFO').toEqual({ code, says: true })
    expect(await outcome(read(folder), 'is a directory'), 'directory').toEqual({ code, says: true })
    expect(await outcome(read('/dev/zero'), 'not a regular file'), '/dev/zero').toEqual({ code, says: true })
    expect(await outcome(read(big), 'larger than'), 'too large').toEqual({ code: tooLarge, says: true })
  })
})
