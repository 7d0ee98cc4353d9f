/**
 * The service-discovery example (README.md, and docs/protocol.md §9) is code users copy: each
 * copy is type-checked against the library's types as written, then run against a real
 * node over WebSocket while peers join, leave and stop matching, and its set must follow.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { Session } from '../src/api.js'
import { connect } from '../src/proto/client/client.js'
import type { Server } from '../src/proto/server/server.js'
import type { RoutingRecord } from '../src/record/record.js'
import { RoutingTable } from '../src/table/table.js'
import { peerId, serveTable } from './proto/helpers.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const MARK = "session.view.watch('WHERE role=db')"

/** The TypeScript blocks of a markdown file that contain the example, dedented. */
function examples(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8')
  const out: string[] = []
  for (const m of text.matchAll(/^( *)```ts\n([\s\S]*?)^\1```/gm)) {
    const indent = m[1]!.length
    const body = m[2]!.split('\n').map((l) => l.slice(indent)).join('\n')
    if (body.includes(MARK)) out.push(body)
  }
  return out
}

// The example with the names it assumes (`session`, `console`) as parameters, and one line
// after its first (the declaration of the set) handing the set to the test.
function wrap(body: string): string {
  const [first, ...rest] = body.trimEnd().split('\n')
  return `async (session: Session, console: { log(...a: unknown[]): void }, seen: (dbs: Map<string, RoutingRecord>) => void): Promise<void> => {\n${first}\nseen(dbs)\n${rest.join('\n')}\n}`
}

/** Type errors of the wrapped example, checked with the project's compiler options. */
function typeErrors(body: string): string[] {
  const file = join(ROOT, 'test', '__readme_example.ts')
  const source = `import type { Session } from '../src/api.js'\nimport type { RoutingRecord } from '../src/record/record.js'\nexport const example = ${wrap(body)}\n`
  const cfg = ts.readConfigFile(join(ROOT, 'tsconfig.json'), (p) => ts.sys.readFile(p))
  const parsed = ts.parseJsonConfigFileContent(cfg.config, ts.sys, ROOT)
  const host = ts.createCompilerHost({ ...parsed.options, noEmit: true })
  const read = host.getSourceFile.bind(host)
  host.getSourceFile = (name, lang, ...more) => (name === file ? ts.createSourceFile(name, source, lang) : read(name, lang, ...more))
  const exists = host.fileExists.bind(host)
  host.fileExists = (name) => name === file || exists(name)
  const program = ts.createProgram([file], { ...parsed.options, noEmit: true }, host)
  const sf = program.getSourceFile(file)!
  return [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)].map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'))
}

type Example = (session: Session, console: { log(...a: unknown[]): void }, seen: (dbs: Map<string, RoutingRecord>) => void) => Promise<void>

function compile(body: string): Example {
  const js = ts.transpile(`(${wrap(body)})`, { target: ts.ScriptTarget.ES2022 })
  return (0, eval)(js) as Example
}

function rec(i: number, over: Partial<RoutingRecord> = {}): RoutingRecord {
  return { peer: peerId(i), server: '00000000000000aa', seq: 1, ttl: 60_000, host: `db-${i}`, meta: { role: 'db' }, ...over }
}

const cleanups: Array<() => Promise<unknown> | unknown> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

describe('the service-discovery example', () => {
  const found = [...examples('README.md').map((b) => ['README.md', b] as const), ...examples('docs/protocol.md').map((b) => ['docs/protocol.md', b] as const)]

  it('is in the README and in docs/protocol.md', () => {
    expect(found.map(([f]) => f)).toEqual(['README.md', 'docs/protocol.md'])
  })

  it.each(found)('%s: type-checks, and keeps the set of role=db peers current against a real node', async (_file, body) => {
    expect(typeErrors(body)).toEqual([])
    const table = new RoutingTable({ sweep: false })
    cleanups.push(() => table.close())
    table.upsert(rec(1))
    table.upsert(rec(2))
    table.upsert(rec(3, { meta: { role: 'web' } }))
    const server: Server = await serveTable(table)
    cleanups.push(() => server.close())
    const session = await connect(server.url)
    const logs: string[] = []
    let dbs: Map<string, RoutingRecord> | undefined
    const running = compile(body)(session, { log: (...a) => logs.push(a.join(' ')) }, (m) => (dbs = m)).catch((err: unknown) => err)
    cleanups.push(async () => {
      await session.close()
      await running
    })
    await vi.waitFor(() => expect(logs).toEqual(['ready: 2 databases']), { timeout: 10_000 })
    const peers = (): string[] => [...dbs!.keys()].sort()
    expect(peers()).toEqual([peerId(1), peerId(2)])
    table.upsert(rec(4)) // joins
    await vi.waitFor(() => expect(peers()).toEqual([peerId(1), peerId(2), peerId(4)]), { timeout: 10_000 })
    table.upsert(rec(1, { seq: 2, ttl: 0 })) // leaves
    table.upsert(rec(2, { seq: 2, meta: { role: 'web' } })) // no longer a database
    table.upsert(rec(3, { seq: 2, meta: { role: 'db' } })) // now one
    table.upsert(rec(4, { seq: 2, host: 'db-4-moved' })) // moves
    await vi.waitFor(() => expect(peers()).toEqual([peerId(3), peerId(4)]), { timeout: 10_000 })
    await vi.waitFor(() => expect(dbs!.get(peerId(4))?.host).toBe('db-4-moved'), { timeout: 10_000 })
  }, 120_000)
})
