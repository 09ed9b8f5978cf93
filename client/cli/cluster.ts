// `strand cluster status`: the controller, the brokers, the metadata quorum's voters with their
// role, term, commit index and how many entries each lags behind the leader, and each follower's
// replication lag behind each leader it copies from (from the leaders' metrics, DescribeMetrics).
// `strand cluster metrics`: every broker's metrics, summed up (cli/metrics.ts).

import { StrandError, type BrokerMetricsText, type Strand } from '../index.js'
import { parse, table, toJson, UsageError, type Connect } from './args.js'
import { METRICS_USAGE, metricsCommand, summarize } from './metrics.js'
import { parseExposition } from './prometheus.js'

export const CLUSTER_USAGE = `Usage:
  strand cluster status       controller, brokers, quorum voters (role, term, commit index, lag),
                              replication lag of each follower behind each leader (p99 and max since
                              the leader started, worst over the topics they share)
${METRICS_USAGE}`

const OPTIONS = {
  metrics: { type: 'string', short: 'm', multiple: true },
  'interval-ms': { type: 'string' },
} as const

type Out = (text: string) => void

/** How far one follower trails one leader: the worst of the topics they share, since the leader started. */
export interface FollowerLag {
  leader: number
  follower: number
  /** Topics in which the follower copies from this leader. */
  topics: number
  lagMsP99: number | null
  lagMsMax: number | null
  lagOffsetsP99: number | null
  lagOffsetsMax: number | null
}

export async function clusterCommand(argv: string[], connect: Connect, out: Out): Promise<void> {
  const { values, positionals } = parse(argv, OPTIONS)
  const [action, ...extra] = positionals
  if (values.help || action === undefined) return out(CLUSTER_USAGE)
  if (action !== 'status' && action !== 'metrics') throw new UsageError(`Unknown action "${action}"; expected status or metrics.`)
  if (extra.length > 0) throw new UsageError(`Unexpected argument "${extra[0]}".`)
  if (action === 'metrics') return metricsCommand(values, connect, out)
  if (values.metrics !== undefined || values['interval-ms'] !== undefined) throw new UsageError('--metrics and --interval-ms are options of strand cluster metrics.')
  const strand = connect(values)
  try {
    const admin = strand.admin()
    // Lag is extra: a cluster whose metrics cannot be read still has a status.
    const metricsOrNone = admin.brokerMetrics().catch((err: unknown) => {
      if (err instanceof StrandError) return []
      throw err
    })
    const [cluster, quorum, metrics] = await Promise.all([admin.describeCluster(), admin.describeQuorum(), metricsOrNone])
    const replication = followerLags(metrics)
    const unread = metrics.filter((m) => m.error !== null).map((m) => ({ nodeId: m.nodeId, error: m.error!.code }))
    if (values.json) return out(toJson({ clusterId: cluster.clusterId, controllerId: cluster.controllerId, brokers: cluster.brokers, quorum, replication, metricsUnavailable: unread }))
    const voters = table(
      ['VOTER', 'ADDRESS', 'ROLE', 'TERM', 'COMMIT INDEX', 'LAG'],
      quorum.voters.map((v) => [v.nodeId, v.address, v.reachable ? v.role : 'unreachable', v.term ?? '-', v.commitIndex ?? '-', v.lag ?? '-']),
    )
    const brokers = table(['BROKER', 'ADDRESS'], [...cluster.brokers].sort((a, b) => a.nodeId - b.nodeId).map((b) => [b.nodeId, `${b.host}:${b.port}`]))
    out(`Cluster ${cluster.clusterId}\nController: broker ${cluster.controllerId} (term ${quorum.term})\n\n${brokers}\n\n${voters}\n\n${renderLags(replication, metrics.length === 0 ? null : unread)}`)
  } finally {
    await strand.close()
  }
}

/** The replication lag summaries of every leader's metrics, one row per leader and follower. */
export function followerLags(metrics: readonly BrokerMetricsText[]): FollowerLag[] {
  const lags: FollowerLag[] = []
  for (const m of metrics) {
    if (m.text === null) continue
    const byFollower = new Map<string, FollowerLag>()
    for (const r of summarize(m.address, parseExposition(m.text), null, 0).replication) {
      const row = byFollower.get(r.follower) ?? { leader: m.nodeId, follower: Number(r.follower), topics: 0, lagMsP99: null, lagMsMax: null, lagOffsetsP99: null, lagOffsetsMax: null }
      row.topics++
      row.lagMsP99 = worst(row.lagMsP99, r.lagMsP99)
      row.lagMsMax = worst(row.lagMsMax, r.lagMsMax)
      row.lagOffsetsP99 = worst(row.lagOffsetsP99, r.lagOffsetsP99)
      row.lagOffsetsMax = worst(row.lagOffsetsMax, r.lagOffsetsMax)
      byFollower.set(r.follower, row)
    }
    lags.push(...byFollower.values())
  }
  return lags.sort((a, b) => a.follower - b.follower || a.leader - b.leader)
}

function worst(a: number | null, b: number | null): number | null {
  if (a === null) return b
  return b === null ? a : Math.max(a, b)
}

function fmt(n: number | null, digits: number): string {
  return n === null || Number.isNaN(n) ? '-' : n.toFixed(digits)
}

/** `unread` null: no broker's metrics could be asked for at all. */
function renderLags(lags: readonly FollowerLag[], unread: ReadonlyArray<{ nodeId: number; error: string }> | null): string {
  if (unread === null) return 'Replication lag: unknown (no broker answered DescribeMetrics)'
  const missing = unread.length === 0 ? '' : `\n(metrics not read from ${unread.map((u) => `broker ${u.nodeId} (${u.error})`).join(', ')}: the followers of its partitions are not listed)`
  if (lags.length === 0) return `Replication lag: no follower has fetched from a leader yet${missing}`
  const rows = lags.map((l) => [l.follower, l.leader, l.topics, fmt(l.lagMsP99, 2), fmt(l.lagMsMax, 2), fmt(l.lagOffsetsP99, 0), fmt(l.lagOffsetsMax, 0)])
  const header = ['FOLLOWER', 'LEADER', 'TOPICS', 'LAG P99 MS', 'LAG MAX MS', 'LAG P99 RECORDS', 'LAG MAX RECORDS']
  return `Replication lag (on each leader since it started; worst topic)\n${table(header, rows)}${missing}`
}
