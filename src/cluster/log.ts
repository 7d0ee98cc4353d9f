/**
 * The node's logger for operators (`--log-level`, `--log-format`): text lines as before
 * (`ww: …`, `ww: warning: …`, `ww: error: …`) or one JSON object per line with `time`
 * (ISO 8601), `level`, `msg` and any fields, for a log shipper. It implements the
 * {@link Logger} shape of options.ts, so every part that logs keeps working unchanged.
 * Hand-written (about forty lines) rather than pino: the node logs a few lines per state change,
 * never per heartbeat, so a fast logger buys nothing, and this keeps one dependency fewer.
 */
import { WwError } from '../errors.js'
import type { Logger } from './options.js'

/** A `--log-level` or `--log-format` value is not one of the known ones. */
export const ERR_BAD_LOG_OPTION = 'ERR_BAD_LOG_OPTION'

/** Levels, least severe first. */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const
/** A log level. */
export type LogLevel = (typeof LOG_LEVELS)[number]
/** Output formats. */
export const LOG_FORMATS = ['text', 'json'] as const
/** A log format. */
export type LogFormat = (typeof LOG_FORMATS)[number]

/** Options of {@link createLogger}. */
export interface LoggerInit {
  /** Least severe level written. @default 'info' */
  level?: string
  /** `text` or `json`. @default 'text' */
  format?: string
  /** Where lines go. @default process.stderr */
  write?: (line: string) => void
  /** The clock, for `time`. @default () => new Date() */
  now?: () => Date
}

/** A {@link Logger} with `debug` and fields on every level. */
export interface StructuredLogger extends Logger {
  debug(message: string, fields?: Record<string, unknown>): void
  info(message: string, fields?: Record<string, unknown>): void
  warn(message: string, fields?: Record<string, unknown>): void
  error(message: string, fields?: Record<string, unknown>): void
}

const TEXT_PREFIX: Record<LogLevel, string> = { debug: 'ww: debug: ', info: 'ww: ', warn: 'ww: warning: ', error: 'ww: error: ' }

/** Checks a level name; throws ERR_BAD_LOG_OPTION. */
export function parseLogLevel(level: string): LogLevel {
  if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new WwError(ERR_BAD_LOG_OPTION, `invalid --log-level '${level}': use ${LOG_LEVELS.join(', ')}`)
  return level as LogLevel
}

/** Checks a format name; throws ERR_BAD_LOG_OPTION. */
export function parseLogFormat(format: string): LogFormat {
  if (!(LOG_FORMATS as readonly string[]).includes(format)) throw new WwError(ERR_BAD_LOG_OPTION, `invalid --log-format '${format}': use ${LOG_FORMATS.join(' or ')}`)
  return format as LogFormat
}

/** Makes a logger; throws ERR_BAD_LOG_OPTION for an unknown level or format. */
export function createLogger(init: LoggerInit = {}): StructuredLogger {
  const min = LOG_LEVELS.indexOf(parseLogLevel(init.level ?? 'info'))
  const format = parseLogFormat(init.format ?? 'text')
  const write = init.write ?? ((line: string) => void process.stderr.write(line))
  const now = init.now ?? (() => new Date())
  const log = (level: LogLevel) => (message: string, fields: Record<string, unknown> = {}) => {
    if (LOG_LEVELS.indexOf(level) < min) return
    if (format === 'json') {
      // time, level and msg first, and never overwritten by a field of the same name
      const entry: Record<string, unknown> = { time: now().toISOString(), level, msg: message }
      for (const [k, v] of Object.entries(fields)) if (!(k in entry)) entry[k] = v
      write(`${JSON.stringify(entry, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}\n`)
      return
    }
    const extra = Object.entries(fields).map(([k, v]) => ` ${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join('')
    write(`${TEXT_PREFIX[level]}${message}${extra}\n`)
  }
  return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') }
}
