/**
 * Command-line startup: the whole-process wall time of `ww ls --format ndjson` against a
 * running node (the built bin, dist/cli/main.js, as a user runs it), against `node -e 0`
 * measured in the same run as the baseline. Target: ratio ≤ 5×.
 *
 * Two nodes are started in this process with `startNode` (listening on ws://127.0.0.1:0), one
 * holding only its own record and one holding 1 000, so the numbers show start-up cost, not
 * streaming (bench/stream.ts measures that). `ww --version` (argument parsing only) and a
 * `ww ls` with a syntax error (exit 1 before connecting) split the cost into its parts.
 * Each case runs WARMUP times unmeasured (fills Node's compile cache), then RUNS rounds run
 * every case once in turn; the median and p90 of the wall time are reported, and the median
 * CPU time (user + system) of the process, which a busy machine disturbs much less
 * (bench/cli-cpu-preload.mjs reports it).
 * BENCH_CLI_OTHER_BIN=path/to/other/dist/cli/main.js adds the ls cases run with that build too
 * (e.g. one built from an older commit), for a before/after measured in the same run.
 */
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startNode } from '../src/node/node.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const BIN = join(ROOT, 'dist/cli/main.js')
const RUNS = Number(process.env.BENCH_CLI_RUNS ?? 20)
const WARMUP = 3

const PRELOAD = join(ROOT, 'bench/cli-cpu-preload.mjs')
const OTHER = process.env.BENCH_CLI_OTHER_BIN

interface Sample {
  wallMs: number
  cpuMs: number
}

// Asynchronous on purpose: the node being queried lives in this process's event loop.
function time(args: string[], env: NodeJS.ProcessEnv): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const t = performance.now()
    const child = spawn(process.execPath, ['--import', PRELOAD, ...args], { env, stdio: ['ignore', 'ignore', 'pipe', 'pipe'] })
    let err = ''
    let cpu = ''
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()))
    ;(child.stdio[3] as NodeJS.ReadableStream).on('data', (d: Buffer) => (cpu += d.toString()))
    child.on('error', reject)
    child.on('close', (code) => {
      const wallMs = performance.now() - t
      if (code !== 0 && !args.includes('WHRE')) reject(new Error(`${args.join(' ')} exited ${code}: ${err}`))
      else resolve({ wallMs, cpuMs: Number(cpu.trim()) / 1000 })
    })
  })
}

interface Stats {
  median: number
  p90: number
  cpu: number
}

function stats(xs: Sample[]): Stats {
  const wall = xs.map((x) => x.wallMs).sort((a, b) => a - b)
  const cpu = xs.map((x) => x.cpuMs).sort((a, b) => a - b)
  return { median: wall[Math.floor(wall.length / 2)]!, p90: wall[Math.floor(wall.length * 0.9)]!, cpu: cpu[Math.floor(cpu.length / 2)]! }
}

interface Case {
  name: string
  args: string[]
  env: NodeJS.ProcessEnv
}

/**
 * Runs every case WARMUP times, then RUNS rounds of one run of each case in turn: a burst of
 * load from other processes then hits all cases alike instead of one of them, so the ratios
 * hold up on a busy machine better than the absolute times.
 */
async function measureInterleaved(cases: readonly Case[]): Promise<Stats[]> {
  for (const c of cases) for (let i = 0; i < WARMUP; i++) await time(c.args, c.env)
  const xs: Sample[][] = cases.map(() => [])
  for (let r = 0; r < RUNS; r++) for (const [i, c] of cases.entries()) xs[i]!.push(await time(c.args, c.env))
  return xs.map(stats)
}

/** Runs the benchmark and prints its table. */
export async function run(): Promise<void> {
  // Benchmark the code as it is now: build it (or say which build was used).
  const build = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json')], { stdio: 'inherit' })
  if (build.status !== 0) console.log('  (build failed; measuring the existing dist/)')
  if (!existsSync(BIN)) throw new Error('dist/cli/main.js is missing: run npm run build')

  const home = mkdtempSync(join(tmpdir(), 'ww-bench-cli-'))
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_CONFIG_HOME: home, NO_COLOR: '1' }
  // Two nodes, so that every case can run in each round: one holding only its own record,
  // one holding 1 000.
  const node = await startNode({ listen: 'ws://127.0.0.1:0', p2p: ['/ip4/127.0.0.1/tcp/0'], identity: join(home, 'id.key'), host: 'bench' })
  const big = await startNode({ listen: 'ws://127.0.0.1:0', p2p: ['/ip4/127.0.0.1/tcp/0'], identity: join(home, 'id2.key'), host: 'bench2' })
  try {
    for (let i = 0; i < 999; i++) {
      big.table.upsert({ peer: `12D3KooWbench${String(i).replace(/0/g, 'A').padStart(39, 'z')}`, server: (i + 1).toString(16).padStart(16, '0'), seq: 1, ttl: 86_400_000, host: `h${i}`, meta: { i: String(i) } })
    }
    const ls = (bin: string, addr: string): string[] => [bin, 'ls', '--addr', addr, '--format', 'ndjson']
    const noCache = { ...env, NODE_DISABLE_COMPILE_CACHE: '1', WW_NO_BUNDLED_CHEVROTAIN: '1' }
    const cases: Case[] = [
      { name: 'node -e 0 (baseline)', args: ['-e', '0'], env },
      { name: 'ww --version', args: [BIN, '--version'], env },
      { name: 'ww ls WHRE (exit 1, no connect)', args: [BIN, 'ls', 'WHRE'], env },
      { name: 'ww ls --format ndjson (1 record)', args: ls(BIN, node.addr!), env },
      { name: 'ww ls --format ndjson (1 000 records)', args: ls(BIN, big.addr!), env },
      { name: 'ww ls (1 000) without cache + bundle', args: ls(BIN, big.addr!), env: noCache },
    ]
    if (OTHER !== undefined) {
      cases.push(
        { name: '  other build: ww ls WHRE', args: [OTHER, 'ls', 'WHRE'], env },
        { name: '  other build: ls ndjson (1 record)', args: ls(OTHER, node.addr!), env },
        { name: '  other build: ls ndjson (1 000 records)', args: ls(OTHER, big.addr!), env },
      )
    }
    const results = await measureInterleaved(cases)
    const base = results[0]!
    console.log(`  ${RUNS} rounds (each case once per round, in turn) after ${WARMUP} warm-up runs of each; wall time of the whole process, and its CPU time (user+system)`)
    console.log(`  ${'case'.padEnd(42)} ${'median'.padStart(9)} ${'p90'.padStart(9)} ${'× node'.padStart(8)} ${'CPU'.padStart(9)} ${'× node'.padStart(8)}`)
    for (const [i, c] of cases.entries()) {
      const m = results[i]!
      console.log(
        `  ${c.name.padEnd(42)} ${m.median.toFixed(1).padStart(7)}ms ${m.p90.toFixed(1).padStart(7)}ms ${(m.median / base.median).toFixed(2).padStart(7)}× ` +
          `${m.cpu.toFixed(1).padStart(7)}ms ${(m.cpu / base.cpu).toFixed(2).padStart(7)}×`,
      )
    }
  } finally {
    await Promise.allSettled([node.stop(), big.stop()])
    rmSync(home, { recursive: true, force: true })
  }
}
