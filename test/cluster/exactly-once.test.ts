// Exactly-once consume-transform-produce (KIP-98 / KIP-447) with real processes: an input topic
// of N records over 3 partitions, and a processor child process (test/helpers/eos-processor.ts)
// that reads it in a group (read_committed, no auto-commit) and, transaction by transaction,
// writes 'out-' + each value to an output topic and sends the consumed offsets to the same
// transaction. The test first kills an instance that stalls (a hung processor) once a
// transaction holds records and pending offsets, then SIGKILLs the processor at seeded random
// points (every 300-700 ms of its processing: the fault schedule, not synchronisation), starting
// a new instance each time (the same transactional id: it fences the dead one and aborts its open
// transaction), and lets the last one finish. A read_committed reader of the whole output then
// finds every input record exactly once (count and content), and the group's committed offsets
// equal the input's end offsets: no crash lost a record or let one through twice. A second test
// fails the group coordinator over and checks the new one replays transactional offsets right.

import { spawn, type ChildProcess } from 'node:child_process'
import { setTimeout as delay } from 'node:timers/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import type { Connection } from '../../client/net/connection.js'
import { ApiKey } from '../../client/protocol/apis.js'
import { errorCodeOf } from '../../client/protocol/errors.js'
import type { Teardown } from '../helpers/broker-process.js'
import type { Strand } from '../../client/index.js'
import type { IsolationLevel } from '../../client/consumer/consumer.js'
import type { Producer } from '../../client/producer.js'
import { TestCluster } from '../helpers/cluster.js'
import { Rng, testSeed } from '../helpers/random.js'
import { waitFor } from '../helpers/wait.js'
import type { EosProcessorConfig } from '../helpers/eos-processor.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const PROCESSOR = path.join(ROOT, 'test/helpers/eos-processor.ts')
const INPUT = 'eos-input'
const OUTPUT = 'eos-output'
const PARTITIONS = 3
const RECORDS = 300
/** Processor instances SIGKILLed before the last one is let finish. */
const KILLS = 4
/** Records per transaction: small, so a kill usually lands with work left and a transaction open. */
const CHUNK = 5
/** Lines of a processor's output kept for diagnostics. */
const OUTPUT_LINES_MAX = 200

const live = new Set<ChildProcess>()
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL')
})

interface Processor {
  child: ChildProcess
  output: string[]
  ready: () => boolean
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/** Starts a processor instance, reaped at teardown (and by the exit hook if the runner dies). */
function startProcessor(t: Teardown, config: EosProcessorConfig, onLine: (line: string) => void): Processor {
  const child = spawn(process.execPath, ['--import', 'tsx', PROCESSOR, JSON.stringify(config)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  live.add(child)
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  void exited.then(() => live.delete(child))
  const output: string[] = []
  let ready = false
  const onLines = (stream: NodeJS.ReadableStream | null): void => {
    let partial = ''
    stream?.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split('\n')
      partial = lines.pop() ?? ''
      for (const line of lines) {
        if (line === '') continue
        if (line === 'ready') ready = true
        onLine(line)
        output.push(line)
        if (output.length > OUTPUT_LINES_MAX) output.shift()
      }
    })
  }
  onLines(child.stdout)
  onLines(child.stderr)
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited
  })
  return { child, output, ready: () => ready, exited }
}

/** The cluster's client TLS / SASL (a secure run's), with PEM as text, for the processor's JSON config. */
function jsonSecurity(cluster: TestCluster): Pick<EosProcessorConfig, 'tls' | 'sasl'> {
  const text = (v: string | Buffer): string => (typeof v === 'string' ? v : v.toString('utf8'))
  const { tls, sasl } = cluster.clientSecurity
  return {
    ...(sasl === undefined ? {} : { sasl }),
    ...(tls === undefined
      ? {}
      : {
          tls: {
            ...tls,
            ...(tls.ca === undefined ? {} : { ca: Array.isArray(tls.ca) ? tls.ca.map(text) : text(tls.ca) }),
            ...(tls.cert === undefined ? {} : { cert: text(tls.cert) }),
            ...(tls.key === undefined ? {} : { key: text(tls.key) }),
          },
        }),
  }
}

/** Records a `committed <partition> <next offset>` line of any instance into `progress`. */
function noteProgress(progress: bigint[], line: string): void {
  const m = /^committed (\d+) (\d+)$/.exec(line)
  if (m === null) return
  const partition = Number(m[1])
  const next = BigInt(m[2]!)
  if (next > (progress[partition] ?? 0n)) progress[partition] = next
}

/** Every record of the output up to `ends`, at `isolationLevel`. */
async function readAll(strand: Strand, ends: readonly bigint[], isolationLevel: IsolationLevel): Promise<{ partition: number; key: string; value: string }[]> {
  const reader = strand.consumer({ isolationLevel, maxWaitMs: 100 })
  reader.assign(Array.from({ length: PARTITIONS }, (_, partition) => ({ topic: OUTPUT, partition, offset: 'earliest' as const })))
  const seen: { partition: number; key: string; value: string }[] = []
  const loop = (async () => {
    for await (const batch of reader) for (const m of batch.messages) seen.push({ partition: batch.partition, key: m.key?.toString() ?? '', value: m.value?.toString() ?? '' })
  })()
  try {
    await waitFor(async () => (await reader.lag()).every((l) => l.position !== null && l.position >= ends[l.partition]!), { what: `a ${isolationLevel} reader to reach the end of the output`, timeoutMs: 30_000 })
  } finally {
    await reader.close()
    await loop
  }
  return seen
}

/** Raw connections to the brokers, one per broker, made on first use. */
class RawConnections {
  readonly #cluster: TestCluster
  readonly #conns = new Map<number, Connection>()
  constructor(cluster: TestCluster) {
    this.#cluster = cluster
  }
  get(id: number): Connection {
    let c = this.#conns.get(id)
    if (c === undefined) {
      c = this.#cluster.connection(id, `eos-raw-${id}`, 5000)
      this.#conns.set(id, c)
    }
    return c
  }
  /** After a failure: the next get() connects again. */
  drop(id: number): void {
    this.#conns.get(id)?.close()
    this.#conns.delete(id)
  }
}

/** OffsetFetch of the group's offsets for `partitions` of the input, asked of its coordinator (found through `via`). */
async function fetchOffsets(conns: RawConnections, via: number, groupId: string, partitions: number[]): Promise<{ coordinator: number; results: { errorCode: number; offset: bigint }[] }> {
  let coordinator = -1
  try {
    const found = await conns.get(via).request(ApiKey.FindCoordinator, { key: groupId, keyType: 0 })
    if (found.errorCode !== 0) throw new Error(`FindCoordinator: error ${found.errorCode}`)
    coordinator = found.nodeId
    const res = await conns.get(coordinator).request(ApiKey.OffsetFetch, { groupId, topics: [{ name: INPUT, partitionIndexes: partitions }] })
    if (res.errorCode !== 0) throw new Error(`OffsetFetch: error ${res.errorCode}`)
    const byPartition = new Map(res.topics[0]?.partitions.map((p) => [p.partitionIndex, p]) ?? [])
    return { coordinator, results: partitions.map((p) => ({ errorCode: byPartition.get(p)?.errorCode ?? -1, offset: byPartition.get(p)?.committedOffset ?? -1n })) }
  } catch (err) {
    conns.drop(via)
    if (coordinator >= 0) conns.drop(coordinator)
    throw err
  }
}

t.test('consume-transform-produce commits every input record exactly once across processor crashes', async (t) => {
  const seed = testSeed()
  const rng = new Rng(seed)
  t.comment(`seed ${seed} (STRAND_SEED=${seed} reproduces the kill schedule)`)
  const cluster = await TestCluster.start(t)
  const strand = cluster.client('eos-test', { requestTimeoutMs: 5000 })
  const admin = strand.admin()
  for (const topic of [INPUT, OUTPUT]) await admin.createTopic({ topic, partitions: PARTITIONS, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } })

  const producer = strand.producer({ acks: 'all' })
  const inputs = Array.from({ length: RECORDS }, (_, i) => ({ key: `k${i}`, value: `v${i}`, partition: i % PARTITIONS }))
  await producer.send({ topic: INPUT, messages: inputs })
  await producer.close()
  const inputEnds = await Promise.all(Array.from({ length: PARTITIONS }, async (_, partition) => (await admin.listOffsets({ topic: INPUT, partition, timestamp: 'latest' })).offset))
  t.same(inputEnds, Array.from({ length: PARTITIONS }, () => BigInt(RECORDS / PARTITIONS)), 'the input holds N records over 3 partitions')

  const config: EosProcessorConfig = { brokers: cluster.bootstrap, input: INPUT, output: OUTPUT, groupId: 'eos-group', transactionalId: 'eos-processor', chunk: CHUNK, sessionTimeoutMs: 1500, ...jsonSecurity(cluster) }
  const committed = async (): Promise<bigint[]> => {
    const offsets = await admin.groupOffsets(config.groupId)
    return Array.from({ length: PARTITIONS }, (_, p) => offsets.find((o) => o.topic === INPUT && o.partition === p)?.committed ?? 0n)
  }
  const done = async (): Promise<boolean> => (await committed()).every((c, p) => c === inputEnds[p])

  /** Per partition, the next input offset some instance reported committed. */
  const progress = Array.from({ length: PARTITIONS }, () => 0n)
  const conns = new RawConnections(cluster)

  // The first instance stalls once a transaction holds records and pending offsets: the group
  // answers OffsetFetch for that partition UNSTABLE_OFFSET_COMMIT until the transaction is
  // decided, and the next instance (fencing this one) aborts both the records and the offsets.
  const stalled = startProcessor(t, { ...config, stallAfterOffsets: true }, (line) => noteProgress(progress, line))
  const sent = await waitFor(() => stalled.output.find((l) => l.startsWith('offsets-sent')) ?? (stalled.child.exitCode !== null && 'exited'), { what: 'a transaction with records and offsets in it', timeoutMs: 30_000 })
  t.match(sent, /^offsets-sent \d+ \d+$/, `the stalled instance sent offsets in a transaction (${stalled.output.slice(-3).join(' | ')})`)
  const stalledPartition = Number(sent.split(' ')[1])
  const unstable = await waitFor(() => fetchOffsets(conns, 1, config.groupId, [stalledPartition]), { what: 'OffsetFetch for the stalled partition' })
  t.equal(unstable.results[0]?.errorCode, errorCodeOf('UNSTABLE_OFFSET_COMMIT'), 'OffsetFetch: UNSTABLE_OFFSET_COMMIT while the offsets are pending')
  stalled.child.kill('SIGKILL')
  await stalled.exited

  let killedMidway = 0
  for (let kill = 0; kill < KILLS; kill++) {
    const p = startProcessor(t, config, (line) => noteProgress(progress, line))
    await waitFor(() => p.ready() || p.child.exitCode !== null, { what: `processor instance ${kill + 1} to get its assignment`, timeoutMs: 30_000 })
    // The fault schedule: processing time before the kill, not a wait for anything.
    await delay(rng.int(300, 700))
    p.child.kill('SIGKILL')
    await p.exited
    t.comment(`instance ${kill + 1}: ${p.output.filter((l) => l.startsWith('committed')).length} transactions committed before its kill`)
    if (progress.some((next, partition) => next < inputEnds[partition]!)) killedMidway++
  }
  t.ok(killedMidway > 0, `some instances were killed with work left (${killedMidway} of ${KILLS}, seed ${seed})`)

  const last = startProcessor(t, config, (line) => noteProgress(progress, line))
  await waitFor(async () => (await done()) || (last.child.exitCode !== null && 'exited'), { what: 'the last processor to commit the whole input', timeoutMs: 90_000, intervalMs: 200 }).catch((err: Error) => {
    throw new Error(`${err.message}\nprocessor output:\n${last.output.join('\n')}`)
  })
  t.equal(last.child.exitCode, null, `the last processor is still running (output: ${last.output.slice(-5).join(' | ')})`)
  t.same(await committed(), inputEnds, "the group's committed offsets equal the input's end offsets")
  last.child.kill('SIGKILL')
  await last.exited

  // The whole output, read_committed, up to each partition's high watermark (every transaction is
  // decided: the last processor was idle, and killing it left nothing open).
  const outputEnds = await Promise.all(Array.from({ length: PARTITIONS }, async (_, partition) => (await admin.listOffsets({ topic: OUTPUT, partition, timestamp: 'latest' })).offset))
  const seen = await readAll(strand, outputEnds, 'read_committed')
  const everything = await readAll(strand, outputEnds, 'read_uncommitted')
  t.ok(everything.length >= RECORDS + CHUNK, `read_uncommitted also sees aborted records (${everything.length - RECORDS} of them), read_committed not`)

  const want = inputs.map((m) => `${m.partition}/${m.key}/out-${m.value}`).sort()
  const got = seen.map((m) => `${m.partition}/${m.key}/${m.value}`).sort()
  t.equal(got.length, RECORDS, `the output holds ${RECORDS} committed records (seed ${seed})`)
  const dupes = got.filter((x, i) => got[i - 1] === x)
  t.same(dupes, [], 'no input record appears twice in the output')
  t.same(got, want, 'every input record appears exactly once, transformed, in its partition')
  const total = outputEnds.reduce((a, b) => a + b, 0n)
  t.comment(`output log: ${total} offsets for ${RECORDS} committed records (the rest: aborted records and markers)`)
})

t.test('a new group coordinator replays transactional offsets: committed ones count, aborted ones never, open ones once committed', async (t) => {
  const cluster = await TestCluster.start(t)
  const strand = cluster.client('eos-replay', { requestTimeoutMs: 5000 })
  await strand.admin().createTopic({ topic: INPUT, partitions: PARTITIONS, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } })
  const group = 'eos-replay-group'
  const conns = new RawConnections(cluster)
  const inTransaction = async (transactionalId: string, partition: number, offset: bigint): Promise<Producer> => {
    const producer = strand.producer({ transactionalId })
    await producer.initTransactions()
    producer.beginTransaction()
    await producer.sendOffsetsToTransaction([{ topic: INPUT, partition, offset }], group)
    return producer
  }
  await (await inTransaction('replay-commit', 0, 10n)).commitTransaction()
  await (await inTransaction('replay-abort', 1, 20n)).abortTransaction()
  const open = await inTransaction('replay-open', 2, 30n)
  const UNSTABLE = errorCodeOf('UNSTABLE_OFFSET_COMMIT')
  const settled = (r: { errorCode: number; offset: bigint }[]): boolean => r[0]?.errorCode === 0 && r[0].offset === 10n && r[1]?.errorCode === 0 && r[1].offset === -1n && r[2]?.errorCode === UNSTABLE
  const before = await waitFor(async () => {
    const f = await fetchOffsets(conns, 1, group, [0, 1, 2])
    return settled(f.results) && f
  }, { what: 'the committed offset to apply, the aborted one to be dropped, the open one to be pending' })
  t.pass(`coordinator ${before.coordinator}: committed 10, aborted dropped, open UNSTABLE_OFFSET_COMMIT`)

  // KIP-447: a TxnOffsetCommit naming a member the group does not have is refused, as its
  // OffsetCommit would be (a processor evicted from the group cannot commit its progress).
  const stale = await conns.get(before.coordinator).request(ApiKey.TxnOffsetCommit, {
    transactionalId: 'replay-open',
    groupId: group,
    producerId: 1n,
    producerEpoch: 0,
    generationId: 3,
    memberId: 'evicted-member',
    topics: [{ name: INPUT, partitions: [{ partitionIndex: 0, committedOffset: 99n, committedLeaderEpoch: -1, committedMetadata: null }] }],
  })
  t.equal(stale.topics[0]?.partitions[0]?.errorCode, errorCodeOf('UNKNOWN_MEMBER_ID'), 'TxnOffsetCommit from a member not in the group: UNKNOWN_MEMBER_ID')

  await cluster.kill(before.coordinator)
  const survivor = cluster.ids.find((id) => id !== before.coordinator)!
  const after = await waitFor(async () => {
    const f = await fetchOffsets(conns, survivor, group, [0, 1, 2])
    return f.coordinator !== before.coordinator && settled(f.results) && f
  }, { what: 'a new coordinator to replay the offsets partition the same way', timeoutMs: 30_000 })
  t.pass(`coordinator ${after.coordinator} replayed the partition: the same answers`)

  // The open transaction commits through the new coordinators: its marker reaches the new leader
  // of the offsets partition, which makes its pending offset committed.
  await open.commitTransaction()
  await waitFor(async () => {
    const f = await fetchOffsets(conns, survivor, group, [2])
    return f.results[0]?.errorCode === 0 && f.results[0].offset === 30n
  }, { what: 'the open transaction\'s offset to be committed', timeoutMs: 30_000 })
  t.pass('committing the open transaction makes its offset the committed one')
})
