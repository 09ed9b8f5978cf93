// The consumer protocol carried inside the group APIs as opaque bytes: a member's subscription
// (JoinGroup `metadata`) and its assignment (SyncGroup `assignment`). Avro, with a version byte in
// front so either side can evolve: a reader rejects a version it does not know with a clear error.
//
//   version uint8 | Avro body

import type avro from 'avsc'
import { array, bytes, compileGuarded, int, nullable, record, string, type Value } from '../protocol/avro.js'
import { StrandProtocolError } from '../protocol/errors.js'

/** `protocolType` of consumer groups in JoinGroup. */
export const CONSUMER_PROTOCOL_TYPE = 'consumer'

const SubscriptionV0 = record('ConsumerSubscriptionV0', {
  topics: array(string),
  /** Partitions the member holds now, so an assignor can keep them where they are. */
  ownedPartitions: array(record('OwnedTopicPartitions', { topic: string, partitions: array(int) })),
  userData: nullable(bytes),
})
const AssignmentV0 = record('ConsumerAssignmentV0', {
  partitions: array(record('AssignedTopicPartitions', { topic: string, partitions: array(int) })),
  userData: nullable(bytes),
})

export type Subscription = Value<typeof SubscriptionV0>
export type Assignment = Value<typeof AssignmentV0>

const VERSION = 0
const SUBSCRIPTION: avro.Type = compileGuarded(SubscriptionV0)
const ASSIGNMENT: avro.Type = compileGuarded(AssignmentV0)

function encode(type: avro.Type, value: unknown): Buffer {
  const body = type.toBuffer(value)
  const out = Buffer.allocUnsafe(1 + body.length)
  out.writeUInt8(VERSION, 0)
  body.copy(out, 1)
  return out
}

function decode<T>(type: avro.Type, buf: Buffer, what: string): T {
  if (buf.length === 0) throw new StrandProtocolError('INCONSISTENT_GROUP_PROTOCOL', `Empty consumer ${what}.`)
  const version = buf.readUInt8(0)
  if (version !== VERSION) throw new StrandProtocolError('INCONSISTENT_GROUP_PROTOCOL', `Consumer ${what} version ${version} is not supported (this client reads ${VERSION}).`)
  try {
    return type.fromBuffer(buf.subarray(1)) as T
  } catch (err) {
    throw new StrandProtocolError('INCONSISTENT_GROUP_PROTOCOL', `Consumer ${what} does not decode: ${(err as Error).message}`)
  }
}

export function encodeSubscription(s: Subscription): Buffer {
  return encode(SUBSCRIPTION, s)
}

export function decodeSubscription(buf: Buffer): Subscription {
  return decode(SUBSCRIPTION, buf, 'subscription')
}

export function encodeAssignment(a: Assignment): Buffer {
  return encode(ASSIGNMENT, a)
}

/** An empty buffer is an empty assignment (a member the leader gave nothing). */
export function decodeAssignment(buf: Buffer): Assignment {
  if (buf.length === 0) return { partitions: [], userData: null }
  return decode(ASSIGNMENT, buf, 'assignment')
}
