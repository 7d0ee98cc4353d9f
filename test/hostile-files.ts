/**
 * Hostile files for the tests of ww's file readers, made once per test file in a temporary
 * folder: a FIFO with no writer (a plain read would wait for one forever), a directory, and
 * a file one byte past a bound. Call `remove` in `afterAll`.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** The folder and the hostile files in it. */
export interface HostileFiles {
  dir: string
  fifo: string
  folder: string
  /** `bound + 1` bytes of `fill`. */
  big: string
  remove(): void
}

/** Makes the files under a new temporary folder named `prefix…`; `big` holds `bound + 1` bytes. */
export function hostileFiles(prefix: string, bound: number, fill = 'x'): HostileFiles {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  const fifo = join(dir, 'fifo')
  execFileSync('mkfifo', [fifo])
  const folder = join(dir, 'folder')
  mkdirSync(folder)
  const big = join(dir, 'big')
  writeFileSync(big, fill.repeat(bound + 1))
  return { dir, fifo, folder, big, remove: () => rmSync(dir, { recursive: true, force: true }) }
}
