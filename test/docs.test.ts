/**
 * The docs are part of the contract: every stable error code the code can raise is listed in
 * docs/errors.md, and every doc the README links to exists.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name)
    return statSync(p).isDirectory() ? files(p) : /\.(ts|tsx|js)$/.test(name) && !name.endsWith('.test.ts') ? [p] : []
  })
}

describe('docs', () => {
  it('lists every ERR_ code of src/ and plugins/ in docs/errors.md', () => {
    const codes = new Set<string>()
    for (const f of [...files(join(ROOT, 'src')), ...files(join(ROOT, 'plugins'))]) {
      for (const m of readFileSync(f, 'utf8').matchAll(/['"`](ERR_[A-Z0-9_]*[A-Z0-9])['"`]/g)) codes.add(m[1]!)
    }
    expect(codes.size).toBeGreaterThan(30)
    const doc = readFileSync(join(ROOT, 'docs/errors.md'), 'utf8')
    const missing = [...codes].filter((c) => !doc.includes(`\`${c}\``))
    expect(missing).toEqual([])
  })

  it('has every doc file the README links to', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
    const links = [...readme.matchAll(/\]\((docs\/[^)#]+)\)/g)].map((m) => m[1]!)
    expect(links.length).toBeGreaterThan(0)
    for (const l of links) expect(statSync(join(ROOT, l)).isFile()).toBe(true)
  })
})
