/** Per-test teardown shared by the network tests. */
import { afterEach } from 'vitest'

/**
 * Registers an afterEach that runs every function pushed onto the returned list, newest first,
 * and empties it. A teardown that fails (the thing is already gone) doesn't stop the others.
 */
export function cleanupAfterEach(): Array<() => unknown> {
  const cleanups: Array<() => unknown> = []
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) {
      try {
        await c()
      } catch {
        // already gone
      }
    }
  })
  return cleanups
}
