// `strand cluster status`: the controller, the brokers, and the metadata quorum's voters with
// their role, term, commit index and how many entries each lags behind the leader.
// `strand cluster metrics`: each broker's Prometheus endpoint, summed up (cli/metrics.ts).

import type { Strand } from '../index.js'
import { parse, table, toJson, UsageError } from './args.js'
import { METRICS_USAGE, metricsCommand } from './metrics.js'

export const CLUSTER_USAGE = `Usage:
  strand cluster status       controller, brokers, quorum voters (role, term, commit index, lag)
${METRICS_USAGE}`

const OPTIONS = {
  metrics: { type: 'string', short: 'm', multiple: true },
  'interval-ms': { type: 'string' },
} as const

type Out = (text: string) => void

export async function clusterCommand(argv: string[], connect: (bootstrap: string | undefined) => Strand, out: Out): Promise<void> {
  const { values, positionals } = parse(argv, OPTIONS)
  const [action, ...extra] = positionals
  if (values.help || action === undefined) return out(CLUSTER_USAGE)
  if (action !== 'status' && action !== 'metrics') throw new UsageError(`Unknown action "${action}"; expected status or metrics.`)
  if (extra.length > 0) throw new UsageError(`Unexpected argument "${extra[0]}".`)
  if (action === 'metrics') return metricsCommand(values, out)
  if (values.metrics !== undefined || values['interval-ms'] !== undefined) throw new UsageError('--metrics and --interval-ms are options of strand cluster metrics.')
  const strand = connect(values.bootstrap)
  try {
    const admin = strand.admin()
    const [cluster, quorum] = await Promise.all([admin.describeCluster(), admin.describeQuorum()])
    if (values.json) return out(toJson({ clusterId: cluster.clusterId, controllerId: cluster.controllerId, brokers: cluster.brokers, quorum }))
    const voters = table(
      ['VOTER', 'ADDRESS', 'ROLE', 'TERM', 'COMMIT INDEX', 'LAG'],
      quorum.voters.map((v) => [v.nodeId, v.address, v.reachable ? v.role : 'unreachable', v.term ?? '-', v.commitIndex ?? '-', v.lag ?? '-']),
    )
    const brokers = table(['BROKER', 'ADDRESS'], [...cluster.brokers].sort((a, b) => a.nodeId - b.nodeId).map((b) => [b.nodeId, `${b.host}:${b.port}`]))
    out(`Cluster ${cluster.clusterId}\nController: broker ${cluster.controllerId} (term ${quorum.term})\n\n${brokers}\n\n${voters}`)
  } finally {
    await strand.close()
  }
}
