/**
 * The interactive shell (Ink 6 + React 19). The live area at the bottom holds only the
 * prompt (or, while a query runs, a status line with its count and elapsed time) plus
 * completion candidates and notices; everything printed — echoed input, results, errors —
 * goes above it through Ink's `write`, batched by `BatchSink`, so a long result is streamed
 * into the terminal's scrollback instead of being kept in React state.
 *
 * Keys: readline/emacs style (see `helpText`). Ctrl-C cancels a running query; at a
 * non-empty prompt it clears the line; at an empty prompt it must be pressed twice to quit.
 * Ctrl-D at an empty prompt quits.
 */
import React, { useCallback, useEffect, useRef, useState } from 'react'
import { Box, Text, useApp, useInput, useStdout, type Key } from 'ink'
import type { Completer } from './complete.js'
import { applyCompletion } from './complete.js'
import type { ShellCore } from './core.js'
import type { History } from './history.js'
import * as L from './line.js'
import { Prompt } from './prompt.js'
import { BatchSink } from './sink.js'

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

  const submit = useCallback(
    async (text: string) => {
      setShown([])
      setNotice(undefined)
      print(dim('ww> ') + text)
      void history.add(text)
      setRunning(true)
      const sink = new BatchSink(print, { intervalMs: flushMs })
      try {
        const r = await core.run(text, sink)
        sink.end()
        if (r.error !== undefined) {
          print(red(r.error))
          if (r.exitCode !== 0) exitCode.current = r.exitCode
        }
        if (r.info !== undefined) print(r.info)
        if (r.count !== undefined && r.elapsedMs !== undefined) {
          print(dim(`(${countText(r.count)}${core.timing ? `, ${formatElapsed(r.elapsedMs)}` : ''})`))
        }
        completer.setView(core.session?.view)
        if (r.quit === true) quit()
      } catch (err) {
        sink.end()
        print(red(`unexpected error (a bug in ww): ${(err as Error)?.stack ?? String(err)}`))
      } finally {
        setRunning(false)
      }
    },
    [core, completer, flushMs, history, print, quit, setRunning, setShown, setNotice],
  )

  const tab = useCallback(async () => {
    completing.current?.abort()
    const ac = new AbortController()
    completing.current = ac
    const at = lineRef.current
    const c = await completer.complete(at, ac.signal)
    // The user kept typing while the node answered: that answer is for another line.
    if (ac.signal.aborted || lineRef.current !== at) return
    const { line: next, shown: list } = applyCompletion(at, c)
    setLine(next)
    setShown(list.slice(0, 50))
  }, [completer, setLine, setShown])

  useInput((input: string, key: Key) => {
    if (runningRef.current) {
      if (key.ctrl && input === 'c') {
        core.cancel()
        setNotice('cancelled')
      }
      return
    }
    const l = lineRef.current
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
      void submit(l.text)
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
      // Several keys may come in one chunk (a paste, a fast typist, `tmux send-keys`): text,
      // then a final Enter or Tab, which act as keys; line breaks inside become blanks, since
      // a query is one line.
      const last = input[input.length - 1]
      const body = last === '\r' || last === '\n' || last === '\t' ? input.slice(0, -1) : input
      const clean = body.replace(/[\r\n\t]+/g, ' ').replace(/[\u0000-\u001f\u007f]/g, '')
      const typed = clean === '' ? l : L.insert(l, clean)
      if (last === '\r' || last === '\n') {
        setLine(L.EMPTY_LINE)
        void submit(typed.text)
        return
      }
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
      ) : (
        <Prompt line={line} dim={disconnected !== undefined && core.session === undefined} />
      )}
      {shown.length > 0 && <Text dimColor>{shown.join('  ')}</Text>}
      {notice !== undefined && <Text dimColor>{notice}</Text>}
    </Box>
  )
}
