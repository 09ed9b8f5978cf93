// The `npm start` status screen from what DescribeCluster and Metadata said: broker states and
// metrics endpoints, the topic count, and the under-replicated and offline partitions, listed up
// to a bound so the screen stays one screen.

import t from 'tap'
import { STATUS_PARTITIONS_LISTED_MAX, statusScreen, type ClusterView, type StatusMember } from '../../broker/local/local-cluster-status.js'

const members: StatusMember[] = [1, 2, 3].map((id) => ({ id, address: `127.0.0.1:${9091 + id}`, metrics: { host: '127.0.0.1', port: 9191 + id }, running: true }))

function partition(partitionIndex: number, leaderId: number, isrNodes: number[]) {
  return { errorCode: 0, partitionIndex, leaderId, leaderEpoch: 1, replicaNodes: [1, 2, 3], isrNodes, offlineReplicas: [] }
}

function view(topics: ClusterView['metadata']['topics'], fenced: number[] = []): ClusterView {
  return {
    cluster: { errorCode: 0, controllerId: 2, brokers: [1, 2, 3].map((id) => ({ brokerId: id, host: '127.0.0.1', port: 9091 + id, fenced: fenced.includes(id) })) },
    metadata: { brokers: [], clusterId: 'c', controllerId: 2, topics },
  }
}

t.test('a healthy cluster: one summary line and one line per broker with its metrics endpoint', async (t) => {
  const topics = [
    { errorCode: 0, name: 'orders', internal: false, partitions: [partition(0, 1, [1, 2, 3]), partition(1, 2, [1, 2, 3])] },
    { errorCode: 0, name: '__consumer_offsets', internal: true, partitions: [partition(0, 3, [1, 2, 3])] },
  ]
  t.same(statusScreen(view(topics), members), [
    'controller: broker 2 | topics: 1 (+1 internal), 3 partitions | under-replicated: 0 | offline: 0',
    '  broker 1  127.0.0.1:9092  up        metrics http://127.0.0.1:9192/metrics',
    '  broker 2  127.0.0.1:9093  up        metrics http://127.0.0.1:9193/metrics',
    '  broker 3  127.0.0.1:9094  up        metrics http://127.0.0.1:9194/metrics',
  ])
})

t.test('under-replicated and offline partitions are counted and named, up to a bound', async (t) => {
  const many = Array.from({ length: STATUS_PARTITIONS_LISTED_MAX + 2 }, (_, i) => partition(i, 1, [1, 2]))
  const topics = [
    { errorCode: 0, name: 'orders', internal: false, partitions: many },
    { errorCode: 0, name: 'audit', internal: false, partitions: [partition(0, -1, [3])] },
  ]
  const down = members.map((m) => (m.id === 3 ? { ...m, running: false } : m))
  const lines = statusScreen(view(topics, [3]), down)
  t.equal(lines[0], `controller: broker 2 | topics: 2, ${many.length + 1} partitions | under-replicated: ${many.length} | offline: 1`)
  t.equal(lines[3], '  broker 3  127.0.0.1:9094  down      metrics http://127.0.0.1:9194/metrics')
  t.equal(lines[4], `  under-replicated: orders-0 (ISR 1,2 of 1,2,3), orders-1 (ISR 1,2 of 1,2,3), orders-2 (ISR 1,2 of 1,2,3), orders-3 (ISR 1,2 of 1,2,3), orders-4 (ISR 1,2 of 1,2,3) and 2 more`)
  t.equal(lines[5], '  offline: audit-0 (replicas 1,2,3)', 'a partition with no leader is offline, not counted as under-replicated too')
  t.equal(lines.length, 6, 'one screen however many partitions are behind')
  t.match(statusScreen(view(topics, [3]), members)[3], /broker 3 {2}127\.0\.0\.1:9094 {2}fenced/, 'a running broker the controller fenced')
})

t.test('no answer, and metrics off or on a port the OS chose', async (t) => {
  const odd: StatusMember[] = [
    { id: 1, address: '127.0.0.1:9092', metrics: null, running: true },
    { id: 2, address: '127.0.0.1:9093', metrics: { host: '127.0.0.1', port: 0 }, running: false },
  ]
  t.same(statusScreen(null, odd), [
    'no broker answers',
    '  broker 1  127.0.0.1:9092  not answering  metrics off',
    '  broker 2  127.0.0.1:9093  down      metrics on a port the OS chose (in its log)',
  ])
})
