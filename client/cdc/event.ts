// Change events: the records change data capture puts on a topic, and their codec. Only
// capture.ts writes them and sink.ts reads them; this file is the format.
//
// One change to one row is one record, keyed `<table>:<key>`: a row's changes share a partition
// and keep their order, and compaction keeps each row's latest. The value is
//
//   magic int8 (= 1: envelope v1) | ChangeEventV1, Avro binary:
//     operation  enum { CREATE, UPDATE, DELETE }
//     table      string                 the source table
//     key        string                 the row's primary key
//     before     union { null, bytes }  the row before the change (UPDATE, DELETE), row-schema Avro
//     after      union { null, bytes }  the row after it (CREATE, UPDATE), row-schema Avro
//     version    long                   the source's version of the row (its LSN): increases per key
//     timestamp  long                   ms since the epoch, when the source made the change
//
// with the header `strand.schema`: the hex SHA-256 fingerprint of the row's writer schema (avsc
// `fingerprint('sha256')`, over its canonical form), whose full text is in the compacted topic
// `<topic>.schemas` (schemas.ts). A reader resolves the writer schema against its own, so a newer
// reader reads older events.
//
// A delete is two records: the DELETE event (with `before`, for consumers that want the old row),
// then a tombstone (null value) for the key, so compaction eventually drops the row altogether. The
// tombstone carries the delete's version and timestamp as headers `strand.cdc.version` and
// `strand.cdc.timestamp` (decimal strings): once compaction has removed the DELETE event, the
// tombstone alone still deletes with the right version.
//
// Why rows are nested as bytes rather than inlined into one envelope schema: the envelope is
// Strand's, frozen per magic byte (a new layout gets a new magic, never an edit), and compiled once
// with int64 versions as bigint; the row schema is the user's, evolves on its own, and decodes with
// the user's avsc options. Kept apart, neither constrains the other, and the schema topic holds
// only row schemas.

import avro from 'avsc'
import { BigIntLong } from '../protocol/avro.js'
import type { RecordHeader } from '../protocol/records.js'
import { InvalidArgumentError } from '../errors.js'
import { ChangeEventError } from './errors.js'

/** The envelope layout this code writes; a reader refuses magics it does not know. */
export const ENVELOPE_MAGIC_V1 = 1
/** Header: the row writer schema's fingerprint (64 hex digits). */
export const SCHEMA_HEADER = 'strand.schema'
/** Headers of a delete's tombstone: its version and timestamp, decimal. */
export const TOMBSTONE_VERSION_HEADER = 'strand.cdc.version'
export const TOMBSTONE_TIMESTAMP_HEADER = 'strand.cdc.timestamp'
/** Table names are topic-name characters, so `<table>:<key>` splits at the first ':'. */
const TABLE_NAME_PATTERN = /^[a-zA-Z0-9._-]+$/
/** A table name's bound: a topic name's (a table often has a topic of its own). */
export const TABLE_CHARS_MAX = 249
/** A primary key's bound, in UTF-16 units: keys are record keys, read and hashed by every client. */
export const KEY_CHARS_MAX = 4096
/** Versions are int64 on the wire. */
const VERSION_MAX = 2n ** 63n - 1n

export type ChangeOperation = 'create' | 'update' | 'delete'

/** A change to one row. `Row` is the decoded row (a record of the row schema), or its bytes. */
export interface ChangeEvent<Row = unknown> {
  operation: ChangeOperation
  /** The source table. */
  table: string
  /** The row's primary key. */
  key: string
  /** The row before the change; null for create (and when the source does not know it). */
  before: Row | null
  /** The row after the change; null for delete. */
  after: Row | null
  /** The source's version of the row (its row version or LSN): increases with every change of a key. */
  version: bigint
  /** When the source made the change, ms since the epoch; breaks ties between equal versions. */
  timestamp: number
}

/** An event as it travels: rows as row-schema Avro bytes, and the fingerprint of that schema. */
export interface EncodedChangeEvent extends ChangeEvent<Buffer> {
  schemaFingerprint: string
}

/** What a record of a CDC topic is: an event, or a tombstone deleting a key. */
export type ChangeRecord =
  | { kind: 'event'; event: EncodedChangeEvent }
  | { kind: 'tombstone'; table: string; key: string; version: bigint | null; timestamp: number | null }

const OPERATION_SYMBOLS = ['CREATE', 'UPDATE', 'DELETE'] as const

const ENVELOPE_V1 = avro.Type.forSchema(
  {
    type: 'record',
    name: 'ChangeEventV1',
    namespace: 'strand.cdc',
    fields: [
      { name: 'operation', type: { type: 'enum', name: 'Operation', symbols: [...OPERATION_SYMBOLS] } },
      { name: 'table', type: 'string' },
      { name: 'key', type: 'string' },
      { name: 'before', type: ['null', 'bytes'] },
      { name: 'after', type: ['null', 'bytes'] },
      { name: 'version', type: 'long' },
      { name: 'timestamp', type: 'long' },
    ],
  },
  { registry: { long: BigIntLong } } as Partial<avro.ForSchemaOptions>,
)

interface EnvelopeV1 {
  operation: (typeof OPERATION_SYMBOLS)[number]
  table: string
  key: string
  before: Buffer | null
  after: Buffer | null
  version: bigint
  timestamp: bigint
}

export function checkTable(table: unknown): string {
  if (typeof table !== 'string' || table.length === 0 || table.length > TABLE_CHARS_MAX || !TABLE_NAME_PATTERN.test(table)) {
    throw new InvalidArgumentError(`A table name is 1 to ${TABLE_CHARS_MAX} of the characters a-z A-Z 0-9 . _ -, got ${JSON.stringify(table)}.`)
  }
  return table
}

export function checkKey(key: unknown): string {
  if (typeof key !== 'string' || key.length === 0 || key.length > KEY_CHARS_MAX) {
    throw new InvalidArgumentError(`A primary key is a string of 1 to ${KEY_CHARS_MAX} characters, got ${JSON.stringify(key)?.slice(0, 80)}.`)
  }
  return key
}

export function checkVersion(version: unknown): bigint {
  const v = typeof version === 'number' && Number.isSafeInteger(version) ? BigInt(version) : version
  if (typeof v !== 'bigint' || v < 0n || v > VERSION_MAX) throw new InvalidArgumentError(`A version is an integer in 0..2^63-1 (bigint or safe number), got ${String(version)}.`)
  return v
}

export function checkTimestamp(timestamp: unknown): number {
  if (typeof timestamp !== 'number' || !Number.isSafeInteger(timestamp) || timestamp < 0) {
    throw new InvalidArgumentError(`A timestamp is an integer number of ms since the epoch, got ${String(timestamp)}.`)
  }
  return timestamp
}

/** The record key of a row: `<table>:<key>`. */
export function recordKey(table: string, key: string): string {
  return `${checkTable(table)}:${checkKey(key)}`
}

/** The table and primary key of a record key; throws ChangeEventError when it is not `<table>:<key>`. */
export function parseRecordKey(key: Buffer | null): { table: string; key: string } {
  if (key === null) throw new ChangeEventError('A record without a key is not a change event.')
  const s = key.toString('utf8')
  const colon = s.indexOf(':')
  const table = s.slice(0, colon)
  if (colon <= 0 || colon === s.length - 1 || !TABLE_NAME_PATTERN.test(table)) {
    throw new ChangeEventError(`Record key ${JSON.stringify(s.slice(0, 80))} is not "<table>:<key>".`)
  }
  return { table, key: s.slice(colon + 1) }
}

/** The value of an event record: magic byte, then the v1 envelope. */
export function encodeEnvelope(e: ChangeEvent<Buffer>): Buffer {
  const envelope: EnvelopeV1 = {
    operation: e.operation.toUpperCase() as EnvelopeV1['operation'],
    table: checkTable(e.table),
    key: checkKey(e.key),
    before: e.before,
    after: e.after,
    version: checkVersion(e.version),
    timestamp: BigInt(checkTimestamp(e.timestamp)),
  }
  if (!OPERATION_SYMBOLS.includes(envelope.operation)) throw new InvalidArgumentError(`Unknown operation ${JSON.stringify(e.operation)}.`)
  return Buffer.concat([Buffer.from([ENVELOPE_MAGIC_V1]), ENVELOPE_V1.toBuffer(envelope)])
}

/** Decodes an event record's value; throws ChangeEventError on anything that is not an envelope this code knows. */
export function decodeEnvelope(value: Buffer): ChangeEvent<Buffer> {
  const magic = value[0]
  if (magic !== ENVELOPE_MAGIC_V1) throw new ChangeEventError(`Unknown change event envelope (magic byte ${magic ?? 'missing'}).`)
  let e: EnvelopeV1
  try {
    e = ENVELOPE_V1.fromBuffer(value.subarray(1)) as EnvelopeV1
  } catch (err) {
    throw new ChangeEventError(`A change event does not decode: ${(err as Error).message}.`, { cause: err })
  }
  const timestamp = Number(e.timestamp)
  if (!Number.isSafeInteger(timestamp) || timestamp < 0 || e.version < 0n) throw new ChangeEventError(`A change event has version ${e.version} and timestamp ${e.timestamp}.`)
  return { operation: e.operation.toLowerCase() as ChangeOperation, table: e.table, key: e.key, before: e.before, after: e.after, version: e.version, timestamp }
}

/** The records of an event: the event, and for a delete its tombstone right after it. */
export function changeRecords(e: EncodedChangeEvent): Array<{ key: string; value: Buffer | null; headers: RecordHeader[]; timestamp: number }> {
  const key = recordKey(e.table, e.key)
  const event = { key, value: encodeEnvelope(e), headers: [{ key: SCHEMA_HEADER, value: Buffer.from(e.schemaFingerprint) }], timestamp: e.timestamp }
  if (e.operation !== 'delete') return [event]
  const headers = [
    { key: TOMBSTONE_VERSION_HEADER, value: Buffer.from(e.version.toString()) },
    { key: TOMBSTONE_TIMESTAMP_HEADER, value: Buffer.from(String(e.timestamp)) },
  ]
  return [event, { key, value: null, headers, timestamp: e.timestamp }]
}

function header(headers: readonly RecordHeader[], name: string): string | null {
  // The last one wins, as Kafka's Headers.lastHeader.
  for (let i = headers.length - 1; i >= 0; i--) {
    const h = headers[i] as RecordHeader
    if (h.key === name) return h.value === null ? null : h.value.toString('utf8')
  }
  return null
}

/**
 * What a consumed record of a CDC topic is. A tombstone without version headers (written by
 * something other than capture) has version and timestamp null: sink.ts deletes with the version it holds.
 */
export function decodeChangeRecord(m: { key: Buffer | null; value: Buffer | null; headers: readonly RecordHeader[] }): ChangeRecord {
  const { table, key } = parseRecordKey(m.key)
  if (m.value === null) {
    const v = header(m.headers, TOMBSTONE_VERSION_HEADER)
    const ts = header(m.headers, TOMBSTONE_TIMESTAMP_HEADER)
    if (v === null) return { kind: 'tombstone', table, key, version: null, timestamp: null }
    if (!/^\d{1,19}$/.test(v) || ts === null || !/^\d{1,16}$/.test(ts)) throw new ChangeEventError(`Tombstone of ${table}:${key} has bad headers (version ${v}, timestamp ${ts}).`)
    return { kind: 'tombstone', table, key, version: BigInt(v), timestamp: Number(ts) }
  }
  const e = decodeEnvelope(m.value)
  if (e.table !== table || e.key !== key) throw new ChangeEventError(`Record key ${table}:${key} does not match its event's ${e.table}:${e.key}.`)
  const fingerprint = header(m.headers, SCHEMA_HEADER)
  if (fingerprint === null || !/^[0-9a-f]{64}$/.test(fingerprint)) throw new ChangeEventError(`Change event of ${table}:${key} has no valid ${SCHEMA_HEADER} header.`)
  return { kind: 'event', event: { ...e, schemaFingerprint: fingerprint } }
}
