// Strand's public API: the Strand client, its producer, consumer and admin client, their types,
// the error classes, and change data capture (cdc/index.ts). Nothing else is exported: the rest
// of client/ may change freely.
//
//   const strand = new Strand({ brokers: ['127.0.0.1:9092'], clientId: 'orders-app' })
//   const producer = strand.producer({ acks: 'all' })
//   await producer.send({ topic: 'orders', messages: [{ key: 'k1', value: 'v1' }] })
//   await strand.close()
//
// Each producer, consumer and admin client has its own connections and metadata (see
// cluster.ts for why); the Strand object holds the shared options and closes them all.

import { Admin } from './admin.js'
import { Cluster, parseBrokerAddress, type RetryOptions } from './cluster.js'
import { Consumer, type ConsumerOptions } from './consumer/consumer.js'
import { ClosedError, InvalidArgumentError } from './errors.js'
import type { CoordinatorConnectionOptions } from './group/coordinator.js'
import { Producer, type ProducerOptions } from './producer.js'
import { SASL_MECHANISMS, type SaslOptions, type SecurityOptions, type TlsOptions } from './net/security.js'

export interface StrandOptions {
  /** Bootstrap brokers, 'host:port' each; the rest of the cluster is learnt from metadata. */
  brokers: string[]
  clientId?: string
  /** How long a request may wait for its response (Produce and Fetch add their own wait to it). */
  requestTimeoutMs?: number
  connectTimeoutMs?: number
  /** Requests in flight per connection (Kafka's max.in.flight.requests.per.connection). */
  inflightRequestsMax?: number
  /** Cached metadata older than this is refreshed before use. */
  metadataMaxAgeMs?: number
  retry?: Partial<RetryOptions>
  /** Milliseconds since the epoch; injected by tests. Default Date.now. */
  clock?: () => number
  /** Connect with TLS: PEM `ca` (the brokers' CA), and `cert` + `key` where brokers require client certificates. */
  tls?: TlsOptions
  /** Authenticate every connection with SASL (PLAIN or SCRAM-SHA-256). */
  sasl?: SaslOptions
}

const DEFAULTS = {
  clientId: 'strand',
  requestTimeoutMs: 30_000,
  connectTimeoutMs: 10_000,
  inflightRequestsMax: 5,
  // Kafka's metadata.max.age.ms.
  metadataMaxAgeMs: 300_000,
  // About 13 s of retrying in all: longer than a leader election after a broker's session times out.
  retry: { retriesMax: 10, retryBackoffMs: 100, retryBackoffMsMax: 2_000 },
} as const

/** Largest response a producer or admin connection accepts: Metadata of many topics fits. */
const CONTROL_FRAME_BYTES_MAX = 16 * 1024 * 1024

interface Closable {
  close(): Promise<void>
}

/** The tls and sasl options, checked now so a typo fails at construction, not at the first request. */
function securityOf(options: StrandOptions): SecurityOptions {
  const { tls, sasl } = options
  if (tls !== undefined && (tls === null || typeof tls !== 'object')) throw new InvalidArgumentError('tls must be an object: { ca, cert, key, servername }.')
  if (sasl !== undefined) {
    if (sasl === null || typeof sasl !== 'object' || !SASL_MECHANISMS.includes(sasl.mechanism)) throw new InvalidArgumentError(`sasl.mechanism must be one of ${SASL_MECHANISMS.join(', ')}.`)
    if (typeof sasl.username !== 'string' || sasl.username === '' || typeof sasl.password !== 'string' || sasl.password === '') throw new InvalidArgumentError('sasl needs a non-empty username and password.')
    // PLAIN sends the password itself: without TLS anyone on the path (or a rogue broker) reads it.
    if (sasl.mechanism === 'PLAIN' && tls === undefined && sasl.allowPlaintextPassword !== true) throw new InvalidArgumentError('sasl.mechanism PLAIN sends the password in the clear without tls; use SCRAM-SHA-256, add tls, or set sasl.allowPlaintextPassword.')
  }
  return { tls: tls ?? null, sasl: sasl ?? null }
}

function checkPositive(name: string, v: number): number {
  if (!Number.isInteger(v) || v <= 0) throw new InvalidArgumentError(`${name} must be a positive integer, got ${v}.`)
  return v
}

export class Strand {
  readonly #brokers: readonly string[]
  readonly #clientId: string
  readonly #requestTimeoutMs: number
  readonly #connectTimeoutMs: number
  readonly #inflightRequestsMax: number
  readonly #metadataMaxAgeMs: number
  readonly #retry: RetryOptions
  readonly #clock: () => number
  readonly #security: SecurityOptions
  /** Producers, consumers and admin clients made here and not closed yet. */
  readonly #children = new Set<Closable>()
  #closed = false

  constructor(options: StrandOptions) {
    if (!Array.isArray(options?.brokers) || options.brokers.length === 0) throw new InvalidArgumentError('brokers must list at least one "host:port".')
    this.#brokers = [...options.brokers]
    this.#clientId = options.clientId ?? DEFAULTS.clientId
    this.#requestTimeoutMs = checkPositive('requestTimeoutMs', options.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs)
    this.#connectTimeoutMs = checkPositive('connectTimeoutMs', options.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs)
    this.#inflightRequestsMax = checkPositive('inflightRequestsMax', options.inflightRequestsMax ?? DEFAULTS.inflightRequestsMax)
    this.#metadataMaxAgeMs = checkPositive('metadataMaxAgeMs', options.metadataMaxAgeMs ?? DEFAULTS.metadataMaxAgeMs)
    this.#retry = { ...DEFAULTS.retry, ...options.retry }
    if (!Number.isInteger(this.#retry.retriesMax) || this.#retry.retriesMax < 0) throw new InvalidArgumentError('retry.retriesMax must be an integer >= 0.')
    checkPositive('retry.retryBackoffMs', this.#retry.retryBackoffMs)
    checkPositive('retry.retryBackoffMsMax', this.#retry.retryBackoffMsMax)
    this.#clock = options.clock ?? Date.now
    this.#security = securityOf(options)
    // Parse the addresses now, so a typo fails here rather than at the first request.
    for (const b of this.#brokers) parseBrokerAddress(b)
  }

  producer(options: ProducerOptions = {}): Producer {
    this.#checkOpen()
    const cluster = new Cluster(this.#clusterOptions(CONTROL_FRAME_BYTES_MAX))
    const coordinatorConnection = this.#connectionOptions(CONTROL_FRAME_BYTES_MAX)
    const producer: Producer = new Producer({ cluster, clock: this.#clock, requestTimeoutMs: this.#requestTimeoutMs, coordinatorConnection, onClose: () => this.#children.delete(producer) }, options)
    this.#children.add(producer)
    return producer
  }

  consumer(options: ConsumerOptions = {}): Consumer {
    this.#checkOpen()
    const cluster = new Cluster(this.#clusterOptions(Consumer.frameBytesMax(options)))
    const connection = this.#connectionOptions(CONTROL_FRAME_BYTES_MAX)
    const consumer: Consumer = new Consumer({ cluster, clock: this.#clock, requestTimeoutMs: this.#requestTimeoutMs, connection, onClose: () => this.#children.delete(consumer) }, options)
    this.#children.add(consumer)
    return consumer
  }

  admin(): Admin {
    this.#checkOpen()
    const cluster = new Cluster(this.#clusterOptions(CONTROL_FRAME_BYTES_MAX))
    const connection = this.#connectionOptions(CONTROL_FRAME_BYTES_MAX)
    const admin: Admin = new Admin({ cluster, clock: this.#clock, requestTimeoutMs: this.#requestTimeoutMs, connection, onClose: () => this.#children.delete(admin) })
    this.#children.add(admin)
    return admin
  }

  /** Closes everything made here: producers flush first (nothing accepted is dropped), consumers end their loops. */
  async close(): Promise<void> {
    this.#closed = true
    const results = await Promise.allSettled([...this.#children].map((c) => c.close()))
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
    if (failed !== undefined) throw failed.reason
  }

  #checkOpen(): void {
    if (this.#closed) throw new ClosedError('Strand client')
  }

  /** Settings of a connection outside the Cluster (a group coordinator's). */
  #connectionOptions(frameBytesMax: number): CoordinatorConnectionOptions {
    return {
      clientId: this.#clientId,
      connectTimeoutMs: this.#connectTimeoutMs,
      requestTimeoutMs: this.#requestTimeoutMs,
      inflightRequestsMax: this.#inflightRequestsMax,
      frameBytesMax,
      security: this.#security,
    }
  }

  #clusterOptions(frameBytesMax: number): ConstructorParameters<typeof Cluster>[0] {
    return {
      brokers: this.#brokers,
      clientId: this.#clientId,
      connectTimeoutMs: this.#connectTimeoutMs,
      requestTimeoutMs: this.#requestTimeoutMs,
      inflightRequestsMax: this.#inflightRequestsMax,
      frameBytesMax,
      retry: this.#retry,
      metadataMaxAgeMs: this.#metadataMaxAgeMs,
      clock: this.#clock,
      security: this.#security,
    }
  }
}

export type {
  Admin,
  BrokerMetricsText,
  ClusterDescription,
  ConfigEntry,
  ConfigResource,
  ConfigResourceDescription,
  CreateTopicOptions,
  GroupDescription,
  GroupListing,
  GroupMemberDescription,
  GroupOffsetsOptions,
  GroupOffsetToCommit,
  GroupPartitionOffset,
  ListOffsetsOptions,
  ListTransactionsOptions,
  OffsetAndTimestamp,
  QuorumDescription,
  QuorumVoterStatus,
  TransactionDescription,
  TransactionListing,
  TransactionStateName,
} from './admin.js'
export type { AclBinding, AclFilter, AclOperation, AclPatternType, AclPermission, AclResourceType, ScramUser } from './admin-security.js'
export { AuthenticationError, type SaslMechanism, type SaslOptions, type TlsOptions } from './net/security.js'
export type { BrokerInfo, ClusterMetadata, PartitionInfo, RetryOptions, TopicInfo } from './cluster.js'
export type {
  AutoOffsetReset,
  CommitOffset,
  ConsumedMessage,
  Consumer,
  ConsumerBatch,
  ConsumerOptions,
  OffsetSpec,
  PartitionLag,
  SubscribeOptions,
  TopicPartition,
  TopicPartitionOffset,
} from './consumer/consumer.js'
export * from './cdc/index.js'
export type { AssignedPartition, Assignor, AssignorMember, AssignorName } from './group/assignors.js'
export { CommitFailedError, type PartitionCommitResult } from './group/errors.js'
export type { Acks, Headers, Message, Producer, ProducerOptions, ProducerRecord, RecordMetadata, SendOutcome, TransactionOffsets, TransactionScope } from './producer.js'
export type { Compression, RecordHeader } from './protocol/records.js'
export {
  ClosedError,
  ConnectionError,
  ConnectTimeoutError,
  IllegalStateError,
  InvalidArgumentError,
  isRetriable,
  LogTruncationError,
  NotAvailableYetError,
  RecordTooLargeError,
  RequestTimeoutError,
  StrandError,
  StrandProtocolError,
  WIRE_ERRORS,
  type WireErrorName,
} from './errors.js'
