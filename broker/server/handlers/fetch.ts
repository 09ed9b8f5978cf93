// Fetch: read from each requested partition up to its high watermark, and long-poll when there is
// less than minBytes: the request waits (bounded by maxWaitMs and FETCH_WAIT_MS_MAX) until an
// append to one of its partitions, then reads again.
//
// A fetch with replicaId >= 0 comes from a follower replica: it must carry the leader epoch it
// follows (FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH otherwise), reads up to the log end rather
// than the high watermark, and tells the leader the follower's log end offset (its fetch offset),
// which moves the high watermark. A follower learns the high watermark with its records; when the
// high watermark moved with no records to carry it, its long poll answers within
// HIGH_WATERMARK_NEWS_WAIT_MS (not at once, which cost a round trip per move). It waits under one registration for any change
// to a partition it replicates here, not one per partition it names (append-waiters.ts): a
// follower names every partition it follows from this leader, hundreds with many partitions.
//
// A consumer's fetch (replicaId < 0) is fenced by its leader epoch too when it sends one (KIP-320,
// leader-epoch.ts): a consumer whose metadata is stale is told so instead of being served by a
// broker it takes for another epoch's leader. -1 (an older client) is not checked.
//
// Size limits follow Kafka (KIP-74): partitionMaxBytes per partition and maxBytes per response,
// except that the first non-empty partition always returns at least one whole batch, so a
// consumer is never stuck behind a batch larger than its limits.
//
// A consumer's read_committed fetch (isolationLevel 1, KIP-98) reads only below the last stable
// offset and gets the aborted transactions overlapping what it read (v1 carries them). Every
// response's lastStableOffset is the partition's; replicas read to the log end as before.

import { errorCodeOf, StrandProtocolError, toWireCode } from '../../../client/protocol/errors.js'
import type { FetchRequest, FetchResponse } from '../../../client/protocol/messages/fetch.js'
import { batchSizeAt, readBatchHeader } from '../../../client/protocol/records.js'
import { partitionKey, type Waiter } from '../../replication/append-waiters.js'
import type { Partition } from '../../replication/partition.js'
import type { HandlerContext } from './context.js'
import { checkClientLeaderEpoch, checkLeaderEpoch } from './leader-epoch.js'

/** Bytes of a record batch header: the least a batch can take. */
const BATCH_HEADER_BYTES = 61
/** Longest a fetch may wait, whatever the client asks: bounds how long a request holds memory. */
export const FETCH_WAIT_MS_MAX = 30_000
/**
 * Longest a follower's fetch holds news of a moved high watermark back, waiting for records to
 * carry it: followers keep the high watermark within this of the leader's, without a round trip
 * per move (Kafka's followers hear it only with records or at replica.fetch.wait.max.ms).
 */
export const HIGH_WATERMARK_NEWS_WAIT_MS = 20
/** Fetch's isolationLevel for a read_committed consumer (0 is read_uncommitted). */
const READ_COMMITTED = 1
/** Largest response a fetch may ask for. */
export const FETCH_RESPONSE_BYTES_MAX = 64 * 1024 * 1024

type TopicResponse = FetchResponse['topics'][number]
type PartitionResponse = TopicResponse['partitions'][number]
type PartitionRequest = FetchRequest['topics'][number]['partitions'][number]

const FOLLOWER_LABELS = { fetcher: 'follower' }
const CONSUMER_LABELS = { fetcher: 'consumer' }

/** What a partition with nothing to return answers with: shared, a zero-length buffer has no bytes to share. */
const NO_RECORDS = Buffer.alloc(0)

interface ReadOutcome {
  topics: TopicResponse[]
  bytes: number
  errors: number
  /** A follower's partition whose high watermark moved past what the follower last heard. */
  highWatermarkNews: boolean
}

/** One request's reading state, threaded through `readOne` (one object per request, not per partition). */
interface ReadState {
  readonly replicaId: number
  /** A consumer's read_committed fetch. */
  readonly committed: boolean
  /** The first read of this request (not a re-read after a wake): the one that records the follower's fetch. */
  readonly first: boolean
  /** Bytes the response may still take. */
  remaining: number
  bytes: number
  errors: number
  highWatermarkNews: boolean
}

async function readAll(ctx: HandlerContext, req: FetchRequest, first: boolean): Promise<ReadOutcome> {
  const state: ReadState = { replicaId: req.replicaId, committed: req.replicaId < 0 && req.isolationLevel === READ_COMMITTED, first, remaining: Math.min(Math.max(req.maxBytes, 0), FETCH_RESPONSE_BYTES_MAX), bytes: 0, errors: 0, highWatermarkNews: false }
  const topics: TopicResponse[] = []
  for (const t of req.topics) {
    const partitions: PartitionResponse[] = []
    const bytesBefore = state.bytes
    for (const p of t.partitions) {
      const read = readOne(ctx, state, t.name, p)
      const out = read instanceof Promise ? await read : read
      if (out.errorCode !== 0) state.errors++
      if (state.bytes > 0 && out.records.length > state.remaining) out.records = NO_RECORDS
      state.bytes += out.records.length
      state.remaining -= out.records.length
      partitions.push(out)
    }
    // Counted per topic rather than per partition: each metric update is a label-key lookup.
    if (state.replicaId >= 0 && state.bytes > bytesBefore) ctx.metrics.inc('strand_replication_bytes_out_total', 'Record bytes sent to follower replicas, by topic.', { topic: t.name }, state.bytes - bytesBefore)
    topics.push({ name: t.name, partitions })
  }
  return { topics, bytes: state.bytes, errors: state.errors, highWatermarkNews: state.highWatermarkNews }
}

/** A follower's fetch: its epoch must be the leader's, and it must be one of the replicas. */
function checkReplicaFetch(partition: Partition, replicaId: number, currentLeaderEpoch: number): void {
  if (!partition.state.replicas.includes(replicaId)) {
    throw new StrandProtocolError('REPLICA_NOT_AVAILABLE', `Broker ${replicaId} is not a replica of ${partition.topic}-${partition.index}.`)
  }
  // Unlike a client's, a follower's -1 is fenced too: a replica always knows the epoch it follows.
  checkLeaderEpoch(partition, currentLeaderEpoch)
}

/** A follower's fetch of `partition` from `fetchOffset`: records how far it has come; sets `state.highWatermarkNews` when it has not heard the high watermark yet. */
function followerFetched(ctx: HandlerContext, state: ReadState, partition: Partition, p: PartitionRequest): void {
  checkReplicaFetch(partition, state.replicaId, p.currentLeaderEpoch)
  if (p.fetchOffset > partition.logEndOffset) {
    throw new StrandProtocolError('OFFSET_OUT_OF_RANGE', `Fetch offset ${p.fetchOffset} is past the leader's log end ${partition.logEndOffset}.`)
  }
  if (state.first) ctx.replicas.recordFollowerFetch(partition, state.replicaId, p.fetchOffset)
  const follower = partition.followers.get(state.replicaId)
  if (follower !== undefined) {
    if (partition.highWatermark > follower.lastSentHighWatermark) state.highWatermarkNews = true
    follower.lastSentHighWatermark = partition.highWatermark
  }
}

/**
 * One partition's answer: at once (no promise) when it has nothing to return, which is most
 * partitions of most fetches; a read of the log otherwise.
 */
function readOne(ctx: HandlerContext, state: ReadState, topic: string, p: PartitionRequest): PartitionResponse | Promise<PartitionResponse> {
  let partition: Partition | undefined
  try {
    if (p.partitionMaxBytes < 0) throw new StrandProtocolError('INVALID_FETCH_SIZE', `partitionMaxBytes was ${p.partitionMaxBytes}.`)
    partition = ctx.replicas.partition(topic, p.partition)
    const replica = state.replicaId >= 0
    if (replica) followerFetched(ctx, state, partition, p)
    else checkClientLeaderEpoch(partition, p.currentLeaderEpoch)
    // The first partition with records may take the whole response (at least one batch comes).
    const responseBytesLeft = state.bytes === 0 ? Math.max(state.remaining, 1) : state.remaining
    if (responseBytesLeft <= 0 || p.partitionMaxBytes === 0 || !partition.mayHaveRecordsAt(p.fetchOffset, { replica, committed: state.committed })) {
      return { partitionIndex: p.partition, errorCode: 0, highWatermark: partition.highWatermark, lastStableOffset: partition.lastStableOffset, logStartOffset: partition.logStartOffset, abortedTransactions: null, records: NO_RECORDS }
    }
    return readRecords(ctx, topic, p, partition, Math.max(1, Math.min(p.partitionMaxBytes, responseBytesLeft)), replica, state.committed)
  } catch (err) {
    return failed(ctx, topic, p, partition, err)
  }
}

async function readRecords(ctx: HandlerContext, topic: string, p: PartitionRequest, partition: Partition, maxBytes: number, replica: boolean, committed: boolean): Promise<PartitionResponse> {
  try {
    const r = await partition.read(p.fetchOffset, maxBytes, { replica, committed })
    if (r.records.length > 0 && !replica) {
      ctx.metrics.inc('strand_bytes_out_total', 'Record bytes sent to consumers, by topic.', { topic }, r.records.length)
      ctx.metrics.inc('strand_messages_out_total', 'Records sent to consumers, by topic (whole batches, as read).', { topic }, recordCount(r.records))
    }
    return { partitionIndex: p.partition, errorCode: 0, highWatermark: r.highWatermark, lastStableOffset: r.lastStableOffset, logStartOffset: r.logStartOffset, abortedTransactions: r.abortedTransactions, records: r.records }
  } catch (err) {
    return failed(ctx, topic, p, partition, err)
  }
}

/** A partition's answer carrying the error `err`. */
function failed(ctx: HandlerContext, topic: string, p: PartitionRequest, partition: Partition | undefined, err: unknown): PartitionResponse {
  if (!(err instanceof StrandProtocolError)) ctx.logger.error({ err, topic, partition: p.partition }, 'read failed')
  // A follower out of range needs the leader's log start to know which way to go.
  const known = partition !== undefined && toWireCode(err) === errorCodeOf('OFFSET_OUT_OF_RANGE')
  return {
    partitionIndex: p.partition,
    errorCode: toWireCode(err),
    highWatermark: known ? partition!.highWatermark : -1n,
    lastStableOffset: known ? partition!.lastStableOffset : -1n,
    logStartOffset: known ? partition!.logStartOffset : -1n,
    abortedTransactions: null,
    records: NO_RECORDS,
  }
}

/** Records in whole batches, from their headers (a trailing partial batch is not counted). */
function recordCount(records: Buffer): number {
  let count = 0
  let pos = 0
  while (pos + BATCH_HEADER_BYTES <= records.length) {
    const size = batchSizeAt(records, pos)
    if (pos + size > records.length) break
    count += readBatchHeader(records, pos).lastOffsetDelta + 1
    pos += size
  }
  return count
}

function respond(outcome: ReadOutcome): FetchResponse {
  return { throttleTimeMs: 0, errorCode: 0, topics: outcome.topics }
}

/**
 * A follower waits for any change to a partition it replicates (one registration, however many
 * partitions it fetches); a consumer for an append to one of the partitions it fetches.
 */
function waitFor(ctx: HandlerContext, req: FetchRequest, timeoutMs: number): Waiter | null {
  if (req.replicaId >= 0) return ctx.replicas.waiters.waitForReplica(req.replicaId, timeoutMs)
  return ctx.replicas.waiters.wait(req.topics.flatMap((t) => t.partitions.map((p) => partitionKey(t.name, p.partition))), timeoutMs)
}

export async function handleFetch(ctx: HandlerContext, req: FetchRequest): Promise<FetchResponse> {
  if (req.isolationLevel !== 0 && req.isolationLevel !== READ_COMMITTED) return { throttleTimeMs: 0, errorCode: errorCodeOf('INVALID_REQUEST'), topics: [] }
  const waitMs = Math.min(Math.max(req.maxWaitMs, 0), FETCH_WAIT_MS_MAX)
  if (waitMs === 0 || ctx.stopping()) return respond(await readAll(ctx, req, true))
  let deadline = ctx.clock() + waitMs
  for (let first = true; ; first = false) {
    // Register before reading: an append that lands between the read and the wait still wakes us.
    const registeredDeadline = deadline
    const waiter = waitFor(ctx, req, Math.max(0, deadline - ctx.clock()))
    const outcome = await readAll(ctx, req, first)
    // A follower's news of the high watermark alone waits a little for records to come with it:
    // answering at once cost a round trip per high-watermark move (two fetches per produce).
    if (outcome.highWatermarkNews) deadline = Math.min(deadline, ctx.clock() + HIGH_WATERMARK_NEWS_WAIT_MS)
    // minBytes 0 answers at once, even with nothing to return (Kafka semantics).
    const satisfied = outcome.bytes >= req.minBytes || outcome.errors > 0
    if (waiter === null || satisfied || ctx.stopping() || ctx.clock() >= deadline) {
      waiter?.cancel()
      return respond(outcome)
    }
    // Woken for nothing this fetch could return: each one is a read of every partition it names.
    if (!first) ctx.metrics.inc('strand_fetch_idle_wakeups_total', 'Long-polling fetches woken that found nothing more to return and waited again, by who fetched (follower or consumer).', req.replicaId >= 0 ? FOLLOWER_LABELS : CONSUMER_LABELS)
    // The waiter's own timer is for the deadline it was registered with; news may have brought it closer.
    const shortened = deadline < registeredDeadline ? setTimeout(() => waiter.cancel(), Math.max(0, deadline - ctx.clock())) : undefined
    const woken = await waiter.done
    clearTimeout(shortened)
    if (!woken || ctx.clock() >= deadline) return respond(await readAll(ctx, req, false))
  }
}
