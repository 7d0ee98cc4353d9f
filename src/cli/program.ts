/**
 * The `ww` command line (docs/cli.md), behind the bin entry (main.ts). It parses the arguments
 * with commander and imports each command's module only when that command runs, so `ww ls`
 * never loads the shell (Ink, React) or the node (libp2p). One top-level handler turns every
 * failure into a message and an exit code (src/cli/errors.ts).
 */
import { createRequire } from 'node:module'
import type { Command as CommandType } from 'commander'
import { describeError, EXIT } from '../client/errors.js'
import type { CliFlags } from '../client/context.js'
import { DEFAULT_ADDR } from '../client/defaults.js'
import { packageVersion } from '../node/info.js'

// commander is CommonJS: require() skips the ESM wrapper and export scan an `import` costs at
// every start (measured ~3 ms of a one-shot command's start-up).
const { Command, CommanderError, InvalidArgumentError, Option } = createRequire(import.meta.url)('commander') as typeof import('commander')
type Command = CommandType

export { DEFAULT_ADDR }

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value]
}

function positiveInt(value: string): number {
  const n = Number(value)
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) {
    throw new InvalidArgumentError('expected a whole number ≥ 1')
  }
  return n
}

function addCommon(cmd: Command, withFormat = true): Command {
  cmd
    .addOption(new Option('--addr <url>', `node to connect to (default: the context's, else ${DEFAULT_ADDR}); several, repeated or comma-separated, are tried in order`).env('WW_ADDR').argParser(collect))
    .addOption(new Option('--context <name>', "use this context of the config file (default: its \"current\")").env('WW_CONTEXT'))
    .addOption(new Option('--token <token>', 'access token presented to the node').env('WW_TOKEN'))
    .option('--tls-ca <pem>', 'trust this CA (or self-signed certificate) for wss:// nodes')
    .option('--tls-cert <pem>', 'client certificate for nodes that require one (mTLS)')
    .option('--tls-key <pem>', 'private key for --tls-cert')
    .option('--plugin <path>', 'load a plugin module (repeatable)', collect, [] as string[])
  if (withFormat) cmd.option('--format <name>', "output format: text, json, ndjson, or one a plugin adds (default: the context's, else text)")
  return cmd
}

/** The table options of ls and lookup. */
function addTable(cmd: Command): Command {
  return cmd
    .option('-o, --output <name>', 'wide: the text table with SEQ, TTL and ADDRS; or a format name, as --format')
    .option('--columns <list>', `text columns, comma-separated: ${TEXT_COLUMN_NAMES}, meta.KEY`)
    .option('--no-headers', 'leave out the header line of the text table')
}

/** The built-in text columns, for help (the format module is loaded only when a command runs). */
const TEXT_COLUMN_NAMES = 'peer, server, host, seq, ttl, age, seen, meta, addrs'

function common(opts: Record<string, unknown>): CliFlags {
  const str = (k: string): { [key: string]: string } => (typeof opts[k] === 'string' ? { [k]: opts[k] } : {})
  return {
    ...(Array.isArray(opts.addr) ? { addr: opts.addr as string[] } : typeof opts.addr === 'string' ? { addr: [opts.addr] } : {}),
    ...str('context'),
    ...str('format'),
    ...str('output'),
    ...str('columns'),
    ...(opts.headers === false ? { headers: false } : {}),
    plugin: (opts.plugin as string[] | undefined) ?? [],
    ...str('token'),
    ...str('tlsCa'),
    ...str('tlsCert'),
    ...str('tlsKey'),
  }
}

/**
 * commander's own messages (unknown flag, bad flag value, missing argument) in the shape of
 * every other error: `ww: MESSAGE (ERR_USAGE)`; its help hint follows as `hint: …`.
 */
export function usageErrorText(str: string): string {
  const text = str.trimEnd()
  return text.startsWith('error: ') ? `ww: ${text.slice('error: '.length)} (ERR_USAGE)\n` : str
}

/** Builds the program; `setExit` receives each action's exit code. */
export function buildProgram(setExit: (code: number) => void): Command {
  const program = new Command()
  program
    .name('ww')
    .description('cluster membership with indexed, streamed queries')
    .version(packageVersion(), '-V, --version')
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(usageErrorText(str)) })
    .showHelpAfterError('hint: run with --help for usage')
    .addHelpText(
      'after',
      `
Examples:
  ww dev                                  a local 3-node cluster with the shell attached
  ww start --meta region=us-east-1        run a node
  ww ls WHERE region=us-east-1            list matching peers
  ww lookup WHERE host=web-1 --format json
  echo 'ls LIMIT 3' | ww shell --format ndjson

Exit codes: 0 success (also an empty result), 1 usage or query error, 2 cannot connect,
3 the stream failed after it began, 4 not authorized (the node requires a token).`,
    )

  program
    .command('start')
    .description('run a node')
    .option('--listen <url>', 'URL clients connect to (ws://, or a plugin scheme)', DEFAULT_ADDR)
    .option('--p2p <multiaddr>', 'libp2p listen multiaddr (repeatable)', collect, [] as string[])
    .option('--bootstrap <multiaddr...>', 'peers to join through (full /p2p/ multiaddrs)')
    .option('--mdns', 'discover peers on the local network with mDNS')
    .option('--ns <name>', 'cluster namespace', 'ww')
    .option('--host <name>', 'host name to announce (default: the OS host name)')
    .option('--meta <k=v...>', 'meta entries to announce (repeatable)')
    .option('--ttl <duration>', 'heartbeat TTL: 500ms, 10s, 1m; a bare number is ms', '10s')
    .option('--max-ttl <duration>', 'longest heartbeat TTL accepted from any node', '5m')
    .option('--max-clock-skew <duration>', 'how far another node\'s clock may be off; older or further-ahead heartbeats are ignored', '5m')
    .option('--min-peers <n>', 'connections to other nodes to keep, dialled from the table (0: off)', '6')
    .option('--identity <path>', 'private key file (default: in the config folder)')
    .option('--swarm-key <path>', 'private cluster: only nodes holding this key file can connect (see ww keygen)')
    .option('--allow-peers <file>', 'only these peer IDs (one per line, # comments) may connect and be listed')
    .option('--max-peers <n>', 'most peers the table lists; heartbeats of new peers beyond it are refused', positiveInt, 100_000)
    .addOption(new Option('--token <token>', 'clients must present this token to read the table (visible in the process list: prefer --token-file or WW_TOKEN)').env('WW_TOKEN'))
    .option('--token-file <path>', 'read the clients\' token from the first line of this file')
    .option('--tls-cert <pem>', 'certificate for --listen wss://…')
    .option('--tls-key <pem>', 'private key for --tls-cert')
    .option('--tls-client-ca <pem>', 'require client certificates signed by this CA (mTLS)')
    .option('--max-connections <n>', 'client connections held at once (default 1024)', positiveInt)
    .option('--allow-origin <origin>', 'browser origin allowed to open a WebSocket, e.g. https://ops.example.com (repeatable)', collect, [] as string[])
    .option('--plugin <path>', 'load a plugin module, e.g. a transport (repeatable)', collect, [] as string[])
    .option('--quiet', 'do not log membership changes')
    .option('--log-level <level>', 'least severe log lines written: debug, info, warn, error', 'info')
    .option('--log-format <format>', 'log lines as text or json (one object per line: time, level, msg, fields)', 'text')
    .option('--metrics-listen <host:port>', 'serve /metrics, /healthz and /readyz over HTTP here (a bare port binds 127.0.0.1)')
    .action(async (opts: Record<string, unknown>) => {
      const { runStart } = await import('./start-action.js')
      setExit(await runStart(opts))
    })

  program
    .command('keygen <path>')
    .description('write a new swarm key file (mode 0600) for a private cluster')
    .option('--force', 'replace the file if it exists')
    .action(async (path: string, opts: Record<string, unknown>) => {
      const { keygenCommand } = await import('./keygen.js')
      setExit(await keygenCommand(path, { force: opts.force === true }))
    })

  for (const op of ['ls', 'lookup'] as const) {
    const cmd = addTable(addCommon(
      program
        .command(`${op} [query...]`)
        .description(op === 'ls' ? 'stream every record matching QUERY, then exit (with --watch: then every change)' : 'print the first record matching QUERY, then exit')
        .addHelpText('after', `\nThe query words are joined with spaces, so quoting is optional:\n  ww ${op} WHERE region=us-east-1${op === 'ls' ? ' LIMIT 10\n  ww ls WHERE role=db -w           the matches, then one line per change until Ctrl-C\n  ww ls -o wide                    more columns: SEQ, TTL, ADDRS\n  ww ls --columns peer,host,meta.region --no-headers' : ''}`),
    ))
    if (op === 'ls') {
      cmd.option('-w, --watch', 'after the matches, print every change to them until Ctrl-C (exit 130)')
      cmd.option('--reconnect', 'with --watch: after a lost connection, dial again and print only what changed (else exit 3)')
      cmd.option('--count', 'print how many records match instead of the records (counted on the node)')
    }
    cmd.action(async (words: string[], opts: Record<string, unknown>) => {
      if (opts.watch === true) {
        if (opts.output === 'wide' || opts.columns !== undefined || opts.headers === false) {
          const { CliError, ERR_USAGE } = await import('../client/errors.js')
          throw new CliError(ERR_USAGE, '-o wide, --columns and --no-headers do not go with --watch')
        }
        const [{ createContext }, { watchCommand }] = await Promise.all([import('../client/context.js'), import('./watch.js')])
        setExit(await watchCommand(words, await createContext(common(opts)), { reconnect: opts.reconnect === true }))
        return
      }
      if (opts.reconnect === true) {
        const { CliError, ERR_USAGE } = await import('../client/errors.js')
        throw new CliError(ERR_USAGE, '--reconnect only goes with --watch')
      }
      const [{ createContext }, { queryCommand }] = await Promise.all([import('../client/context.js'), import('./query.js')])
      setExit(await queryCommand(op, words, await createContext(common(opts)), opts.count === true ? 'count' : undefined))
    })
  }

  addCommon(
    program
      .command('top [query...]')
      .description('a full-screen view of the peers matching QUERY, updated in place: host, peer, meta, AGE, SEEN, the last minute\'s joins, leaves, expiries')
      .addHelpText('after', '\nKeys: h/p/a/s sort by host, peer, age, seen (again: reverse); q quits (exit 0), Ctrl-C exits 130.\nExample:\n  ww top WHERE role=db'),
    false,
  )
    .option('--reconnect', 'after a lost connection, dial again and resync (else leave the screen and exit 3)')
    .action(async (words: string[], opts: Record<string, unknown>) => {
      const [{ createContext }, { topCommand }] = await Promise.all([import('../client/context.js'), import('./top.js')])
      setExit(await topCommand(words, await createContext(common(opts)), { reconnect: opts.reconnect === true }))
    })

  addCommon(
    program
      .command('explain [query...]')
      .description('run QUERY on the node and print how: plan, index, ranges, estimated and actual rows, time')
      .addHelpText('after', '\nExample:\n  ww explain WHERE role=db AND region!=us-east-1'),
  ).action(async (words: string[], opts: Record<string, unknown>) => {
    const [{ createContext }, { queryCommand }] = await Promise.all([import('../client/context.js'), import('./query.js')])
    setExit(await queryCommand('ls', words, await createContext(common(opts)), 'explain'))
  })

  addCommon(program.command('info').description("print what the node says about itself: peer, version, addresses, uptime, table, peers, heartbeat rates, clients")).action(
    async (opts: Record<string, unknown>) => {
      const [{ createContext }, { infoCommand }] = await Promise.all([import('../client/context.js'), import('./info.js')])
      setExit(await infoCommand(await createContext(common(opts))))
    },
  )

  addCommon(program.command('shell').description('the interactive shell; with stdin not a terminal, runs one query per line'))
    .option('--stop-on-error', 'piped mode: stop at the first failing line')
    .action(async (opts: Record<string, unknown>) => {
      const [{ createContext }, { shellCommand }] = await Promise.all([import('../client/context.js'), import('./shell.js')])
      setExit(await shellCommand(await createContext(common(opts)), { stopOnError: opts.stopOnError === true }))
    })

  addCommon(program.command('dev').description('a local cluster of real nodes in this process, with the shell attached'))
    .option('--nodes <n>', 'how many nodes', positiveInt, 3)
    .option('--listen <url>', 'client URL of the first node (default: ws://127.0.0.1:8420 if free, else any free port)')
    .option('--log-level <level>', "the nodes' log lines to stderr from this level: debug, info, warn, error (default: none)")
    .option('--log-format <format>', "the nodes' log lines as text or json")
    .option('--metrics-listen <host:port>', 'node i serves /metrics, /healthz and /readyz on PORT+i (port 0: each a free port)')
    .option('--stop-on-error', 'piped mode: stop at the first failing line')
    .action(async (opts: Record<string, unknown>) => {
      const [{ createContext }, { devCommand }] = await Promise.all([import('../client/context.js'), import('./dev.js')])
      const ctx = await createContext(common(opts))
      setExit(await devCommand(ctx, { nodes: opts.nodes as number, stopOnError: opts.stopOnError === true, listen: opts.listen as string | undefined, logLevel: opts.logLevel as string | undefined, logFormat: opts.logFormat as string | undefined, metricsListen: opts.metricsListen as string | undefined }))
    })

  addCommon(program.command('pub').description('publish stdin as one message on TOPIC'))
    .requiredOption('-t, --topic <topic>', 'topic name')
    .option('--lines', 'publish each line of stdin as its own message')
    .action(async (opts: Record<string, unknown>) => {
      const [{ createContext }, { pubCommand }] = await Promise.all([import('../client/context.js'), import('./pubsub.js')])
      setExit(await pubCommand(await createContext(common(opts)), String(opts.topic), { lines: opts.lines === true }))
    })

  // sub prints messages, not records: its --format is its own (plugin formats do not apply).
  addCommon(program.command('sub').description('print messages on TOPIC as they arrive, until Ctrl-C'), false)
    .requiredOption('-t, --topic <topic>', 'topic name')
    .option('--hex', 'print payloads as hex instead of UTF-8 text')
    .option('--format <name>', 'text (the payloads), or ndjson / json (one object per message); plugin formats are for query records', 'text')
    .action(async (opts: Record<string, unknown>) => {
      const [{ createContext }, { subCommand, checkSubFormat }] = await Promise.all([import('../client/context.js'), import('./pubsub.js')])
      checkSubFormat(String(opts.format))
      setExit(await subCommand(await createContext(common(opts)), String(opts.topic), { hex: opts.hex === true }))
    })
  program
    .command('completion <shell>')
    .description('print a completion script: bash, zsh or fish (e.g. source <(ww completion bash))')
    .addHelpText('after', '\nbash: source <(ww completion bash)   zsh: source <(ww completion zsh)\nfish: ww completion fish > ~/.config/fish/completions/ww.fish')
    .action(async (shell: string) => {
      const c = await import('./completion.js')
      const commands = program.commands.map((cmd) => ({
        name: cmd.name(),
        description: cmd.description(),
        options: cmd.options.map((o) => ({
          ...(o.long !== undefined ? { long: o.long } : {}),
          ...(o.short !== undefined ? { short: o.short } : {}),
          takesValue: o.required || o.optional,
          description: o.description,
        })),
      }))
      const script = shell === 'bash' ? c.bashScript(commands) : shell === 'zsh' ? c.zshScript(commands) : shell === 'fish' ? c.fishScript(commands) : undefined
      if (script === undefined) {
        const { CliError, ERR_USAGE } = await import('../client/errors.js')
        throw new CliError(ERR_USAGE, `no completion for shell "${shell}"`, { hint: `use one of ${c.COMPLETION_SHELLS.join(', ')}` })
      }
      process.stdout.write(script)
    })
  return program
}

/** Runs the command line on `argv` (as process.argv) and returns the exit code. */
export async function main(argv: string[] = process.argv): Promise<number> {
  let code: number = EXIT.ok
  const program = buildProgram((c) => {
    code = c
  })
  try {
    await program.parseAsync(argv)
    return code
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander printed its message already; help and --version are successes.
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage
    }
    const { text, exitCode } = describeError(err)
    process.stderr.write(text)
    return exitCode
  }
}
