/**
 * Errors that reach a user or cross the wire carry a stable `code` (ERR_…). Tests assert the
 * code, never the message. Every code is listed in `docs/errors.md`; each module defines the
 * codes it raises next to the code that raises them, and re-uses this base class.
 */
export class WwError extends Error {
  /** Stable, documented identifier of this kind of failure. */
  readonly code: string

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = 'WwError'
  }
}

/** True for any error object carrying the given code (works across module copies). */
export function hasCode(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code
}

/** Thrown when an operation is cancelled through its AbortSignal. */
export const ERR_ABORTED = 'ERR_ABORTED'

/** A capability (View, PubSub, Topic) was used after it was released. */
export const ERR_CAP_RELEASED = 'ERR_CAP_RELEASED'

/** Turns an AbortSignal's reason into a WwError with code ERR_ABORTED (keeps existing WwErrors). */
export function abortError(signal?: AbortSignal): WwError {
  const reason: unknown = signal?.reason
  if (reason instanceof WwError) return reason
  return new WwError(ERR_ABORTED, 'the operation was aborted', { cause: reason })
}
