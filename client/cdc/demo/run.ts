// The CDC demo, as a function the command (main.ts) and the convergence test both run:
//
//  1. A source table of `rows` accounts is loaded through ChangeCapture into a compacted topic.
//  2. Sink A starts (a child process applying the topic to replica-a.json) and bootstraps.
//  3. The source makes `changes` random updates, deletes and re-inserts, published as they happen.
//     - at 25% sink A is SIGKILLed (once it has committed something);
//     - at 50% the table migrates to Account v2 (a column with a default) and capture switches
//       schema; sink B starts, a fresh replica bootstrapping from the topic's beginning;
//     - at 75% sink A restarts: it resumes from its committed offsets, replaying what it had
//       applied but not committed (stale, so harmless).
//  4. Once both groups have committed up to every partition's high watermark (so each replica
//     file holds everything), the sinks stop and each replica is compared with the source, row
//     by row.

import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { ChangeCapture, JsonFileStore, schemaTopicOf, Strand, type Admin, type ChangeCaptureOptions, type ChangeSinkStats } from '../../index.js'
import { spawnSink, type SinkHandle, type SinkProcessOptions } from './sink-process.js'
import { ACCOUNT_V1, ACCOUNT_V2, diffTables, isEmptyDiff, SourceTable, type Account, type SourceChange, type TableDiff } from './workload.js'

export interface DemoOptions {
  bootstrap: string[]
  rows: number
  changes: number
  seed: number
  /** Changes per second the source makes; 0: as fast as they are acknowledged. */
  ratePerSec: number
  /** Where the replica files go. */
  dir: string
  partitions: number
  replicationFactor: number
  /** Makes the topic and group names unique, so runs against one cluster do not mix. */
  runId: string
  /** Sinks' group session timeout: a restarted sink waits this long for its dead predecessor to be evicted. */
  sessionTimeoutMs: number
  /** How long the sinks may take to catch up at the end. */
  catchUpTimeoutMs: number
  /** Delete the topics when done (the groups' offsets stay). */
  deleteTopics: boolean
  log: (line: string) => void
}

export interface ReplicaReport {
  name: string
  file: string
  rows: number
  diff: TableDiff
  /** Counters summed over every process of this sink (a killed one's last report included). */
  stats: ChangeSinkStats
  processes: number
}

export interface DemoResult {
  topic: string
  seed: number
  sourceRows: number
  /** Records published: events, plus one tombstone per delete. */
  published: number
  replicas: ReplicaReport[]
  ok: boolean
  elapsedMs: number
}

/** Changes published per call of Promise.all: the unit of pacing and of the milestones above. */
const CHUNK_CHANGES = 200
/** The initial load goes in larger chunks: nothing reads it yet. */
const LOAD_CHUNK_CHANGES = 1000
/** Polling interval while waiting for sinks. */
const POLL_MS = 100
/** A sink not gone this long after SIGTERM (its close flushes, commits and leaves the group) is SIGKILLed. */
const SINK_STOP_TIMEOUT_MS = 15_000

const ZERO_STATS: ChangeSinkStats = { records: 0, applied: 0, stale: 0, ignored: 0, commits: 0, commitFailures: 0 }

function addStats(a: ChangeSinkStats, b: ChangeSinkStats | null): ChangeSinkStats {
  if (b === null) return a
  return {
    records: a.records + b.records,
    applied: a.applied + b.applied,
    stale: a.stale + b.stale,
    ignored: a.ignored + b.ignored,
    commits: a.commits + b.commits,
    commitFailures: a.commitFailures + b.commitFailures,
  }
}

/** A sink of the demo and every process it ran as. */
class DemoSink {
  readonly name: string
  readonly options: SinkProcessOptions
  readonly processes: SinkHandle[] = []
  /** Killed or stopped by the demo: its exit is expected. */
  #expectedExit = false

  constructor(name: string, options: SinkProcessOptions) {
    this.name = name
    this.options = options
  }

  get current(): SinkHandle | undefined {
    return this.processes[this.processes.length - 1]
  }

  start(): void {
    this.#expectedExit = false
    this.processes.push(spawnSink(this.options))
  }

  async kill(): Promise<void> {
    const p = this.current
    if (p === undefined || p.done()) return
    this.#expectedExit = true
    p.child.kill('SIGKILL')
    await p.exited
  }

  async stop(): Promise<void> {
    const p = this.current
    if (p === undefined || p.done()) return
    this.#expectedExit = true
    p.child.kill('SIGTERM')
    const timer = setTimeout(() => p.child.kill('SIGKILL'), SINK_STOP_TIMEOUT_MS)
    await p.exited
    clearTimeout(timer)
  }

  /** Throws if the running process died on its own. */
  check(): void {
    const p = this.current
    if (p !== undefined && p.done() && !this.#expectedExit) throw new Error(`sink ${this.name} exited on its own; its last lines:\n${p.output.join('\n')}`)
  }

  stats(): ChangeSinkStats {
    return this.processes.reduce((sum, p) => addStats(sum, p.stats()), ZERO_STATS)
  }
}

async function until<T>(probe: () => Promise<T | false>, options: { timeoutMs: number; what: string; check?: () => void }): Promise<T> {
  const deadline = Date.now() + options.timeoutMs
  for (;;) {
    options.check?.()
    const v = await probe().catch(() => false as const)
    if (v !== false) return v
    if (Date.now() > deadline) throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${options.what}`)
    await new Promise((resolve) => setTimeout(resolve, POLL_MS))
  }
}

function publish(capture: ChangeCapture<Account>, c: SourceChange): Promise<unknown> {
  const v = { version: c.version }
  if (c.operation === 'create') return capture.insert('accounts', c.key, c.after as Account, v)
  if (c.operation === 'update') return capture.update('accounts', c.key, c.before, c.after as Account, v)
  return capture.delete('accounts', c.key, c.before, v)
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`
}

export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const demo = new Demo(options)
  try {
    return await demo.run()
  } finally {
    await demo.cleanUp()
  }
}

class Demo {
  readonly #o: DemoOptions
  readonly #started = Date.now()
  readonly #topic: string
  readonly #strand: Strand
  readonly #admin: Admin
  readonly #source: SourceTable
  readonly #a: DemoSink
  readonly #b: DemoSink
  readonly #captureOptions: Omit<ChangeCaptureOptions, 'tables'>
  #capture: ChangeCapture<Account>
  /** Source changes made so far (the initial load not counted). */
  #made = 0
  /** Records published: events, plus one tombstone per delete. */
  #published = 0

  constructor(o: DemoOptions) {
    this.#o = o
    this.#topic = `cdc-demo-${o.runId}.accounts`
    this.#strand = new Strand({ brokers: o.bootstrap, clientId: 'cdc-demo', retry: { retriesMax: 50, retryBackoffMs: 50, retryBackoffMsMax: 1000 } })
    this.#admin = this.#strand.admin()
    mkdirSync(o.dir, { recursive: true })
    const sinkOptions = (letter: string): SinkProcessOptions => ({
      brokers: o.bootstrap,
      topic: this.#topic,
      groupId: `cdc-demo-${o.runId}.replica-${letter}`,
      file: path.join(o.dir, `replica-${letter}.json`),
      sessionTimeoutMs: o.sessionTimeoutMs,
      heartbeatIntervalMs: Math.max(50, Math.floor(o.sessionTimeoutMs / 10)),
    })
    this.#a = new DemoSink('A', sinkOptions('a'))
    this.#b = new DemoSink('B', sinkOptions('b'))
    this.#source = new SourceTable({ seed: o.seed, rows: o.rows })
    this.#captureOptions = {
      topic: this.#topic,
      partitions: o.partitions,
      replicationFactor: o.replicationFactor,
      // Small segments and a low dirty ratio, so the cleaner compacts during the run; tombstones
      // stay 10 minutes, far longer than sink A is down.
      configs: { 'min.insync.replicas': String(Math.min(2, o.replicationFactor)), 'segment.bytes': String(128 * 1024), 'min.cleanable.dirty.ratio': '0.1', 'delete.retention.ms': '600000' },
    }
    this.#capture = new ChangeCapture<Account>(this.#strand, { ...this.#captureOptions, tables: { accounts: ACCOUNT_V1 } })
  }

  async run(): Promise<DemoResult> {
    const o = this.#o
    o.log(`CDC demo: ${o.rows} rows, ${o.changes} changes, seed ${o.seed}; topic ${this.#topic} (${o.partitions} partitions, replication ${o.replicationFactor}); replicas in ${o.dir}`)
    await this.#capture.start()
    const load = this.#source.load()
    for (let i = 0; i < load.length; i += LOAD_CHUNK_CHANGES) await this.#send(load.slice(i, i + LOAD_CHUNK_CHANGES))
    o.log(`initial load: ${o.rows} inserts published (${seconds(Date.now() - this.#started)})`)
    this.#a.start()
    o.log('sink A started: bootstraps from the beginning of the topic')
    await this.#makeChanges()
    await until(async () => (await this.#caughtUp(this.#a)) && (await this.#caughtUp(this.#b)), {
      timeoutMs: o.catchUpTimeoutMs,
      what: 'both sinks to commit up to the end of every partition',
      check: () => this.#checkSinks(),
    })
    o.log(`both sinks caught up (${seconds(Date.now() - this.#started)} since the start)`)
    await Promise.all([this.#a.stop(), this.#b.stop()])
    return this.#compare()
  }

  /** Kills what still runs, deletes the topics if asked, closes the client. */
  async cleanUp(): Promise<void> {
    await Promise.all([this.#a.kill(), this.#b.kill()])
    await this.#capture.close().catch(() => undefined)
    if (this.#o.deleteTopics) {
      for (const t of [this.#topic, schemaTopicOf(this.#topic)]) await this.#admin.deleteTopic(t).catch(() => undefined)
    }
    await this.#strand.close()
  }

  async #send(changes: SourceChange[]): Promise<void> {
    await Promise.all(changes.map((c) => publish(this.#capture, c)))
    this.#published += changes.length + changes.filter((c) => c.operation === 'delete').length
  }

  /** The random changes, paced, with the kill, the migration and the restart at their points. */
  async #makeChanges(): Promise<void> {
    const o = this.#o
    const began = Date.now()
    const milestones = [
      { at: 0.25, run: () => this.#killA() },
      { at: 0.5, run: () => this.#migrate() },
      { at: 0.75, run: () => this.#restartA() },
    ]
    for (;;) {
      while (milestones.length > 0 && this.#made >= (milestones[0]?.at ?? 1) * o.changes) await milestones.shift()?.run()
      if (this.#made >= o.changes) break
      const chunk: SourceChange[] = []
      while (chunk.length < CHUNK_CHANGES && this.#made < o.changes) {
        chunk.push(this.#source.next())
        this.#made++
      }
      await this.#send(chunk)
      this.#checkSinks()
      const aheadMs = o.ratePerSec === 0 ? 0 : (this.#made / o.ratePerSec) * 1000 - (Date.now() - began)
      if (aheadMs > 0) await new Promise((resolve) => setTimeout(resolve, aheadMs))
    }
    await this.#capture.close()
    o.log(`${this.#made} changes published (${this.#published} records in all, ${seconds(Date.now() - began)}); ${this.#source.rows.size} rows live at the source`)
  }

  /** SIGKILL sink A, once it has committed something (so its restart resumes rather than starts over). */
  async #killA(): Promise<void> {
    const a = this.#a
    await until(async () => (await this.#admin.groupOffsets(a.options.groupId)).length > 0, { timeoutMs: this.#o.catchUpTimeoutMs, what: 'sink A to commit', check: () => this.#checkSinks() })
    await a.kill()
    const committed = (await this.#admin.groupOffsets(a.options.groupId)).reduce((n, p) => n + p.committed, 0n)
    this.#o.log(`${this.#made} changes: sink A killed (SIGKILL), its group's offsets at ${committed} of ${this.#published} records published`)
  }

  /** The source gains a column; capture is redeployed with the new schema; sink B starts. */
  async #migrate(): Promise<void> {
    await this.#capture.close()
    this.#source.migrate()
    this.#capture = new ChangeCapture<Account>(this.#strand, { ...this.#captureOptions, tables: { accounts: ACCOUNT_V2 } })
    await this.#capture.start()
    this.#o.log(`${this.#made} changes: the source adds column "tier" (default 'basic'); capture now writes Account v2`)
    this.#b.start()
    this.#o.log(`${this.#made} changes: sink B started, a new replica: bootstraps from the compacted topic, then follows`)
  }

  async #restartA(): Promise<void> {
    this.#a.start()
    this.#o.log(`${this.#made} changes: sink A restarted: resumes from its committed offsets`)
  }

  #checkSinks(): void {
    this.#a.check()
    this.#b.check()
  }

  /** True once the sink's group has committed every partition up to its high watermark. */
  async #caughtUp(sink: DemoSink): Promise<boolean> {
    const committed = await this.#admin.groupOffsets(sink.options.groupId)
    for (let partition = 0; partition < this.#o.partitions; partition++) {
      const { offset: end } = await this.#admin.listOffsets({ topic: this.#topic, partition, timestamp: 'latest' })
      const c = committed.find((x) => x.topic === this.#topic && x.partition === partition)?.committed ?? 0n
      if (c < end) return false
    }
    return true
  }

  async #compare(): Promise<DemoResult> {
    const o = this.#o
    const replicas: ReplicaReport[] = []
    for (const s of [this.#a, this.#b]) {
      const rows = (await JsonFileStore.open(s.options.file)).rows()
      replicas.push({ name: s.name, file: s.options.file, rows: rows.size, diff: diffTables(this.#source.rows, rows), stats: s.stats(), processes: s.processes.length })
    }
    for (const r of replicas) {
      const st = r.stats
      // A killed process's counters are its last report, up to a quarter second old.
      o.log(`sink ${r.name} (${r.processes} process${r.processes === 1 ? '' : 'es'}): read ${st.records} records of the ${this.#published} published, applied ${st.applied}, stale ${st.stale} (replays, and tombstones after their delete), ${st.commits} commits`)
    }
    for (const r of replicas) {
      const d = r.diff
      const verdict = isEmptyDiff(d)
        ? `equals the source, row by row (${r.rows} rows)`
        : `DIFFERS from the source: ${d.missing.length} missing, ${d.extra.length} extra, ${d.different.length} different (first: ${[...d.missing, ...d.extra, ...d.different].slice(0, 5).join(', ')})`
      o.log(`replica ${r.name} ${r.file}: ${verdict}`)
    }
    const ok = replicas.every((r) => isEmptyDiff(r.diff))
    return { topic: this.#topic, seed: o.seed, sourceRows: this.#source.rows.size, published: this.#published, replicas, ok, elapsedMs: Date.now() - this.#started }
  }
}
