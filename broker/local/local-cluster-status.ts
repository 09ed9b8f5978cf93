// The status screen `npm start` prints (broker/local/local-cluster.ts) whenever the cluster changes:
// the controller, each broker with its state and metrics endpoint, the topic count, and the
// partitions that are under-replicated (ISR smaller than the replica set) or offline (no leader).
// Pure: it renders what DescribeCluster and Metadata said, so it is tested without processes.
//
//   controller: broker 3 | topics: 2 (+1 internal), 56 partitions | under-replicated: 1 | offline: 0
//     broker 1  127.0.0.1:9092  up      metrics http://127.0.0.1:9192/metrics
//     broker 2  127.0.0.1:9093  down    metrics http://127.0.0.1:9193/metrics
//     broker 3  127.0.0.1:9094  up      metrics http://127.0.0.1:9194/metrics
//     under-replicated: orders-0 (ISR 1,3 of 1,2,3)

import type { DescribeClusterResponse } from '../../client/protocol/messages/brokers.js'
import type { MetadataResponse } from '../../client/protocol/messages/metadata.js'

/**
 * Partitions named per list (under-replicated, offline) before "and N more": the status must
 * stay one screen when a broker with hundreds of partitions goes down.
 */
export const STATUS_PARTITIONS_LISTED_MAX = 5

/** A broker of the local cluster as the launcher knows it. */
export interface StatusMember {
  id: number
  /** Its listener, host:port. */
  address: string
  /** Its metrics endpoint; null when `metrics.port` is -1 (off); port 0: the OS chose it. */
  metrics: { host: string; port: number } | null
  /** False while its process is not running (crashed, not restarted). */
  running: boolean
}

/** What the first broker that answered said. */
export interface ClusterView {
  cluster: DescribeClusterResponse
  metadata: MetadataResponse
}

type Partition = MetadataResponse['topics'][number]['partitions'][number]

/** The status lines; `null` view: no broker answered. */
export function statusScreen(view: ClusterView | null, members: readonly StatusMember[]): string[] {
  if (view === null) return ['no broker answers', ...members.map((m) => brokerLine(m, m.running ? 'not answering' : 'down'))]
  const { cluster, metadata } = view
  const partitions = metadata.topics.flatMap((t) => t.partitions.map((p) => ({ topic: t.name, p })))
  const offline = partitions.filter(({ p }) => p.leaderId < 0)
  const underReplicated = partitions.filter(({ p }) => p.leaderId >= 0 && p.isrNodes.length < p.replicaNodes.length)
  const internal = metadata.topics.filter((t) => t.internal).length
  const topics = `topics: ${metadata.topics.length - internal}${internal > 0 ? ` (+${internal} internal)` : ''}, ${partitions.length} partitions`
  const controller = `controller: ${cluster.controllerId < 0 ? 'none' : `broker ${cluster.controllerId}`}`
  const lines = [`${controller} | ${topics} | under-replicated: ${underReplicated.length} | offline: ${offline.length}`]
  for (const m of members) {
    const b = cluster.brokers.find((x) => x.brokerId === m.id)
    lines.push(brokerLine(m, !m.running ? 'down' : b === undefined ? 'starting' : b.fenced ? 'fenced' : 'up'))
  }
  if (underReplicated.length > 0) lines.push(`  under-replicated: ${listed(underReplicated.map(({ topic, p }) => `${topic}-${p.partitionIndex} (ISR ${p.isrNodes.join(',')} of ${p.replicaNodes.join(',')})`))}`)
  if (offline.length > 0) lines.push(`  offline: ${listed(offline.map(({ topic, p }) => `${topic}-${p.partitionIndex} (replicas ${replicasOf(p)})`))}`)
  return lines
}

function brokerLine(m: StatusMember, state: string): string {
  return `  broker ${m.id}  ${m.address}  ${state.padEnd(8)}  ${metricsOf(m.metrics)}`
}

function metricsOf(metrics: StatusMember['metrics']): string {
  if (metrics === null) return 'metrics off'
  if (metrics.port === 0) return 'metrics on a port the OS chose (in its log)'
  return `metrics http://${metrics.host}:${metrics.port}/metrics`
}

function replicasOf(p: Partition): string {
  return p.replicaNodes.join(',')
}

function listed(names: readonly string[]): string {
  const shown = names.slice(0, STATUS_PARTITIONS_LISTED_MAX).join(', ')
  return names.length > STATUS_PARTITIONS_LISTED_MAX ? `${shown} and ${names.length - STATUS_PARTITIONS_LISTED_MAX} more` : shown
}
