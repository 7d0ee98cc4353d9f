/**
 * The swarm key of a private cluster: a 256-bit pre-shared key that every node of the cluster
 * holds. With it, libp2p's connection protector (`@libp2p/pnet`) encrypts every connection
 * with XSalsa20 under that key before anything else is said, so a peer without the same key
 * cannot complete the Noise handshake: it never reaches identify, gossipsub or the table.
 *
 * The file format is the one of go-ipfs / js-libp2p private networks (`ipfs swarm.key`), three
 * lines:
 *
 *     /key/swarm/psk/1.0.0/
 *     /base16/
 *     <64 hex digits>
 *
 * `@libp2p/pnet` itself only checks that the third line decodes to 32 bytes; this module is
 * stricter (exact header lines, exactly 64 hex digits, nothing after but blank lines) so a
 * truncated or hand-edited file is refused with a clear error rather than misread.
 */
import { createHash } from 'node:crypto'
import { open, rename, unlink } from 'node:fs/promises'
import { dirname, basename, join } from 'node:path'
import { generateKey } from '@libp2p/pnet'
import { WwError } from '../errors.js'
import { readFileBounded } from '../file.js'

/** A swarm key file is not in the `/key/swarm/psk/1.0.0/` format (or not 32 bytes of key). */
export const ERR_SWARM_KEY_INVALID = 'ERR_SWARM_KEY_INVALID'
/** A swarm key file could not be read or written. */
export const ERR_SWARM_KEY_IO = 'ERR_SWARM_KEY_IO'
/** `ww keygen` refused to overwrite an existing file (pass `--force`). */
export const ERR_SWARM_KEY_EXISTS = 'ERR_SWARM_KEY_EXISTS'

/** First line of a swarm key file. */
export const SWARM_KEY_HEADER = '/key/swarm/psk/1.0.0/'
/** Second line: the encoding of the key. */
export const SWARM_KEY_ENCODING = '/base16/'
/** Length of the key, in bytes. */
export const SWARM_KEY_BYTES = 32

/** Longest file read: the format is 95 bytes; room for a trailing newline or CRLFs. */
const MAX_FILE_BYTES = 1024
const HEX = /^[0-9a-fA-F]{64}$/

/** A parsed swarm key. */
export interface SwarmKey {
  /** The 32 key bytes. */
  readonly key: Uint8Array
  /** The canonical file text (lowercase hex, `\n` line ends), as `@libp2p/pnet` takes it. */
  readonly psk: Uint8Array
  /** First 8 hex digits of SHA-256 of the key: safe to print, tells two keys apart. */
  readonly fingerprint: string
}

/**
 * Reads a swarm key from the bytes of a key file.
 * @param source named in error messages. @default 'swarm key'
 * @throws WwError ERR_SWARM_KEY_INVALID for anything but the three-line format above.
 */
export function parseSwarmKey(bytes: Uint8Array, source = 'swarm key'): SwarmKey {
  const bad = (why: string): WwError =>
    new WwError(ERR_SWARM_KEY_INVALID, `${source} is not a swarm key (${why}); create one with 'ww keygen PATH'`)
  if (bytes.length === 0) throw bad('empty')
  if (bytes.length > MAX_FILE_BYTES) throw bad(`${bytes.length} bytes, expected about 95`)
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    throw bad('not text')
  }
  const lines = text.split(/\r?\n/)
  while (lines.length > 3 && lines[lines.length - 1]!.trim() === '') lines.pop()
  if (lines.length !== 3) throw bad(`expected 3 lines, found ${lines.length}`)
  const [header, encoding, hex] = lines.map((l) => l.trim()) as [string, string, string]
  if (header !== SWARM_KEY_HEADER) throw bad(`first line must be ${SWARM_KEY_HEADER}`)
  if (encoding !== SWARM_KEY_ENCODING) throw bad(`second line must be ${SWARM_KEY_ENCODING}; other encodings are not supported`)
  if (!HEX.test(hex)) throw bad(`third line must be ${SWARM_KEY_BYTES * 2} hex digits`)
  const key = Uint8Array.from(Buffer.from(hex, 'hex'))
  return swarmKeyFrom(key)
}

/** Builds a {@link SwarmKey} from 32 key bytes. Throws ERR_SWARM_KEY_INVALID for another length. */
export function swarmKeyFrom(key: Uint8Array): SwarmKey {
  if (key.length !== SWARM_KEY_BYTES) {
    throw new WwError(ERR_SWARM_KEY_INVALID, `a swarm key is ${SWARM_KEY_BYTES} bytes, got ${key.length}`)
  }
  const psk = new TextEncoder().encode(`${SWARM_KEY_HEADER}\n${SWARM_KEY_ENCODING}\n${Buffer.from(key).toString('hex')}`)
  const fingerprint = createHash('sha256').update(key).digest('hex').slice(0, 8)
  return { key: Uint8Array.from(key), psk, fingerprint }
}

/** A new random swarm key, made by `@libp2p/pnet`'s own generator (32 bytes from the CSPRNG). */
export function generateSwarmKey(): SwarmKey {
  const file = new Uint8Array(SWARM_KEY_HEADER.length + SWARM_KEY_ENCODING.length + 2 + SWARM_KEY_BYTES * 2)
  generateKey(file)
  return parseSwarmKey(file, 'generated swarm key')
}

/** The file text of a key: three lines, lowercase hex, ending in a newline. */
export function formatSwarmKey(key: SwarmKey): string {
  return `${SWARM_KEY_HEADER}\n${SWARM_KEY_ENCODING}\n${Buffer.from(key.key).toString('hex')}\n`
}

/** What {@link loadSwarmKey} returns. */
export interface LoadedSwarmKey extends SwarmKey {
  /** The file it came from. */
  readonly path: string
  /** True when group or others may read the file (mode & 0o077): worth a warning. */
  readonly exposed: boolean
}

/**
 * Loads a swarm key file.
 * @throws WwError ERR_SWARM_KEY_IO when it can't be read; ERR_SWARM_KEY_INVALID when it is not a key.
 */
export async function loadSwarmKey(path: string): Promise<LoadedSwarmKey> {
  let mode = 0
  // A regular file of at most MAX_FILE_BYTES (src/file.ts); its mode from the same open handle.
  const bytes = await readFileBounded(path, MAX_FILE_BYTES, ERR_SWARM_KEY_IO, {
    tooLargeCode: ERR_SWARM_KEY_INVALID,
    label: `swarm key file ${path}`,
    onStat: (st) => (mode = st.mode),
  })
  const key = parseSwarmKey(bytes, `swarm key file ${path}`)
  return { ...key, path, exposed: process.platform !== 'win32' && (mode & 0o077) !== 0 }
}

/**
 * Writes a new key to `path` with mode 0600. Without `force` an existing file is never
 * touched (exclusive create: ERR_SWARM_KEY_EXISTS). With `force` the new key is written to a
 * temporary file beside it and renamed over the old one, so the file is never half written
 * and never readable by others.
 * @param force replace an existing file. @default false
 * @throws WwError ERR_SWARM_KEY_EXISTS, ERR_SWARM_KEY_IO
 */
export async function writeSwarmKey(path: string, key: SwarmKey, force = false): Promise<void> {
  const target = force ? join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`) : path
  let handle
  try {
    handle = await open(target, 'wx', 0o600)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST' && !force) {
      throw new WwError(ERR_SWARM_KEY_EXISTS, `${path} already exists; pass --force to replace it (every node of the cluster then needs the new key)`, { cause: err })
    }
    throw new WwError(ERR_SWARM_KEY_IO, `cannot create swarm key file ${path}: ${(err as Error).message}`, { cause: err })
  }
  try {
    await handle.writeFile(formatSwarmKey(key))
    await handle.sync()
    await handle.close()
    if (force) await rename(target, path)
  } catch (err) {
    await handle.close().catch(() => {})
    await unlink(target).catch(() => {})
    throw new WwError(ERR_SWARM_KEY_IO, `cannot write swarm key file ${path}: ${(err as Error).message}`, { cause: err })
  }
}
