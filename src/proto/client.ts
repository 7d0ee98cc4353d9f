// Placeholder so the command line compiles while the protocol is being written (issue 4).
import type { ConnectOptions, Session } from '../api.js'
export async function connect(url: string, options: ConnectOptions = {}): Promise<Session> {
  throw new Error(`connect not yet implemented: ${url} ${options.token ?? ''}`)
}
