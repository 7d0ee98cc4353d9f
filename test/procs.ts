/**
 * Child processes of the tests. Each is spawned in a process group of its own (`detached`),
 * so a kill reaches everything it started too, and every kill waits for the exit: a test
 * never leaves a process behind, even when it fails half-way.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { expect, vi } from 'vitest'

/** A child process in its own process group, with a promise of its exit. */
export interface GroupChild {
  readonly child: ChildProcess
  /** Settles with the exit code (null when killed by a signal) once the process has exited and its output is all read ('close'). */
  readonly exited: Promise<number | null>
}

// Every group spawned and not yet reaped, for `reap()`.
const live = new Set<GroupChild>()

/** Spawns `command args…` as the leader of a new process group. */
export function spawnGroup(command: string, args: readonly string[], opts: SpawnOptions = {}): GroupChild {
  const child = spawn(command, args, { ...opts, detached: true })
  const exited = new Promise<number | null>((resolve) => {
    child.once('close', (code) => resolve(code))
    // A spawn failure (ENOENT) arrives as 'error', and no 'exit' follows.
    child.once('error', () => {
      if (child.pid === undefined) resolve(null)
    })
  })
  const g = { child, exited }
  live.add(g)
  return g
}

/**
 * Kills and awaits every group spawned by `spawnGroup` that is still here: call it from
 * `afterEach` (or `afterAll` when the processes span the file's tests).
 */
export async function reap(): Promise<void> {
  const all = [...live]
  await Promise.all(all.map((g) => killGroup(g)))
}

/** Whether a process `pid` is still running (a zombie counts as gone). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return false
  }
}

/**
 * Every descendant of `pid`, from /proc (Linux). A program under a pseudo-terminal runs in a
 * session of its own, outside its parent's process group: a group kill does not reach it.
 */
function descendants(pid: number): number[] {
  const out: number[] = []
  const todo = [pid]
  while (todo.length > 0) {
    const p = todo.pop()!
    let tasks: string[] = []
    try {
      tasks = readdirSync(`/proc/${p}/task`)
    } catch {
      continue
    }
    for (const t of tasks) {
      let kids = ''
      try {
        kids = readFileSync(`/proc/${p}/task/${t}/children`, 'utf8')
      } catch {
        continue
      }
      for (const k of kids.split(' ')) {
        const n = Number(k)
        if (k !== '' && Number.isInteger(n)) {
          out.push(n)
          todo.push(n)
        }
      }
    }
  }
  return out
}

/**
 * Kills the process group of `g` (and any descendant that left it) with `signal`, and
 * waits until the leader has exited and every descendant is gone.
 */
export async function killGroup(g: GroupChild, signal: NodeJS.Signals = 'SIGKILL', timeoutMs = 15_000): Promise<void> {
  const pid = g.child.pid
  if (pid === undefined) {
    live.delete(g)
    return
  }
  const kids = descendants(pid)
  // The group even when its leader has exited: what it started may still run in it.
  const send = (sig: NodeJS.Signals): void => {
    for (const target of [-pid, ...kids]) {
      try {
        process.kill(target, sig)
      } catch {
        // gone already
      }
    }
  }
  send(signal)
  let timer: NodeJS.Timeout | undefined
  const escalate = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      // it did not die of `signal`: kill it for good
      send('SIGKILL')
      resolve()
    }, timeoutMs / 2)
  })
  await Promise.race([g.exited, escalate])
  await g.exited
  clearTimeout(timer)
  live.delete(g)
  await vi.waitFor(() => expect(kids.filter(alive), 'processes still running after the kill').toEqual([]), { timeout: timeoutMs })
}
