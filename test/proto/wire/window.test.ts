import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { CreditWindow, SendWindow, DEFAULT_INITIAL_WINDOW, DEFAULT_MAX_WINDOW } from '../../../src/proto/wire/window.js'

interface SimParams {
  /** Round trip in ms (each direction takes half). */
  rtt: number
  /** Link bandwidth, bytes per ms. */
  bandwidth: number
  /** Consumer speed, bytes per ms. */
  consumer: number
  /** Simulated duration, ms. */
  duration: number
  /** Batch size the sender uses, bytes. @default 16 KiB */
  batch?: number
  max?: number
  /** The sender's own cap on the window (a node's maxWindow). @default max */
  senderMax?: number
}

interface SimResult {
  maxInFlight: number
  maxBuffered: number
  windows: number[]
  finalWindow: number
  /** Bytes consumed per ms over the second half of the run. */
  lateThroughput: number
  overran: boolean
}

// A deterministic discrete-time model of one stream: an endless producer behind a SendWindow,
// a link with bandwidth and one-way delay rtt/2 both ways, a receiver's CreditWindow, and a
// consumer reading at a fixed speed. Nothing here touches a real clock.
function simulate(p: SimParams): SimResult {
  const dt = 0.05
  let t = 0
  const recv = new CreditWindow({ now: () => t, max: p.max ?? DEFAULT_MAX_WINDOW })
  const send = new SendWindow(recv.initial.window, p.senderMax ?? p.max ?? DEFAULT_MAX_WINDOW)
  const batch = p.batch ?? 16 * 1024
  const toReceiver: { at: number; bytes: number }[] = []
  const toSender: { at: number; consumed: number; window: number }[] = []
  let linkFreeAt = 0
  let buffered = 0
  let maxBuffered = 0
  let consumedLate = 0
  let overran = false
  const windows: number[] = []
  while (t < p.duration) {
    while (toSender.length > 0 && toSender[0]!.at <= t) {
      const c = toSender.shift()!
      expect(send.onCredit(c)).toBe(true)
    }
    for (;;) {
      const size = Math.min(batch, Math.max(1, send.available))
      if (send.available === 0 || !send.canSend(size) || linkFreeAt > t + dt) break
      linkFreeAt = Math.max(linkFreeAt, t) + size / p.bandwidth
      send.onSend(size)
      toReceiver.push({ at: linkFreeAt + p.rtt / 2, bytes: size })
    }
    while (toReceiver.length > 0 && toReceiver[0]!.at <= t) {
      const b = toReceiver.shift()!
      if (!recv.onReceive(b.bytes)) overran = true
      buffered += b.bytes
    }
    maxBuffered = Math.max(maxBuffered, buffered)
    const take = Math.min(buffered, Math.floor(p.consumer * dt))
    if (take > 0) {
      buffered -= take
      if (t >= p.duration / 2) consumedLate += take
      const credit = recv.onConsume(take)
      if (credit !== undefined) {
        toSender.push({ at: t + p.rtt / 2, ...credit })
        windows.push(credit.window)
      }
    }
    t += dt
  }
  return { maxInFlight: send.maxInFlight, maxBuffered, windows, finalWindow: recv.window, lateThroughput: consumedLate / (p.duration / 2), overran }
}

describe('CreditWindow + SendWindow (simulated)', () => {
  it('grows the window to the cap for a fast consumer on a long fat link', () => {
    // BDP = 100 KB/ms × 20 ms = 2 MB, more than the 1 MiB cap.
    const r = simulate({ rtt: 20, bandwidth: 100_000, consumer: 1e9, duration: 2000 })
    expect(r.overran).toBe(false)
    expect(r.finalWindow).toBe(DEFAULT_MAX_WINDOW)
    expect(r.maxInFlight).toBeLessThanOrEqual(DEFAULT_MAX_WINDOW)
    // Window-bound: close to cap/rtt once grown (credit comes back every half window).
    expect(r.lateThroughput).toBeGreaterThan((0.6 * DEFAULT_MAX_WINDOW) / 20)
  })

  it('keeps the window small for a slow consumer, and the consumer sets the pace', () => {
    // 0.5 KB/ms consumer, 20 ms rtt: it needs 4 × 10 KB, less than the first window.
    const r = simulate({ rtt: 20, bandwidth: 100_000, consumer: 500, duration: 4000 })
    expect(r.overran).toBe(false)
    expect(r.finalWindow).toBe(DEFAULT_INITIAL_WINDOW)
    expect(Math.max(...r.windows)).toBe(DEFAULT_INITIAL_WINDOW)
    expect(r.maxInFlight).toBeLessThanOrEqual(DEFAULT_INITIAL_WINDOW)
    expect(r.maxBuffered).toBeLessThanOrEqual(DEFAULT_INITIAL_WINDOW)
    expect(r.lateThroughput).toBeGreaterThan(0.95 * 500)
  })

  it('converges to the link rate when bandwidth is the bottleneck', () => {
    const r = simulate({ rtt: 2, bandwidth: 10_000, consumer: 1e9, duration: 2000 })
    expect(r.overran).toBe(false)
    expect(r.lateThroughput).toBeGreaterThan(0.9 * 10_000)
    // 4 × BDP = 80 KB: one doubling at most past the first window.
    expect(r.finalWindow).toBeLessThanOrEqual(2 * DEFAULT_INITIAL_WINDOW)
  })

  it('never lets in-flight or buffered bytes pass the cap, whatever the link and consumer', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60 }),
        fc.integer({ min: 500, max: 200_000 }),
        fc.integer({ min: 100, max: 400_000 }),
        fc.constantFrom(4096, 16_384, 65_536),
        fc.constantFrom(128 * 1024, 256 * 1024, 1024 * 1024),
        (rtt, bandwidth, consumer, batch, max) => {
          const r = simulate({ rtt, bandwidth, consumer, duration: 400, batch, max })
          expect(r.overran).toBe(false)
          expect(r.maxInFlight).toBeLessThanOrEqual(max)
          expect(r.maxBuffered).toBeLessThanOrEqual(max)
          for (const w of r.windows) expect(w).toBeLessThanOrEqual(max)
        },
      ),
      { numRuns: 40 },
    )
  })
})

describe('SendWindow', () => {
  it('keeps going when the sender caps the window below half the receiver’s (credit on a drained buffer)', () => {
    // The receiver would credit at 32 KiB consumed; the sender stops at 8 KiB in flight.
    const r = simulate({ rtt: 10, bandwidth: 1000, consumer: 1000, duration: 2000, batch: 4096, senderMax: 8 * 1024 })
    expect(r.overran).toBe(false)
    expect(r.maxInFlight).toBeLessThanOrEqual(8 * 1024)
    // One window per round trip at most: 8 KiB / 10 ms, not a stall.
    expect(r.lateThroughput).toBeGreaterThan(400)
  })

  it('refuses impossible credit and clamps the window to its cap', () => {
    const s = new SendWindow(1000, 4000)
    s.onSend(600)
    expect(s.available).toBe(400)
    expect(s.canSend(401)).toBe(false)
    expect(s.onCredit({ consumed: 700, window: 1000 })).toBe(false) // past what was sent
    expect(s.onCredit({ consumed: 500, window: 1_000_000 })).toBe(true)
    expect(s.window).toBe(4000)
    expect(s.onCredit({ consumed: 400, window: 1000 })).toBe(false) // going backwards
    expect(s.inFlight).toBe(100)
  })

  it('lets one item larger than the window go alone when nothing is in flight', () => {
    const s = new SendWindow(100)
    expect(s.canSend(500)).toBe(true)
    s.onSend(500)
    expect(s.canSend(1)).toBe(false)
    expect(s.onCredit({ consumed: 500, window: 100 })).toBe(true)
    expect(s.canSend(100)).toBe(true)
  })
})

describe('CreditWindow', () => {
  it('reports a sender that overruns its credit', () => {
    let t = 0
    const w = new CreditWindow({ initial: 1000, now: () => t })
    expect(w.onReceive(1000)).toBe(true)
    t = 1
    expect(w.onReceive(1)).toBe(false)
  })

  it('returns credit every half window', () => {
    let t = 0
    const w = new CreditWindow({ initial: 1000, now: () => t })
    w.onReceive(1000)
    t = 100
    expect(w.onConsume(499)).toBeUndefined()
    const c = w.onConsume(1)
    expect(c).toEqual({ consumed: 500, window: 1000 })
  })
})
