/**
 * Small helper shared by the built-in connections: waiting for `closed` under an AbortSignal.
 */
import { abortError } from '../errors.js'

/**
 * Resolves when `closed` settles. If `signal` fires first, calls `onAbort(err)` (which drops
 * the connection) and rejects with that ERR_ABORTED error.
 */
export function awaitClosed(closed: Promise<unknown>, signal: AbortSignal | undefined, onAbort: (err: Error) => void): Promise<void> {
  if (signal === undefined) return closed.then(() => {})
  if (signal.aborted) {
    const err = abortError(signal)
    onAbort(err)
    return Promise.reject(err)
  }
  return new Promise<void>((resolve, reject) => {
    const abort = (): void => {
      const err = abortError(signal)
      onAbort(err)
      reject(err)
    }
    signal.addEventListener('abort', abort, { once: true })
    void closed.then(() => {
      signal.removeEventListener('abort', abort)
      resolve()
    })
  })
}
