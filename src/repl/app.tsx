/**
 * The interactive shell (Ink 6 + React 19). The live area at the bottom holds only the
 * prompt (or, while a query runs, a status line with its count and elapsed time) plus
 * completion candidates and notices; everything printed — echoed input, results, errors —
 * goes above it through Ink's `write`, batched by `BatchSink`, so a long result is streamed
 * into the terminal's scrollback instead of being kept in React state.
 *
 * Keys: readline/emacs style (see `helpText`). Ctrl-C cancels a running query; at a
 * non-empty prompt it clears the line; at an empty prompt it must be pressed twice to quit.
 * Ctrl-D at an empty prompt quits. Ctrl-R searches the history backwards as readline does;
 * Ctrl-L clears the screen. Several lines arriving at once — a bracketed paste, or line
 * breaks inside one chunk of input from a terminal without it — run one by one, in order,
 * each with its own result; text after the last line break stays on the prompt. Lines of a
 * `\i FILE` run the same way, each failure reported with FILE:LINE.
 */
import React, { useCallback, useEffect, useRef, useState } from 'react'
import { Box, Text, useApp, useInput, useStdin, useStdout, type Key } from 'ink'
import type { Completer } from './complete.js'
import { applyCompletion } from './complete.js'
import type { LineResult, ShellCore } from './core.js'
import type { History } from './history.js'
import * as L from './line.js'
import { Prompt } from './prompt.js'
import { BatchSink } from './sink.js'
import { SCRIPT_MAX_BYTES } from './script.js'

/** Props of `ShellApp`. */
export interface ShellAppProps {
  core: ShellCore
  history: History
  completer: Completer
  /** Status refresh while a query runs, ms. @default 100 */
  tickMs?: number
  /** Batching interval of printed output, ms. @default 50 */
  flushMs?: number
  /** Called with the exit code when the user leaves. */
  onExit?: (code: number) => void
}

const red = (s: string): string => `\u001b[31m${s}\u001b[39m`
const dim = (s: string): string => `\u001b[2m${s}\u001b[22m`

/** Formats a duration for the status line and timing. */
export function formatElapsed(ms: number): string {
  return ms < 1000 ? `${ms.toFixed(ms < 10 ? 1 : 0)} ms` : `${(ms / 1000).toFixed(1)} s`
}

/** Bracketed paste (xterm mode 2004): the terminal sends pasted text between these. */
export const PASTE_START = '\u001b[200~'
/** The end of a bracketed paste. */
export const PASTE_END = '\u001b[201~'

// Escape sequences and control characters inside pasted text; tabs become blanks.
const cleanPasted = (t: string): string =>
  t
    .replace(/\u001b\[[0-9;?]*[ -/]*[@-~]|\u001b./g, '')
    .replace(/\t/g, ' ')
    .replace(/[\u0000-\u001f\u007f]/g, '')

/**
 * Splits text that holds line breaks (a paste) against the line being edited: the first
 * piece is inserted at the cursor and completes that line; every complete line is returned
 * to run (blank ones dropped); what follows the last line break becomes the new line.
 */
export function splitPaste(l: L.Line, text: string): { run: string[]; line: L.Line } {
  const parts = text.split(/\r\n|\r|\n/)
  if (parts.length === 1) return { run: [], line: L.insert(l, cleanPasted(parts[0]!)) }
  const first = L.insert(l, cleanPasted(parts[0]!)).text
  const run = [first, ...parts.slice(1, -1).map(cleanPasted)].map((t) => t.trim()).filter((t) => t !== '')
  return { run, line: L.lineOf(cleanPasted(parts[parts.length - 1]!)) }
}

/** Ctrl-R's state: the search text, the history index matched, the line before the search. */
interface Search {
  query: string
  index: number | undefined
  failed: boolean
  original: L.Line
}

/** `1 record`, `2 records`. */
export function countText(n: number): string {
  return `${n} record${n === 1 ? '' : 's'}`
}

/** The shell's root component. */
export function ShellApp({ core, history, completer, tickMs = 100, flushMs = 50, onExit }: ShellAppProps): React.ReactElement {
  const { exit } = useApp()
  const { write } = useStdout()
  const [line, setLineState] = useState<L.Line>(L.EMPTY_LINE)
  const lineRef = useRef<L.Line>(L.EMPTY_LINE)
  const [running, setRunningState] = useState(false)
  // The key handler reads state through refs: a key may arrive before React has re-run the
  // effect that hands Ink the handler of the latest render.
  const runningRef = useRef(false)
  const setRunning = useCallback((on: boolean) => {
    runningRef.current = on
    setRunningState(on)
  }, [])
  const [, setTick] = useState(0)
  const [shown, setShownState] = useState<string[]>([])
  const shownRef = useRef<string[]>([])
  const setShown = useCallback((list: string[]) => {
    if (list.length === 0 && shownRef.current.length === 0) return
    shownRef.current = list
    setShownState(list)
  }, [])
  const [notice, setNoticeState] = useState<string | undefined>(undefined)
  const noticeRef = useRef<string | undefined>(undefined)
  const setNotice = useCallback((n: string | undefined) => {
    if (n === noticeRef.current) return
    noticeRef.current = n
    setNoticeState(n)
  }, [])
  const [disconnected, setDisconnected] = useState<Error | undefined>(core.lost)
  const armed = useRef(false)
  const completing = useRef<AbortController | undefined>(undefined)
  const exitCode = useRef(0)
  // Lines waiting to run (a paste), whether the runner is at work, and whether Ctrl-C
  // stopped it (the rest of a paste or file is then dropped).
  const queue = useRef<string[]>([])
  const draining = useRef(false)
  const stopped = useRef(false)
  const [search, setSearchState] = useState<Search | undefined>(undefined)
  const searchRef = useRef<Search | undefined>(undefined)
  const setSearch = useCallback((s: Search | undefined) => {
    searchRef.current = s
    setSearchState(s)
  }, [])
  // Bracketed paste: collecting between PASTE_START and PASTE_END; `consumed` tells the key
  // handler that the raw listener (which sees each input event first) took this event.
  const pasting = useRef<{ text: string; over: boolean } | undefined>(undefined)
  const consumed = useRef(false)
  const { internal_eventEmitter: inputEvents } = useStdin()

  const setLine = useCallback((l: L.Line) => {
    lineRef.current = l
    setLineState(l)
  }, [])

  const print = useCallback((s: string) => write(s.endsWith('\n') ? s : s + '\n'), [write])

  const quit = useCallback(() => {
    completing.current?.abort()
    core.cancel()
    onExit?.(exitCode.current)
    exit()
  }, [core, exit, onExit])

  // Connection loss is announced once, with the way back.
  useEffect(
    () =>
      core.onChange(() => {
        const lost = core.lost
        setDisconnected(lost)
        if (lost !== undefined && core.session === undefined) {
          print(red(`connection to ${core.addr} lost: ${lost.message}`) + '\n' + dim('press Enter to reconnect, or \\connect URL'))
        }
      }),
    [core, print],
  )

  // While a query runs, refresh the count and elapsed time on a timer rather than per record.
  useEffect(() => {
    if (!running) return
    const t = setInterval(() => setTick((n) => n + 1), tickMs)
    return () => clearInterval(t)
  }, [running, tickMs])

  // Runs one line and prints what it did; `where` (FILE:LINE) marks a line of a `\i` file.
  const runOne = useCallback(
    async (text: string, where?: string): Promise<LineResult | undefined> => {
      setShown([])
      setNotice(undefined)
      print(dim(where === undefined ? 'ww> ' : `${where}> `) + text)
      if (where === undefined) void history.add(text)
      const sink = new BatchSink(print, { intervalMs: flushMs })
      try {
        const r = await core.run(text, sink, { fromScript: where !== undefined })
        sink.end()
        if (r.error !== undefined) {
          print(red(where === undefined ? r.error : `${where}: ${r.error}`))
          if (r.exitCode !== 0) exitCode.current = r.exitCode
        }
        if (r.info !== undefined) print(r.info)
        if (r.count !== undefined && r.elapsedMs !== undefined) {
          print(dim(`(${countText(r.count)}${core.timing ? `, ${formatElapsed(r.elapsedMs)}` : ''})`))
        }
        completer.setView(core.session?.view)
        return r
      } catch (err) {
        sink.end()
        print(red(`unexpected error (a bug in ww): ${(err as Error)?.stack ?? String(err)}`))
        return undefined
      }
    },
    [core, completer, flushMs, history, print, setShown, setNotice],
  )

  // Runs the queued lines one after another (and the lines of any `\i` file among them).
  const drain = useCallback(async () => {
    if (draining.current) return
    draining.current = true
    stopped.current = false
    setRunning(true)
    try {
      while (queue.current.length > 0 && !stopped.current) {
        const r = await runOne(queue.current.shift()!)
        if (r?.quit === true) return quit()
        if (r?.script === undefined) continue
        // A failing line is reported and the file goes on, as psql does; Ctrl-C stops it.
        let failed = 0
        let ran = 0
        for (const line of r.script.lines) {
          if (stopped.current) break
          const x = await runOne(line.text, `${r.script.file}:${line.no}`)
          ran++
          if (x?.quit === true) return quit()
          if (x === undefined || x.exitCode !== 0) failed++
        }
        print(dim(`${r.script.file}: ${ran} of ${r.script.lines.length} statement${r.script.lines.length === 1 ? '' : 's'} run${failed > 0 ? `, ${failed} failed` : ''}`))
      }
    } finally {
      if (stopped.current) queue.current = []
      draining.current = false
      setRunning(false)
    }
  }, [print, quit, runOne, setRunning])

  const submit = useCallback(
    (lines: string[]) => {
      queue.current.push(...lines)
      void drain()
    },
    [drain],
  )

  // Text holding line breaks (a paste): each complete line runs, the rest stays on the prompt.
  const paste = useCallback(
    (text: string) => {
      const { run, line: rest } = splitPaste(lineRef.current, text)
      setLine(rest)
      if (run.length > 0) submit(run)
    },
    [setLine, submit],
  )

  const pasteRef = useRef(paste)
  pasteRef.current = paste

  // Sees every input event before the key handler: collects a bracketed paste whole (it may
  // arrive in several events), bounded like a `\i` file.
  useEffect(() => {
    if (inputEvents === undefined) return
    const onInput = (data: string): void => {
      const p = pasting.current
      if (data === PASTE_START) {
        pasting.current = { text: '', over: false }
        consumed.current = true
        return
      }
      if (p === undefined) return
      consumed.current = true
      if (data !== PASTE_END) {
        if (p.text.length + data.length > SCRIPT_MAX_BYTES) p.over = true
        else p.text += data
        return
      }
      pasting.current = undefined
      if (p.over) setNotice(`paste larger than ${SCRIPT_MAX_BYTES} bytes not run (ERR_INPUT_TOO_LARGE): use \\i FILE`)
      else pasteRef.current(p.text)
    }
    // Registered once, before useInput's listener (which re-registers on every render), so
    // it always runs first.
    inputEvents.on('input', onInput)
    return () => {
      inputEvents.off('input', onInput)
    }
  }, [inputEvents, setNotice])

  const tab = useCallback(async () => {
    completing.current?.abort()
    const ac = new AbortController()
    completing.current = ac
    const at = lineRef.current
    const c = await completer.complete(at, ac.signal)
    // The user kept typing while the node answered: that answer is for another line.
    if (ac.signal.aborted || lineRef.current !== at) return
    const { line: next, shown: list, note } = applyCompletion(at, c)
    setLine(next)
    setShown(list.slice(0, 50))
    setNotice(note)
  }, [completer, setLine, setShown, setNotice])

  // A key while Ctrl-R searches; false: the search ended with the match on the line, and the
  // key is handled as usual (as readline does with a movement key).
  const searchKey = (input: string, key: Key): boolean => {
    const s = searchRef.current!
    const entries = history.entries
    const shown = s.index !== undefined ? entries[s.index]! : s.original.text
    if (key.escape || (key.ctrl && (input === 'g' || input === 'c'))) {
      setSearch(undefined)
      setLine(s.original)
      return true
    }
    if (key.return) {
      setSearch(undefined)
      setLine(L.EMPTY_LINE)
      if (shown.trim() !== '') submit([shown])
      return true
    }
    if (key.ctrl && input === 'r') {
      if (s.query === '') return true
      const i = history.search(s.query, s.index ?? entries.length, shown)
      setSearch(i === undefined ? { ...s, failed: true } : { ...s, index: i, failed: false })
      return true
    }
    if (key.backspace || key.delete || (key.ctrl && input === 'h')) {
      const q = s.query.slice(0, -1)
      const i = history.search(q)
      setSearch({ ...s, query: q, index: i, failed: q !== '' && i === undefined })
      return true
    }
    const text = key.ctrl || key.meta || key.tab ? '' : cleanPasted(input)
    if (text !== '' && !/[\r\n]/.test(input)) {
      // A longer search text matches the current entry or an older one.
      const q = s.query + text
      const i = history.search(q, s.index === undefined ? entries.length : s.index + 1)
      setSearch(i === undefined ? { ...s, query: q, failed: true } : { ...s, query: q, index: i, failed: false })
      return true
    }
    setSearch(undefined)
    const line = L.lineOf(shown)
    lineRef.current = line
    setLine(line)
    return false
  }

  useInput((input: string, key: Key) => {
    if (consumed.current) {
      consumed.current = false
      return
    }
    if (runningRef.current) {
      if (key.ctrl && input === 'c') {
        core.cancel()
        const dropped = queue.current.length > 0 || draining.current
        stopped.current = true
        queue.current = []
        setNotice(dropped ? 'cancelled (the lines after it are not run)' : 'cancelled')
      }
      return
    }
    if (searchRef.current !== undefined && searchKey(input, key)) return
    const l = lineRef.current
    if (key.ctrl && input === 'r') {
      setShown([])
      setNotice(undefined)
      setSearch({ query: '', index: undefined, failed: false, original: l })
      return
    }
    if (key.ctrl && input === 'l') {
      // Home and erase the screen; Ink redraws the prompt, and the line on it, at the top.
      write('\u001b[H\u001b[2J')
      return
    }
    if (key.ctrl && input === 'c') {
      if (l.text !== '') {
        setLine(L.EMPTY_LINE)
        armed.current = false
        setNotice(undefined)
      } else if (armed.current) {
        quit()
      } else {
        armed.current = true
        setNotice('press Ctrl-C again (or Ctrl-D) to quit')
      }
      setShown([])
      return
    }
    armed.current = false
    setNotice(undefined)
    if (key.ctrl && input === 'd') {
      if (l.text === '') quit()
      else setLine(L.deleteForward(l))
      return
    }
    if (key.return) {
      setLine(L.EMPTY_LINE)
      submit([l.text])
      return
    }
    if (key.tab) {
      void tab()
      return
    }
    setShown([])
    if (key.upArrow || (key.ctrl && input === 'p')) {
      const h = history.prev(l.text)
      if (h !== undefined) setLine(L.lineOf(h))
      return
    }
    if (key.downArrow || (key.ctrl && input === 'n')) {
      const h = history.next()
      if (h !== undefined) setLine(L.lineOf(h))
      return
    }
    let next: L.Line | undefined
    if (key.leftArrow) next = key.ctrl || key.meta ? L.wordLeft(l) : L.left(l)
    else if (key.rightArrow) next = key.ctrl || key.meta ? L.wordRight(l) : L.right(l)
    else if (key.home) next = L.home(l)
    else if (key.end) next = L.end(l)
    // Most terminals send DEL (0x7f) for Backspace, which Ink names `delete`.
    else if (key.backspace || key.delete) next = key.meta ? L.deleteWordBack(l) : L.backspace(l)
    else if (key.ctrl) {
      switch (input) {
        case 'a': next = L.home(l); break
        case 'e': next = L.end(l); break
        case 'b': next = L.left(l); break
        case 'f': next = L.right(l); break
        case 'w': next = L.deleteWordBack(l); break
        case 'u': next = L.killToStart(l); break
        case 'k': next = L.killToEnd(l); break
        case 'h': next = L.backspace(l); break
        default: next = undefined
      }
    } else if (key.meta) {
      switch (input) {
        case 'b': next = L.wordLeft(l); break
        case 'f': next = L.wordRight(l); break
        case 'd': next = L.deleteWordForward(l); break
        default: next = undefined
      }
    } else if (input !== '' && !key.escape) {
      // Several keys may come in one chunk (a paste without bracketed paste, a fast typist,
      // `tmux send-keys`): each line break ends a line that runs; a final Tab completes.
      if (/[\r\n]/.test(input)) {
        paste(input)
        return
      }
      const last = input[input.length - 1]
      const body = last === '\t' ? input.slice(0, -1) : input
      const clean = cleanPasted(body)
      const typed = clean === '' ? l : L.insert(l, clean)
      if (typed !== l) setLine(typed)
      if (last === '\t') void tab()
      return
    }
    if (next !== undefined && next !== l) setLine(next)
  })

  const p = core.progress
  return (
    <Box flexDirection="column">
      {running ? (
        <Text>
          <Text color="yellow">… </Text>
          <Text>
            {p.connecting !== undefined ? `connecting to ${p.connecting}` : countText(p.count)} · {formatElapsed(performance.now() - p.startedAt)}
          </Text>
          <Text dimColor> (Ctrl-C to cancel)</Text>
        </Text>
      ) : search !== undefined ? (
        <Text>
          <Text color="cyan">{search.failed ? '(failed reverse-i-search)' : '(reverse-i-search)'}</Text>
          <Text>{`\`${search.query}': `}</Text>
          <Text>{search.index !== undefined ? history.entries[search.index] : ''}</Text>
        </Text>
      ) : (
        <Prompt line={line} dim={disconnected !== undefined && core.session === undefined} />
      )}
      {shown.length > 0 && <Text dimColor>{shown.join('  ')}</Text>}
      {notice !== undefined && <Text dimColor>{notice}</Text>}
    </Box>
  )
}
