// Row schemas: their fingerprints, the schema topic that maps a fingerprint to the full schema,
// and the decoder that reads a row written with one schema through a reader's (newer) schema.
//
// The schema topic `<topic>.schemas` is compacted, one partition; each record is keyed by a
// fingerprint (64 hex digits) and holds that schema's JSON (with defaults, docs and logical types,
// which the fingerprint's canonical form leaves out). Capture registers its schemas there, with
// acks=all, before it publishes any event that names them; so any reader that has an event has,
// below the schema topic's high watermark, that event's schema. A schema is written again by
// every capture that starts with it; compaction keeps one copy. Nothing is ever deleted from it.

import avro from 'avsc'
import type { Strand } from '../index.js'
import type { Consumer } from '../consumer/consumer.js'
import { InvalidArgumentError } from '../errors.js'
import { ChangeEventError, SchemaIncompatibleError, SchemaNotFoundError } from './errors.js'

/**
 * A row schema: an avsc Type, or the Avro JSON schema to compile (with avsc's default options).
 * Any object is accepted at the type level, so a schema literal needs no cast; toType() checks it.
 */
export type RowSchema = avro.Type | avro.Schema | object

/** Maps a writer schema's fingerprint to its type. */
export interface SchemaLookup {
  writerType(fingerprint: string): Promise<avro.Type>
}

/** The schema topic of a CDC topic. */
export function schemaTopicOf(topic: string): string {
  return `${topic}.schemas`
}

export function toType(schema: RowSchema): avro.Type {
  if (avro.Type.isType(schema)) return schema as avro.Type
  try {
    return avro.Type.forSchema(schema as avro.Schema)
  } catch (err) {
    throw new InvalidArgumentError(`Not an Avro schema: ${(err as Error).message}`)
  }
}

/** 64 hex digits: SHA-256 over the schema's canonical form (avsc's), so docs and defaults do not change it. */
export function schemaFingerprint(type: avro.Type): string {
  return type.fingerprint('sha256').toString('hex')
}

/** A type from the JSON of a registered schema, or null when it is not one or does not match its fingerprint. */
function typeFromRegistered(fingerprint: string, json: string): avro.Type | null {
  try {
    const type = avro.Type.forSchema(JSON.parse(json) as avro.Schema)
    return schemaFingerprint(type) === fingerprint ? type : null
  } catch {
    return null
  }
}

/** Schemas held in memory: for tests, and for readers that know every writer schema up front. */
export class MemorySchemaRegistry implements SchemaLookup {
  readonly #types = new Map<string, avro.Type>()

  register(schema: RowSchema): string {
    const type = toType(schema)
    const fingerprint = schemaFingerprint(type)
    this.#types.set(fingerprint, type)
    return fingerprint
  }

  async writerType(fingerprint: string): Promise<avro.Type> {
    const type = this.#types.get(fingerprint)
    if (type === undefined) throw new SchemaNotFoundError(fingerprint, 'the in-memory registry')
    return type
  }
}

/**
 * The schema topic: capture registers schemas, sinks look them up. Lookups of an unknown
 * fingerprint read the topic on from where the last one stopped, up to its high watermark; they
 * share one read at a time.
 */
export class TopicSchemaRegistry implements SchemaLookup {
  readonly topic: string
  readonly #strand: Strand
  /** Schemas read or registered so far, by fingerprint. */
  readonly #types = new Map<string, avro.Type>()
  /** Reads the topic from its start, lazily; positioned after the last record read. */
  #consumer: Consumer | null = null
  /** The offset after the last record read. */
  #readTo = 0n
  /** The read in progress, which concurrent lookups share. */
  #reading: Promise<void> | null = null

  constructor(strand: Strand, topic: string) {
    this.#strand = strand
    this.topic = topic
  }

  /** Writes the schema to the topic (acks=all) unless this registry wrote or read it already; returns its fingerprint. */
  async register(schema: RowSchema): Promise<string> {
    const type = toType(schema)
    const fingerprint = schemaFingerprint(type)
    if (this.#types.has(fingerprint)) return fingerprint
    const producer = this.#strand.producer({ acks: 'all', lingerMs: 0 })
    try {
      await producer.send({ topic: this.topic, messages: [{ key: fingerprint, value: JSON.stringify(type.schema({ exportAttrs: true })), partition: 0 }] })
    } finally {
      await producer.close()
    }
    this.#types.set(fingerprint, type)
    return fingerprint
  }

  async writerType(fingerprint: string): Promise<avro.Type> {
    const known = this.#types.get(fingerprint)
    if (known !== undefined) return known
    this.#reading ??= this.#readNew().finally(() => {
      this.#reading = null
    })
    await this.#reading
    const type = this.#types.get(fingerprint)
    if (type === undefined) throw new SchemaNotFoundError(fingerprint, `topic "${this.topic}" (read up to offset ${this.#readTo})`)
    return type
  }

  async close(): Promise<void> {
    await this.#consumer?.close()
    this.#consumer = null
  }

  /** Reads what was added to the topic since the last read, up to its current high watermark. */
  async #readNew(): Promise<void> {
    const admin = this.#strand.admin()
    let end: bigint
    try {
      end = (await admin.listOffsets({ topic: this.topic, partition: 0, timestamp: 'latest' })).offset
    } finally {
      await admin.close()
    }
    if (end <= this.#readTo) return
    if (this.#consumer === null) {
      this.#consumer = this.#strand.consumer({ maxWaitMs: 100 })
      this.#consumer.assign([{ topic: this.topic, partition: 0, offset: this.#readTo }])
    }
    // The last record below the high watermark is never compacted away (no later record has its
    // key), so the loop reaches `end`; `break` keeps the consumer's position for the next read.
    for await (const batch of this.#consumer) {
      for (const m of batch.messages) {
        const fingerprint = m.key?.toString('utf8') ?? ''
        const type = m.value === null ? null : typeFromRegistered(fingerprint, m.value.toString('utf8'))
        // Anything else in the topic is not ours to interpret; it cannot be a schema an event names.
        if (type !== null) this.#types.set(fingerprint, type)
        this.#readTo = m.offset + 1n
      }
      if (this.#readTo >= end) break
    }
  }
}

/**
 * Decodes rows: with the writer schema alone when the table has no reader schema, else resolved
 * into the reader's (avsc `reader.createResolver(writer)`): fields the writer lacks take the
 * reader's defaults, fields the reader lacks are skipped.
 */
export class RowDecoder {
  readonly #lookup: SchemaLookup
  readonly #readers: ReadonlyMap<string, avro.Type>
  /** `<table>\0<fingerprint>` -> how to read such rows. */
  readonly #cache = new Map<string, (bytes: Buffer) => unknown>()

  constructor(lookup: SchemaLookup, readerSchemas: Readonly<Record<string, RowSchema>> = {}) {
    this.#lookup = lookup
    this.#readers = new Map(Object.entries(readerSchemas).map(([table, s]) => [table, toType(s)]))
  }

  /** The row bytes of `table` written with schema `fingerprint`, as a row of the reader's schema. */
  async decode(table: string, fingerprint: string, bytes: Buffer): Promise<unknown> {
    const key = `${table}\u0000${fingerprint}`
    let read = this.#cache.get(key)
    if (read === undefined) {
      read = this.#reader(table, fingerprint, await this.#lookup.writerType(fingerprint))
      this.#cache.set(key, read)
    }
    try {
      return read(bytes)
    } catch (err) {
      throw new ChangeEventError(`A row of table "${table}" does not decode with schema ${fingerprint}: ${(err as Error).message}.`, { cause: err })
    }
  }

  #reader(table: string, fingerprint: string, writer: avro.Type): (bytes: Buffer) => unknown {
    const reader = this.#readers.get(table)
    if (reader === undefined || schemaFingerprint(reader) === fingerprint) {
      const type = reader ?? writer
      return (bytes) => type.fromBuffer(bytes)
    }
    let resolver: ReturnType<avro.Type['createResolver']>
    try {
      resolver = reader.createResolver(writer)
    } catch (err) {
      throw new SchemaIncompatibleError(table, fingerprint, err)
    }
    return (bytes) => reader.fromBuffer(bytes, resolver)
  }
}
