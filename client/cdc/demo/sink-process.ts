// One sink of the demo in a process of its own, so the demo can SIGKILL it: a killed sink commits
// nothing more and leaves no goodbye, as a crashed server would. Run as a script:
//
//   node --import tsx client/cdc/demo/sink-process.ts '<json SinkProcessOptions>'
//
// It applies the topic's `accounts` changes to a JSON file store, reading rows with Account v2,
// prints one JSON line of counters every PROGRESS_INTERVAL_MS ({"type":"progress",...}) and at the
// end ({"type":"stopped",...}), and on SIGTERM closes cleanly (flush, commit, leave the group).
// spawnSink() starts one and follows its lines; every process it starts is SIGKILLed if the
// parent exits first.

import { spawn, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ChangeSinkStats } from '../sink.js'
import { followLines } from './lines.js'

export interface SinkProcessOptions {
  brokers: string[]
  topic: string
  groupId: string
  /** The replica's JSON file. */
  file: string
  sessionTimeoutMs: number
  heartbeatIntervalMs: number
}

export interface SinkHandle {
  readonly child: ChildProcess
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** The last counters it printed; null before the first. */
  readonly stats: () => ChangeSinkStats | null
  /** Its last output lines, for error messages. */
  readonly output: string[]
  /** True once it exited. */
  readonly done: () => boolean
}

const SELF = fileURLToPath(import.meta.url)
const ROOT = path.resolve(path.dirname(SELF), '..', '..', '..')
const PROGRESS_INTERVAL_MS = 250
const OUTPUT_LINES_MAX = 50

const live = new Set<ChildProcess>()
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL')
})

export function spawnSink(options: SinkProcessOptions): SinkHandle {
  const child = spawn(process.execPath, ['--import', 'tsx', SELF, JSON.stringify(options)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  live.add(child)
  let exitedFlag = false
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      exitedFlag = true
      live.delete(child)
      resolve({ code, signal })
    })
  })
  let stats: ChangeSinkStats | null = null
  const output: string[] = []
  followLines(child, output, OUTPUT_LINES_MAX, (line) => {
    try {
      const event = JSON.parse(line) as { type?: string; stats?: ChangeSinkStats }
      if (event.stats !== undefined) stats = event.stats
    } catch {
      // Not a progress line (a stack trace): kept in `output` only.
    }
  })
  return { child, exited, stats: () => stats, output, done: () => exitedFlag }
}

async function main(options: SinkProcessOptions): Promise<void> {
  const { Strand, ChangeSink, JsonFileStore } = await import('../../index.js')
  const { ACCOUNT_V2 } = await import('./workload.js')
  const strand = new Strand({ brokers: options.brokers, clientId: 'cdc-demo-sink', retry: { retriesMax: 50, retryBackoffMs: 50, retryBackoffMsMax: 1000 } })
  const store = await JsonFileStore.open(options.file)
  const sink = new ChangeSink(strand, {
    topic: options.topic,
    groupId: options.groupId,
    stores: { accounts: store },
    readerSchemas: { accounts: ACCOUNT_V2 },
    consumer: { sessionTimeoutMs: options.sessionTimeoutMs, heartbeatIntervalMs: options.heartbeatIntervalMs, rebalanceTimeoutMs: 4 * options.sessionTimeoutMs, maxWaitMs: 100 },
  })
  const print = (type: string): void => {
    process.stdout.write(`${JSON.stringify({ type, stats: sink.stats() })}\n`)
  }
  const timer = setInterval(() => print('progress'), PROGRESS_INTERVAL_MS)
  process.once('SIGTERM', () => void sink.close())
  try {
    await sink.run()
  } finally {
    clearInterval(timer)
    await sink.close().catch(() => undefined)
    print('stopped')
    await strand.close()
  }
}

if (process.argv[1] === SELF) {
  main(JSON.parse(process.argv[2] ?? '{}') as SinkProcessOptions).then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`${(err as Error).stack ?? String(err)}\n`)
      process.exit(1)
    },
  )
}
