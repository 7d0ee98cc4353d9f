import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { applyCompletion, commonPrefix, Completer, fieldIndex, wordStart } from '../../src/repl/complete.js'
import { lineOf } from '../../src/repl/line.js'
import { fakeRecord, localNode, type LocalNode } from './fixture.js'

describe('completion', () => {
  let node: LocalNode | undefined
  afterEach(async () => {
    await node?.close()
    node = undefined
  })

  async function completer(): Promise<Completer> {
    node = await localNode([
      fakeRecord(1, { host: 'web-1', meta: { region: 'us-east-1', role: 'web', 'has space': 'a b' } }),
      fakeRecord(2, { host: 'web-2', meta: { region: 'us-west-2', role: 'db', host: 'shadow' } }),
    ])
    return new Completer(node.session.view)
  }

  it('completes keywords in the case typed', async () => {
    const c = new Completer(undefined)
    expect((await c.complete(lineOf('ls WH'))).items).toEqual(['WHERE '])
    expect((await c.complete(lineOf('ls wh'))).items).toEqual(['where '])
    expect((await c.complete(lineOf('lo'))).items).toEqual(['lookup '])
    expect((await c.complete(lineOf('L'))).items).toEqual(['LS ', 'LOOKUP ', 'LIMIT '])
  })

  it('completes field names and the meta keys the node knows after WHERE/FROM/TO', async () => {
    const c = await completer()
    expect((await c.complete(lineOf('ls WHERE reg'))).items).toEqual(['region='])
    const all = (await c.complete(lineOf('ls WHERE '))).items
    expect(all).toEqual(expect.arrayContaining(['host=', 'peer=', 'server=', 'region=', 'role=', 'meta."has space"=', 'meta.host=']))
    expect((await c.complete(lineOf('ls FROM h'))).items).toEqual(['host=', 'meta."has space"=', 'meta.host='])
  })

  it('completes values of a field from the node', async () => {
    const c = await completer()
    expect((await c.complete(lineOf('ls WHERE region=us-'))).items).toEqual(['us-east-1 ', 'us-west-2 '])
    expect((await c.complete(lineOf('ls WHERE host=web-2'))).items).toEqual(['web-2 '])
    expect((await c.complete(lineOf('ls WHERE meta."has space"='))).items).toEqual(['"a b" '])
  })

  it('follows the grammar: after a predicate, only what may come next', async () => {
    const c = new Completer(undefined)
    // Before, the shell offered every keyword here (LS LOOKUP WHERE …).
    expect((await c.complete(lineOf('ls WHERE host=web-1 '))).items).toEqual(['AND ', 'FROM ', 'TO ', 'LIMIT ', 'REVERSE '])
    expect((await c.complete(lineOf('ls WHERE host=web-1 LIMIT 3 '))).items).toEqual(['FROM ', 'TO ', 'REVERSE '])
    expect((await c.complete(lineOf('ls WHERE host '))).items).toEqual(['IN '])
    // After count / explain: the query's own completion.
    expect(await c.complete(lineOf('count ls WHERE host=a '))).toMatchObject({ start: 22, items: ['AND ', 'FROM ', 'TO ', 'LIMIT ', 'REVERSE '] })
    expect((await c.complete(lineOf('explain wh'))).items).toEqual(['where '])
  })

  it('completes values after != and inside IN ( … )', async () => {
    const c = await completer()
    expect((await c.complete(lineOf('ls WHERE region!=us-'))).items).toEqual(['us-east-1 ', 'us-west-2 '])
    expect((await c.complete(lineOf('ls WHERE role IN (d'))).items).toEqual(['db '])
    expect((await c.complete(lineOf('ls WHERE role IN (db, w'))).items).toEqual(['web '])
    expect((await c.complete(lineOf('ls WHERE role=db AND re'))).items).toEqual(['region='])
  })

  it('finds the word under the cursor across quoted blanks', () => {
    expect(wordStart('ls WHERE meta."a b"=x')).toBe(9)
    expect(wordStart('ls WHERE ')).toBe(9)
  })

  it('completes meta-commands', async () => {
    const c = new Completer(undefined)
    expect((await c.complete(lineOf('\\fo'))).items).toEqual(['\\format '])
  })

  it('completes file names after \\o and \\i: folders with a slash, at most `fileLimit` names', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ww-complete-'))
    try {
      mkdirSync(join(dir, 'queries'))
      for (const f of ['q1.ww', 'q2.ww', 'other.txt', '.hidden']) writeFileSync(join(dir, f), '')
      const c = new Completer(undefined)
      expect((await c.complete(lineOf(`\\i ${dir}/q`))).items).toEqual([`${dir}/q1.ww `, `${dir}/q2.ww `, `${dir}/queries/`])
      expect((await c.complete(lineOf(`\\o ${dir}/ot`))).items).toEqual([`${dir}/other.txt `])
      expect((await c.complete(lineOf(`\\i ${dir}/`))).items).not.toContain(`${dir}/.hidden `)
      expect((await c.complete(lineOf(`\\i ${dir}/nope/x`))).items).toEqual([])
      const few = new Completer(undefined, { fileLimit: 2 })
      expect(await few.complete(lineOf(`\\i ${dir}/q`))).toMatchObject({ items: { length: 2 }, partial: true })
      expect((await few.complete(lineOf(`\\o ${dir}/ot`))).partial).toBeUndefined()
      const one = applyCompletion(lineOf(`\\o ${dir}/ot`), await c.complete(lineOf(`\\o ${dir}/ot`)))
      expect(one.line.text).toBe(`\\o ${dir}/other.txt `)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('reads a folder of 20 000 files only up to its caps, and then inserts nothing', { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ww-complete-big-'))
    try {
      for (let i = 0; i < 20_000; i++) closeSync(openSync(join(dir, `f${String(i).padStart(5, '0')}`), 'w'))
      const c = new Completer(undefined)
      // Every name matches: reading stops at the default 200 candidates.
      const all = await c.complete(lineOf(`\\i ${dir}/f`))
      expect(all.items).toHaveLength(200)
      expect(all.partial).toBe(true)
      const applied = applyCompletion(lineOf(`\\i ${dir}/f`), all)
      expect(applied.line.text, 'a part of the names must not extend the word').toBe(`\\i ${dir}/f`)
      expect(applied.shown).toHaveLength(200)
      expect(applied.note).toMatch(/type more of the name/)
      // No name matches: reading stops after the default 10 000 entries examined.
      const none = await c.complete(lineOf(`\\i ${dir}/zz`))
      expect(none).toMatchObject({ items: [], partial: true })
      expect(applyCompletion(lineOf(`\\i ${dir}/zz`), none).note).toMatch(/too large/)
      // Below the caps the answer is whole.
      const wide = new Completer(undefined, { fileScan: 30_000 })
      expect(await wide.complete(lineOf(`\\i ${dir}/zz`))).toEqual({ start: 3, end: 3 + dir.length + 3, items: [] })
      // A newer Tab press aborts the read.
      const ac = new AbortController()
      ac.abort()
      expect((await c.complete(lineOf(`\\i ${dir}/f`), ac.signal)).items).toEqual([])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('caches what the node answered', async () => {
    const c = await completer()
    expect((await c.complete(lineOf('ls WHERE role='))).items).toEqual(['db ', 'web '])
    node!.table.upsert(fakeRecord(3, { meta: { role: 'cache' } }))
    expect((await c.complete(lineOf('ls WHERE role='))).items).toEqual(['db ', 'web '])
    // Same view: still cached. refresh() (or another node's view) asks again.
    c.setView(node!.session.view)
    expect((await c.complete(lineOf('ls WHERE role='))).items).toEqual(['db ', 'web '])
    c.refresh()
    expect((await c.complete(lineOf('ls WHERE role='))).items).toEqual(['cache ', 'db ', 'web '])
  })

  it('applies one candidate, or the common prefix of several', () => {
    const one = applyCompletion(lineOf('ls WHERE reg'), { start: 9, end: 12, items: ['region='] })
    expect(one.line.text).toBe('ls WHERE region=')
    expect(one.shown).toEqual([])
    const many = applyCompletion(lineOf('ls WHERE region=u'), { start: 16, end: 17, items: ['us-east-1 ', 'us-west-2 '] })
    expect(many.line.text).toBe('ls WHERE region=us-')
    expect(many.shown).toEqual(['us-east-1', 'us-west-2'])
    expect(commonPrefix([])).toBe('')
    expect(fieldIndex('meta.k')).toEqual({ field: 'meta', key: 'k' })
    expect(fieldIndex('server')).toEqual({ field: 'server' })
  })
})
