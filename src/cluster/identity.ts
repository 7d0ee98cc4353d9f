/**
 * The node's identity: an Ed25519 private key kept in a file, so the peer ID derived from it
 * survives restarts (docs/design.md#records). The file holds the libp2p protobuf encoding of the key
 * (`privateKeyToProtobuf`), is created with mode 0600 on first start inside a directory
 * created 0700, and is only read afterwards. Anything unreadable is a WwError with a stable
 * code, never a crash. While a node runs, {@link lockIdentity} keeps other nodes off the file.
 */
import { mkdir, open, unlink } from 'node:fs/promises'
import { homedir, hostname } from 'node:os'
import { dirname, join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { WwError } from '../errors.js'
import { FileReadError, readFileBounded } from '../file.js'

/** The identity file exists but does not hold an Ed25519 private key. */
export const ERR_IDENTITY_CORRUPT = 'ERR_IDENTITY_CORRUPT'
/** The identity file (or its directory) could not be read or created. */
export const ERR_IDENTITY_IO = 'ERR_IDENTITY_IO'
/** Another running node holds the identity file's lock: two nodes with one peer ID never meet. */
export const ERR_IDENTITY_LOCKED = 'ERR_IDENTITY_LOCKED'

/** Longest identity file read; an Ed25519 key in protobuf is 68 bytes. */
const MAX_FILE_BYTES = 4096

/**
 * The directory `ww` keeps per-user state in: `$XDG_CONFIG_HOME/ww`, or `~/.config/ww`.
 * @param env environment to read (for tests). @default process.env
 */
export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CONFIG_HOME
  return join(xdg !== undefined && xdg !== '' ? xdg : join(homedir(), '.config'), 'ww')
}

/** Default identity file: `<configDir>/identity.key`. */
export function defaultIdentityPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(configDir(env), 'identity.key')
}

/** What {@link loadIdentity} returns. */
export interface Identity {
  /** The Ed25519 private key; the peer ID derives from it. */
  key: PrivateKey
  /** The file the key came from. */
  path: string
  /** True when the file did not exist and was written by this call. */
  created: boolean
}

/**
 * Loads the Ed25519 key from `path`, creating the file (0600, directory 0700) with a new key
 * when it does not exist. Two processes racing to create the same file both end up with the
 * key the winner wrote (exclusive create, then read).
 * @param path identity file. @default defaultIdentityPath()
 * @throws WwError ERR_IDENTITY_CORRUPT when the file holds anything but an Ed25519 key;
 *   ERR_IDENTITY_IO when it can't be read or created.
 */
export async function loadIdentity(path: string = defaultIdentityPath()): Promise<Identity> {
  const existing = await readKeyFile(path)
  if (existing !== undefined) return { key: existing, path, created: false }
  try {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 })
  } catch (err) {
    throw new WwError(ERR_IDENTITY_IO, `cannot create the directory of identity file ${path}: ${(err as Error).message}`, { cause: err })
  }
  const key = await generateKeyPair('Ed25519')
  let handle
  try {
    handle = await open(path, 'wx', 0o600)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      // Another process created it between our read and our create: use theirs.
      const theirs = await readKeyFile(path)
      if (theirs !== undefined) return { key: theirs, path, created: false }
    }
    throw new WwError(ERR_IDENTITY_IO, `cannot create identity file ${path}: ${(err as Error).message}`, { cause: err })
  }
  try {
    await handle.writeFile(privateKeyToProtobuf(key))
    await handle.sync()
  } catch (err) {
    throw new WwError(ERR_IDENTITY_IO, `cannot write identity file ${path}: ${(err as Error).message}`, { cause: err })
  } finally {
    await handle.close()
  }
  return { key, path, created: true }
}

/** Decodes an identity file's bytes; throws ERR_IDENTITY_CORRUPT unless they hold an Ed25519 key. */
export function decodeIdentity(bytes: Uint8Array, path = 'identity'): PrivateKey {
  if (bytes.length === 0 || bytes.length > MAX_FILE_BYTES) {
    throw new WwError(ERR_IDENTITY_CORRUPT, `identity file ${path} is ${bytes.length === 0 ? 'empty' : 'too large'}; move it away to create a new identity`)
  }
  let key: PrivateKey
  try {
    key = privateKeyFromProtobuf(bytes)
  } catch (err) {
    throw new WwError(ERR_IDENTITY_CORRUPT, `identity file ${path} does not hold a libp2p private key; move it away to create a new identity`, { cause: err })
  }
  if (key.type !== 'Ed25519') {
    throw new WwError(ERR_IDENTITY_CORRUPT, `identity file ${path} holds a ${key.type} key; ww needs Ed25519`)
  }
  return key
}

// The key in the identity file; undefined when there is none. A FIFO, a device or a huge file
// is refused (src/file.ts) instead of blocking or filling memory.
async function readKeyFile(path: string): Promise<PrivateKey | undefined> {
  let bytes: Uint8Array
  try {
    bytes = await readFileBounded(path, MAX_FILE_BYTES, ERR_IDENTITY_IO, { tooLargeCode: ERR_IDENTITY_CORRUPT, label: `identity file ${path}` })
  } catch (err) {
    if (err instanceof FileReadError && err.fsCode === 'ENOENT') return undefined
    throw err
  }
  return decodeIdentity(bytes, path)
}

/** A held lock on an identity file; see {@link lockIdentity}. */
export interface IdentityLock {
  /** The lock file: the identity file's path plus `.lock`. */
  readonly path: string
  /** Removes the lock file if it is still this process's. Idempotent; never throws. */
  release(): Promise<void>
}

/** A WwError of {@link ERR_IDENTITY_LOCKED}, with the hint to pass another `--identity`. */
export class IdentityLockedError extends WwError {
  /** What to do about it. */
  readonly hint: string
  constructor(path: string, holder: string) {
    super(ERR_IDENTITY_LOCKED, `identity file ${path} is in use by another ww node (${holder}); two nodes with one identity never see each other`)
    this.name = 'IdentityLockedError'
    this.hint = `give each node on this machine its own key: ww start --identity ${join(dirname(path), 'node-2.key')}`
  }
}

/**
 * Locks the identity file at `path` for this process: creates `<path>.lock` exclusively and
 * writes the pid and host name into it. A lock left by a process that is gone (same host, pid
 * not running) is taken over; one whose holder runs, or can't be checked (another host on a
 * shared file system), is not. Release it when the node stops; a crash leaves a stale lock
 * that the next start takes over.
 * @throws IdentityLockedError (ERR_IDENTITY_LOCKED) when another live process holds it;
 *   WwError ERR_IDENTITY_IO when the lock file can't be created.
 */
export async function lockIdentity(path: string = defaultIdentityPath()): Promise<IdentityLock> {
  const lockPath = `${path}.lock`
  try {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 })
  } catch (err) {
    throw new WwError(ERR_IDENTITY_IO, `cannot create the directory of identity file ${path}: ${(err as Error).message}`, { cause: err })
  }
  const mine = `${process.pid}\n${hostname()}\n`
  for (let attempt = 0; attempt < 2; attempt++) {
    let handle
    try {
      handle = await open(lockPath, 'wx', 0o600)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new WwError(ERR_IDENTITY_IO, `cannot create lock file ${lockPath}: ${(err as Error).message}`, { cause: err })
      }
      const holder = await readHolder(lockPath)
      if (holder.stale && attempt === 0) {
        await unlink(lockPath).catch(() => {})
        continue
      }
      throw new IdentityLockedError(path, holder.text)
    }
    try {
      await handle.writeFile(mine)
    } finally {
      await handle.close()
    }
    held.add(lockPath)
    let released = false
    return {
      path: lockPath,
      async release() {
        if (released) return
        released = true
        held.delete(lockPath)
        try {
          if ((await readLockFile(lockPath)) === mine) await unlink(lockPath)
        } catch {
          // Already gone: nothing to release.
        }
      },
    }
  }
  throw new IdentityLockedError(path, `lock file ${lockPath}`)
}

// Lock files held by this process.
const held = new Set<string>()

// Largest lock file read: ours hold a pid and a host name. Bounded and regular files only, so
// a FIFO or a huge file planted at the lock's path can't hang or exhaust `ww start`.
const MAX_LOCK_FILE_BYTES = 4096

async function readLockFile(lockPath: string): Promise<string> {
  return (await readFileBounded(lockPath, MAX_LOCK_FILE_BYTES, ERR_IDENTITY_IO, { label: `lock file ${lockPath}` })).toString('utf8')
}

async function readHolder(lockPath: string): Promise<{ stale: boolean; text: string }> {
  let text: string
  try {
    text = await readLockFile(lockPath)
  } catch (err) {
    // Removed between our create and our read: the holder just stopped. Try again.
    if (err instanceof FileReadError && err.fsCode === 'ENOENT') return { stale: true, text: `lock file ${lockPath}` }
    // Not a lock file of ours (a FIFO, a directory, too large, unreadable): not taken over.
    return { stale: false, text: err instanceof FileReadError ? `lock file ${lockPath}: ${err.reason}` : `lock file ${lockPath}` }
  }
  const [pidText, host] = text.split('\n')
  const pid = Number(pidText)
  // Empty: the holder has created the file and not yet written it; it is starting now.
  if (!Number.isSafeInteger(pid) || pid <= 0 || host === undefined) return { stale: false, text: `lock file ${lockPath}` }
  const where = `pid ${pid}${host !== hostname() ? ` on ${host}` : ''}, lock file ${lockPath}`
  if (host !== hostname()) return { stale: false, text: where }
  // Our own pid: held by a node of this process, or left by an earlier life that had the
  // same pid (pid 1 in a container, every time).
  if (pid === process.pid) return { stale: !held.has(lockPath), text: `${where} (this process)` }
  try {
    process.kill(pid, 0)
    return { stale: false, text: where }
  } catch (err) {
    // ESRCH: no such process, the lock is stale. EPERM: it runs, under another user.
    return { stale: (err as NodeJS.ErrnoException).code === 'ESRCH', text: where }
  }
}
