// The cluster benchmark, shaped like Kafka's published one: on a fresh local three-broker cluster
// (every broker a quorum voter, default broker settings, started in a temp dir and torn down at
// the end) or on a running cluster (--bootstrap), with 100-byte records over 6 partitions,
// replication factor 3 and min.insync.replicas 2:
//
//   produce   as fast as the producer goes, acks=1 and then acks=all; each broker's RSS sampled
//             through the acks=all run, and the replication lag of that run per leader->follower
//   consume   the acks=all topic read back by one consumer
//   lag       acks=all at a fixed half of the measured acks=all rate, replication lag per pair,
//             after --warmup seconds at that rate to a topic of its own
//   e2e       acks=all at a fixed rate (10,000 records/s), latency from the producer's send to
//             the consumer's receipt, both in this process, after --warmup seconds not measured
//   scale     produce acks=all at 1, 6, 60 and 600 partitions (at most SCALE_RECORDS_MAX records
//             each), then, on a second fresh cluster, each broker's RSS with only a 1-partition
//             topic and again with 600 more idle partitions
//   durable   produce acks=all and e2e again on a second fresh cluster with `fsync: always` on
//             every broker, as ratios to the first pass, beside the disk's fsync rate (bench/lib/durable.ts)
//   kafka     (not in `all`: it needs kcat) kcat produce and consume on the brokers' Kafka-protocol
//             listener beside the Strand client on the Strand listener (bench/lib/kafka.ts)
//
// Before the first workload, WARMUP_RECORDS are produced untimed; every topic is used only once its
// followers fetch it (bench/lib/topics.ts). Baselines in the same run, with the same bytes: raw
// node:net loopback and raw file appends.
// Lag comes from the brokers' /metrics. RSS comes from /proc/<pid>/status of the broker processes
// this program spawned: Linux only, and n/a with --bootstrap (so is lag, unless --metrics lists
// every broker's metrics listener).
//
// With --security tls,scram the workloads (but scale) run again on a second fresh cluster on TLS +
// SASL/SCRAM (bench/lib/security.ts), and the report adds the ratios to the plaintext pass.
//
//   npm run bench [-- --workload produce,lag --records 300000 --json]

import path from 'node:path'
import { parseArgs } from 'node:util'
import { Strand, type Acks, type Admin, type Compression, type ProducerOptions } from '../client/index.js'
import { fileAppendBaseline, fsyncBaseline, loopbackBaseline, type BaselineResult } from './lib/baseline.js'
import { compareDurable, DURABLE_LABEL, DURABLE_OVERRIDES } from './lib/durable.js'
import { brokerNodeFlags } from '../broker/local/launcher.js'
import { pollUntil, sleep } from './lib/cluster.js'
import { consumeAll } from './lib/consume.js'
import { endToEndLatency, STAMP_BYTES, type Quantiles } from './lib/e2e.js'
import { acksListFlag, commandLine, compressionFlag, intFlag, usageError } from './lib/flags.js'
import { LAG_NOTES, lagRows, replicationLag, worstLagMsP99, type LagPair, type MetricsEndpoint } from './lib/lag.js'
import { produceAll, produceAtRate, type Throughput } from './lib/produce.js'
import { runTransactions } from './lib/txn.js'
import { kafkaWorkload } from './lib/kafka.js'
import { mbPerSec, perSec, progress, progressDone, publish, type Goal, type Row } from './lib/report.js'
import { medianRssBytes, RssPeakSampler } from './lib/rss.js'
import { localTarget, remoteTarget, type Target } from './lib/target.js'
import { createTopic, endOffsets, replicasPerBroker, waitReplicated } from './lib/topics.js'
import { compareSecure, secureCluster, SECURITY_LABEL } from './lib/security.js'
import type { SecurityOptions } from '../client/net/security.js'

const USAGE = `usage: npm run bench -- [--workload all | produce,consume,lag,e2e,scale,txn,durable,kafka] [--records 1000000]
  [--record-bytes 100] [--partitions 6] [--acks 1,all] [--rate 10000] [--duration 10] [--warmup 3] [--compression none]
  [--producers 1] [--consumers 1] [--linger-ms 5] [--batch-bytes 65536]
  [--bootstrap host:port[,host:port...] [--metrics host:port[,host:port...]]] [--profile DIR]
  [--broker-config key=value[,key=value...]] [--security tls,scram] [--json]
--acks lists the produce workload's acks levels; lag, e2e and scale are acks=all. --rate is e2e's;
e2e and lag run for --duration seconds, after --warmup seconds at the same rate that are not measured. --record-bytes is at least ${STAMP_BYTES} (e2e's send time).
--broker-config sets broker keys on the local cluster (an A/B of one setting, e.g. log.read.cache.bytes=0).
--security tls,scram runs the workloads (but scale and kafka) again on a cluster on TLS + SASL/SCRAM and reports the ratios.
durable runs produce acks=all and e2e again on a cluster with fsync: always (and needs them in the first pass, so runs them).
kafka (not in all) runs kcat (installed: Debian package kcat) against the brokers' Kafka listener, beside the Strand client.`

const WORKLOADS = ['produce', 'consume', 'lag', 'e2e', 'scale', 'txn', 'durable', 'kafka'] as const
type Workload = (typeof WORKLOADS)[number]
/** `all`: every workload but kafka, which needs kcat installed and a Kafka listener on every broker. */
const ALL_WORKLOADS: readonly Workload[] = WORKLOADS.filter((w) => w !== 'kafka')
/** Records per kafka run at most: kcat and Strand each produce and consume them, within a few minutes here. */
const KAFKA_RECORDS_MAX = 500_000
/** One partition led by each broker (of three), so every listener serves its share. */
const KAFKA_PARTITIONS = 3

/** Brokers in a local cluster, every one a quorum voter and a replica of every partition. */
const CLUSTER_SIZE = 3
const REPLICATION_FACTOR = 3
/** acks=all waits for the ISR; with 2 of 3 required, one slow follower cannot block writes. */
const MIN_INSYNC_REPLICAS = '2'
/** The lag workload's rate, as a share of the measured acks=all rate (the issue's goal is set there). */
const FIXED_RATE_SHARE = 0.5
/** e2e sends each record at once: a linger would be latency the issue does not ask about. */
const E2E_LINGER_MS = 0
const SCALE_PARTITIONS = [1, 6, 60, 600] as const
/** Records per scale point at most: 600 partitions at the full count would take minutes on a small machine. */
const SCALE_RECORDS_MAX = 1_000_000
/** The scale point every other is compared with (the issue's "6-partition throughput"). */
const SCALE_REFERENCE_PARTITIONS = 6
/**
 * Records produced, untimed, before the first workload (half acks=1, half acks=all), so that
 * V8 has compiled the client's and the brokers' hot paths: without it, whichever of acks=1 and
 * acks=all ran first read slower, so acks=1 (first) often read below acks=all.
 */
const WARMUP_RECORDS = 200_000
/** Within 100 ms of a peak is close enough for a figure in hundreds of MB. */
const RSS_SAMPLE_INTERVAL_MS = 100
/** After creating a topic, time for replica fetchers and the first GCs to settle before sampling. */
const IDLE_SETTLE_MS = 2_000
const IDLE_SAMPLES = 5
const IDLE_SAMPLE_INTERVAL_MS = 400
const MIB = 2 ** 20
const KIB = 2 ** 10

/** The issue's goals. */
const GOALS = {
  acks1RecordsPerSecMin: 800_000,
  acksAllRecordsPerSecMin: 500_000,
  consumeRecordsPerSecMin: 1_000_000,
  e2eMsP50Max: 1,
  e2eMsP99Max: 3,
  /** Replication lag p99 of the worst pair at half the acks=all rate, and at the full rate (produce acks=all). */
  lagMsP99Max: 1.5,
  lagMaxRateMsP99Max: 5,
  scaleShareMin: 0.5,
  rssBytesMax: 300 * MIB,
  idlePartitionBytesMax: 100 * KIB,
  /** Records/s of transactions of 100 records, as a share of the same sends without a transaction. */
  txn100ShareMin: 0.5,
} as const
/** Records per transaction in the txn workload. */
const TXN_SIZES = [1, 10, 100] as const

interface Flags {
  workloads: Set<Workload>
  records: number
  recordBytes: number
  partitions: number
  acks: Acks[]
  rate: number
  durationMs: number
  /** e2e and lag: sent at the rate before the measured duration (the processes' JIT compiles the paced paths then). */
  warmupMs: number
  compression: Compression
  producers: number
  consumers: number
  lingerMs: number
  batchBytes: number
  bootstrap: string[] | null
  metrics: string[] | null
  profile: string | undefined
  /** Broker keys for the local cluster (--broker-config). */
  brokerConfig: Record<string, string>
  /** --security tls,scram: a second pass on a TLS + SCRAM cluster. */
  secure: boolean
  json: boolean
}

function parseFlags(): Flags {
  const option = (def: string) => ({ type: 'string' as const, default: def })
  let v
  try {
    v = parseArgs({
      options: {
        workload: option('all'), records: option('1000000'), 'record-bytes': option('100'), partitions: option('6'), acks: option('1,all'),
        rate: option('10000'), duration: option('10'), warmup: option('3'), compression: option('none'), producers: option('1'), consumers: option('1'),
        'linger-ms': option('5'), 'batch-bytes': option('65536'), bootstrap: { type: 'string' }, metrics: { type: 'string' },
        profile: { type: 'string' }, 'broker-config': { type: 'string' }, security: option('none'), json: { type: 'boolean', default: false }, help: { type: 'boolean', default: false },
      },
      strict: true,
    }).values
  } catch (err) {
    return usageError(USAGE, (err as Error).message)
  }
  if (v.help) {
    process.stdout.write(`${USAGE}\n`)
    process.exit(0)
  }
  const list = (raw: string | undefined): string[] | null => (raw === undefined ? null : raw.split(',').map((s) => s.trim()).filter((s) => s !== ''))
  const workloads = v.workload === 'all' ? [...ALL_WORKLOADS] : (list(v.workload) ?? [])
  if (workloads.length === 0) usageError(USAGE, '--workload names no workload')
  for (const w of workloads) if (!(WORKLOADS as readonly string[]).includes(w)) usageError(USAGE, `unknown workload "${w}"; workloads are ${WORKLOADS.join(', ')} (or all)`)
  if (v.metrics !== undefined && v.bootstrap === undefined) usageError(USAGE, '--metrics goes with --bootstrap (a local cluster\'s metrics ports are known)')
  if (v.profile !== undefined && v.bootstrap !== undefined) usageError(USAGE, '--profile profiles the brokers this program starts; with --bootstrap it starts none')
  if (v['broker-config'] !== undefined && v.bootstrap !== undefined) usageError(USAGE, '--broker-config configures the brokers this program starts; with --bootstrap it starts none')
  const brokerConfig: Record<string, string> = {}
  for (const pair of list(v['broker-config']) ?? []) {
    const eq = pair.indexOf('=')
    if (eq <= 0) usageError(USAGE, `--broker-config takes key=value pairs, got "${pair}"`)
    brokerConfig[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim()
  }
  if (v.security !== 'none' && v.security !== 'tls,scram') usageError(USAGE, `--security is tls,scram (or none), got "${v.security}"`)
  if (v.security !== 'none' && v.bootstrap !== undefined) usageError(USAGE, '--security starts a secure cluster of its own; with --bootstrap it starts none')
  if (workloads.includes('kafka') && v.bootstrap !== undefined) usageError(USAGE, 'the kafka workload turns on the Kafka listeners of the brokers it starts; with --bootstrap it starts none')
  return {
    secure: v.security === 'tls,scram',
    workloads: new Set(workloads as Workload[]),
    records: intFlag(USAGE, 'records', v.records, 1),
    recordBytes: intFlag(USAGE, 'record-bytes', v['record-bytes'], STAMP_BYTES),
    partitions: intFlag(USAGE, 'partitions', v.partitions, 1),
    acks: acksListFlag(USAGE, v.acks),
    rate: intFlag(USAGE, 'rate', v.rate, 1),
    durationMs: intFlag(USAGE, 'duration', v.duration, 1) * 1000,
    warmupMs: intFlag(USAGE, 'warmup', v.warmup, 0) * 1000,
    compression: compressionFlag(USAGE, v.compression),
    producers: intFlag(USAGE, 'producers', v.producers, 1),
    consumers: intFlag(USAGE, 'consumers', v.consumers, 1),
    lingerMs: intFlag(USAGE, 'linger-ms', v['linger-ms'], 0),
    batchBytes: intFlag(USAGE, 'batch-bytes', v['batch-bytes'], 1),
    bootstrap: list(v.bootstrap),
    metrics: list(v.metrics),
    profile: v.profile,
    brokerConfig,
    json: v.json,
  }
}

/** What every workload needs: the flags, the brokers, a client, and where figures go. */
interface Run {
  flags: Flags
  target: Target
  strand: Strand
  admin: Admin
  baselines: { loopbackMBs: number; fileMBs: number }
  /** Added to topic names with --bootstrap, so a rerun never meets an earlier run's topics or metrics. */
  topicSuffix: string
  created: string[]
  /** Created topics already deleted again (retireTopics). */
  retired: Set<string>
  rows: Row[]
  goals: Goal[]
  notes: string[]
  /** Filled by the produce workload, read by the ones after it. */
  acksAll: { topic: string; throughput: Throughput } | null
  lastProduced: string | null
  /** Each broker's peak RSS through produce acks=all, by broker id. */
  rssPeakBytes: Map<number, number | null>
}

/**
 * Deletes the topics the workloads so far created, once nothing after needs them, and waits until
 * the metadata no longer has them. Their data would otherwise still be in the page cache when the
 * kernel writes back what has been dirty for 30 s (vm.dirty_expire_centisecs), which it did at
 * 100-340 MB per 2 s in the middle of the lag workload, two workloads after it was written.
 */
async function retireTopics(run: Run): Promise<void> {
  const topics = run.created.filter((t) => !run.retired.has(t))
  if (topics.length === 0) return
  progress(`deleting ${topics.join(', ')}: later workloads do not read them`)
  for (const t of topics) {
    await run.admin.deleteTopic(t)
    run.retired.add(t)
  }
  let left: string[] = topics
  await pollUntil(async () => {
    const known = new Set((await run.admin.metadata()).topics.map((t) => t.name))
    left = topics.filter((t) => known.has(t))
    return left.length === 0
  }, { timeoutMs: 60_000, intervalMs: 100, what: 'deleted topics still in the metadata', seen: () => left.join(', ') })
}

async function newTopic(run: Run, name: string, partitions: number): Promise<string> {
  const topic = `bench-${name}${run.topicSuffix}`
  run.created.push(topic)
  await createTopic(run.admin, { topic, partitions, replicationFactor: REPLICATION_FACTOR, configs: { 'min.insync.replicas': MIN_INSYNC_REPLICAS } }, run.strand)
  return topic
}

function producerOptions(flags: Flags, acks: Acks): ProducerOptions {
  return { acks, lingerMs: flags.lingerMs, batchBytes: flags.batchBytes, compression: flags.compression }
}

function throughputFigures(run: Run, t: Throughput): Row['figures'] {
  const mbs = mbPerSec(t.bytes, t.ms)
  return { 'records/s': perSec(t.records, t.ms), 'MB/s': mbs, 'x loopback': mbs / run.baselines.loopbackMBs, 'x file append': mbs / run.baselines.fileMBs }
}

function goal(name: string, target: string, value: number | null, unit: string, met: (v: number) => boolean): Goal {
  return { name, target, value, unit, met: value === null || Number.isNaN(value) ? null : met(value) }
}

const THROUGHPUT = `throughput (RF ${REPLICATION_FACTOR}, min.insync.replicas ${MIN_INSYNC_REPLICAS})`

async function produceWorkload(run: Run, acks: Acks): Promise<void> {
  const { flags, target } = run
  const label = acks === 'all' ? 'acksall' : `acks${acks}`
  const topic = await newTopic(run, label, flags.partitions)
  const sampler = acks === 'all' && target.brokers().length > 0 ? new RssPeakSampler(target.brokers().map((b) => b.pid), RSS_SAMPLE_INTERVAL_MS) : null
  const t = await produceAll(run.strand, { topic, records: flags.records, recordBytes: flags.recordBytes, producers: flags.producers, producer: producerOptions(flags, acks), label: `produce acks=${acks}` })
  const peaks = sampler?.stop()
  // The next workload starts on a quiet cluster, not beside this one's replication.
  await waitReplicated(run.admin, topic, REPLICATION_FACTOR)
  run.lastProduced = topic
  run.rows.push({ name: `produce acks=${acks}`, section: THROUGHPUT, figures: throughputFigures(run, t) })
  const rate = perSec(t.records, t.ms)
  if (acks === 1) run.goals.push(goal('produce acks=1', `>= ${GOALS.acks1RecordsPerSecMin.toLocaleString('en-US')}`, rate, 'records/s', (v) => v >= GOALS.acks1RecordsPerSecMin))
  if (acks !== 'all') return
  run.acksAll = { topic, throughput: t }
  run.goals.push(goal('produce acks=all', `>= ${GOALS.acksAllRecordsPerSecMin.toLocaleString('en-US')}`, rate, 'records/s', (v) => v >= GOALS.acksAllRecordsPerSecMin))
  for (const b of target.brokers()) run.rssPeakBytes.set(b.id, peaks?.get(b.pid) ?? null)
  const known = [...run.rssPeakBytes.values()].filter((v): v is number => v !== null)
  const worst = known.length === 0 || known.length < run.rssPeakBytes.size ? null : Math.max(...known) / MIB
  run.goals.push(goal('broker RSS through produce acks=all (worst broker)', `< ${GOALS.rssBytesMax / MIB} MB`, worst, 'MB', (v) => v < GOALS.rssBytesMax / MIB))
  if (target.metrics().length > 0) {
    const lag = await replicationLag(target.metrics(), topic)
    addLagRows(run, 'replication lag during produce acks=all (max rate), leader->follower', lag.pairs)
    run.goals.push(goal('replication lag p99 at the max acks=all rate (worst pair)', `<= ${GOALS.lagMaxRateMsP99Max} ms`, worstLagMsP99(lag.pairs), 'ms', (v) => v <= GOALS.lagMaxRateMsP99Max))
    if (lag.isrShrinks > 0) run.notes.push(`produce acks=all: leaders shrank an ISR ${lag.isrShrinks} times; not all its figures are RF ${REPLICATION_FACTOR} figures.`)
  }
}

/**
 * Transactions of 1, 10 and 100 records committed back to back for --duration seconds by each of
 * --producers transactional producers, each beside the same sends by idempotent acks=all
 * producers without a transaction (each send awaited before the next), in the same run.
 */
async function txnWorkload(run: Run): Promise<void> {
  const { flags } = run
  const section = `transactions (RF ${REPLICATION_FACTOR}, ${flags.partitions} partitions, ${flags.producers} producer${flags.producers === 1 ? '' : 's'}, ${flags.durationMs / 1000} s each)`
  let share100: number | null = null
  for (const size of TXN_SIZES) {
    const figures: Row['figures'] = {}
    const rates: number[] = []
    for (const transactional of [false, true]) {
      const topic = await newTopic(run, `txn${size}${transactional ? 't' : 'b'}`, flags.partitions)
      const label = `${transactional ? 'transactions' : 'acks=all sends'} of ${size}`
      // Every send is awaited before the next, so lingering would only add its wait to each.
      const producer = { ...producerOptions(flags, 'all'), lingerMs: 0 }
      const r = await runTransactions(run.strand, { topic, size, partitions: flags.partitions, recordBytes: flags.recordBytes, producers: flags.producers, durationMs: flags.durationMs, transactional, producer, label })
      await waitReplicated(run.admin, topic, REPLICATION_FACTOR)
      rates.push(perSec(r.records, r.ms))
      if (transactional) {
        figures['txn/s'] = perSec(r.commits, r.ms)
        figures['records/s'] = perSec(r.records, r.ms)
      } else {
        figures['baseline sends/s'] = perSec(r.commits, r.ms)
        figures['baseline records/s'] = perSec(r.records, r.ms)
      }
    }
    const share = rates[1]! / rates[0]!
    figures['x baseline'] = share
    if (size === 100) share100 = share
    run.rows.push({ name: `${size} record${size === 1 ? '' : 's'} per transaction`, section, figures })
    await retireTopics(run)
  }
  run.goals.push(goal('transactions of 100 records: records/s vs the same sends without a transaction', `>= ${GOALS.txn100ShareMin}x`, share100, 'x', (v) => v >= GOALS.txn100ShareMin))
  run.notes.push('txn: each producer commits one transaction at a time (a transactional producer has one open); the baseline sends the same records per send with an idempotent acks=all producer, each send awaited before the next, in the same run; both with lingerMs 0 (a send awaited alone gains nothing by lingering).')
}

function kafkaRecords(flags: Flags): number {
  return Math.min(flags.records, KAFKA_RECORDS_MAX)
}

/** kcat on the Kafka listener beside the Strand client on the Strand listener (bench/lib/kafka.ts). */
async function kafkaBench(run: Run): Promise<void> {
  const { flags } = run
  const r = await kafkaWorkload({
    strand: run.strand,
    admin: run.admin,
    kafkaBootstrap: run.target.kafkaBootstrap(),
    brokerPids: run.target.brokers().map((b) => b.pid),
    metrics: run.target.metrics(),
    records: kafkaRecords(flags),
    recordBytes: flags.recordBytes,
    partitions: KAFKA_PARTITIONS,
    replicationFactor: REPLICATION_FACTOR,
    producer: { ...producerOptions(flags, 'all'), lingerMs: flags.lingerMs, batchBytes: flags.batchBytes },
    newTopic: (name, partitions) => newTopic(run, name, partitions),
    waitReplicated: (topic) => waitReplicated(run.admin, topic, REPLICATION_FACTOR),
  })
  run.rows.push(...r.rows)
  run.notes.push(...r.notes)
  if (kafkaRecords(flags) < flags.records) run.notes.push(`kafka: ${kafkaRecords(flags).toLocaleString('en-US')} records (KAFKA_RECORDS_MAX), fewer than --records.`)
}

/** Lag rows, and the first time, the notes on what their figures mean. */
function addLagRows(run: Run, section: string, pairs: readonly LagPair[]): void {
  if (!run.rows.some((r) => r.section?.startsWith('replication lag'))) run.notes.push(...LAG_NOTES)
  run.rows.push(...lagRows(section, pairs))
}

async function consumeWorkload(run: Run): Promise<void> {
  const { flags } = run
  let topic = run.acksAll?.topic ?? run.lastProduced
  if (topic === null) {
    // Nothing produced in this run: fill a topic first, untimed.
    topic = await newTopic(run, 'consume', flags.partitions)
    await produceAll(run.strand, { topic, records: flags.records, recordBytes: flags.recordBytes, producers: flags.producers, producer: producerOptions(flags, 1), label: 'filling the consume topic' })
  }
  const ends = await endOffsets(run.admin, topic, flags.partitions)
  const t = await consumeAll(run.strand, { topic, endOffsets: ends, consumers: flags.consumers, label: 'consume' })
  const name = `consume, ${flags.consumers} consumer${flags.consumers === 1 ? '' : 's'}`
  run.rows.push({ name, section: THROUGHPUT, figures: throughputFigures(run, t) })
  run.notes.push(`consume read ${topic} (${t.records.toLocaleString('en-US')} records) from the log start to its end.`)
  const rate = flags.consumers === 1 ? perSec(t.records, t.ms) : null
  if (rate === null) run.notes.push(`consume: the goal is for one consumer; n/a with --consumers ${flags.consumers}.`)
  run.goals.push(goal('consume, one consumer', `>= ${GOALS.consumeRecordsPerSecMin.toLocaleString('en-US')}`, rate, 'records/s', (v) => v >= GOALS.consumeRecordsPerSecMin))
}

async function lagWorkload(run: Run): Promise<void> {
  const { flags, target } = run
  if (run.acksAll === null) throw new Error('the lag workload runs after produce acks=all')
  const rate = FIXED_RATE_SHARE * perSec(run.acksAll.throughput.records, run.acksAll.throughput.ms)
  // The warm-up goes to a topic of its own: the brokers' lag summaries are per topic and cumulative,
  // and in its first second at this rate (paced sends, not the run before's full speed) about a
  // sixth of the appends took over 5 ms to reach a follower, while the processes compiled the path.
  let warm: string | null = null
  if (flags.warmupMs > 0) {
    warm = await newTopic(run, 'lagwarmup', flags.partitions)
    await produceAtRate(run.strand, { topic: warm, recordsPerSec: rate, durationMs: flags.warmupMs, recordBytes: flags.recordBytes, producer: producerOptions(flags, 'all'), label: 'produce acks=all (lag warm-up)' })
  }
  const topic = await newTopic(run, 'lag', flags.partitions)
  const t = await produceAtRate(run.strand, { topic, recordsPerSec: rate, durationMs: flags.durationMs, recordBytes: flags.recordBytes, producer: producerOptions(flags, 'all'), label: 'produce acks=all (lag)' })
  const share = `${FIXED_RATE_SHARE * 100}%`
  run.rows.push({ name: `produce acks=all at ${share} rate`, section: THROUGHPUT, figures: throughputFigures(run, t) })
  run.notes.push(`lag: target ${Math.round(rate).toLocaleString('en-US')} records/s (${share} of the acks=all rate) for ${flags.durationMs / 1000} s, achieved ${Math.round(perSec(t.records, t.ms)).toLocaleString('en-US')} records/s.`)
  let worst: number | null = null
  if (target.metrics().length > 0) {
    const lag = await replicationLag(target.metrics(), topic)
    addLagRows(run, `replication lag at ${share} of the acks=all rate, leader->follower`, lag.pairs)
    worst = worstLagMsP99(lag.pairs)
    if (lag.isrShrinks > 0) run.notes.push(`lag: leaders shrank an ISR ${lag.isrShrinks} times during the run.`)
    if (warm !== null) {
      const warmWorst = worstLagMsP99((await replicationLag(target.metrics(), warm)).pairs)
      run.notes.push(`lag: ${flags.warmupMs / 1000} s of warm-up at the same rate to a topic of its own came first (--warmup); its worst pair's p99 was ${warmWorst === null ? 'n/a' : `${warmWorst.toFixed(3)} ms`}, not in the figures above.`)
    }
  }
  run.goals.push(goal(`replication lag p99 at ${share} of acks=all rate (worst pair)`, `<= ${GOALS.lagMsP99Max} ms`, worst, 'ms', (v) => v <= GOALS.lagMsP99Max))
}

async function e2eWorkload(run: Run): Promise<void> {
  const { flags } = run
  const topic = await newTopic(run, 'e2e', flags.partitions)
  const r = await endToEndLatency(run.strand, {
    topic,
    partitions: flags.partitions,
    recordsPerSec: flags.rate,
    durationMs: flags.durationMs,
    warmupMs: flags.warmupMs,
    recordBytes: flags.recordBytes,
    producer: { ...producerOptions(flags, 'all'), lingerMs: E2E_LINGER_MS },
  })
  const name = `acks=all at ${flags.rate.toLocaleString('en-US')} records/s`
  const section = 'end-to-end latency, acks=all (one process, one clock)'
  const q = (x: Quantiles): Row['figures'] => ({ 'ms p50': x.msP50, 'ms p99': x.msP99, 'ms p99.9': x.msP999, 'ms max': x.msMax })
  run.rows.push(
    { name: `send -> consumer receipt, ${name}`, section, figures: { 'records/s': perSec(r.produced.records, r.produced.ms), ...q(r.latency), samples: r.measured } },
    { name: 'send -> producer acknowledgement (per send() call)', section, figures: q(r.ack) },
    { name: `send -> consumer receipt during the ${r.warmupMs / 1000} s warm-up (not measured)`, section, figures: q(r.warmup) },
    { name: 'event-loop delay of this process (the scheduling floor)', section, figures: q(r.eventLoopDelay) },
  )
  run.notes.push(`e2e: one producer (lingerMs ${E2E_LINGER_MS}) and one consumer in this process; the first ${r.warmupMs / 1000} s of sends (--warmup) are a warm-up, received but not in the measured quantiles: the processes compile the paced small-batch paths then.`)
  if (r.received < r.produced.records) run.notes.push(`e2e: ${(r.produced.records - r.received).toLocaleString('en-US')} of ${r.produced.records.toLocaleString('en-US')} records had not arrived when the consumer stopped waiting.`)
  run.goals.push(goal(`e2e p50, ${name}`, `<= ${GOALS.e2eMsP50Max} ms`, r.latency.msP50, 'ms', (v) => v <= GOALS.e2eMsP50Max))
  run.goals.push(goal(`e2e p99, ${name}`, `<= ${GOALS.e2eMsP99Max} ms`, r.latency.msP99, 'ms', (v) => v <= GOALS.e2eMsP99Max))
}

function scaleRecords(flags: Flags): number {
  return Math.min(flags.records, SCALE_RECORDS_MAX)
}

async function scaleWorkload(run: Run): Promise<void> {
  const { flags } = run
  const records = scaleRecords(flags)
  const section = `scale: produce acks=all, ${records.toLocaleString('en-US')} records at each partition count`
  const rates = new Map<number, number>()
  for (const partitions of SCALE_PARTITIONS) {
    const topic = await newTopic(run, `scale${partitions}`, partitions)
    const t = await produceAll(run.strand, { topic, records, recordBytes: flags.recordBytes, producers: flags.producers, producer: producerOptions(flags, 'all'), label: `scale: ${partitions} partitions` })
    rates.set(partitions, perSec(t.records, t.ms))
    await waitReplicated(run.admin, topic, REPLICATION_FACTOR)
    run.rows.push({ name: `${partitions} partition${partitions === 1 ? '' : 's'}`, section, figures: throughputFigures(run, t) })
    await retireTopics(run)
  }
  const reference = rates.get(SCALE_REFERENCE_PARTITIONS) as number
  for (const row of run.rows.filter((r) => r.section === section)) row.figures[`x ${SCALE_REFERENCE_PARTITIONS} partitions`] = (row.figures['records/s'] as number) / reference
  const most = SCALE_PARTITIONS[SCALE_PARTITIONS.length - 1] as number
  if (records < flags.records) run.notes.push(`scale: ${records.toLocaleString('en-US')} records per partition count (SCALE_RECORDS_MAX), fewer than --records, so ${most} partitions does not take minutes.`)
  run.goals.push(goal(`${most} partitions vs ${SCALE_REFERENCE_PARTITIONS}, produce acks=all`, `>= ${GOALS.scaleShareMin * 100}%`, ((rates.get(most) as number) / reference) * 100, '%', (v) => v >= GOALS.scaleShareMin * 100))
}

/** Per broker of a fresh cluster: RSS with one 1-partition topic, then with `partitions` more, idle. */
interface IdleMemory {
  id: number
  baseBytes: number | null
  loadedBytes: number | null
  replicas: number
}

async function idleMemory(partitions: number): Promise<IdleMemory[]> {
  const target = localTarget({ size: CLUSTER_SIZE, nodeArgs: [], clientId: 'bench-idle-setup' })
  current = target
  let strand: Strand | null = null
  try {
    await target.start()
    strand = new Strand({ brokers: target.bootstrap(), clientId: 'bench-idle' })
    return await Promise.race([measureIdle(target, strand.admin(), partitions), target.failed])
  } finally {
    await strand?.close().catch(() => {})
    await target.stop()
    current = null
  }
}

async function measureIdle(target: Target, admin: Admin, partitions: number): Promise<IdleMemory[]> {
  const pids = target.brokers().map((b) => b.pid)
  const topic = { replicationFactor: REPLICATION_FACTOR, configs: { 'min.insync.replicas': MIN_INSYNC_REPLICAS } }
  await createTopic(admin, { ...topic, topic: 'bench-idle1', partitions: 1 })
  progress('idle memory: 1 partition, settling')
  await sleep(IDLE_SETTLE_MS)
  const base = await medianRssBytes(pids, IDLE_SAMPLES, IDLE_SAMPLE_INTERVAL_MS)
  await createTopic(admin, { ...topic, topic: `bench-idle${partitions}`, partitions })
  progress(`idle memory: ${partitions} more partitions, settling`)
  await sleep(IDLE_SETTLE_MS)
  const loaded = await medianRssBytes(pids, IDLE_SAMPLES, IDLE_SAMPLE_INTERVAL_MS)
  const replicas = await replicasPerBroker(admin, `bench-idle${partitions}`)
  return target.brokers().map((b) => ({ id: b.id, baseBytes: base.get(b.pid) ?? null, loadedBytes: loaded.get(b.pid) ?? null, replicas: replicas.get(b.id) ?? 0 }))
}

/**
 * One row per broker: its peak RSS through produce acks=all and its idle RSS figures. `idle` is
 * null when they were not measured: the scale workload did not run, or (with `idleWanted`) the
 * brokers are not this program's children.
 */
function memoryFigures(run: Pick<Run, 'rows' | 'goals' | 'notes' | 'rssPeakBytes'>, idle: IdleMemory[] | null, idleWanted: boolean): void {
  const most = SCALE_PARTITIONS[SCALE_PARTITIONS.length - 1] as number
  const ids = [...new Set([...run.rssPeakBytes.keys(), ...(idle ?? []).map((m) => m.id)])].sort((a, b) => a - b)
  const mb = (v: number | null | undefined): number | string => (v === null || v === undefined ? 'n/a' : v / MIB)
  const perPartitionKiB: number[] = []
  for (const id of ids) {
    const m = idle?.find((x) => x.id === id)
    const kib = m === undefined || m.baseBytes === null || m.loadedBytes === null || m.replicas === 0 ? null : (m.loadedBytes - m.baseBytes) / m.replicas / KIB
    if (kib !== null) perPartitionKiB.push(kib)
    run.rows.push({
      name: `broker ${id}`,
      section: 'broker memory (RSS, /proc/<pid>/status VmRSS)',
      figures: {
        'MB peak, produce acks=all': run.rssPeakBytes.has(id) ? mb(run.rssPeakBytes.get(id)) : 'not run',
        'MB idle, 1 partition': idle === null ? 'not run' : mb(m?.baseBytes),
        [`MB idle, +${most} partitions`]: idle === null ? 'not run' : mb(m?.loadedBytes),
        'replicas added': m?.replicas ?? 'n/a',
        'KB per idle partition': kib ?? 'n/a',
      },
    })
  }
  const goalName = `broker memory per idle partition at ${most} (worst broker)`
  const goalTarget = `< ${GOALS.idlePartitionBytesMax / KIB} KB`
  if (idle === null) {
    if (idleWanted) run.goals.push(goal(goalName, goalTarget, null, 'KB', () => false))
    return
  }
  const worst = perPartitionKiB.length === 0 || perPartitionKiB.length < idle.length ? null : Math.max(...perPartitionKiB)
  run.goals.push(goal(goalName, goalTarget, worst, 'KB', (v) => v < GOALS.idlePartitionBytesMax / KIB))
  run.notes.push(`memory: RSS per idle partition = (RSS with ${most} idle partitions - RSS with one 1-partition topic only) / replicas the broker hosts, on a second fresh cluster; each RSS is the median of ${IDLE_SAMPLES} readings ${IDLE_SAMPLE_INTERVAL_MS} ms apart, ${IDLE_SETTLE_MS / 1000} s after the topic's ISR filled. RSS figures are Linux only (n/a elsewhere) and n/a with --bootstrap.`)
}

async function warmUp(run: Run): Promise<void> {
  const { flags } = run
  const topic = await newTopic(run, 'warmup', flags.partitions)
  const records = Math.min(flags.records, WARMUP_RECORDS / 2)
  for (const acks of [1, 'all'] as const) {
    await produceAll(run.strand, { topic, records, recordBytes: flags.recordBytes, producers: flags.producers, producer: producerOptions(flags, acks), label: `warm-up acks=${acks}` })
  }
  await waitReplicated(run.admin, topic, REPLICATION_FACTOR)
  run.notes.push(`warm-up: ${(2 * records).toLocaleString('en-US')} records produced untimed (half acks=1, half acks=all) before the first workload; each workload starts once the followers hold everything produced before it.`)
}

/** The cluster part of the run, raced against a broker dying. */
async function runWorkloads(run: Run): Promise<void> {
  const { workloads, acks } = run.flags
  const produceAcks = workloads.has('produce') ? [...acks] : []
  if (workloads.has('lag') && !produceAcks.includes('all')) {
    produceAcks.push('all')
    run.notes.push('lag: produce acks=all ran first, to set its rate.')
  }
  if (workloads.has('durable') && !produceAcks.includes('all')) {
    produceAcks.push('all')
    run.notes.push(`durable: produce acks=all ran in the first pass too, for the ratio to ${DURABLE_LABEL}.`)
  }
  await warmUp(run)
  await retireTopics(run)
  for (const a of produceAcks) await produceWorkload(run, a)
  if (workloads.has('consume')) await consumeWorkload(run)
  await retireTopics(run)
  if (workloads.has('lag')) await lagWorkload(run)
  await retireTopics(run)
  if (workloads.has('e2e') || workloads.has('durable')) await e2eWorkload(run)
  await retireTopics(run)
  if (workloads.has('txn')) await txnWorkload(run)
  await retireTopics(run)
  if (workloads.has('kafka')) await kafkaBench(run)
  await retireTopics(run)
  // Last: its idle partitions would add follower fetch work to every workload after it.
  if (workloads.has('scale')) await scaleWorkload(run)
  if (run.target.metrics().length === 0 && (produceAcks.includes('all') || workloads.has('lag'))) {
    run.notes.push('replication lag: n/a, the brokers\' metrics listeners are unknown (--bootstrap without --metrics).')
  }
}

async function measureBaselines(flags: Flags): Promise<Run['baselines']> {
  const bytes = flags.records * flags.recordBytes
  progress('baseline: raw node:net loopback')
  const loopback: BaselineResult = await loopbackBaseline(bytes, flags.batchBytes)
  progress('baseline: raw file append')
  const file: BaselineResult = await fileAppendBaseline(bytes, flags.batchBytes)
  return { loopbackMBs: mbPerSec(loopback.bytes, loopback.ms), fileMBs: mbPerSec(file.bytes, file.ms) }
}

/** The cluster being run against, for the signal handler to stop. */
let current: { stop(): Promise<void> } | null = null

function onSignal(signal: NodeJS.Signals): void {
  progressDone()
  process.stderr.write(`bench: ${signal}: stopping the brokers\n`)
  const stopping = current
  current = null
  void (stopping?.stop() ?? Promise.resolve()).finally(() => process.exit(signal === 'SIGINT' ? 130 : 143))
}

/** A second pass's brokers: settings over the defaults, and how the client reaches them. */
interface PassOptions {
  overrides: Record<string, string>
  client: SecurityOptions
}

function newTarget(flags: Flags, security: PassOptions | null): Target {
  if (flags.bootstrap === null) {
    const nodeArgs = flags.profile === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', path.resolve(flags.profile)]
    // Only for the kafka workload: the other figures stay those of brokers without a second listener.
    const kafka: Record<string, string> = flags.workloads.has('kafka') ? { 'kafka.listener.port': '0' } : {}
    return localTarget({ size: CLUSTER_SIZE, nodeArgs, clientId: 'bench-setup', overrides: { ...kafka, ...security?.overrides, ...flags.brokerConfig }, clientSecurity: security?.client ?? {} })
  }
  try {
    return remoteTarget(flags.bootstrap, flags.metrics ?? [])
  } catch (err) {
    return usageError(USAGE, (err as Error).message)
  }
}

async function runCluster(flags: Flags, run: Omit<Run, 'target' | 'strand' | 'admin'>, security: PassOptions | null = null): Promise<void> {
  const target = newTarget(flags, security)
  current = target
  let full: Run | null = null
  try {
    await target.start()
    const client = security?.client ?? {}
    const strand = new Strand({ brokers: target.bootstrap(), clientId: 'bench', ...(client.tls ? { tls: client.tls } : {}), ...(client.sasl ? { sasl: client.sasl } : {}) })
    full = { ...run, target, strand, admin: strand.admin() }
    if (flags.bootstrap !== null) await checkBrokerCount(full.admin)
    await Promise.race([runWorkloads(full), target.failed])
  } finally {
    run.notes.push(...target.warnings())
    // Topics on someone else's cluster are removed; a local cluster goes with its temp dir.
    const admin = full?.admin
    if (flags.bootstrap !== null && admin !== undefined) await Promise.allSettled(run.created.map((t) => admin.deleteTopic(t)))
    await full?.strand.close().catch(() => {})
    await target.stop()
    current = null
  }
}

async function checkBrokerCount(admin: Admin): Promise<void> {
  const d = await admin.describeCluster()
  if (d.brokers.length < REPLICATION_FACTOR) throw new Error(`the cluster has ${d.brokers.length} brokers; the workloads need replication factor ${REPLICATION_FACTOR}`)
}

async function main(): Promise<void> {
  const flags = parseFlags()
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  const run = freshRun(flags, await measureBaselines(flags))
  try {
    await runCluster(flags, run)
    if (flags.workloads.has('durable') && flags.bootstrap === null) await durablePass(flags, run)
    if (flags.workloads.has('durable') && flags.bootstrap !== null) run.notes.push(`durable: not run with --bootstrap (it starts a cluster of its own with ${DURABLE_LABEL}).`)
    if (flags.secure) await securePass(flags, run)
    const idle = flags.workloads.has('scale') && flags.bootstrap === null ? await idleMemory(SCALE_PARTITIONS[SCALE_PARTITIONS.length - 1] as number) : null
    memoryFigures(run, idle, flags.workloads.has('scale'))
    if (flags.bootstrap !== null) run.notes.push('broker memory: n/a with --bootstrap (RSS is read from /proc/<pid>/status of brokers this program spawned).')
  } catch (err) {
    progressDone()
    process.stderr.write(`bench: ${(err as Error).message}\n`)
    for (const n of run.notes.filter((x) => !LAG_NOTES.includes(x))) process.stderr.write(`bench: ${n}\n`)
    process.exit(1)
  }
  progressDone()
  publish({ workload: resultName(flags), command: commandLine('bench/cluster.ts'), params: params(flags), rows: [...run.rows, ...baselineRows(run.baselines)], goals: run.goals, notes: run.notes }, { json: flags.json })
  process.off('SIGINT', onSignal)
  process.off('SIGTERM', onSignal)
}

function freshRun(flags: Flags, baselines: Run['baselines']): Omit<Run, 'target' | 'strand' | 'admin'> {
  return {
    flags,
    baselines,
    topicSuffix: flags.bootstrap === null ? '' : `-${Date.now().toString(36)}`,
    created: [],
    retired: new Set<string>(),
    rows: [],
    goals: [],
    notes: [],
    acksAll: null,
    lastProduced: null,
    rssPeakBytes: new Map<number, number | null>(),
  }
}

/** The workloads but scale again, on a fresh TLS + SCRAM cluster; its rows and the ratios join `run`'s. */
async function securePass(flags: Flags, run: Omit<Run, 'target' | 'strand' | 'admin'>): Promise<void> {
  const workloads = new Set([...flags.workloads].filter((w) => w !== 'scale' && w !== 'kafka' && w !== 'durable'))
  const secure = freshRun({ ...flags, workloads }, run.baselines)
  const pki = secureCluster()
  try {
    progress(`second pass on ${SECURITY_LABEL}`)
    await runCluster({ ...flags, workloads }, secure, pki)
  } finally {
    pki.cleanup()
  }
  const compared = compareSecure(run.rows, secure.rows)
  run.rows.push(...compared.rows)
  run.goals.push(...compared.goals)
  run.notes.push(`security: the workloads but scale ran a second time on a fresh cluster with TLS on every listener and between the brokers and SASL/SCRAM-SHA-256 on every connection (the bench authenticates as the brokers' user); ratios are against the plaintext pass of this run.`)
}

/** Chunk of the fsync baseline: about what a leader appends per partition per round at the full acks=all rate. */
const FSYNC_BASELINE_CHUNK_BYTES = 64 * KIB
const FSYNC_BASELINE_MS = 3_000

/** Produce acks=all and e2e again on a fresh cluster with fsync: always; its rows and the ratios join `run`'s. */
async function durablePass(flags: Flags, run: Omit<Run, 'target' | 'strand' | 'admin'>): Promise<void> {
  const durableFlags: Flags = { ...flags, workloads: new Set<Workload>(['produce', 'e2e']), acks: ['all'] }
  const durable = freshRun(durableFlags, run.baselines)
  progress(`second pass with ${DURABLE_LABEL}`)
  await runCluster(durableFlags, durable, { overrides: DURABLE_OVERRIDES, client: {} })
  progress('baseline: the disk\'s fsync rate')
  const fsync = await fsyncBaseline(FSYNC_BASELINE_MS, FSYNC_BASELINE_CHUNK_BYTES)
  const compared = compareDurable(run.rows, durable.rows, fsync, FSYNC_BASELINE_CHUNK_BYTES)
  run.rows.push(...compared.rows)
  run.goals.push(...compared.goals)
  run.notes.push(`durable: produce acks=all and e2e ran a second time on a fresh cluster with ${DURABLE_LABEL} on every broker (each append fsynced, group-committed, before it is acknowledged or counted toward the high watermark); ratios are against the first pass of this run.`)
}

function baselineRows(b: Run['baselines']): Row[] {
  return [
    { name: 'baseline: raw node:net loopback', section: THROUGHPUT, figures: { 'MB/s': b.loopbackMBs, 'x loopback': 1, 'x file append': b.loopbackMBs / b.fileMBs } },
    { name: 'baseline: raw file append', section: THROUGHPUT, figures: { 'MB/s': b.fileMBs, 'x loopback': b.fileMBs / b.loopbackMBs, 'x file append': 1 } },
  ]
}

/** `cluster` for the whole set, else the workloads run (`produce-lag`): the results file's name. */
function resultName(flags: Flags): string {
  return flags.workloads.size === ALL_WORKLOADS.length && ALL_WORKLOADS.every((w) => flags.workloads.has(w)) ? 'cluster' : WORKLOADS.filter((w) => flags.workloads.has(w)).join('-')
}

function params(flags: Flags): Record<string, unknown> {
  return {
    workloads: WORKLOADS.filter((w) => flags.workloads.has(w)),
    brokers: flags.bootstrap === null ? CLUSTER_SIZE : flags.bootstrap,
    records: flags.records,
    recordBytes: flags.recordBytes,
    partitions: flags.partitions,
    replicationFactor: REPLICATION_FACTOR,
    minInsyncReplicas: Number(MIN_INSYNC_REPLICAS),
    acks: flags.acks,
    producers: flags.producers,
    consumers: flags.consumers,
    compression: flags.compression,
    lingerMs: flags.lingerMs,
    batchBytes: flags.batchBytes,
    e2eRecordsPerSec: flags.rate,
    e2eLingerMs: E2E_LINGER_MS,
    brokerNodeFlags: flags.bootstrap === null ? brokerNodeFlags() : null,
    durationMs: flags.durationMs,
    warmupMs: flags.warmupMs,
    lagRateShare: FIXED_RATE_SHARE,
    warmupRecords: Math.min(flags.records, WARMUP_RECORDS / 2) * 2,
    scalePartitions: SCALE_PARTITIONS,
    scaleRecords: scaleRecords(flags),
    baselineBytes: flags.records * flags.recordBytes,
    baselineChunkBytes: flags.batchBytes,
    brokerConfig: flags.brokerConfig,
    security: flags.secure ? ['plaintext', 'tls,scram'] : ['plaintext'],
    ...(flags.workloads.has('kafka') ? { kafkaRecords: kafkaRecords(flags), kafkaPartitions: KAFKA_PARTITIONS } : {}),
  }
}

await main()
