/**
 * The clients of bench/watch.ts's concurrency run, in a process of their own so that their
 * CPU is not the node's: `W` watches over `C` WebSocket connections to the node at argv[2],
 * watcher k on `WHERE region=r<k % 10>`. Tells the parent over IPC when every watch is
 * synced, and on request how many change events arrived. (A leading underscore keeps
 * bench/run.ts from running it.)
 */
import { connect } from '../src/proto/client/client.js'
import type { Session, WatchEvent } from '../src/api.js'
import type { Cursor } from '../src/iter.js'

const addr = process.argv[2]!
const W = Number(process.argv[3] ?? 1000)
const C = Number(process.argv[4] ?? 20)
const REGIONS = 10

const sessions: Session[] = []
for (let i = 0; i < C; i++) sessions.push(await connect(addr))
let events = 0
let synced = 0
const cursors: Cursor<WatchEvent>[] = []
for (let k = 0; k < W; k++) {
  const c = sessions[k % C]!.view.watch(`WHERE region=r${k % REGIONS}`)
  cursors.push(c)
  void (async () => {
    for (;;) {
      const e = await c.next()
      if (e === undefined) return
      if (e.kind === 'synced') {
        if (++synced === W) process.send!({ synced: W })
      } else if (e.kind !== 'record') events++
    }
  })()
}
process.on('message', (m: { count?: boolean; stop?: boolean }) => {
  if (m.count === true) process.send!({ events })
  if (m.stop === true) {
    for (const c of cursors) c.cancel()
    void Promise.all(sessions.map((s) => s.close())).then(() => process.exit(0))
  }
})
