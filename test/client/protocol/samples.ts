// One fixed request and response body per API version: the inputs of the golden-bytes test.
// Adding a version means adding a sample; editing an existing sample or schema breaks the test,
// which is the point (released versions are frozen).

import { ApiKey } from '../../../client/protocol/apis.js'

export interface Sample {
  name: string
  apiKey: number
  version: number
  request: unknown
  response: unknown
}

const records = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex')

export const SAMPLES: Sample[] = [
  {
    name: 'ApiVersions v0',
    apiKey: ApiKey.ApiVersions,
    version: 0,
    request: {},
    response: { errorCode: 0, apiKeys: [{ apiKey: 0, minVersion: 0, maxVersion: 0 }, { apiKey: 1, minVersion: 0, maxVersion: 3 }] },
  },
  {
    name: 'Metadata v0',
    apiKey: ApiKey.Metadata,
    version: 0,
    request: { topics: ['orders', 'é'] },
    response: {
      brokers: [{ nodeId: 1, host: '127.0.0.1', port: 9092 }],
      clusterId: 'c-1',
      controllerId: 1,
      topics: [{ errorCode: 0, name: 'orders', internal: false, partitions: [{ errorCode: 0, partitionIndex: 0, leaderId: 1, leaderEpoch: 4, replicaNodes: [1, 2, 3], isrNodes: [1, 2], offlineReplicas: [3] }] }],
    },
  },
  {
    name: 'CreateTopics v0',
    apiKey: ApiKey.CreateTopics,
    version: 0,
    request: { topics: [{ name: 'orders', numPartitions: 6, replicationFactor: 3, configs: [{ name: 'min.insync.replicas', value: '2' }, { name: 'x', value: null }] }], timeoutMs: 30000, validateOnly: false },
    response: { topics: [{ name: 'orders', errorCode: 36, errorMessage: 'exists', numPartitions: -1, replicationFactor: -1 }] },
  },
  {
    name: 'DeleteTopics v0',
    apiKey: ApiKey.DeleteTopics,
    version: 0,
    request: { topicNames: ['a', 'b'], timeoutMs: 1000 },
    response: { responses: [{ name: 'a', errorCode: 0, errorMessage: null }, { name: 'b', errorCode: 3, errorMessage: 'unknown' }] },
  },
  {
    name: 'Produce v0',
    apiKey: ApiKey.Produce,
    version: 0,
    request: { transactionalId: null, acks: -1, timeoutMs: 30000, topics: [{ name: 'orders', partitions: [{ index: 2, records }] }] },
    response: { topics: [{ name: 'orders', partitions: [{ index: 2, errorCode: 0, errorMessage: null, baseOffset: 9007199254740993n, logAppendTimeMs: -1n, logStartOffset: 0n }] }], throttleTimeMs: 0 },
  },
  {
    name: 'Produce v1',
    apiKey: ApiKey.Produce,
    version: 1,
    request: { transactionalId: null, acks: -1, timeoutMs: 30000, topics: [{ name: 'orders', partitions: [{ index: 2, currentLeaderEpoch: 5, records }] }] },
    response: { topics: [{ name: 'orders', partitions: [{ index: 2, errorCode: 74, errorMessage: 'fenced', baseOffset: -1n, logAppendTimeMs: -1n, logStartOffset: -1n }] }], throttleTimeMs: 0 },
  },
  {
    name: 'Fetch v0',
    apiKey: ApiKey.Fetch,
    version: 0,
    request: { replicaId: -1, maxWaitMs: 500, minBytes: 1, maxBytes: 52428800, isolationLevel: 0, topics: [{ name: 'orders', partitions: [{ partition: 0, currentLeaderEpoch: -1, fetchOffset: 42n, logStartOffset: -1n, partitionMaxBytes: 1048576 }] }] },
    response: { throttleTimeMs: 0, errorCode: 0, topics: [{ name: 'orders', partitions: [{ partitionIndex: 0, errorCode: 0, highWatermark: 9223372036854775807n, lastStableOffset: 100n, logStartOffset: 0n, records }] }] },
  },
  {
    name: 'ListOffsets v0',
    apiKey: ApiKey.ListOffsets,
    version: 0,
    request: { replicaId: -1, isolationLevel: 0, topics: [{ name: 'orders', partitions: [{ partitionIndex: 1, currentLeaderEpoch: -1, timestamp: -2n }] }] },
    response: { topics: [{ name: 'orders', partitions: [{ partitionIndex: 1, errorCode: 0, timestamp: 1700000000000n, offset: 17n, leaderEpoch: 3 }] }] },
  },
  {
    name: 'Vote v0',
    apiKey: ApiKey.Vote,
    version: 0,
    request: { term: 7, candidateId: 2, lastLogIndex: 120n, lastLogTerm: 6 },
    response: { errorCode: 0, term: 7, granted: true },
  },
  {
    name: 'PreVote v0',
    apiKey: ApiKey.PreVote,
    version: 0,
    request: { term: 8, candidateId: 3, lastLogIndex: 120n, lastLogTerm: 6 },
    response: { errorCode: 0, term: 7, granted: false },
  },
  {
    name: 'AppendEntries v0',
    apiKey: ApiKey.AppendEntries,
    version: 0,
    request: { term: 7, leaderId: 2, prevLogIndex: 120n, prevLogTerm: 6, leaderCommit: 119n, entries: [{ term: 7, data: Buffer.alloc(0) }, { term: 7, data: records }] },
    response: { errorCode: 0, term: 7, success: true, matchIndex: 122n },
  },
  {
    name: 'InstallSnapshot v0',
    apiKey: ApiKey.InstallSnapshot,
    version: 0,
    request: { term: 7, leaderId: 2, lastIndex: 9007199254740993n, lastTerm: 6, data: records },
    response: { errorCode: 0, term: 7, success: true, matchIndex: 9007199254740993n },
  },
  {
    name: 'DescribeQuorum v0',
    apiKey: ApiKey.DescribeQuorum,
    version: 0,
    request: {},
    response: { errorCode: 0, nodeId: 1, role: 'follower', term: 7, leaderId: 2, commitIndex: 119n, lastIndex: 122n, voters: [{ nodeId: 1, host: '127.0.0.1', port: 9092 }, { nodeId: 2, host: '127.0.0.1', port: 9093 }] },
  },
  {
    name: 'DescribeCluster v0',
    apiKey: ApiKey.DescribeCluster,
    version: 0,
    request: {},
    response: { errorCode: 0, controllerId: 2, brokers: [{ brokerId: 1, host: '127.0.0.1', port: 9092, fenced: false }, { brokerId: 2, host: '127.0.0.1', port: 9093, fenced: true }] },
  },
  {
    name: 'BrokerRegistration v0',
    apiKey: ApiKey.BrokerRegistration,
    version: 0,
    request: { brokerId: 3, host: 'broker-3.local', port: 9094, incarnationId: '4f1c2a' },
    response: { errorCode: 41 },
  },
  {
    name: 'BrokerHeartbeat v0',
    apiKey: ApiKey.BrokerHeartbeat,
    version: 0,
    request: { brokerId: 3, incarnationId: '4f1c2a' },
    response: { errorCode: 0, isFenced: false },
  },
  {
    name: 'FindCoordinator v0',
    apiKey: ApiKey.FindCoordinator,
    version: 0,
    request: { key: 'billing-sinks', keyType: 0 },
    response: { throttleTimeMs: 0, errorCode: 0, errorMessage: null, nodeId: 2, host: '127.0.0.1', port: 9093 },
  },
  {
    name: 'JoinGroup v0',
    apiKey: ApiKey.JoinGroup,
    version: 0,
    request: { groupId: 'billing-sinks', sessionTimeoutMs: 10000, rebalanceTimeoutMs: 30000, memberId: '', groupInstanceId: null, protocolType: 'consumer', protocols: [{ name: 'range', metadata: Buffer.from([0, 1, 2]) }, { name: 'roundrobin', metadata: Buffer.from([3]) }] },
    response: { throttleTimeMs: 0, errorCode: 0, generationId: 3, protocolType: 'consumer', protocolName: 'range', leader: 'm-1', memberId: 'm-1', members: [{ memberId: 'm-1', groupInstanceId: null, metadata: Buffer.from([0, 1, 2]) }, { memberId: 'm-2', groupInstanceId: 'sink-b', metadata: Buffer.from([]) }] },
  },
  {
    name: 'SyncGroup v0',
    apiKey: ApiKey.SyncGroup,
    version: 0,
    request: { groupId: 'billing-sinks', generationId: 3, memberId: 'm-1', groupInstanceId: null, protocolType: 'consumer', protocolName: 'range', assignments: [{ memberId: 'm-1', assignment: Buffer.from([9, 8]) }, { memberId: 'm-2', assignment: Buffer.from([7]) }] },
    response: { throttleTimeMs: 0, errorCode: 27, protocolType: null, protocolName: null, assignment: Buffer.from([9, 8]) },
  },
  {
    name: 'Heartbeat v0',
    apiKey: ApiKey.Heartbeat,
    version: 0,
    request: { groupId: 'billing-sinks', generationId: 3, memberId: 'm-2', groupInstanceId: 'sink-b' },
    response: { throttleTimeMs: 0, errorCode: 27 },
  },
  {
    name: 'LeaveGroup v0',
    apiKey: ApiKey.LeaveGroup,
    version: 0,
    request: { groupId: 'billing-sinks', members: [{ memberId: 'm-2', groupInstanceId: null }] },
    response: { throttleTimeMs: 0, errorCode: 0, members: [{ memberId: 'm-2', groupInstanceId: null, errorCode: 25 }] },
  },
  {
    name: 'OffsetCommit v0',
    apiKey: ApiKey.OffsetCommit,
    version: 0,
    request: { groupId: 'billing-sinks', generationId: 3, memberId: 'm-1', groupInstanceId: null, topics: [{ name: 'orders', partitions: [{ partitionIndex: 0, committedOffset: 9007199254740993n, committedLeaderEpoch: 4, committedMetadata: null }, { partitionIndex: 5, committedOffset: 0n, committedLeaderEpoch: -1, committedMetadata: 'sink-a' }] }] },
    response: { throttleTimeMs: 0, topics: [{ name: 'orders', partitions: [{ partitionIndex: 0, errorCode: 0 }, { partitionIndex: 5, errorCode: 22 }] }] },
  },
  {
    name: 'OffsetFetch v0',
    apiKey: ApiKey.OffsetFetch,
    version: 0,
    request: { groupId: 'billing-sinks', topics: [{ name: 'orders', partitionIndexes: [0, 5] }] },
    response: { throttleTimeMs: 0, errorCode: 0, topics: [{ name: 'orders', partitions: [{ partitionIndex: 0, committedOffset: 42n, committedLeaderEpoch: 4, metadata: null, errorCode: 0 }, { partitionIndex: 5, committedOffset: -1n, committedLeaderEpoch: -1, metadata: '', errorCode: 0 }] }] },
  },
  {
    name: 'DescribeGroups v0',
    apiKey: ApiKey.DescribeGroups,
    version: 0,
    request: { groups: ['billing-sinks', 'nobody'] },
    response: { throttleTimeMs: 0, groups: [{ errorCode: 0, groupId: 'billing-sinks', groupState: 'Stable', protocolType: 'consumer', protocolData: 'range', generationId: 3, members: [{ memberId: 'm-1', groupInstanceId: null, clientId: 'sink', clientHost: '/127.0.0.1', memberMetadata: Buffer.from([1]), memberAssignment: Buffer.from([2, 3]) }] }, { errorCode: 69, groupId: 'nobody', groupState: 'Dead', protocolType: '', protocolData: '', generationId: -1, members: [] }] },
  },
  {
    name: 'ListGroups v0',
    apiKey: ApiKey.ListGroups,
    version: 0,
    request: { statesFilter: ['Stable'] },
    response: { throttleTimeMs: 0, errorCode: 0, groups: [{ groupId: 'billing-sinks', protocolType: 'consumer', groupState: 'Stable' }] },
  },
  {
    name: 'InitProducerId v0',
    apiKey: ApiKey.InitProducerId,
    version: 0,
    request: { transactionalId: null, transactionTimeoutMs: 60000, producerId: -1n, producerEpoch: -1 },
    response: { throttleTimeMs: 0, errorCode: 0, producerId: 9007199254740993n, producerEpoch: 0 },
  },
  {
    name: 'AllocateProducerIds v0',
    apiKey: ApiKey.AllocateProducerIds,
    version: 0,
    request: { brokerId: 2, incarnationId: '4f1c2a' },
    response: { throttleTimeMs: 0, errorCode: 0, producerIdStart: 1000n, producerIdLen: 1000 },
  },
  {
    name: 'ControlledShutdown v0',
    apiKey: ApiKey.ControlledShutdown,
    version: 0,
    request: { brokerId: 2, incarnationId: '4f1c2a' },
    response: { errorCode: 0, remainingLeaderships: 1 },
  },
  {
    name: 'OffsetsForLeaderEpoch v0',
    apiKey: ApiKey.OffsetsForLeaderEpoch,
    version: 0,
    request: { replicaId: 2, topics: [{ name: 'orders', partitions: [{ partition: 0, currentLeaderEpoch: 5, leaderEpoch: 4 }, { partition: 1, currentLeaderEpoch: 5, leaderEpoch: 2 }] }] },
    response: { throttleTimeMs: 0, topics: [{ name: 'orders', partitions: [{ errorCode: 0, partition: 0, leaderEpoch: 4, endOffset: 9007199254740993n }, { errorCode: 0, partition: 1, leaderEpoch: -1, endOffset: -1n }] }] },
  },
  {
    name: 'AlterPartition v0',
    apiKey: ApiKey.AlterPartition,
    version: 0,
    request: { brokerId: 1, incarnationId: '4f1c2a', topics: [{ name: 'orders', partitions: [{ partition: 0, leaderEpoch: 5, newIsr: [1, 3], partitionEpoch: 12 }, { partition: 1, leaderEpoch: 5, newIsr: [1, 2, 3], partitionEpoch: 8 }] }] },
    response: {
      errorCode: 0,
      topics: [{ name: 'orders', partitions: [{ partition: 0, errorCode: 0, leaderId: 1, leaderEpoch: 5, isr: [1, 3], partitionEpoch: 13 }, { partition: 1, errorCode: 95, leaderId: 1, leaderEpoch: 5, isr: [1, 2], partitionEpoch: 9 }] }],
    },
  },
  {
    name: 'DescribeConfigs v0',
    apiKey: ApiKey.DescribeConfigs,
    version: 0,
    request: { resources: [{ resourceType: 2, resourceName: 'orders' }, { resourceType: 4, resourceName: '2' }] },
    response: {
      throttleTimeMs: 0,
      results: [
        {
          errorCode: 0,
          errorMessage: null,
          resourceType: 2,
          resourceName: 'orders',
          configs: [{ name: 'retention.ms', value: '86400000', isDefault: false }, { name: 'cleanup.policy', value: 'delete', isDefault: true }, { name: 'x', value: null, isDefault: true }],
        },
        { errorCode: 42, errorMessage: 'ask broker 2', resourceType: 4, resourceName: '2', configs: [] },
      ],
    },
  },
  {
    name: 'DescribeMetrics v0',
    apiKey: ApiKey.DescribeMetrics,
    version: 0,
    request: {},
    response: { errorCode: 0, nodeId: 2, text: '# TYPE strand_active_controller gauge\nstrand_active_controller 1\n' },
  },
  {
    name: 'SaslHandshake v0',
    apiKey: ApiKey.SaslHandshake,
    version: 0,
    request: { mechanism: 'SCRAM-SHA-256' },
    response: { errorCode: 0, mechanisms: ['SCRAM-SHA-256', 'PLAIN'] },
  },
  {
    name: 'SaslAuthenticate v0',
    apiKey: ApiKey.SaslAuthenticate,
    version: 0,
    request: { authBytes: Buffer.from('n,,n=user,r=abc') },
    response: { errorCode: 58, errorMessage: 'Authentication failed', authBytes: Buffer.alloc(0), sessionLifetimeMs: 0n },
  },
  {
    name: 'DescribeUserScramCredentials v0',
    apiKey: ApiKey.DescribeUserScramCredentials,
    version: 0,
    request: { users: [{ name: 'alice' }] },
    response: { errorCode: 0, errorMessage: null, results: [{ user: 'alice', errorCode: 0, errorMessage: null, credentialInfos: [{ mechanism: 1, iterations: 4096 }] }] },
  },
  {
    name: 'AlterUserScramCredentials v0',
    apiKey: ApiKey.AlterUserScramCredentials,
    version: 0,
    request: { deletions: [{ name: 'bob', mechanism: 1 }], upsertions: [{ name: 'alice', mechanism: 1, iterations: 4096, salt: Buffer.from('0102', 'hex'), saltedPassword: Buffer.from('0304', 'hex') }] },
    response: { results: [{ user: 'bob', errorCode: 91, errorMessage: 'no such user' }, { user: 'alice', errorCode: 0, errorMessage: null }] },
  },
  {
    name: 'DescribeAcls v0',
    apiKey: ApiKey.DescribeAcls,
    version: 0,
    request: { resourceType: 2, resourceName: 'orders', patternType: 2, principal: null, host: null, operation: 1, permissionType: 1 },
    response: { errorCode: 0, errorMessage: null, acls: [{ resourceType: 2, resourceName: 'orders', patternType: 3, principal: 'User:alice', host: '*', operation: 3, permissionType: 3 }] },
  },
  {
    name: 'CreateAcls v0',
    apiKey: ApiKey.CreateAcls,
    version: 0,
    request: { creations: [{ resourceType: 3, resourceName: 'billing-', patternType: 4, principal: 'User:bob', host: '*', operation: 8, permissionType: 2 }] },
    response: { results: [{ errorCode: 0, errorMessage: null }] },
  },
  {
    name: 'DeleteAcls v0',
    apiKey: ApiKey.DeleteAcls,
    version: 0,
    request: { filters: [{ resourceType: 1, resourceName: null, patternType: 1, principal: 'User:bob', host: null, operation: 1, permissionType: 1 }] },
    response: { filterResults: [{ errorCode: 0, errorMessage: null, matchingAcls: [{ resourceType: 4, resourceName: 'kafka-cluster', patternType: 3, principal: 'User:bob', host: '*', operation: 9, permissionType: 3 }] }] },
  },


]
