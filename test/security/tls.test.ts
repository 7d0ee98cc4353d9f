/**
 * TLS, mTLS and tokens end to end: real `ww start` processes listening on wss:// with a
 * certificate authority and certificates made in the test by openssl, queried by real `ww ls`
 * processes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { killGroup, spawnGroup, type GroupChild } from '../procs.js'
import { ROOT, runWw, tempHome, wwArgv, wwEnv } from '../cli/helpers.js'
import { cleanupAfterEach } from '../cleanup.js'

const cleanups = cleanupAfterEach()
const TOKEN = 'tls-test-token-5f0c3a'
let dir = ''
let home: { dir: string; cleanup(): void }
const pem = (name: string): string => join(dir, name)

function openssl(args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' })
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA. */
function makeCerts(): void {
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=ww test CA'])
  writeFileSync(pem('server.ext'), 'subjectAltName=IP:127.0.0.1\n')
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1'])
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'server.ext'])
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/CN=ww client'])
  openssl(['x509', '-req', '-in', 'client.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'client.pem', '-days', '2'])
  writeFileSync(pem('token'), `${TOKEN}\n`, { mode: 0o600 })
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ww-tls-'))
  home = tempHome()
  makeCerts()
})
afterAll(() => {
  rmSync(dir, { recursive: true, force: true })
  home.cleanup()
})

/** Starts `ww start --listen wss://127.0.0.1:0 …` and resolves with its listen URL. */
async function start(extra: string[]): Promise<{ url: string; group: GroupChild }> {
  const args = ['start', '--listen', 'wss://127.0.0.1:0', '--p2p', '/ip4/127.0.0.1/tcp/0', '--host', 'tls-node', '--quiet', '--tls-cert', pem('server.pem'), '--tls-key', pem('server.key'), '--token-file', pem('token'), ...extra]
  const group = spawnGroup(process.execPath, wwArgv(args), { cwd: ROOT, env: wwEnv(home.dir), stdio: ['ignore', 'pipe', 'pipe'] })
  cleanups.push(() => killGroup(group))
  let out = ''
  let err = ''
  group.child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d))
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`ww start did not come up: ${err}`)), 60_000)
    group.child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d
      const m = /^listen\s+(\S+)$/m.exec(out)
      if (m !== null) {
        clearTimeout(timer)
        resolve(m[1]!)
      }
    })
    void group.exited.then((code) => reject(new Error(`ww start exited with ${code}: ${err}`)))
  })
  return { url, group }
}

describe('wss:// with a token file', () => {
  it('ww ls over wss with the CA and the token lists the node; without the token: a warning and exit 4; without the CA: exit 2; the token is not in argv', async () => {
    const { url, group } = await start([])
    expect(url).toMatch(/^wss:\/\/127\.0\.0\.1:\d+$/)
    const cmdline = readFileSync(`/proc/${group.child.pid}/cmdline`, 'utf8')
    expect(cmdline).not.toContain(TOKEN)

    const ok = await runWw(['ls', '--addr', url, '--tls-ca', pem('ca.pem'), '--format', 'ndjson'], { home: home.dir, env: { WW_TOKEN: TOKEN }, timeoutMs: 60_000 })
    expect(ok.stderr).toBe('')
    expect(ok.code).toBe(0)
    expect(ok.stdout).toContain('"host":"tls-node"')

    const anon = await runWw(['ls', '--addr', url, '--tls-ca', pem('ca.pem')], { home: home.dir, timeoutMs: 60_000 })
    expect(anon.code).toBe(4)
    expect(anon.stdout).toBe('')
    expect(anon.stderr.trim().split('\n')).toHaveLength(1)
    expect(anon.stderr).toContain('requires a token')

    const untrusted = await runWw(['ls', '--addr', url], { home: home.dir, env: { WW_TOKEN: TOKEN }, timeoutMs: 60_000 })
    expect(untrusted.code).toBe(2)
  })
})

describe('mTLS', () => {
  it('with --tls-client-ca, a client without a certificate is refused (exit 2); one with a certificate of that CA is served', async () => {
    const { url } = await start(['--tls-client-ca', pem('ca.pem')])
    const refused = await runWw(['ls', '--addr', url, '--tls-ca', pem('ca.pem')], { home: home.dir, env: { WW_TOKEN: TOKEN }, timeoutMs: 60_000 })
    expect(refused.code).toBe(2)
    const ok = await runWw(['ls', '--addr', url, '--tls-ca', pem('ca.pem'), '--tls-cert', pem('client.pem'), '--tls-key', pem('client.key'), '--format', 'ndjson'], { home: home.dir, env: { WW_TOKEN: TOKEN }, timeoutMs: 60_000 })
    expect(ok.stderr).toBe('')
    expect(ok.code).toBe(0)
    expect(ok.stdout).toContain('"host":"tls-node"')
  })
})
