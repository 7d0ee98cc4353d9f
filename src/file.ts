/**
 * Reading a file a user names (the config file, a token file, a shell script, a PEM file,
 * the node's identity, swarm key and allow-list):
 * hostile input like any other. {@link readFileBounded} reads only a regular file (a FIFO
 * or a device could block forever or never end, a directory is a mistake), at most the
 * bound (counted while reading through one open handle, not trusted from `stat`, so a file
 * that grows meanwhile is still bounded), and names the file in a clear error. The rule
 * "the token is the first line of the file" lives here once ({@link readTokenFile}), for
 * `ww start --token-file` and a context's `tokenFile` alike.
 */
import { constants, type Stats } from 'node:fs'
import { open } from 'node:fs/promises'
import { WwError } from './errors.js'

/** Largest token file read, bytes: a token is one short line. @default 64 KiB */
export const MAX_TOKEN_FILE_BYTES = 64 * 1024

/** Largest PEM file read (a certificate chain, a key, a CA bundle), bytes, by the client and by `ww start`. @default 1 MiB */
export const MAX_PEM_FILE_BYTES = 1 << 20

/** Options of {@link readFileBounded}. */
export interface ReadBoundedOptions {
  /** The code when the file is larger than the bound. @default the reader's `code` */
  tooLargeCode?: string
  /** How messages name the file, e.g. `--tls-cert /etc/ww/cert.pem`. @default the path */
  label?: string
  /** Called with the open file's stat before it is read (its mode, say), so no second look at the path is needed. @default undefined */
  onStat?: (st: Stats) => void
}

/** A file {@link readFileBounded} could not read; `code` is the caller's, `reason` says why in words. */
export class FileReadError extends WwError {
  /** The path as given. */
  readonly path: string
  /** Why, in a few words: "no such file or directory", "is a directory", "larger than N bytes", … */
  readonly reason: string
  /** The file system's error code (`ENOENT`, `EACCES`, …) when the OS refused. */
  readonly fsCode: string | undefined

  constructor(code: string, path: string, label: string, reason: string, cause?: unknown) {
    super(code, `cannot read ${label}: ${reason}`, cause === undefined ? undefined : { cause })
    this.name = 'FileReadError'
    this.path = path
    this.reason = reason
    const c = (cause as NodeJS.ErrnoException | undefined)?.code
    this.fsCode = typeof c === 'string' ? c : undefined
  }
}

/** A file system error's reason in words, for one-line messages. */
export function fsReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException)?.code
  switch (code) {
    case 'ENOENT':
      return 'no such file or directory'
    case 'EACCES':
    case 'EPERM':
      return 'permission denied'
    case 'EISDIR':
      return 'is a directory'
    case 'ENOTDIR':
      return 'a part of the path is not a directory'
    case 'ENOSPC':
      return 'no space left on the device'
    case 'EROFS':
      return 'read-only file system'
    case 'ENXIO':
      return 'nobody reads that FIFO'
    default:
      return code ?? (err as Error)?.message ?? String(err)
  }
}

/**
 * The bytes of the regular file `path`, at most `maxBytes` of them. Throws
 * {@link FileReadError} with `code` when the file can't be opened or read, is not a regular
 * file (directory, FIFO, device), or (with `tooLargeCode`, else `code`) holds more than
 * `maxBytes`: the read stops at `maxBytes + 1`, so a huge or endless file costs no more.
 */
export async function readFileBounded(path: string, maxBytes: number, code: string, options: ReadBoundedOptions = {}): Promise<Buffer> {
  const label = options.label ?? path
  const fail = (reason: string, c = code, cause?: unknown): FileReadError => new FileReadError(c, path, label, reason, cause)
  let fh
  try {
    // Non-blocking: opening a FIFO for reading would otherwise wait for a writer, forever.
    // The checks below run on this handle, so the file checked is the file read.
    fh = await open(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0))
  } catch (err) {
    throw fail(fsReason(err), code, err)
  }
  try {
    const st = await fh.stat()
    if (st.isDirectory()) throw fail('is a directory')
    if (!st.isFile()) throw fail('not a regular file')
    options.onStat?.(st)
    // Sized by stat for the usual case, grown if the file grows; one byte more than allowed
    // tells a file at the bound from one past it.
    let buf = Buffer.alloc(Math.min(maxBytes + 1, Math.max(st.size + 1, 4096)))
    let len = 0
    for (;;) {
      if (len === buf.length) {
        if (len > maxBytes) break
        const next = Buffer.alloc(Math.min(maxBytes + 1, buf.length * 2))
        buf.copy(next, 0, 0, len)
        buf = next
      }
      const { bytesRead } = await fh.read(buf, len, buf.length - len, len)
      if (bytesRead === 0) break
      len += bytesRead
    }
    if (len > maxBytes) throw fail(`larger than ${maxBytes} bytes`, options.tooLargeCode ?? code)
    return buf.subarray(0, len)
  } catch (err) {
    if (err instanceof FileReadError) throw err
    throw fail(fsReason(err), code, err)
  } finally {
    await fh.close().catch(() => {})
  }
}

/** The token in a token file's text: its first line (ends at `\n` or `\r\n`), blanks around it trimmed; undefined when that is empty. */
export function firstLineToken(text: string): string | undefined {
  const line = text.split(/\r?\n/, 1)[0]!.trim()
  return line === '' ? undefined : line
}

/**
 * The token of a token file: {@link firstLineToken} of at most {@link MAX_TOKEN_FILE_BYTES}
 * (UTF-8). Throws {@link FileReadError} with `code` when the file can't be read by
 * {@link readFileBounded}'s rules, or a WwError with `code` when its first line is empty.
 */
export async function readTokenFile(path: string, code: string, label = path): Promise<string> {
  const text = (await readFileBounded(path, MAX_TOKEN_FILE_BYTES, code, { label })).toString('utf8')
  const token = firstLineToken(text)
  if (token === undefined) throw new WwError(code, `${label} has no token on its first line`)
  return token
}
