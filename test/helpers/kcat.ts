// kcat (librdkafka's command-line client, Debian's kcat package) as the tests of the Kafka
// listener drive it: `runKcat` runs it to its end with a bound on how long, `startKcat` keeps one
// running in the background (a group member) until the test stops it with SIGTERM. Either way a
// kcat still running when its test ends is killed at teardown, so none outlives the test.
//
// Settings with secrets go in a kcat -F file (`kcatConfigFile`, passed as `-F file` in the args),
// never on the command line, so no password is in a process listing or a failure message.

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { ensureDebianTool } from './apt.js'
import type { Teardown } from './broker-process.js'

/** How much of kcat's stderr a timeout's error message quotes (a failed -P logs a line a record). */
const STDERR_QUOTED_CHARS = 2_000

export interface KcatRun {
  /** Exit code; null when kcat died of a signal (librdkafka 2.0.2 can crash while tearing down after a refused login). */
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** One message as kcat -J prints it, a line each. */
export interface KcatMessage {
  topic: string
  partition: number
  offset: number
  key: string | null
  payload: string | null
  /** Names and values alternating, in order; absent when the message has none. */
  headers?: string[]
}

/** kcat -L -J's answer. */
export interface KcatMetadata {
  brokers: Array<{ id: number; name: string }>
  topics: Array<{ topic: string; partitions: Array<{ partition: number; leader: number; replicas: Array<{ id: number }> }> }>
}

export interface KcatRunOptions {
  /** A run not finished by then is killed with SIGKILL, and its promise rejects. */
  timeoutMs: number
  /** Written to kcat's stdin, which is then closed (kcat -P reads its messages there). */
  stdin?: string
}

/** Whether kcat runs (installing Debian's kcat once per process if need be), or why not: a tap skip reason. */
export function kcatAvailable(): Promise<{ unavailable: string } | undefined> {
  return ensureDebianTool('kcat', ['-V'], 'kcat')
}

/** Writes `properties` as a kcat -F file `<name>.properties` in `dir`, readable by its owner only; returns its path. */
export function kcatConfigFile(dir: string, name: string, properties: Readonly<Record<string, string>>): string {
  const file = path.join(dir, `${name}.properties`)
  const lines = Object.entries(properties).map(([key, value]) => `${key}=${value}`)
  writeFileSync(file, lines.join('\n') + '\n', { mode: 0o600 })
  return file
}

/** Spawns kcat with `args`, stdin written and closed, and kills it at `tt`'s teardown if still running. */
function spawnKcat(tt: Teardown, args: readonly string[], stdin: string): ChildProcessWithoutNullStreams {
  const child = spawn('kcat', args, { stdio: ['pipe', 'pipe', 'pipe'] })
  tt.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  child.stdin.end(stdin)
  return child
}

/** Runs kcat to its end and collects its exit and output; a run outliving `timeoutMs` is killed and rejects. */
export function runKcat(tt: Teardown, args: readonly string[], options: KcatRunOptions): Promise<KcatRun> {
  return new Promise((resolve, reject) => {
    const child = spawnKcat(tt, args, options.stdin ?? '')
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, options.timeoutMs)
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
    child.on('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    // 'close' rather than 'exit': the output is complete by then.
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      if (timedOut) reject(new Error(`kcat ${args.join(' ')} did not finish within ${options.timeoutMs} ms; stderr: ${stderr.slice(-STDERR_QUOTED_CHARS)}`))
      else resolve({ code, signal, stdout, stderr })
    })
  })
}

/** How a run ended, for an assertion's message. */
export function describeExit(run: KcatRun): string {
  return run.signal === null ? `exit ${run.code}` : `killed by ${run.signal}`
}

/** The messages of a run with -J, in the order kcat printed them (lines that are not JSON skipped). */
export function messagesOf(run: Pick<KcatRun, 'stdout'>): KcatMessage[] {
  return run.stdout.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as KcatMessage)
}

/** A kcat left running (a consumer, -J -u), its messages read as they come. */
export interface KcatProcess {
  /** Every message kcat printed so far, in order, duplicates kept. */
  readonly messages: readonly KcatMessage[]
  stderr(): string
  /**
   * Sends SIGTERM (a kcat consumer then closes: commits and leaves its group) and resolves to the
   * exit code; kills it with SIGKILL if it has not exited within `killAfterMs`.
   */
  stop(options: { killAfterMs: number }): Promise<number | null>
}

/** Starts kcat with `args` (with -J, and -u so each line comes at once) and leaves it running. */
export function startKcat(tt: Teardown, args: readonly string[]): KcatProcess {
  const child = spawnKcat(tt, args, '')
  const messages: KcatMessage[] = []
  let pending = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => {
    pending += chunk.toString()
    const lines = pending.split('\n')
    pending = lines.pop() ?? ''
    for (const line of lines) if (line.startsWith('{')) messages.push(JSON.parse(line) as KcatMessage)
  })
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return {
    messages,
    stderr: () => stderr,
    async stop({ killAfterMs }) {
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs)
      try {
        return await exited
      } finally {
        clearTimeout(timer)
      }
    },
  }
}
