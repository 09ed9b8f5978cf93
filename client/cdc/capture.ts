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
//
// Source transactions (the transactionalId option): one source transaction is one Strand
// transaction (KIP-98), so a read_committed sink (sink.ts's default) applies all of its changes or
// none, whichever tables (hence partitions) they touch:
//
//   const capture = new ChangeCapture(strand, { topic: 'bank.cdc', tables, transactionalId: 'bank-source' })
//   await capture.transaction(async (tx) => {
//     await tx.update('accounts', 'a', a, { ...a, balance: a.balance - 10 }, { version: 8n })
//     await tx.update('accounts', 'b', b, { ...b, balance: b.balance + 10 }, { version: 5n })
//     await tx.insert('ledger', 't-91', entry, { version: 1n })
//   })
//
// - Committed when the callback resolves and each of its changes is acknowledged (a change the
//   callback started without awaiting it is waited for); aborted when the callback throws or one of
//   its changes failed (a change refused by its checks too, even one the callback caught: the
//   rest would be part of a source transaction), and that error is rethrown. A DELETE's
//   tombstone is in its transaction.
// - start() runs before the first transaction begins: topics are created and schemas registered
//   outside any data transaction (the schema topic has a producer of its own, and a schema must be
//   readable whether or not the transaction that first names it commits), and then InitProducerId
//   fences any earlier capture with the same transactionalId and aborts its open transaction. A
//   source restarted after a crash should use the same id: its predecessor's half-published
//   transaction is aborted at once rather than when transactionTimeoutMs runs out.
// - A fenced capture fails every later call with PRODUCER_FENCED (a newer instance owns the id).
// - insert/update/delete called on the capture itself, outside transaction(), are each a
//   transaction of their own (the source's autocommit), committed before they resolve. Refusing
//   them would leave a transactional capture unable to publish a source's single-statement
//   transactions; the price is a commit per change, so group changes with transaction().
// - Transactions, and those single changes, run one at a time in call order (a producer has one
//   open transaction at a time, and call order is the source's commit order). Inside a callback,
//   publish with `tx`: the capture's own methods there would wait for the very transaction they
//   are called from, so they are refused with ILLEGAL_STATE instead of hanging.

import { AsyncLocalStorage } from 'node:async_hooks'
import type avro from 'avsc'
import type { Strand } from '../index.js'
import type { Producer, ProducerOptions, RecordMetadata } from '../producer.js'
import { ClosedError, IllegalStateError, InvalidArgumentError, StrandProtocolError } from '../errors.js'
import { changeRecords, checkKey, checkTable, checkTimestamp, checkVersion, type ChangeOperation } from './event.js'
import { schemaFingerprint, schemaTopicOf, toType, TopicSchemaRegistry, type RowSchema } from './schemas.js'

/**
 * Transactions (and single changes of a transactional capture) called and not finished yet, at
 * most. Each waits its turn holding its callback or encoded change; a source that awaits its
 * transactions has one. The bound turns a source that publishes without awaiting into an error
 * rather than memory growing without limit.
 */
export const TRANSACTIONS_WAITING_MAX = 1024

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
  /** Producer options; acks is always 'all', and transactions are set by the options below. */
  producer?: Omit<ProducerOptions, 'acks' | 'transactionalId' | 'transactionTimeoutMs'>
  /**
   * Publishes source transactions as Strand transactions (see the header): transaction() commits
   * a source transaction's changes atomically, and a capture started with the same id fences this one.
   */
  transactionalId?: string
  /** How long a transaction may stay open before the coordinator aborts it; default 60000. Needs transactionalId. */
  transactionTimeoutMs?: number
  /** Milliseconds since the epoch, for changes given without a timestamp. Default Date.now. */
  clock?: () => number
}

/** The source's version of the change, and when it happened (default: now). */
export interface ChangeVersion {
  version: bigint | number
  timestamp?: number
}

/** What a transaction() callback publishes with: its changes belong to the transaction. */
export interface ChangeTransaction<Row = unknown> {
  insert(table: string, key: string, row: Row, version: ChangeVersion): Promise<RecordMetadata>
  /** `before` may be null when the source does not know the old row. */
  update(table: string, key: string, before: Row | null, after: Row, version: ChangeVersion): Promise<RecordMetadata>
  /** Publishes the DELETE event, then a tombstone for the key, both in the transaction. */
  delete(table: string, key: string, before: Row | null, version: ChangeVersion): Promise<RecordMetadata>
}

interface TableState {
  type: avro.Type
  fingerprint: string
}

type ChangeRecords = ReturnType<typeof changeRecords>

/** The transaction a callback runs in: its sends, and whether the callback has finished. */
interface OpenTransaction {
  /** Every change sent in it, each already given a handler (failures surface through the transaction). */
  sends: Array<Promise<RecordMetadata>>
  /** The callback returned or threw: later changes are not part of the transaction. */
  ended: boolean
}

export class ChangeCapture<Row = unknown> {
  readonly topic: string
  readonly #strand: Strand
  readonly #options: ChangeCaptureOptions
  readonly #tables = new Map<string, TableState>()
  readonly #registry: TopicSchemaRegistry
  readonly #producer: Producer
  readonly #clock: () => number
  /** The option, or null for a capture that publishes each change on its own. */
  readonly #transactionalId: string | null
  /** Topics created and schemas registered; reset after a failure so the next change tries again. */
  #started: Promise<void> | null = null
  #closed = false
  /** The end of the chain transactions run in, one after another; never rejects. */
  #queue: Promise<void> = Promise.resolve()
  /** Transactions called and not finished (TRANSACTIONS_WAITING_MAX). */
  #waiting = 0
  /** The transaction whose callback the current async context runs in, if any: nesting is refused. */
  readonly #inCallback = new AsyncLocalStorage<OpenTransaction>()

  constructor(strand: Strand, options: ChangeCaptureOptions) {
    if (typeof options?.topic !== 'string' || options.topic.length === 0) throw new InvalidArgumentError('ChangeCapture needs { topic }.')
    if (typeof options.tables !== 'object' || options.tables === null || Object.keys(options.tables).length === 0) {
      throw new InvalidArgumentError('ChangeCapture needs { tables: { <table>: <row schema> } } with at least one table.')
    }
    for (const [table, schema] of Object.entries(options.tables)) {
      const type = toType(schema)
      this.#tables.set(checkTable(table), { type, fingerprint: schemaFingerprint(type) })
    }
    this.#transactionalId = checkTransactionOptions(options)
    this.topic = options.topic
    this.#strand = strand
    this.#options = options
    this.#clock = options.clock ?? Date.now
    this.#registry = new TopicSchemaRegistry(strand, schemaTopicOf(options.topic))
    const transactional = this.#transactionalId === null ? {} : { transactionalId: this.#transactionalId, transactionTimeoutMs: options.transactionTimeoutMs }
    this.#producer = strand.producer({ ...options.producer, acks: 'all', ...transactional })
  }

  /**
   * Creates missing topics and registers the row schemas; with a transactionalId, then fences any
   * earlier capture with that id. Called by the first change when not called before.
   */
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

  /**
   * Publishes one source transaction's changes as one Strand transaction (needs transactionalId):
   * committed when `fn` resolves (with its result), aborted when it throws (its error rethrown).
   */
  async transaction<T>(fn: (tx: ChangeTransaction<Row>) => Promise<T>): Promise<T> {
    if (this.#closed) throw new ClosedError('ChangeCapture')
    if (this.#transactionalId === null) throw new IllegalStateError('ChangeCapture.transaction() needs a transactional capture: new ChangeCapture(strand, { ..., transactionalId }).')
    if (typeof fn !== 'function') throw new InvalidArgumentError('ChangeCapture.transaction() takes a function: capture.transaction(async (tx) => { await tx.insert(...) }).')
    return this.#enqueue(fn)
  }

  /** Waits until every change accepted so far is acknowledged (or failed). */
  async flush(): Promise<void> {
    await this.#producer.flush()
  }

  /** Waits for the transactions already called, flushes, then closes the producer and the schema reader. */
  async close(): Promise<void> {
    this.#closed = true
    try {
      await this.#queue
      await this.#producer.close()
    } finally {
      await this.#registry.close()
    }
  }

  async #publish(operation: ChangeOperation, table: string, key: string, before: Row | null, after: Row | null, v: ChangeVersion): Promise<RecordMetadata> {
    if (this.#closed) throw new ClosedError('ChangeCapture')
    // Everything is checked and encoded before the first await: a bad change fails alone, and
    // changes reach the producer in call order (they all wait on the same start()).
    const records = this.#encode(operation, table, key, before, after, v)
    if (this.#transactionalId !== null) return this.#enqueue(() => this.#send(records))
    await this.start()
    return this.#send(records)
  }

  #encode(operation: ChangeOperation, table: string, key: string, before: Row | null, after: Row | null, v: ChangeVersion): ChangeRecords {
    const t = this.#tables.get(table)
    if (t === undefined) throw new InvalidArgumentError(`Table "${table}" is not one of this capture's (${[...this.#tables.keys()].join(', ')}).`)
    checkKey(key)
    const version = checkVersion(v?.version)
    const timestamp = v.timestamp === undefined ? this.#clock() : checkTimestamp(v.timestamp)
    return changeRecords({
      operation,
      table,
      key,
      before: before === null || before === undefined ? null : encodeRow(t.type, before, `${table}:${key} before`),
      after: after === null ? null : encodeRow(t.type, after, `${table}:${key} after`),
      version,
      timestamp,
      schemaFingerprint: t.fingerprint,
    })
  }

  async #send(records: ChangeRecords): Promise<RecordMetadata> {
    const acks = await this.#producer.send({ topic: this.topic, messages: records })
    return acks[0] as RecordMetadata
  }

  /** Runs `body` in a transaction of its own once every transaction called before it has ended. */
  #enqueue<T>(body: (tx: ChangeTransaction<Row>) => Promise<T>): Promise<T> {
    const outer = this.#inCallback.getStore()
    if (outer !== undefined && !outer.ended) {
      return Promise.reject(new IllegalStateError('Inside a transaction() callback, publish with its tx (tx.insert/update/delete): the capture\'s own methods would wait for the transaction they are called from.'))
    }
    if (this.#waiting >= TRANSACTIONS_WAITING_MAX) {
      return Promise.reject(new IllegalStateError(`${TRANSACTIONS_WAITING_MAX} transactions of this capture are waiting already: await them before publishing more.`))
    }
    this.#waiting++
    const turn = this.#queue.then(() => this.#run(body)).finally(() => this.#waiting--)
    this.#queue = turn.then(
      () => undefined,
      () => undefined,
    )
    return turn
  }

  async #run<T>(body: (tx: ChangeTransaction<Row>) => Promise<T>): Promise<T> {
    // Topics, schemas and InitProducerId before the transaction begins (see the header).
    await this.start()
    return this.#producer.transaction(async () => {
      const open: OpenTransaction = { sends: [], ended: false }
      let result: T
      try {
        result = await this.#inCallback.run(open, () => body(this.#scope(open)))
      } finally {
        open.ended = true
      }
      // A change the callback did not await is still part of the transaction; one that failed
      // aborts it (the producer would refuse to commit anyway), with that change's error.
      for (const outcome of await Promise.allSettled(open.sends)) if (outcome.status === 'rejected') throw outcome.reason
      return result
    })
  }

  /** The callback's view: each change is checked, then sent at once inside the open transaction. */
  #scope(open: OpenTransaction): ChangeTransaction<Row> {
    const change = (operation: ChangeOperation, table: string, key: string, before: Row | null, after: Row | null, v: ChangeVersion): Promise<RecordMetadata> => {
      if (open.ended) return Promise.reject(new IllegalStateError('This transaction has ended (its callback returned): a change after that is not part of it.'))
      let sent: Promise<RecordMetadata>
      try {
        sent = this.#send(this.#encode(operation, table, key, before, after, v))
      } catch (err) {
        // A bad change is never sent, but it still fails its transaction, even if the callback
        // catches it: committing the other changes would publish part of a source transaction.
        sent = Promise.reject(err)
      }
      // Handled here, so an unawaited change's failure is not an unhandled rejection: it surfaces
      // as the transaction's error instead.
      sent.catch(() => undefined)
      open.sends.push(sent)
      return sent
    }
    return {
      insert: (table, key, row, version) => change('create', table, key, null, row, version),
      update: (table, key, before, after, version) => change('update', table, key, before, after, version),
      delete: (table, key, before, version) => change('delete', table, key, before, null, version),
    }
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
    if (this.#transactionalId !== null) await this.#producer.initTransactions()
  }
}

/** The transactionalId option (null without one), checked with its companions. */
function checkTransactionOptions(options: ChangeCaptureOptions): string | null {
  const producer = (options.producer ?? {}) as ProducerOptions
  if (producer.transactionalId !== undefined || producer.transactionTimeoutMs !== undefined) {
    throw new InvalidArgumentError('Set transactionalId and transactionTimeoutMs on the ChangeCapture options, not on its producer options: the capture runs the transactions.')
  }
  const id = options.transactionalId
  if (id === undefined) {
    if (options.transactionTimeoutMs !== undefined) throw new InvalidArgumentError('transactionTimeoutMs needs transactionalId: only a transactional capture has transactions.')
    return null
  }
  if (typeof id !== 'string' || id.length === 0) throw new InvalidArgumentError(`transactionalId must be a non-empty string, got ${JSON.stringify(id)}.`)
  const timeoutMs = options.transactionTimeoutMs
  if (timeoutMs !== undefined && (!Number.isInteger(timeoutMs) || timeoutMs <= 0)) throw new InvalidArgumentError(`transactionTimeoutMs must be a positive integer, got ${timeoutMs}.`)
  return id
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
