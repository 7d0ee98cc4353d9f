/**
 * `--format json`: one JSON array, streamed element by element, so a huge result never sits
 * in memory. An empty result is `[]`. When the stream fails after it began, the array is left
 * unclosed on purpose: the output must not look like a complete result (exit code 3 says so too).
 */
import type { FormatOutput, Formatter, FormatterFactory } from './types.js'
import { recordObject } from './ndjson.js'

/** Creates the json formatter. */
export const json: FormatterFactory = (out: FormatOutput): Formatter => {
  let n = 0
  return {
    begin() {
      out.write('[')
    },
    record(r) {
      out.write((n++ === 0 ? '\n  ' : ',\n  ') + JSON.stringify(recordObject(r)))
    },
    end(summary) {
      if (summary.error !== undefined) {
        out.write('\n')
        return
      }
      out.write(n === 0 ? ']\n' : '\n]\n')
    },
  }
}
