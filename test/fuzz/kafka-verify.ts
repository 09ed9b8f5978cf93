// The Kafka listener's answers, checked while it is fuzzed: verifier sockets send well-formed
// requests of every API at every version (kafka-samples.ts with `wellFormed`), one to five
// pipelined on a fresh socket, and every one must be answered, in order, with its correlation id,
// in the response header its version calls for (v1 when flexible, v0 for ApiVersions), with a
// body that decodes at that version and re-encodes to the same bytes (nothing missing, nothing
// trailing). Between them:
//   - ApiVersions at a version the listener does not speak must be answered in v0 with
//     UNSUPPORTED_VERSION (35) and the listener's exact version ranges (KIP-511);
//   - a frame of an API the listener does not serve, or of a served API at a version outside its
//     range, must get no answer and its connection closed;
//   - a Produce at acks 0 (to the verifier's topic, at its leader) gets no answer, and a request
//     pipelined behind it gets its own: the next frame carries the next request's correlation id.
// The targets go round in order, verifier i of n taking every n-th from the i-th, so together
// they cover them all in a few seconds; a verifier whose first round is not done when the run
// stops finishes it (within FIRST_ROUND_GRACE_MS), so even a short run on a loaded machine
// checks every API version. The values are drawn from each verifier's own Rng: a seed replays them.
//
// Also here: the Kafka probe, an ApiVersions v3 round trip (flexible request, header v0 answer).

import { KAFKA_APIS } from '../../broker/kafka/apis.js'
import { kafkaVersionRanges } from '../../broker/kafka/dispatch.js'
import { kafkaRequestHeader, KAFKA_API_VERSIONS_KEY } from '../../client/protocol/kafka/frame.js'
import { KafkaWriter, messageCodec, readUvarint, type KafkaStruct } from '../../client/protocol/kafka/schema.js'
import { Reader } from '../../client/protocol/primitives.js'
import { Rng } from '../helpers/random.js'
import type { GuardContext } from './guard.js'
import { judgeKafka } from './kafka-guard.js'
import { encodeKafkaRequest, kafkaBatch, kafkaSample, KAFKA_TARGETS, type KafkaTarget } from './kafka-samples.js'
import { withTrueSize } from './mutate.js'
import { RawConn } from './raw-conn.js'

/** A well-formed request must be answered within this (its waits are at most 2 s: Produce's timeoutMs). */
export const VERIFY_ANSWER_MS_MAX = 10_000
/** A frame of an unserved API or version must have its connection closed within this. */
const UNSERVED_CLOSE_MS_MAX = 5000
/** A verifier still in its first round when the run stops carries on for at most this long. */
const FIRST_ROUND_GRACE_MS = 30_000
/** Requests pipelined on one verifier socket, at most. */
const PIPELINE_MAX = 5
/**
 * Of every CHECK_CYCLE checks, one is ApiVersions at an unsupported version, one a frame of an
 * unserved API and one a Produce at acks 0: a fixed share, so a short run has each.
 */
const CHECK_CYCLE = 12
/** Attempts at a request the guard allows before the target is skipped this round. */
const SAMPLE_ATTEMPTS = 5
const SASL_AUTHENTICATE_KEY = 36
const UNSUPPORTED_VERSION_CODE = 35
/** Keys Kafka defines (or no one does) that this listener does not serve: the table decides, as it grows. */
const UNSERVED_KEYS = [4, 5, 6, 7, 21, 23, 24, 25, 26, 27, 37, 42, 50, 60, 1000, -1, 32767].filter((k) => !KAFKA_APIS.has(k))
/** The highest ApiVersions version the listener speaks; those above it, and negative ones, it does not. */
const API_VERSIONS_MAX = Math.max(...KAFKA_TARGETS.filter((t) => t.apiKey === KAFKA_API_VERSIONS_KEY).map((t) => t.version))
const UNSUPPORTED_API_VERSIONS = [API_VERSIONS_MAX + 1, API_VERSIONS_MAX + 2, 127, 32767, -1, -32768]
const FRAME_BYTES_MAX = 4 * 1024 * 1024
/** Violations kept (each kind once is what matters; the count says how many more). */
const VIOLATIONS_KEPT_MAX = 20

export interface KafkaVerifyReport {
  /** Per target (`Produce v7`): well-formed requests sent, answered as they must be, and the slowest answer (ms, from the write). */
  byTarget: Record<string, { sent: number; answered: number; latencyMsMax: number }>
  unsupportedApiVersions: { sent: number; answered: number }
  /** Frames of unserved APIs or versions: sent, and their connection closed without an answer. */
  unserved: { sent: number; closed: number }
  /** Produce at acks 0 with a request behind it: sent, the next answer the right one; closed because leadership moved meanwhile. */
  acksZero: { sent: number; answered: number; leaderMoved: number }
  /** Well-formed requests the guard did not allow (kafka-guard.ts), by reason. */
  skipped: Record<string, number>
  violations: string[]
  violationCount: number
}

export class KafkaVerifyTally {
  readonly byTarget: Record<string, { sent: number; answered: number; latencyMsMax: number }> = Object.fromEntries(KAFKA_TARGETS.map((t) => [t.name, { sent: 0, answered: 0, latencyMsMax: 0 }]))
  readonly unsupportedApiVersions = { sent: 0, answered: 0 }
  readonly unserved = { sent: 0, closed: 0 }
  readonly acksZero = { sent: 0, answered: 0, leaderMoved: 0 }
  readonly skipped: Record<string, number> = {}
  readonly #violations: string[] = []
  #violationCount = 0

  violation(line: string): void {
    this.#violationCount++
    if (this.#violations.length < VIOLATIONS_KEPT_MAX && !this.#violations.includes(line)) this.#violations.push(line)
  }

  report(): KafkaVerifyReport {
    return { byTarget: this.byTarget, unsupportedApiVersions: this.unsupportedApiVersions, unserved: this.unserved, acksZero: this.acksZero, skipped: this.skipped, violations: [...this.#violations], violationCount: this.#violationCount }
  }
}

/** What a verifier needs from the run. */
export interface VerifyContext {
  /** The brokers' Kafka listener ports. */
  ports: readonly number[]
  guard: GuardContext
  tally: KafkaVerifyTally
  /** Socket errors, by code (the run's). */
  errors: Record<string, number>
  /** The verifier's own topic: its requests name it (and its Produce at acks 0 goes there), which no worker aims at. */
  topic: string
  stopped: () => boolean
  /** Called for every socket opened, and once it is done with. */
  opened: () => void
  settled: (conn: RawConn) => void
}

/** A request on the wire and what its answer must be. */
interface Expected {
  target: KafkaTarget
  correlationId: number
  frame: Buffer
}

/** Why a response frame is not the answer `e` must get, or null. */
export function answerProblem(frame: Buffer, e: Pick<Expected, 'target' | 'correlationId'>, check?: (body: KafkaStruct) => string | null): string | null {
  const { target } = e
  if (frame.length < 4) return `a ${frame.length}-byte response frame`
  const correlationId = frame.readInt32BE(0)
  if (correlationId !== e.correlationId) return `answered with correlation id ${correlationId}, expected ${e.correlationId}`
  // ApiVersions answers in header v0 at every version (KIP-511); other flexible versions in v1.
  const headerV1 = target.flexible && target.apiKey !== KAFKA_API_VERSIONS_KEY
  let bodyOffset = 4
  let body: KafkaStruct
  try {
    if (headerV1) {
      const r = new Reader(frame, { pos: 4, errorName: 'CORRUPT_MESSAGE' })
      for (let n = readUvarint(r); n > 0; n--) {
        readUvarint(r)
        const size = readUvarint(r)
        r.need(size)
        r.pos += size
      }
      bodyOffset = r.pos
    }
    body = messageCodec(target.response, target.version).decode(frame, bodyOffset, 'CORRUPT_MESSAGE')
  } catch (err) {
    return `response does not decode: ${(err as Error).message}`
  }
  const w = new KafkaWriter()
  messageCodec(target.response, target.version).encode(w, body)
  const again = w.toBuffer()
  const sent = frame.subarray(bodyOffset)
  if (!again.equals(sent)) return `response body of ${sent.length} bytes re-encodes to ${again.length} different bytes (first difference at ${firstDifference(again, sent)})`
  return check?.(body) ?? null
}

function firstDifference(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i
  return n
}

/**
 * A well-formed request of `target` that the guard allows, or null after SAMPLE_ATTEMPTS tries.
 * The guard refuses deleting the verifier's topic and creating topics past the run's budget
 * (which the workers spend early): the next to last try names a topic that does not exist, and
 * the last is the smallest request of the version (every array empty), which it always allows.
 */
function wellFormed(rng: Rng, target: KafkaTarget, correlationId: number, groupPrefix: string, ctx: VerifyContext): Expected | null {
  for (let attempt = 0; attempt < SAMPLE_ATTEMPTS; attempt++) {
    const topics = attempt === SAMPLE_ATTEMPTS - 2 ? [`${ctx.topic}-none`] : [ctx.topic]
    const value = kafkaSample(rng, target, { topics, wellFormed: true, groupPrefix, ...(attempt === SAMPLE_ATTEMPTS - 1 ? { arrayItemsMax: 0 } : {}) })
    const { frame } = encodeKafkaRequest(target, correlationId, 'fuzz-verify', value)
    const j = judgeKafka(frame.subarray(4), ctx.guard)
    if (j.kind === 'answered') {
      ctx.guard.topicsLeft -= j.creates
      return { target, correlationId, frame }
    }
    if (j.kind === 'forbidden') {
      ctx.tally.skipped[j.reason] = (ctx.tally.skipped[j.reason] ?? 0) + 1
      continue
    }
    ctx.tally.violation(`${target.name}: a well-formed request of the fuzzer's does not decode (${frame.subarray(0, 64).toString('hex')}...)`)
    return null
  }
  return null
}

async function open(port: number, ctx: VerifyContext): Promise<RawConn | null> {
  const conn = await RawConn.open(port, ctx.errors, { frameBytesMax: FRAME_BYTES_MAX, keepFrames: true })
  if (conn !== null) ctx.opened()
  return conn
}

/** One to PIPELINE_MAX well-formed requests on a fresh socket; each answer checked in order. */
async function verifyPipeline(rng: Rng, port: number, targets: readonly KafkaTarget[], w: VerifierState, ctx: VerifyContext): Promise<void> {
  const expected: Expected[] = []
  for (const target of targets) {
    const e = wellFormed(rng, target, w.correlationId++, `fuzz-verify-${w.index}-${w.groups++}-`, ctx)
    if (e !== null) expected.push(e)
  }
  if (expected.length === 0) return
  const conn = await open(port, ctx)
  if (conn === null) return
  try {
    for (const e of expected) {
      ctx.tally.byTarget[e.target.name]!.sent++
      conn.socket.write(e.frame)
    }
    const started = performance.now()
    for (const e of expected) {
      const frame = await conn.nextFrame(VERIFY_ANSWER_MS_MAX)
      const what = `${e.target.name} (well-formed, ${expected.map((x) => x.target.name).join(' + ')} pipelined, frame ${hexOf(e.frame)})`
      if (frame === null) {
        ctx.tally.violation(`${what}: ${conn.closed ? 'connection closed without an answer' : `no answer within ${Math.round(performance.now() - started)} ms`}`)
        return
      }
      const problem = answerProblem(frame, e)
      if (problem !== null) {
        ctx.tally.violation(`${what}: ${problem}`)
        return
      }
      const counts = ctx.tally.byTarget[e.target.name]!
      counts.answered++
      counts.latencyMsMax = Math.max(counts.latencyMsMax, Math.round(performance.now() - started))
    }
  } finally {
    conn.destroy()
    ctx.settled(conn)
  }
}

function hexOf(frame: Buffer): string {
  return frame.length <= 512 ? frame.toString('hex') : `${frame.subarray(0, 512).toString('hex')}...(${frame.length} bytes)`
}

const API_VERSIONS_V0 = targetOf(KAFKA_API_VERSIONS_KEY, 0)

/** ApiVersions at a version the listener does not speak: answered in v0, UNSUPPORTED_VERSION, the exact ranges. */
async function verifyUnsupportedApiVersions(rng: Rng, port: number, w: VerifierState, ctx: VerifyContext): Promise<void> {
  const version = rng.bool(0.8) ? rng.pick(UNSUPPORTED_API_VERSIONS) : rng.int(API_VERSIONS_MAX + 1, 32767)
  const correlationId = w.correlationId++
  const header = kafkaRequestHeader({ apiKey: KAFKA_API_VERSIONS_KEY, apiVersion: version, correlationId, clientId: rng.bool(0.8) ? 'fuzz-verify' : null }, rng.bool())
  // The body of a version the broker does not know is whatever that version would be: not read.
  const frame = withTrueSize(Buffer.concat([header, rng.bool(0.5) ? Buffer.from([12, ...Buffer.from('strand-fuzz'), 4, ...Buffer.from('1.0'), 0]) : rng.bytes(rng.int(0, 40))]))
  const conn = await open(port, ctx)
  if (conn === null) return
  const ranges = JSON.stringify(kafkaVersionRanges(KAFKA_APIS))
  try {
    ctx.tally.unsupportedApiVersions.sent++
    conn.socket.write(frame)
    const answer = await conn.nextFrame(VERIFY_ANSWER_MS_MAX)
    const what = `ApiVersions v${version} (unsupported, frame ${hexOf(frame)})`
    if (answer === null) return ctx.tally.violation(`${what}: ${conn.closed ? 'connection closed without an answer' : 'no answer'}`)
    const problem = answerProblem(answer, { target: API_VERSIONS_V0, correlationId }, (body) => {
      if (body.errorCode !== UNSUPPORTED_VERSION_CODE) return `answered error ${String(body.errorCode)}, expected ${UNSUPPORTED_VERSION_CODE} (UNSUPPORTED_VERSION)`
      const got = JSON.stringify(body.apiKeys)
      return got === ranges ? null : `answered ranges ${got}, expected ${ranges}`
    })
    if (problem !== null) return ctx.tally.violation(`${what}: ${problem}`)
    ctx.tally.unsupportedApiVersions.answered++
  } finally {
    conn.destroy()
    ctx.settled(conn)
  }
}

/** A well-formed body under an API key the listener does not serve, or a served API at a version outside its range: no answer, connection closed. */
async function verifyUnserved(rng: Rng, port: number, w: VerifierState, ctx: VerifyContext): Promise<void> {
  const target = rng.pick(KAFKA_TARGETS.filter((t) => t.apiKey !== KAFKA_API_VERSIONS_KEY))
  const versions = KAFKA_TARGETS.filter((t) => t.apiKey === target.apiKey).map((t) => t.version)
  const e = wellFormed(rng, target, w.correlationId++, `fuzz-verify-${w.index}-${w.groups++}-`, ctx)
  if (e === null) return
  const frame = Buffer.from(e.frame)
  if (rng.bool(0.5)) frame.writeInt16BE(rng.pick(UNSERVED_KEYS), 4)
  else frame.writeInt16BE(rng.pick([Math.min(...versions) - 1, Math.max(...versions) + 1, -1, 32767]), 6)
  const conn = await open(port, ctx)
  if (conn === null) return
  try {
    ctx.tally.unserved.sent++
    conn.socket.write(frame)
    const closed = await conn.waitClosed(UNSERVED_CLOSE_MS_MAX)
    const what = `Kafka API ${frame.readInt16BE(4)} v${frame.readInt16BE(6)} (unserved, frame ${hexOf(frame)})`
    if (conn.responses > 0) return ctx.tally.violation(`${what}: answered; an unserved API or version must close the connection`)
    if (!closed) return ctx.tally.violation(`${what}: connection still open after ${UNSERVED_CLOSE_MS_MAX} ms`)
    ctx.tally.unserved.closed++
  } finally {
    conn.destroy()
    ctx.settled(conn)
  }
}

function targetOf(apiKey: number, version: number): KafkaTarget {
  const t = KAFKA_TARGETS.find((x) => x.apiKey === apiKey && x.version === version)
  if (t === undefined) throw new Error(`The Kafka listener serves API ${apiKey} v${version}.`)
  return t
}

const METADATA_V1 = targetOf(3, 1)
const PRODUCE_KEY = 0

/** The Kafka port of each partition's leader of `topic`, by partition, as broker `port` sees it; null if it does not say. */
async function leaderPorts(port: number, topic: string, w: VerifierState, ctx: VerifyContext): Promise<Map<number, number> | null> {
  const conn = await open(port, ctx)
  if (conn === null) return null
  try {
    const correlationId = w.correlationId++
    conn.socket.write(encodeKafkaRequest(METADATA_V1, correlationId, 'fuzz-verify', { topics: [{ name: topic }] }).frame)
    const answer = await conn.nextFrame(VERIFY_ANSWER_MS_MAX)
    if (answer === null || answerProblem(answer, { target: METADATA_V1, correlationId }) !== null) return null
    const body = messageCodec(METADATA_V1.response, 1).decode(answer, 4)
    const brokers = new Map((body.brokers as Array<{ nodeId: number; port: number }>).map((b) => [b.nodeId, b.port]))
    const partitions = (body.topics as Array<{ name: string; partitions: Array<{ errorCode: number; partitionIndex: number; leaderId: number }> }>).find((t) => t.name === topic)?.partitions ?? []
    const out = new Map<number, number>()
    for (const p of partitions) {
      const leader = brokers.get(p.leaderId)
      if (p.errorCode === 0 && leader !== undefined) out.set(p.partitionIndex, leader)
    }
    return out
  } finally {
    conn.destroy()
    ctx.settled(conn)
  }
}

/** A Produce at acks 0 to a healthy partition's leader, then a well-formed request: the first answer must be the second request's. */
async function verifyAcksZero(rng: Rng, port: number, w: VerifierState, ctx: VerifyContext): Promise<void> {
  const topic = ctx.topic
  const leaders = await leaderPorts(port, topic, w, ctx)
  if (leaders === null || leaders.size === 0) return
  const [partition, leaderPort] = rng.pick([...leaders.entries()])
  const produce = rng.pick(KAFKA_TARGETS.filter((t) => t.apiKey === PRODUCE_KEY))
  const value = { transactionalId: null, acks: 0, timeoutMs: 1000, topicData: [{ name: topic, partitionData: [{ index: partition, records: kafkaBatch(rng) }] }] }
  const first = encodeKafkaRequest(produce, w.correlationId++, 'fuzz-verify', value).frame
  const behind = wellFormed(rng, rng.pick(KAFKA_TARGETS.filter((t) => t.apiKey !== SASL_AUTHENTICATE_KEY && t.apiKey !== PRODUCE_KEY)), w.correlationId++, `fuzz-verify-${w.index}-${w.groups++}-`, ctx)
  if (behind === null) return
  const conn = await open(leaderPort, ctx)
  if (conn === null) return
  const what = `${produce.name} at acks 0 to ${topic}-${partition}, then ${behind.target.name} (frames ${hexOf(first)} ${hexOf(behind.frame)})`
  try {
    ctx.tally.acksZero.sent++
    conn.socket.write(Buffer.concat([first, behind.frame]))
    const answer = await conn.nextFrame(VERIFY_ANSWER_MS_MAX)
    if (answer === null) {
      // A leader that lost its leadership meanwhile refuses the acks-0 batch by closing (Kafka's way).
      const now = await leaderPorts(port, topic, w, ctx)
      if (conn.closed && now !== null && now.get(partition) !== leaderPort) ctx.tally.acksZero.leaderMoved++
      else ctx.tally.violation(`${what}: ${conn.closed ? 'connection closed without an answer' : 'no answer'}`)
      return
    }
    const problem = answerProblem(answer, behind)
    if (problem !== null) return ctx.tally.violation(`${what}: ${problem}`)
    ctx.tally.acksZero.answered++
  } finally {
    conn.destroy()
    ctx.settled(conn)
  }
}

interface VerifierState {
  index: number
  correlationId: number
  /** Requests made so far: each gets its own group ids, so no join waits for another member. */
  groups: number
}

/** Verifier `index` of `count`: round after round of every target, with the unsupported checks between. */
export async function kafkaVerifier(index: number, count: number, seed: number, ctx: VerifyContext): Promise<void> {
  const rng = new Rng(seed)
  const w: VerifierState = { index, correlationId: 1, groups: 0 }
  // Every count-th target from the index-th: the verifiers share the first round out between them.
  let next = index
  let stoppedAt: number | null = null
  const goOn = (): boolean => {
    if (!ctx.stopped()) return true
    stoppedAt ??= performance.now()
    return next < KAFKA_TARGETS.length && performance.now() - stoppedAt < FIRST_ROUND_GRACE_MS
  }
  for (let check = 0; goOn(); check++) {
    const port = rng.pick(ctx.ports)
    if (check % CHECK_CYCLE === 3) {
      await verifyUnsupportedApiVersions(rng, port, w, ctx)
      continue
    }
    if (check % CHECK_CYCLE === 9) {
      await verifyUnserved(rng, port, w, ctx)
      continue
    }
    if (check % CHECK_CYCLE === 6) {
      await verifyAcksZero(rng, port, w, ctx)
      continue
    }
    const targets: KafkaTarget[] = []
    for (let n = rng.int(1, PIPELINE_MAX); n > 0; n--) {
      const target = KAFKA_TARGETS[next % KAFKA_TARGETS.length] as KafkaTarget
      next += Math.max(1, count)
      targets.push(target)
      // A failed SaslAuthenticate (no handshake on a listener without SASL) is the connection's last answer.
      if (target.apiKey === SASL_AUTHENTICATE_KEY) break
    }
    await verifyPipeline(rng, port, targets, w, ctx)
  }
}

/** An ApiVersions v3 round trip on a Kafka listener: the problem, or null. */
export async function kafkaProbeProblem(port: number, timeoutMs: number): Promise<string | null> {
  const errors: Record<string, number> = {}
  const conn = await RawConn.open(port, errors, { frameBytesMax: FRAME_BYTES_MAX, keepFrames: true })
  if (conn === null) return `cannot connect to the Kafka listener (${Object.keys(errors).join(', ')})`
  const target = targetOf(KAFKA_API_VERSIONS_KEY, 3)
  try {
    conn.socket.write(encodeKafkaRequest(target, 7, 'fuzz-probe', { clientSoftwareName: 'strand-fuzz-probe', clientSoftwareVersion: '1.0' }).frame)
    const answer = await conn.nextFrame(timeoutMs)
    if (answer === null) return conn.closed ? 'Kafka ApiVersions: closed without answering' : `Kafka ApiVersions: no answer within ${timeoutMs} ms`
    return answerProblem(answer, { target, correlationId: 7 }, (body) => (body.errorCode === 0 ? null : `Kafka ApiVersions answered error ${String(body.errorCode)}`))
  } finally {
    conn.destroy()
  }
}
