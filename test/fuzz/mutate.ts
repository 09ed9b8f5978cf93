// The fuzzer's inputs: seeded mutations of the valid sample requests (one per API version, from
// test/client/protocol/samples.ts), plus fully random frames. Pure functions of an Rng, so a seed
// and a worker index reproduce a worker's sequence of frames.
//
// Byte-level mutations work on the encoded frame (size prefix included) and mostly keep the size
// prefix true, so the broker gets to decode the damaged header and body; `lengthLie` is the one
// that makes the prefix lie on purpose. `field` mutates the request value and re-encodes it: a
// well-formed request with hostile values (extreme ints and offsets, long or odd strings, arrays
// repeated hundreds of times, corrupt, garbage-under-valid-CRC and zip-bomb record batches), which
// reaches the handlers rather than the decoder.

import zlib from 'node:zlib'
import { encodeRequest, supportedApis, type ApiKeyValue } from '../../client/protocol/apis.js'
import { BATCH_BYTES_MAX, CRC_START, encodeBatch } from '../../client/protocol/records.js'
import { SAMPLES, type Sample } from '../client/protocol/samples.js'
import type { Rng } from '../helpers/random.js'

export type MutationKind =
  | 'none'
  | 'bitFlip'
  | 'byteSet'
  | 'byteRun'
  | 'truncate'
  | 'extend'
  | 'lengthLie'
  | 'varintBlowup'
  | 'apiKey'
  | 'apiVersion'
  | 'correlationId'
  | 'clientId'
  | 'field'
  | 'splice'
  | 'randomBody'
  | 'randomBytes'
  | 'shortFrame'
  // SASL inputs (test/fuzz/sasl-inputs.ts):
  | 'saslMechanism'
  | 'saslPipeline'
  | 'scramFirst'
  | 'scramFinal'
  | 'plain'
  | 'authBytes'
  | 'preAuthOversize'
  | 'afterAuthSasl'
  // Kafka listener inputs (test/fuzz/kafka-mutate.ts):
  | 'headerVersion'
  | 'countBlowup'
  | 'taggedFields'

/** One write's worth of bytes for the wire, and what made it. */
export interface FuzzInput {
  /** The sample's API ('random' for frames not made from a sample). */
  api: string
  /** Kafka inputs: the API and version of the request it was made from (`Produce v7`). */
  target?: string
  kinds: MutationKind[]
  bytes: Buffer
}

export interface MutateOptions {
  /** The brokers' max.request.bytes: length lies aim at and just past it. */
  maxRequestBytes: number
  /** A topic name worth aiming at (the healthy client's): hostile requests should reach real partitions. */
  topics: readonly string[]
}

/** A `field` mutation's result larger than this is dropped: the fuzzer is after odd requests, not bandwidth. */
export const FIELD_FRAME_BYTES_MAX = 1024 * 1024
/** Uncompressed sizes of the zip-bomb batches: under, at and just past the decoders' BATCH_BYTES_MAX. */
export const BOMB_BYTES = [1024 * 1024, 16 * 1024 * 1024, BATCH_BYTES_MAX - 1024, BATCH_BYTES_MAX + 1]

export const INT32_MAX = 2 ** 31 - 1
export const INT32_MIN = -(2 ** 31)
export const INTERESTING_INTS = [0, -1, 1, 2, 127, 128, 255, 32767, 65535, INT32_MAX, INT32_MIN, INT32_MAX - 1]
export const INTERESTING_LONGS = [0n, -1n, 1n, -2n, 2n ** 31n, 2n ** 53n + 1n, 2n ** 63n - 1n, -(2n ** 63n)]
const INTERESTING_BYTES = [0x00, 0x01, 0x02, 0x7f, 0x80, 0xfe, 0xff]
/** Values written as Avro varints (zigzag longs) over an array count or a string/bytes length. */
const BLOWUP_VALUES = [2 ** 31 - 1, -(2 ** 31), 2 ** 53, -1, -2, 1e9, 2 ** 62, -(2 ** 62), 2 ** 40]
export const ODD_STRINGS = ['', '.', '..', '__consumer_offsets', 'a/b', '\u0000', 'é✓', ' ', 'x'.repeat(249), 'x'.repeat(250), 'y'.repeat(4000)]

const KNOWN_KEYS: number[] = supportedApis().map((a) => a.apiKey)

/** The wire bytes of a sample with the given header fields. */
export function encodeSample(sample: Sample, correlationId: number, clientId: string | null): Buffer {
  return encodeRequest(sample.apiKey as ApiKeyValue, sample.version, correlationId, clientId, sample.request as never)
}

/** Avro zigzag varint of `n` (a JS number; past 2^53 precision does not matter here). */
export function zigzagVarint(n: number): Buffer {
  let z = n >= 0 ? n * 2 : -n * 2 - 1
  const out: number[] = []
  do {
    let b = z % 128
    z = Math.floor(z / 128)
    if (z > 0) b |= 0x80
    out.push(b)
  } while (z > 0 && out.length < 10)
  return Buffer.from(out)
}

/** A frame of `body` with its true size prefix. */
export function withTrueSize(body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(4 + body.length)
  out.writeInt32BE(body.length, 0)
  body.copy(out, 4)
  return out
}

/** Where the body starts in a frame from encodeSample (size prefix included), or 14 if unknown. */
function bodyStart(frame: Buffer): number {
  if (frame.length < 14) return frame.length
  const clientIdBytes = frame.readInt16BE(12)
  return Math.min(frame.length, 14 + Math.max(0, clientIdBytes))
}

// --- byte-level mutations; each returns new bytes ---------------------------------------------

export function bitFlip(rng: Rng, frame: Buffer): Buffer {
  const out = Buffer.from(frame)
  if (out.length <= 4) return out
  for (let k = rng.int(1, 8); k > 0; k--) {
    const i = rng.int(4, out.length - 1)
    out[i] = (out[i] as number) ^ (1 << rng.int(0, 7))
  }
  return out
}

export function byteSet(rng: Rng, frame: Buffer): Buffer {
  const out = Buffer.from(frame)
  if (out.length <= 4) return out
  for (let k = rng.int(1, 6); k > 0; k--) out[rng.int(4, out.length - 1)] = rng.bool(0.7) ? rng.pick(INTERESTING_BYTES) : rng.int(0, 255)
  return out
}

/** A run of one byte value, written over or inserted into the body (0xff runs are endless varints). */
export function byteRun(rng: Rng, frame: Buffer): Buffer {
  const body = frame.subarray(4)
  const at = rng.int(0, body.length)
  const run = Buffer.alloc(rng.bool(0.9) ? rng.int(1, 64) : rng.int(65, 8192), rng.pick(INTERESTING_BYTES))
  const rest = rng.bool(0.5) ? body.subarray(at) : body.subarray(Math.min(body.length, at + run.length))
  return withTrueSize(Buffer.concat([body.subarray(0, at), run, rest]))
}

export function truncate(rng: Rng, frame: Buffer): Buffer {
  return withTrueSize(frame.subarray(4, 4 + rng.int(0, Math.max(0, frame.length - 5))))
}

export function extend(rng: Rng, frame: Buffer): Buffer {
  const garbage = rng.bytes(rng.bool(0.95) ? rng.int(1, 256) : rng.int(257, 65536))
  return withTrueSize(Buffer.concat([frame.subarray(4), garbage]))
}

/** The size prefix lies: short (the stream desyncs), long (the broker waits), past the maximum, negative. */
export function lengthLie(rng: Rng, frame: Buffer, options: MutateOptions): Buffer {
  const out = Buffer.from(frame)
  const real = frame.length - 4
  const lies = [
    Math.max(0, real - rng.int(1, Math.max(1, real))),
    real + rng.int(1, 64),
    real + rng.int(65, 100_000),
    options.maxRequestBytes,
    options.maxRequestBytes + rng.int(1, 1000),
    INT32_MAX,
    -1,
    INT32_MIN,
  ]
  out.writeInt32BE(rng.pick(lies), 0)
  return out
}

/** An Avro count or length forged huge or negative, at the body's start (often a top array) or anywhere. */
function varintBlowup(rng: Rng, frame: Buffer): Buffer {
  const body = frame.subarray(4)
  const start = bodyStart(frame) - 4
  const at = rng.bool(0.4) ? start : rng.int(start, body.length)
  const varint = zigzagVarint(rng.pick(BLOWUP_VALUES))
  const replaced = rng.bool(0.5) ? 1 : 0
  return withTrueSize(Buffer.concat([body.subarray(0, at), varint, body.subarray(Math.min(body.length, at + replaced))]))
}

function apiKeyGame(rng: Rng, frame: Buffer): Buffer {
  const out = Buffer.from(frame)
  if (out.length < 6) return out
  out.writeInt16BE(rng.pick([-1, -32768, 32767, 4, 5, 6, 17, 21, 999, 1002, 9999, rng.int(-32768, 32767), rng.pick(KNOWN_KEYS)]), 4)
  return out
}

function apiVersionGame(rng: Rng, frame: Buffer): Buffer {
  const out = Buffer.from(frame)
  if (out.length < 8) return out
  out.writeInt16BE(rng.pick([-1, 1, 2, 3, 12, 127, 32767, -32768, rng.int(-32768, 32767)]), 6)
  return out
}

export function correlationGame(rng: Rng, frame: Buffer): Buffer {
  const out = Buffer.from(frame)
  if (out.length < 12) return out
  out.writeInt32BE(rng.pick([0, -1, INT32_MAX, INT32_MIN, 42, rng.int(INT32_MIN, INT32_MAX)]), 8)
  return out
}

/** The client id's length lies (the body then starts elsewhere, or the header overruns the frame). */
export function clientIdGame(rng: Rng, frame: Buffer): Buffer {
  const out = Buffer.from(frame)
  if (out.length < 14) return out
  out.writeInt16BE(rng.pick([-2, -1, 0, 1, 1023, 1024, 1025, 32767, -32768, Math.min(32767, out.readInt16BE(12) + rng.int(1, 40))]), 12)
  return out
}

// --- value-level mutation ------------------------------------------------------------------------

export function clone(v: unknown): unknown {
  if (Buffer.isBuffer(v)) return Buffer.from(v)
  if (Array.isArray(v)) return v.map(clone)
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, clone(x)]))
  return v
}

interface Slot {
  parent: Record<string, unknown> | unknown[]
  key: string | number
}

function slots(v: unknown, out: Slot[] = []): Slot[] {
  if (Buffer.isBuffer(v)) return out
  if (Array.isArray(v)) {
    v.forEach((x, i) => {
      out.push({ parent: v, key: i })
      slots(x, out)
    })
  } else if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      out.push({ parent: v as Record<string, unknown>, key: k })
      slots(x, out)
    }
  }
  return out
}

const bombs = new Map<number, Buffer>()

/** A valid gzip batch (true CRC) whose records block inflates to `bytes` of zeros. */
export function zipBomb(bytes: number): Buffer {
  let packed = bombs.get(bytes)
  if (packed === undefined) {
    packed = zlib.gzipSync(Buffer.alloc(bytes), { level: 9 })
    bombs.set(bytes, packed)
  }
  const batch = encodeBatch([{ value: 'x' }], { timestamp: 1, compression: 'gzip' })
  const out = Buffer.concat([batch.subarray(0, 61), packed])
  out.writeInt32BE(out.length - 12, 8)
  out.writeUInt32BE(zlib.crc32(out.subarray(CRC_START)), 17)
  return out
}

function hostileRecords(rng: Rng): Buffer {
  const records = Array.from({ length: rng.int(1, 20) }, () => ({ key: rng.bool(0.5) ? rng.string(rng.int(0, 20)) : null, value: rng.bytes(rng.int(0, 200)) }))
  const batch = encodeBatch(records, {
    timestamp: rng.pick([0, 1, Date.now(), 2 ** 50]),
    compression: rng.pick(['none', 'none', 'gzip', 'deflate', 'brotli'] as const),
    producerId: rng.bool(0.7) ? -1n : rng.pick(INTERESTING_LONGS),
    producerEpoch: rng.bool(0.7) ? -1 : rng.int(-1, 5),
    baseSequence: rng.bool(0.7) ? -1 : rng.pick([0, 1, INT32_MAX]),
  })
  switch (rng.int(0, 4)) {
    case 0:
      return batch
    case 1: {
      // Garbage records under a recomputed, valid CRC: only record parsing can tell.
      for (let i = 61; i < batch.length; i++) if (rng.bool(0.3)) batch[i] = rng.int(0, 255)
      batch.writeUInt32BE(zlib.crc32(batch.subarray(CRC_START)), 17)
      return batch
    }
    case 2:
      return bitFlip(rng, batch)
    case 3:
      return zipBomb(rng.pick(BOMB_BYTES))
    default:
      return Buffer.concat([batch, rng.bytes(rng.int(1, 30))])
  }
}

function hostileValue(rng: Rng, current: unknown, options: MutateOptions): unknown {
  if (typeof current === 'number') return rng.bool(0.8) ? rng.pick(INTERESTING_INTS) : current + rng.int(-3, 3)
  if (typeof current === 'bigint') return rng.bool(0.8) ? rng.pick(INTERESTING_LONGS) : current + BigInt(rng.int(-3, 3))
  if (typeof current === 'boolean') return !current
  if (typeof current === 'string') return rng.bool(0.3) ? rng.pick(options.topics) : rng.bool(0.5) ? rng.pick(ODD_STRINGS) : rng.string(rng.int(0, 40))
  if (Buffer.isBuffer(current)) return rng.bool(0.6) ? hostileRecords(rng) : rng.bytes(rng.int(0, 512))
  if (Array.isArray(current)) {
    if (current.length === 0 || rng.bool(0.2)) return []
    // A count blowup the encoder accepts: the same item hundreds of times.
    return Array.from({ length: rng.pick([2, 10, 100, 1000, 5000]) }, () => clone(rng.pick(current)))
  }
  return current
}

/** Re-encoded with one to three fields made hostile; null if the result does not encode or is too big. */
function field(rng: Rng, sample: Sample, correlationId: number, clientId: string | null, options: MutateOptions): Buffer | null {
  const value = clone(sample.request)
  for (let k = rng.int(1, 3); k > 0; k--) {
    const all = slots(value)
    if (all.length === 0) break
    const s = rng.pick(all)
    const current = (s.parent as Record<string | number, unknown>)[s.key]
    ;(s.parent as Record<string | number, unknown>)[s.key] = hostileValue(rng, current, options)
  }
  try {
    const frame = encodeRequest(sample.apiKey as ApiKeyValue, sample.version, correlationId, clientId, value as never)
    return frame.length > FIELD_FRAME_BYTES_MAX ? null : frame
  } catch {
    // The hostile value does not fit the schema (avsc refuses it): nothing to send.
    return null
  }
}

// --- composition -----------------------------------------------------------------------------------

const BYTE_MUTATIONS: Array<[MutationKind, (rng: Rng, frame: Buffer, options: MutateOptions) => Buffer]> = [
  ['bitFlip', bitFlip],
  ['byteSet', byteSet],
  ['byteRun', byteRun],
  ['truncate', truncate],
  ['extend', extend],
  ['varintBlowup', varintBlowup],
  ['apiKey', apiKeyGame],
  ['apiVersion', apiVersionGame],
  ['correlationId', correlationGame],
  ['clientId', clientIdGame],
]

/** Random bytes with a true size prefix; half of them behind a valid header of a known API. */
function randomFrame(rng: Rng): FuzzInput {
  const body = rng.bytes(rng.bool(0.9) ? rng.int(0, 300) : rng.int(301, 65536))
  if (rng.bool(0.5) && body.length >= 10) {
    const sample = rng.pick(SAMPLES)
    body.writeInt16BE(sample.apiKey, 0)
    body.writeInt16BE(sample.version, 2)
    body.writeInt16BE(rng.int(0, 4), 8)
    return { api: sample.name.replace(/ v\d+$/, ''), kinds: ['randomBody'], bytes: withTrueSize(body) }
  }
  return { api: 'random', kinds: ['randomBody'], bytes: withTrueSize(body) }
}

/**
 * One input for the wire. `correlationId` is the worker's running id (the correlationId
 * mutation overrides it); the result may be several frames, part of one, or no frame at all.
 */
export function nextInput(rng: Rng, correlationId: number, options: MutateOptions): FuzzInput {
  const roll = rng.float()
  if (roll < 0.06) return randomFrame(rng)
  if (roll < 0.08) return { api: 'random', kinds: ['randomBytes'], bytes: rng.bytes(rng.int(1, 200)) }
  if (roll < 0.09) {
    // Empty or shorter than a request header: the header cannot be read.
    const body = rng.bytes(rng.int(0, 9))
    return { api: 'random', kinds: ['shortFrame'], bytes: withTrueSize(body) }
  }
  const sample = rng.pick(SAMPLES)
  const api = sample.name.replace(/ v\d+$/, '')
  const clientId = rng.bool(0.9) ? 'fuzz' : rng.bool(0.5) ? null : rng.string(rng.int(0, 300))
  let frame = encodeSample(sample, correlationId, clientId)
  const kinds: MutationKind[] = []
  if (roll < 0.15) return { api, kinds: ['none'], bytes: frame }
  if (roll < 0.4) {
    const mutated = field(rng, sample, correlationId, clientId, options)
    if (mutated !== null) {
      frame = mutated
      kinds.push('field')
    }
  } else if (roll < 0.45) {
    // The header (and the start of the body) of one API, the rest of another's body.
    const other = encodeSample(rng.pick(SAMPLES), correlationId, 'fuzz')
    const cut = rng.int(14, frame.length)
    frame = withTrueSize(Buffer.concat([frame.subarray(4, cut), other.subarray(Math.min(other.length, rng.int(14, other.length)))]))
    kinds.push('splice')
  }
  frame = mutateBytes(rng, frame, options, kinds)
  return { api, kinds, bytes: frame }
}

/** One to three byte-level mutations of an encoded frame, and rarely a lying size prefix; their kinds go to `kinds`. */
export function mutateBytes(rng: Rng, frame: Buffer, options: MutateOptions, kinds: MutationKind[]): Buffer {
  let out = frame
  for (let k = rng.bool(0.7) ? 1 : rng.int(2, 3); k > 0; k--) {
    const [kind, mutation] = rng.pick(BYTE_MUTATIONS)
    out = mutation(rng, out, options)
    kinds.push(kind)
  }
  if (rng.bool(0.04)) {
    out = lengthLie(rng, out, options)
    kinds.push('lengthLie')
  }
  return out
}

/** The APIs with a sample (by name, as in FuzzInput.api), for tests that check every one is fuzzed. */
export function sampledApis(): string[] {
  return [...new Set(SAMPLES.map((s) => s.name.replace(/ v\d+$/, '')))]
}
