/**
 * The files of `\o` and `\i`. A script file (`\i FILE`) is hostile input like any other: it
 * is read by `readFileBounded` (src/file.ts): only a regular file (a FIFO or a device could
 * block the shell or never end), at most `SCRIPT_MAX_BYTES` of it (checked while reading, not
 * by trusting `stat`, so a file that grows meanwhile is still bounded); and it must be UTF-8 text. Each line is one
 * statement; blank lines and `--` or `#` comments are skipped. An output file (`\o FILE`) is
 * opened (created or truncated) before the shell says so, so a directory or a missing
 * permission is reported at once instead of at the first result.
 */
import { constants } from 'node:fs'
import { open } from 'node:fs/promises'
import type { WriteStream } from 'node:fs'
import { CliError, EXIT } from '../client/errors.js'
import { fsReason, readFileBounded, type FileReadError } from '../file.js'
import type { QuerySink } from '../client/query.js'

/** Largest script `\i` reads, bytes. @default 1 MiB */
export const SCRIPT_MAX_BYTES = 1024 * 1024

/** A script file could not be read: missing, unreadable, not a regular file, not text. */
export const ERR_INPUT_FILE = 'ERR_INPUT_FILE'
/** A script file is larger than `SCRIPT_MAX_BYTES`. */
export const ERR_INPUT_TOO_LARGE = 'ERR_INPUT_TOO_LARGE'
/** `\o FILE` could not create or write FILE. */
export const ERR_OUTPUT_FILE = 'ERR_OUTPUT_FILE'

/** One statement of a script with its 1-based line number. */
export interface ScriptLine {
  no: number
  text: string
}

/** Splits a script's text into statements: trimmed lines, blank lines and comments skipped. */
export function scriptLines(text: string): ScriptLine[] {
  const out: ScriptLine[] = []
  const lines = text.split(/\r\n|\r|\n/)
  for (let i = 0; i < lines.length; i++) {
    const t = lines[i]!.trim()
    if (t === '' || t.startsWith('--') || t.startsWith('#')) continue
    out.push({ no: i + 1, text: t })
  }
  return out
}

/** Reads the script `path`: at most `maxBytes`, a regular UTF-8 text file. */
export async function readScript(path: string, maxBytes = SCRIPT_MAX_BYTES): Promise<ScriptLine[]> {
  const fail = (code: string, why: string, cause?: unknown): CliError => new CliError(code, `cannot run ${path}: ${why} (${code})`, { exitCode: EXIT.usage, cause })
  if (path === '') throw fail(ERR_INPUT_FILE, '\\i needs a FILE')
  let bytes: Buffer
  try {
    bytes = await readFileBounded(path, maxBytes, ERR_INPUT_FILE, { tooLargeCode: ERR_INPUT_TOO_LARGE })
  } catch (err) {
    const e = err as FileReadError
    throw fail(e.code, e.reason, err)
  }
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    throw fail(ERR_INPUT_FILE, 'not UTF-8 text')
  }
  if (text.includes('\u0000')) throw fail(ERR_INPUT_FILE, 'not text (it holds NUL bytes)')
  return scriptLines(text)
}

/**
 * The `\o` file as a query's output: honours the file stream's backpressure, and on a write
 * error (disk full, …) keeps the first error, drops further output and calls `onError`
 * (the shell cancels the query then: there is nowhere to put its results).
 */
export class FileSink implements QuerySink {
  /** The file's path as the user gave it. */
  readonly path: string
  readonly #stream: WriteStream
  #error: unknown
  #onError: (() => void) | undefined

  constructor(path: string, stream: WriteStream) {
    this.path = path
    this.#stream = stream
    stream.on('error', (err) => {
      this.#error ??= err
      this.#onError?.()
    })
  }

  /** The first write error, if any. */
  get error(): unknown {
    return this.#error
  }

  /** Called once per write error (the shell cancels the running query). */
  set onError(f: (() => void) | undefined) {
    this.#onError = f
  }

  write(chunk: string): boolean {
    if (this.#error !== undefined || this.#stream.destroyed) return false
    return this.#stream.write(chunk)
  }

  get needsDrain(): boolean {
    return this.#error === undefined && this.#stream.writableNeedDrain
  }

  drain(): Promise<void> {
    if (!this.needsDrain) return Promise.resolve()
    return new Promise((resolve) => {
      const done = (): void => {
        this.#stream.off('drain', done)
        this.#stream.off('error', done)
        resolve()
      }
      this.#stream.on('drain', done)
      this.#stream.on('error', done)
    })
  }

  /** Resolves once everything written so far reached the file (or failed: see `error`). */
  flushed(): Promise<void> {
    if (this.#error !== undefined || this.#stream.destroyed) return Promise.resolve()
    return new Promise((resolve) =>
      this.#stream.write('', (err) => {
        // A failed write calls back before the stream emits its 'error': wait for that, so
        // `error` holds the cause (ENOSPC), not "stream destroyed".
        if (err == null || this.#stream.closed) resolve()
        else this.#stream.once('close', () => resolve())
      }),
    )
  }

  /** Flushes and closes the file. */
  close(): Promise<void> {
    if (this.#stream.destroyed) return Promise.resolve()
    return new Promise((resolve) => {
      this.#stream.once('close', () => resolve())
      this.#stream.end()
    })
  }
}

/** Opens `path` for `\o`: created or truncated (mode 0644 before the umask). */
export async function openOutput(path: string): Promise<FileSink> {
  try {
    // Non-blocking: opening a FIFO that nobody reads fails (ENXIO) instead of hanging.
    const fh = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NONBLOCK, 0o644)
    return new FileSink(path, fh.createWriteStream())
  } catch (err) {
    throw new CliError(ERR_OUTPUT_FILE, `cannot write to ${path}: ${fsReason(err)} (${ERR_OUTPUT_FILE})`, { exitCode: EXIT.usage, cause: err })
  }
}

/** The one-line message of a write error on the `\o` file. */
export function outputFailed(path: string, err: unknown): string {
  return `cannot write to ${path}: ${fsReason(err)} (${ERR_OUTPUT_FILE}); results go to the screen again`
}
