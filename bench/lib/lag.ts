// Replication lag of one topic from the brokers' GET /metrics: the leader of a partition observes,
// at every follower fetch, how long ago it appended the records the fetch shows the follower now
// has (strand_replica_lag_ms) and how many records it still lacked (strand_replica_lag_offsets).
// The summaries are per topic and follower and cumulative since the broker started, so each
// workload writes its own topic.

import { sampleValue, scrape, type Sample } from './prometheus.js'
import type { Row } from './report.js'

/** A broker's metrics listener; `name` labels it in the report (its node id when known). */
export interface MetricsEndpoint {
  name: string
  host: string
  port: number
}

/** Leader → follower replication lag of one topic, as the leader's summaries report it. */
export interface LagPair {
  leader: string
  follower: string
  msP50: number
  msP99: number
  msMax: number
  offsetsP50: number
  offsetsP99: number
  offsetsMax: number
  samples: number
}

export interface TopicLag {
  pairs: LagPair[]
  /** ISR shrinks the topic's leaders made: non-zero means a follower fell out during the run. */
  isrShrinks: number
}

export const LAG_NOTES = [
  "lag ms: from the leader's append to the follower's next fetch showing it has the records, so an upper bound on the follower's own append time. Quantiles are the broker's: timed with its monotonic clock (performance.now) to the microsecond, kept to 3 significant digits (5 ms may read 5.003).",
  'lag offs: records the follower lacked when it fetched. One row per leader->follower pair; each broker reports the followers of the partitions it leads.',
]

/** One pair per follower that `samples` (a leader's scrape) reports lag for, on `topic`. */
function lagPairs(leader: string, samples: readonly Sample[], topic: string): LagPair[] {
  const followers = new Set(samples.filter((s) => s.name === 'strand_replica_lag_ms_count' && s.labels.topic === topic).map((s) => s.labels.follower ?? ''))
  return [...followers].map((follower) => {
    const get = (name: string, quantile?: string): number => {
      const v = sampleValue(samples, name, quantile === undefined ? { follower, topic } : { follower, topic, quantile })
      if (v === null) throw new Error(`broker ${leader}'s /metrics has no ${name} for follower ${follower} of ${topic}`)
      return v
    }
    // Offsets are whole record counts; the broker's summary stores 0 as 0.001 (its smallest unit).
    const offsets = (q: string): number => Math.round(get('strand_replica_lag_offsets', q))
    return {
      leader,
      follower,
      msP50: get('strand_replica_lag_ms', '0.5'),
      msP99: get('strand_replica_lag_ms', '0.99'),
      msMax: get('strand_replica_lag_ms', '1'),
      offsetsP50: offsets('0.5'),
      offsetsP99: offsets('0.99'),
      offsetsMax: offsets('1'),
      samples: get('strand_replica_lag_ms_count'),
    }
  })
}

/** Every endpoint's lag pairs for `topic`, sorted by leader then follower. */
export async function replicationLag(endpoints: readonly MetricsEndpoint[], topic: string): Promise<TopicLag> {
  const scrapes = await Promise.all(endpoints.map(async (e) => ({ name: e.name, samples: await scrape(e.host, e.port) })))
  const pairs = scrapes.flatMap((s) => lagPairs(s.name, s.samples, topic)).sort((a, b) => a.leader.localeCompare(b.leader) || a.follower.localeCompare(b.follower))
  const isrShrinks = scrapes.reduce((sum, s) => sum + (sampleValue(s.samples, 'strand_isr_shrinks_total', { topic }) ?? 0), 0)
  return { pairs, isrShrinks }
}

/** One row per pair, named `leader->follower`, in `section` (which says what was running). */
export function lagRows(section: string, pairs: readonly LagPair[]): Row[] {
  return pairs.map((p) => ({
    name: `${p.leader}->${p.follower}`,
    section,
    figures: { 'ms p50': p.msP50, 'ms p99': p.msP99, 'ms max': p.msMax, 'offs p50': p.offsetsP50, 'offs p99': p.offsetsP99, 'offs max': p.offsetsMax, samples: p.samples },
  }))
}

/** The worst pair's p99 in ms, or null when no broker reported lag. */
export function worstLagMsP99(pairs: readonly LagPair[]): number | null {
  return pairs.length === 0 ? null : Math.max(...pairs.map((p) => p.msP99))
}
