// The protocol fuzzer: seeded mutations of a valid request of every API (test/fuzz/mutate.ts) and
// random frames, sent over many raw sockets at once to a live three-broker cluster for a bounded
// time, with slow-loris sockets trickling bytes and, every few seconds, a Produce of zip-bomb
// batches alongside. Throughout, a healthy client produces (acks=all) and consumes, and every
// broker is probed with ApiVersions and Metadata. What must not be sent is in guard.ts.
//
// Passes when: no broker exits; every broker answers the probes, during and after, none slower
// than PROBE_LATENCY_MS_MAX (a held event loop); the healthy client never stalls longer than
// HEALTHY_STALL_MS_MAX and reads back every acknowledged record; each broker's RSS peak stays
// within `rssGrowthBytesMax` of its level before fuzzing; a socket holding part of a frame is
// closed within request.read.timeout.ms (plus slack).
//
// Reproducing: worker i draws its inputs from their own Rng(workerSeed(seed, i)), apart from its
// timing choices, so a seed replays each worker's stream of inputs; how many of them a socket
// carries before the broker closes it, and the interleaving across sockets, depend on timing.
// When a broker exits, the last inputs of every worker are written to a JSON file (hex bytes).
//
// With `security: 'sasl'` the brokers require SASL (sasl-run.ts): the healthy client, the probes
// and the bomber log in, and the workers fuzz the unauthenticated state (SASL frames, other APIs,
// frames past the pre-authentication limit: sasl-inputs.ts), scripted exchanges with a corrupted
// step (sasl-conn.ts), and sockets that logged in. The run also fails on a SASL violation: an
// exchange that authenticates when it must not, another API answered before authenticating or a
// socket left open after it, a failed authentication that does not close its connection,
// correct credentials refused. Scripted exchanges read the broker's nonces, so a seed replays
// their choices but not their bytes.
//
// With `listener: 'kafka'` the brokers also listen for Apache Kafka's protocol (kafka.listener.port)
// and everything aimed at the Strand listener is aimed there instead: the workers send Kafka
// request frames of every API and version the listener serves, mutated (kafka-mutate.ts) and
// judged by the Kafka dispatcher's own reading (kafka-guard.ts); the tricklers trickle and the
// bomber bombs over it. Verifier sockets check its answers to well-formed requests at every
// version, to ApiVersions at versions it does not speak, and to APIs it does not serve
// (kafka-verify.ts); the probes add a Kafka ApiVersions round trip to the Strand ones. The healthy
// client stays a Strand one. The run also fails on a verifier violation, or when a target was
// never answered well-formed.
//
// Used by `npm run test:fuzz` (test/fuzz/run.ts) and, short, by test/cluster/fuzz.test.ts.

import { readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import { Connection } from '../../client/net/connection.js'
import { PRE_AUTH_FRAME_BYTES_MAX } from '../../broker/security/session.js'
import { ApiKey, decodeResponse, encodeRequest } from '../../client/protocol/apis.js'
import { BATCH_BYTES_MAX } from '../../client/protocol/records.js'
import type { Teardown } from '../helpers/broker-process.js'
import { TestCluster } from '../helpers/cluster.js'
import { Rng } from '../helpers/random.js'
import { waitFor } from '../helpers/wait.js'
import { HealthyClient } from './healthy.js'
import { CREATE_TOPICS_PER_RUN_MAX, judge, type GuardContext, type Judgement, type SessionKind } from './guard.js'
import { BOMB_BYTES, nextInput, zipBomb, type FuzzInput, type MutateOptions } from './mutate.js'
import { RawConn } from './raw-conn.js'
import { EXCHANGE_KINDS, login, runExchange, type SaslUser } from './sasl-conn.js'
import { afterAuthSaslInput, handshakeFrame, MECHANISMS, nextPreAuthInput, type SaslInputOptions } from './sasl-inputs.js'
import { formatSasl, FUZZ_SASL_AUTHENTICATION_TIMEOUT_MS, pickPlan, saslFailures, saslSetup, SaslTally, type SaslReport, type SaslSetup, type Security } from './sasl-run.js'
import { judgeKafka } from './kafka-guard.js'
import { kafkaBombProduce, kafkaZipBomb, nextKafkaInput, type KafkaMutateOptions } from './kafka-mutate.js'
import { KAFKA_TARGETS } from './kafka-samples.js'
import { kafkaProbeProblem, kafkaVerifier, KafkaVerifyTally, type KafkaVerifyReport } from './kafka-verify.js'

export const HEALTHY_TOPIC = 'fuzz-healthy'
/**
 * With the Kafka listener: the verifier's topic (kafka-verify.ts). Not one the workers aim at:
 * a Produce of zip bombs to a partition holds every later Produce without a producer id to it
 * until the bombs are inflated (tens of seconds; broker/replication/partition.ts chains them all
 * under producer id -1), and the verifier's answers have a deadline.
 */
const VERIFY_TOPIC = 'fuzz-verify'
const HEALTHY_PARTITIONS = 3
/** The brokers' limits under fuzzing: small enough that the limits, not luck, bound memory and time. */
export const FUZZ_MAX_REQUEST_BYTES = 4 * 1024 * 1024
export const FUZZ_REQUEST_READ_TIMEOUT_MS = 2000
export const FUZZ_MAX_CONNECTIONS = 300
/** A broker must close a socket holding part of a frame within its read deadline plus this. */
const PARTIAL_CLOSE_SLACK_MS = 3000
/** The healthy client may go this long without an acknowledgement (or a consumed record) while fuzzed. */
export const HEALTHY_STALL_MS_MAX = 10_000
/** A broker may miss probes for this long in a row while fuzzed (they share its event loop). */
const PROBE_STALL_MS_MAX = 10_000
/** A probe answered slower than this means the broker's event loop was held (measured under fuzzing: under 1 s). */
const PROBE_LATENCY_MS_MAX = 3000
/** How often the bomber sends a Produce of zip-bomb batches; each costs a broker seconds of CPU. */
const BOMB_INTERVAL_MS = 5000
/** Bomb batches per Produce: ~64 KiB each on the wire, ~64 MiB each inflated. */
const BOMBS_PER_REQUEST = 60
/**
 * Each broker's RSS peak may exceed its level before fuzzing by this much. Measured: under 60 MiB
 * of growth without zip bombs. Inflating one bomb allocates its records block twice (zlib's 16 KiB
 * chunks, then their concatenation), ~128 MiB that is garbage at once but freed only at the next
 * GC; a Produce of bombs back to back plateaus at +220-260 MiB on an otherwise idle broker and
 * peaked at +405 MiB under fuzzing. So: 200 MiB, plus four inflated batches in flight or in the
 * garbage. A leak would pass this within a run only if small; run longer (--seconds) to see one.
 */
export const RSS_GROWTH_BYTES_MAX = 200 * 1024 * 1024 + 4 * BATCH_BYTES_MAX
const PROBE_INTERVAL_MS = 1000
const PROBE_TIMEOUT_MS = 5000
/** Inputs kept per worker for the dump written when a broker exits. */
const RECENT_INPUTS_MAX = 32
/** A socket that sent another API before authenticating must be closed within this (it is at once, unless the gate leaks). */
const PRE_AUTH_GATE_CLOSE_MS_MAX = FUZZ_REQUEST_READ_TIMEOUT_MS + PARTIAL_CLOSE_SLACK_MS
/** On a logged-in socket, this share of the inputs is SASL again (ILLEGAL_SASL_STATE, closed): most should reach the handlers. */
const AFTER_AUTH_SASL_SHARE = 0.03
/** Fuzz inputs written right behind a correct client-final (the finalThenGarbage exchange), at most. */
const GARBAGE_AFTER_FINAL_MAX = 8
/** With SASL: sockets that never authenticate and keep sending complete frames, one every IDLER_FRAME_INTERVAL_MS. */
const IDLERS = 2
const IDLER_FRAME_INTERVAL_MS = 400
const FUZZ_TOPICS = [HEALTHY_TOPIC, 'orders', 'billing-sinks']
const MUTATE_OPTIONS: MutateOptions = { maxRequestBytes: FUZZ_MAX_REQUEST_BYTES, topics: FUZZ_TOPICS }
const KAFKA_MUTATE_OPTIONS: KafkaMutateOptions = { ...MUTATE_OPTIONS, groupPrefix: 'fuzz-group-' }
/** Which listener the fuzz aims at: Strand's own protocol, or Apache Kafka's (kafka.listener.port). */
export type Listener = 'strand' | 'kafka'
export const LISTENERS: readonly Listener[] = ['strand', 'kafka']
/** Broker log messages seen at most this often are printed with a full example line: rare ones are where bugs hide. */
const RARE_LOG_LINES = 3

export interface FuzzOptions {
  seed: number
  durationMs: number
  /** Raw sockets fuzzing at once. */
  workers?: number
  /** Slow-loris sockets trickling a frame one byte at a time. */
  tricklers?: number
  /** Bound on each broker's RSS peak over its level before fuzzing; default RSS_GROWTH_BYTES_MAX. */
  rssGrowthBytesMax?: number
  /** 'sasl': the brokers require SASL, and the fuzz covers the handshake (see sasl-run.ts); default 'none'. */
  security?: Security
  /** 'kafka': fuzz the Kafka-protocol listener instead (no SASL); default 'strand'. */
  listener?: Listener
  /** With the Kafka listener: sockets checking answers to well-formed requests (kafka-verify.ts); default 2. */
  verifiers?: number
  /** Progress lines (stderr in the runner). */
  log?: (line: string) => void
}

export interface BrokerReport {
  id: number
  pid: number | null
  rssBeforeBytes: number | null
  rssPeakBytes: number | null
  rssAfterBytes: number | null
  /** After fuzzing, from the broker's strand_memory_bytes: V8's heap in use and buffers, to tell retained state from a heap V8 has not given back. */
  heapUsedAfterBytes: number | null
  arrayBuffersAfterBytes: number | null
  /** How the process ended, or null if it is still running. */
  exited: string | null
  probesOk: number
  probesFailed: number
  /** Longest run of failed probes, ms. */
  probeStallMs: number
  /** Slowest answered probe, ms: how long the broker's event loop was held at worst. */
  probeLatencyMsMax: number
  /** With the Kafka listener: its ApiVersions probes, counted the same way; null without. */
  kafkaProbes: ProbeCounts | null
}

export interface ProbeCounts {
  ok: number
  failed: number
  stallMs: number
  latencyMsMax: number
}

export interface FuzzReport {
  seed: number
  durationMs: number
  workers: number
  security: Security
  listener: Listener
  rssGrowthBytesMax: number
  framesSent: number
  bytesSent: number
  /** Inputs sent, by the API of the sample they were made from ('random' for the rest). */
  sentByApi: Record<string, number>
  /** Kafka inputs sent, by the API version of the request they were made from (`Produce v7`). */
  sentByTarget: Record<string, number>
  mutations: Record<string, number>
  /** Inputs not sent, by reason (see guard.ts). */
  skipped: Record<string, number>
  connectionsOpened: number
  /** Sockets the broker closed (FIN or RST) before the fuzzer did. */
  closedByBroker: number
  responses: number
  /** Socket and connect errors seen by the fuzzer, by code. */
  errors: Record<string, number>
  trickle: { sockets: number; closedOnTime: number; late: number; closeMsMax: number }
  /** Produce requests of zip-bomb batches sent, and answered. */
  bombs: { sent: number; answered: number }
  /** Partial frames whose socket was watched for the read deadline: closed in time, or not. */
  partialFrames: { watched: number; closedOnTime: number; late: number }
  healthy: { acked: number; failedSends: number; lost: number; ackStallMsMax: number; consumeStallMsMax: number }
  brokers: BrokerReport[]
  /** Broker log lines at warn and above, by level and message. */
  brokerLog: Array<{ level: string; msg: string; count: number; example: string }>
  /** The SASL mode's counts; null without SASL. */
  sasl: SaslReport | null
  /** The Kafka listener's verifier counts; null when fuzzing the Strand listener. */
  kafka: KafkaVerifyReport | null
  failures: string[]
  recentInputsFile: string | null
}

/** Worker i's seed: distinct per worker, fixed by the run's seed. */
export function workerSeed(seed: number, worker: number): number {
  return (seed + Math.imul(worker + 1, 0x9e3779b9)) >>> 0
}

function count(map: Record<string, number>, key: string, n = 1): void {
  map[key] = (map[key] ?? 0) + n
}

/** Resident set size of a process from /proc (Linux); null elsewhere or once it has exited. */
export function rssBytes(pid: number | undefined): number | null {
  if (pid === undefined) return null
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m === null ? null : Number(m[1]) * 1024
  } catch {
    return null
  }
}

/** Mutable tallies shared by the workers while the fuzz runs. */
class Tally {
  framesSent = 0
  bytesSent = 0
  readonly sentByApi: Record<string, number> = {}
  readonly sentByTarget: Record<string, number> = {}
  readonly mutations: Record<string, number> = {}
  readonly skipped: Record<string, number> = {}
  connectionsOpened = 0
  closedByBroker = 0
  responses = 0
  readonly errors: Record<string, number> = {}
  readonly trickle = { sockets: 0, closedOnTime: 0, late: 0, closeMsMax: 0 }
  readonly bombs = { sent: 0, answered: 0 }
  readonly partialFrames = { watched: 0, closedOnTime: 0, late: 0 }
  readonly anomalies: string[] = []
  /** Per worker, the last inputs sent: `{ port, api, kinds, hex }`. */
  readonly recent: Array<Array<{ port: number; api: string; kinds: string[]; hex: string }>> = []

  settle(conn: RawConn): void {
    this.responses += conn.responses
    if (conn.closedByBroker) this.closedByBroker++
    if (conn.badResponseFraming) this.anomalies.push('a response frame the fuzzer could not split (bad size prefix from the broker)')
  }
}

/** The SASL mode's users and inputs, for the workers. */
interface SaslRun {
  setup: SaslSetup
  /** Who fuzzing sockets log in as. */
  users: readonly SaslUser[]
  inputs: SaslInputOptions
  tally: SaslTally
}

interface RunContext {
  /** The ports fuzzed: the brokers' Strand listeners, or their Kafka listeners. */
  ports: readonly number[]
  listener: Listener
  tally: Tally
  guard: GuardContext
  /** Null without SASL. */
  sasl: SaslRun | null
  stopped: () => boolean
}

/** How the broker takes a frame on this run's listener (guard.ts, kafka-guard.ts). */
function judgeFrame(body: Buffer, ctx: RunContext, session: SessionKind): Judgement {
  return ctx.listener === 'kafka' ? judgeKafka(body, ctx.guard) : judge(body, ctx.guard, session)
}

/** What became of an input: `sent` unless the guard forbade it; `open` false once the socket is no longer worth writing to. */
interface Sent {
  sent: boolean
  open: boolean
}

/** Judges a write by the frames it completes on the broker's side; sends it unless one is forbidden. */
async function sendInput(conn: RawConn, input: FuzzInput, ctx: RunContext): Promise<Sent> {
  const { frames, commit } = conn.shadow.preview(input.bytes)
  let creates = 0
  let unauthenticated = 0
  for (const f of frames) {
    const j = judgeFrame(f, ctx, conn.session)
    if (j.kind === 'forbidden') {
      count(ctx.tally.skipped, j.reason)
      return { sent: false, open: true }
    }
    if (j.kind === 'undecodable') conn.doomed = true
    else if (j.kind === 'unauthenticated') unauthenticated++
    else creates += j.creates
  }
  ctx.guard.topicsLeft -= creates
  commit()
  if (conn.shadow.dead) conn.doomed = true
  const t = ctx.tally
  t.framesSent++
  t.bytesSent += input.bytes.length
  count(t.sentByApi, input.api)
  if (input.target !== undefined) count(t.sentByTarget, input.target)
  for (const k of input.kinds) count(t.mutations, k)
  const sasl = ctx.sasl?.tally
  if (sasl !== undefined) {
    if (conn.session === 'preAuth') sasl.inputs.preAuth++
    else sasl.inputs.authenticated++
    sasl.preAuthGate.frames += unauthenticated
  }
  const written = await conn.write(input.bytes)
  if (unauthenticated > 0) {
    // Only once written: a write the broker has not taken yet could not have tripped the gate.
    conn.doomed = true
    if (written) conn.preAuthGateTripped = true
  }
  return { sent: true, open: written }
}

/** A worker's input streams: the inputs' own Rng (a seed replays them) and the running correlation id. */
interface WorkerInputs {
  rng: Rng
  correlationId: number
  recent: Tally['recent'][number]
}

/** The next input for this socket, by its session. */
function inputFor(conn: RawConn, w: WorkerInputs, ctx: RunContext): FuzzInput {
  const sasl = ctx.sasl
  const cid = w.correlationId++
  if (ctx.listener === 'kafka') return nextKafkaInput(w.rng, cid, KAFKA_MUTATE_OPTIONS)
  if (sasl === null) return nextInput(w.rng, cid, MUTATE_OPTIONS)
  if (conn.session === 'preAuth') return nextPreAuthInput(w.rng, cid, sasl.inputs)
  return w.rng.bool(AFTER_AUTH_SASL_SHARE) ? afterAuthSaslInput(w.rng, cid, sasl.inputs) : nextInput(w.rng, cid, sasl.inputs)
}

/** Sends `input` (judged by the guard), keeping it in the worker's recent inputs. */
async function sendRecorded(conn: RawConn, port: number, input: FuzzInput, w: WorkerInputs, ctx: RunContext): Promise<Sent> {
  w.recent.push({ port, api: input.target ?? input.api, kinds: input.kinds, hex: input.bytes.length <= 4096 ? input.bytes.toString('hex') : `${input.bytes.subarray(0, 4096).toString('hex')}...(${input.bytes.length} bytes)` })
  if (w.recent.length > RECENT_INPUTS_MAX) w.recent.shift()
  return sendInput(conn, input, ctx)
}

async function fuzzWorker(index: number, seed: number, ctx: RunContext): Promise<void> {
  const w: WorkerInputs = { rng: new Rng(workerSeed(seed, index)), correlationId: 1, recent: [] }
  /** Ports, burst sizes and pauses: drawn as timing allows, so kept off the inputs' stream. */
  const rng = new Rng(workerSeed(seed, index) ^ 0x5bd1e995)
  ctx.tally.recent[index] = w.recent
  while (!ctx.stopped()) {
    const port = rng.pick(ctx.ports)
    // Without SASL the inputs' stream is exactly what it was before SASL existed: no plan drawn.
    const plan = ctx.sasl === null ? null : pickPlan(w.rng)
    const conn = await RawConn.open(port, ctx.tally.errors, { frameBytesMax: plan === null ? FUZZ_MAX_REQUEST_BYTES : PRE_AUTH_FRAME_BYTES_MAX, keepFrames: plan === 'exchange' || plan === 'authenticated' })
    if (conn === null) {
      await delay(50)
      continue
    }
    ctx.tally.connectionsOpened++
    if (plan !== null && ctx.sasl !== null) {
      ctx.sasl.tally.sockets[plan]++
      conn.session = 'preAuth'
    }
    if (plan === 'exchange') await saslExchange(conn, port, w, ctx)
    else if (plan !== 'authenticated' || (await saslLogin(conn, w.rng, ctx))) await fuzzSocket(conn, port, w, rng, ctx)
    conn.destroy()
    ctx.tally.settle(conn)
  }
}

/** A few bursts of inputs while the socket stays open: pipelined in one go, or spaced out. */
async function fuzzSocket(conn: RawConn, port: number, w: WorkerInputs, rng: Rng, ctx: RunContext): Promise<void> {
  for (let bursts = rng.int(1, 4); bursts > 0 && !conn.closed && !ctx.stopped(); bursts--) {
    const inputs = Array.from({ length: rng.int(1, 25) }, () => inputFor(conn, w, ctx))
    const spaced = rng.bool(0.3)
    for (const input of inputs) {
      if (conn.closed || ctx.stopped()) break
      if (!(await sendRecorded(conn, port, input, w, ctx)).open) break
      if (spaced) await delay(rng.int(0, 20))
    }
    await conn.waitClosed(rng.int(5, 150))
  }
  await watchPreAuthGate(conn, ctx)
  await watchPartialFrame(conn, rng, ctx)
}

/** Logs a worker's socket in with correct credentials (either user, either mechanism); false if that failed. */
async function saslLogin(conn: RawConn, rng: Rng, ctx: RunContext): Promise<boolean> {
  const sasl = ctx.sasl
  if (sasl === null) return false
  const user = rng.pick(sasl.users)
  const mechanism = rng.bool(0.7) ? 'SCRAM-SHA-256' : 'PLAIN'
  const result = await login(conn, user, mechanism, FUZZ_MAX_REQUEST_BYTES)
  if (!ctx.stopped() || result.ok) sasl.tally.login(user, mechanism, result)
  return result.ok
}

/** One scripted exchange (sasl-conn.ts); the finalThenGarbage one writes fuzz inputs behind its final. */
async function saslExchange(conn: RawConn, port: number, w: WorkerInputs, ctx: RunContext): Promise<void> {
  const sasl = ctx.sasl
  if (sasl === null) return
  const kind = w.rng.pick(EXCHANGE_KINDS)
  const garbage = async (c: RawConn): Promise<Buffer[]> => {
    const written: Buffer[] = []
    for (let k = w.rng.int(1, GARBAGE_AFTER_FINAL_MAX); k > 0 && !c.closed; k--) {
      const input = inputFor(c, w, ctx)
      const deadBefore = c.shadow.dead
      const { sent, open } = await sendRecorded(c, port, input, w, ctx)
      if (sent && !deadBefore) written.push(input.bytes)
      if (!open) break
    }
    return written
  }
  const outcome = await runExchange(conn, w.rng, kind, { users: sasl.users, inputs: sasl.inputs, frameBytesMax: FUZZ_MAX_REQUEST_BYTES, garbage }, sasl.tally.exchanges)
  // An exchange cut short by the end of the run says nothing.
  if (!ctx.stopped() || outcome !== 'noAnswer') sasl.tally.exchanges.record(kind, outcome)
}

/** A socket that sent another API before authenticating must be closed by the broker, at once. */
async function watchPreAuthGate(conn: RawConn, ctx: RunContext): Promise<void> {
  const gate = ctx.sasl?.tally.preAuthGate
  if (gate === undefined || !conn.preAuthGateTripped || ctx.stopped()) return
  gate.watched++
  if (await conn.waitClosed(PRE_AUTH_GATE_CLOSE_MS_MAX)) gate.closedOnTime++
  else if (!ctx.stopped()) gate.late++
}

/**
 * Sometimes, a socket left holding part of a frame (a lying size prefix, a truncated write) is
 * watched: the broker must close it within request.read.timeout.ms.
 */
async function watchPartialFrame(conn: RawConn, rng: Rng, ctx: RunContext): Promise<void> {
  if (conn.closed || conn.doomed || !conn.shadow.partial || !rng.bool(0.25) || ctx.stopped()) return
  ctx.tally.partialFrames.watched++
  if (await conn.waitClosed(FUZZ_REQUEST_READ_TIMEOUT_MS + PARTIAL_CLOSE_SLACK_MS)) ctx.tally.partialFrames.closedOnTime++
  else if (!ctx.stopped()) {
    ctx.tally.partialFrames.late++
    ctx.tally.anomalies.push(`a socket holding part of a frame was still open ${FUZZ_REQUEST_READ_TIMEOUT_MS + PARTIAL_CLOSE_SLACK_MS} ms later`)
  }
}

/**
 * Opens a socket for a trickler or the bomber: with SASL, logged in as the brokers' user (or, for
 * `unauthenticated`, not at all); null if that failed. Returns the frame limit the broker applies.
 */
async function openHelperSocket(port: number, ctx: RunContext, options: { unauthenticated: boolean }): Promise<{ conn: RawConn; frameBytesMax: number } | null> {
  const sasl = ctx.sasl
  const preAuth = sasl !== null && options.unauthenticated
  const conn = await RawConn.open(port, ctx.tally.errors, { frameBytesMax: sasl === null ? FUZZ_MAX_REQUEST_BYTES : PRE_AUTH_FRAME_BYTES_MAX, keepFrames: sasl !== null })
  if (conn === null) return null
  ctx.tally.connectionsOpened++
  if (sasl === null || preAuth) return { conn, frameBytesMax: preAuth ? PRE_AUTH_FRAME_BYTES_MAX : FUZZ_MAX_REQUEST_BYTES }
  const result = await login(conn, sasl.setup.brokerUser, 'SCRAM-SHA-256', FUZZ_MAX_REQUEST_BYTES)
  if (!ctx.stopped()) sasl.tally.login(sasl.setup.brokerUser, 'SCRAM-SHA-256', result)
  if (result.ok) return { conn, frameBytesMax: FUZZ_MAX_REQUEST_BYTES }
  conn.destroy()
  ctx.tally.settle(conn)
  return null
}

/**
 * Slow loris: a size prefix, then one byte every few hundred ms, until the broker closes the
 * socket. With SASL, even tricklers stay unauthenticated (a size within the pre-authentication
 * limit) and odd ones log in first.
 */
async function trickler(index: number, seed: number, ctx: RunContext): Promise<void> {
  const rng = new Rng(workerSeed(seed, 10_000 + index))
  while (!ctx.stopped()) {
    const opened = await openHelperSocket(rng.pick(ctx.ports), ctx, { unauthenticated: index % 2 === 0 })
    if (opened === null) {
      await delay(50)
      continue
    }
    const { conn, frameBytesMax } = opened
    ctx.tally.trickle.sockets++
    const prefix = Buffer.alloc(4)
    prefix.writeInt32BE(rng.int(100, frameBytesMax), 0)
    const started = performance.now()
    conn.socket.write(prefix)
    const limitMs = FUZZ_REQUEST_READ_TIMEOUT_MS + PARTIAL_CLOSE_SLACK_MS
    while (!conn.closed && !ctx.stopped() && performance.now() - started < limitMs) {
      conn.socket.write(rng.bytes(1))
      await conn.waitClosed(rng.int(100, 400))
    }
    const closeMs = Math.round(performance.now() - started)
    if (conn.closed) {
      ctx.tally.trickle.closedOnTime++
      ctx.tally.trickle.closeMsMax = Math.max(ctx.tally.trickle.closeMsMax, closeMs)
    } else if (!ctx.stopped()) {
      ctx.tally.trickle.late++
      ctx.tally.anomalies.push(`a trickling socket was still open after ${closeMs} ms`)
    }
    conn.destroy()
    ctx.tally.settle(conn)
  }
}

/**
 * With SASL: a socket that never authenticates but keeps sending complete frames (ApiVersions,
 * after a handshake on every other socket), so neither the read deadline nor the idle timeout
 * closes it: sasl.authentication.timeout.ms must.
 */
async function idler(index: number, seed: number, ctx: RunContext): Promise<void> {
  const deadline = ctx.sasl?.tally.authDeadline
  if (deadline === undefined) return
  const rng = new Rng(workerSeed(seed, 30_000 + index))
  const limitMs = FUZZ_SASL_AUTHENTICATION_TIMEOUT_MS + PARTIAL_CLOSE_SLACK_MS
  for (let n = 0; !ctx.stopped(); n++) {
    const conn = await RawConn.open(rng.pick(ctx.ports), ctx.tally.errors, { frameBytesMax: PRE_AUTH_FRAME_BYTES_MAX })
    if (conn === null) {
      await delay(50)
      continue
    }
    ctx.tally.connectionsOpened++
    deadline.sockets++
    const started = performance.now()
    if (n % 2 === 1) conn.socket.write(handshakeFrame(rng.pick(MECHANISMS), 0))
    for (let cid = 1; !conn.closed && !ctx.stopped() && performance.now() - started < limitMs; cid++) {
      conn.socket.write(encodeRequest(ApiKey.ApiVersions, 0, cid, 'fuzz-idler', {}))
      await conn.waitClosed(IDLER_FRAME_INTERVAL_MS)
    }
    const closeMs = Math.round(performance.now() - started)
    if (conn.closed) {
      deadline.closedOnTime++
      deadline.closeMsMax = Math.max(deadline.closeMsMax, closeMs)
    } else if (!ctx.stopped()) {
      deadline.late++
    }
    conn.destroy()
    ctx.tally.settle(conn)
  }
}

/**
 * Every BOMB_INTERVAL_MS, a Produce of BOMBS_PER_REQUEST zip-bomb batches (valid CRCs, records
 * that inflate to ~64 MiB of zeros) to a healthy partition: refused as CORRUPT_MESSAGE, but only
 * after inflating each, which must not hold the broker's event loop (see the probe latency).
 */
async function bomber(seed: number, ctx: RunContext): Promise<void> {
  const rng = new Rng(workerSeed(seed, 20_000))
  const bomb = zipBomb(BATCH_BYTES_MAX - 1024)
  while (!ctx.stopped()) {
    await delay(BOMB_INTERVAL_MS)
    if (ctx.stopped()) break
    const opened = await openHelperSocket(rng.pick(ctx.ports), ctx, { unauthenticated: false })
    if (opened === null) continue
    const { conn } = opened
    ctx.tally.bombs.sent++
    const indexes = Array.from({ length: BOMBS_PER_REQUEST }, () => rng.int(0, HEALTHY_PARTITIONS - 1))
    const partitions = indexes.map((index) => ({ index, currentLeaderEpoch: -1, records: bomb }))
    // A login's answers are counted too: the bomb's is the one after them.
    const before = conn.responses
    conn.socket.write(ctx.listener === 'kafka' ? kafkaBombProduce(HEALTHY_TOPIC, indexes, 1) : encodeRequest(ApiKey.Produce, 0, 1, 'fuzz-bomber', { transactionalId: null, acks: 1, timeoutMs: 5000, topics: [{ name: HEALTHY_TOPIC, partitions }] }))
    const deadline = performance.now() + 60_000
    while (conn.responses === before && !conn.closed && performance.now() < deadline) await delay(20)
    if (conn.responses > before) ctx.tally.bombs.answered++
    conn.destroy()
    ctx.tally.settle(conn)
  }
}

/** A broker's strand_memory_bytes by kind, over DescribeMetrics; null if it does not answer. */
async function brokerMemory(port: number, user: SaslUser | null): Promise<Record<string, number> | null> {
  const sasl = user === null ? null : { mechanism: 'SCRAM-SHA-256' as const, username: user.username, password: user.password }
  const c = new Connection({ host: '127.0.0.1', port, clientId: 'fuzz-report', connectTimeoutMs: PROBE_TIMEOUT_MS, requestTimeoutMs: PROBE_TIMEOUT_MS, inflightRequestsMax: 1, frameBytesMax: 16 << 20, security: { sasl } })
  try {
    const res = await c.request(ApiKey.DescribeMetrics, {})
    const memory: Record<string, number> = {}
    for (const line of res.text.split('\n')) {
      const m = /^strand_memory_bytes\{kind="(\w+)"\} (\S+)$/.exec(line)
      if (m !== null) memory[m[1]!] = Number(m[2])
    }
    return memory
  } catch {
    return null
  } finally {
    c.close()
  }
}

/**
 * ApiVersions and Metadata on a fresh socket (with SASL, after logging in as `user`, which the
 * latency includes): the problem, or null and how long the answers took.
 */
export async function probeBroker(port: number, user: SaslUser | null = null): Promise<{ problem: string | null; latencyMs: number }> {
  const started = performance.now()
  const problem = await probeProblem(port, user)
  return { problem, latencyMs: Math.round(performance.now() - started) }
}

async function probeProblem(port: number, user: SaslUser | null): Promise<string | null> {
  const errors: Record<string, number> = {}
  const conn = await RawConn.open(port, errors, { frameBytesMax: user === null ? FUZZ_MAX_REQUEST_BYTES : PRE_AUTH_FRAME_BYTES_MAX, keepFrames: true })
  if (conn === null) return `cannot connect (${Object.keys(errors).join(', ')})`
  try {
    if (user !== null) {
      const result = await login(conn, user, 'SCRAM-SHA-256', FUZZ_MAX_REQUEST_BYTES)
      if (!result.ok) return `login: ${result.problem}`
      conn.keepFrames = true
    }
    conn.socket.write(encodeRequest(ApiKey.ApiVersions, 0, 1, 'fuzz-probe', {}))
    conn.socket.write(encodeRequest(ApiKey.Metadata, 0, 2, 'fuzz-probe', { topics: [HEALTHY_TOPIC] }))
    const first = await conn.nextFrame(PROBE_TIMEOUT_MS)
    const second = first === null ? null : await conn.nextFrame(PROBE_TIMEOUT_MS)
    if (first === null || second === null) return conn.closed ? 'closed without answering' : `no answer within ${PROBE_TIMEOUT_MS} ms`
    const versions = decodeResponse(ApiKey.ApiVersions, 0, first)
    const metadata = decodeResponse(ApiKey.Metadata, 0, second)
    if (versions.correlationId !== 1 || versions.body.errorCode !== 0) return `ApiVersions answered ${JSON.stringify({ correlationId: versions.correlationId, errorCode: versions.body.errorCode })}`
    const topic = metadata.body.topics.find((t) => t.name === HEALTHY_TOPIC)
    if (metadata.correlationId !== 2 || topic === undefined || topic.errorCode !== 0) return `Metadata answered without ${HEALTHY_TOPIC}`
    return null
  } catch (err) {
    return `unreadable answer: ${(err as Error).message}`
  } finally {
    conn.destroy()
  }
}

/** An error message with API names and numbers blanked, so one cause across APIs is one line. */
function causeOf(err: string): string {
  return err
    .replace('The request is malformed or violates the protocol. ', '')
    .replace(/(after|Truncated|Malformed) [A-Za-z]+ v\d+/, '$1 <API>')
    .replace(/-?\d+/g, 'N')
    .slice(0, 100)
}

/** Counts each broker's log lines at warn and above by message (the launcher already splits lines). */
class BrokerLogTally {
  readonly #lines = new Map<string, { level: string; msg: string; count: number; example: string }>()

  attach(cluster: TestCluster, id: number): void {
    const child = cluster.broker(id).child
    for (const stream of [child.stdout, child.stderr]) {
      let rest = ''
      stream?.on('data', (chunk: string | Buffer) => {
        const lines = (rest + chunk.toString()).split('\n')
        rest = lines.pop() ?? ''
        for (const line of lines) this.#take(line)
      })
    }
  }

  #take(line: string): void {
    let entry: { level?: number; msg?: string; err?: unknown }
    try {
      entry = JSON.parse(line) as typeof entry
    } catch {
      if (line.trim() !== '') this.#add('stderr', line.slice(0, 120), line)
      return
    }
    if (entry.level === undefined || entry.level < 40) return
    const level = entry.level >= 60 ? 'fatal' : entry.level >= 50 ? 'error' : 'warn'
    // Group "request cannot be answered" by its cause, with numbers blanked, so distinct causes show.
    const cause = typeof entry.err === 'string' ? `: ${causeOf(entry.err)}` : ''
    this.#add(level, `${entry.msg ?? ''}${cause}`, line)
  }

  #add(level: string, msg: string, example: string): void {
    const key = `${level} ${msg}`
    const e = this.#lines.get(key)
    if (e === undefined) this.#lines.set(key, { level, msg, count: 1, example: example.slice(0, 600) })
    else e.count++
  }

  entries(): FuzzReport['brokerLog'] {
    return [...this.#lines.values()].sort((a, b) => b.count - a.count)
  }
}

/** Per broker: RSS sampled while fuzzing, and probes answered or missed. */
class BrokerWatch {
  readonly reports: BrokerReport[]
  readonly #cluster: TestCluster
  /** Who the probes log in as (SASL), or null. */
  readonly #user: SaslUser | null
  /** The brokers' Kafka listener ports (probed too), or null. */
  readonly #kafkaPorts: readonly number[] | null
  #probeStartedMs: Array<number | null>
  #kafkaProbeStartedMs: Array<number | null>
  #timer: NodeJS.Timeout | undefined
  #probing: Promise<unknown> = Promise.resolve()
  #stopped = false

  constructor(cluster: TestCluster, user: SaslUser | null, kafkaPorts: readonly number[] | null) {
    this.#cluster = cluster
    this.#user = user
    this.#kafkaPorts = kafkaPorts
    this.reports = cluster.ids.map((id) => {
      const pid = cluster.broker(id).child.pid ?? null
      const kafkaProbes = kafkaPorts === null ? null : { ok: 0, failed: 0, stallMs: 0, latencyMsMax: 0 }
      return { id, pid, rssBeforeBytes: null, rssPeakBytes: null, rssAfterBytes: null, heapUsedAfterBytes: null, arrayBuffersAfterBytes: null, exited: null, probesOk: 0, probesFailed: 0, probeStallMs: 0, probeLatencyMsMax: 0, kafkaProbes }
    })
    this.#probeStartedMs = cluster.ids.map(() => null)
    this.#kafkaProbeStartedMs = cluster.ids.map(() => null)
    for (const r of this.reports) {
      void cluster.broker(r.id).exited.then(({ code, signal }) => (r.exited = `exit code ${code}, signal ${signal}`))
    }
  }

  baseline(): void {
    for (const r of this.reports) r.rssBeforeBytes = r.rssPeakBytes = rssBytes(r.pid ?? undefined)
  }

  start(): void {
    this.#timer = setInterval(() => {
      this.#sampleRss()
      this.#probing = Promise.all([this.#probing, ...this.reports.map((r, i) => this.#probe(r, i)), ...this.reports.map((r, i) => this.#kafkaProbe(r, i))])
    }, PROBE_INTERVAL_MS)
  }

  async stop(): Promise<void> {
    this.#stopped = true
    clearInterval(this.#timer)
    await this.#probing
    this.#sampleRss()
    for (const r of this.reports) r.rssAfterBytes = rssBytes(r.pid ?? undefined)
  }

  #sampleRss(): void {
    for (const r of this.reports) {
      const rss = rssBytes(r.pid ?? undefined)
      if (rss !== null) r.rssPeakBytes = Math.max(r.rssPeakBytes ?? 0, rss)
    }
  }

  async #probe(r: BrokerReport, i: number): Promise<void> {
    if (r.exited !== null || this.#stopped) return
    const started = performance.now()
    const { problem, latencyMs } = await probeBroker(this.#cluster.ports[i]!, this.#user)
    if (problem === null) {
      r.probesOk++
      r.probeLatencyMsMax = Math.max(r.probeLatencyMsMax, latencyMs)
      this.#probeStartedMs[i] = null
      return
    }
    r.probesFailed++
    const since = this.#probeStartedMs[i] ?? started
    this.#probeStartedMs[i] = since
    r.probeStallMs = Math.max(r.probeStallMs, Math.round(performance.now() - since))
  }

  /** An ApiVersions round trip on broker i's Kafka listener, counted like the Strand probe. */
  async #kafkaProbe(r: BrokerReport, i: number): Promise<void> {
    const counts = r.kafkaProbes
    const port = this.#kafkaPorts?.[i]
    if (counts === null || port === undefined || r.exited !== null || this.#stopped) return
    const started = performance.now()
    const problem = await kafkaProbeProblem(port, PROBE_TIMEOUT_MS)
    if (problem === null) {
      counts.ok++
      counts.latencyMsMax = Math.max(counts.latencyMsMax, Math.round(performance.now() - started))
      this.#kafkaProbeStartedMs[i] = null
      return
    }
    counts.failed++
    const since = this.#kafkaProbeStartedMs[i] ?? started
    this.#kafkaProbeStartedMs[i] = since
    counts.stallMs = Math.max(counts.stallMs, Math.round(performance.now() - since))
  }
}

/** The fuzzed cluster: the fuzzer's limits, and with SASL its settings, users and counts. */
async function startCluster(t: Teardown, security: Security, listener: Listener, requestTimeoutMs: number): Promise<{ cluster: TestCluster; sasl: SaslRun | null }> {
  const setup = security === 'sasl' ? saslSetup() : null
  const cluster = await TestCluster.start(t, {
    overrides: {
      'max.request.bytes': FUZZ_MAX_REQUEST_BYTES,
      'request.read.timeout.ms': FUZZ_REQUEST_READ_TIMEOUT_MS,
      'max.connections': FUZZ_MAX_CONNECTIONS,
      // Fuzzed group requests create __consumer_offsets: a few partitions keep that cheap.
      'offsets.topic.num.partitions': 5,
      // The Kafka listener's InitProducerId and FindCoordinator (key type 1) name transactional
      // ids freely, which creates __transaction_state: as cheap as __consumer_offsets.
      ...(listener === 'kafka' ? { 'kafka.listener.port': 0, 'transaction.state.log.num.partitions': 5 } : {}),
      ...setup?.overrides,
    },
    ...(setup === null ? {} : { clientSecurity: { sasl: setup.clientSasl } }),
  })
  const admin = cluster.client('fuzz-admin', { requestTimeoutMs }).admin()
  await admin.createTopic({ topic: HEALTHY_TOPIC, partitions: HEALTHY_PARTITIONS, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } })
  if (listener === 'kafka') await admin.createTopic({ topic: VERIFY_TOPIC, partitions: HEALTHY_PARTITIONS, replicationFactor: 3 })
  if (setup === null) return { cluster, sasl: null }
  await admin.upsertUser({ name: setup.fuzzUser.username, password: setup.fuzzUser.password })
  await cluster.waitForUser({ mechanism: 'SCRAM-SHA-256', username: setup.fuzzUser.username, password: setup.fuzzUser.password })
  const users = [setup.brokerUser, setup.fuzzUser]
  const inputs: SaslInputOptions = { ...MUTATE_OPTIONS, usernames: users.map((u) => u.username) }
  return { cluster, sasl: { setup, users, inputs, tally: new SaslTally() } }
}

/** Starts a cluster, runs the fuzz with the healthy client and the watches, and judges the run. */
export async function runFuzz(t: Teardown, options: FuzzOptions): Promise<FuzzReport> {
  const log = options.log ?? (() => undefined)
  const workers = options.workers ?? 16
  const tricklers = options.tricklers ?? 2
  const rssGrowthBytesMax = options.rssGrowthBytesMax ?? RSS_GROWTH_BYTES_MAX
  const security = options.security ?? 'none'
  const listener = options.listener ?? 'strand'
  const verifiers = listener === 'kafka' ? (options.verifiers ?? 2) : 0
  if (listener === 'kafka' && security !== 'none') throw new Error('The Kafka listener is fuzzed without SASL only.')
  log(`fuzz: seed ${options.seed}, ${options.durationMs} ms, ${workers} sockets, ${tricklers} tricklers, security ${security}, listener ${listener}${verifiers > 0 ? `, ${verifiers} verifiers` : ''}`)

  const requestTimeoutMs = 5000
  const { cluster, sasl } = await startCluster(t, security, listener, requestTimeoutMs)
  const kafkaPorts = listener === 'kafka' ? cluster.ids.map((id) => kafkaPortOf(cluster, id)) : null
  const logTally = new BrokerLogTally()
  for (const id of cluster.ids) logTally.attach(cluster, id)
  const probeUser = sasl?.setup.brokerUser ?? null
  const strand = cluster.client('fuzz-healthy', { requestTimeoutMs })
  for (let p = 0; p < HEALTHY_PARTITIONS; p++) await cluster.waitForPartition(strand, HEALTHY_TOPIC, p, (x) => x.leaderId > 0 && x.isr.length === 3, 'three in-sync replicas')
  const healthy = new HealthyClient(strand, cluster.client('fuzz-consumer', { requestTimeoutMs }), { topic: HEALTHY_TOPIC, partitions: HEALTHY_PARTITIONS, requestTimeoutMs })
  healthy.start()
  await waitFor(() => healthy.acked.length >= 100 && healthy.seen >= 50, { what: 'the healthy client producing and consuming', timeoutMs: 30_000 })

  // The zip bombs are deflated once and kept: done here, the seconds of gzip at level 9 do not hold
  // the fuzzer's event loop (and the probes' latencies, measured on it) once the window opens.
  for (const bytes of BOMB_BYTES) {
    zipBomb(bytes)
    if (listener === 'kafka') kafkaZipBomb(bytes)
  }
  const watch = new BrokerWatch(cluster, probeUser, kafkaPorts)
  watch.baseline()
  watch.start()
  healthy.watchStalls()
  const tally = new Tally()
  let stopped = false
  const guard: GuardContext = { healthyTopic: HEALTHY_TOPIC, topicsLeft: CREATE_TOPICS_PER_RUN_MAX, ownUsers: sasl?.users.map((u) => u.username) ?? [], protectedTopics: [VERIFY_TOPIC] }
  const ctx: RunContext = { ports: kafkaPorts ?? cluster.ports, listener, tally, guard, sasl, stopped: () => stopped }
  const verify = kafkaPorts === null ? null : new KafkaVerifyTally()
  const started = performance.now()
  const running = [
    ...(verify === null ? [] : startVerifiers(verifiers, options.seed, verify, ctx)),
    ...Array.from({ length: workers }, (_, i) => fuzzWorker(i, options.seed, ctx)),
    ...Array.from({ length: tricklers }, (_, i) => trickler(i, options.seed, ctx)),
    ...Array.from({ length: sasl === null ? 0 : IDLERS }, (_, i) => idler(i, options.seed, ctx)),
    bomber(options.seed, ctx),
  ]
  const progress = setInterval(() => log(`  ${Math.round((performance.now() - started) / 1000)} s: ${tally.framesSent} inputs sent, ${tally.closedByBroker} sockets closed by brokers, healthy acked ${healthy.acked.length}`), 10_000)
  const anyExit = Promise.race(cluster.ids.map((id) => cluster.broker(id).exited))
  const stoppedEarly = await Promise.race([delay(options.durationMs).then(() => false), anyExit.then(() => true)])
  stopped = true
  clearInterval(progress)
  await Promise.all(running)
  const { ackStallMsMax, consumeStallMsMax } = healthy.stalls()
  await watch.stop()
  const durationMs = Math.round(performance.now() - started)
  log(`fuzz: stopped after ${durationMs} ms; checking the brokers and the healthy client`)

  const failures: string[] = [...new Set(tally.anomalies)]
  const finalProbes = await Promise.all(
    cluster.ports.map(async (port, i) => {
      if (watch.reports[i]!.exited !== null) return 'exited'
      const kafkaPort = kafkaPorts?.[i]
      return (await probeBroker(port, probeUser)).problem ?? (kafkaPort === undefined ? null : await kafkaProbeProblem(kafkaPort, PROBE_TIMEOUT_MS))
    }),
  )
  await Promise.all(cluster.ports.map(async (port, i) => {
    const r = watch.reports[i]!
    if (r.exited !== null) return
    const memory = await brokerMemory(port, probeUser)
    r.heapUsedAfterBytes = memory?.heap_used ?? null
    r.arrayBuffersAfterBytes = memory?.array_buffers ?? null
  }))
  const { lost, examples: lostExamples } = await healthy.finish(30_000)
  if (healthy.consumerError !== null) failures.push(`the healthy consumer failed: ${healthy.consumerError}`)
  for (const [i, r] of watch.reports.entries()) {
    if (r.exited !== null) failures.push(`broker ${r.id} exited (${r.exited})`)
    else if (finalProbes[i] !== null) failures.push(`broker ${r.id} does not answer ApiVersions and Metadata after fuzzing: ${finalProbes[i]}`)
    if (r.probeStallMs > PROBE_STALL_MS_MAX) failures.push(`broker ${r.id} missed probes for ${r.probeStallMs} ms in a row`)
    if (r.probeLatencyMsMax > PROBE_LATENCY_MS_MAX) failures.push(`broker ${r.id} took ${r.probeLatencyMsMax} ms to answer a probe (bound ${PROBE_LATENCY_MS_MAX} ms)`)
    const k = r.kafkaProbes
    if (k !== null && k.stallMs > PROBE_STALL_MS_MAX) failures.push(`broker ${r.id} missed Kafka ApiVersions probes for ${k.stallMs} ms in a row`)
    if (k !== null && k.latencyMsMax > PROBE_LATENCY_MS_MAX) failures.push(`broker ${r.id} took ${k.latencyMsMax} ms to answer a Kafka ApiVersions probe (bound ${PROBE_LATENCY_MS_MAX} ms)`)
    if (r.rssBeforeBytes !== null && r.rssPeakBytes !== null && r.rssPeakBytes - r.rssBeforeBytes > rssGrowthBytesMax) {
      failures.push(`broker ${r.id} RSS grew ${mib(r.rssPeakBytes - r.rssBeforeBytes)} (bound ${mib(rssGrowthBytesMax)})`)
    }
  }
  if (lost > 0) failures.push(`${lost} acknowledged records not read back, e.g. ${lostExamples.join('; ')}`)
  if (ackStallMsMax > HEALTHY_STALL_MS_MAX) failures.push(`the healthy producer went ${ackStallMsMax} ms without an acknowledgement`)
  if (consumeStallMsMax > HEALTHY_STALL_MS_MAX) failures.push(`the healthy consumer went ${consumeStallMsMax} ms without a record`)
  const fatal = logTally.entries().filter((e) => e.level === 'fatal')
  for (const e of fatal) failures.push(`broker logged fatal: ${e.msg}`)
  const saslReport = sasl?.tally.report() ?? null
  if (saslReport !== null) failures.push(...saslFailures(saslReport))
  const kafkaReport = verify?.report() ?? null
  if (kafkaReport !== null) failures.push(...kafkaFailures(kafkaReport, stoppedEarly))

  let recentInputsFile: string | null = null
  if (watch.reports.some((r) => r.exited !== null)) {
    recentInputsFile = path.join(os.tmpdir(), `strand-fuzz-${options.seed}-recent-inputs.json`)
    writeFileSync(recentInputsFile, JSON.stringify({ seed: options.seed, listener, ports: ctx.ports, workers: tally.recent }, null, 1))
    for (const id of cluster.ids) log(`broker ${id} last output:\n${cluster.brokers[id - 1]?.output.slice(-30).join('\n') ?? ''}`)
  }

  return {
    seed: options.seed,
    durationMs,
    workers,
    security,
    listener,
    rssGrowthBytesMax,
    framesSent: tally.framesSent,
    bytesSent: tally.bytesSent,
    sentByApi: tally.sentByApi,
    sentByTarget: tally.sentByTarget,
    mutations: tally.mutations,
    skipped: tally.skipped,
    connectionsOpened: tally.connectionsOpened,
    closedByBroker: tally.closedByBroker,
    responses: tally.responses,
    errors: tally.errors,
    trickle: tally.trickle,
    bombs: tally.bombs,
    partialFrames: tally.partialFrames,
    healthy: { acked: healthy.acked.length, failedSends: healthy.failedSends, lost, ackStallMsMax, consumeStallMsMax },
    brokers: watch.reports,
    brokerLog: logTally.entries(),
    sasl: saslReport,
    kafka: kafkaReport,
    failures,
    recentInputsFile,
  }
}

/** The Kafka listener's verifiers (kafka-verify.ts), on the run's ports, guard and socket counts. */
function startVerifiers(count: number, seed: number, verify: KafkaVerifyTally, ctx: RunContext): Array<Promise<void>> {
  return Array.from({ length: count }, (_, i) =>
    kafkaVerifier(i, count, workerSeed(seed, 40_000 + i), {
      ports: ctx.ports,
      guard: ctx.guard,
      tally: verify,
      errors: ctx.tally.errors,
      topic: VERIFY_TOPIC,
      stopped: ctx.stopped,
      opened: () => ctx.tally.connectionsOpened++,
      settled: (conn) => ctx.tally.settle(conn),
    }),
  )
}

/** Broker `id`'s Kafka listener port, which a kafka-mode cluster must have. */
function kafkaPortOf(cluster: TestCluster, id: number): number {
  const port = cluster.broker(id).kafkaPort
  if (port === null) throw new Error(`Broker ${id} reports no Kafka listener although kafka.listener.port is 0.`)
  return port
}

/** The verifier's findings as failures: violations, and targets never answered well-formed (unless a broker exit cut the run short). */
function kafkaFailures(r: KafkaVerifyReport, stoppedEarly: boolean): string[] {
  const out = r.violations.map((v) => `Kafka listener: ${v}`)
  if (r.violationCount > r.violations.length) out.push(`Kafka listener: ${r.violationCount - r.violations.length} more violations like those`)
  if (stoppedEarly) return out
  const never = KAFKA_TARGETS.filter((t) => (r.byTarget[t.name]?.answered ?? 0) === 0).map((t) => t.name)
  if (never.length > 0) out.push(`Kafka listener: no well-formed request answered for ${never.join(', ')} (run longer, or more --verifiers)`)
  if (r.unsupportedApiVersions.answered === 0) out.push('Kafka listener: no ApiVersions at an unsupported version answered')
  if (r.unserved.closed === 0) out.push('Kafka listener: no frame of an unserved API or version seen closed')
  if (r.acksZero.answered === 0) out.push('Kafka listener: no request answered behind a Produce at acks 0')
  return out
}

function formatKafka(k: KafkaVerifyReport): string {
  const targets = Object.entries(k.byTarget)
  const sent = targets.reduce((n, [, c]) => n + c.sent, 0)
  const answered = targets.reduce((n, [, c]) => n + c.answered, 0)
  const covered = targets.filter(([, c]) => c.answered > 0).length
  const rows: Array<[string, string | number]> = [
    ['well-formed requests sent / answered correctly', `${sent} / ${answered}`],
    ['API versions answered well-formed', `${covered} of ${targets.length}`],
    ['ApiVersions at unsupported versions sent / answered v0 UNSUPPORTED_VERSION', `${k.unsupportedApiVersions.sent} / ${k.unsupportedApiVersions.answered}`],
    ['unserved APIs or versions sent / closed without an answer', `${k.unserved.sent} / ${k.unserved.closed}`],
    ['Produce at acks 0 + a request behind it sent / next answer its own (leader moved)', `${k.acksZero.sent} / ${k.acksZero.answered} (${k.acksZero.leaderMoved})`],
    ['well-formed requests the guard held back', Object.keys(k.skipped).length === 0 ? 'none' : JSON.stringify(k.skipped)],
    ['slowest answers', targets.sort(([, a], [, b]) => b.latencyMsMax - a.latencyMsMax).slice(0, 5).map(([name, c]) => `${name} ${c.latencyMsMax} ms`).join(', ')],
    ['violations', k.violationCount],
  ]
  return `\nKafka listener answers (test/fuzz/kafka-verify.ts):\n${table(rows)}`
}

function mib(bytes: number | null): string {
  return bytes === null ? 'n/a' : `${(bytes / (1024 * 1024)).toFixed(1)} MiB`
}

function table(rows: Array<[string, string | number]>, indent = '  '): string {
  const width = Math.max(0, ...rows.map(([k]) => k.length))
  return rows.map(([k, v]) => `${indent}${k.padEnd(width)}  ${v}`).join('\n')
}

function sorted(map: Record<string, number>): Array<[string, number]> {
  return Object.entries(map).sort((a, b) => b[1] - a[1])
}

/** The runner's printout. */
export function formatReport(r: FuzzReport): string {
  const out: string[] = []
  out.push(`protocol fuzz (seed ${r.seed}): ${(r.durationMs / 1000).toFixed(1)} s, 3 brokers, ${r.workers} fuzzing sockets${r.security === 'sasl' ? ', listener requires SASL' : ''}${r.listener === 'kafka' ? ', Kafka listener' : ''}`)
  out.push(`\ninputs sent: ${r.framesSent} (${mib(r.bytesSent)}), by API:`)
  out.push(table(sorted(r.sentByApi)))
  if (r.listener === 'kafka') out.push(`by API version: ${Object.keys(r.sentByTarget).length} of ${KAFKA_TARGETS.length} fuzzed, fewest ${Math.min(...KAFKA_TARGETS.map((t) => r.sentByTarget[t.name] ?? 0))} inputs (${KAFKA_TARGETS.filter((t) => (r.sentByTarget[t.name] ?? 0) === 0).map((t) => t.name).join(', ') || 'none missed'})`)
  out.push('\nmutations applied:')
  out.push(table(sorted(r.mutations)))
  out.push('\nskipped (would decode and change cluster state; see test/fuzz/guard.ts):')
  out.push(Object.keys(r.skipped).length === 0 ? '  none' : table(sorted(r.skipped)))
  out.push('\nconnections:')
  out.push(
    table([
      ['opened', r.connectionsOpened],
      ['closed by a broker', r.closedByBroker],
      ['responses received', r.responses],
      ['slow-loris sockets / closed by the read deadline / late', `${r.trickle.sockets} / ${r.trickle.closedOnTime} / ${r.trickle.late} (slowest close ${r.trickle.closeMsMax} ms)`],
      ['partial frames watched / closed in time / late', `${r.partialFrames.watched} / ${r.partialFrames.closedOnTime} / ${r.partialFrames.late}`],
      [`Produce requests of ${BOMBS_PER_REQUEST} zip bombs sent / answered`, `${r.bombs.sent} / ${r.bombs.answered}`],
    ]),
  )
  if (r.sasl !== null) out.push(formatSasl(r.sasl))
  if (r.kafka !== null) out.push(formatKafka(r.kafka))
  out.push('\nerrors seen by the fuzzer:')
  out.push(Object.keys(r.errors).length === 0 ? '  none' : table(sorted(r.errors)))
  out.push('\nbroker log lines at warn and above:')
  out.push(r.brokerLog.length === 0 ? '  none' : r.brokerLog.map((e) => `  ${String(e.count).padStart(7)}  ${e.level}  ${e.msg}`).join('\n'))
  const rare = r.brokerLog.filter((e) => e.count <= RARE_LOG_LINES || e.level !== 'warn')
  if (rare.length > 0) out.push(`\nexamples of the rarer ones:\n${rare.map((e) => `  ${e.example}`).join('\n')}`)
  out.push(`\nbrokers (RSS peak bound: before + ${mib(r.rssGrowthBytesMax)}):`)
  out.push(
    table(
      r.brokers.map((b) => [
        `broker ${b.id} (pid ${b.pid})`,
        `RSS before ${mib(b.rssBeforeBytes)}, peak ${mib(b.rssPeakBytes)}, after ${mib(b.rssAfterBytes)} (heap in use ${mib(b.heapUsedAfterBytes)}, buffers ${mib(b.arrayBuffersAfterBytes)}); probes ok ${b.probesOk}, failed ${b.probesFailed}, slowest ${b.probeLatencyMsMax} ms${b.kafkaProbes === null ? '' : `; Kafka probes ok ${b.kafkaProbes.ok}, failed ${b.kafkaProbes.failed}, slowest ${b.kafkaProbes.latencyMsMax} ms`}; ${b.exited ?? 'running'}`,
      ]),
    ),
  )
  out.push('\nhealthy client (acks=all producer + consumer):')
  out.push(
    table([
      ['acknowledged', r.healthy.acked],
      ['failed sends', r.healthy.failedSends],
      ['acknowledged but not read back', r.healthy.lost],
      ['longest time without an ack', `${r.healthy.ackStallMsMax} ms`],
      ['longest time without a consumed record', `${r.healthy.consumeStallMsMax} ms`],
    ]),
  )
  if (r.recentInputsFile !== null) out.push(`\nlast inputs of every worker: ${r.recentInputsFile}`)
  out.push(r.failures.length === 0 ? '\nPASS' : `\nFAIL\n${r.failures.map((f) => `  - ${f}`).join('\n')}`)
  return out.join('\n')
}
