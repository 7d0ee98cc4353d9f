/**
 * Helpers for the command-line tests: run `ww` as a real process (through tsx, so the tests
 * always run the current sources), start `ww start` processes and read their banner, and
 * fill an in-process node's table with many records for long streams.
 */
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { RoutingTable } from '../../src/table/table.js'
import { killGroup, spawnGroup } from '../procs.js'

/** The repository root. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** Node arguments that run the `ww` command line from source. */
export function wwArgv(args: string[], preload: string[] = []): string[] {
  return [...preload.flatMap((p) => ['--import', p]), '--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args]
}

/** A private config folder (no user plugins, no user history), removed by `cleanup`. */
export function tempHome(): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'ww-cli-'))
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

/** Environment for a child `ww`: private config, no inherited WW_* or colours. */
export function wwEnv(home: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env }
  delete env.WW_ADDR
  delete env.WW_TOKEN
  delete env.FORCE_COLOR
  return { ...env, XDG_CONFIG_HOME: home, NO_COLOR: '1', ...extra }
}

/** What a finished `ww` run produced. */
export interface RunResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs `ww args…` to completion (bounded: then its process group is killed), feeding `input` on stdin. */
export function runWw(args: string[], opts: { home: string; input?: string; timeoutMs?: number; env?: Record<string, string>; preload?: string[] }): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const g = spawnGroup(process.execPath, wwArgv(args, opts.preload), { cwd: ROOT, env: wwEnv(opts.home, opts.env) })
    const child = g.child
    let stdout = ''
    let stderr = ''
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    const timer = setTimeout(() => {
      void killGroup(g).finally(() => reject(new Error(`ww ${args.join(' ')} timed out\nstdout: ${stdout}\nstderr: ${stderr}`)))
    }, opts.timeoutMs ?? 30_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
    child.stdin!.end(opts.input ?? '')
  })
}

/** A `ww start` child process and what its banner said. */
export interface StartedNode {
  child: ChildProcess
  peer: string
  p2p: string[]
  listen: string
  /** Stops its process group (SIGTERM, then SIGKILL after a bound) and waits for its exit code. */
  stop(): Promise<number | null>
}

/**
 * Spawns `ww start args…` and resolves once it printed its listen URL.
 * @param env the child's environment. @default wwEnv(home)
 */
export function startWw(args: string[], home: string, timeoutMs = 30_000, env: NodeJS.ProcessEnv = wwEnv(home)): Promise<StartedNode> {
  return new Promise((resolve, reject) => {
    const g = spawnGroup(process.execPath, wwArgv(['start', ...args]), { cwd: ROOT, env })
    const child = g.child
    let out = ''
    let err = ''
    const stop = async (): Promise<number | null> => {
      // A graceful leave (the last heartbeat, then libp2p's stop) is quick on an idle machine;
      // two suites at once on 2 cores have seen it take several seconds.
      await killGroup(g, 'SIGTERM', 20_000)
      return g.exited
    }
    const timer = setTimeout(() => {
      void stop()
      reject(new Error(`ww start did not come up\nstdout: ${out}\nstderr: ${err}`))
    }, timeoutMs)
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d))
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d
      const listen = /^listen\s+(\S+)$/m.exec(out)
      if (listen === null) return
      clearTimeout(timer)
      resolve({
        child,
        peer: /^peer\s+(\S+)$/m.exec(out)![1]!,
        p2p: [...out.matchAll(/^p2p\s+(\S+)$/gm)].map((m) => m[1]!),
        listen: listen[1]!,
        stop,
      })
    })
    child.on('close', (code) => {
      clearTimeout(timer)
      reject(new Error(`ww start exited with ${code}\nstdout: ${out}\nstderr: ${err}`))
    })
  })
}

const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'

/** Upserts `n` synthetic records (long TTL) into `table`, for long streams. */
export function fillTable(table: RoutingTable, n: number): void {
  for (let i = 0; i < n; i++) {
    let k = i
    let tail = ''
    for (let j = 0; j < 8; j++) {
      tail = B58[k % 58]! + tail
      k = Math.floor(k / 58)
    }
    table.upsert({
      peer: `12D3KooWfake${'z'.repeat(32)}${tail}`,
      server: (i + 1).toString(16).padStart(16, '0'),
      seq: 1,
      ttl: 86_400_000,
      host: `bulk-${i}`,
      meta: { bulk: 'yes', n: String(i % 10) },
    })
  }
}

/** A port nothing listens on: bound by the OS, then closed. */
export async function deadPort(): Promise<number> {
  const srv = createServer()
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  const { port } = srv.address() as { port: number }
  await new Promise<void>((resolve) => srv.close(() => resolve()))
  return port
}
