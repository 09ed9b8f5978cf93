// Starts broker processes (`node --import tsx broker/main.ts`) and waits until each listens: the
// broker reports its address over the IPC channel (and in its `listening` log line).
// Used by the benchmark harness and the local-cluster command; tests have their own helper that
// also ties processes to a test's teardown.

import { spawn, type ChildProcess } from 'node:child_process'
import net from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const MAIN = path.join(ROOT, 'broker', 'main.ts')
/** A broker that has not logged "listening" by then is reported as failed to start. */
export const BROKER_START_TIMEOUT_MS = 30_000
/**
 * V8 flags of every broker started here, before `nodeArgs`. The brokers started here share one
 * machine (the local cluster, the benchmark, the tests), so V8's parallel and concurrent garbage
 * collection threads (up to four per process) compete with the other brokers' event loops for the
 * same cores: on the 2-core benchmark machine, with single-threaded collection the brokers
 * produced 15-28% more (acks=1 728k and 781k vs 634k and 636k records/s; acks=all 667k and 704k
 * vs 521k and 573k, alternating runs) and end-to-end p99 fell from 13.9-15.5 ms to 8.9-9.0 ms.
 * A broker's live heap is small (about 13 MB) and V8 set its old-generation limit just above it:
 * under load it marked and compacted every ~100 ms (about 100 full collections per broker in a
 * 10 s run, most of them for data flowing through, not kept). A 64 MB initial old space cut that
 * to about 24, and acks=all rose to 847k-945k records/s, the replication lag p99 at half that rate
 * fell from 8-10 ms to 6-7 ms; the peak RSS rose from about 190 to 230 MB.
 * `STRAND_BROKER_NODE_FLAGS` replaces them (space-separated; empty for V8's defaults), as for a
 * broker with a machine of its own.
 */
export function brokerNodeFlags(env: NodeJS.ProcessEnv = process.env): string[] {
  const set = env.STRAND_BROKER_NODE_FLAGS
  if (set === undefined) return ['--single-threaded-gc', '--initial-old-space-size=64']
  return set.split(' ').filter((f) => f !== '')
}
/** Lines of a broker's output kept for the error message when it fails. */
const OUTPUT_LINES_MAX = 200

export interface LaunchedBroker {
  readonly child: ChildProcess
  readonly host: string
  readonly port: number
  /** The Kafka-protocol listener's port; null when kafka.listener.port is -1. */
  readonly kafkaPort: number | null
  readonly address: string
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** SIGTERM and wait; SIGKILL after `timeoutMs`. */
  stop(timeoutMs?: number): Promise<void>
}

export interface LaunchOptions {
  configFile?: string
  overrides: Record<string, string | number | boolean>
  /** Extra Node flags (`--cpu-prof`), after `brokerNodeFlags()`. */
  nodeArgs?: string[]
  /** Receives every output line (the broker's JSON log). */
  onLine?: (line: string) => void
  /**
   * A command that runs the broker (`['ip', 'netns', 'exec', ns]`: tests put brokers in network
   * namespaces). It must exec the program it is given, so the child's pid is the broker's.
   */
  wrapper?: readonly string[]
  /** Environment variables added to this process's (STRAND_FAILPOINTS: failpoints.ts). */
  env?: Record<string, string>
}

export async function launchBroker(options: LaunchOptions): Promise<LaunchedBroker> {
  const args = [...brokerNodeFlags(), ...(options.nodeArgs ?? []), '--import', 'tsx', MAIN]
  if (options.configFile !== undefined) args.push('--config', options.configFile)
  for (const [k, v] of Object.entries(options.overrides)) args.push('--override', `${k}=${String(v)}`)
  const [command, ...commandArgs] = [...(options.wrapper ?? []), process.execPath, ...args]
  const env = options.env === undefined ? process.env : { ...process.env, ...options.env }
  const child = spawn(command!, commandArgs, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }))
  })
  const output: string[] = []
  const { host, port, kafkaPort } = await new Promise<Listening>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`broker did not start within ${BROKER_START_TIMEOUT_MS} ms:\n${output.join('\n')}`))
    }, BROKER_START_TIMEOUT_MS)
    const ready = (listening: Listening): void => {
      clearTimeout(timer)
      child.channel?.unref()
      resolve(listening)
    }
    onLines(child, (line) => {
      output.push(line)
      if (output.length > OUTPUT_LINES_MAX) output.shift()
      options.onLine?.(line)
      const listening = parseListening(line)
      if (listening !== null) ready(listening)
    })
    child.on('message', (message: unknown) => {
      const m = message as { type?: unknown; host?: unknown; port?: unknown; kafkaPort?: unknown }
      if (m.type === 'listening' && typeof m.host === 'string' && typeof m.port === 'number') ready({ host: m.host, port: m.port, kafkaPort: typeof m.kafkaPort === 'number' ? m.kafkaPort : null })
    })
    void exited.then(({ code, signal }) => {
      clearTimeout(timer)
      reject(new Error(`broker exited (code ${code}, signal ${signal}) before listening:\n${output.join('\n')}`))
    })
  })
  const stop = async (timeoutMs = 15_000): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    await exited
    clearTimeout(timer)
  }
  return { child, host, port, kafkaPort, address: `${host}:${port}`, exited, stop }
}

/** Where a started broker listens; kafkaPort null without a Kafka listener. */
export interface Listening {
  host: string
  port: number
  kafkaPort: number | null
}

/** The broker logs `{"msg":"listening","host":..,"port":..,"kafkaPort":..}` once its sockets are bound. */
export function parseListening(line: string): Listening | null {
  if (!line.includes('"listening"')) return null
  try {
    const entry = JSON.parse(line) as { msg?: unknown; host?: unknown; port?: unknown; kafkaPort?: unknown }
    if (entry.msg === 'listening' && typeof entry.port === 'number' && typeof entry.host === 'string') {
      return { host: entry.host, port: entry.port, kafkaPort: typeof entry.kafkaPort === 'number' && entry.kafkaPort >= 0 ? entry.kafkaPort : null }
    }
  } catch {
    // Not a JSON log line.
  }
  return null
}

export function onLines(child: ChildProcess, onLine: (line: string) => void): void {
  for (const stream of [child.stdout, child.stderr]) {
    let rest = ''
    stream?.setEncoding('utf8')
    stream?.on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n')
      rest = lines.pop() ?? ''
      for (const line of lines) onLine(line)
    })
  }
}

/**
 * Ports free right now on 127.0.0.1, chosen by the OS, for callers that must name them before a
 * broker starts (a quorum's voter list names every voter's address): the brief window before the
 * broker binds is the only race. Used by tests and benchmarks that launch clusters.
 */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<net.Server>((resolve, reject) => {
      const s = net.createServer()
      s.once('error', reject)
      s.listen(0, '127.0.0.1', () => resolve(s))
    })),
  )
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port)
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))))
  return ports
}

/** `controller.quorum.voters` for brokers 1..n listening on `ports` of 127.0.0.1. */
export function quorumVoters(ports: readonly number[]): string {
  return ports.map((p, i) => `${i + 1}@127.0.0.1:${p}`).join(',')
}
