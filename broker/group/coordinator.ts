// The group coordinator (Kafka's GroupCoordinator): membership, generations and committed offsets
// of the consumer groups whose `__consumer_offsets` partition this broker leads.
//
// A group's partition is `abs(javaHashCode(groupId)) % partitions`, as in Kafka, so every broker
// agrees on the coordinator without asking anyone. When this broker becomes the leader of an
// offsets partition it replays the partition's records (committed offsets and the last generation
// of each group) before answering for its groups (COORDINATOR_LOAD_IN_PROGRESS meanwhile); when it
// stops leading one, its groups are dropped and clients are told NOT_COORDINATOR.
//
// This module routes each request to its group and owns loading and offsets; membership (Kafka's
// state machine of Join/Sync/Heartbeat/Leave) is membership.ts, the group's state group.ts, the
// replay of a partition replay.ts. The request handlers (broker/server/handlers) call it; the
// ReplicaManager tells it of leadership changes (onLeadership), WriteTxnMarkers of markers.
//
// Every answer that changes durable state (offsets, a new generation's assignment) waits until the
// record is committed in the offsets partition (the high watermark passed it), as with acks=all.
//
// Transactional offsets (TxnOffsetCommit, KIP-98 / KIP-447): a transactional producer's offsets
// are appended as a transactional batch of that producer and held as its pending offsets; the
// producer's commit marker on the offsets partition (WriteTxnMarkers, onTxnMarker) makes them the
// group's committed offsets, its abort marker drops them. Replay does the same in log order: a
// transactional offset record counts only once its producer's commit marker follows it. While a
// partition has pending offsets, OffsetFetch answers it UNSTABLE_OFFSET_COMMIT (retriable).

import type { Logger } from 'pino'
import { StrandProtocolError, toWireCode, errorCodeOf } from '../../client/protocol/errors.js'
import type {
  DescribeGroupsResponse,
  HeartbeatRequest,
  JoinGroupRequest,
  JoinGroupResponse,
  LeaveGroupRequest,
  LeaveGroupResponse,
  ListGroupsResponse,
  OffsetCommitRequest,
  OffsetCommitResponse,
  OffsetFetchRequest,
  OffsetFetchResponse,
  SyncGroupRequest,
  SyncGroupResponse,
} from '../../client/protocol/messages/groups.js'
import type { TxnOffsetCommitRequest, TxnOffsetCommitResponse } from '../../client/protocol/messages/transactions.js'
import type { Partition } from '../replication/partition.js'
import type { ReplicaManager } from '../replication/replica-manager.js'
import { OFFSETS_TOPIC } from '../topic-config.js'
import { appendCommitted, type AppendProducer } from '../internal-partition.js'
import { applyMarker, Group, groupValue, hasPendingTxnOffset, joinError, NODE_TIMERS, offsetKey, syncError, type CommittedOffset, type GroupTimers } from './group.js'
import { GroupMembership } from './membership.js'
import { groupRecord, offsetRecord } from './records.js'
import { replayGroups } from './replay.js'

export { OFFSETS_TOPIC }

/**
 * Transaction markers that reach a partition while it loads are applied once it is loaded; past
 * this many (a flood of transactions during one load) the load starts over instead, and the
 * replay then finds them in the log.
 */
const DEFERRED_MARKERS_MAX = 10_000
/** Longest group id, in UTF-8 bytes: Kafka's string limit, so both listeners can name every group. */
export const GROUP_ID_BYTES_MAX = 0x7fff

export type { GroupState, GroupTimers } from './group.js'

export interface GroupCoordinatorOptions {
  nodeId: number
  replicas: ReplicaManager
  /** Partitions of the offsets topic as the metadata says; null while it does not exist. */
  offsetsPartitions: () => number | null
  initialRebalanceDelayMs: number
  minSessionTimeoutMs: number
  maxSessionTimeoutMs: number
  groupMaxSize: number
  /** How long a write to the offsets partition may wait for the ISR. */
  commitTimeoutMs: number
  clock: () => number
  /** The rebalance and session timers; Node's own unless a test drives time itself. */
  timers?: GroupTimers
  logger: Logger
}

/** Java's String.hashCode, so groups map to the partitions Kafka would choose. */
export function javaHashCode(s: string): number {
  let h = 0
  for (let i = 0; i < s.length; i++) h = (Math.imul(31, h) + s.charCodeAt(i)) | 0
  return h
}

export function groupPartition(groupId: string, partitions: number): number {
  return (javaHashCode(groupId) & 0x7fffffff) % partitions
}

export class GroupCoordinator {
  readonly #o: GroupCoordinatorOptions
  readonly #logger: Logger
  readonly #groups = new Map<string, Group>()
  /** Offsets partitions led here: 'loading' until replayed. */
  readonly #partitions = new Map<number, 'loading' | 'loaded'>()
  /** Bumped on every leadership change of a partition, so a stale load does not install its result. */
  readonly #loadEpoch = new Map<number, number>()
  /** Transaction markers that reached a partition while it was loading, applied once it is loaded. */
  readonly #deferredMarkers = new Map<number, { producerId: bigint; commit: boolean }[]>()
  /** Partitions loading, so a load can start over (too many deferred markers). */
  readonly #loading = new Map<number, Partition>()
  /** Join/Sync/Heartbeat/Leave on groups routed here. */
  readonly #membership: GroupMembership

  constructor(options: GroupCoordinatorOptions) {
    this.#o = options
    this.#logger = options.logger.child({ subsystem: 'groups' })
    this.#membership = new GroupMembership({
      initialRebalanceDelayMs: options.initialRebalanceDelayMs,
      minSessionTimeoutMs: options.minSessionTimeoutMs,
      maxSessionTimeoutMs: options.maxSessionTimeoutMs,
      groupMaxSize: options.groupMaxSize,
      timers: options.timers ?? NODE_TIMERS,
      writeGroup: (g) => this.#writeGroup(g),
      logger: this.#logger,
    })
  }

  /** Called by the ReplicaManager when this broker starts or stops leading a partition. */
  onLeadership(partition: Partition, leading: boolean): void {
    if (partition.topic !== OFFSETS_TOPIC) return
    const index = partition.index
    const epoch = (this.#loadEpoch.get(index) ?? 0) + 1
    this.#loadEpoch.set(index, epoch)
    this.#unload(index)
    if (!leading) return
    this.#startLoad(partition, epoch)
  }

  #startLoad(partition: Partition, epoch: number): void {
    const index = partition.index
    this.#partitions.set(index, 'loading')
    this.#loading.set(index, partition)
    this.#deferredMarkers.delete(index)
    this.#load(partition, epoch).catch((err: unknown) => {
      this.#logger.error({ err, partition: index }, 'loading the offsets partition failed')
      if (this.#loadEpoch.get(index) === epoch) this.#partitions.delete(index)
    })
  }

  #unload(index: number): void {
    this.#loading.delete(index)
    this.#deferredMarkers.delete(index)
    if (!this.#partitions.delete(index)) return
    for (const [id, g] of this.#groups) {
      if (g.partition !== index) continue
      this.#groups.delete(id)
      this.#membership.drop(g)
    }
    this.#logger.info({ partition: index }, 'no longer coordinating the groups of this offsets partition')
  }

  async #load(partition: Partition, epoch: number): Promise<void> {
    const index = partition.index
    const { groups, end } = await replayGroups(partition, index)
    if (this.#loadEpoch.get(index) !== epoch) return
    // Members get a full session from now to find this coordinator and heartbeat.
    for (const g of groups.values()) for (const m of g.members.values()) this.#membership.touch(g, m)
    for (const [id, g] of groups) this.#groups.set(id, g)
    this.#partitions.set(index, 'loaded')
    this.#loading.delete(index)
    // Markers that reached the partition during the replay (it may or may not have read them;
    // applying one twice changes nothing: the first drops the producer's pending offsets).
    const deferred = this.#deferredMarkers.get(index) ?? []
    this.#deferredMarkers.delete(index)
    for (const m of deferred) this.onTxnMarker(index, m.producerId, m.commit)
    this.#logger.info({ partition: index, groups: groups.size, upTo: String(end) }, 'loaded the groups of this offsets partition')
  }

  /** The group, if this broker coordinates it; NOT_COORDINATOR / COORDINATOR_LOAD_IN_PROGRESS otherwise. */
  #route(groupId: string): { index: number } {
    if (groupId.length === 0) throw new StrandProtocolError('INVALID_GROUP_ID', 'The group id is empty.')
    // Kafka's strings are at most 0x7fff bytes: a longer id, taken on the Strand listener, could
    // not be written in any Kafka-listener answer naming it (ListGroups, DescribeGroups).
    if (Buffer.byteLength(groupId) > GROUP_ID_BYTES_MAX) throw new StrandProtocolError('INVALID_GROUP_ID', `The group id is ${Buffer.byteLength(groupId)} bytes; at most ${GROUP_ID_BYTES_MAX}.`)
    const partitions = this.#o.offsetsPartitions()
    if (partitions === null) throw new StrandProtocolError('COORDINATOR_NOT_AVAILABLE', `The ${OFFSETS_TOPIC} topic does not exist yet.`)
    const index = groupPartition(groupId, partitions)
    const state = this.#partitions.get(index)
    if (state === undefined) throw new StrandProtocolError('NOT_COORDINATOR', `Broker ${this.#o.nodeId} does not coordinate group "${groupId}" (${OFFSETS_TOPIC}-${index}).`)
    if (state === 'loading') throw new StrandProtocolError('COORDINATOR_LOAD_IN_PROGRESS', `${OFFSETS_TOPIC}-${index} is still loading.`)
    return { index }
  }

  /** The group if it exists here (routing errors as `#route`). */
  #existingGroup(groupId: string): Group | undefined {
    this.#route(groupId)
    return this.#groups.get(groupId)
  }

  /** The group, created empty if it does not exist yet (routing errors as `#route`). */
  #groupOrCreate(groupId: string): Group {
    const { index } = this.#route(groupId)
    let g = this.#groups.get(groupId)
    if (g === undefined) {
      g = new Group(groupId, index)
      this.#groups.set(groupId, g)
    }
    return g
  }

  // --- membership ---

  join(req: JoinGroupRequest, client: { clientId: string; clientHost: string }): Promise<JoinGroupResponse> {
    let g: Group
    try {
      g = this.#groupOrCreate(req.groupId)
    } catch (err) {
      return Promise.resolve({ ...joinError('UNKNOWN_SERVER_ERROR', req.memberId), errorCode: toWireCode(err) })
    }
    return this.#membership.join(g, req, client)
  }

  async sync(req: SyncGroupRequest): Promise<SyncGroupResponse> {
    let g: Group | undefined
    try {
      g = this.#existingGroup(req.groupId)
    } catch (err) {
      return syncError(toWireCode(err))
    }
    return this.#membership.sync(g, req)
  }

  heartbeat(req: HeartbeatRequest): number {
    let g: Group | undefined
    try {
      g = this.#existingGroup(req.groupId)
    } catch (err) {
      return toWireCode(err)
    }
    return this.#membership.heartbeat(g, req)
  }

  leave(req: LeaveGroupRequest): LeaveGroupResponse {
    let g: Group | undefined
    try {
      g = this.#existingGroup(req.groupId)
    } catch (err) {
      return { throttleTimeMs: 0, errorCode: toWireCode(err), members: [] }
    }
    return this.#membership.leave(g, req)
  }

  // --- offsets ---

  async commitOffsets(req: OffsetCommitRequest): Promise<OffsetCommitResponse> {
    const fail = (code: number): OffsetCommitResponse => ({ throttleTimeMs: 0, topics: req.topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: code })) })) })
    let g: Group
    try {
      g = this.#groupOrCreate(req.groupId)
    } catch (err) {
      return fail(toWireCode(err))
    }
    if (req.generationId < 0 && req.memberId === '') {
      // A consumer managing its own partitions: only into a group nobody is a member of.
      if (g.members.size > 0) return fail(errorCodeOf('UNKNOWN_MEMBER_ID'))
    } else {
      const m = g.members.get(req.memberId)
      if (m === undefined) return fail(errorCodeOf('UNKNOWN_MEMBER_ID'))
      if (req.generationId !== g.generation) return fail(errorCodeOf('ILLEGAL_GENERATION'))
      if (g.state === 'CompletingRebalance') return fail(errorCodeOf('REBALANCE_IN_PROGRESS'))
      this.#membership.touch(g, m)
    }
    const now = this.#o.clock()
    const entries = req.topics.flatMap((t) => t.partitions.map((p) => ({ topic: t.name, ...p })))
    const invalid = entries.find((e) => e.committedOffset < -1n || e.partitionIndex < 0)
    if (invalid !== undefined) return fail(errorCodeOf('INVALID_COMMIT_OFFSET_SIZE'))
    if (entries.length === 0) return { throttleTimeMs: 0, topics: [] }
    try {
      await this.#write(
        g.partition,
        entries.map((e) => offsetRecord({ group: g.id, topic: e.topic, partition: e.partitionIndex }, { offset: e.committedOffset, leaderEpoch: e.committedLeaderEpoch, metadata: e.committedMetadata, commitTimestamp: BigInt(now) })),
      )
    } catch (err) {
      return fail(toWireCode(err))
    }
    for (const e of entries) g.offsets.set(offsetKey(e.topic, e.partitionIndex), { offset: e.committedOffset, leaderEpoch: e.committedLeaderEpoch, metadata: e.committedMetadata })
    return fail(0)
  }

  fetchOffsets(req: OffsetFetchRequest): OffsetFetchResponse {
    let g: Group | undefined
    try {
      g = this.#existingGroup(req.groupId)
    } catch (err) {
      return { throttleTimeMs: 0, errorCode: toWireCode(err), topics: [] }
    }
    const committed = (topic: string, partition: number): CommittedOffset | undefined => g?.offsets.get(offsetKey(topic, partition))
    const answer = (topic: string, partition: number): OffsetFetchResponse['topics'][number]['partitions'][number] => {
      // Offsets of a transaction not decided yet: the committed one may be about to change, so
      // the caller waits rather than start from it (Kafka answers this to requireStable
      // requests only; OffsetFetch v0 has no such field, so every request gets it).
      if (g !== undefined && hasPendingTxnOffset(g, offsetKey(topic, partition))) {
        return { partitionIndex: partition, committedOffset: -1n, committedLeaderEpoch: -1, metadata: null, errorCode: errorCodeOf('UNSTABLE_OFFSET_COMMIT') }
      }
      const c = committed(topic, partition)
      return { partitionIndex: partition, committedOffset: c?.offset ?? -1n, committedLeaderEpoch: c?.leaderEpoch ?? -1, metadata: c?.metadata ?? null, errorCode: 0 }
    }
    if (req.topics !== null) return { throttleTimeMs: 0, errorCode: 0, topics: req.topics.map((t) => ({ name: t.name, partitions: t.partitionIndexes.map((p) => answer(t.name, p)) })) }
    const byTopic = new Map<string, number[]>()
    const keys = new Set(g?.offsets.keys() ?? [])
    for (const pending of g?.pendingTxnOffsets.values() ?? []) for (const k of pending.keys()) keys.add(k)
    for (const key of keys) {
      const [topic, partition] = key.split('\u0000') as [string, string]
      byTopic.set(topic, [...(byTopic.get(topic) ?? []), Number(partition)])
    }
    return { throttleTimeMs: 0, errorCode: 0, topics: [...byTopic].map(([name, ps]) => ({ name, partitions: ps.sort((a, b) => a - b).map((p) => answer(name, p)) })) }
  }

  /**
   * TxnOffsetCommit (KIP-98 / KIP-447): the offsets go to the group's offsets partition as a
   * transactional batch of the producer, and are held as that producer's pending offsets; they
   * become the group's committed offsets when the producer's commit marker lands on the partition
   * (onTxnMarker), and are dropped on its abort marker. A zombie producer (an older epoch than the
   * partition knows) is refused by the partition itself: INVALID_PRODUCER_EPOCH.
   *
   * KIP-447: a request naming a member and generation is checked as OffsetCommit checks them, so
   * a processor fenced out of the group cannot commit its offsets; one naming none (-1 / '') is
   * accepted (a producer that does not know its consumer's generation).
   */
  async txnCommitOffsets(req: TxnOffsetCommitRequest): Promise<TxnOffsetCommitResponse> {
    const fail = (code: number): TxnOffsetCommitResponse => ({ throttleTimeMs: 0, topics: req.topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: code })) })) })
    let g: Group
    try {
      g = this.#groupOrCreate(req.groupId)
    } catch (err) {
      return fail(toWireCode(err))
    }
    if (req.producerId < 0n) return fail(errorCodeOf('INVALID_PRODUCER_ID_MAPPING'))
    if (req.generationId >= 0 || req.memberId !== '') {
      const m = g.members.get(req.memberId)
      if (m === undefined) return fail(errorCodeOf('UNKNOWN_MEMBER_ID'))
      if (req.generationId !== g.generation) return fail(errorCodeOf('ILLEGAL_GENERATION'))
    }
    const entries = req.topics.flatMap((t) => t.partitions.map((p) => ({ topic: t.name, ...p })))
    if (entries.some((e) => e.committedOffset < -1n || e.partitionIndex < 0)) return fail(errorCodeOf('INVALID_COMMIT_OFFSET_SIZE'))
    if (entries.length === 0) return { throttleTimeMs: 0, topics: [] }
    const now = this.#o.clock()
    // Pending before the append: an abort marker that lands while the batch is being appended
    // (the coordinator fencing this producer) must find them, or they would outlive their
    // transaction. Had the append come after that marker, the partition refuses it (its epoch).
    const pending = g.pendingTxnOffsets.get(req.producerId) ?? new Map<string, CommittedOffset>()
    g.pendingTxnOffsets.set(req.producerId, pending)
    const mine = new Map<string, CommittedOffset>()
    for (const e of entries) {
      const c = { offset: e.committedOffset, leaderEpoch: e.committedLeaderEpoch, metadata: e.committedMetadata }
      mine.set(offsetKey(e.topic, e.partitionIndex), c)
      pending.set(offsetKey(e.topic, e.partitionIndex), c)
    }
    try {
      await this.#write(
        g.partition,
        entries.map((e) => offsetRecord({ group: g.id, topic: e.topic, partition: e.partitionIndex }, { offset: e.committedOffset, leaderEpoch: e.committedLeaderEpoch, metadata: e.committedMetadata, commitTimestamp: BigInt(now) })),
        { producerId: req.producerId, producerEpoch: req.producerEpoch },
      )
    } catch (err) {
      for (const [k, c] of mine) if (pending.get(k) === c) pending.delete(k)
      if (pending.size === 0 && g.pendingTxnOffsets.get(req.producerId) === pending) g.pendingTxnOffsets.delete(req.producerId)
      return fail(toWireCode(err))
    }
    return fail(0)
  }

  /**
   * A transaction marker of `producerId` is in offsets partition `index` (committed there): its
   * pending offsets become committed (commit) or are dropped (abort). Called by WriteTxnMarkers on
   * this leader; while the partition is still loading, kept and applied once it is loaded.
   */
  onTxnMarker(index: number, producerId: bigint, commit: boolean): void {
    const state = this.#partitions.get(index)
    if (state === undefined) return
    if (state === 'loading') {
      const deferred = this.#deferredMarkers.get(index) ?? []
      const partition = this.#loading.get(index)
      if (deferred.length >= DEFERRED_MARKERS_MAX && partition !== undefined) {
        // Every deferred marker is in the log already: a fresh replay reads them all.
        this.#logger.warn({ partition: index, markers: deferred.length }, 'too many transaction markers during the load; loading again')
        const epoch = (this.#loadEpoch.get(index) ?? 0) + 1
        this.#loadEpoch.set(index, epoch)
        this.#startLoad(partition, epoch)
        return
      }
      deferred.push({ producerId, commit })
      this.#deferredMarkers.set(index, deferred)
      return
    }
    for (const g of this.#groups.values()) if (g.partition === index) applyMarker(g, producerId, commit)
  }

  /** Writes the group's generation and assignment, so a coordinator taking over knows them. */
  #writeGroup(g: Group): Promise<void> {
    return this.#write(g.partition, [groupRecord(g.id, groupValue(g))])
  }

  /** Appends records to the offsets partition as its leader (for `producer`: transactional) and waits until the ISR has them. */
  #write(index: number, records: { key: Buffer; value: Buffer | null }[], producer?: AppendProducer): Promise<void> {
    return appendCommitted(this.#o.replicas, OFFSETS_TOPIC, index, records, { timestamp: this.#o.clock(), commitTimeoutMs: this.#o.commitTimeoutMs, ...(producer === undefined ? {} : { producer }) })
  }

  // --- tools ---

  describe(groupIds: readonly string[]): DescribeGroupsResponse {
    return {
      throttleTimeMs: 0,
      groups: groupIds.map((id) => {
        const dead = { groupId: id, groupState: 'Dead', protocolType: '', protocolData: '', generationId: -1, members: [] }
        let g: Group | undefined
        try {
          g = this.#existingGroup(id)
        } catch (err) {
          return { errorCode: toWireCode(err), ...dead }
        }
        if (g === undefined) return { errorCode: errorCodeOf('GROUP_ID_NOT_FOUND'), ...dead }
        return {
          errorCode: 0,
          groupId: id,
          groupState: g.state,
          protocolType: g.protocolType ?? '',
          protocolData: g.protocolName ?? '',
          generationId: g.generation,
          members: [...g.members.values()].map((m) => ({
            memberId: m.memberId,
            groupInstanceId: m.groupInstanceId,
            clientId: m.clientId,
            clientHost: m.clientHost,
            memberMetadata: m.protocols.find((p) => p.name === g.protocolName)?.metadata ?? m.protocols[0]?.metadata ?? Buffer.alloc(0),
            memberAssignment: m.assignment,
          })),
        }
      }),
    }
  }

  list(statesFilter: readonly string[]): ListGroupsResponse {
    const groups = [...this.#groups.values()]
      .filter((g) => this.#partitions.get(g.partition) === 'loaded' && (statesFilter.length === 0 || statesFilter.includes(g.state)))
      .map((g) => ({ groupId: g.id, protocolType: g.protocolType ?? '', groupState: g.state }))
    return { throttleTimeMs: 0, errorCode: 0, groups }
  }

  close(): void {
    for (const index of [...this.#partitions.keys()]) this.#unload(index)
  }
}
