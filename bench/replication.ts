// Replicated throughput and replication lag on a fresh local three-broker cluster (every broker a
// quorum voter, default broker settings): 100-byte records over 6 partitions with replication
// factor 3, produced as fast as the producer goes with acks=1 and then with acks=all
// (min.insync.replicas 2); then acks=all again at a fixed half of the measured acks=all rate for
// about 5 s, the goal being a replication lag p99 <= 5 ms there. Lag comes from each
// broker's /metrics: the leader of a partition observes, at every follower fetch, how long ago it
// appended the records the fetch shows the follower now has, and how many records it still lacks.
// Baseline in the same run: a raw node:net loopback pipe carrying the same number of bytes to
// another process.
//
//   npm run bench:replication [-- --records 1000000 --record-bytes 100 --partitions 6 --linger-ms 5 --batch-bytes 65536 --json]

import path from 'node:path'
import { parseArgs } from 'node:util'
import { Strand } from '../client/index.js'
import type { Admin } from '../client/admin.js'
import { loopbackBaseline } from './lib/baseline.js'
import { BenchCluster, sleep } from './lib/cluster.js'
import { sampleValue, scrape, type Sample } from './lib/prometheus.js'
import { mbPerSec, perSec, progress, progressDone, publish, type Row } from './lib/report.js'

const USAGE = 'usage: npm run bench:replication -- [--records 1000000] [--record-bytes 100] [--partitions 6] [--linger-ms 5] [--batch-bytes 65536] [--profile DIR] [--json]'
/** Brokers in the cluster, every one a quorum voter and a replica of every partition. */
const CLUSTER_SIZE = 3
const REPLICATION_FACTOR = 3
/** acks=all waits for the ISR; with 2 of 3 required, one slow follower cannot block writes. */
const MIN_INSYNC_REPLICAS = '2'
/** Messages handed to one send() call: big enough to keep the accumulator full (as bench/single.ts). */
const SEND_CHUNK_RECORDS = 1000
/** Sends in flight at once: bounded so the producer's buffer, not the heap, absorbs bursts. */
const SENDS_INFLIGHT_MAX = 64
/** A topic whose ISR is not full by then fails the run: its figures would not be RF 3 figures. */
const ISR_FULL_TIMEOUT_MS = 60_000
const ISR_POLL_INTERVAL_MS = 100
/** How long the fixed-rate workload produces: long enough for thousands of lag samples. */
const FIXED_RATE_RUN_MS = 5_000
/** The fixed-rate workload sends what is due every this often, so its rate is even at this scale. */
const PACE_INTERVAL_MS = 2
/** The fixed rate, as a share of the measured acks=all rate. */
const FIXED_RATE_SHARE = 0.5
/** The goal for the fixed-rate workload. */
const LAG_GOAL_MS_P99 = 5

function usageError(message: string): never {
  process.stderr.write(`bench: ${message}\n${USAGE}\n`)
  process.exit(1)
}

function parseFlags(): { records: number; recordBytes: number; partitions: number; lingerMs: number; batchBytes: number; json: boolean; profile: string | undefined } {
  let values
  try {
    values = parseArgs({
      options: {
        records: { type: 'string', default: '1000000' },
        'record-bytes': { type: 'string', default: '100' },
        partitions: { type: 'string', default: '6' },
        'linger-ms': { type: 'string', default: '5' },
        'batch-bytes': { type: 'string', default: '65536' },
        json: { type: 'boolean', default: false },
        /** Write each broker's CPU profile (node --cpu-prof) into DIR. */
        profile: { type: 'string' },
      },
      strict: true,
    }).values
  } catch (err) {
    return usageError((err as Error).message)
  }
  const int = (name: string, raw: string, min: number): number => {
    const n = Number(raw)
    if (raw.trim() === '' || !Number.isSafeInteger(n) || n < min) usageError(`--${name} must be an integer >= ${min}, got "${raw}"`)
    return n
  }
  return {
    records: int('records', values.records, 1),
    recordBytes: int('record-bytes', values['record-bytes'], 1),
    partitions: int('partitions', values.partitions, 1),
    lingerMs: int('linger-ms', values['linger-ms'], 0),
    batchBytes: int('batch-bytes', values['batch-bytes'], 1),
    json: values.json,
    profile: values.profile,
  }
}

const flags = parseFlags()
const { records, recordBytes, partitions, lingerMs, batchBytes } = flags

/** Leader → follower replication lag of one topic, as the leader's summaries report it. */
interface LagPair {
  leader: number
  follower: number
  msP50: number
  msP99: number
  msMax: number
  offsetsP50: number
  offsetsP99: number
  offsetsMax: number
  samples: number
}

interface Throughput {
  records: number
  ms: number
}

async function waitForFullIsr(admin: Admin, topic: string): Promise<void> {
  const deadline = Date.now() + ISR_FULL_TIMEOUT_MS
  let seen = 'no metadata yet'
  for (;;) {
    const md = await admin.metadata([topic])
    const ps = md.topics.find((t) => t.name === topic)?.partitions ?? []
    if (ps.length === partitions && ps.every((p) => p.leaderId >= 0 && p.isr.length === REPLICATION_FACTOR)) return
    seen = ps.map((p) => `${p.partition}: leader ${p.leaderId} isr [${p.isr.join(',')}]`).join('; ')
    if (Date.now() > deadline) throw new Error(`the ISR of every partition of ${topic} was not ${REPLICATION_FACTOR} within ${ISR_FULL_TIMEOUT_MS / 1000} s (${seen})`)
    await sleep(ISR_POLL_INTERVAL_MS)
  }
}

async function createTopic(strand: Strand, topic: string, configs: Record<string, string>): Promise<void> {
  const admin = strand.admin()
  try {
    progress(`${topic}: creating, waiting for ${REPLICATION_FACTOR} in-sync replicas per partition`)
    await admin.createTopic({ topic, partitions, replicationFactor: REPLICATION_FACTOR, configs })
    await waitForFullIsr(admin, topic)
  } finally {
    await admin.close()
  }
}

/** As many records as the producer takes, keeping SENDS_INFLIGHT_MAX sends outstanding. */
async function produceAll(strand: Strand, topic: string, acks: 1 | 'all'): Promise<Throughput> {
  const producer = strand.producer({ acks, lingerMs, batchBytes })
  const value = Buffer.alloc(recordBytes, 0x61)
  const messages = Array.from({ length: SEND_CHUNK_RECORDS }, () => ({ value }))
  const inflight = new Set<Promise<unknown>>()
  const start = performance.now()
  let sent = 0
  while (sent < records) {
    const n = Math.min(SEND_CHUNK_RECORDS, records - sent)
    const p: Promise<unknown> = producer.send({ topic, messages: n === SEND_CHUNK_RECORDS ? messages : messages.slice(0, n) })
    inflight.add(p)
    void p.finally(() => inflight.delete(p)).catch(() => {})
    sent += n
    if (inflight.size >= SENDS_INFLIGHT_MAX) await Promise.race(inflight)
    if (sent % 100_000 === 0) progress(`${topic} acks=${acks}: ${sent.toLocaleString()} / ${records.toLocaleString()}`)
  }
  await Promise.all(inflight)
  await producer.flush()
  const ms = performance.now() - start
  await producer.close()
  return { records, ms }
}

/**
 * acks=all at `recordsPerSec` for FIXED_RATE_RUN_MS: every PACE_INTERVAL_MS it sends the records
 * due by then, so the rate is set by the clock, not by how fast acknowledgements come back.
 */
async function produceAtRate(strand: Strand, topic: string, recordsPerSec: number): Promise<Throughput> {
  const producer = strand.producer({ acks: 'all', lingerMs, batchBytes })
  const total = Math.max(1, Math.round((recordsPerSec * FIXED_RATE_RUN_MS) / 1000))
  const value = Buffer.alloc(recordBytes, 0x61)
  const messages = Array.from({ length: SEND_CHUNK_RECORDS }, () => ({ value }))
  const inflight = new Set<Promise<unknown>>()
  const start = performance.now()
  let sent = 0
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * recordsPerSec))
    while (sent < due) {
      const n = Math.min(SEND_CHUNK_RECORDS, due - sent)
      const p: Promise<unknown> = producer.send({ topic, messages: n === SEND_CHUNK_RECORDS ? messages : messages.slice(0, n) })
      inflight.add(p)
      void p.finally(() => inflight.delete(p)).catch(() => {})
      sent += n
      // Falling behind here lowers the achieved rate, which the report shows next to the target.
      if (inflight.size >= SENDS_INFLIGHT_MAX) await Promise.race(inflight)
    }
    progress(`${topic} acks=all at ${Math.round(recordsPerSec).toLocaleString()} records/s: ${sent.toLocaleString()} / ${total.toLocaleString()}`)
    await sleep(PACE_INTERVAL_MS)
  }
  await Promise.all(inflight)
  await producer.flush()
  const ms = performance.now() - start
  await producer.close()
  return { records: total, ms }
}

/** One pair per follower that `samples` (a leader's scrape) reports lag for, on `topic`. */
function lagPairs(leader: number, samples: readonly Sample[], topic: string): LagPair[] {
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
      follower: Number(follower),
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

/** Every broker's lag pairs for `topic`, and the ISR shrinks its leaders made (non-zero means a follower fell out). */
async function replicationLag(cluster: BenchCluster, topic: string): Promise<{ pairs: LagPair[]; isrShrinks: number }> {
  const scrapes = await Promise.all(cluster.members.map(async (m) => ({ id: m.id, samples: await scrape('127.0.0.1', m.metricsPort) })))
  const pairs = scrapes.flatMap((s) => lagPairs(s.id, s.samples, topic)).sort((a, b) => a.leader - b.leader || a.follower - b.follower)
  const isrShrinks = scrapes.reduce((sum, s) => sum + (sampleValue(s.samples, 'strand_isr_shrinks_total', { topic }) ?? 0), 0)
  return { pairs, isrShrinks }
}

function throughputRow(name: string, t: Throughput, baselineMBs: number): Row {
  const mbs = mbPerSec(t.records * recordBytes, t.ms)
  return { name, figures: { 'records/s': perSec(t.records, t.ms), 'MB/s': mbs, 'x baseline': mbs / baselineMBs } }
}

function lagRows(label: string, pairs: readonly LagPair[]): Row[] {
  return pairs.map((p) => ({
    name: `  lag ${label} ${p.leader}->${p.follower}`,
    figures: { 'ms p50': p.msP50, 'ms p99': p.msP99, 'ms max': p.msMax, 'offs p50': p.offsetsP50, 'offs p99': p.offsetsP99, 'offs max': p.offsetsMax, samples: p.samples },
  }))
}

function notes(fixed: { target: number; achieved: number; pairs: LagPair[] }, isrShrinks: Record<string, number>, cluster: BenchCluster): string[] {
  const worstP99 = fixed.pairs.length === 0 ? null : Math.max(...fixed.pairs.map((p) => p.msP99))
  const out = [
    'lag ms: from the leader\'s append to the follower\'s next fetch showing it has the records, so an upper bound on the follower\'s own append time. Quantiles are the broker\'s: 1 ms resolution (its clock is Date.now), 3 significant digits (5 ms may read 5.003), and a lag of 0 reads 0.001.',
    'lag offs: records the follower lacked when it fetched. One row per leader->follower pair; each broker reports the followers of the partitions it leads.',
    `fixed rate: target ${Math.round(fixed.target).toLocaleString('en-US')} records/s (${FIXED_RATE_SHARE * 100}% of the acks=all rate), achieved ${Math.round(fixed.achieved).toLocaleString('en-US')} records/s.`,
    worstP99 === null
      ? `goal lag p99 <= ${LAG_GOAL_MS_P99} ms at that rate: unknown, no broker reported lag samples.`
      : `goal lag p99 <= ${LAG_GOAL_MS_P99} ms at that rate: ${worstP99 <= LAG_GOAL_MS_P99 ? 'met' : 'NOT met'} (worst pair p99 ${worstP99} ms).`,
  ]
  for (const [topic, n] of Object.entries(isrShrinks)) if (n > 0) out.push(`${topic}: leaders shrank an ISR ${n} times during the run; its figures are not all RF 3 figures.`)
  out.push(...cluster.warningSummary())
  return out
}

async function run(cluster: BenchCluster): Promise<void> {
  const strand = new Strand({ brokers: cluster.bootstrap, clientId: 'bench-replication' })
  try {
    const mis = { 'min.insync.replicas': MIN_INSYNC_REPLICAS }
    await createTopic(strand, 'bench-acks1', mis)
    const acks1 = await produceAll(strand, 'bench-acks1', 1)
    await createTopic(strand, 'bench-acksall', mis)
    const acksAll = await produceAll(strand, 'bench-acksall', 'all')
    const maxLag = await replicationLag(cluster, 'bench-acksall')
    const target = FIXED_RATE_SHARE * perSec(acksAll.records, acksAll.ms)
    await createTopic(strand, 'bench-lag', mis)
    const fixed = await produceAtRate(strand, 'bench-lag', target)
    const fixedLag = await replicationLag(cluster, 'bench-lag')
    const acks1Shrinks = (await replicationLag(cluster, 'bench-acks1')).isrShrinks
    progress('baseline: raw loopback')
    const baseline = await loopbackBaseline(records * recordBytes, batchBytes)
    progressDone()
    const baselineMBs = mbPerSec(baseline.bytes, baseline.ms)
    const rows: Row[] = [
      throughputRow(`produce acks=1 RF ${REPLICATION_FACTOR}`, acks1, baselineMBs),
      throughputRow(`produce acks=all RF ${REPLICATION_FACTOR}`, acksAll, baselineMBs),
      ...lagRows('acks=all max rate', maxLag.pairs),
      throughputRow(`produce acks=all at ${FIXED_RATE_SHARE * 100}% rate`, fixed, baselineMBs),
      ...lagRows(`at ${FIXED_RATE_SHARE * 100}% rate`, fixedLag.pairs),
      { name: 'baseline: raw node:net loopback', figures: { 'MB/s': baselineMBs, 'x baseline': 1 } },
    ]
    const isrShrinks = { 'bench-acks1': acks1Shrinks, 'bench-acksall': maxLag.isrShrinks, 'bench-lag': fixedLag.isrShrinks }
    publish(
      {
        workload: 'replication',
        command: process.argv.length > 2 ? `npm run bench:replication -- ${process.argv.slice(2).join(' ')}` : 'npm run bench:replication',
        params: { brokers: CLUSTER_SIZE, records, recordBytes, partitions, replicationFactor: REPLICATION_FACTOR, minInsyncReplicas: Number(MIN_INSYNC_REPLICAS), lingerMs, batchBytes, fixedRateRunMs: FIXED_RATE_RUN_MS, fixedRateTarget: target },
        rows,
        notes: notes({ target, achieved: perSec(fixed.records, fixed.ms), pairs: fixedLag.pairs }, isrShrinks, cluster),
      },
      { json: flags.json },
    )
  } finally {
    await strand.close().catch(() => {})
  }
}

async function main(): Promise<void> {
  const nodeArgs = flags.profile === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', path.resolve(flags.profile)]
  const cluster = new BenchCluster({ size: CLUSTER_SIZE, overrides: { 'log.level': 'warn' }, nodeArgs })
  let stopping = false
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) return
    stopping = true
    progressDone()
    process.stderr.write(`bench: ${signal}: stopping the brokers\n`)
    void cluster.stop().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143))
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  let failed = false
  try {
    progress(`starting ${CLUSTER_SIZE} brokers`)
    await cluster.start('bench-replication-setup')
    await Promise.race([run(cluster), cluster.failed])
  } catch (err) {
    progressDone()
    process.stderr.write(`bench: ${(err as Error).message}\n`)
    for (const line of cluster.warningSummary()) process.stderr.write(`bench: ${line}\n`)
    failed = true
  } finally {
    if (!stopping) await cluster.stop()
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
  // A workload that lost the race to a dead broker may still be retrying; it has nothing to say.
  if (failed) process.exit(1)
}

await main()
