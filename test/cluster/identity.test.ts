import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { mkdtemp, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir, homedir, hostname } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { configDir, defaultIdentityPath, ERR_IDENTITY_CORRUPT, ERR_IDENTITY_IO, ERR_IDENTITY_LOCKED, loadIdentity, lockIdentity } from '../../src/cluster/identity.js'
import { spawnGroup } from '../procs.js'

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ww-identity-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p
  } catch (err) {
    return (err as { code?: string }).code
  }
  return undefined
}

describe('identity file', () => {
  it('is created 0600 in a 0700 directory on first start and reused after', async () => {
    const path = join(dir, 'nested', 'ww', 'identity.key')
    const first = await loadIdentity(path)
    expect(first.created).toBe(true)
    expect(first.key.type).toBe('Ed25519')
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    expect((await stat(join(dir, 'nested', 'ww'))).mode & 0o777).toBe(0o700)
    const again = await loadIdentity(path)
    expect(again.created).toBe(false)
    expect(peerIdFromPrivateKey(again.key).toString()).toBe(peerIdFromPrivateKey(first.key).toString())
    expect(Buffer.from(await readFile(path))).toEqual(Buffer.from(privateKeyToProtobuf(first.key)))
  })

  it('gives racing first starts the same key', async () => {
    const path = join(dir, 'identity.key')
    const keys = await Promise.all([loadIdentity(path), loadIdentity(path), loadIdentity(path)])
    const ids = new Set(keys.map((k) => peerIdFromPrivateKey(k.key).toString()))
    expect(ids.size).toBe(1)
  })

  it('reports a corrupt file with ERR_IDENTITY_CORRUPT', async () => {
    const path = join(dir, 'identity.key')
    await writeFile(path, 'not a key at all')
    expect(await codeOf(loadIdentity(path))).toBe(ERR_IDENTITY_CORRUPT)
  })

  it('reports an empty file with ERR_IDENTITY_CORRUPT', async () => {
    const path = join(dir, 'identity.key')
    await writeFile(path, '')
    expect(await codeOf(loadIdentity(path))).toBe(ERR_IDENTITY_CORRUPT)
  })

  it('reports a truncated key with ERR_IDENTITY_CORRUPT', async () => {
    const path = join(dir, 'identity.key')
    const key = await generateKeyPair('Ed25519')
    await writeFile(path, privateKeyToProtobuf(key).subarray(0, 20))
    expect(await codeOf(loadIdentity(path))).toBe(ERR_IDENTITY_CORRUPT)
  })

  it('refuses a key that is not Ed25519', async () => {
    const path = join(dir, 'identity.key')
    await writeFile(path, privateKeyToProtobuf(await generateKeyPair('secp256k1')))
    expect(await codeOf(loadIdentity(path))).toBe(ERR_IDENTITY_CORRUPT)
  })

  it('reports an unreadable path with ERR_IDENTITY_IO', async () => {
    const path = join(dir, 'a-directory')
    await mkdir(path)
    expect(await codeOf(loadIdentity(path))).toBe(ERR_IDENTITY_IO)
  })

  it('reports a directory it cannot create with ERR_IDENTITY_IO', async () => {
    const blocker = join(dir, 'file')
    await writeFile(blocker, 'x')
    expect(await codeOf(loadIdentity(join(blocker, 'sub', 'identity.key')))).toBe(ERR_IDENTITY_IO)
  })

  it('lives under $XDG_CONFIG_HOME/ww, else ~/.config/ww', () => {
    expect(configDir({ XDG_CONFIG_HOME: '/x/cfg' })).toBe('/x/cfg/ww')
    expect(configDir({})).toBe(join(homedir(), '.config', 'ww'))
    expect(defaultIdentityPath({ XDG_CONFIG_HOME: '/x/cfg' })).toBe('/x/cfg/ww/identity.key')
  })
})

describe('identity lock', () => {
  it('lets one holder at a time use a file, and the next one in after release', async () => {
    const path = join(dir, 'identity.key')
    const lock = await lockIdentity(path)
    expect(lock.path).toBe(`${path}.lock`)
    expect(await readFile(lock.path, 'utf8')).toMatch(new RegExp(`^${process.pid}\\n`))
    const err = (await lockIdentity(path).then(
      () => undefined,
      (e: unknown) => e,
    )) as (Error & { code: string; hint: string }) | undefined
    expect(err).toMatchObject({ code: ERR_IDENTITY_LOCKED })
    expect(err!.message).toContain(path)
    expect(err!.hint).toContain('--identity')
    await lock.release()
    await lock.release() // idempotent
    const again = await lockIdentity(path)
    await again.release()
  })

  it('takes over a lock left by a process that is gone, not one whose holder runs', async () => {
    const path = join(dir, 'identity.key')
    // A real process that has exited: its pid is free.
    const gone = spawnGroup(process.execPath, ['-e', ''])
    await gone.exited
    await writeFile(`${path}.lock`, `${gone.child.pid}\n${hostname()}\n`)
    const lock = await lockIdentity(path)
    await lock.release()
    // A running process holds it.
    const holder = spawnGroup(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'])
    try {
      await writeFile(`${path}.lock`, `${holder.child.pid}\n${hostname()}\n`)
      expect(await codeOf(lockIdentity(path))).toBe(ERR_IDENTITY_LOCKED)
    } finally {
      process.kill(-holder.child.pid!, 'SIGKILL')
      await holder.exited
    }
    // The holder is gone now: its lock is stale.
    const taken = await lockIdentity(path)
    await taken.release()
    // A lock of another host can't be checked: never taken over.
    await writeFile(`${path}.lock`, `1\nsome-other-host\n`)
    expect(await codeOf(lockIdentity(path))).toBe(ERR_IDENTITY_LOCKED)
  })
  it('refuses a FIFO or an oversize file at the lock path without blocking or taking it over', async () => {
    const path = join(dir, 'identity.key')
    // A FIFO nobody writes: a plain read of it would wait for a writer forever.
    execFileSync('mkfifo', [`${path}.lock`])
    const fifo = (await lockIdentity(path).then(
      () => undefined,
      (e: unknown) => e,
    )) as Error & { code: string }
    expect(fifo).toMatchObject({ code: ERR_IDENTITY_LOCKED })
    expect(fifo.message).toContain('not a regular file')
    await rm(`${path}.lock`)
    // A huge file is not read whole, and not taken over either.
    await writeFile(`${path}.lock`, `${'9'.repeat(8192)}\n${hostname()}\n`)
    const big = (await lockIdentity(path).then(
      () => undefined,
      (e: unknown) => e,
    )) as Error & { code: string }
    expect(big).toMatchObject({ code: ERR_IDENTITY_LOCKED })
    expect(big.message).toContain('larger than')
  })
})
