// The consumer protocol carried inside the group APIs as opaque bytes: a member's subscription
// (JoinGroup `metadata`) and its assignment (SyncGroup `assignment`). It is Kafka's own
// (client/protocol/kafka/messages/consumer-protocol.ts), so Strand consumers and Kafka clients
// (librdkafka, Java, ...) can share a group, whichever of them leads:
//
//   version int16 | the message at that version, classic encoding (int16 strings, int32 arrays)
//
// Versions written:
// - Subscription v1 (topics, userData, ownedPartitions). Every reader in the wild reads it: Java
//   clients from 2.4 and librdkafka from 1.6 read each v1 field; older ones (Java 0.9-2.3,
//   librdkafka up to 1.5) read the v0 prefix of any version and ignore the rest (Kafka's rule: a
//   newer version only appends fields). It is also what librdkafka 1.6-2.1 (Debian's kcat has
//   2.0.2) and Java 2.4-3.3 write, so it is the shape every leader has been run with. v2's
//   generationId and v3's rackId (written by Java 3.4+ and librdkafka 2.2+) would be read too, but
//   this client has no value for either (it is eager, not cooperative, and not rack-aware): they
//   would only carry the defaults -1 and null.
// - Assignment v1. Every assignment version has the same fields, and every reader reads any of
//   them (librdkafka ignores the version). v1 matches the subscription we write and is what Java
//   2.4-3.3 write (Java 3.4+ write v3, librdkafka v0).
// A null userData is written as -1, as Java (0.10+) writes it and the schema declares it nullable;
// only Kafka 0.9.0's Java client could not read that (librdkafka writes empty bytes for it).
//
// Versions read: 0-3, and a higher version as 3, ignoring bytes after the fields 3 has, as
// Kafka's ConsumerProtocol does. A body that does not decode is INCONSISTENT_GROUP_PROTOCOL.
//
// Strand's earlier format (a uint8 version and an Avro body) is gone, not read: no release
// shipped it, so no member can send it.

import { StrandProtocolError } from '../protocol/errors.js'
import { consumerProtocolAssignment, consumerProtocolSubscription } from '../protocol/kafka/messages/consumer-protocol.js'
import { KafkaWriter, messageCodec, parseVersions, type KafkaStruct, type MessageSpec } from '../protocol/kafka/schema.js'

/** `protocolType` of consumer groups in JoinGroup. */
export const CONSUMER_PROTOCOL_TYPE = 'consumer'

/** Why these two versions: see the header. */
export const SUBSCRIPTION_VERSION_WRITTEN = 1
export const ASSIGNMENT_VERSION_WRITTEN = 1

/** The two bytes of the version prefix. */
const VERSION_BYTES = 2
/** What every INCONSISTENT_GROUP_PROTOCOL message starts with, cut from a wrapped error's. */
const MESSAGE_PREFIX = `${new StrandProtocolError('INCONSISTENT_GROUP_PROTOCOL').message} `

export interface TopicPartitions {
  topic: string
  partitions: number[]
}

export interface Subscription {
  topics: string[]
  /** Partitions the member holds now, so an assignor can keep them where they are. */
  ownedPartitions: TopicPartitions[]
  /** The assignor's own bytes; a view into the buffer decoded, not a copy. */
  userData: Buffer | null
}

export interface Assignment {
  partitions: TopicPartitions[]
  /** The assignor's own bytes; a view into the buffer decoded, not a copy. */
  userData: Buffer | null
}

function versionMax(spec: MessageSpec): number {
  const range = parseVersions(spec.validVersions)
  if (range === null || !Number.isFinite(range.max)) throw new Error(`${spec.name} must declare a bounded version range.`)
  return range.max
}

const SUBSCRIPTION_VERSION_MAX = versionMax(consumerProtocolSubscription)
const ASSIGNMENT_VERSION_MAX = versionMax(consumerProtocolAssignment)

function encode(spec: MessageSpec, version: number, value: KafkaStruct): Buffer {
  const w = new KafkaWriter()
  w.int16(version)
  messageCodec(spec, version).encode(w, value)
  return w.toBuffer()
}

/** The version prefix and the body decoded at min(version, the highest we know). */
function decode(spec: MessageSpec, versionMaxKnown: number, buf: Buffer, what: string): KafkaStruct {
  if (buf.length < VERSION_BYTES) throw new StrandProtocolError('INCONSISTENT_GROUP_PROTOCOL', `Consumer ${what} of ${buf.length} bytes has no version.`)
  const version = buf.readInt16BE(0)
  if (version < 0) throw new StrandProtocolError('INCONSISTENT_GROUP_PROTOCOL', `Consumer ${what} version ${version} is not a version.`)
  const readAs = Math.min(version, versionMaxKnown)
  try {
    return messageCodec(spec, readAs).decode(buf, VERSION_BYTES, 'INCONSISTENT_GROUP_PROTOCOL')
  } catch (err) {
    // The codec's reader throws StrandProtocolError on malformed input; anything else is a bug.
    if (!(err instanceof StrandProtocolError)) throw err
    const detail = err.message.startsWith(MESSAGE_PREFIX) ? err.message.slice(MESSAGE_PREFIX.length) : err.message
    throw new StrandProtocolError('INCONSISTENT_GROUP_PROTOCOL', `Consumer ${what} version ${version} (read as ${readAs}) does not decode: ${detail}`, err)
  }
}

function topicPartitions(value: unknown): TopicPartitions[] {
  return (value as KafkaStruct[]).map((tp) => ({ topic: tp.topic as string, partitions: tp.partitions as number[] }))
}

export function encodeSubscription(s: Subscription): Buffer {
  return encode(consumerProtocolSubscription, SUBSCRIPTION_VERSION_WRITTEN, { topics: s.topics, userData: s.userData, ownedPartitions: s.ownedPartitions })
}

export function decodeSubscription(buf: Buffer): Subscription {
  const v = decode(consumerProtocolSubscription, SUBSCRIPTION_VERSION_MAX, buf, 'subscription')
  return { topics: v.topics as string[], ownedPartitions: topicPartitions(v.ownedPartitions), userData: v.userData as Buffer | null }
}

export function encodeAssignment(a: Assignment): Buffer {
  return encode(consumerProtocolAssignment, ASSIGNMENT_VERSION_WRITTEN, { assignedPartitions: a.partitions, userData: a.userData })
}

/** An empty buffer is an empty assignment (a member the leader gave nothing), as in Kafka's clients. */
export function decodeAssignment(buf: Buffer): Assignment {
  if (buf.length === 0) return { partitions: [], userData: null }
  const v = decode(consumerProtocolAssignment, ASSIGNMENT_VERSION_MAX, buf, 'assignment')
  return { partitions: topicPartitions(v.assignedPartitions), userData: v.userData as Buffer | null }
}
