// @ts-check
/**
 * Example ww plugin: a `csv` output format (RFC 4180).
 *
 *   ww ls --plugin plugins/csv.js --format csv > peers.csv
 *
 * Columns: peer, server, seq, ttl, host, then one column per meta key. Rows stream as records
 * arrive, so the meta columns are the keys of the first `headerRows` records (sorted);
 * keys that first appear later are gathered into a final `meta` column as `k=v;k2=v2` so no
 * data is lost. Fields holding a comma, a double quote, CR or LF are double-quoted with
 * inner quotes doubled; lines end with CRLF, as RFC 4180 says. An empty result is the header
 * line alone.
 */

/** @typedef {import('../src/format/types.js').FormatterFactory} FormatterFactory */
/** @typedef {import('../src/record/record.js').RoutingRecord} RoutingRecord */

/**
 * Quotes one field per RFC 4180.
 * @param {string | number} value
 * @returns {string}
 */
export function csvField(value) {
  const s = String(value)
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
}

/**
 * One CSV line (CRLF-terminated).
 * @param {Array<string | number>} fields
 */
export function csvLine(fields) {
  return fields.map(csvField).join(',') + '\r\n'
}

/**
 * The csv formatter factory.
 * @param {{ headerRows?: number }} [opts]
 * @returns {FormatterFactory}
 */
export function csvFormatter(opts = {}) {
  const headerRows = opts.headerRows ?? 64
  return (out) => {
    /** @type {RoutingRecord[] | undefined} */
    let held = []
    /** @type {string[]} */
    let keys = []

    /** @param {RoutingRecord} r */
    const row = (r) => {
      const extra = Object.keys(r.meta)
        .filter((k) => !keys.includes(k))
        .sort()
        .map((k) => `${k}=${r.meta[k]}`)
        .join(';')
      return csvLine([r.peer, r.server, r.seq, r.ttl, r.host, ...keys.map((k) => r.meta[k] ?? ''), extra])
    }
    const flush = () => {
      if (held === undefined) return
      const rows = held
      held = undefined
      keys = [...new Set(rows.flatMap((r) => Object.keys(r.meta)))].sort()
      let s = csvLine(['peer', 'server', 'seq', 'ttl', 'host', ...keys.map((k) => `meta.${k}`), 'meta'])
      for (const r of rows) s += row(r)
      out.write(s)
    }
    return {
      begin() {},
      record(r) {
        if (held !== undefined) {
          held.push(r)
          if (held.length >= headerRows) flush()
          return
        }
        out.write(row(r))
      },
      end() {
        flush()
      },
    }
  }
}

/** The plugin: the csv format. */
export default {
  name: 'csv',
  formatters: { csv: csvFormatter() },
}
