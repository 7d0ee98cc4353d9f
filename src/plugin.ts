/**
 * Plugin types (docs/plugins.md). A plugin is an ES module whose **default export is a plain
 * object** of this shape:
 *
 * ```js
 * export default {
 *   name: 'csv',
 *   formatters: { csv: (out, init) => ({ begin() {}, record(r) {}, end(summary) {} }) },
 *   transports: [tcpTransport],            // or { tcp: tcpTransport }
 * }
 * ```
 *
 * `transports` holds transport factories (src/transport/types.ts): each is called once, with
 * the plugin's `options` from the config file or no argument, and the transport it returns is
 * registered under its `schemes` (with the object form, the key must be one of them). `formatters` maps a format name (`--format NAME`)
 * to a formatter factory (src/format/types.ts). A plugin is loaded with `--plugin PATH`
 * (repeatable) or listed in the config file `$XDG_CONFIG_HOME/ww/config.json`
 * (`{"plugins": ["./my-plugin.js", {"path": "./other.js", "options": {…}}]}`, paths relative to
 * that file). Format names: a lowercase letter, then lowercase letters, digits, `-`. See
 * docs/plugins.md.
 */
import type { TransportFactory } from './transport/types.js'
import type { FormatterFactory } from './format/types.js'

export type { TransportFactory, Transport, Connection, Listener, AbortOptions } from './transport/types.js'
export type { Formatter, FormatterFactory, FormatInit, FormatOutput, QuerySummary } from './format/types.js'
export type { RoutingRecord } from './record/record.js'

/** What a plugin module's default export must be. */
export interface WwPlugin {
  /** Shown in errors and `ww --help`; non-empty. */
  name: string
  /** Transports it adds, by URL scheme. */
  transports?: TransportFactory[] | Record<string, TransportFactory>
  /** Formatters it adds, by `--format` name. */
  formatters?: Record<string, FormatterFactory>
}

/** Identity helper giving TypeScript authors type checking of their plugin object. */
export function definePlugin(plugin: WwPlugin): WwPlugin {
  return plugin
}
