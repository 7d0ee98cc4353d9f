/**
 * Errors are recognised by their stable `code`, never by their message text: a message is for
 * people and may change with any release of the library that wrote it.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'

const ROOT = resolve(import.meta.dirname, '../..')

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) return files(p)
    return /\.(tsx?|js)$/.test(name) && !name.endsWith('.d.ts') && !name.includes('.test.') ? [p] : []
  })
}

// `.message === '…'` (or `!==`), `.message.includes(`, `.startsWith(`, `.endsWith(`, `.match(`,
// `.search(`, and a regular expression tested against a message. (`typeof x.message` is fine.)
const MATCHING = /\.message\s*[!=]==\s*['"`]|\.message\??\.(includes|startsWith|endsWith|match|search)\(|\.test\([^)]*\.message\b/

describe('errors are told apart by code', () => {
  it('no shipped code branches on an error message', () => {
    const hits: string[] = []
    for (const file of [...files(join(ROOT, 'src')), ...files(join(ROOT, 'plugins'))]) {
      readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
        // `typeof x.message !== 'string'` checks a type, not the text: left out.
        if (MATCHING.test(line.replace(/typeof\s+[\w.?]+/g, 'T'))) hits.push(`${relative(ROOT, file)}:${i + 1}: ${line.trim()}`)
      })
    }
    expect(hits).toEqual([])
  })
})
