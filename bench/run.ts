/**
 * `npm run bench`: runs every benchmark module in bench/ (or those named on the command line,
 * e.g. `npm run bench -- table stream`). Each module exports `run()`, which prints its own
 * results as ratios against a baseline measured in the same run.
 */
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

for (const name of names) {
  const mod = (await import(pathToFileURL(join(here, `${name}.ts`)).href)) as { run?: () => Promise<void> }
  if (typeof mod.run !== 'function') continue
  console.log(`\n=== bench: ${name}`)
  await mod.run()
}
