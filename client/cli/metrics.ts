// `strand cluster metrics`: every broker's metrics, summed up per broker: records and bytes in
// and out per topic, requests per API with their latency, under-replicated partitions,
// replication lag per follower, the active controller. By default each live broker of the cluster
// (from the bootstrap's metadata) is asked over the wire (DescribeMetrics); with --metrics
// host:port the given HTTP endpoints (`metrics.port`) are scraped instead, as Prometheus would.
//
// Counters are totals since the broker started; rates come from a second read --interval-ms
// later. Latencies and lags are the broker's summaries, also since it started (p50, p99, max).

import { performance } from 'node:perf_hooks'
import type { BrokerMetricsText, Strand } from '../index.js'
import { CommandFailedError, hostPort, table, toJson, UsageError, type Connect } from './args.js'
import { parseExposition, sampleValue, ScrapeTimeoutError, scrapeMetrics, type Sample } from './prometheus.js'

export const METRICS_USAGE = `  strand cluster metrics [--metrics host:port ...] [--interval-ms N]
                              per broker: records/bytes in and bytes out per topic, requests and p99
                              latency per API, under-replicated partitions, replication lag p99 per
                              follower, the active controller. Every live broker is asked over the
                              wire; --metrics host:port (repeatable) scrapes those HTTP endpoints
                              instead (a broker's metrics.port; the local cluster's: 127.0.0.1:9192-9194).
                              Rates from two reads N ms apart (default 1000; 0: one read, totals only)`

/** A broker that has not answered by then is reported unreachable rather than waited for. */
const SCRAPE_TIMEOUT_MS = 5_000
/** Time between the two scrapes that rates are computed from. */
const RATE_INTERVAL_MS_DEFAULT = 1_000
/** Longest --interval-ms: a rate needs a window, not a wait long enough to look like a hang. */
const RATE_INTERVAL_MS_MAX = 60_000

export interface TopicFigures {
  topic: string
  /** Records appended as leader, since the broker started. */
  messagesIn: number
  bytesIn: number
  /** Record bytes sent to consumers (the broker counts bytes out, not records). */
  bytesOut: number
  /** Record bytes sent to follower replicas. */
  replicationBytesOut: number
  isrShrinks: number
  isrExpands: number
  /** Per second over the interval; null with --interval-ms 0 or after a counter reset. */
  messagesInPerSec: number | null
  bytesInPerSec: number | null
  bytesOutPerSec: number | null
}

export interface ApiFigures {
  api: string
  requests: number
  requestsPerSec: number | null
  latencyMsP50: number | null
  latencyMsP99: number | null
  latencyMsMax: number | null
}

export interface FollowerFigures {
  follower: string
  topic: string
  lagMsP99: number | null
  lagMsMax: number | null
  lagOffsetsP99: number | null
  lagOffsetsMax: number | null
}

export interface BrokerFigures {
  /** Where it was read: the metrics endpoint, or the broker's listener over the wire. */
  address: string
  /** The broker's node id when read over the wire; null from an HTTP endpoint (the text does not say). */
  nodeId: number | null
  activeController: boolean
  partitions: number | null
  leaderPartitions: number | null
  underReplicatedPartitions: number | null
  topics: TopicFigures[]
  apis: ApiFigures[]
  replication: FollowerFigures[]
}

type Out = (text: string) => void

interface Scrape {
  /** Where it was read: the metrics endpoint, or the broker's listener over the wire. */
  address: string
  /** The broker's node id when read over the wire; null from an HTTP endpoint. */
  nodeId: number | null
  samples: Sample[] | null
  error: string | null
  /** performance.now() when the answer came. */
  atMs: number
}

/** One read of every broker's metrics. */
type Collect = () => Promise<Scrape[]>

export async function metricsCommand(
  values: { metrics?: string[] | undefined; 'interval-ms'?: string | undefined; json: boolean; bootstrap?: string | undefined },
  connect: Connect,
  out: Out,
): Promise<void> {
  const addresses = [...new Set(values.metrics ?? [])]
  const targets = addresses.map((address) => ({ address, ...hostPort('metrics', address) }))
  const intervalMs = intervalOf(values['interval-ms'])
  if (targets.length > 0) {
    if (values.bootstrap !== undefined) throw new UsageError('--metrics reads the given endpoints; --bootstrap is for reading the cluster\'s brokers over the wire. Give one or the other.')
    return report(() => Promise.all(targets.map((t) => scrape(t))), intervalMs, values.json, out)
  }
  const strand = connect(values)
  try {
    const admin = strand.admin()
    return await report(async () => (await admin.brokerMetrics()).map(wireScrape), intervalMs, values.json, out)
  } finally {
    await strand.close()
  }
}

function wireScrape(m: BrokerMetricsText): Scrape {
  const atMs = performance.now()
  if (m.text === null) return { address: m.address, nodeId: m.nodeId, samples: null, error: m.error === null ? 'no answer' : `${m.error.code}: ${m.error.message}`, atMs }
  return { address: m.address, nodeId: m.nodeId, samples: parseExposition(m.text), error: null, atMs }
}

/** Reads twice (unless --interval-ms 0), prints, and fails when a broker could not be read. */
async function report(collect: Collect, intervalMs: number, json: boolean, out: Out): Promise<void> {
  const first = await collect()
  let second = first
  if (intervalMs > 0 && first.some((s) => s.samples !== null)) {
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
    second = await collect()
  }
  const brokers = second.map((now) => {
    if (now.samples === null) return { address: now.address, nodeId: now.nodeId, error: now.error }
    // Matched by address: a broker may have left or joined between the two reads.
    const before = first.find((b) => b.address === now.address && b !== now)
    const elapsedMs = before === undefined || before.samples === null ? 0 : now.atMs - before.atMs
    return summarize(now.address, now.samples, elapsedMs > 0 ? before!.samples : null, elapsedMs, now.nodeId)
  })
  const figures = brokers.filter((b): b is BrokerFigures => !('error' in b))
  const controllers = figures.filter((b) => b.activeController).map((b) => b.address)
  if (json) out(toJson({ intervalMs, activeController: controllers[0] ?? null, brokers }))
  else out(render(brokers, figures.filter((b) => b.activeController).map(labelOf), intervalMs))
  const failed = brokers.filter((b) => 'error' in b)
  const what = second.every((b) => b.nodeId === null) ? 'metrics endpoints' : 'brokers'
  if (failed.length > 0) throw new CommandFailedError(`${failed.length} of ${brokers.length} ${what} did not answer: ${failed.map((b) => `${labelOf(b)} (${'error' in b ? b.error : ''})`).join(', ')}.`)
}

/** "127.0.0.1:9192" for an HTTP endpoint, "1 (127.0.0.1:9092)" for a broker read over the wire. */
function labelOf(b: { address: string; nodeId: number | null }): string {
  return b.nodeId === null ? b.address : `${b.nodeId} (${b.address})`
}

function intervalOf(raw: string | undefined): number {
  if (raw === undefined) return RATE_INTERVAL_MS_DEFAULT
  const n = Number(raw)
  if (!Number.isSafeInteger(n) || n < 0 || n > RATE_INTERVAL_MS_MAX) throw new UsageError(`--interval-ms must be an integer from 0 to ${RATE_INTERVAL_MS_MAX}, got "${raw}".`)
  return n
}

async function scrape(t: { address: string; host: string; port: number }): Promise<Scrape> {
  try {
    const samples = await scrapeMetrics(t.host, t.port, SCRAPE_TIMEOUT_MS)
    return { address: t.address, nodeId: null, samples, error: null, atMs: performance.now() }
  } catch (err) {
    return { address: t.address, nodeId: null, samples: null, error: reasonOf(err), atMs: performance.now() }
  }
}

/** The reason in a word when there is one (ECONNREFUSED, ENOTFOUND), else the message. */
function reasonOf(err: unknown): string {
  if (err instanceof ScrapeTimeoutError) return `no answer within ${SCRAPE_TIMEOUT_MS} ms`
  const e = err as { code?: string; message?: string }
  return e?.code ?? e?.message ?? String(err)
}

/** Every value of a label among the samples of `names`, sorted. */
function labelValues(samples: readonly Sample[], names: readonly string[], label: string): string[] {
  const found = new Set<string>()
  for (const s of samples) if (names.includes(s.name) && s.labels[label] !== undefined) found.add(s.labels[label])
  return [...found].sort()
}

/** The figures of one broker; `before` (a scrape `elapsedMs` earlier) gives the rates. */
export function summarize(address: string, now: readonly Sample[], before: readonly Sample[] | null, elapsedMs: number, nodeId: number | null = null): BrokerFigures {
  const rate = (name: string, labels: Record<string, string>): number | null => {
    if (before === null || elapsedMs <= 0) return null
    const delta = (sampleValue(now, name, labels) ?? 0) - (sampleValue(before, name, labels) ?? 0)
    // A counter that went down: the broker restarted between the scrapes.
    return delta < 0 ? null : delta / (elapsedMs / 1000)
  }
  const count = (name: string, labels: Record<string, string>): number => sampleValue(now, name, labels) ?? 0
  const topicFamilies = ['strand_messages_in_total', 'strand_bytes_in_total', 'strand_bytes_out_total', 'strand_replication_bytes_out_total', 'strand_isr_shrinks_total', 'strand_isr_expands_total']
  const topics = labelValues(now, topicFamilies, 'topic').map((topic): TopicFigures => ({
    topic,
    messagesIn: count('strand_messages_in_total', { topic }),
    bytesIn: count('strand_bytes_in_total', { topic }),
    bytesOut: count('strand_bytes_out_total', { topic }),
    replicationBytesOut: count('strand_replication_bytes_out_total', { topic }),
    isrShrinks: count('strand_isr_shrinks_total', { topic }),
    isrExpands: count('strand_isr_expands_total', { topic }),
    messagesInPerSec: rate('strand_messages_in_total', { topic }),
    bytesInPerSec: rate('strand_bytes_in_total', { topic }),
    bytesOutPerSec: rate('strand_bytes_out_total', { topic }),
  }))
  const apis = labelValues(now, ['strand_requests_total'], 'api').map((api): ApiFigures => ({
    api,
    requests: count('strand_requests_total', { api }),
    requestsPerSec: rate('strand_requests_total', { api }),
    latencyMsP50: sampleValue(now, 'strand_request_latency_ms', { api, quantile: '0.5' }),
    latencyMsP99: sampleValue(now, 'strand_request_latency_ms', { api, quantile: '0.99' }),
    latencyMsMax: sampleValue(now, 'strand_request_latency_ms', { api, quantile: '1' }),
  }))
  const replication = now
    .filter((s) => s.name === 'strand_replica_lag_ms_count' && s.labels.follower !== undefined && s.labels.topic !== undefined)
    .map((s): FollowerFigures => {
      const labels = { follower: s.labels.follower!, topic: s.labels.topic! }
      return {
        ...labels,
        lagMsP99: sampleValue(now, 'strand_replica_lag_ms', { ...labels, quantile: '0.99' }),
        lagMsMax: sampleValue(now, 'strand_replica_lag_ms', { ...labels, quantile: '1' }),
        lagOffsetsP99: sampleValue(now, 'strand_replica_lag_offsets', { ...labels, quantile: '0.99' }),
        lagOffsetsMax: sampleValue(now, 'strand_replica_lag_offsets', { ...labels, quantile: '1' }),
      }
    })
    .sort((a, b) => Number(a.follower) - Number(b.follower) || (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0))
  return {
    address,
    nodeId,
    activeController: sampleValue(now, 'strand_active_controller') === 1,
    partitions: sampleValue(now, 'strand_partitions'),
    leaderPartitions: sampleValue(now, 'strand_leader_partitions'),
    underReplicatedPartitions: sampleValue(now, 'strand_under_replicated_partitions'),
    topics,
    apis,
    replication,
  }
}

function fmt(n: number | null, digits: number): string {
  return n === null || Number.isNaN(n) ? '-' : n.toFixed(digits)
}

function render(brokers: ReadonlyArray<BrokerFigures | { address: string; nodeId: number | null; error: string | null }>, controllers: readonly string[], intervalMs: number): string {
  const controller = controllers.length === 0 ? 'none among these brokers' : controllers.join(', ')
  const window = intervalMs > 0 ? `rates over ${intervalMs} ms` : 'no rates (--interval-ms 0)'
  const blocks = brokers.map((b) => ('error' in b ? `Broker ${labelOf(b)}: unreachable (${b.error})` : renderBroker(b)))
  return [`Active controller: ${controller}; latencies and lags since each broker started, ${window}`, ...blocks].join('\n\n')
}

function renderBroker(b: BrokerFigures): string {
  const head = `Broker ${labelOf(b)}${b.activeController ? ' (active controller)' : ''}: ${b.partitions ?? '-'} partitions, ${b.leaderPartitions ?? '-'} led, ${b.underReplicatedPartitions ?? '-'} under-replicated`
  const parts = [head]
  if (b.topics.length > 0) {
    parts.push(
      table(
        ['TOPIC', 'RECORDS IN', 'RECORDS IN/S', 'BYTES IN/S', 'BYTES OUT/S', 'BYTES TO FOLLOWERS', 'ISR SHRINKS'],
        b.topics.map((t) => [t.topic, t.messagesIn, fmt(t.messagesInPerSec, 1), fmt(t.bytesInPerSec, 0), fmt(t.bytesOutPerSec, 0), t.replicationBytesOut, t.isrShrinks]),
      ),
    )
  }
  if (b.apis.length > 0) {
    parts.push(table(['API', 'REQUESTS', 'REQUESTS/S', 'P99 MS', 'MAX MS'], b.apis.map((a) => [a.api, a.requests, fmt(a.requestsPerSec, 1), fmt(a.latencyMsP99, 2), fmt(a.latencyMsMax, 2)])))
  }
  if (b.replication.length > 0) {
    parts.push(table(['FOLLOWER', 'TOPIC', 'LAG P99 MS', 'LAG MAX MS', 'LAG P99 RECORDS'], b.replication.map((r) => [r.follower, r.topic, fmt(r.lagMsP99, 2), fmt(r.lagMsMax, 2), fmt(r.lagOffsetsP99, 0)])))
  }
  return parts.join('\n\n')
}
