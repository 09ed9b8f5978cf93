// A fresh local cluster of broker processes for a benchmark: every broker a quorum voter, with its
// own data dir under one temp dir and its listener and metrics ports chosen up front (the voter
// list must name every voter's address before any of them starts). `stop()` kills and reaps every
// process and removes the temp dir, whether the cluster came up or not; `failed` rejects, with the
// broker's last output lines, as soon as a broker exits while the benchmark still needs it.

import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Strand } from '../../client/index.js'
import type { SecurityOptions } from '../../client/net/security.js'
import { freePorts, launchBroker, quorumVoters, type LaunchedBroker } from '../../broker/local/launcher.js'

/** All brokers must be registered and unfenced by then, or the start fails. */
const CLUSTER_READY_TIMEOUT_MS = 60_000
/** Pause between two metadata polls while waiting for brokers or ISRs. */
const POLL_INTERVAL_MS = 100
/** A broker's output lines kept for the error message when it dies and for the end-of-run summary. */
const OUTPUT_LINES_MAX = 50
/**
 * A broker still running this long after SIGTERM gets SIGKILL: above the broker's own 10 s drain of
 * in-flight requests (SHUTDOWN_DRAIN_MS), so a broker stopped mid-workload can still stop cleanly.
 */
const STOP_TIMEOUT_MS = 15_000

export interface ClusterMember {
  id: number
  /** `host:port` of the Kafka listener. */
  address: string
  metricsPort: number
  /** The last OUTPUT_LINES_MAX lines the broker wrote (its JSON log). */
  output: string[]
  /** Every line logged at warn or above (or not JSON at all), counted from the start. */
  warnings: number
  process: LaunchedBroker | null
}

export interface BenchClusterOptions {
  size: number
  /** Applied to every broker after the cluster's own keys (ids, ports, voters, data dirs). */
  overrides?: Record<string, string | number | boolean>
  /** TLS and SASL of the readiness check's client. */
  clientSecurity?: SecurityOptions
  /** Extra Node flags for every broker process (`--cpu-prof --cpu-prof-dir DIR` to profile them). */
  nodeArgs?: string[]
}

/** pino levels: 40 is warn. A line that is not JSON (a stack trace on stderr) counts as a warning too. */
function isWarning(line: string): boolean {
  try {
    const level = (JSON.parse(line) as { level?: unknown }).level
    return typeof level !== 'number' || level >= 40
  } catch {
    return line.trim() !== ''
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/**
 * Calls `check` every `intervalMs` until it resolves true. Past `timeoutMs` it throws "`what`
 * within N s (`seen()`)", `seen` describing what the last check found.
 */
export async function pollUntil(check: () => Promise<boolean>, o: { timeoutMs: number; intervalMs: number; what: string; seen: () => string }): Promise<void> {
  const deadline = Date.now() + o.timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${o.what} within ${o.timeoutMs / 1000} s (${o.seen()})`)
    await sleep(o.intervalMs)
  }
}

export class BenchCluster {
  readonly dir: string
  readonly members: ClusterMember[] = []
  /** Rejects when a broker exits before stop(); every caller must race its work against it. */
  readonly failed: Promise<never>
  readonly #overrides: Record<string, string | number | boolean>
  readonly #size: number
  /** Launches not yet resolved, so stop() can reap a broker that finishes starting after it. */
  readonly #launching = new Set<Promise<unknown>>()
  #fail: (err: Error) => void = () => {}
  #stopping = false

  readonly #nodeArgs: string[]
  readonly #clientSecurity: SecurityOptions

  constructor(options: BenchClusterOptions) {
    this.#clientSecurity = options.clientSecurity ?? {}
    this.#size = options.size
    this.#overrides = options.overrides ?? {}
    this.#nodeArgs = options.nodeArgs ?? []
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'strand-bench-cluster-'))
    this.failed = new Promise<never>((_, reject) => {
      this.#fail = reject
    })
    // Nobody may be racing against it yet (or ever, after a clean run).
    this.failed.catch(() => {})
  }

  get bootstrap(): string[] {
    return this.members.map((m) => m.address)
  }

  /** Starts every broker and resolves once all are registered and unfenced. */
  async start(clientId: string): Promise<void> {
    const ports = await freePorts(2 * this.#size)
    if (this.#stopping) throw new Error('the cluster was stopped while starting')
    const listenerPorts = ports.slice(0, this.#size)
    const voters = quorumVoters(listenerPorts)
    for (let i = 0; i < this.#size; i++) {
      this.members.push({ id: i + 1, address: `127.0.0.1:${listenerPorts[i]!}`, metricsPort: ports[this.#size + i]!, output: [], warnings: 0, process: null })
    }
    const launches = this.members.map((m) => {
      const launch = this.#launch(m, voters)
      this.#launching.add(launch)
      void launch.finally(() => this.#launching.delete(launch)).catch(() => {})
      return launch
    })
    const results = await Promise.allSettled(launches)
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
    if (failure !== undefined) throw failure.reason
    await Promise.race([this.#waitRegistered(clientId), this.failed])
  }

  async #launch(m: ClusterMember, voters: string): Promise<void> {
    const overrides = {
      'node.id': m.id,
      'listener.host': '127.0.0.1',
      'listener.port': Number(m.address.split(':')[1]),
      'controller.quorum.voters': voters,
      'metrics.port': m.metricsPort,
      'data.dir': path.join(this.dir, `broker-${m.id}`),
      ...this.#overrides,
    }
    const onLine = (line: string): void => {
      m.output.push(line)
      if (m.output.length > OUTPUT_LINES_MAX) m.output.shift()
      if (isWarning(line)) m.warnings++
    }
    const launched = await launchBroker({ overrides, onLine, nodeArgs: this.#nodeArgs })
    m.process = launched
    void launched.exited.then(({ code, signal }) => {
      if (this.#stopping) return
      this.#fail(new Error(`broker ${m.id} exited (code ${code}, signal ${signal}) during the benchmark; ${m.output.length === 0 ? 'it wrote no output' : `its last lines:\n${m.output.join('\n')}`}`))
    })
  }

  async #waitRegistered(clientId: string): Promise<void> {
    const { tls, sasl } = this.#clientSecurity
    const strand = new Strand({ brokers: this.bootstrap, clientId, retry: { retriesMax: 0 }, ...(tls ? { tls } : {}), ...(sasl ? { sasl } : {}) })
    const admin = strand.admin()
    let seen = 'no broker answered'
    const ready = async (): Promise<boolean> => {
      try {
        const d = await admin.describeCluster()
        seen = `controller ${d.controllerId}, unfenced brokers [${d.brokers.map((b) => b.nodeId).join(',')}]`
        return d.controllerId >= 0 && this.members.every((m) => d.brokers.some((b) => b.nodeId === m.id))
      } catch (err) {
        seen = (err as Error).message
        return false
      }
    }
    try {
      await pollUntil(ready, { timeoutMs: CLUSTER_READY_TIMEOUT_MS, intervalMs: POLL_INTERVAL_MS, what: 'the cluster was not ready', seen: () => seen })
    } finally {
      await strand.close().catch(() => {})
    }
  }

  /** Kills and reaps every broker (SIGTERM, then SIGKILL) and removes the temp dir. Safe to call twice. */
  async stop(): Promise<void> {
    this.#stopping = true
    // A broker still starting is stopped with the others once its launch settles.
    await Promise.allSettled([...this.#launching])
    await Promise.allSettled(this.members.map((m) => m.process?.stop(STOP_TIMEOUT_MS)))
    rmSync(this.dir, { recursive: true, force: true })
  }

  /** One line per broker that logged warnings or errors, with its last such line. */
  warningSummary(): string[] {
    return this.members
      .filter((m) => m.warnings > 0)
      .map((m) => `broker ${m.id} logged ${m.warnings} warning/error lines; last: ${[...m.output].reverse().find(isWarning) ?? '(rotated out)'}`)
  }
}
