// The fuzzer's inputs for the Kafka listener: seeded mutations of a request drawn from the schema
// of every API and version the listener advertises (kafka-samples.ts), plus random frames. Pure
// functions of an Rng, like mutate.ts, whose byte-level mutations they share (the size prefix,
// API key, version, correlation id and client id sit at the same offsets in Kafka's header v1/v2
// as in Strand's header).
//
// What is Kafka's own:
//   - `apiKey` and `apiVersion` aim at Kafka's table: another API's key over this body, keys the
//     listener does not serve, versions just outside the range, and another version of the same
//     API (a classic body read as flexible, or the other way round);
//   - `headerVersion`: a flexible request without header v2's tagged-field byte, a classic one
//     with it, or the header's tagged fields forged (unknown, lying sizes, endless);
//   - `countBlowup`: an array count or a length forged where the encoder wrote one (int16 and
//     int32 in classic versions, unsigned varints in flexible ones): absurd, negative, null,
//     overlong or overflowing 32 bits;
//   - `taggedFields`: a flexible body's tagged-field section forged: unknown tags (which must be
//     skipped), tags out of order or repeated, sizes past the end, a known tag of the wrong size;
//   - `field`: the request value with one to three fields made hostile for their type and
//     re-encoded with the listener's codec, record batches included (garbage under a valid
//     CRC-32C, Strand's CRC-32 instead, Kafka codecs Strand lacks, old magic, lying lengths, zip
//     bombs): well-formed requests that reach the handlers.

import { BATCH_HEADER_BYTES, BATCH_BYTES_MAX, HEADER_OFFSETS } from '../../client/protocol/records.js'
import { inVersions, type FieldSpec, type KafkaStruct } from '../../client/protocol/kafka/schema.js'
import type { Rng } from '../helpers/random.js'
import {
  BOMB_BYTES,
  bitFlip,
  byteRun,
  byteSet,
  clientIdGame,
  clone,
  correlationGame,
  extend,
  FIELD_FRAME_BYTES_MAX,
  INT32_MAX,
  INT32_MIN,
  INTERESTING_INTS,
  INTERESTING_LONGS,
  lengthLie,
  ODD_STRINGS,
  truncate,
  withTrueSize,
  zipBomb,
  type FuzzInput,
  type MutateOptions,
  type MutationKind,
} from './mutate.js'
import { encodeKafkaRequest, kafkaBatch, kafkaSample, KAFKA_TARGETS, stampKafkaCrc, stampStrandCrc, type EncodedKafkaRequest, type KafkaSampleOptions, type KafkaTarget, type LengthSite } from './kafka-samples.js'

export interface KafkaMutateOptions extends MutateOptions {
  /** Group ids the fuzzed requests use: this prefix and a small number. */
  groupPrefix: string
}

const KAFKA_KEYS: readonly number[] = [...new Set(KAFKA_TARGETS.map((t) => t.apiKey))]
/** Keys Kafka defines and this listener does not serve (LeaderAndIsr, StopReplica, ...), and some no one does. */
const UNSERVED_KEYS = [4, 5, 6, 7, 21, 23, 24, 25, 26, 27, 37, 42, 50, 60, 68, 74, 1000, 9999, -1, -32768, 32767].filter((k) => !KAFKA_KEYS.includes(k))
const INT16_HOSTILE = [-32768, 32767, -1, -2, 0, 1, 255]
const INT8_HOSTILE = [-128, 127, -1, 0, 1, 2, 100]
const UINT16_HOSTILE = [0, 1, 65535]
const FLOAT_HOSTILE = [Number.NaN, Number.POSITIVE_INFINITY, -0, 1e308, -1]
/** int32 counts and lengths: huge, negative, -1 (null), and sizes past what a frame holds. */
const INT32_COUNTS = [0x7ffffff0, INT32_MAX, INT32_MIN, -2, -1, 1e9, 65536, 1 << 24]
const INT16_LENGTHS = [-2, -32768, 32767, 0x7ff0, -1]
/** Unsigned varint counts and lengths (flexible: value + 1, 0 = null). */
const UVARINT_COUNTS = [0xfffffff0, 2 ** 31, 2 ** 32 - 1, 1e9, 0, 65537, 2]
/** Varints the decoder must refuse: too long, or past 32 bits. */
const BAD_UVARINTS = [Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x00]), Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff]), Buffer.from([0xff, 0xff, 0xff, 0xff, 0x1f]), Buffer.from([0xff])]
/** Kafka's codecs that Strand's format does not share (snappy, lz4, zstd) and ones no one has. */
const FOREIGN_CODECS = [2, 3, 4, 5, 7]

/** An unsigned varint of any uint32 (Kafka's compact lengths). */
export function uvarint(n: number): Buffer {
  const out: number[] = []
  let v = n
  while (v >= 0x80) {
    out.push((v % 128) | 0x80)
    v = Math.floor(v / 128)
  }
  out.push(v)
  return Buffer.from(out)
}

/** Where the header ends in a frame (size prefix included) for a header v1, or past it for v2. */
function headerEnd(frame: Buffer): number {
  if (frame.length < 14) return frame.length
  return Math.min(frame.length, 14 + Math.max(0, frame.readInt16BE(12)))
}

// --- Kafka's byte-level mutations --------------------------------------------------------------

function kafkaApiKey(rng: Rng, frame: Buffer): Buffer {
  const out = Buffer.from(frame)
  if (out.length < 6) return out
  out.writeInt16BE(rng.bool(0.5) ? rng.pick(KAFKA_KEYS) : rng.bool(0.8) ? rng.pick(UNSERVED_KEYS) : rng.int(-32768, 32767), 4)
  return out
}

function kafkaApiVersion(rng: Rng, frame: Buffer, target: KafkaTarget): Buffer {
  const out = Buffer.from(frame)
  if (out.length < 8) return out
  const versions = KAFKA_TARGETS.filter((t) => t.apiKey === target.apiKey).map((t) => t.version)
  const min = Math.min(...versions)
  const max = Math.max(...versions)
  out.writeInt16BE(rng.pick([min - 1, max + 1, max + 2, rng.pick(versions), rng.pick(versions), -1, 32767, -32768, rng.int(-32768, 32767)]), 6)
  return out
}

/** Header v2 where v1 belongs or the other way round, or the header's tagged fields forged. */
function headerVersion(rng: Rng, frame: Buffer, target: KafkaTarget): Buffer {
  const end = headerEnd(frame)
  const body = frame.subarray(4)
  const at = end - 4
  if (target.flexible && rng.bool(0.4)) return withTrueSize(Buffer.concat([body.subarray(0, at), body.subarray(Math.min(body.length, at + 1))]))
  if (!target.flexible && rng.bool(0.4)) return withTrueSize(Buffer.concat([body.subarray(0, at), Buffer.from([0]), body.subarray(at)]))
  const skip = target.flexible ? 1 : 0
  return withTrueSize(Buffer.concat([body.subarray(0, at), taggedSection(rng, []), body.subarray(Math.min(body.length, at + skip))]))
}

/** A tagged-field section, well-formed with unknown tags or broken in one of the ways a decoder must refuse. */
function taggedSection(rng: Rng, knownTags: readonly number[]): Buffer {
  const unknown = (): Buffer => {
    const value = rng.bytes(rng.int(0, 16))
    return Buffer.concat([uvarint(rng.int(50, 200)), uvarint(value.length), value])
  }
  switch (rng.int(0, 7)) {
    case 0:
      // Unknown tags with true sizes: a decoder skips them.
      return Buffer.concat([uvarint(1), unknown()])
    case 1:
      return uvarint(rng.pick(UVARINT_COUNTS))
    case 2:
      return Buffer.concat([uvarint(1), uvarint(99), uvarint(rng.pick([1e9, 2 ** 31, 65536]))])
    case 3:
      // Out of order, then repeated.
      return rng.bool() ? Buffer.from([2, 5, 0, 3, 0]) : Buffer.from([2, 5, 0, 5, 0])
    case 4: {
      // A known tag whose value is one byte where it needs more, or more than it takes.
      const tag = knownTags.length > 0 ? rng.pick(knownTags) : 0
      const value = rng.bytes(rng.bool() ? 1 : rng.int(20, 40))
      return Buffer.concat([uvarint(1), uvarint(tag), uvarint(value.length), value])
    }
    case 5:
      return Buffer.concat([uvarint(1), rng.pick(BAD_UVARINTS)])
    case 6:
      return Buffer.concat([uvarint(rng.int(100, 300)), ...Array.from({ length: rng.int(100, 300) }, unknown)])
    default:
      return rng.pick(BAD_UVARINTS)
  }
}

/** A flexible body's last tagged section (the top-level struct's, when it is empty) or one at a varint site, forged. */
function taggedFields(rng: Rng, encoded: EncodedKafkaRequest, target: KafkaTarget): Buffer {
  const { frame } = encoded
  const knownTags = target.request.fields.flatMap((f) => (f.tag !== undefined && inVersions(f.taggedVersions, target.version) ? [f.tag] : []))
  const section = taggedSection(rng, knownTags)
  const body = frame.subarray(4)
  if (frame[frame.length - 1] === 0 && rng.bool(0.6)) return withTrueSize(Buffer.concat([body.subarray(0, body.length - 1), section]))
  const sites = encoded.sites.filter((s) => s.kind === 'uvarint')
  if (sites.length === 0) return withTrueSize(Buffer.concat([body, section]))
  const site = rng.pick(sites)
  return withTrueSize(Buffer.concat([body.subarray(0, site.at - 4), section, body.subarray(site.at - 4 + site.bytes)]))
}

/** An absurd count or length written where the encoder wrote a number (often exactly a count). */
function forgeSite(rng: Rng, frame: Buffer, site: LengthSite): Buffer {
  if (site.kind === 'int16' || site.kind === 'int32') {
    const out = Buffer.from(frame)
    if (site.kind === 'int16') out.writeInt16BE(rng.pick(INT16_LENGTHS), site.at)
    else out.writeInt32BE(Math.trunc(rng.pick(INT32_COUNTS)) | 0, site.at)
    return out
  }
  const forged = rng.bool(0.7) ? uvarint(rng.pick(UVARINT_COUNTS)) : rng.pick(BAD_UVARINTS)
  return withTrueSize(Buffer.concat([frame.subarray(4, site.at), forged, frame.subarray(site.at + site.bytes)]))
}

function countBlowup(rng: Rng, encoded: EncodedKafkaRequest): Buffer {
  const sites = encoded.sites
  if (sites.length === 0) return encoded.frame
  // Counts come before their elements: the first sites are the top arrays more often than not.
  const site = rng.bool(0.3) ? (sites[rng.int(0, Math.min(2, sites.length - 1))] as LengthSite) : rng.pick(sites)
  return forgeSite(rng, encoded.frame, site)
}

// --- value-level mutation, typed by the spec -------------------------------------------------------

interface Slot {
  parent: KafkaStruct | unknown[]
  key: string | number
  field: FieldSpec
  /** The whole array (true) or one element of it / the field itself (false). */
  whole: boolean
  nullable: boolean
}

function slotsOf(value: KafkaStruct, fields: readonly FieldSpec[], version: number, out: Slot[] = []): Slot[] {
  for (const f of fields) {
    if (!(f.name in value)) continue
    const v = value[f.name]
    const nullable = inVersions(f.nullableVersions, version)
    const isArray = f.type.startsWith('[]')
    out.push({ parent: value, key: f.name, field: f, whole: isArray, nullable })
    if (v === null || v === undefined) continue
    if (isArray) {
      ;(v as unknown[]).forEach((x, i) => {
        out.push({ parent: v as unknown[], key: i, field: f, whole: false, nullable: false })
        if (f.fields !== undefined) slotsOf(x as KafkaStruct, f.fields, version, out)
      })
    } else if (f.fields !== undefined) {
      slotsOf(v as KafkaStruct, f.fields, version, out)
    }
  }
  return out
}

/** A Kafka record batch (or several) for a hostile Produce: each a different way to be wrong, a few right. */
export function hostileKafkaRecords(rng: Rng): Buffer {
  const batch = kafkaBatch(rng)
  const restamp = (b: Buffer): Buffer => stampKafkaCrc(b)
  switch (rng.int(0, 10)) {
    case 0:
      return batch
    case 1:
      // Garbage records under a recomputed, valid CRC-32C: only record parsing can tell.
      for (let i = BATCH_HEADER_BYTES; i < batch.length; i++) if (rng.bool(0.3)) batch[i] = rng.int(0, 255)
      return restamp(batch)
    case 2:
      return bitFlip(rng, batch)
    case 3:
      return kafkaZipBomb(rng.pick(BOMB_BYTES))
    case 4:
      return Buffer.concat([batch, rng.bytes(rng.int(1, 30))])
    case 5:
      // Strand's CRC-32 where Kafka's CRC-32C belongs.
      return stampStrandCrc(batch)
    case 6:
      batch.writeInt16BE((batch.readInt16BE(HEADER_OFFSETS.attributes) & ~0x07) | rng.pick(FOREIGN_CODECS), HEADER_OFFSETS.attributes)
      return restamp(batch)
    case 7:
      batch.writeInt8(rng.pick([0, 1, 3, -1]), HEADER_OFFSETS.magic)
      return restamp(batch)
    case 8:
      batch.writeInt32BE(rng.pick([0, 1, 48, 49, INT32_MAX, -1, batch.length]), HEADER_OFFSETS.batchLength)
      return restamp(batch)
    case 9:
      batch.writeInt32BE(rng.pick([0, -1, INT32_MAX, 1 << 20]), rng.bool() ? HEADER_OFFSETS.recordCount : HEADER_OFFSETS.lastOffsetDelta)
      return restamp(batch)
    default:
      // Many small batches in one partition's records.
      return Buffer.concat(Array.from({ length: rng.int(20, 200) }, () => kafkaBatch(rng)))
  }
}

const kafkaBombs = new Map<number, Buffer>()

/** zipBomb (mutate.ts) with Kafka's CRC-32C: passes the listener's edge check, then inflates. */
export function kafkaZipBomb(bytes: number): Buffer {
  let bomb = kafkaBombs.get(bytes)
  if (bomb === undefined) {
    bomb = stampKafkaCrc(zipBomb(bytes))
    kafkaBombs.set(bytes, bomb)
  }
  return bomb
}

function hostilePrimitive(rng: Rng, type: string, nullable: boolean, options: KafkaMutateOptions): unknown {
  if (nullable && rng.bool(0.15)) return null
  switch (type) {
    case 'bool':
      return rng.bool()
    case 'int8':
      return rng.pick(INT8_HOSTILE)
    case 'int16':
      return rng.pick(INT16_HOSTILE)
    case 'uint16':
      return rng.pick(UINT16_HOSTILE)
    case 'int32':
      return rng.pick(INTERESTING_INTS)
    case 'int64':
      return rng.pick(INTERESTING_LONGS)
    case 'float64':
      return rng.pick(FLOAT_HOSTILE)
    case 'uuid':
      return rng.pick([Buffer.alloc(16), Buffer.alloc(16, 0xff), rng.bytes(16)])
    case 'string':
      return rng.bool(0.3) ? rng.pick(options.topics) : rng.bool(0.5) ? rng.pick(ODD_STRINGS) : rng.bool(0.9) ? rng.string(rng.int(0, 40)) : 'z'.repeat(rng.pick([32767, 40_000]))
    case 'records':
      return rng.bool(0.85) ? hostileKafkaRecords(rng) : rng.pick([null, Buffer.alloc(0), rng.bytes(rng.int(1, 100))])
    case 'bytes':
      return rng.bool(0.2) ? hostileKafkaRecords(rng) : rng.bytes(rng.bool(0.9) ? rng.int(0, 512) : rng.int(513, 100_000))
    default:
      return undefined
  }
}

/** Roughly how many bytes a value encodes to: enough to bound a repeated element. */
function approximateBytes(v: unknown): number {
  if (Buffer.isBuffer(v)) return v.length + 4
  if (typeof v === 'string') return v.length + 2
  if (Array.isArray(v)) return v.reduce((n: number, x) => n + approximateBytes(x), 4)
  if (v !== null && typeof v === 'object') return Object.values(v).reduce((n: number, x) => n + approximateBytes(x), 0)
  return 8
}

function hostileAt(rng: Rng, slot: Slot, current: unknown, options: KafkaMutateOptions): unknown {
  if (slot.whole) {
    const items = current as unknown[] | null
    if (items === null || items.length === 0 || rng.bool(0.25)) return rng.bool(0.5) ? null : []
    // A count the encoder accepts: the same element hundreds or thousands of times, within what
    // a field mutation may send (an element holding a zip bomb is 64 KiB).
    const item = rng.pick(items)
    const count = Math.min(rng.pick([2, 10, 100, 1000, 5000]), Math.max(1, Math.floor(FIELD_FRAME_BYTES_MAX / approximateBytes(item))))
    return Array.from({ length: count }, () => clone(item))
  }
  const element = slot.field.type.replace(/^\[\]/, '')
  if (slot.field.fields !== undefined) return rng.bool(0.5) ? {} : current
  return hostilePrimitive(rng, element, slot.nullable, options)
}

/** The value with one to three fields made hostile, re-encoded; null if it does not encode or is too big. */
function field(rng: Rng, target: KafkaTarget, value: KafkaStruct, correlationId: number, clientId: string | null, options: KafkaMutateOptions): Buffer | null {
  const mutated = clone(value) as KafkaStruct
  for (let k = rng.int(1, 3); k > 0; k--) {
    const all = slotsOf(mutated, target.request.fields, target.version)
    if (all.length === 0) break
    const s = rng.pick(all)
    const parent = s.parent as Record<string | number, unknown>
    parent[s.key] = hostileAt(rng, s, parent[s.key], options)
  }
  try {
    const { frame } = encodeKafkaRequest(target, correlationId, clientId, mutated)
    return frame.length > FIELD_FRAME_BYTES_MAX ? null : frame
  } catch {
    // A value outside its type's range (the writer refuses it): nothing to send.
    return null
  }
}

// --- composition -----------------------------------------------------------------------------------

type ByteMutation = (rng: Rng, frame: Buffer, target: KafkaTarget) => Buffer

const BYTE_MUTATIONS: Array<[MutationKind, ByteMutation]> = [
  ['bitFlip', bitFlip],
  ['byteSet', byteSet],
  ['byteRun', byteRun],
  ['truncate', truncate],
  ['extend', extend],
  ['apiKey', kafkaApiKey],
  ['apiVersion', kafkaApiVersion],
  ['correlationId', correlationGame],
  ['clientId', clientIdGame],
  ['headerVersion', headerVersion],
]

/** Random bytes with a true size prefix; half of them behind the fixed header of a served API version. */
function randomKafkaFrame(rng: Rng): FuzzInput {
  const body = rng.bytes(rng.bool(0.9) ? rng.int(0, 300) : rng.int(301, 65536))
  if (rng.bool(0.5) && body.length >= 10) {
    const target = rng.pick(KAFKA_TARGETS)
    body.writeInt16BE(target.apiKey, 0)
    body.writeInt16BE(target.version, 2)
    body.writeInt16BE(rng.int(-1, 4), 8)
    return { api: target.api, target: target.name, kinds: ['randomBody'], bytes: withTrueSize(body) }
  }
  return { api: 'random', kinds: ['randomBody'], bytes: withTrueSize(body) }
}

function sampleOptions(options: KafkaMutateOptions): KafkaSampleOptions {
  return { topics: options.topics, wellFormed: false, groupPrefix: options.groupPrefix }
}

/**
 * One input for a Kafka listener. `correlationId` is the worker's running id (the correlationId
 * mutation overrides it); the result may be several frames, part of one, or no frame at all.
 */
export function nextKafkaInput(rng: Rng, correlationId: number, options: KafkaMutateOptions): FuzzInput {
  const roll = rng.float()
  if (roll < 0.06) return randomKafkaFrame(rng)
  if (roll < 0.08) return { api: 'random', kinds: ['randomBytes'], bytes: rng.bytes(rng.int(1, 200)) }
  if (roll < 0.09) return { api: 'random', kinds: ['shortFrame'], bytes: withTrueSize(rng.bytes(rng.int(0, 9))) }
  // The targets in turn, from a place of the worker's own (its seed): a short run covers every
  // API version, where a random pick leaves some out (151 of them, a few thousand inputs).
  const target = KAFKA_TARGETS[(correlationId + rng.seed) % KAFKA_TARGETS.length] as KafkaTarget
  const clientId = rng.bool(0.9) ? 'fuzz' : rng.bool(0.5) ? null : rng.string(rng.int(0, 300))
  const value = kafkaSample(rng, target, sampleOptions(options))
  const encoded = encodeKafkaRequest(target, correlationId, clientId, value)
  const input = (kinds: MutationKind[], bytes: Buffer): FuzzInput => ({ api: target.api, target: target.name, kinds, bytes })
  if (roll < 0.15) return input(['none'], encoded.frame)
  const kinds: MutationKind[] = []
  let frame = encoded.frame
  if (roll < 0.4) {
    const mutated = field(rng, target, value, correlationId, clientId, options)
    if (mutated !== null) {
      frame = mutated
      kinds.push('field')
    }
  } else if (roll < 0.45) {
    // The header (and the start of the body) of one API version, the rest of another's body.
    const other = rng.pick(KAFKA_TARGETS)
    const otherFrame = encodeKafkaRequest(other, correlationId, 'fuzz', kafkaSample(rng, other, sampleOptions(options))).frame
    const cut = rng.int(Math.min(14, frame.length), frame.length)
    frame = withTrueSize(Buffer.concat([frame.subarray(4, cut), otherFrame.subarray(Math.min(otherFrame.length, rng.int(14, otherFrame.length)))]))
    kinds.push('splice')
  } else if (roll < 0.58) {
    frame = countBlowup(rng, encoded)
    kinds.push('countBlowup')
  } else if (roll < 0.64 && target.flexible) {
    frame = taggedFields(rng, encoded, target)
    kinds.push('taggedFields')
  }
  // A structural mutation alone reaches the decoder (or the handler) intact half the time.
  if (kinds.length === 0 || rng.bool(0.5)) frame = mutateKafkaBytes(rng, frame, target, options, kinds)
  return input(kinds, frame)
}

/** One to three byte-level mutations, and rarely a lying size prefix; their kinds go to `kinds`. */
function mutateKafkaBytes(rng: Rng, frame: Buffer, target: KafkaTarget, options: KafkaMutateOptions, kinds: MutationKind[]): Buffer {
  let out = frame
  for (let k = rng.bool(0.7) ? 1 : rng.int(2, 3); k > 0; k--) {
    const [kind, mutation] = rng.pick(BYTE_MUTATIONS)
    out = mutation(rng, out, target)
    kinds.push(kind)
  }
  if (rng.bool(0.04)) {
    out = lengthLie(rng, out, options)
    kinds.push('lengthLie')
  }
  return out
}

/**
 * A Produce (v7, acks 1) of `count` zip-bomb batches to `topic`, as the Kafka listener's bomber
 * sends it: each passes the edge's CRC-32C check and is refused CORRUPT_MESSAGE only once inflated.
 */
export function kafkaBombProduce(topic: string, partitions: readonly number[], correlationId: number): Buffer {
  const target = KAFKA_TARGETS.find((t) => t.apiKey === 0 && t.version === 7)
  if (target === undefined) throw new Error('The Kafka listener serves Produce v7.')
  const bomb = kafkaZipBomb(BATCH_BYTES_MAX - 1024)
  const value = { transactionalId: null, acks: 1, timeoutMs: 5000, topicData: [{ name: topic, partitionData: partitions.map((index) => ({ index, records: bomb })) }] }
  return encodeKafkaRequest(target, correlationId, 'fuzz-bomber', value).frame
}
