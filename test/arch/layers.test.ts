/**
 * The layer check: every import in src/ runs downward, as docs/design.md draws it. Each unit
 * (a folder, or a file at the top of src/) lists the units it may import; an import of any
 * other unit, or an allowed list that itself loops, fails here. Imports are read with
 * TypeScript's own pre-processor, so `import type`, re-exports and `import()` all count.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'

const SRC = resolve(import.meta.dirname, '../../src')

/** unit → the units it may import (its own files are always allowed). Bottom first. */
export const LAYERS: Record<string, readonly string[]> = {
  'errors.ts': [],
  'iter.ts': ['errors.ts'],
  'queue.ts': [],
  'msgpack-head.ts': [],
  'file.ts': ['errors.ts'],
  lang: ['errors.ts'],
  record: ['errors.ts'],
  transport: ['errors.ts', 'queue.ts'],
  'api.ts': ['errors.ts', 'iter.ts', 'queue.ts', 'lang', 'record', 'transport'],
  table: ['errors.ts', 'iter.ts', 'queue.ts', 'lang', 'record', 'api.ts'],
  'proto/wire': ['errors.ts', 'msgpack-head.ts', 'lang', 'record', 'transport', 'api.ts'],
  'proto/server': ['errors.ts', 'iter.ts', 'queue.ts', 'lang', 'record', 'transport', 'api.ts', 'proto/wire'],
  'proto/client': ['errors.ts', 'iter.ts', 'queue.ts', 'lang', 'record', 'transport', 'api.ts', 'proto/wire'],
  cluster: ['errors.ts', 'msgpack-head.ts', 'file.ts', 'iter.ts', 'queue.ts', 'record', 'transport', 'api.ts', 'table'],
  node: ['errors.ts', 'iter.ts', 'queue.ts', 'lang', 'record', 'transport', 'api.ts', 'table', 'proto/wire', 'proto/server', 'cluster'],
  format: ['errors.ts', 'record'],
  'plugin.ts': ['transport', 'format', 'record'],
  client: ['errors.ts', 'file.ts', 'iter.ts', 'queue.ts', 'lang', 'record', 'transport', 'api.ts', 'proto/wire', 'proto/client', 'format', 'plugin.ts'],
  repl: ['errors.ts', 'file.ts', 'iter.ts', 'queue.ts', 'lang', 'record', 'transport', 'api.ts', 'format', 'client'],
  cli: ['errors.ts', 'file.ts', 'iter.ts', 'queue.ts', 'lang', 'record', 'transport', 'api.ts', 'table', 'cluster', 'node', 'format', 'plugin.ts', 'client', 'repl'],
  // The library's front door re-exports the stable surface; nothing imports it.
  'index.ts': ['errors.ts', 'iter.ts', 'queue.ts', 'lang', 'record', 'transport', 'api.ts', 'table', 'proto/server', 'proto/client', 'node'],
}

/** The unit a file of src/ belongs to: the longest unit name that is a prefix of its path. */
export function unitOf(file: string): string | undefined {
  const rel = relative(SRC, file).split('\\').join('/')
  let best: string | undefined
  for (const u of Object.keys(LAYERS)) {
    if ((rel === u || rel.startsWith(u + '/')) && (best === undefined || u.length > best.length)) best = u
  }
  return best
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) return sourceFiles(p)
    return /\.tsx?$/.test(name) && !name.endsWith('.d.ts') ? [p] : []
  })
}

/** Every relative import of every source file, as [from file, to file]. */
export function importEdges(): Array<[string, string]> {
  const edges: Array<[string, string]> = []
  for (const file of sourceFiles(SRC)) {
    const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true)
    for (const ref of info.importedFiles) {
      if (!ref.fileName.startsWith('.')) continue
      edges.push([file, resolve(dirname(file), ref.fileName).replace(/\.js$/, '.ts')])
    }
  }
  return edges
}

describe('layers', () => {
  it('every source file belongs to a layer', () => {
    const loose = sourceFiles(SRC).filter((f) => unitOf(f) === undefined).map((f) => relative(SRC, f))
    expect(loose).toEqual([])
  })

  it('every import runs to a layer the importer may use', () => {
    const wrong: string[] = []
    for (const [from, to] of importEdges()) {
      const a = unitOf(from)!
      const b = unitOf(to.replace(/\.ts$/, '.tsx')) ?? unitOf(to)
      if (b === undefined || a === b) continue
      if (!LAYERS[a]!.includes(b)) wrong.push(`${relative(SRC, from)} -> ${relative(SRC, to)} (${a} may not import ${b})`)
    }
    expect(wrong).toEqual([])
  })

  it('the allowed imports form no loop', () => {
    const state = new Map<string, 'open' | 'done'>()
    const loops: string[] = []
    const visit = (u: string, path: string[]): void => {
      if (state.get(u) === 'done') return
      if (state.get(u) === 'open') {
        loops.push([...path.slice(path.indexOf(u)), u].join(' -> '))
        return
      }
      state.set(u, 'open')
      for (const d of LAYERS[u] ?? []) visit(d, [...path, u])
      state.set(u, 'done')
    }
    for (const u of Object.keys(LAYERS)) visit(u, [])
    expect(loops).toEqual([])
  })

  it('the check sees a wrong import (it is not vacuous)', () => {
    // repl -> cli would break the layers; make sure the rule table says so.
    expect(LAYERS.repl).not.toContain('cli')
    expect(unitOf(join(SRC, 'proto/server/server.ts'))).toBe('proto/server')
    expect(importEdges().length).toBeGreaterThan(100)
  })
})
