// Authorization of every request, per API, in one place: the dispatcher calls `gateRequest`
// before the API's handler, and handlers never see what the principal may not touch. As in
// Kafka's KafkaApis, a request naming several topics (or groups) is split: the authorized part
// goes to the handler, the rest is answered here with TOPIC_AUTHORIZATION_FAILED (or
// GROUP_AUTHORIZATION_FAILED) and merged into the handler's response, so one forbidden topic never
// fails its neighbours. Broker-to-broker APIs (the quorum, registration, heartbeats, ISR changes,
// producer id blocks, transaction markers, and Fetch / ListOffsets / OffsetsForLeaderEpoch from a replica) need
// cluster_action on the cluster and are answered CLUSTER_AUTHORIZATION_FAILED otherwise, before
// the handler runs, so they change nothing.
//
// Which operation each API needs follows Kafka's table (docs, "Authorization and ACLs"):
//   Produce: write topic.  Fetch (consumer): read topic.  ListOffsets, OffsetsForLeaderEpoch,
//   Metadata: describe topic (Metadata lists only those).  CreateTopics: create cluster or topic.
//   DeleteTopics: delete topic.  DescribeConfigs: describe_configs topic / cluster.
//   FindCoordinator, DescribeGroups, OffsetFetch: describe group.  JoinGroup, SyncGroup,
//   Heartbeat, LeaveGroup, OffsetCommit: read group (OffsetCommit also read topic).
//   ListGroups: describe cluster, else the groups the principal may describe.
//   InitProducerId: idempotent_write cluster, or write on some topic (KIP-679); with a
//   transactional id, write on it.  AddPartitionsToTxn: write transactional id and write topic.
//   EndTxn: write transactional id.  FindCoordinator (key type 1): describe transactional id.
//   AddOffsetsToTxn: write transactional id and read group.  TxnOffsetCommit: write
//   transactional id, read group and read topic.  ListTransactions: only the ids the principal
//   may describe are listed.  DescribeTransactions: describe on each transactional id (refused
//   ones TRANSACTIONAL_ID_AUTHORIZATION_FAILED), the partitions of topics it may not describe
//   left out.
//   DescribeCluster, DescribeQuorum, DescribeMetrics, DescribeAcls,
//   DescribeUserScramCredentials: describe cluster.  CreateAcls, DeleteAcls,
//   AlterUserScramCredentials: alter cluster.

import { ApiKey, type ApiKeyValue, type ApiTypes } from '../../client/protocol/apis.js'
import { errorCodeOf, StrandProtocolError } from '../../client/protocol/errors.js'
import { CLUSTER_RESOURCE, type Authorizer, type Operation, type ResourceType } from './authorizer.js'
import type { Session } from './session.js'

const TOPIC_DENIED = errorCodeOf('TOPIC_AUTHORIZATION_FAILED')
const GROUP_DENIED = errorCodeOf('GROUP_AUTHORIZATION_FAILED')
const CLUSTER_DENIED = errorCodeOf('CLUSTER_AUTHORIZATION_FAILED')
const TXN_DENIED = errorCodeOf('TRANSACTIONAL_ID_AUTHORIZATION_FAILED')

/** What the principal of one request may do. */
class Access {
  constructor(
    readonly authorizer: Authorizer,
    readonly session: Session,
  ) {}

  can(op: Operation, type: ResourceType, name: string): boolean {
    return this.authorizer.authorize(this.session.principal, this.session.host, op, { type, name })
  }

  cluster(op: Operation): boolean {
    return this.can(op, 'cluster', CLUSTER_RESOURCE)
  }

  canAny(op: Operation, type: ResourceType): boolean {
    return this.authorizer.authorizeAny(this.session.principal, this.session.host, op, type)
  }
}

type Req<K extends ApiKeyValue> = ApiTypes[K]['request']
type Res<K extends ApiKeyValue> = ApiTypes[K]['response']
/** The handler runs on `body`; `finish` adds what was refused to its response. Or the request is refused whole. */
export type GateResult<K extends ApiKeyValue> = { body: Req<K>; finish?: (response: Res<K>) => Res<K> } | { denied: Res<K> }
type Gate<K extends ApiKeyValue> = (a: Access, body: Req<K>) => GateResult<K>

/** Splits a request's `topics` by permission: the allowed ones stay, the others come back. */
function splitTopics<T extends { name: string }>(topics: readonly T[], allowed: (name: string) => boolean): { kept: T[]; refused: T[] } {
  const kept: T[] = []
  const refused: T[] = []
  for (const t of topics) (allowed(t.name) ? kept : refused).push(t)
  return { kept, refused }
}

/** A gate that needs `op` on the cluster and refuses with `denied` otherwise. */
function clusterGate<K extends ApiKeyValue>(op: Operation, denied: Res<K>): Gate<K> {
  return (a, body) => (a.cluster(op) ? { body } : { denied })
}

const NO_BYTES = Buffer.alloc(0)

const produce: Gate<typeof ApiKey.Produce> = (a, body) => {
  // A transactional producer's batches need write on its transactional id (Kafka's rule).
  if (body.transactionalId !== null && !a.can('write', 'transactional-id', body.transactionalId)) {
    return { denied: { throttleTimeMs: 0, topics: body.topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => ({ index: p.index, errorCode: TXN_DENIED, errorMessage: null, baseOffset: -1n, logAppendTimeMs: -1n, logStartOffset: -1n })) })) } }
  }
  const { kept, refused } = splitTopics(body.topics, (n) => a.can('write', 'topic', n))
  if (refused.length === 0) return { body }
  const denied = refused.map((t) => ({
    name: t.name,
    partitions: t.partitions.map((p) => ({ index: p.index, errorCode: TOPIC_DENIED, errorMessage: null, baseOffset: -1n, logAppendTimeMs: -1n, logStartOffset: -1n })),
  }))
  return { body: { ...body, topics: kept }, finish: (r) => (r === null ? r : { ...r, topics: [...r.topics, ...denied] }) }
}

const fetch: Gate<typeof ApiKey.Fetch> = (a, body) => {
  if (body.replicaId >= 0) return a.cluster('cluster_action') ? { body } : { denied: { throttleTimeMs: 0, errorCode: CLUSTER_DENIED, topics: [] } }
  const { kept, refused } = splitTopics(body.topics, (n) => a.can('read', 'topic', n))
  if (refused.length === 0) return { body }
  const denied = refused.map((t) => ({
    name: t.name,
    partitions: t.partitions.map((p) => ({ partitionIndex: p.partition, errorCode: TOPIC_DENIED, highWatermark: -1n, lastStableOffset: -1n, logStartOffset: -1n, abortedTransactions: null, records: NO_BYTES })),
  }))
  return { body: { ...body, topics: kept }, finish: (r) => ({ ...r, topics: [...r.topics, ...denied] }) }
}

const listOffsets: Gate<typeof ApiKey.ListOffsets> = (a, body) => {
  if (body.replicaId >= 0 && !a.cluster('cluster_action')) return { denied: { topics: body.topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: CLUSTER_DENIED, timestamp: -1n, offset: -1n, leaderEpoch: -1 })) })) } }
  const { kept, refused } = splitTopics(body.topics, (n) => a.can('describe', 'topic', n))
  if (refused.length === 0) return { body }
  const denied = refused.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: TOPIC_DENIED, timestamp: -1n, offset: -1n, leaderEpoch: -1 })) }))
  return { body: { ...body, topics: kept }, finish: (r) => ({ topics: [...r.topics, ...denied] }) }
}

const offsetsForLeaderEpoch: Gate<typeof ApiKey.OffsetsForLeaderEpoch> = (a, body) => {
  const clusterOk = body.replicaId < 0 || a.cluster('cluster_action')
  const { kept, refused } = splitTopics(body.topics, (n) => clusterOk && a.can('describe', 'topic', n))
  if (refused.length === 0) return { body }
  const code = clusterOk ? TOPIC_DENIED : CLUSTER_DENIED
  const denied = refused.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => ({ errorCode: code, partition: p.partition, leaderEpoch: -1, endOffset: -1n })) }))
  return { body: { ...body, topics: kept }, finish: (r) => ({ ...r, topics: [...r.topics, ...denied] }) }
}

const metadata: Gate<typeof ApiKey.Metadata> = (a, body) => {
  const visible = (name: string): boolean => a.can('describe', 'topic', name)
  if (body.topics === null) return { body, finish: (r) => ({ ...r, topics: r.topics.filter((t) => visible(t.name)) }) }
  const { kept, refused } = splitTopics(body.topics.map((name) => ({ name })), visible)
  const denied = refused.map((t) => ({ errorCode: TOPIC_DENIED, name: t.name, internal: false, partitions: [] }))
  // An empty list asks for no topic at all (the brokers alone), so a request whose every topic is
  // refused must not turn into one.
  if (kept.length === 0 && refused.length > 0) return { body: { topics: [] }, finish: (r) => ({ ...r, topics: denied }) }
  return { body: { topics: kept.map((t) => t.name) }, finish: (r) => ({ ...r, topics: [...r.topics, ...denied] }) }
}

const createTopics: Gate<typeof ApiKey.CreateTopics> = (a, body) => {
  const clusterCreate = a.cluster('create')
  const { kept, refused } = splitTopics(body.topics, (n) => clusterCreate || a.can('create', 'topic', n))
  if (refused.length === 0) return { body }
  const denied = refused.map((t) => ({ name: t.name, errorCode: TOPIC_DENIED, errorMessage: `${a.session.principal} may not create topic "${t.name}".`, numPartitions: -1, replicationFactor: -1 }))
  return { body: { ...body, topics: kept }, finish: (r) => ({ topics: [...r.topics, ...denied] }) }
}

const deleteTopics: Gate<typeof ApiKey.DeleteTopics> = (a, body) => {
  const { kept, refused } = splitTopics(body.topicNames.map((name) => ({ name })), (n) => a.can('delete', 'topic', n))
  if (refused.length === 0) return { body }
  const denied = refused.map((t) => ({ name: t.name, errorCode: TOPIC_DENIED, errorMessage: `${a.session.principal} may not delete topic "${t.name}".` }))
  return { body: { ...body, topicNames: kept.map((t) => t.name) }, finish: (r) => ({ responses: [...r.responses, ...denied] }) }
}

const describeConfigs: Gate<typeof ApiKey.DescribeConfigs> = (a, body) => {
  const allowed = (r: { resourceType: number; resourceName: string }): boolean => (r.resourceType === 2 ? a.can('describe_configs', 'topic', r.resourceName) : a.cluster('describe_configs'))
  const kept = body.resources.filter(allowed)
  const refused = body.resources.filter((r) => !allowed(r))
  if (refused.length === 0) return { body }
  const denied = refused.map((r) => ({ errorCode: r.resourceType === 2 ? TOPIC_DENIED : CLUSTER_DENIED, errorMessage: null, resourceType: r.resourceType, resourceName: r.resourceName, configs: [] }))
  return { body: { resources: kept }, finish: (r) => ({ ...r, results: [...r.results, ...denied] }) }
}

/** A group API refused whole unless `op` on its group is allowed. */
function groupGate<K extends ApiKeyValue>(op: Operation, groupOf: (body: Req<K>) => string, denied: (body: Req<K>) => Res<K>): Gate<K> {
  return (a, body) => (a.can(op, 'group', groupOf(body)) ? { body } : { denied: denied(body) })
}

const findCoordinator: Gate<typeof ApiKey.FindCoordinator> = (a, body) => {
  const none = { throttleTimeMs: 0, nodeId: -1, host: '', port: -1 }
  if (body.keyType === 0 && !a.can('describe', 'group', body.key)) return { denied: { ...none, errorCode: GROUP_DENIED, errorMessage: `${a.session.principal} may not use group "${body.key}".` } }
  if (body.keyType === 1 && !a.can('describe', 'transactional-id', body.key)) return { denied: { ...none, errorCode: TXN_DENIED, errorMessage: `${a.session.principal} may not use transactional id "${body.key}".` } }
  return { body }
}

const offsetCommit: Gate<typeof ApiKey.OffsetCommit> = (a, body) => {
  // The group first: a commit naming no topic still touches the group (and a member's session).
  if (!a.can('read', 'group', body.groupId)) {
    return { denied: { throttleTimeMs: 0, topics: body.topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: GROUP_DENIED })) })) } }
  }
  const { kept, refused } = splitTopics(body.topics, (n) => a.can('read', 'topic', n))
  if (refused.length === 0) return { body }
  const denied = refused.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: TOPIC_DENIED })) }))
  return { body: { ...body, topics: kept }, finish: (r) => ({ ...r, topics: [...r.topics, ...denied] }) }
}

const offsetFetch: Gate<typeof ApiKey.OffsetFetch> = (a, body) => {
  if (!a.can('describe', 'group', body.groupId)) return { denied: { throttleTimeMs: 0, errorCode: GROUP_DENIED, topics: [] } }
  const visible = (n: string): boolean => a.can('describe', 'topic', n)
  if (body.topics === null) return { body, finish: (r) => ({ ...r, topics: r.topics.filter((t) => visible(t.name)) }) }
  const { kept, refused } = splitTopics(body.topics, visible)
  if (refused.length === 0) return { body }
  const denied = refused.map((t) => ({ name: t.name, partitions: t.partitionIndexes.map((p) => ({ partitionIndex: p, committedOffset: -1n, committedLeaderEpoch: -1, metadata: null, errorCode: TOPIC_DENIED })) }))
  return { body: { ...body, topics: kept }, finish: (r) => ({ ...r, topics: [...r.topics, ...denied] }) }
}

const describeGroups: Gate<typeof ApiKey.DescribeGroups> = (a, body) => {
  const { kept, refused } = splitTopics(body.groups.map((name) => ({ name })), (g) => a.can('describe', 'group', g))
  if (refused.length === 0) return { body }
  const denied = refused.map(({ name: groupId }) => ({ errorCode: GROUP_DENIED, groupId, groupState: '', protocolType: '', protocolData: '', generationId: -1, members: [] }))
  return { body: { groups: kept.map((g) => g.name) }, finish: (r) => ({ ...r, groups: [...r.groups, ...denied] }) }
}

const listGroups: Gate<typeof ApiKey.ListGroups> = (a, body) =>
  a.cluster('describe') ? { body } : { body, finish: (r) => ({ ...r, groups: r.groups.filter((g) => a.can('describe', 'group', g.groupId)) }) }

const initProducerId: Gate<typeof ApiKey.InitProducerId> = (a, body) => {
  // A transactional producer needs write on its transactional id (Kafka's rule); an idempotent
  // one idempotent_write on the cluster or write on some topic (KIP-679).
  if (body.transactionalId !== null) {
    return a.can('write', 'transactional-id', body.transactionalId) ? { body } : { denied: { throttleTimeMs: 0, errorCode: TXN_DENIED, producerId: -1n, producerEpoch: -1 } }
  }
  const ok = a.cluster('idempotent_write') || a.canAny('write', 'topic')
  return ok ? { body } : { denied: { throttleTimeMs: 0, errorCode: CLUSTER_DENIED, producerId: -1n, producerEpoch: -1 } }
}

const addPartitionsToTxn: Gate<typeof ApiKey.AddPartitionsToTxn> = (a, body) => {
  const answer = (topics: typeof body.topics, code: number) => topics.map((t) => ({ name: t.name, results: t.partitions.map((partitionIndex) => ({ partitionIndex, errorCode: code })) }))
  if (!a.can('write', 'transactional-id', body.transactionalId)) return { denied: { throttleTimeMs: 0, results: answer(body.topics, TXN_DENIED) } }
  // As Kafka: a topic the principal may not write fails the whole request, the others not attempted.
  const { kept, refused } = splitTopics(body.topics, (n) => a.can('write', 'topic', n))
  if (refused.length === 0) return { body }
  return { denied: { throttleTimeMs: 0, results: [...answer(refused, TOPIC_DENIED), ...answer(kept, errorCodeOf('OPERATION_NOT_ATTEMPTED'))] } }
}

const endTxn: Gate<typeof ApiKey.EndTxn> = (a, body) => (a.can('write', 'transactional-id', body.transactionalId) ? { body } : { denied: { throttleTimeMs: 0, errorCode: TXN_DENIED, producerId: -1n, producerEpoch: -1 } })

const addOffsetsToTxn: Gate<typeof ApiKey.AddOffsetsToTxn> = (a, body) => {
  if (!a.can('write', 'transactional-id', body.transactionalId)) return { denied: { throttleTimeMs: 0, errorCode: TXN_DENIED } }
  return a.can('read', 'group', body.groupId) ? { body } : { denied: { throttleTimeMs: 0, errorCode: GROUP_DENIED } }
}

const txnOffsetCommit: Gate<typeof ApiKey.TxnOffsetCommit> = (a, body) => {
  const answer = (topics: typeof body.topics, code: number) => topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: code })) }))
  if (!a.can('write', 'transactional-id', body.transactionalId)) return { denied: { throttleTimeMs: 0, topics: answer(body.topics, TXN_DENIED) } }
  if (!a.can('read', 'group', body.groupId)) return { denied: { throttleTimeMs: 0, topics: answer(body.topics, GROUP_DENIED) } }
  // As OffsetCommit: each topic needs read; the others go ahead.
  const { kept, refused } = splitTopics(body.topics, (n) => a.can('read', 'topic', n))
  if (refused.length === 0) return { body }
  return { body: { ...body, topics: kept }, finish: (r) => ({ ...r, topics: [...r.topics, ...answer(refused, TOPIC_DENIED)] }) }
}

const listTransactions: Gate<typeof ApiKey.ListTransactions> = (a, body) => ({
  body,
  finish: (r) => ({ ...r, transactionStates: r.transactionStates.filter((s) => a.can('describe', 'transactional-id', s.transactionalId)) }),
})

const describeTransactions: Gate<typeof ApiKey.DescribeTransactions> = (a, body) => {
  const { kept, refused } = splitTopics(body.transactionalIds.map((name) => ({ name })), (id) => a.can('describe', 'transactional-id', id))
  const denied = refused.map(({ name: transactionalId }) => ({ errorCode: TXN_DENIED, transactionalId, transactionState: '', transactionTimeoutMs: 0, transactionStartTimeMs: -1n, producerId: -1n, producerEpoch: -1, topics: [] }))
  // As Kafka: a described transaction shows only the partitions of topics the principal may describe.
  const visible = (s: Res<typeof ApiKey.DescribeTransactions>['transactionStates'][number]) => ({ ...s, topics: s.topics.filter((t) => a.can('describe', 'topic', t.topic)) })
  return { body: { transactionalIds: kept.map((k) => k.name) }, finish: (r) => ({ ...r, transactionStates: [...r.transactionStates.map(visible), ...denied] }) }
}

/**
 * Every API's gate; 'ungated' only for what a session needs before it has a principal. The type
 * lists every API key, so a new API does not compile until someone decides its gate.
 */
const GATES: { [K in ApiKeyValue]: Gate<K> | 'ungated' } = {
  [ApiKey.ApiVersions]: 'ungated',
  [ApiKey.SaslHandshake]: 'ungated',
  [ApiKey.SaslAuthenticate]: 'ungated',
  [ApiKey.Produce]: produce,
  [ApiKey.Fetch]: fetch,
  [ApiKey.ListOffsets]: listOffsets,
  [ApiKey.OffsetsForLeaderEpoch]: offsetsForLeaderEpoch,
  [ApiKey.Metadata]: metadata,
  [ApiKey.CreateTopics]: createTopics,
  [ApiKey.DeleteTopics]: deleteTopics,
  [ApiKey.DescribeConfigs]: describeConfigs,
  [ApiKey.FindCoordinator]: findCoordinator,
  [ApiKey.JoinGroup]: groupGate('read', (b) => b.groupId, () => ({ throttleTimeMs: 0, errorCode: GROUP_DENIED, generationId: -1, protocolType: null, protocolName: null, leader: '', memberId: '', members: [] })),
  [ApiKey.SyncGroup]: groupGate('read', (b) => b.groupId, () => ({ throttleTimeMs: 0, errorCode: GROUP_DENIED, protocolType: null, protocolName: null, assignment: NO_BYTES })),
  [ApiKey.Heartbeat]: groupGate('read', (b) => b.groupId, () => ({ throttleTimeMs: 0, errorCode: GROUP_DENIED })),
  [ApiKey.LeaveGroup]: groupGate('read', (b) => b.groupId, () => ({ throttleTimeMs: 0, errorCode: GROUP_DENIED, members: [] })),
  [ApiKey.OffsetCommit]: offsetCommit,
  [ApiKey.OffsetFetch]: offsetFetch,
  [ApiKey.DescribeGroups]: describeGroups,
  [ApiKey.ListGroups]: listGroups,
  [ApiKey.InitProducerId]: initProducerId,
  [ApiKey.AddPartitionsToTxn]: addPartitionsToTxn,
  [ApiKey.EndTxn]: endTxn,
  [ApiKey.AddOffsetsToTxn]: addOffsetsToTxn,
  [ApiKey.TxnOffsetCommit]: txnOffsetCommit,
  [ApiKey.ListTransactions]: listTransactions,
  [ApiKey.DescribeTransactions]: describeTransactions,
  [ApiKey.DescribeCluster]: clusterGate('describe', { errorCode: CLUSTER_DENIED, controllerId: -1, brokers: [] }),
  [ApiKey.DescribeQuorum]: clusterGate('describe', { errorCode: CLUSTER_DENIED, nodeId: -1, role: '', term: -1, leaderId: -1, commitIndex: -1n, lastIndex: -1n, voters: [] }),
  [ApiKey.DescribeMetrics]: clusterGate('describe', { errorCode: CLUSTER_DENIED, nodeId: -1, text: '' }),
  [ApiKey.DescribeAcls]: clusterGate('describe', { errorCode: CLUSTER_DENIED, errorMessage: null, acls: [] }),
  [ApiKey.DescribeUserScramCredentials]: clusterGate('describe', { errorCode: CLUSTER_DENIED, errorMessage: null, results: [] }),
  [ApiKey.CreateAcls]: (a, body) => (a.cluster('alter') ? { body } : { denied: { results: body.creations.map(() => ({ errorCode: CLUSTER_DENIED, errorMessage: null })) } }),
  [ApiKey.DeleteAcls]: (a, body) => (a.cluster('alter') ? { body } : { denied: { filterResults: body.filters.map(() => ({ errorCode: CLUSTER_DENIED, errorMessage: null, matchingAcls: [] })) } }),
  [ApiKey.AlterUserScramCredentials]: (a, body) =>
    a.cluster('alter') ? { body } : { denied: { results: [...body.upsertions, ...body.deletions].map((u) => ({ user: u.name, errorCode: CLUSTER_DENIED, errorMessage: null })) } },
  // Broker to broker: cluster_action, refused before the handler so nothing changes.
  [ApiKey.Vote]: clusterGate('cluster_action', { errorCode: CLUSTER_DENIED, term: -1, granted: false }),
  [ApiKey.PreVote]: clusterGate('cluster_action', { errorCode: CLUSTER_DENIED, term: -1, granted: false }),
  [ApiKey.AppendEntries]: clusterGate('cluster_action', { errorCode: CLUSTER_DENIED, term: -1, success: false, matchIndex: -1n }),
  [ApiKey.InstallSnapshot]: clusterGate('cluster_action', { errorCode: CLUSTER_DENIED, term: -1, success: false, matchIndex: -1n }),
  [ApiKey.BrokerRegistration]: clusterGate('cluster_action', { errorCode: CLUSTER_DENIED }),
  [ApiKey.BrokerHeartbeat]: clusterGate('cluster_action', { errorCode: CLUSTER_DENIED, isFenced: true }),
  [ApiKey.ControlledShutdown]: clusterGate('cluster_action', { errorCode: CLUSTER_DENIED, remainingLeaderships: -1 }),
  [ApiKey.AlterPartition]: clusterGate('cluster_action', { errorCode: CLUSTER_DENIED, topics: [] }),
  [ApiKey.AllocateProducerIds]: clusterGate('cluster_action', { throttleTimeMs: 0, errorCode: CLUSTER_DENIED, producerIdStart: -1n, producerIdLen: 0 }),
  // The coordinator's commit / abort markers: every named partition refused, so none is written.
  [ApiKey.WriteTxnMarkers]: (a, body) =>
    a.cluster('cluster_action')
      ? { body }
      : {
          denied: {
            markers: body.markers.map((m) => ({
              producerId: m.producerId,
              topics: m.topics.map((t) => ({ name: t.name, partitions: t.partitionIndexes.map((partitionIndex) => ({ partitionIndex, errorCode: CLUSTER_DENIED })) })),
            })),
          },
        },
}

/** The gate of `apiKey` for this request: run the handler on `body` (then `finish`), or answer `denied`. */
export function gateRequest<K extends ApiKeyValue>(authorizer: Authorizer, session: Session, apiKey: K, body: Req<K>): GateResult<K> {
  const gate = (GATES as Record<number, Gate<K> | 'ungated' | undefined>)[apiKey]
  if (gate === 'ungated') return { body }
  // An API this table does not know cannot be decoded either (the dispatcher answers
  // UNSUPPORTED_VERSION first); refuse it anyway rather than let it through.
  if (gate === undefined) throw new StrandProtocolError('UNSUPPORTED_VERSION', `API key ${apiKey} has no authorization gate.`)
  return gate(new Access(authorizer, session), body)
}
