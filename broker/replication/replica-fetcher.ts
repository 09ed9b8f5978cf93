// A follower's fetcher: one per source (leader) broker, fetching every partition this broker
// follows from it in one long-polling Fetch request at a time (Kafka's ReplicaFetcherThread).
//
// A partition joins in the `truncating` state: before its first fetch it asks the leader, with
// OffsetsForLeaderEpoch, where this replica's latest leader epoch ends in the leader's log, and
// truncates its own log there (KIP-101 / KIP-279), repeating with the next older epoch until the
// two logs agree on an epoch. Only then does it fetch, from its log end, and append the leader's
// batches unchanged. A fetch error on one partition backs only that partition off; a connection
// error backs the whole fetcher off, then it reconnects.

import type { Logger } from 'pino'
import { Connection } from '../../client/connection.js'
import { ApiKey } from '../../client/protocol/apis.js'
import { errorCodeOf, nameOfCode } from '../../client/protocol/errors.js'
import type { FetchResponse } from '../../client/protocol/messages/fetch.js'
import type { Partition } from './partition.js'

/** Truncation rounds per partition before giving up for a backoff: each round drops one epoch. */
const TRUNCATION_ROUNDS_MAX = 1000

export interface FetcherOptions {
  nodeId: number
  sourceId: number
  host: string
  port: number
  waitMaxMs: number
  partitionMaxBytes: number
  responseMaxBytes: number
  backoffMs: number
  frameBytesMax: number
  clock: () => number
  logger: Logger
  /** Called after appends, so long polls and acks waiting on this broker can move. */
  onAppended: (partition: Partition) => void
}

interface Followed {
  partition: Partition
  /** The leader epoch this fetcher follows it at; a newer one re-enters truncation. */
  leaderEpoch: number
  state: 'truncating' | 'fetching'
  /** No fetch before this time (after an error on this partition). */
  delayedUntil: number
}

export class ReplicaFetcher {
  readonly sourceId: number
  readonly address: string
  readonly #options: FetcherOptions
  readonly #logger: Logger
  readonly #partitions = new Map<string, Followed>()
  readonly #connection: Connection
  #running = false
  #closed = false
  /** Wakes the loop when it sleeps for lack of partitions or after an error. */
  #wake: (() => void) | null = null

  constructor(options: FetcherOptions) {
    this.#options = options
    this.sourceId = options.sourceId
    this.address = `${options.host}:${options.port}`
    this.#logger = options.logger.child({ subsystem: 'fetcher', sourceId: options.sourceId })
    this.#connection = new Connection({
      host: options.host,
      port: options.port,
      clientId: `replica-${options.nodeId}`,
      connectTimeoutMs: 5000,
      requestTimeoutMs: options.waitMaxMs + 10_000,
      inflightRequestsMax: 1,
      frameBytesMax: options.frameBytesMax,
    })
  }

  get size(): number {
    return this.#partitions.size
  }

  /** Follows `partition` at its current leader epoch (again from truncation when the epoch is new). */
  add(partition: Partition): void {
    const key = `${partition.topic}/${partition.index}`
    const known = this.#partitions.get(key)
    if (known !== undefined && known.leaderEpoch === partition.leaderEpoch) return
    this.#partitions.set(key, { partition, leaderEpoch: partition.leaderEpoch, state: 'truncating', delayedUntil: 0 })
    this.#start()
  }

  remove(partition: Partition): void {
    this.#partitions.delete(`${partition.topic}/${partition.index}`)
  }

  has(partition: Partition): boolean {
    return this.#partitions.get(`${partition.topic}/${partition.index}`)?.partition === partition
  }

  #start(): void {
    this.#wake?.()
    if (this.#running || this.#closed) return
    this.#running = true
    void this.#loop().finally(() => (this.#running = false))
  }

  async #loop(): Promise<void> {
    while (!this.#closed && this.#partitions.size > 0) {
      try {
        await this.#truncateAll()
        const fetched = await this.#fetchOnce()
        if (!fetched) await this.#sleep(this.#nextDelayMs())
      } catch (err) {
        if (this.#closed) return
        this.#logger.debug({ err: (err as Error).message }, 'fetch from the leader failed; backing off')
        await this.#sleep(this.#options.backoffMs)
      }
    }
  }

  #nextDelayMs(): number {
    const now = this.#options.clock()
    let soonest = Infinity
    for (const f of this.#partitions.values()) soonest = Math.min(soonest, f.delayedUntil - now)
    return Math.max(1, Math.min(this.#options.backoffMs, soonest))
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms)
      function done(): void {
        clearTimeout(timer)
        resolve()
      }
      this.#wake = () => {
        this.#wake = null
        done()
      }
    })
  }

  #ready(state: Followed['state']): Followed[] {
    const now = this.#options.clock()
    return [...this.#partitions.values()].filter((f) => f.state === state && f.delayedUntil <= now)
  }

  #backOff(f: Followed): void {
    f.delayedUntil = this.#options.clock() + this.#options.backoffMs
  }

  /** Truncates every partition in the `truncating` state to where it agrees with the leader. */
  async #truncateAll(): Promise<void> {
    let pending = this.#ready('truncating')
    for (let round = 0; pending.length > 0 && round < TRUNCATION_ROUNDS_MAX; round++) {
      const asking: Followed[] = []
      for (const f of pending) {
        const p = f.partition
        if (p.epochs.latestEpoch < 0) {
          // Nothing to compare: an empty log, or one written before epochs were kept. The high
          // watermark is the most this replica can know was committed.
          if (p.logEndOffset > p.highWatermark) await p.truncateTo(p.highWatermark)
          f.state = 'fetching'
        } else {
          asking.push(f)
        }
      }
      if (asking.length === 0) return
      const res = await this.#connection.request(ApiKey.OffsetsForLeaderEpoch, {
        replicaId: this.#options.nodeId,
        topics: groupByTopic(asking, (f) => ({ partition: f.partition.index, currentLeaderEpoch: f.leaderEpoch, leaderEpoch: f.partition.epochs.latestEpoch })),
      })
      const next: Followed[] = []
      for (const t of res.topics) {
        for (const r of t.partitions) {
          const f = asking.find((a) => a.partition.topic === t.name && a.partition.index === r.partition)
          if (f === undefined || this.#partitions.get(`${t.name}/${r.partition}`) !== f) continue
          if (r.errorCode !== 0) {
            this.#logger.debug({ topic: t.name, partition: r.partition, error: nameOfCode(r.errorCode) }, 'the leader cannot answer for its epochs yet')
            this.#backOff(f)
            continue
          }
          if (await this.#truncateTo(f, r.leaderEpoch, r.endOffset)) f.state = 'fetching'
          else next.push(f)
        }
      }
      pending = next
    }
  }

  /**
   * One round of truncation against the leader's answer for our latest epoch. Returns true when
   * the logs now agree (the leader's epoch is one this replica has), false to ask again with the
   * next older epoch.
   */
  async #truncateTo(f: Followed, leaderEpoch: number, leaderEndOffset: bigint): Promise<boolean> {
    const p = f.partition
    if (!this.#stillFollows(f)) return true
    const before = p.logEndOffset
    if (leaderEpoch < 0 && leaderEndOffset < 0n) {
      if (before > p.highWatermark) await p.truncateTo(p.highWatermark)
      return true
    }
    if (leaderEpoch < 0) {
      if (leaderEndOffset < before) await p.truncateTo(leaderEndOffset)
      return true
    }
    const own = p.epochs.endOffsetFor(leaderEpoch, before)
    const target = [leaderEndOffset, own.endOffset, before].reduce((a, b) => (b < a ? b : a))
    if (target < before) {
      await p.truncateTo(target)
      this.#logger.info({ topic: p.topic, partition: p.index, from: String(before), to: String(target), leaderEpoch }, 'truncated to where the log agrees with the leader')
    }
    return own.epoch === leaderEpoch || p.epochs.latestEpoch < 0
  }

  /** The answer is still for the partition as we follow it (no role or epoch change while it was in flight). */
  #stillFollows(f: Followed): boolean {
    return this.#partitions.get(`${f.partition.topic}/${f.partition.index}`) === f && !f.partition.isLeader && f.partition.leaderEpoch === f.leaderEpoch
  }

  /** One Fetch for every partition ready to fetch. Returns false when none was. */
  async #fetchOnce(): Promise<boolean> {
    const fetching = this.#ready('fetching')
    if (fetching.length === 0) return false
    const { waitMaxMs, partitionMaxBytes, responseMaxBytes } = this.#options
    const res: FetchResponse = await this.#connection.request(
      ApiKey.Fetch,
      {
        replicaId: this.#options.nodeId,
        maxWaitMs: waitMaxMs,
        minBytes: 1,
        maxBytes: responseMaxBytes,
        isolationLevel: 0,
        topics: groupByTopic(fetching, (f) => ({
          partition: f.partition.index,
          currentLeaderEpoch: f.leaderEpoch,
          fetchOffset: f.partition.logEndOffset,
          logStartOffset: f.partition.logStartOffset,
          partitionMaxBytes,
        })),
      },
      { timeoutMs: waitMaxMs + 10_000 },
    )
    for (const t of res.topics) {
      for (const r of t.partitions) {
        const f = this.#partitions.get(`${t.name}/${r.partitionIndex}`)
        if (f === undefined || f.state !== 'fetching' || !fetching.includes(f)) continue
        await this.#handle(f, r)
      }
    }
    return true
  }

  async #handle(f: Followed, r: FetchResponse['topics'][number]['partitions'][number]): Promise<void> {
    const p = f.partition
    if (!this.#stillFollows(f)) return
    if (r.errorCode === 0) {
      if (r.records.length > 0) {
        await p.appendAsFollower(r.records)
      }
      p.updateFollowerHighWatermark(r.highWatermark)
      this.#options.onAppended(p)
      return
    }
    if (r.errorCode === errorCodeOf('OFFSET_OUT_OF_RANGE')) {
      if (r.logStartOffset > p.logEndOffset) {
        this.#logger.warn({ topic: p.topic, partition: p.index, logEndOffset: String(p.logEndOffset), leaderLogStartOffset: String(r.logStartOffset) }, 'behind the leader\'s log start; restarting the log there')
        await p.truncateFullyAndStartAt(r.logStartOffset)
      } else {
        // Past the leader's log end: this replica has a tail the leader does not. Truncate again.
        f.state = 'truncating'
      }
      return
    }
    this.#logger.debug({ topic: p.topic, partition: p.index, error: nameOfCode(r.errorCode) }, 'fetch refused; waiting for metadata to catch up')
    this.#backOff(f)
  }

  close(): void {
    this.#closed = true
    this.#partitions.clear()
    this.#wake?.()
    this.#connection.close()
  }
}

function groupByTopic<T>(items: readonly Followed[], fn: (f: Followed) => T): { name: string; partitions: T[] }[] {
  const byTopic = new Map<string, T[]>()
  for (const f of items) {
    const list = byTopic.get(f.partition.topic) ?? []
    list.push(fn(f))
    byTopic.set(f.partition.topic, list)
  }
  return [...byTopic].map(([name, partitions]) => ({ name, partitions }))
}
