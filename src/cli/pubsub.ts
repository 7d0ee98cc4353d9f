/**
 * `ww pub -t TOPIC` and `ww sub -t TOPIC` (docs/cli.md, docs/pubsub.md).
 *
 * `pub` publishes stdin as one message, or with `--lines` one message per line (without its
 * line ending). Each publish waits for the node's acknowledgement, so a large input throttles
 * itself to the node's pace. `sub` prints each message as it arrives until Ctrl-C (exit 0),
 * the output pipe closes (exit 0) or the stream fails (exit 3).
 *
 * Output of `sub`: with `--format text` (the default) the payload as UTF-8 text (or, with
 * `--hex`, as lowercase hex) followed by a newline unless the text already ends with one;
 * messages lost to the node's bounded buffer are reported on stderr. With `--format ndjson`
 * (or `json`, which can't be one document for an endless stream) one JSON object per
 * message: `{"topic","from","data","dropped"}`, `data` in UTF-8 or, with `--hex`, hex.
 *
 * A bad topic name or an oversized message fails before connecting (exit 1); a node that
 * can't be reached exits 2; a node that requires a token this client didn't present (the
 * null PubSub) exits 1 with ERR_PUBSUB_DENIED rather than publishing into nothing.
 */
import type { Readable } from 'node:stream'
import { createInterface } from 'node:readline'
import type { Message, Session } from '../api.js'
import { WwError } from '../errors.js'
import { MAX_MESSAGE_SIZE, checkMessageSize, validateTopicName, ERR_MESSAGE_TOO_LARGE, ERR_PUBLISH_FAILED, ERR_TOPIC_NAME } from '../record/topic.js'
import { formatFor, type CliContext } from '../client/context.js'
import { CliError, ERR_USAGE, EXIT, rootCode, streamFailed } from '../client/errors.js'
import { Output } from '../client/output.js'
import { closeQuietly, connectOrExit } from '../client/query.js'

/** `ww sub`: the node ended the subscription without an error (exit 3: it should run until Ctrl-C). */
export const ERR_SUBSCRIPTION_ENDED = 'ERR_SUBSCRIPTION_ENDED'

/** The node handed this client the null PubSub (it requires a token that was not presented). */
export const ERR_PUBSUB_DENIED = 'ERR_PUBSUB_DENIED'

/** Flags of `ww pub`. */
export interface PubFlags {
  /** One message per line of stdin instead of one message for all of it. @default false */
  lines?: boolean
}

/** Flags of `ww sub`. */
export interface SubFlags {
  /** Print payloads as hex instead of UTF-8 text. @default false */
  hex?: boolean
}

/** The formats `ww sub` prints messages in. */
export const SUB_FORMATS = ['text', 'ndjson', 'json'] as const

/**
 * Checks `ww sub --format`: messages are not routing records, so the formatters of the
 * registry (a plugin's included), which format records, do not apply; `sub` has its own
 * three. Anything else is ERR_USAGE saying so.
 */
export function checkSubFormat(format: string): (typeof SUB_FORMATS)[number] {
  const known = SUB_FORMATS.find((f) => f === format)
  if (known !== undefined) return known
  throw new CliError(ERR_USAGE, `format "${format}" does not apply to messages`, {
    hint: 'ww sub prints --format text (the default), ndjson or json; formats from plugins format query records, not messages',
  })
}

/** Where the commands read and write; the process's own streams unless a test says otherwise. */
export interface PubSubIO {
  stdin?: Readable
  stdout?: NodeJS.WritableStream
  stderr?: NodeJS.WritableStream
  /** Ends `sub` like Ctrl-C does. @default SIGINT/SIGTERM of this process */
  signal?: AbortSignal
}

/** `ww pub`; returns the exit code. */
export async function pubCommand(ctx: CliContext, topic: string, flags: PubFlags = {}, io: PubSubIO = {}): Promise<number> {
  validateTopicName(topic)
  const stdin = io.stdin ?? process.stdin
  // One message: read (bounded) before connecting, so an oversized input costs no connection.
  const whole = flags.lines === true ? undefined : await readAll(stdin, MAX_MESSAGE_SIZE)
  const session = await connectOrExit(ctx.options.addr, { token: ctx.options.token, transports: ctx.transports })
  let sent = 0
  try {
    requireGrant(session, ctx.options.addr)
    const t = session.pubsub.join(topic)
    try {
      if (whole !== undefined) {
        await publishOrFail(() => t.publish(whole), sent)
        sent++
      } else {
        const rl = createInterface({ input: stdin, crlfDelay: Infinity })
        const enc = new TextEncoder()
        for await (const line of rl) {
          const data = enc.encode(line)
          checkMessageSize(data)
          await publishOrFail(() => t.publish(data), sent)
          sent++
        }
      }
    } finally {
      t.release()
    }
    return EXIT.ok
  } finally {
    await closeQuietly(session)
  }
}

/** `ww sub`; returns the exit code. */
export async function subCommand(ctx: CliContext, topic: string, flags: SubFlags = {}, io: PubSubIO = {}): Promise<number> {
  validateTopicName(topic)
  const format = checkSubFormat(formatFor(ctx.options, SUB_FORMATS))
  const out = new Output((io.stdout ?? process.stdout) as NodeJS.WriteStream)
  const stderr = io.stderr ?? process.stderr
  const stop = new AbortController()
  const onSignal = (): void => stop.abort()
  if (io.signal === undefined) {
    process.once('SIGINT', onSignal)
    process.once('SIGTERM', onSignal)
  } else if (io.signal.aborted) {
    stop.abort()
  } else {
    io.signal.addEventListener('abort', onSignal, { once: true })
  }
  // The reader of our output went away (EPIPE): same as Ctrl-C.
  out.closed.addEventListener('abort', onSignal, { once: true })
  let session: Session | undefined
  try {
    session = await connectOrExit(ctx.options.addr, { token: ctx.options.token, transports: ctx.transports, signal: stop.signal })
    requireGrant(session, ctx.options.addr)
    const t = session.pubsub.join(topic)
    const cursor = t.subscribe({ signal: stop.signal })
    const print = format === 'text' ? textPrinter(flags, out, stderr) : ndjsonPrinter(flags, out)
    let count = 0
    for (;;) {
      const m = await cursor.next()
      if (m === undefined) break
      print(m)
      count++
      if (out.needsDrain) await out.drain()
    }
    t.release()
    await out.end()
    if (stop.signal.aborted) return EXIT.ok
    const err = cursor.err()
    // A stream that just ends without error (the node released it) is still an unexpected
    // end for a command meant to run until Ctrl-C.
    throw streamFailed(count, err ?? new WwError(ERR_SUBSCRIPTION_ENDED, 'the node ended the subscription'))
  } catch (err) {
    if (stop.signal.aborted && !(err instanceof CliError && err.exitCode === EXIT.stream)) return EXIT.ok
    throw err
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    io.signal?.removeEventListener('abort', onSignal)
    if (session !== undefined) await closeQuietly(session)
  }
}

// The null PubSub would make `pub` a silent no-op and `sub` end at once: say why instead.
function requireGrant(session: Session, addr: string): void {
  if (!session.pubsub.isNull) return
  throw new CliError(ERR_PUBSUB_DENIED, `the node at ${addr} did not grant PubSub to this client: it requires a token (set WW_TOKEN or --token)`, {
    exitCode: EXIT.unauthorized,
  })
}

async function publishOrFail(publish: () => Promise<void>, sent: number): Promise<void> {
  try {
    await publish()
  } catch (err) {
    // The user's own mistakes stay exit 1; anything else broke after the connection began.
    const code = rootCode(err)
    if (code === ERR_MESSAGE_TOO_LARGE || code === ERR_TOPIC_NAME) throw err
    const msg = (err as Error)?.message ?? String(err)
    throw new CliError(ERR_PUBLISH_FAILED, `publish failed after ${sent} message${sent === 1 ? '' : 's'}: ${msg}${code !== undefined ? ` (${code})` : ''}`, {
      exitCode: EXIT.stream,
      cause: err,
    })
  }
}

/** Reads a stream to its end, failing with ERR_MESSAGE_TOO_LARGE once past `max` bytes. */
async function readAll(input: Readable, max: number): Promise<Uint8Array> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of input) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer)
    size += b.length
    if (size > max) {
      input.destroy()
      throw new WwError(ERR_MESSAGE_TOO_LARGE, `stdin holds more than the ${max} bytes one message may carry`, {})
    }
    chunks.push(b)
  }
  const all = Buffer.concat(chunks, size)
  return new Uint8Array(all.buffer, all.byteOffset, all.byteLength)
}

const utf8 = new TextDecoder()

function payload(m: Message, hex: boolean): string {
  return hex ? Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength).toString('hex') : utf8.decode(m.data)
}

function textPrinter(flags: SubFlags, out: Output, stderr: NodeJS.WritableStream): (m: Message) => void {
  return (m) => {
    if (m.dropped > 0) stderr.write(`ww: ${m.dropped} message${m.dropped === 1 ? '' : 's'} dropped (this subscriber fell behind)\n`)
    const s = payload(m, flags.hex === true)
    out.write(s.endsWith('\n') ? s : `${s}\n`)
  }
}

function ndjsonPrinter(flags: SubFlags, out: Output): (m: Message) => void {
  return (m) => {
    out.write(`${JSON.stringify({ topic: m.topic, from: m.from, data: payload(m, flags.hex === true), dropped: m.dropped })}\n`)
  }
}
