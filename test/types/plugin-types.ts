/**
 * Compile-time test, checked by `npm test`'s type check (`tsc --noEmit -p tsconfig.json`,
 * `strict`): a plugin written the way docs/plugins.md and docs/transports.md show, and the
 * two example plugins, must type-check against the public types of `ww/plugin` and
 * `ww/transport`. Nothing here runs; a regression is a type error.
 */
import { definePlugin, type FormatterFactory, type TransportFactory, type WwPlugin } from 'ww/plugin'
import type { Connection, Listener, Transport } from 'ww/transport'
import csv, { csvFormatter } from '../../plugins/csv.js'
import tcp, { tcpTransport } from '../../plugins/tcp.js'

// The shipped examples, as their default exports and by factory.
export const tcpPlugin: WwPlugin = tcp
export const csvPlugin: WwPlugin = csv
export const tcpDefined: WwPlugin = definePlugin({ name: 'tcp', transports: { tcp: tcpTransport } })
export const tcpList: WwPlugin = definePlugin({ name: 'tcp', transports: [tcpTransport] })
export const csvDefined: WwPlugin = definePlugin({ name: 'csv', formatters: { csv: csvFormatter() } })

// A transport written as docs/transports.md shows: `myTransport(init?: MyTransportInit)`.
/** Options of the documented example transport. */
export interface MyTransportInit {
  /** @default 1048576 */
  highWaterMark?: number
}
export function myTransport(init: MyTransportInit = {}): Transport {
  const hwm = init.highWaterMark ?? 1 << 20
  return {
    schemes: ['my'],
    connect(url: string): Promise<Connection> {
      return Promise.reject(new Error(`cannot dial ${url} (hwm ${hwm})`))
    },
    listen(url: string): Promise<Listener> {
      return Promise.resolve({ url, close: async () => {} })
    },
  }
}
// An Init with a required field is assignable too (the loader only ever hands it what the
// config file says, or nothing).
export function strictTransport(init?: { path: string }): Transport {
  return myTransport({ highWaterMark: init?.path.length ?? 0 })
}

export const asFactory: TransportFactory = myTransport
export const asTypedFactory: TransportFactory<MyTransportInit> = myTransport
export const yaml: FormatterFactory = (out, init) => ({
  begin() {},
  record(r) {
    out.write(`- peer: ${r.peer}${init?.columns === undefined ? '' : ''}\n`)
  },
  end(summary) {
    if (summary.error !== undefined) out.write(`# ${summary.error.message}\n`)
  },
})
export const mine: WwPlugin = definePlugin({
  name: 'mine',
  transports: { my: myTransport, strict: strictTransport },
  formatters: { yaml },
})
export const mineList = definePlugin({ name: 'mine', transports: [myTransport, strictTransport, tcpTransport] })

// What must stay an error.
// @ts-expect-error a plugin needs a name
export const noName: WwPlugin = { transports: [myTransport] }
// @ts-expect-error a transport factory returns a Transport
export const notAFactory: WwPlugin = { name: 'x', transports: [() => 42] }
// @ts-expect-error a formatter factory returns begin/record/end
export const badFormatter: WwPlugin = { name: 'x', formatters: { f: () => ({ begin() {} }) } }
