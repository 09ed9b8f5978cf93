// The Kafka listener workload: kcat (librdkafka) producing to and consuming from the brokers'
// Apache Kafka wire listener (kafka.listener.port), beside the Strand client on the Strand
// listener, on the same cluster in the same run, with the same records (one file, keyed lines):
//
//   1. kcat -P, its stdin the file, acks=all, idempotent, the bench's linger and batch size;
//   2. the Strand producer sending the same keys and values (acks=all, so idempotent; same
//      linger and batch size), made from the same file's bytes as it goes, with its default of 5
//      batches in flight per partition and again with 1, which is what librdkafka 2.0's
//      idempotent producer keeps: it caps a partition's requests at 5 minus its *messages* in
//      flight (rd_kafka_toppar_producer_serve, rktp_msgs_inflight), so a ProduceRequest follows
//      the previous one's response (its protocol debug log shows exactly that);
//   3. kcat -C -o beginning -e from the topic kcat wrote, stdout piped here and counted;
//   4. the same with stdout on /dev/null (what formatting and the pipe cost kcat);
//   5. the Strand consumer reading the same topic, the same count.
//
// Each is timed from its start to its end (kcat: from spawn to exit) and charged the CPU its
// client process used, the CPU the three brokers used (/proc/<pid>/stat), the CPU the rest of the
// machine used (/proc/stat: other programs on a shared machine), and, for produce, the brokers'
// Produce requests and their mean latency (/metrics). Beforehand, a smaller file goes through
// kcat and Strand both ways, untimed, so the brokers' Kafka paths are compiled as the Strand ones
// are by the harness's warm-up.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { Admin, Message, ProducerOptions, Strand } from '../../client/index.js'
import { consumeAll } from './consume.js'
import { kcatVersion, librdkafkaVersion, runKcat } from './kcat.js'
import type { MetricsEndpoint } from './lag.js'
import { sampleValue, scrape } from './prometheus.js'
import type { Throughput } from './produce.js'
import { mbPerSec, perSec, progress, type Row } from './report.js'
import { endOffsets } from './topics.js'

/** Batches per partition in flight that librdkafka 2.0's idempotent producer keeps (see the header). */
const LIBRDKAFKA_IDEMPOTENT_INFLIGHT = 1
/** Records of the untimed warm-up at most (each path sees this many before it is timed). */
const WARMUP_RECORDS_MAX = 100_000
/** Key digits: keys are fixed-width, so record i starts at i * lineBytes of the file. */
const KEY_DIGITS = 9
/** Between key and value on each line (kcat -K). */
const KEY_SEPARATOR = ':'
/** As produceAll's: messages per send() call, and send() calls in flight per producer. */
const SEND_CHUNK_RECORDS = 1000
const SENDS_INFLIGHT_MAX = 64
/** /proc/<pid>/stat counts CPU in USER_HZ ticks, 100 per second on every Linux architecture. */
const PROC_TICKS_PER_SEC = 100
/**
 * Below this share of the machine's cores busy, a figure is set by waiting on round trips, not by
 * anyone's CPU; at or above it with other programs taking more than this run, by the contention.
 * The notes say which.
 */
const CORES_BUSY_SATURATED_SHARE = 0.8

export interface KafkaBench {
  strand: Strand
  admin: Admin
  /** `host:port` of each broker's Kafka listener. */
  kafkaBootstrap: readonly string[]
  /** The brokers' process ids, for their CPU time; empty: n/a. */
  brokerPids: readonly number[]
  /** The brokers' metrics listeners, for their Produce request counts and latency; empty: n/a. */
  metrics: readonly MetricsEndpoint[]
  records: number
  recordBytes: number
  partitions: number
  replicationFactor: number
  /** The Strand producer's options (acks all); kcat gets the same linger and batch size. */
  producer: ProducerOptions & { lingerMs: number; batchBytes: number }
  /** A fresh topic (primed: one record per partition) by the harness's naming, deleted by it later. */
  newTopic(name: string, partitions: number): Promise<string>
  waitReplicated(topic: string): Promise<void>
}

export interface KafkaResult {
  rows: Row[]
  notes: string[]
}

/** One file of `records` lines `k<index>:<value>\n`, values `recordBytes` long, and its bytes. */
interface RecordsFile {
  path: string
  bytes: Buffer
  records: number
  lineBytes: number
}

/** A timed run and what it cost: its client's CPU and the brokers' (null: not readable). */
interface Phase {
  t: Throughput
  clientCpuMs: number | null
  brokersCpuMs: number | null
  /** CPU this process used during a kcat run (the pipe's reader); null for a Strand run (it is the client). */
  benchCpuMs: number | null
  /** Produce requests the brokers answered during the run, and their summed latency (broker-side). */
  produce: ProduceCounts | null
  /** CPU every process on the machine used during the run (/proc/stat), this benchmark's and others'. */
  machineCpuMs: number | null
}

interface ProduceCounts {
  requests: number
  latencyMsSum: number
}

function writeRecordsFile(file: string, records: number, valueBytes: number): RecordsFile {
  if (records >= 10 ** KEY_DIGITS) throw new Error(`at most ${10 ** KEY_DIGITS - 1} records (keys have ${KEY_DIGITS} digits)`)
  const keyBytes = 1 + KEY_DIGITS
  const lineBytes = keyBytes + KEY_SEPARATOR.length + valueBytes + 1
  const bytes = Buffer.alloc(records * lineBytes, 'v')
  for (let i = 0; i < records; i++) {
    const at = i * lineBytes
    const digits = String(i).padStart(KEY_DIGITS, '0')
    bytes.write(`k${digits}${KEY_SEPARATOR}`, at, 'latin1')
    // Values differ by record (their first digits), as keys do; the rest is filler.
    bytes.write(digits.slice(0, valueBytes), at + keyBytes + KEY_SEPARATOR.length, 'latin1')
    bytes[at + lineBytes - 1] = 0x0a
  }
  writeFileSync(file, bytes)
  return { path: file, bytes, records, lineBytes }
}

/** Records [first, first + n) of the file as messages: views of its bytes, as kcat reads the same lines. */
function messagesOf(f: RecordsFile, first: number, n: number): Message[] {
  const keyEnd = 1 + KEY_DIGITS
  const out: Message[] = new Array<Message>(n)
  for (let i = 0; i < n; i++) {
    const at = (first + i) * f.lineBytes
    out[i] = { key: f.bytes.subarray(at, at + keyEnd), value: f.bytes.subarray(at + keyEnd + KEY_SEPARATOR.length, at + f.lineBytes - 1) }
  }
  return out
}

/** utime + stime of every pid, in ms; null when one cannot be read (not Linux, a process gone). */
function cpuMsOf(pids: readonly number[]): number | null {
  if (pids.length === 0) return null
  let ticks = 0
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      // Fields after the command name, which is in parentheses and may hold spaces: state is field 3.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      ticks += Number(fields[14 - 3]) + Number(fields[15 - 3])
    } catch {
      return null
    }
  }
  return (ticks / PROC_TICKS_PER_SEC) * 1000
}

/** Busy CPU of the whole machine so far, every core, in ms (/proc/stat: all but idle and iowait); null off Linux. */
function machineCpuMs(): number | null {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1, 9).map(Number)
    // user nice system idle iowait irq softirq steal: idle and iowait are the only time not spent (steal: taken by the host).
    const [user, nice, system, , , irq, softirq, steal] = fields as [number, number, number, number, number, number, number, number]
    return ((user + nice + system + irq + softirq + steal) / PROC_TICKS_PER_SEC) * 1000
  } catch {
    return null
  }
}

/** The kcat arguments both of its runs share: the Kafka bootstrap and the topic. */
function kcatTarget(b: KafkaBench, topic: string): string[] {
  return ['-b', b.kafkaBootstrap.join(','), '-t', topic]
}

/** kcat -P: acks=all and idempotent as the Strand producer is, murmur2 so keys land where Strand puts them. */
function kcatProduceArgs(b: KafkaBench): string[] {
  return ['-P', '-K', KEY_SEPARATOR, '-X', 'acks=all', '-X', 'enable.idempotence=true', '-X', `linger.ms=${b.producer.lingerMs}`, '-X', `batch.size=${b.producer.batchBytes}`, '-X', 'partitioner=murmur2_random']
}

/** kcat -C: from the log start; -c stops it at the last record as the Strand consumer stops (-e would wait out an empty fetch at the end). */
function kcatConsumeArgs(total: number): string[] {
  return ['-C', '-o', 'beginning', '-e', '-c', String(total), '-q']
}

/** Every broker's Produce requests so far and their summed latency (strand_request_latency_ms); null if one is unreadable. */
async function produceCounts(metrics: readonly MetricsEndpoint[]): Promise<ProduceCounts | null> {
  if (metrics.length === 0) return null
  const out: ProduceCounts = { requests: 0, latencyMsSum: 0 }
  for (const m of metrics) {
    const samples = await scrape(m.host, m.port)
    // A broker that has answered no Produce yet has no series for it.
    out.requests += sampleValue(samples, 'strand_request_latency_ms_count', { api: 'Produce' }) ?? 0
    out.latencyMsSum += sampleValue(samples, 'strand_request_latency_ms_sum', { api: 'Produce' }) ?? 0
  }
  return out
}

/** Runs `run` and charges it the CPU of its client and of the brokers, and the brokers' Produce requests. */
async function measured(b: KafkaBench, run: () => Promise<{ t: Throughput; kcatCpuMs?: number | null }>): Promise<Phase> {
  const produceBefore = await produceCounts(b.metrics)
  const brokersBefore = cpuMsOf(b.brokerPids)
  const machineBefore = machineCpuMs()
  const selfBefore = process.cpuUsage()
  const r = await run()
  const self = process.cpuUsage(selfBefore)
  const machineAfter = machineCpuMs()
  const brokersAfter = cpuMsOf(b.brokerPids)
  const machine = machineBefore === null || machineAfter === null ? null : machineAfter - machineBefore
  const produceAfter = await produceCounts(b.metrics)
  const selfMs = (self.user + self.system) / 1000
  const brokersCpuMs = brokersBefore === null || brokersAfter === null ? null : brokersAfter - brokersBefore
  const produce = produceBefore === null || produceAfter === null ? null : { requests: produceAfter.requests - produceBefore.requests, latencyMsSum: produceAfter.latencyMsSum - produceBefore.latencyMsSum }
  if (r.kcatCpuMs === undefined) return { t: r.t, clientCpuMs: selfMs, brokersCpuMs, benchCpuMs: null, produce, machineCpuMs: machine }
  return { t: r.t, clientCpuMs: r.kcatCpuMs, brokersCpuMs, benchCpuMs: selfMs, produce, machineCpuMs: machine }
}

async function kcatProduce(b: KafkaBench, topic: string, f: RecordsFile): Promise<Phase> {
  return measured(b, async () => {
    const r = await runKcat({ args: [...kcatTarget(b, topic), ...kcatProduceArgs(b)], stdinFile: f.path, stdout: 'discard' })
    return { t: { records: f.records, bytes: f.records * b.recordBytes, ms: r.wallMs }, kcatCpuMs: r.cpuMs }
  })
}

async function strandProduce(b: KafkaBench, topic: string, f: RecordsFile, options: ProducerOptions = b.producer): Promise<Phase> {
  return measured(b, async () => {
    const producer = b.strand.producer(options)
    const inflight = new Set<Promise<unknown>>()
    try {
      const start = performance.now()
      for (let first = 0; first < f.records; first += SEND_CHUNK_RECORDS) {
        const sending = producer.send({ topic, messages: messagesOf(f, first, Math.min(SEND_CHUNK_RECORDS, f.records - first)) })
        inflight.add(sending)
        void sending.finally(() => inflight.delete(sending)).catch(() => {})
        if (inflight.size >= SENDS_INFLIGHT_MAX) await Promise.race(inflight)
      }
      await Promise.all(inflight)
      await producer.flush()
      return { t: { records: f.records, bytes: f.records * b.recordBytes, ms: performance.now() - start } }
    } finally {
      await producer.close()
    }
  })
}

async function kcatConsume(b: KafkaBench, topic: string, ends: readonly bigint[], stdout: 'count' | 'discard'): Promise<Phase> {
  const total = ends.reduce((sum, e) => sum + Number(e), 0)
  return measured(b, async () => {
    const r = await runKcat({ args: [...kcatTarget(b, topic), ...kcatConsumeArgs(total)], stdout })
    if (r.stdoutLines !== null && r.stdoutLines !== total) throw new Error(`kcat -C wrote ${r.stdoutLines} records of ${topic}'s ${total}`)
    // Value bytes: the topic's own records are recordBytes each; its primes (one per partition) are not counted.
    return { t: { records: total, bytes: (total - ends.length) * b.recordBytes, ms: r.wallMs }, kcatCpuMs: r.cpuMs }
  })
}

async function strandConsume(b: KafkaBench, topic: string, ends: readonly bigint[], label: string): Promise<Phase> {
  return measured(b, async () => ({ t: await consumeAll(b.strand, { topic, endOffsets: ends, consumers: 1, label }) }))
}

/** The topic holds `records` records beside its primes, one per partition: no producer lost or doubled any. */
async function checkWritten(b: KafkaBench, topic: string, records: number, who: string): Promise<bigint[]> {
  await b.waitReplicated(topic)
  const ends = await endOffsets(b.admin, topic, b.partitions)
  const total = ends.reduce((sum, e) => sum + Number(e), 0)
  if (total !== records + b.partitions) throw new Error(`${who} left ${total - b.partitions} records in ${topic}, not ${records}`)
  return ends
}

/** Every path once, untimed, on a smaller file: the brokers compile the Kafka listener's paths. */
async function warmUp(b: KafkaBench, f: RecordsFile): Promise<void> {
  progress(`kafka warm-up: ${f.records.toLocaleString('en-US')} records through kcat and Strand`)
  const topic = await b.newTopic('kafka-warmup', b.partitions)
  await kcatProduce(b, topic, f)
  await strandProduce(b, topic, f)
  const ends = await checkWritten(b, topic, 2 * f.records, 'the warm-up')
  await kcatConsume(b, topic, ends, 'count')
  await strandConsume(b, topic, ends, 'kafka warm-up: Strand consumer')
}

export async function kafkaWorkload(b: KafkaBench): Promise<KafkaResult> {
  const version = kcatVersion()
  if (version === null) throw new Error('the kafka workload runs kcat, which is not installed (Debian: apt-get install kcat)')
  if (b.kafkaBootstrap.length === 0) throw new Error('the kafka workload needs the brokers\' Kafka listeners (kafka.listener.port), and none reports one')
  const dir = mkdtempSync(path.join(os.tmpdir(), 'strand-bench-kafka-'))
  try {
    const file = writeRecordsFile(path.join(dir, 'records.txt'), b.records, b.recordBytes)
    await warmUp(b, writeRecordsFile(path.join(dir, 'warmup.txt'), Math.min(b.records, WARMUP_RECORDS_MAX), b.recordBytes))
    const kcatTopic = await b.newTopic('kafka-kcat', b.partitions)
    const strandTopic = await b.newTopic('kafka-strand', b.partitions)
    progress(`kafka: kcat -P, ${b.records.toLocaleString('en-US')} records`)
    const kcatP = await kcatProduce(b, kcatTopic, file)
    const ends = await checkWritten(b, kcatTopic, b.records, 'kcat -P')
    progress(`kafka: Strand producer, ${b.records.toLocaleString('en-US')} records`)
    const strandP = await strandProduce(b, strandTopic, file)
    await checkWritten(b, strandTopic, b.records, 'the Strand producer')
    const strandOneTopic = await b.newTopic('kafka-strand1', b.partitions)
    progress(`kafka: Strand producer, ${LIBRDKAFKA_IDEMPOTENT_INFLIGHT} batch in flight per partition`)
    const strandP1 = await strandProduce(b, strandOneTopic, file, { ...b.producer, maxInflightPerPartition: LIBRDKAFKA_IDEMPOTENT_INFLIGHT })
    await checkWritten(b, strandOneTopic, b.records, 'the Strand producer (1 in flight)')
    progress('kafka: kcat -C, stdout piped')
    const kcatC = await kcatConsume(b, kcatTopic, ends, 'count')
    progress('kafka: kcat -C, stdout to /dev/null')
    const kcatNull = await kcatConsume(b, kcatTopic, ends, 'discard')
    const strandC = await strandConsume(b, kcatTopic, ends, 'kafka: Strand consumer')
    return report(b, version, { kcatP, strandP, strandP1, kcatC, kcatNull, strandC }, kcatTopic)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

interface Phases {
  kcatP: Phase
  strandP: Phase
  /** The Strand producer with librdkafka's idempotent in-flight count. */
  strandP1: Phase
  kcatC: Phase
  kcatNull: Phase
  strandC: Phase
}

/** Client, brokers and (beside kcat) this process, in ms; null when one is unknown. */
function oursCpuMs(p: Phase): number | null {
  if (p.clientCpuMs === null || p.brokersCpuMs === null) return null
  return p.clientCpuMs + p.brokersCpuMs + (p.benchCpuMs ?? 0)
}

/** CPU in ms as a share of every core over the run. */
function coresShare(p: Phase, cpuMs: number | null): number | null {
  return cpuMs === null ? null : cpuMs / (p.t.ms * os.cpus().length)
}

/** CPU the machine spent on processes not of this run (other programs), in ms, never below 0 (tick rounding). */
function othersCpuMs(p: Phase): number | null {
  const ours = oursCpuMs(p)
  return ours === null || p.machineCpuMs === null ? null : Math.max(0, p.machineCpuMs - ours)
}

function figures(p: Phase, baseline: Phase, produce: boolean): Row['figures'] {
  const rate = perSec(p.t.records, p.t.ms)
  const s = (ms: number | null): number | string => (ms === null ? 'n/a' : ms / 1000)
  const busy = coresShare(p, oursCpuMs(p))
  const others = coresShare(p, othersCpuMs(p))
  const out: Row['figures'] = {
    'records/s': rate,
    'MB/s': mbPerSec(p.t.bytes, p.t.ms),
    'x Strand': rate / perSec(baseline.t.records, baseline.t.ms),
    's': p.t.ms / 1000,
    'client CPU s': s(p.clientCpuMs),
    'brokers CPU s': s(p.brokersCpuMs),
    'brokers CPU us/record': p.brokersCpuMs === null ? 'n/a' : (p.brokersCpuMs * 1000) / p.t.records,
    'cores busy %': busy === null ? 'n/a' : busy * 100,
    'other programs %': others === null ? 'n/a' : others * 100,
  }
  if (!produce) return out
  const n = p.produce
  out['Produce requests'] = n === null ? 'n/a' : n.requests
  out['records/Produce'] = n === null || n.requests === 0 ? 'n/a' : p.t.records / n.requests
  out['Produce ms mean'] = n === null || n.requests === 0 ? 'n/a' : n.latencyMsSum / n.requests
  return out
}

function report(b: KafkaBench, version: string, p: Phases, kcatTopic: string): KafkaResult {
  const lib = librdkafkaVersion(version)
  const section = `Kafka listener (kcat, librdkafka ${lib}) vs Strand, ${b.records.toLocaleString('en-US')} keyed records, acks=all, ${b.partitions} partitions, RF ${b.replicationFactor}`
  const rows: Row[] = [
    { name: 'produce: kcat -P, stdin a file -> Kafka listener', section, figures: figures(p.kcatP, p.strandP, true) },
    { name: 'produce: Strand producer -> Strand listener', section, figures: figures(p.strandP, p.strandP, true) },
    { name: `produce: Strand producer, ${LIBRDKAFKA_IDEMPOTENT_INFLIGHT} batch in flight per partition`, section, figures: figures(p.strandP1, p.strandP, true) },
    { name: 'consume: kcat -C, stdout piped -> Kafka listener', section, figures: figures(p.kcatC, p.strandC, false) },
    { name: 'consume: kcat -C, stdout /dev/null -> Kafka listener', section, figures: figures(p.kcatNull, p.strandC, false) },
    { name: 'consume: Strand consumer -> Strand listener', section, figures: figures(p.strandC, p.strandC, false) },
  ]
  const notes = [
    `kafka: kcat ${version}. Produce: \`kcat -b <Kafka listeners> -t <topic> ${kcatProduceArgs(b).join(' ')} < file\` (librdkafka's other settings its defaults: max 5 in flight with idempotence, batch.num.messages 10000, no compression); the Strand producer: acks=all (idempotent), lingerMs ${b.producer.lingerMs}, batchBytes ${b.producer.batchBytes}, the same keys and values, ${SEND_CHUNK_RECORDS} per send(), ${SENDS_INFLIGHT_MAX} sends in flight, up to 5 batches in flight per partition (its default) and then ${LIBRDKAFKA_IDEMPOTENT_INFLIGHT}, as librdkafka 2.0's idempotent producer keeps (it allows 5 minus the partition's messages in flight: one request at a time). kcat / Strand at ${LIBRDKAFKA_IDEMPOTENT_INFLIGHT} in flight: ${(perSec(p.kcatP.t.records, p.kcatP.t.ms) / perSec(p.strandP1.t.records, p.strandP1.t.ms)).toFixed(3)}. Consume: \`kcat -b <Kafka listeners> -t <topic> ${kcatConsumeArgs(0).join(' ').replace('-c 0', '-c <records>')}\` and one Strand consumer (assigned, no group), both reading ${kcatTopic}, the topic kcat wrote, to its end (its ${b.partitions} primes included). Untimed first: ${Math.min(b.records, WARMUP_RECORDS_MAX).toLocaleString('en-US')} records produced by kcat and by Strand and read by both.`,
    `kafka: kcat's figures are its whole process from spawn to exit: its start, metadata, reading and splitting each stdin line (-P) or formatting each record onto stdout (-C), its flush and exit. "client CPU s" is what the client process used, all threads (kcat: bash\'s time; Strand: this process, making messages of the file\'s bytes included); "brokers CPU s" is the three brokers\' utime + stime over the same span (/proc/<pid>/stat); "cores busy %" is client, brokers and (beside kcat) this process over the run, as a share of all ${os.cpus().length} cores, which they share; "other programs %" is the rest of the machine's busy CPU (/proc/stat) over the same span. Produce requests and their mean latency are the brokers' own (strand_request_latency_ms, both listeners). MB/s counts values only.`,
    ...overheadNotes(p),
  ]
  return { rows, notes }
}

/** Whether kcat's own process, the brokers, or neither (waiting on round trips) set its figures. */
function overheadNotes(p: Phases): string[] {
  const out: string[] = []
  for (const [what, phase, strand] of [['produce', p.kcatP, p.strandP], ['consume (piped)', p.kcatC, p.strandC]] as const) {
    const busy = coresShare(phase, oursCpuMs(phase))
    if (busy === null || phase.clientCpuMs === null || phase.brokersCpuMs === null) continue
    const others = coresShare(phase, othersCpuMs(phase)) ?? 0
    const share = phase.clientCpuMs / phase.brokersCpuMs
    const strandShare = strand.clientCpuMs === null || strand.brokersCpuMs === null ? null : strand.clientCpuMs / strand.brokersCpuMs
    const load = `the cores were ${(busy * 100).toFixed(0)}% busy with this run and ${(others * 100).toFixed(0)}% with other programs`
    const verdict = busy + others < CORES_BUSY_SATURATED_SHARE
      ? `${load}, so the figure is set by waiting on round trips, not by kcat's CPU or the brokers'`
      : others >= busy
        ? `${load}: other programs took at least as much as this run, so the figure is a share of a contended machine`
        : `${load}; of this run's share, ${share >= 1 ? 'kcat\'s own process took the most: it dominated its figure' : 'the brokers took the most, not kcat'}`
    out.push(`kafka ${what}: kcat used ${(phase.clientCpuMs / 1000).toFixed(2)} s of CPU in ${(phase.t.ms / 1000).toFixed(2)} s, ${share.toFixed(2)}x the brokers' ${(phase.brokersCpuMs / 1000).toFixed(2)} s (the Strand client: ${strandShare === null ? 'n/a' : `${strandShare.toFixed(2)}x`} theirs): ${verdict}.`)
  }
  const piped = perSec(p.kcatC.t.records, p.kcatC.t.ms)
  const devNull = perSec(p.kcatNull.t.records, p.kcatNull.t.ms)
  out.push(`kafka consume: kcat -C to /dev/null read ${(devNull / piped).toFixed(2)}x its piped rate${p.kcatC.benchCpuMs === null ? '' : ` (this process, reading and counting the pipe, used ${(p.kcatC.benchCpuMs / 1000).toFixed(2)} s of CPU)`}: what the pipe and its reader cost it; formatting each record is in both.`)
  return out
}
