/**
 * `ww dev --metrics-listen`: every node of the dev cluster serves /metrics, /healthz and
 * /readyz on a port of its own, scraped here over real HTTP from a real `ww dev` process;
 * they close when the cluster stops.
 */
import { afterAll, describe, expect, it, vi } from 'vitest'
import { ROOT, tempHome, wwArgv, wwEnv } from './helpers.js'
import { killGroup, reap, spawnGroup } from '../procs.js'
import { devMetricsListen } from '../../src/cli/dev.js'

vi.setConfig({ testTimeout: 90_000 })
const home = tempHome()
afterAll(async () => {
  await reap()
  home.cleanup()
})

describe('ww dev --metrics-listen', () => {
  it('gives node i the port PORT+i, and port 0 to each when asked for 0', () => {
    expect(devMetricsListen({ host: '127.0.0.1', port: 9464 }, 2)).toBe('127.0.0.1:9466')
    expect(devMetricsListen({ host: '::1', port: 0 }, 5)).toBe('[::1]:0')
    expect(() => devMetricsListen({ host: '127.0.0.1', port: 65535 }, 1)).toThrow(expect.objectContaining({ code: 'ERR_BAD_METRICS_LISTEN' }))
  })

  it('serves each node\'s metrics and health while the cluster runs, and stops with it', async () => {
    const g = spawnGroup(process.execPath, wwArgv(['dev', '--nodes', '2', '--listen', 'ws://127.0.0.1:0', '--metrics-listen', '127.0.0.1:0']), { cwd: ROOT, env: wwEnv(home.dir) })
    let stderr = ''
    g.child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    g.child.stdout!.resume()
    try {
      const urls = await vi.waitFor(
        () => {
          const found = [...stderr.matchAll(/^ww dev: node-(\d) metrics (http:\/\/127\.0\.0\.1:\d+)\/metrics$/gm)].map((m) => [m[1], m[2]])
          expect(found.map(([n]) => n), stderr).toEqual(['1', '2'])
          return found.map(([, u]) => u!)
        },
        { timeout: 60_000, interval: 100 },
      )
      expect(new Set(urls).size).toBe(2)
      for (const url of urls) {
        expect((await fetch(`${url}/healthz`)).status).toBe(200)
        await vi.waitFor(async () => expect(await (await fetch(`${url}/metrics`)).text()).toMatch(/^ww_table_peers 2$/m), { timeout: 20_000 })
        expect((await fetch(`${url}/readyz`)).status).toBe(200)
      }
      // process_* metrics once, from node-1 only: the nodes share one process
      expect(await (await fetch(`${urls[0]}/metrics`)).text()).toMatch(/^process_cpu_user_seconds_total /m)
      expect(await (await fetch(`${urls[1]}/metrics`)).text()).not.toMatch(/^process_cpu_user_seconds_total /m)
      // the piped shell ends with stdin; the nodes stop, then their listeners close
      g.child.stdin!.end()
      expect(await g.exited).toBe(0)
      for (const url of urls) await expect(fetch(`${url}/healthz`)).rejects.toThrow()
    } finally {
      await killGroup(g)
    }
  })
})
