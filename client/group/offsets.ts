// Committed offsets and the high watermarks they are compared with: OffsetCommit, OffsetFetch and
// ListOffsets(latest), each retried as its errors allow. Shared by the consumer (commit, lag) and
// the admin client (groupOffsets).
//
// A committed offset is, as in Kafka, the offset of the NEXT record to read: a consumer that
// processed up to offset 41 commits 42, and a new owner of the partition starts at 42.

import { ApiKey } from '../protocol/apis.js'
import type { OffsetCommitRequest } from '../protocol/messages/groups.js'
import { backoffMs, needsMetadataRefresh, sleep, type Cluster, type RetryOptions } from '../cluster.js'
import { errorFromCode, StrandError, StrandProtocolError } from '../errors.js'
import { isCoordinatorError, type GroupCoordinator } from './coordinator.js'
import type { PartitionCommitResult } from './errors.js'

/** A member's place in the group; commits carry it so the coordinator can fence old generations. */
export interface GroupGeneration {
  generationId: number
  memberId: string
}

/** Not a group member: the commit of a consumer that assigns its partitions itself (assign()). */
export const NO_GENERATION: GroupGeneration = Object.freeze({ generationId: -1, memberId: '' })

/** No offset committed for the partition, on the wire. */
const NO_COMMITTED_OFFSET = -1n
/** ListOffsets' timestamp for the log end (the high watermark, for consumers). */
const LATEST_TIMESTAMP = -1n

export interface TopicPartitionOffsetValue {
  topic: string
  partition: number
  offset: bigint
}

export interface OffsetRequestOptions {
  retry: RetryOptions
  requestTimeoutMs: number
  /**
   * Retries after the first attempt; default retry.retriesMax. The consumer's own lookups pass
   * Infinity together with `cancelled`, since they run until they succeed or stop mattering.
   */
  retriesMax?: number
  /** Checked before each retry: true stops with the last error. */
  cancelled?: () => boolean
}

function key(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`
}

function byTopic<T extends { topic: string; partition: number }>(items: readonly T[]): Map<string, T[]> {
  const out = new Map<string, T[]>()
  for (const it of items) out.set(it.topic, [...(out.get(it.topic) ?? []), it])
  return out
}

function asStrandError(err: unknown): StrandError {
  if (err instanceof StrandError) return err
  return new StrandProtocolError('UNKNOWN_SERVER_ERROR', (err as Error)?.message ?? String(err), err)
}

/**
 * Commits `offsets` for the group as `generation`, retrying only the partitions whose error was
 * retriable (a coordinator move, a lost connection) and reporting every partition's outcome.
 * A non-retriable error (ILLEGAL_GENERATION...) is an outcome, not a throw: the caller decides.
 */
export async function commitOffsets(coordinator: GroupCoordinator, generation: GroupGeneration, offsets: readonly TopicPartitionOffsetValue[], options: OffsetRequestOptions): Promise<PartitionCommitResult[]> {
  // The last offset given for a partition wins, as with a map of offsets in Kafka.
  let pending = [...new Map(offsets.map((o) => [key(o.topic, o.partition), o])).values()]
  const done = new Map<string, PartitionCommitResult>()
  const retriesMax = options.retriesMax ?? options.retry.retriesMax
  for (let retry = 0; pending.length > 0; retry++) {
    const failed = await commitOnce(coordinator, generation, pending, options.requestTimeoutMs)
    const again: TopicPartitionOffsetValue[] = []
    for (const o of pending) {
      const err = failed.get(key(o.topic, o.partition)) ?? null
      const last = retry >= retriesMax || options.cancelled?.() === true
      if (err !== null && err.retriable && !last) again.push(o)
      else done.set(key(o.topic, o.partition), { topic: o.topic, partition: o.partition, offset: o.offset, error: err })
    }
    pending = again
    if (pending.length > 0) await sleep(backoffMs(options.retry, retry + 1))
  }
  return offsets.map((o) => done.get(key(o.topic, o.partition)) as PartitionCommitResult).filter((r, i, all) => all.indexOf(r) === i)
}

/** One OffsetCommit; returns the partitions that failed and why (absent: committed). */
async function commitOnce(coordinator: GroupCoordinator, generation: GroupGeneration, offsets: readonly TopicPartitionOffsetValue[], timeoutMs: number): Promise<Map<string, StrandError>> {
  const failed = new Map<string, StrandError>()
  const body: OffsetCommitRequest = {
    groupId: coordinator.groupId,
    generationId: generation.generationId,
    memberId: generation.memberId,
    groupInstanceId: null,
    topics: [...byTopic(offsets)].map(([name, list]) => ({
      name,
      partitions: list.map((o) => ({ partitionIndex: o.partition, committedOffset: o.offset, committedLeaderEpoch: -1, committedMetadata: null })),
    })),
  }
  try {
    const res = await coordinator.request(ApiKey.OffsetCommit, body, { timeoutMs })
    const codes = new Map<string, number>()
    for (const t of res.topics) for (const p of t.partitions) codes.set(key(t.name, p.partitionIndex), p.errorCode)
    let coordinatorMoved = false
    for (const o of offsets) {
      const code = codes.get(key(o.topic, o.partition))
      const err = code === undefined ? new StrandProtocolError('UNKNOWN_SERVER_ERROR', `The OffsetCommit response has no result for ${o.topic}-${o.partition}.`) : errorFromCode(code)
      if (err === null) continue
      failed.set(key(o.topic, o.partition), err)
      coordinatorMoved ||= isCoordinatorError(err)
    }
    if (coordinatorMoved) coordinator.reset()
  } catch (err) {
    for (const o of offsets) failed.set(key(o.topic, o.partition), asStrandError(err))
  }
  return failed
}

/**
 * The group's committed offsets: of `partitions`, or every partition it committed (null).
 * A partition without a committed offset has offset null.
 */
export async function fetchCommitted(coordinator: GroupCoordinator, partitions: ReadonlyArray<{ topic: string; partition: number }> | null, options: OffsetRequestOptions): Promise<Array<{ topic: string; partition: number; offset: bigint | null }>> {
  const topics = partitions === null ? null : [...byTopic(partitions)].map(([name, list]) => ({ name, partitionIndexes: list.map((p) => p.partition) }))
  return retrying(options, async () => {
    const res = await coordinator.request(ApiKey.OffsetFetch, { groupId: coordinator.groupId, topics }, { timeoutMs: options.requestTimeoutMs })
    const top = errorFromCode(res.errorCode, `Group "${coordinator.groupId}".`)
    if (top !== null) throw top
    const out: Array<{ topic: string; partition: number; offset: bigint | null }> = []
    for (const t of res.topics) {
      for (const p of t.partitions) {
        const err = errorFromCode(p.errorCode, `${t.name}-${p.partitionIndex}.`)
        if (err !== null) throw err
        out.push({ topic: t.name, partition: p.partitionIndex, offset: p.committedOffset === NO_COMMITTED_OFFSET ? null : p.committedOffset })
      }
    }
    return out
  }, (err) => {
    if (isCoordinatorError(err)) coordinator.reset()
  })
}

/**
 * Each partition's high watermark (the offset after the last record a consumer can read); with
 * `isolationLevel` 1 (read_committed), its last stable offset instead (the first offset of its
 * oldest open transaction, else the high watermark).
 */
export async function highWatermarks(cluster: Cluster, partitions: ReadonlyArray<{ topic: string; partition: number }>, options: OffsetRequestOptions, isolationLevel = 0): Promise<Map<string, bigint>> {
  const found = new Map<string, bigint>()
  await retrying(options, async () => {
    const missing = partitions.filter((p) => !found.has(key(p.topic, p.partition)))
    const byLeader = new Map<number, Array<{ topic: string; partition: number }>>()
    for (const p of missing) {
      const leader = await cluster.leaderFor(p.topic, p.partition, { retry: false })
      byLeader.set(leader, [...(byLeader.get(leader) ?? []), p])
    }
    const errors = await Promise.all([...byLeader].map(([leader, list]) => listLatest(cluster, leader, list, found, { timeoutMs: options.requestTimeoutMs, isolationLevel })))
    const first = errors.find((e) => e !== null)
    if (first !== undefined && first !== null) throw first
  }, (err) => {
    if (needsMetadataRefresh(err)) cluster.invalidate()
  })
  return found
}

/**
 * ListOffsets(latest) on one leader; fills `found`, returns the first error (or null). Each
 * partition carries its cached leader epoch: a leader at another one refuses it (KIP-320), and the
 * retry asks fresh metadata first.
 */
async function listLatest(cluster: Cluster, leader: number, list: ReadonlyArray<{ topic: string; partition: number }>, found: Map<string, bigint>, options: { timeoutMs: number; isolationLevel: number }): Promise<StrandError | null> {
  try {
    const res = await cluster.connectionTo(leader).request(
      ApiKey.ListOffsets,
      {
        replicaId: -1,
        isolationLevel: options.isolationLevel,
        topics: [...byTopic(list)].map(([name, ps]) => ({ name, partitions: ps.map((p) => ({ partitionIndex: p.partition, currentLeaderEpoch: cluster.cachedLeaderEpoch(p.topic, p.partition), timestamp: LATEST_TIMESTAMP })) })),
      },
      { timeoutMs: options.timeoutMs },
    )
    let first: StrandError | null = null
    for (const t of res.topics) {
      for (const p of t.partitions) {
        const err = errorFromCode(p.errorCode, `${t.name}-${p.partitionIndex}.`)
        if (err === null) found.set(key(t.name, p.partitionIndex), p.offset)
        else first ??= err
      }
    }
    return first
  } catch (err) {
    return asStrandError(err)
  }
}

async function retrying<T>(options: OffsetRequestOptions, attempt: () => Promise<T>, onError: (err: StrandError) => void): Promise<T> {
  const retriesMax = options.retriesMax ?? options.retry.retriesMax
  for (let retry = 0; ; retry++) {
    try {
      return await attempt()
    } catch (e) {
      const err = asStrandError(e)
      onError(err)
      if (!err.retriable || retry >= retriesMax || options.cancelled?.() === true) throw err
      await sleep(backoffMs(options.retry, retry + 1))
    }
  }
}

export { key as offsetKey }
