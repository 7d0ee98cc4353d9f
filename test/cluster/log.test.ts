import { describe, expect, it } from 'vitest'
import { PassThrough } from 'node:stream'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createLogger, ERR_BAD_LOG_OPTION } from '../../src/cluster/log.js'
import { startCommand } from '../../src/cli/start.js'

describe('the operator logger', () => {
  const lines = (init: Parameters<typeof createLogger>[0]) => {
    const out: string[] = []
    const log = createLogger({ ...init, write: (l) => out.push(l), now: () => new Date('2026-01-02T03:04:05.678Z') })
    return { log, out }
  }

  it('json: one object per line with time, level, msg first and the fields after; a field never overwrites them', () => {
    const { log, out } = lines({ format: 'json' })
    log.info('joined', { peer: 'p1', n: 2 })
    log.warn('x', { level: 'spoofed', msg: 'spoofed', big: 5n })
    expect(out.every((l) => l.endsWith('\n') && !l.slice(0, -1).includes('\n'))).toBe(true)
    expect(out.map((l) => JSON.parse(l))).toEqual([
      { time: '2026-01-02T03:04:05.678Z', level: 'info', msg: 'joined', peer: 'p1', n: 2 },
      { time: '2026-01-02T03:04:05.678Z', level: 'warn', msg: 'x', big: '5' },
    ])
    expect(Object.keys(JSON.parse(out[0]!))).toEqual(['time', 'level', 'msg', 'peer', 'n'])
  })

  it('text keeps the ww: lines; the level drops what is less severe', () => {
    const { log, out } = lines({ level: 'warn' })
    log.debug('d')
    log.info('i')
    log.warn('w', { peer: 'p' })
    log.error('e')
    expect(out).toEqual(['ww: warning: w peer=p\n', 'ww: error: e\n'])
    const all = lines({ level: 'debug' })
    all.log.debug('d')
    all.log.info('i')
    expect(all.out).toEqual(['ww: debug: d\n', 'ww: i\n'])
  })

  it('refuses an unknown level or format with ERR_BAD_LOG_OPTION', () => {
    expect(() => createLogger({ level: 'verbose' })).toThrow(expect.objectContaining({ code: ERR_BAD_LOG_OPTION }))
    expect(() => createLogger({ format: 'xml' })).toThrow(expect.objectContaining({ code: ERR_BAD_LOG_OPTION }))
  })

  it('ww start --log-format json writes the node\'s warnings as JSON lines on stderr', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ww-log-'))
    const stderr = new PassThrough()
    let err = ''
    stderr.setEncoding('utf8').on('data', (d: string) => (err += d))
    const stop = new AbortController()
    // a bootstrap peer that is not up: the node warns once that it is unreachable
    const ghost = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    let warned!: () => void
    const gotWarning = new Promise<void>((r) => (warned = r))
    stderr.on('data', () => {
      if (err.includes('unreachable')) warned()
    })
    const running = startCommand({ listen: false, identity: join(dir, 'id'), bootstrap: [`/ip4/127.0.0.1/tcp/1/p2p/${ghost}`], logFormat: 'json', logLevel: 'debug', stdout: new PassThrough(), stderr, signal: stop.signal, handleSignals: false })
    try {
      await gotWarning
    } finally {
      stop.abort()
      expect(await running).toBe(0)
      await rm(dir, { recursive: true, force: true })
    }
    const entries = err.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
    const w = entries.find((e) => String(e.msg).includes('unreachable'))
    expect(w).toMatchObject({ level: 'warn', msg: expect.stringContaining(ghost) })
    expect(Date.parse(String(w!.time))).not.toBeNaN()
  }, 30_000)

  it('ww start refuses a bad --log-level before starting anything', async () => {
    await expect(startCommand({ logLevel: 'loud', handleSignals: false, stdout: new PassThrough(), stderr: new PassThrough() })).rejects.toMatchObject({ code: ERR_BAD_LOG_OPTION })
  })
})
