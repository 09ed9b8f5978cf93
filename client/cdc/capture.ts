// Capture: a source's side of CDC. The source reports each row change with the row's version (its
// row version or log sequence number, increasing with every change of a key); capture publishes it
// as a change event (event.ts) keyed by `<table>:<key>` to a compacted topic, with acks=all and
// an idempotent producer, so an acknowledged change is on every in-sync replica, retries never
// duplicate it, and one key's changes keep the order they were reported in.
//
//   const capture = new ChangeCapture(strand, { topic: 'shop.cdc', tables: { accounts: accountSchema } })
//   await capture.insert('accounts', '17', row, { version: 1n })
//   await capture.update('accounts', '17', row, changed, { version: 2n })
//   await capture.delete('accounts', '17', changed, { version: 3n })
//   await capture.close()
//
// Changes of a key must be reported in version order (concurrent calls are published in call
// order): a sink applies only versions newer than what it holds, so a change reported after a
// newer one of its key is ignored. Retrying a change that failed is always safe, for the same reason.
//
// On first use (or start()) it creates the topic (cleanup.policy=compact) and its schema topic if
// they are missing, and registers each table's row schema before publishing anything that names it.
// An existing topic is used as it is: capture cannot tell whether it is compacted.

import type avro from 'avsc'
import type { Strand } from '../index.js'
import type { Producer, ProducerOptions, RecordMetadata } from '../producer.js'
import { ClosedError, InvalidArgumentError, StrandProtocolError } from '../errors.js'
import { changeRecords, checkKey, checkTable, checkTimestamp, checkVersion, type ChangeOperation } from './event.js'
import { schemaFingerprint, schemaTopicOf, toType, TopicSchemaRegistry, type RowSchema } from './schemas.js'

export interface ChangeCaptureOptions {
  /** The CDC topic. Its schemas go to `<topic>.schemas`. */
  topic: string
  /** Each table's row schema (an avsc Type or its JSON schema). */
  tables: Record<string, RowSchema>
  /** For topics created here; the broker's defaults when absent. */
  partitions?: number
  replicationFactor?: number
  /** More configs of a topic created here (min.insync.replicas, segment.bytes, delete.retention.ms...); cleanup.policy is always compact. */
  configs?: Record<string, string>
  /** Producer options; acks is always 'all'. */
  producer?: Omit<ProducerOptions, 'acks'>
  /** Milliseconds since the epoch, for changes given without a timestamp. Default Date.now. */
  clock?: () => number
}

/** The source's version of the change, and when it happened (default: now). */
export interface ChangeVersion {
  version: bigint | number
  timestamp?: number
}

interface TableState {
  type: avro.Type
  fingerprint: string
}

export class ChangeCapture<Row = unknown> {
  readonly topic: string
  readonly #strand: Strand
  readonly #options: ChangeCaptureOptions
  readonly #tables = new Map<string, TableState>()
  readonly #registry: TopicSchemaRegistry
  readonly #producer: Producer
  readonly #clock: () => number
  /** Topics created and schemas registered; reset after a failure so the next change tries again. */
  #started: Promise<void> | null = null
  #closed = false

  constructor(strand: Strand, options: ChangeCaptureOptions) {
    if (typeof options?.topic !== 'string' || options.topic.length === 0) throw new InvalidArgumentError('ChangeCapture needs { topic }.')
    if (typeof options.tables !== 'object' || options.tables === null || Object.keys(options.tables).length === 0) {
      throw new InvalidArgumentError('ChangeCapture needs { tables: { <table>: <row schema> } } with at least one table.')
    }
    for (const [table, schema] of Object.entries(options.tables)) {
      const type = toType(schema)
      this.#tables.set(checkTable(table), { type, fingerprint: schemaFingerprint(type) })
    }
    this.topic = options.topic
    this.#strand = strand
    this.#options = options
    this.#clock = options.clock ?? Date.now
    this.#registry = new TopicSchemaRegistry(strand, schemaTopicOf(options.topic))
    this.#producer = strand.producer({ ...options.producer, acks: 'all' })
  }

  /** Creates missing topics and registers the row schemas. Called by the first change when not called before. */
  start(): Promise<void> {
    this.#started ??= this.#start().catch((err: unknown) => {
      this.#started = null
      throw err
    })
    return this.#started
  }

  insert(table: string, key: string, row: Row, version: ChangeVersion): Promise<RecordMetadata> {
    return this.#publish('create', table, key, null, row, version)
  }

  /** `before` may be null when the source does not know the old row. */
  update(table: string, key: string, before: Row | null, after: Row, version: ChangeVersion): Promise<RecordMetadata> {
    return this.#publish('update', table, key, before, after, version)
  }

  /** Publishes the DELETE event, then a tombstone for the key; resolves with the event's offset. */
  delete(table: string, key: string, before: Row | null, version: ChangeVersion): Promise<RecordMetadata> {
    return this.#publish('delete', table, key, before, null, version)
  }

  /** Waits until every change accepted so far is acknowledged (or failed). */
  async flush(): Promise<void> {
    await this.#producer.flush()
  }

  /** Flushes, then closes the producer and the schema reader. */
  async close(): Promise<void> {
    this.#closed = true
    try {
      await this.#producer.close()
    } finally {
      await this.#registry.close()
    }
  }

  async #publish(operation: ChangeOperation, table: string, key: string, before: Row | null, after: Row | null, v: ChangeVersion): Promise<RecordMetadata> {
    if (this.#closed) throw new ClosedError('ChangeCapture')
    // Everything is checked and encoded before the first await: a bad change fails alone, and
    // changes reach the producer in call order (they all wait on the same start()).
    const t = this.#tables.get(table)
    if (t === undefined) throw new InvalidArgumentError(`Table "${table}" is not one of this capture's (${[...this.#tables.keys()].join(', ')}).`)
    checkKey(key)
    const version = checkVersion(v?.version)
    const timestamp = v.timestamp === undefined ? this.#clock() : checkTimestamp(v.timestamp)
    const records = changeRecords({
      operation,
      table,
      key,
      before: before === null || before === undefined ? null : encodeRow(t.type, before, `${table}:${key} before`),
      after: after === null ? null : encodeRow(t.type, after, `${table}:${key} after`),
      version,
      timestamp,
      schemaFingerprint: t.fingerprint,
    })
    await this.start()
    const acks = await this.#producer.send({ topic: this.topic, messages: records })
    return acks[0] as RecordMetadata
  }

  async #start(): Promise<void> {
    const admin = this.#strand.admin()
    try {
      const base = { replicationFactor: this.#options.replicationFactor, configs: { ...this.#options.configs, 'cleanup.policy': 'compact' } }
      await createIfMissing(admin, { ...base, topic: this.topic, partitions: this.#options.partitions })
      // One partition: schemas are few, and one partition reads in order from a single offset.
      await createIfMissing(admin, { ...base, topic: this.#registry.topic, partitions: 1 })
    } finally {
      await admin.close()
    }
    for (const t of this.#tables.values()) await this.#registry.register(t.type)
  }
}

function encodeRow(type: avro.Type, row: unknown, what: string): Buffer {
  const bad: string[] = []
  if (!type.isValid(row, { errorHook: (p) => bad.push(p.join('.') || '(the row)') })) {
    throw new InvalidArgumentError(`${what} does not match the table's row schema at ${bad.slice(0, 5).join(', ')}.`)
  }
  return type.toBuffer(row)
}

async function createIfMissing(admin: ReturnType<Strand['admin']>, options: Parameters<ReturnType<Strand['admin']>['createTopic']>[0]): Promise<void> {
  try {
    await admin.createTopic(options)
  } catch (err) {
    if (!(err instanceof StrandProtocolError && err.code === 'TOPIC_ALREADY_EXISTS')) throw err
  }
}
