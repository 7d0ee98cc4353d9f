/**
 * The docs are part of the contract: every stable error code the code can raise is listed in
 * docs/errors.md, every doc the README links to exists, and the repo cites only itself.
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

/** Every file under `dir` (recursively), tests and docs included, skipping node_modules. */
function allFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name)
    if (name === 'node_modules') return []
    return statSync(p).isDirectory() ? allFiles(p) : [p]
  })
}

// Built from parts so that this file does not match the patterns it looks for.
const SECTION = ['DESIGN', '\u00a7'].join(' ')
const TRACKER = new RegExp(['\\b', 'issue', ' \\d+'].join(''), 'i')

/** The places in `text` that cite something outside the repo, as `line: text`. */
function outsideReferences(text: string): string[] {
  return text.split('\n').flatMap((line, i) => (line.includes(SECTION) || TRACKER.test(line) ? [`${i + 1}: ${line.trim()}`] : []))
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

  it('cites no document or tracker outside the repo: references point at docs/', () => {
    const scanned = [
      ...['src', 'docs', 'test', 'bench', 'plugins'].flatMap((d) => allFiles(join(ROOT, d))),
      join(ROOT, 'README.md'),
    ]
    expect(scanned.length).toBeGreaterThan(100)
    const found = scanned.flatMap((f) => outsideReferences(readFileSync(f, 'utf8')).map((l) => `${f.slice(ROOT.length)}:${l}`))
    expect(found).toEqual([])
  })

  it('recognises both kinds of outside reference', () => {
    const tracker = ['Iss', 'ue 12'].join('')
    expect(outsideReferences(['ok', `see ${SECTION}3`, `and ${tracker} too`, 'an issue, 12 of them', 'tissue 12'].join('\n'))).toEqual([
      `2: see ${SECTION}3`,
      `3: and ${tracker} too`,
    ])
  })
})
