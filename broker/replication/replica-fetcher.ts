// A follower's fetcher: one per source (leader) broker, fetching every partition this broker
// follows from it in one long-polling Fetch request at a time (Kafka's ReplicaFetcherThread).
//
// A partition joins in the `truncating` state: before its first fetch it asks the leader, with
// OffsetsForLeaderEpoch, where this replica's latest leader epoch ends in the leader's log, and
// truncates its own log there (KIP-101 / KIP-279), repeating with the next older epoch until the
// two logs agree on an epoch. Only then does it fetch, from its log end, and append the leader's
// batches unchanged. A fetch error on one partition backs only that partition off; a connection
// error backs the whole fetcher off, then it reconnects.
//
// With hundreds of partitions per leader, what a round costs per partition matters: the answers
// are matched without building key strings, the partitions of a response are appended
// concurrently, and partitions that join (a new topic, a leader move) are readied off the fetch
// loop (#prepare) and not left behind a long poll (JOINING_WINDOW_MS).

import type { Logger } from 'pino'
import { Connection } from '../../client/net/connection.js'
import type { SecurityOptions } from '../../client/net/security.js'
import { ApiKey } from '../../client/protocol/apis.js'
import { errorCodeOf, nameOfCode } from '../../client/protocol/errors.js'
import type { FetchRequest, FetchResponse } from '../../client/protocol/messages/fetch.js'
import { Limiter } from './bounded.js'
import type { Partition } from './partition.js'

/** Truncation rounds per partition before giving up for a backoff: each round drops one epoch. */
const TRUNCATION_ROUNDS_MAX = 1000
/**
 * Partitions without leader epochs readied at once (in the background, see #prepare). Each is a
 * file write with two fsyncs for a new partition (Partition.prepareToFollow); a new 600-partition
 * topic brings 200 per fetcher, and fsyncs issued 16 at a time cost less than half as much each
 * (0.25 ms against 0.65 ms on this machine's disk) as fsyncs issued one after another.
 */
const PREPARATIONS_INFLIGHT_MAX = 16
/**
 * A partition added while a fetch is in flight joins only at the next fetch, and the leader holds
 * a long poll for the whole wait (replica.fetch.wait.max.ms, 500 ms by default) unless something
 * it replicates changes there first; every acks=all produce to the new partition waits as long.
 * Adds come in bursts (a new topic, a leader moving: as fast as the metadata sync goes, 1-2 s for
 * 600 partitions on a 2-core machine), so for this long after an add the fetcher polls with at
 * most JOINING_WAIT_MS instead.
 */
const JOINING_WINDOW_MS = 1000
const JOINING_WAIT_MS = 20

/** The Fetch version followers send (see the request). */
const REPLICA_FETCH_VERSION = 0

export interface FetcherOptions {
  nodeId: number
  sourceId: number
  host: string
  port: number
  waitMsMax: number
  partitionMaxBytes: number
  responseBytesMax: number
  backoffMs: number
  frameBytesMax: number
  /** TLS and SASL of the connection to the leader. */
  security: SecurityOptions
  clock: () => number
  logger: Logger
  /** Called after appends, so long polls and acks waiting on this broker can move. */
  onAppended: (partition: Partition) => void
}

interface Followed {
  partition: Partition
  /** The leader epoch this fetcher follows it at; a newer one re-enters truncation. */
  leaderEpoch: number
  /** `preparing`: being readied in the background, fetched once that is done (#prepare). */
  state: 'truncating' | 'preparing' | 'fetching'
  /** No fetch before this time (after an error on this partition). */
  delayedUntil: number
}

type PartitionRequest = FetchRequest['topics'][number]['partitions'][number]

/** A partition in a fetch request: its entry in the request, updated each round. */
interface PlanEntry {
  readonly f: Followed
  readonly request: PartitionRequest
  /** The last round that handled its answer. */
  round: number
}

/** A fetch request for a set of ready partitions, with the lookup its answers are matched through. */
interface FetchPlan {
  /** In the order of ReplicaFetcher's partitions, which is how #planFor tells the set changed. */
  readonly entries: PlanEntry[]
  readonly topics: FetchRequest['topics']
  readonly byTopic: Map<string, Map<number, PlanEntry>>
}

function buildPlan(ready: readonly Followed[], partitionMaxBytes: number): FetchPlan {
  const entries: PlanEntry[] = []
  const topics: FetchRequest['topics'] = []
  const byTopic = new Map<string, Map<number, PlanEntry>>()
  const partitionsOf = new Map<string, PartitionRequest[]>()
  for (const f of ready) {
    const p = f.partition
    const request: PartitionRequest = { partition: p.index, currentLeaderEpoch: f.leaderEpoch, fetchOffset: p.logEndOffset, logStartOffset: p.logStartOffset, partitionMaxBytes }
    const entry: PlanEntry = { f, request, round: 0 }
    entries.push(entry)
    let list = partitionsOf.get(p.topic)
    if (list === undefined) {
      list = []
      partitionsOf.set(p.topic, list)
      topics.push({ name: p.topic, partitions: list })
      byTopic.set(p.topic, new Map())
    }
    list.push(request)
    byTopic.get(p.topic)!.set(p.index, entry)
  }
  return { entries, topics, byTopic }
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
  /** Clock time a partition last joined: was added (or re-added at a new epoch), or became ready to fetch. */
  #lastJoinMs = -Infinity
  readonly #preparations = new Limiter(PREPARATIONS_INFLIGHT_MAX)
  /** The last round's request, reused while the same partitions are ready (#planFor). */
  #plan: FetchPlan | null = null
  /** Fetch rounds so far: marks which partitions of a response were already handled. */
  #round = 0

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
      requestTimeoutMs: options.waitMsMax + 10_000,
      inflightRequestsMax: 1,
      frameBytesMax: options.frameBytesMax,
      security: options.security,
    })
  }

  get size(): number {
    return this.#partitions.size
  }

  /** Follows `partition` at its current leader epoch (again from truncation when the epoch is new). */
  add(partition: Partition): void {
    const known = this.#partitions.get(partition.key)
    if (known !== undefined && known.leaderEpoch === partition.leaderEpoch) return
    this.#partitions.set(partition.key, { partition, leaderEpoch: partition.leaderEpoch, state: 'truncating', delayedUntil: 0 })
    this.#lastJoinMs = this.#options.clock()
    this.#start()
  }

  remove(partition: Partition): void {
    this.#partitions.delete(partition.key)
  }

  has(partition: Partition): boolean {
    return this.#partitions.get(partition.key)?.partition === partition
  }

  #start(): void {
    this.#wake?.()
    if (this.#running || this.#closed) return
    this.#running = true
    void this.#loop()
  }

  async #loop(): Promise<void> {
    try {
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
    } finally {
      // In the same step as the last check of the loop's condition: cleared a microtask later (in
      // a .finally() of the promise), an add() in between saw the loop running and started none,
      // and the new partition was not fetched until the next add().
      this.#running = false
    }
  }

  #nextDelayMs(): number {
    const now = this.#options.clock()
    let soonest = Infinity
    // A partition being prepared wakes the loop when it is ready.
    for (const f of this.#partitions.values()) if (f.state !== 'preparing') soonest = Math.min(soonest, f.delayedUntil - now)
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
    const ready: Followed[] = []
    for (const f of this.#partitions.values()) if (f.state === state && f.delayedUntil <= now) ready.push(f)
    return ready
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
        if (f.partition.epochs.latestEpoch >= 0) {
          asking.push(f)
        } else {
          f.state = 'preparing'
          void this.#prepare(f)
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
          if (f === undefined || this.#partitions.get(f.partition.key) !== f) continue
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
   * Readies a partition with nothing to compare with the leader (an empty log, or one written
   * before epochs were kept) in the background, then lets it be fetched. The high watermark is
   * the most such a replica can know was committed, so its log is cut there; a new partition gets
   * its first epoch entry (Partition.prepareToFollow). Neither waits in the fetch loop: a new
   * 600-partition topic brings 200 fsynced files per fetcher, and readying them in the loop held
   * up every partition already being fetched, for up to 300 ms at a time while the brokers were
   * busy creating the topic. Its records come only after this, so the entry is on disk first.
   */
  async #prepare(f: Followed): Promise<void> {
    const p = f.partition
    try {
      await this.#preparations.run(async () => {
        if (this.#stillFollows(f) && p.logEndOffset > p.highWatermark) await p.truncateTo(p.highWatermark)
        if (this.#stillFollows(f)) await p.prepareToFollow(f.leaderEpoch)
      })
      if (f.state === 'preparing') f.state = 'fetching'
      this.#lastJoinMs = this.#options.clock()
    } catch (err) {
      if (this.#closed) return
      this.#logger.warn({ topic: p.topic, partition: p.index, err: (err as Error).message }, 'could not ready the partition for fetching; retrying after a backoff')
      f.state = 'truncating'
      this.#backOff(f)
    }
    this.#wake?.()
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
    return this.#partitions.get(f.partition.key) === f && !f.partition.isLeader && f.partition.leaderEpoch === f.leaderEpoch
  }

  /**
   * The request for every partition ready to fetch, kept from round to round while that set stays
   * the same (only the offsets in it are updated): rebuilding it, and the lookup the answers are
   * matched through, was a fifth of what a follower allocated at 10,000 records/s. Null when no
   * partition is ready.
   */
  #planFor(now: number): FetchPlan | null {
    const plan = this.#plan
    let n = 0
    let same = plan !== null
    for (const f of this.#partitions.values()) {
      if (f.state !== 'fetching' || f.delayedUntil > now) continue
      if (same && plan!.entries[n]?.f !== f) same = false
      n++
    }
    if (same && n === plan!.entries.length) return plan
    this.#plan = n === 0 ? null : buildPlan(this.#ready('fetching'), this.#options.partitionMaxBytes)
    return this.#plan
  }

  /** One Fetch for every partition ready to fetch. Returns false when none was. */
  async #fetchOnce(): Promise<boolean> {
    const plan = this.#planFor(this.#options.clock())
    if (plan === null) return false
    const joining = this.#options.clock() - this.#lastJoinMs < JOINING_WINDOW_MS
    const waitMsMax = joining ? Math.min(JOINING_WAIT_MS, this.#options.waitMsMax) : this.#options.waitMsMax
    // Every append of the last round has settled (below), fsync included under fsync: always,
    // so the log end named here is durable on this follower: what the leader counts toward acks=all.
    for (const e of plan.entries) {
      e.request.fetchOffset = e.f.partition.logEndOffset
      e.request.logStartOffset = e.f.partition.logStartOffset
    }
    const round = ++this.#round
    const res: FetchResponse = await this.#connection.request(
      ApiKey.Fetch,
      { replicaId: this.#options.nodeId, maxWaitMs: waitMsMax, minBytes: 1, maxBytes: this.#options.responseBytesMax, isolationLevel: 0, topics: plan.topics },
      // v0 always: a follower reads to the log end and has no use for v1's aborted transactions,
      // and a fixed version needs no ApiVersions round trip to the leader.
      { timeoutMs: waitMsMax + 10_000, apiVersion: REPLICA_FETCH_VERSION },
    )
    // The partitions are handled concurrently: each one's append is a file write, and awaiting
    // them one after another made a round over hundreds of partitions as long as the sum of their
    // thread-pool round trips, all of it added to the latency of every acks=all produce. Each log
    // orders its own appends; every handling settles before the next fetch reads the log ends.
    let handled: Promise<void>[] | null = null
    for (const t of res.topics) {
      const byIndex = plan.byTopic.get(t.name)
      if (byIndex === undefined) continue
      for (const r of t.partitions) {
        const e = byIndex.get(r.partitionIndex)
        if (e === undefined || e.round === round || e.f.state !== 'fetching') continue
        e.round = round // a partition answered twice is handled once
        let work: Promise<void> | undefined
        try {
          work = this.#handle(e.f, r)
        } catch (err) {
          // Like a failed append: the other partitions' appends are still awaited first.
          work = Promise.reject(err as Error)
        }
        if (work !== undefined) (handled ??= []).push(work)
      }
    }
    if (handled === null) return true
    const failure = (await Promise.allSettled(handled)).find((o) => o.status === 'rejected')
    if (failure !== undefined) throw failure.reason
    return true
  }

  /** Handles one partition's answer; a promise only when there is an append or other I/O to wait for. */
  #handle(f: Followed, r: FetchResponse['topics'][number]['partitions'][number]): Promise<void> | undefined {
    const p = f.partition
    if (!this.#stillFollows(f)) return undefined
    if (r.errorCode === 0 && r.records.length === 0) {
      if (p.updateFollowerHighWatermark(r.highWatermark)) this.#options.onAppended(p)
      return undefined
    }
    return this.#handleWith(f, r)
  }

  async #handleWith(f: Followed, r: FetchResponse['topics'][number]['partitions'][number]): Promise<void> {
    const p = f.partition
    if (r.errorCode === 0) {
      await p.appendAsFollower(r.records)
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
