import { afterEach, describe, expect, it } from 'vitest'
import { PassThrough } from 'node:stream'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startCommand } from '../../src/cli/start.js'
import { ERR_BAD_METRICS_LISTEN } from '../../src/node/metrics.js'

const dirs: string[] = []
afterEach(async () => {
  await Promise.allSettled(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

describe('ww start --metrics-listen', () => {
  it('prints the metrics URL, serves it while the node runs, and closes it when the node stops', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ww-metrics-'))
    dirs.push(dir)
    const stdout = new PassThrough()
    let out = ''
    stdout.setEncoding('utf8').on('data', (d: string) => (out += d))
    const stop = new AbortController()
    let started!: () => void
    const up = new Promise<void>((r) => (started = r))
    const running = startCommand({ listen: 'ws://127.0.0.1:0', identity: join(dir, 'id'), metricsListen: '127.0.0.1:0', stdout, stderr: new PassThrough(), signal: stop.signal, handleSignals: false, onStarted: () => started() })
    await up
    const url = /^metrics (http:\/\/127\.0\.0\.1:\d+)\/metrics$/m.exec(out)?.[1]
    expect(url, out).toBeDefined()
    const res = await fetch(`${url}/metrics`)
    expect(res.status).toBe(200)
    expect(await res.text()).toMatch(/^ww_table_peers 1$/m)
    expect((await fetch(`${url}/readyz`)).status).toBe(200)
    stop.abort()
    expect(await running).toBe(0)
    await expect(fetch(`${url}/healthz`)).rejects.toThrow()
  }, 30_000)

  it('refuses a bad --metrics-listen before starting anything', async () => {
    await expect(startCommand({ metricsListen: 'http://x', handleSignals: false, stdout: new PassThrough(), stderr: new PassThrough() })).rejects.toMatchObject({ code: ERR_BAD_METRICS_LISTEN })
  })
})
