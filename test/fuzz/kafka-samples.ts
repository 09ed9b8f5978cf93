// Requests for the Kafka listener, built from the schemas themselves: every API and version in
// broker/kafka/apis.ts (KAFKA_APIS) is a target, and a request value for a target is drawn field
// by field from its MessageSpec at that version (ints, strings, arrays of 0-3 elements, structs,
// tagged fields now and then, and `records` as valid Kafka record batches with their CRC-32C). No
// sample is written by hand, so a version added to the table is fuzzed without a change here.
//
// Field names steer the values where a random one would only ever be refused at the door: topic
// names come from the fuzzed topics, partitions are small, acks are -1/0/1, waits are short. With
// `wellFormed` (the verifier, kafka-verify.ts) every choice is one the broker must answer, and
// answer soon: no acks=0, no held fetches, a fresh group for every join.
//
// Frames are encoded with the listener's own codec (client/protocol/kafka/schema.ts) behind a
// request header v1 or v2 (frame.ts). A SiteWriter notes where each int16, int32 and unsigned
// varint went, so the mutations (kafka-mutate.ts) can forge an array count or a length exactly
// where one is, rather than anywhere.

import zlib from 'node:zlib'
import { KAFKA_APIS } from '../../broker/kafka/apis.js'
import { crc32c } from '../../client/protocol/crc32c.js'
import { kafkaRequestHeader } from '../../client/protocol/kafka/frame.js'
import { inVersions, KafkaWriter, messageCodec, parseVersions, type FieldSpec, type KafkaStruct, type MessageSpec } from '../../client/protocol/kafka/schema.js'
import { CRC_START, encodeBatch } from '../../client/protocol/records.js'
import type { Rng } from '../helpers/random.js'

/** One API at one version of the Kafka listener. */
export interface KafkaTarget {
  apiKey: number
  /** Kafka's name without "Request" (`Produce`), as FuzzInput.api. */
  api: string
  version: number
  /** `Produce v7`. */
  name: string
  request: MessageSpec
  response: MessageSpec
  /** Whether the version is flexible: request header v2, compact encodings, tagged fields. */
  flexible: boolean
}

/** Every (API, version) the listener advertises, in key then version order. */
export const KAFKA_TARGETS: readonly KafkaTarget[] = [...KAFKA_APIS.entries()]
  .sort(([a], [b]) => a - b)
  .flatMap(([apiKey, api]) => {
    const range = parseVersions(api.request.validVersions)
    if (range === null || range.max === Infinity) throw new Error(`${api.request.name} has no closed version range.`)
    const name = api.request.name.replace(/Request$/, '')
    return Array.from({ length: range.max - range.min + 1 }, (_, i) => {
      const version = range.min + i
      return { apiKey, api: name, version, name: `${name} v${version}`, request: api.request, response: api.response, flexible: inVersions(api.request.flexibleVersions, version) }
    })
  })

/** The listener's APIs by name, for the check that each was fuzzed. */
export function kafkaApiNames(): string[] {
  return [...new Set(KAFKA_TARGETS.map((t) => t.api))]
}

export interface KafkaSampleOptions {
  /** Topic names worth aiming at (the healthy client's among them). */
  topics: readonly string[]
  /** Only requests the broker must answer, soon (the verifier's). */
  wellFormed: boolean
  /** Group ids are this prefix and a small number; the verifier gives every request its own. */
  groupPrefix: string
  /** Elements per array, at most; default 3 (0: the smallest request of the version). */
  arrayItemsMax?: number
}

const GROUP_STATES = ['Empty', 'PreparingRebalance', 'CompletingRebalance', 'Stable', 'Dead']
const CONFIG_KEYS = ['retention.ms', 'cleanup.policy', 'min.insync.replicas', 'segment.bytes', 'max.message.bytes', 'unknown.key']
const CONFIG_VALUES = ['1000', 'compact', 'delete', '2', '-1', 'x']
const MECHANISMS = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512', 'GSSAPI', '']
/** Records per generated batch, at most. */
const BATCH_RECORDS_MAX = 5
/** Record timestamps are fixed, not the clock's, so a seed replays the same bytes. */
const RECORD_TIMESTAMP_MS = 1_700_000_000_000

/** Kafka's CRC-32C over a batch's [21, end), written in place: what a Kafka client sends. */
export function stampKafkaCrc(batch: Buffer): Buffer {
  batch.writeUInt32BE(crc32c(batch.subarray(CRC_START)), 17)
  return batch
}

/** A valid Kafka record batch (magic 2, CRC-32C), uncompressed or gzip. */
export function kafkaBatch(rng: Rng): Buffer {
  const records = Array.from({ length: rng.int(1, BATCH_RECORDS_MAX) }, () => ({
    key: rng.bool(0.5) ? rng.string(rng.int(0, 12)) : null,
    value: rng.bytes(rng.int(0, 64)),
    ...(rng.bool(0.2) ? { headers: { h: rng.string(4) } } : {}),
  }))
  return stampKafkaCrc(encodeBatch(records, { timestamp: RECORD_TIMESTAMP_MS, compression: rng.bool(0.8) ? 'none' : 'gzip' }))
}

/** Strand's CRC-32 stamped over a batch, for the mutations that put one back after an edit. */
export function stampStrandCrc(batch: Buffer): Buffer {
  batch.writeUInt32BE(zlib.crc32(batch.subarray(CRC_START)), 17)
  return batch
}

/** A value steered by the field's name, or undefined for the generic one. */
function namedValue(rng: Rng, field: FieldSpec, element: string, parentType: string, nullable: boolean, o: KafkaSampleOptions): unknown {
  const group = (): string => `${o.groupPrefix}${rng.int(0, 3)}`
  const topic = (): string => (rng.bool(0.85) ? rng.pick(o.topics) : `fuzz-${rng.string(rng.int(1, 8))}`)
  switch (field.name) {
    case 'name':
      if (parentType.includes('Config')) return rng.pick(CONFIG_KEYS)
      if (parentType.includes('Protocol')) return rng.pick(['range', 'roundrobin', 'cooperative-sticky'])
      if (parentType.includes('Feature')) return 'metadata.version'
      return topic()
    case 'topic':
    case 'topicNames':
      return topic()
    case 'resourceName':
      return rng.bool(0.7) ? topic() : String(rng.int(1, 3))
    case 'resourceType':
      return rng.pick([2, 4])
    case 'value':
      return nullable && rng.bool(0.1) ? null : rng.pick(CONFIG_VALUES)
    case 'configurationKeys':
      return rng.pick(CONFIG_KEYS)
    case 'groupId':
    case 'key':
    case 'coordinatorKeys':
    case 'groups':
      return element === 'string' ? group() : undefined
    case 'keyType':
      return rng.bool(0.8) ? 0 : 1
    case 'memberId':
      return rng.bool(0.6) ? '' : `fuzz-member-${rng.int(0, 5)}`
    case 'groupInstanceId':
    case 'reason':
    case 'clusterId':
      return nullable && rng.bool(o.wellFormed ? 0.9 : 0.7) ? null : `fuzz-${field.name}-${rng.int(0, 3)}`
    case 'transactionalId':
    case 'v3AndBelowTransactionalId':
      // Null where it may be (a Produce or InitProducerId outside a transaction), else a few ids.
      return nullable && rng.bool(o.wellFormed ? 0.9 : 0.7) ? null : `fuzz-tx-${rng.int(0, 3)}`
    case 'protocolType':
      return 'consumer'
    case 'protocolName':
      return rng.pick(['range', 'roundrobin'])
    case 'acks':
      return rng.pick(o.wellFormed ? [-1, 1] : [-1, 0, 1])
    case 'timeoutMs':
      return rng.int(0, o.wellFormed ? 2000 : 5000)
    case 'transactionTimeoutMs':
      return rng.int(1000, 60_000)
    case 'maxWaitMs':
      return rng.int(0, o.wellFormed ? 100 : 1000)
    case 'minBytes':
      return rng.int(0, o.wellFormed ? 1 : 1024)
    case 'maxBytes':
    case 'partitionMaxBytes':
      return rng.int(1, 1 << 20)
    case 'partition':
    case 'partitionIndex':
    case 'index':
    case 'partitionIndexes':
    case 'partitions':
      return element === 'int32' ? rng.int(0, 3) : undefined
    case 'brokerIds':
      return rng.int(1, 3)
    case 'sessionTimeoutMs':
      return rng.int(1000, 10_000)
    case 'rebalanceTimeoutMs':
      return rng.int(500, 3000)
    case 'replicaId':
      // -1 a consumer, -2 (OffsetForLeaderEpoch's default) a debugging client.
      return rng.pick([-1, -2])
    case 'isolationLevel':
      return rng.int(0, 1)
    case 'sessionId':
      return o.wellFormed ? 0 : rng.pick([0, 0, 1, -1])
    case 'sessionEpoch':
      return o.wellFormed ? -1 : rng.pick([-1, 0, 1])
    case 'fetchOffset':
    case 'committedOffset':
      return BigInt(rng.int(0, 50))
    case 'timestamp':
      return rng.pick([-1n, -2n, -3n, 0n, BigInt(RECORD_TIMESTAMP_MS)])
    case 'logStartOffset':
    case 'retentionTimeMs':
    case 'commitTimestamp':
      return -1n
    case 'producerId':
    case 'v3AndBelowProducerId':
      return rng.bool(0.7) ? -1n : BigInt(rng.int(0, 5))
    case 'currentLeaderEpoch':
    case 'committedLeaderEpoch':
    case 'lastFetchedEpoch':
      return -1
    case 'producerEpoch':
    case 'v3AndBelowProducerEpoch':
      return rng.bool(0.7) ? -1 : rng.int(0, 3)
    case 'leaderEpoch':
      return rng.int(-1, 3)
    case 'generationId':
    case 'generationIdOrMemberEpoch':
      return rng.pick([-1, 0, 1])
    case 'numPartitions':
      return rng.pick([-1, 1, 2, 3])
    case 'replicationFactor':
      return rng.pick([-1, 1, 2, 3])
    case 'assignments':
      // CreateTopics' manual placement (refused) and SyncGroup's assignments share the name.
      return undefined
    case 'statesFilter':
      return rng.pick(GROUP_STATES)
    case 'mechanism':
      return rng.pick(MECHANISMS)
    case 'clientSoftwareName':
      return 'strand-fuzz'
    case 'clientSoftwareVersion':
      return '1.0'
    case 'rackId':
      return ''
    case 'committedMetadata':
      return nullable && rng.bool(0.2) ? null : ''
    default:
      return undefined
  }
}

/** A value of a primitive type with no steer. */
function genericPrimitive(rng: Rng, type: string): unknown {
  switch (type) {
    case 'bool':
      return rng.bool()
    case 'int8':
      return rng.int(-1, 3)
    case 'int16':
    case 'uint16':
      return type === 'uint16' ? rng.int(0, 3) : rng.int(-1, 3)
    case 'int32':
      return rng.pick([-1, 0, 1, 2, rng.int(0, 1000)])
    case 'int64':
      return BigInt(rng.pick([-1, 0, 1, rng.int(0, 1000)]))
    case 'float64':
      return rng.float()
    case 'uuid':
      return rng.bool(0.7) ? Buffer.alloc(16) : rng.bytes(16)
    case 'string':
      return rng.string(rng.int(0, 12))
    case 'bytes':
      return rng.bytes(rng.int(0, 32))
    default:
      throw new Error(`No generic value for ${type}.`)
  }
}

const PRIMITIVES = new Set(['bool', 'int8', 'int16', 'uint16', 'int32', 'int64', 'float64', 'uuid', 'string', 'bytes', 'records'])

function elementValue(rng: Rng, field: FieldSpec, element: string, parentType: string, version: number, o: KafkaSampleOptions): unknown {
  if (!PRIMITIVES.has(element)) return structValue(rng, field.fields ?? [], field.type, version, o)
  if (element === 'records') return Buffer.concat(Array.from({ length: rng.bool(0.8) ? 1 : rng.int(2, 3) }, () => kafkaBatch(rng)))
  // Outside the verifier, a steered field sometimes gets a generic value: the steer is not the spec.
  const nullable = inVersions(field.nullableVersions, version) && !field.type.startsWith('[]')
  const named = o.wellFormed || rng.bool(0.85) ? namedValue(rng, field, element, parentType, nullable, o) : undefined
  return named !== undefined ? named : genericPrimitive(rng, element)
}

function fieldValue(rng: Rng, field: FieldSpec, parentType: string, version: number, o: KafkaSampleOptions): unknown {
  const nullable = inVersions(field.nullableVersions, version)
  const isArray = field.type.startsWith('[]')
  const element = isArray ? field.type.slice(2) : field.type
  if (nullable && element !== 'records' && rng.bool(isArray ? 0.1 : 0.05)) return null
  if (!isArray) return elementValue(rng, field, element, parentType, version, o)
  // CreateTopics' manual assignment is refused whole: rarely, so most creations get through.
  const most = o.arrayItemsMax ?? 3
  const count = field.name === 'assignments' && parentType.includes('Creatable') ? (rng.bool(0.9) ? 0 : Math.min(1, most)) : rng.int(0, most)
  return Array.from({ length: count }, () => elementValue(rng, field, element, field.type, version, o))
}

/** A struct's value at `version`: every field present in it, and now and then its tagged fields. */
function structValue(rng: Rng, fields: readonly FieldSpec[], parentType: string, version: number, o: KafkaSampleOptions): KafkaStruct {
  const out: KafkaStruct = {}
  for (const f of fields) {
    const tagged = f.taggedVersions !== undefined && inVersions(f.taggedVersions, version)
    if (!tagged && !inVersions(f.versions, version)) continue
    if (tagged && rng.bool(0.6)) continue
    out[f.name] = fieldValue(rng, f, parentType, version, o)
  }
  return out
}

/** A request value for `target`, field by field from its spec. */
export function kafkaSample(rng: Rng, target: KafkaTarget, o: KafkaSampleOptions): KafkaStruct {
  const value = structValue(rng, target.request.fields, target.request.name, target.version, o)
  // The verifier wants an answer: a Produce at acks 0 gets none, and a join of a shared group waits for its rebalance.
  if (o.wellFormed && target.apiKey === 0) value.acks = rng.pick([-1, 1])
  return value
}

/** Where the encoder wrote a number that may be a length or a count. */
export interface LengthSite {
  /** Offset in the frame (size prefix included). */
  at: number
  kind: 'int16' | 'int32' | 'uvarint'
  bytes: number
}

/** A KafkaWriter that notes where each int16, int32 and unsigned varint went. */
class SiteWriter extends KafkaWriter {
  readonly sites: LengthSite[] = []
  readonly #base: number

  constructor(base: number) {
    super()
    this.#base = base
  }

  override int16(v: number): void {
    this.sites.push({ at: this.#base + this.length, kind: 'int16', bytes: 2 })
    super.int16(v)
  }

  override int32(v: number): void {
    this.sites.push({ at: this.#base + this.length, kind: 'int32', bytes: 4 })
    super.int32(v)
  }

  override uvarint(v: number): void {
    const at = this.length
    super.uvarint(v)
    this.sites.push({ at: this.#base + at, kind: 'uvarint', bytes: this.length - at })
  }
}

export interface EncodedKafkaRequest {
  frame: Buffer
  /** Where the body starts in the frame. */
  bodyStart: number
  sites: LengthSite[]
}

/** The frame of `value` as `target`: size prefix, request header v1 (v2 when flexible), body. Throws if the value does not encode. */
export function encodeKafkaRequest(target: KafkaTarget, correlationId: number, clientId: string | null, value: KafkaStruct): EncodedKafkaRequest {
  const header = kafkaRequestHeader({ apiKey: target.apiKey, apiVersion: target.version, correlationId, clientId }, target.flexible)
  const w = new SiteWriter(4 + header.length)
  messageCodec(target.request, target.version).encode(w, value)
  const body = w.toBuffer()
  const frame = Buffer.allocUnsafe(4 + header.length + body.length)
  frame.writeInt32BE(header.length + body.length, 0)
  header.copy(frame, 4)
  body.copy(frame, 4 + header.length)
  return { frame, bodyStart: 4 + header.length, sites: w.sites }
}
