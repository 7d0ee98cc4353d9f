/**
 * `npm run bench`: runs every benchmark module in bench/ (or those named on the command line,
 * e.g. `npm run bench -- table stream`). Each module exports `run()`, which prints its own
 * results as ratios against a baseline measured in the same run.
 *
 * With more than one module to run, each runs in a child process of its own: a benchmark
 * that leaves nodes, timers or a large heap behind (or trains the JIT on other shapes) would
 * otherwise skew the ones after it — the stream benchmark measured 39% of its ceiling after
 * the others in one process and 58% alone.
 */
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { dirname, join } from 'node:path'

const here = dirname(fileURLToPath(import.meta.url))
const wanted = process.argv.slice(2)
const names = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.startsWith('_'))
  .map((f) => f.slice(0, -3))
  .filter((n) => wanted.length === 0 || wanted.includes(n))
  .sort()

if (names.length === 1) {
  const name = names[0]!
  const mod = (await import(pathToFileURL(join(here, `${name}.ts`)).href)) as { run?: () => Promise<void> }
  if (typeof mod.run === 'function') {
    console.log(`\n=== bench: ${name}`)
    await mod.run()
  }
} else {
  let failed = 0
  for (const name of names) {
    // Same runtime and flags (tsx's loader, --expose-gc) as this process.
    const r = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), name], { stdio: 'inherit' })
    if (r.status !== 0) {
      failed++
      console.error(`bench ${name} failed (exit ${r.status ?? r.signal})`)
    }
  }
  process.exitCode = failed === 0 ? 0 : 1
}
