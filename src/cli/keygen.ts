/**
 * `ww keygen PATH [--force]`: writes a new swarm key (the pre-shared key of a private cluster,
 * src/cluster/swarm-key.ts) to PATH with mode 0600 and prints where it went and the key's
 * fingerprint (which `ww start --swarm-key` prints too, so an operator can check that two
 * nodes hold the same key without showing it). An existing file is only replaced with
 * `--force`; the key itself is never printed.
 */
import type { Writable } from 'node:stream'
import { generateSwarmKey, writeSwarmKey } from '../cluster/swarm-key.js'

/** Options of {@link keygenCommand}. */
export interface KeygenOptions {
  /** Replace an existing file. @default false */
  force?: boolean
  /** Where the confirmation goes. @default process.stdout */
  stdout?: Writable
}

/**
 * Runs `ww keygen`. Resolves with exit code 0; rejects with ERR_SWARM_KEY_EXISTS (the file
 * exists and `force` is off) or ERR_SWARM_KEY_IO.
 */
export async function keygenCommand(path: string, opts: KeygenOptions = {}): Promise<number> {
  const key = generateSwarmKey()
  await writeSwarmKey(path, key, opts.force === true)
  ;(opts.stdout ?? process.stdout).write(`swarm key ${key.fingerprint} written to ${path} (mode 0600); give every node of the cluster a copy and start each with --swarm-key ${path}\n`)
  return 0
}
