// The per-API authorization gate, with a real Authorizer and a session as the server keeps one:
// a request naming allowed and refused topics reaches its handler with the allowed ones only, and
// `finish` answers the rest with TOPIC_AUTHORIZATION_FAILED (29) beside the handler's answer;
// group APIs refuse with GROUP_AUTHORIZATION_FAILED (30); broker-to-broker APIs, and Fetch or
// ListOffsets from a replica, need cluster_action and are refused whole with
// CLUSTER_AUTHORIZATION_FAILED (31) before any handler runs.

import t from 'tap'
import { ApiKey, type ApiKeyValue, type ApiTypes } from '../../../client/protocol/apis.js'
import { errorCodeOf } from '../../../client/protocol/errors.js'
import { Authorizer, CLUSTER_RESOURCE, type Acl, type AclSource } from '../../../broker/security/authorizer.js'
import { gateRequest, type GateResult } from '../../../broker/security/request-auth.js'
import type { Session } from '../../../broker/security/session.js'

const TOPIC_DENIED = errorCodeOf('TOPIC_AUTHORIZATION_FAILED')
const GROUP_DENIED = errorCodeOf('GROUP_AUTHORIZATION_FAILED')
const CLUSTER_DENIED = errorCodeOf('CLUSTER_AUTHORIZATION_FAILED')

type Req<K extends ApiKeyValue> = ApiTypes[K]['request']
type Res<K extends ApiKeyValue> = ApiTypes[K]['response']

function acl(fields: Partial<Acl> & Pick<Acl, 'principal' | 'operation' | 'resourceName'>): Acl {
  return { resourceType: 'topic', patternType: 'literal', host: '*', permission: 'allow', ...fields }
}

/** alice may produce to and consume `ok`, describe `seen`, read the `logs.` topics, and use group `g-ok`. */
const ACLS: Acl[] = [
  acl({ principal: 'User:alice', operation: 'write', resourceName: 'ok' }),
  acl({ principal: 'User:alice', operation: 'read', resourceName: 'ok' }),
  acl({ principal: 'User:alice', operation: 'describe', resourceName: 'seen' }),
  acl({ principal: 'User:alice', operation: 'read', resourceName: 'logs.', patternType: 'prefixed' }),
  acl({ principal: 'User:alice', operation: 'read', resourceName: 'g-ok', resourceType: 'group' }),
]

function newAuthorizer(acls: readonly Acl[] = ACLS, options: { enabled?: boolean } = {}): Authorizer {
  const source: AclSource = { aclVersion: 1, acls: () => acls }
  return new Authorizer({ superUsers: ['User:broker'], enabled: options.enabled ?? true, clusterActionEnforced: true, source })
}

function session(principal: string): Session {
  return { peer: '/10.0.0.7', host: '10.0.0.7', tls: false, principal, authenticated: true, sasl: null, saslState: 'none', closeAfterResponse: false, onAuthenticated: () => {} }
}

const ALICE = session('User:alice')
const BROKER = session('User:broker')

type Passed<K extends ApiKeyValue> = { body: Req<K>; finish?: (r: Res<K>) => Res<K> }

/** The gate let the request through (perhaps trimmed); throws, failing the test, otherwise. */
function passed<K extends ApiKeyValue>(r: GateResult<K>): Passed<K> {
  if ('denied' in r) throw new Error(`the request should reach its handler, but was refused with ${JSON.stringify(r.denied, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}`)
  return r
}

/** The gate answered the request itself; throws, failing the test, otherwise. */
function refused<K extends ApiKeyValue>(r: GateResult<K>): Res<K> {
  if (!('denied' in r)) throw new Error('the request should be refused before its handler, but passed')
  return r.denied
}

const records = Buffer.from('batch')

t.test('Produce: the handler sees only the allowed topics; finish answers the others with 29', async (t) => {
  const auth = newAuthorizer()
  const body: Req<typeof ApiKey.Produce> = {
    transactionalId: null,
    acks: -1,
    timeoutMs: 1000,
    topics: [
      { name: 'ok', partitions: [{ index: 0, currentLeaderEpoch: -1, records }] },
      { name: 'secret', partitions: [{ index: 0, currentLeaderEpoch: -1, records }, { index: 3, currentLeaderEpoch: -1, records }] },
    ],
  }
  const gated = passed(gateRequest(auth, ALICE, ApiKey.Produce, body))
  t.same(gated.body.topics.map((x) => x.name), ['ok'], 'only the allowed topic goes to the handler')
  t.equal(gated.body.acks, -1, 'the rest of the request is kept')
  t.equal(body.topics.length, 2, 'the request itself is not changed in place')

  const handled: Res<typeof ApiKey.Produce> = {
    throttleTimeMs: 0,
    topics: [{ name: 'ok', partitions: [{ index: 0, errorCode: 0, errorMessage: null, baseOffset: 42n, logAppendTimeMs: -1n, logStartOffset: 0n }] }],
  }
  t.ok(gated.finish !== undefined, 'a split request has a finish')
  const answer = gated.finish!(handled)
  t.same(answer.topics.find((x) => x.name === 'ok'), handled.topics[0], "the handler's answer is kept as it was")
  const secret = answer.topics.find((x) => x.name === 'secret')
  t.same(secret?.partitions.map((p) => [p.index, p.errorCode, p.baseOffset]), [[0, TOPIC_DENIED, -1n], [3, TOPIC_DENIED, -1n]], 'every partition of the refused topic is 29')

  t.equal(gated.finish!(null as unknown as Res<typeof ApiKey.Produce>), null, 'acks=0 (no response) stays no response')

  const all = passed(gateRequest(auth, ALICE, ApiKey.Produce, { ...body, topics: [body.topics[0]!] }))
  t.equal(all.body.topics.length, 1)
  t.equal(all.finish, undefined, 'nothing refused: no finish')

  const none = passed(gateRequest(auth, session('User:mallory'), ApiKey.Produce, body))
  t.same(none.body.topics, [], 'a principal allowed nothing sends the handler no topic')
  t.same(none.finish!({ throttleTimeMs: 0, topics: [] }).topics.map((x) => x.name), ['ok', 'secret'])
})

t.test('Metadata for every topic (topics=null) lists only what the principal may describe', async (t) => {
  const auth = newAuthorizer()
  const gated = passed(gateRequest(auth, ALICE, ApiKey.Metadata, { topics: null }))
  t.equal(gated.body.topics, null, 'the handler is still asked for every topic')
  const topic = (name: string): Res<typeof ApiKey.Metadata>['topics'][number] => ({ errorCode: 0, name, internal: false, partitions: [] })
  const handled = { brokers: [{ nodeId: 1, host: 'h', port: 1 }], clusterId: 'c', controllerId: 1, topics: ['ok', 'secret', 'seen', 'logs.app', '__consumer_offsets'].map(topic) }
  const answer = gated.finish!(handled)
  t.same(answer.topics.map((x) => x.name), ['ok', 'seen', 'logs.app'], 'describe, read or write make a topic visible; others are left out without an error')
  t.same(answer.brokers, handled.brokers, 'brokers are kept')
})

t.test('Metadata naming topics: refused ones come back as 29, and a request whose every topic is refused does not widen', async (t) => {
  const auth = newAuthorizer()
  const topic = (name: string): Res<typeof ApiKey.Metadata>['topics'][number] => ({ errorCode: 0, name, internal: false, partitions: [] })
  const base = { brokers: [], clusterId: 'c', controllerId: 1 }

  const mixed = passed(gateRequest(auth, ALICE, ApiKey.Metadata, { topics: ['ok', 'secret'] }))
  t.same(mixed.body.topics, ['ok'])
  const mixedAnswer = mixed.finish!({ ...base, topics: [topic('ok')] })
  t.same(mixedAnswer.topics.map((x) => [x.name, x.errorCode]), [['ok', 0], ['secret', TOPIC_DENIED]])

  const onlyRefused = passed(gateRequest(auth, ALICE, ApiKey.Metadata, { topics: ['secret', 'hidden'] }))
  t.not(onlyRefused.body.topics, null, 'not turned into a request for every topic')
  t.same(onlyRefused.body.topics, [], 'the handler is asked for no topic (brokers only)')
  // Even if a handler answered an empty list with topics, nothing but the refusals may go out.
  const refusedAnswer = onlyRefused.finish!({ ...base, topics: [topic('ok'), topic('secret')] })
  t.same(refusedAnswer.topics.map((x) => [x.name, x.errorCode, x.partitions.length]), [['secret', TOPIC_DENIED, 0], ['hidden', TOPIC_DENIED, 0]])

  const brokersOnly = passed(gateRequest(auth, ALICE, ApiKey.Metadata, { topics: [] }))
  t.same(brokersOnly.body.topics, [], 'an empty list (brokers only) stays empty')
  t.same(brokersOnly.finish?.({ ...base, topics: [] }).topics ?? [], [], 'with nothing added')
})

t.test('Fetch: from a replica it needs cluster_action (31, whole); from a consumer it is split by topic', async (t) => {
  const auth = newAuthorizer()
  const partition = { partition: 0, currentLeaderEpoch: 0, fetchOffset: 0n, logStartOffset: -1n, partitionMaxBytes: 1024 }
  const body = (replicaId: number): Req<typeof ApiKey.Fetch> => ({
    replicaId,
    maxWaitMs: 0,
    minBytes: 0,
    maxBytes: 1 << 20,
    isolationLevel: 0,
    topics: [
      { name: 'ok', partitions: [partition] },
      { name: 'secret', partitions: [partition, { ...partition, partition: 2 }] },
    ],
  })

  const replica = refused(gateRequest(auth, ALICE, ApiKey.Fetch, body(2)))
  t.equal(replica.errorCode, CLUSTER_DENIED, 'a follower fetch from a user is refused with 31')
  t.same(replica.topics, [], 'and returns no data at all')
  const replicaOk = passed(gateRequest(auth, BROKER, ApiKey.Fetch, body(0)))
  t.equal(replicaOk.body.topics.length, 2, "a broker's follower fetch passes whole")
  t.ok('denied' in gateRequest(auth, ALICE, ApiKey.Fetch, body(0)), 'replica id 0 counts as a replica too')

  const consumer = passed(gateRequest(auth, ALICE, ApiKey.Fetch, body(-1)))
  t.same(consumer.body.topics.map((x) => x.name), ['ok'])
  const answer = consumer.finish!({ throttleTimeMs: 0, errorCode: 0, topics: [{ name: 'ok', partitions: [{ partitionIndex: 0, errorCode: 0, highWatermark: 1n, lastStableOffset: 1n, logStartOffset: 0n, records }] }] })
  t.equal(answer.errorCode, 0, 'a consumer fetch is not refused at the top level')
  const secret = answer.topics.find((x) => x.name === 'secret')
  t.same(secret?.partitions.map((p) => [p.partitionIndex, p.errorCode, p.records.length]), [[0, TOPIC_DENIED, 0], [2, TOPIC_DENIED, 0]], 'refused partitions carry 29 and no records')
})

t.test('ListOffsets and OffsetsForLeaderEpoch from a replica need cluster_action', async (t) => {
  const auth = newAuthorizer()
  const lo = (replicaId: number): Req<typeof ApiKey.ListOffsets> => ({ replicaId, isolationLevel: 0, topics: [{ name: 'ok', partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp: -1n }] }] })
  const denied = refused(gateRequest(auth, ALICE, ApiKey.ListOffsets, lo(1)))
  t.same(denied.topics.map((x) => x.partitions.map((p) => p.errorCode)), [[CLUSTER_DENIED]])
  t.same(passed(gateRequest(auth, ALICE, ApiKey.ListOffsets, lo(-1))).body.topics.map((x) => x.name), ['ok'], 'a consumer may, with describe')
  passed(gateRequest(auth, BROKER, ApiKey.ListOffsets, lo(1)))

  const ofle: Req<typeof ApiKey.OffsetsForLeaderEpoch> = { replicaId: 1, topics: [{ name: 'ok', partitions: [{ partition: 0, currentLeaderEpoch: 0, leaderEpoch: 0 }] }] }
  const trimmed = passed(gateRequest(auth, ALICE, ApiKey.OffsetsForLeaderEpoch, ofle))
  t.same(trimmed.body.topics, [], 'no topic reaches the handler')
  t.same(trimmed.finish!({ throttleTimeMs: 0, topics: [] }).topics.map((x) => x.partitions.map((p) => p.errorCode)), [[CLUSTER_DENIED]])
})

t.test('OffsetsForLeaderEpoch from a consumer (replicaId -1) is a topic describe, as in Kafka, not a cluster action', async (t) => {
  const auth = newAuthorizer()
  const partitions = [{ partition: 0, currentLeaderEpoch: 3, leaderEpoch: 2 }]
  const body: Req<typeof ApiKey.OffsetsForLeaderEpoch> = { replicaId: -1, topics: ['ok', 'seen', 'secret'].map((name) => ({ name, partitions })) }
  const gated = passed(gateRequest(auth, ALICE, ApiKey.OffsetsForLeaderEpoch, body))
  t.same(gated.body.topics.map((x) => x.name), ['ok', 'seen'], 'a topic alice reads or describes reaches the handler, though she has no cluster_action')
  const answered = gated.finish!({ throttleTimeMs: 0, topics: [] })
  t.same(answered.topics.map((x) => [x.name, x.partitions.map((p) => p.errorCode)]), [['secret', [TOPIC_DENIED]]], 'the other is 29, never 31')
  t.same(passed(gateRequest(auth, ALICE, ApiKey.OffsetsForLeaderEpoch, { replicaId: -1, topics: [{ name: 'ok', partitions }] })).body.topics.map((x) => x.name), ['ok'], 'untouched when every topic is allowed')
})

t.test('broker-to-broker APIs: 31 for a user, through for a super user', async (t) => {
  const incarnationId = 'inc-1'
  const gates: Array<[string, (s: Session) => { denied: unknown } | { body: unknown }]> = [
    ['Vote', (s) => gateRequest(newAuthorizer(), s, ApiKey.Vote, { term: 9, candidateId: 3, lastLogIndex: 100n, lastLogTerm: 8 })],
    ['AppendEntries', (s) => gateRequest(newAuthorizer(), s, ApiKey.AppendEntries, { term: 9, leaderId: 3, prevLogIndex: 0n, prevLogTerm: 0, leaderCommit: 0n, entries: [{ term: 9, data: records }] })],
    ['InstallSnapshot', (s) => gateRequest(newAuthorizer(), s, ApiKey.InstallSnapshot, { term: 9, leaderId: 3, lastIndex: 10n, lastTerm: 9, data: records })],
    ['BrokerRegistration', (s) => gateRequest(newAuthorizer(), s, ApiKey.BrokerRegistration, { brokerId: 3, host: 'evil', port: 1, kafkaPort: -1, incarnationId })],
    ['BrokerHeartbeat', (s) => gateRequest(newAuthorizer(), s, ApiKey.BrokerHeartbeat, { brokerId: 3, incarnationId })],
    ['ControlledShutdown', (s) => gateRequest(newAuthorizer(), s, ApiKey.ControlledShutdown, { brokerId: 3, incarnationId })],
    ['AlterPartition', (s) => gateRequest(newAuthorizer(), s, ApiKey.AlterPartition, { brokerId: 3, incarnationId, topics: [{ name: 'ok', partitions: [{ partition: 0, leaderEpoch: 0, newIsr: [3], partitionEpoch: 0 }] }] })],
    ['AllocateProducerIds', (s) => gateRequest(newAuthorizer(), s, ApiKey.AllocateProducerIds, { brokerId: 3, incarnationId })],
  ]
  for (const [name, gate] of gates) {
    for (const who of [ALICE, session('User:ANONYMOUS')]) {
      const r = gate(who)
      t.ok('denied' in r, `${name} from ${who.principal} is refused before its handler`)
      if ('denied' in r) t.equal((r.denied as { errorCode: number }).errorCode, CLUSTER_DENIED, `${name}: 31`)
    }
    t.ok('body' in gate(BROKER), `${name} from the brokers' user passes`)
  }

  // An open cluster (no ACL, authorizer off) on an authenticating listener still guards them.
  const open = newAuthorizer([], { enabled: false })
  t.ok('denied' in gateRequest(open, ALICE, ApiKey.Vote, { term: 9, candidateId: 3, lastLogIndex: 100n, lastLogTerm: 8 }))
  t.ok('body' in gateRequest(open, ALICE, ApiKey.Produce, { transactionalId: null, acks: 1, timeoutMs: 1, topics: [{ name: 'x', partitions: [] }] }), 'while client APIs stay open')
  const granted = newAuthorizer([acl({ principal: 'User:broker-7', operation: 'cluster_action', resourceType: 'cluster', resourceName: CLUSTER_RESOURCE })])
  t.ok('body' in gateRequest(granted, session('User:broker-7'), ApiKey.BrokerHeartbeat, { brokerId: 7, incarnationId }), 'a cluster_action ACL lets a principal through')
})

t.test('OffsetCommit: a refused group is 30 for every partition; a refused topic is 29', async (t) => {
  const auth = newAuthorizer()
  const partition = { partitionIndex: 0, committedOffset: 5n, committedLeaderEpoch: -1, committedMetadata: null }
  const body = (groupId: string): Req<typeof ApiKey.OffsetCommit> => ({
    groupId,
    generationId: -1,
    memberId: '',
    groupInstanceId: null,
    topics: [
      { name: 'ok', partitions: [partition] },
      { name: 'secret', partitions: [partition, { ...partition, partitionIndex: 1 }] },
    ],
  })
  const denied = refused(gateRequest(auth, ALICE, ApiKey.OffsetCommit, body('g-secret')))
  t.same(denied.topics.map((x) => [x.name, x.partitions.map((p) => p.errorCode)]), [['ok', [GROUP_DENIED]], ['secret', [GROUP_DENIED, GROUP_DENIED]]], 'allowed topics too: the group decides first')

  const split = passed(gateRequest(auth, ALICE, ApiKey.OffsetCommit, body('g-ok')))
  t.same(split.body.topics.map((x) => x.name), ['ok'])
  const answer = split.finish!({ throttleTimeMs: 0, topics: [{ name: 'ok', partitions: [{ partitionIndex: 0, errorCode: 0 }] }] })
  t.same(answer.topics.map((x) => [x.name, x.partitions.map((p) => p.errorCode)]), [['ok', [0]], ['secret', [TOPIC_DENIED, TOPIC_DENIED]]])
})

t.test('group APIs and OffsetFetch: 30 without the group', async (t) => {
  const auth = newAuthorizer()
  const join = refused(gateRequest(auth, ALICE, ApiKey.JoinGroup, { groupId: 'g-secret', sessionTimeoutMs: 1000, rebalanceTimeoutMs: 1000, memberId: '', groupInstanceId: null, protocolType: 'consumer', protocols: [] }))
  t.equal(join.errorCode, GROUP_DENIED)
  passed(gateRequest(auth, ALICE, ApiKey.JoinGroup, { groupId: 'g-ok', sessionTimeoutMs: 1000, rebalanceTimeoutMs: 1000, memberId: '', groupInstanceId: null, protocolType: 'consumer', protocols: [] }))
  t.equal(refused(gateRequest(auth, ALICE, ApiKey.Heartbeat, { groupId: 'g-secret', generationId: 1, memberId: 'm', groupInstanceId: null })).errorCode, GROUP_DENIED)
  t.equal(refused(gateRequest(auth, ALICE, ApiKey.OffsetFetch, { groupId: 'g-secret', topics: null })).errorCode, GROUP_DENIED)
  t.equal(refused(gateRequest(auth, ALICE, ApiKey.FindCoordinator, { key: 'g-secret', keyType: 0 })).errorCode, GROUP_DENIED)
})

t.test('admin APIs: ACLs and SCRAM users need alter (or describe) on the cluster', async (t) => {
  const auth = newAuthorizer()
  const binding = { resourceType: 2, resourceName: 'ok', patternType: 3, principal: 'User:alice', host: '*', operation: 2, permissionType: 3 }
  const create = refused(gateRequest(auth, ALICE, ApiKey.CreateAcls, { creations: [binding, binding] }))
  t.same(create.results.map((r) => r.errorCode), [CLUSTER_DENIED, CLUSTER_DENIED], 'alice may not grant herself more')
  passed(gateRequest(auth, BROKER, ApiKey.CreateAcls, { creations: [binding] }))
  const filter = { resourceType: 1, resourceName: null, patternType: 1, principal: null, host: null, operation: 1, permissionType: 1 }
  t.same(refused(gateRequest(auth, ALICE, ApiKey.DeleteAcls, { filters: [filter] })).filterResults.map((r) => r.errorCode), [CLUSTER_DENIED])
  t.equal(refused(gateRequest(auth, ALICE, ApiKey.DescribeAcls, filter)).errorCode, CLUSTER_DENIED)
  const upsertion = { name: 'admin', mechanism: 1, iterations: 4096, salt: records, saltedPassword: Buffer.alloc(32) }
  t.same(refused(gateRequest(auth, ALICE, ApiKey.AlterUserScramCredentials, { upsertions: [upsertion], deletions: [] })).results.map((r) => [r.user, r.errorCode]), [['admin', CLUSTER_DENIED]], "alice may not reset the admin's password")
  t.equal(refused(gateRequest(auth, ALICE, ApiKey.DescribeUserScramCredentials, { users: null })).errorCode, CLUSTER_DENIED)
})

t.test('DescribeConfigs: a topic needs describe_configs on it, a broker needs it on the cluster', async (t) => {
  const auth = newAuthorizer([acl({ principal: 'User:alice', operation: 'describe_configs', resourceName: 'ok' })])
  const gated = passed(gateRequest(auth, ALICE, ApiKey.DescribeConfigs, { resources: [{ resourceType: 2, resourceName: 'ok' }, { resourceType: 2, resourceName: 'secret' }, { resourceType: 4, resourceName: '1' }] }))
  t.same(gated.body.resources, [{ resourceType: 2, resourceName: 'ok' }])
  const answer = gated.finish!({ throttleTimeMs: 0, results: [] })
  t.same(answer.results.map((r) => [r.resourceType, r.resourceName, r.errorCode, r.configs.length]), [[2, 'secret', TOPIC_DENIED, 0], [4, '1', CLUSTER_DENIED, 0]], "the broker's own config (and its keys) stay hidden")
})


// A commit naming no topic still touches its group (the coordinator would create it, or keep a
// member's session alive), so the group is checked first (found in review).
t.test('OffsetCommit with no topic for a refused group is refused', async (t) => {
  const auth = newAuthorizer()
  const r = gateRequest(auth, ALICE, ApiKey.OffsetCommit, { groupId: 'g-secret', generationId: 3, memberId: 'victim-member', groupInstanceId: null, topics: [] })
  t.ok('denied' in r, 'the handler must not see a group the principal may not read')
})

// On a SASL or mTLS listener with authorizer.enabled=false and no ACL yet, users and ACLs are
// still changed by super users only: otherwise any user could reset a super user's credential, or
// create the first ACL and close the cluster to everyone else (found in review).
t.test('on an authenticating listener with no ACL, admin APIs are not open to every user', async (t) => {
  const open = newAuthorizer([], { enabled: false })
  const upsertion = { name: 'admin', mechanism: 1, iterations: 4096, salt: records, saltedPassword: Buffer.alloc(32) }
  t.ok('denied' in gateRequest(open, ALICE, ApiKey.AlterUserScramCredentials, { upsertions: [upsertion], deletions: [] }), "alice may not set the super user's password")
  const binding = { resourceType: 4, resourceName: CLUSTER_RESOURCE, patternType: 3, principal: 'User:alice', host: '*', operation: 2, permissionType: 3 }
  t.ok('denied' in gateRequest(open, ALICE, ApiKey.CreateAcls, { creations: [binding] }), 'nor grant herself all on the cluster')
})

t.test('AddOffsetsToTxn and TxnOffsetCommit need write on the transactional id and read on the group (TxnOffsetCommit: read on each topic too)', async (t) => {
  const auth = newAuthorizer([...ACLS, acl({ principal: 'User:alice', operation: 'write', resourceName: 'tx-ok', resourceType: 'transactional-id' })])
  const TXN_DENIED = errorCodeOf('TRANSACTIONAL_ID_AUTHORIZATION_FAILED')
  const add = { transactionalId: 'tx-ok', producerId: 7n, producerEpoch: 0, groupId: 'g-ok' }
  passed(gateRequest(auth, ALICE, ApiKey.AddOffsetsToTxn, add))
  t.equal(refused(gateRequest(auth, ALICE, ApiKey.AddOffsetsToTxn, { ...add, transactionalId: 'tx-other' })).errorCode, TXN_DENIED, 'another transactional id: 53')
  t.equal(refused(gateRequest(auth, ALICE, ApiKey.AddOffsetsToTxn, { ...add, groupId: 'g-other' })).errorCode, GROUP_DENIED, 'another group: 30')

  const partitions = [{ partitionIndex: 0, committedOffset: 5n, committedLeaderEpoch: -1, committedMetadata: null }]
  const commit: Req<typeof ApiKey.TxnOffsetCommit> = { transactionalId: 'tx-ok', groupId: 'g-ok', producerId: 7n, producerEpoch: 0, generationId: -1, memberId: '', topics: [{ name: 'ok', partitions }, { name: 'secret', partitions }] }
  const gated = passed(gateRequest(auth, ALICE, ApiKey.TxnOffsetCommit, commit))
  t.same(gated.body.topics.map((x) => x.name), ['ok'], 'only the readable topic goes to the handler')
  const answer = gated.finish!({ throttleTimeMs: 0, topics: [{ name: 'ok', partitions: [{ partitionIndex: 0, errorCode: 0 }] }] })
  t.same(answer.topics.map((x) => [x.name, x.partitions[0]?.errorCode]), [['ok', 0], ['secret', TOPIC_DENIED]], 'the unreadable topic is answered 29')
  const codes = (r: Res<typeof ApiKey.TxnOffsetCommit>): number[] => r.topics.flatMap((x) => x.partitions.map((p) => p.errorCode))
  t.same(codes(refused(gateRequest(auth, ALICE, ApiKey.TxnOffsetCommit, { ...commit, transactionalId: 'tx-other' }))), [TXN_DENIED, TXN_DENIED], 'another transactional id: 53 everywhere')
  t.same(codes(refused(gateRequest(auth, ALICE, ApiKey.TxnOffsetCommit, { ...commit, groupId: 'g-other' }))), [GROUP_DENIED, GROUP_DENIED], 'another group: 30 everywhere')
})

t.test('ListTransactions lists only the ids the principal may describe; DescribeTransactions refuses the others with 53 and hides topics it may not describe', async (t) => {
  // Write on a transactional id implies describe on it (Kafka's rule).
  const auth = newAuthorizer([...ACLS, acl({ principal: 'User:alice', operation: 'write', resourceName: 'tx-ok', resourceType: 'transactional-id' })])
  const TXN_DENIED = errorCodeOf('TRANSACTIONAL_ID_AUTHORIZATION_FAILED')
  const listed = passed(gateRequest(auth, ALICE, ApiKey.ListTransactions, { stateFilters: [], producerIdFilters: [] }))
  const states = [
    { transactionalId: 'tx-ok', producerId: 7n, transactionState: 'Ongoing' },
    { transactionalId: 'tx-other', producerId: 8n, transactionState: 'Ongoing' },
  ]
  const all = { throttleTimeMs: 0, errorCode: 0, unknownStateFilters: [], transactionStates: states }
  t.same(listed.finish!(all).transactionStates.map((s) => s.transactionalId), ['tx-ok'], 'alice sees only her transactional id')
  t.same(passed(gateRequest(auth, BROKER, ApiKey.ListTransactions, { stateFilters: [], producerIdFilters: [] })).finish!(all).transactionStates.length, 2, 'a super user sees every id')

  const described = passed(gateRequest(auth, ALICE, ApiKey.DescribeTransactions, { transactionalIds: ['tx-ok', 'tx-other'] }))
  t.same(described.body.transactionalIds, ['tx-ok'], 'only the describable id goes to the handler')
  const ok = { errorCode: 0, transactionalId: 'tx-ok', transactionState: 'Ongoing', transactionTimeoutMs: 60000, transactionStartTimeMs: 1n, producerId: 7n, producerEpoch: 0, topics: [{ topic: 'ok', partitions: [0] }, { topic: 'secret', partitions: [1] }] }
  const answer = described.finish!({ throttleTimeMs: 0, transactionStates: [ok] })
  t.same(answer.transactionStates.map((s) => [s.transactionalId, s.errorCode, s.topics.map((x) => x.topic)]), [['tx-ok', 0, ['ok']], ['tx-other', TXN_DENIED, []]], 'the other id is 53; the undescribable topic is left out')
})
