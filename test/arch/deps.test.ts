/**
 * Packaging: every package that src/ imports — at run time or only for its types, both end up
 * in what an installed `ww` needs (dist/*.js and dist/*.d.ts) — is declared in package.json as
 * a dependency, or as a peer dependency (vitest, for `ww/transport/conformance` only). A
 * package that is only there because another one pulls it in can vanish on any update.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { join, relative, resolve } from 'node:path'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'

const ROOT = resolve(import.meta.dirname, '../..')
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  dependencies?: Record<string, string>
  peerDependencies?: Record<string, string>
  peerDependenciesMeta?: Record<string, { optional?: boolean }>
}

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) return files(p)
    return /\.(tsx?|js)$/.test(name) && !name.endsWith('.d.ts') && !name.includes('.test.') ? [p] : []
  })
}

/** `@scope/name/sub` → `@scope/name`; `name/sub` → `name`. */
function packageOf(spec: string): string {
  const parts = spec.split('/')
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!
}

/** Every bare import of the shipped code (src/ and the example plugins), with where it is. */
function bareImports(): Array<{ pkg: string; file: string }> {
  const out: Array<{ pkg: string; file: string }> = []
  for (const file of [...files(join(ROOT, 'src')), ...files(join(ROOT, 'plugins'))]) {
    const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true)
    for (const ref of info.importedFiles) {
      const spec = ref.fileName
      if (spec.startsWith('.') || spec.startsWith('node:') || builtinModules.includes(spec)) continue
      out.push({ pkg: packageOf(spec), file: relative(ROOT, file) })
    }
  }
  return out
}

describe('package.json declares what the code imports', () => {
  it('every package imported by src/ and plugins/ is a dependency (or an optional peer)', () => {
    const declared = new Set([...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {}), 'ww'])
    const missing = bareImports().filter((i) => !declared.has(i.pkg)).map((i) => `${i.pkg} (${i.file})`)
    expect([...new Set(missing)]).toEqual([])
  })

  it('vitest is needed only by the conformance suite, and is an optional peer dependency', () => {
    const users = new Set(bareImports().filter((i) => i.pkg === 'vitest').map((i) => i.file))
    expect([...users]).toEqual(['src/transport/conformance.ts'])
    expect(pkg.dependencies?.['vitest']).toBeUndefined()
    expect(pkg.peerDependencies?.['vitest']).toBeDefined()
    expect(pkg.peerDependenciesMeta?.['vitest']?.optional).toBe(true)
  })
})
