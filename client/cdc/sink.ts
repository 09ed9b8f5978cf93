// A sink: applies a CDC topic's changes to target stores (store.ts), one per table, as a member
// of a consumer group. A new group starts at the topic's beginning, so a fresh sink bootstraps a
// replica from the compacted topic (each row's latest change, plus what compaction has not reached
// yet), then follows new changes. A known group resumes at its committed offsets.
//
//   const sink = new ChangeSink(strand, { topic: 'shop.cdc', groupId: 'replica-1', stores: { accounts: store } })
//   const running = sink.run()      // resolves after close(); rejects on an error it cannot retry
//   ...
//   await sink.close()
//
// Delivery is at-least-once, and the version rule (apply.ts) makes a change read twice harmless:
// - each change is applied only if newer than what the store holds for its key;
// - offsets are committed only after the stores flushed everything applied below them, at most
//   every flushIntervalMs (a timer, so a sink that goes idle still commits), after
//   pendingRecordsMax records, before a rebalance takes partitions away, and at close();
// - a crash between a flush and its commit replays those changes, which are then stale.
//
// A sink must keep up within the topic's delete.retention.ms: a sink further behind may find a
// row's DELETE and tombstone both compacted away, and keep the row (Kafka's rule for compacted
// topics). A replica whose store is lost must start over under a new group id.
//
// Isolation: the sink reads read_committed by default, because a sink must never apply a change
// of a source transaction (capture.transaction(), capture.ts) that aborted (its source rolled back,
// or crashed and was fenced) or that is still open (it may yet abort): a target would then hold a
// state the source never had, and the version rule could not undo it (no later change of those
// keys need ever come). Under read_committed a partition is read only up to its last stable offset,
// so an open transaction holds back what follows it on its partitions until it is decided (at most
// the source's transactionTimeoutMs). A committed transaction's changes are applied partition by
// partition: a target may show one partition's part before another's, never a part that can still
// be undone. On a topic no transactional capture writes, both levels read the same changes;
// `isolationLevel: 'read_uncommitted'` is for looking at what sources attempted, aborted and open
// transactions included.
// Transaction markers and aborted records take offsets the consumer never hands out. The sink
// commits each applied batch's nextOffset, past the markers fetched with it, so a sink resuming
// there reads nothing twice and a caught-up sink's group has no lag
// (test/cluster/cdc-transactions.test.ts). A fetch of only markers or aborted records hands out
// nothing, so what it skipped is committed with the partition's next applied change.

import type { Strand } from '../index.js'
import type { CommitOffset, Consumer, ConsumerBatch, ConsumerOptions, IsolationLevel, TopicPartition } from '../consumer/consumer.js'
import { ClosedError, IllegalStateError, InvalidArgumentError } from '../errors.js'
import { CommitFailedError } from '../group/errors.js'
import { applyRecord } from './apply.js'
import { checkTable } from './event.js'
import { RowDecoder, schemaTopicOf, TopicSchemaRegistry, type RowSchema, type SchemaLookup } from './schemas.js'
import type { TargetStore } from './store.js'

export interface ChangeSinkOptions {
  topic: string
  /** The sink's consumer group: its committed offsets are the sink's progress. */
  groupId: string
  /** Each table's target store; changes of other tables are counted as ignored. */
  stores: Record<string, TargetStore>
  /** Each table's reader schema: rows written with older schemas are resolved into it. Absent: rows as written. */
  readerSchemas?: Record<string, RowSchema>
  /** Where writer schemas come from. Default: the topic `<topic>.schemas`. */
  schemas?: SchemaLookup
  /** Longest time between applying a change and committing it. Default 200. */
  flushIntervalMs?: number
  /** Applied but uncommitted records at most: past it the loop flushes and commits before reading on. Default 10000. */
  pendingRecordsMax?: number
  /**
   * Which changes to apply: 'read_committed' (default) only those of committed source
   * transactions (and of non-transactional captures); 'read_uncommitted' every change in the log,
   * aborted and open transactions' included. See the header.
   */
  isolationLevel?: IsolationLevel
  /** Group timing and fetch sizes of the sink's consumer. */
  consumer?: Pick<ConsumerOptions, 'sessionTimeoutMs' | 'heartbeatIntervalMs' | 'rebalanceTimeoutMs' | 'maxWaitMs' | 'maxBytes' | 'partitionMaxBytes'>
}

export interface ChangeSinkStats {
  /** Records read: events and tombstones. */
  records: number
  /** Changes that were newer than the store's and were applied. */
  applied: number
  /** Changes not newer than the store's: replays, duplicates, a tombstone after its DELETE event. */
  stale: number
  /** Records of tables without a store here. */
  ignored: number
  /** Offset commits that succeeded, and that failed (their offsets are committed by a later one). */
  commits: number
  commitFailures: number
}

const DEFAULTS = {
  isolationLevel: 'read_committed',
  flushIntervalMs: 200,
  pendingRecordsMax: 10_000,
} as const

function tpKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`
}

function positiveInt(name: string, v: number | undefined, fallback: number): number {
  if (v === undefined) return fallback
  if (!Number.isInteger(v) || v < 1) throw new InvalidArgumentError(`${name} must be a positive integer, got ${v}.`)
  return v
}

export class ChangeSink {
  readonly topic: string
  readonly #consumer: Consumer
  readonly #stores: ReadonlyMap<string, TargetStore>
  readonly #rows: RowDecoder
  /** The schema reader this sink made (and closes), if it was not given one. */
  readonly #ownRegistry: TopicSchemaRegistry | null
  readonly #flushIntervalMs: number
  readonly #pendingRecordsMax: number
  /** Per partition, the offset after the last batch applied and not committed yet. */
  readonly #pending = new Map<string, CommitOffset>()
  /** Records in the batches behind #pending. */
  #pendingRecords = 0
  #flushTimer: NodeJS.Timeout | null = null
  /** Flush-and-commits run one at a time, in order, so an older offset never lands after a newer one. */
  #commitChain: Promise<void> = Promise.resolve()
  /** The batch being applied, which close() waits for. */
  #applying: Promise<void> | null = null
  readonly #stats: ChangeSinkStats = { records: 0, applied: 0, stale: 0, ignored: 0, commits: 0, commitFailures: 0 }
  #running = false
  #closing = false
  #closePromise: Promise<void> | null = null
  /** An error of the background flush, thrown from run(). */
  #failure: unknown = null

  constructor(strand: Strand, options: ChangeSinkOptions) {
    if (typeof options?.topic !== 'string' || options.topic.length === 0) throw new InvalidArgumentError('ChangeSink needs { topic }.')
    if (typeof options.stores !== 'object' || options.stores === null || Object.keys(options.stores).length === 0) {
      throw new InvalidArgumentError('ChangeSink needs { stores: { <table>: <store> } } with at least one table.')
    }
    for (const table of Object.keys(options.stores)) checkTable(table)
    this.topic = options.topic
    this.#stores = new Map(Object.entries(options.stores))
    this.#flushIntervalMs = positiveInt('flushIntervalMs', options.flushIntervalMs, DEFAULTS.flushIntervalMs)
    this.#pendingRecordsMax = positiveInt('pendingRecordsMax', options.pendingRecordsMax, DEFAULTS.pendingRecordsMax)
    this.#ownRegistry = options.schemas === undefined ? new TopicSchemaRegistry(strand, schemaTopicOf(options.topic)) : null
    this.#rows = new RowDecoder(options.schemas ?? (this.#ownRegistry as TopicSchemaRegistry), options.readerSchemas)
    this.#consumer = strand.consumer({ ...options.consumer, groupId: options.groupId, autoCommit: false, isolationLevel: options.isolationLevel ?? DEFAULTS.isolationLevel })
  }

  /** A copy of the counters. */
  stats(): ChangeSinkStats {
    return { ...this.#stats }
  }

  /**
   * Joins the group and applies changes until close(). Rejects on an error that retrying cannot
   * fix (an undecodable record, a store failure, a permanent group error); the sink is then closed,
   * with what was applied before the error flushed and committed.
   */
  async run(): Promise<void> {
    if (this.#running) throw new IllegalStateError('ChangeSink.run() is already running.')
    if (this.#closing) throw new ClosedError('ChangeSink')
    this.#running = true
    try {
      await this.#consumer.subscribe({ topics: [this.topic], fromBeginning: true, onRevoked: (partitions) => this.#onRevoked(partitions) })
      for await (const batch of this.#consumer) {
        if (this.#closing) break
        this.#applying = this.#applyBatch(batch)
        try {
          await this.#applying
        } finally {
          this.#applying = null
        }
        if (this.#failure !== null) break
      }
    } catch (err) {
      if (!(this.#closing && err instanceof ClosedError)) this.#failure ??= err
    } finally {
      this.#running = false
    }
    if (this.#failure !== null) {
      await this.close().catch(() => undefined)
      throw this.#failure
    }
  }

  /** Waits for the batch being applied, flushes the stores, commits, and leaves the group. */
  close(): Promise<void> {
    this.#closePromise ??= this.#close()
    return this.#closePromise
  }

  async #close(): Promise<void> {
    this.#closing = true
    await this.#applying?.catch(() => undefined)
    try {
      await this.#flushAndCommit()
    } finally {
      if (this.#flushTimer !== null) clearTimeout(this.#flushTimer)
      this.#flushTimer = null
      await this.#consumer.close()
      await this.#ownRegistry?.close()
    }
  }

  async #applyBatch(batch: ConsumerBatch): Promise<void> {
    const context = { stores: this.#stores, rows: this.#rows }
    for (const m of batch.messages) {
      const outcome = await applyRecord(m, context, { topic: batch.topic, partition: batch.partition, offset: m.offset })
      this.#stats.records++
      if (outcome === null) this.#stats.ignored++
      else this.#stats[outcome]++
    }
    const last = batch.messages[batch.messages.length - 1]
    if (last === undefined) return
    this.#pending.set(tpKey(batch.topic, batch.partition), { topic: batch.topic, partition: batch.partition, offset: batch.nextOffset })
    this.#pendingRecords += batch.messages.length
    if (this.#pendingRecords >= this.#pendingRecordsMax) await this.#flushAndCommit()
    else this.#scheduleFlush()
  }

  #scheduleFlush(): void {
    if (this.#flushTimer !== null || this.#closing) return
    this.#flushTimer = setTimeout(() => {
      this.#flushTimer = null
      this.#flushAndCommit().catch((err: unknown) => this.#fail(err))
    }, this.#flushIntervalMs)
  }

  /** A background flush failed: end the loop, and let run() throw it. */
  #fail(err: unknown): void {
    this.#failure ??= err
    if (!this.#closing) void this.#consumer.close().catch(() => undefined)
  }

  #flushAndCommit(): Promise<void> {
    const run = (): Promise<void> => this.#flushAndCommitNow()
    const next = this.#commitChain.then(run, run)
    this.#commitChain = next.catch(() => undefined)
    return next
  }

  /**
   * Flushes every store, then commits the offsets of what was applied before the flush began.
   * A failed commit puts its offsets back (unless a newer one is pending or the partition is gone)
   * for the next flush; a failed flush is the caller's error.
   */
  async #flushAndCommitNow(): Promise<void> {
    if (this.#flushTimer !== null) clearTimeout(this.#flushTimer)
    this.#flushTimer = null
    if (this.#pending.size === 0) return
    const offsets = [...this.#pending.values()]
    this.#pending.clear()
    this.#pendingRecords = 0
    // Called together, so each store's flush starts before any later change is applied.
    await Promise.all([...this.#stores.values()].map((s) => s.flush?.()))
    try {
      await this.#consumer.commit(offsets)
      this.#stats.commits++
    } catch (err) {
      if (!(err instanceof CommitFailedError)) throw err
      this.#stats.commitFailures++
      const assigned = new Set(this.#consumer.assignment().map((tp) => tpKey(tp.topic, tp.partition)))
      for (const r of err.results) {
        const key = tpKey(r.topic, r.partition)
        if (r.error !== null && assigned.has(key) && !this.#pending.has(key)) this.#pending.set(key, { topic: r.topic, partition: r.partition, offset: r.offset })
      }
      if (this.#pending.size > 0) this.#scheduleFlush()
    }
  }

  /** Before partitions go: make what was applied durable and commit it (best effort), then forget them. */
  async #onRevoked(partitions: TopicPartition[]): Promise<void> {
    await this.#flushAndCommit()
    for (const tp of partitions) this.#pending.delete(tpKey(tp.topic, tp.partition))
  }
}
