// The transaction coordinator's channel to partition leaders: WriteTxnMarkers (key 27), one
// connection per leader broker, with the inter-broker TLS / SASL settings (as the replica fetchers
// and the controller channel use). A round groups a transaction's partitions by their leader in
// the metadata image and sends each leader one request; the partitions that failed (a leader
// moved, a broker down, a connection lost) are returned, and the coordinator sends them again
// after a backoff, with the leaders the image then names, until every partition has its marker.

import type { Logger } from 'pino'
import { Connection } from '../../client/net/connection.js'
import type { SecurityOptions } from '../../client/net/security.js'
import { ApiKey } from '../../client/protocol/apis.js'
import { errorCodeOf, nameOfCode } from '../../client/protocol/errors.js'
import type { MetadataImage } from '../metadata/image.js'

/**
 * How long a leader lets a marker wait for its ISR before answering REQUEST_TIMED_OUT for that
 * partition. The request has no timeout of its own (Kafka's has none either): the coordinator
 * retries a partition that timed out, and rewriting a marker is harmless (a second commit of a
 * closed transaction changes nothing).
 */
export const MARKER_REPLICATION_TIMEOUT_MS = 10_000
/**
 * The coordinator's wait for a WriteTxnMarkers answer: longer than the leader's own wait, so a
 * slow partition comes back as its error code, with the answers of the request's other
 * partitions, rather than as a timeout that drops them all and the connection.
 */
const MARKER_REQUEST_TIMEOUT_MS = MARKER_REPLICATION_TIMEOUT_MS + 5000
/** Marker responses are a few bytes per partition; the bound only guards against garbage. */
const MARKER_FRAME_BYTES_MAX = 4 * 1024 * 1024

export interface MarkerRequest {
  producerId: bigint
  /** The epoch the markers are written at. */
  producerEpoch: number
  /** The epoch of the transaction they close. */
  transactionEpoch: number
  commit: boolean
  coordinatorEpoch: number
  /** topic -> partitions */
  partitions: ReadonlyMap<string, ReadonlySet<number>>
}

export class MarkerChannel {
  readonly #image: () => MetadataImage
  readonly #clientId: string
  readonly #security: SecurityOptions
  readonly #logger: Logger
  /** By broker id, with the address it was made for (a re-registered broker may move). */
  readonly #connections = new Map<number, { address: string; connection: Connection }>()
  #closed = false

  constructor(options: { nodeId: number; image: () => MetadataImage; security: SecurityOptions; logger: Logger }) {
    this.#image = options.image
    this.#clientId = `txn-coordinator-${options.nodeId}`
    this.#security = options.security
    this.#logger = options.logger
  }

  /**
   * Sends the marker to every partition of the request once; resolves with the partitions still
   * lacking it. A partition that no longer exists (its topic deleted, or recreated with fewer
   * partitions) needs no marker and is dropped.
   */
  async round(m: MarkerRequest): Promise<Map<string, Set<number>>> {
    const image = this.#image()
    const failed = new Map<string, Set<number>>()
    const fail = (topic: string, p: number): void => {
      const s = failed.get(topic) ?? new Set<number>()
      s.add(p)
      failed.set(topic, s)
    }
    const byLeader = new Map<number, Map<string, number[]>>()
    for (const [topic, parts] of m.partitions) {
      const t = image.topics.get(topic)
      if (t === undefined) continue
      for (const p of parts) {
        // Gone with its topic (deleted, or recreated with fewer partitions): nothing to close.
        if (p >= t.partitions.length) continue
        const leader = t.partitions[p]?.leader ?? -1
        const broker = image.brokers.get(leader)
        if (broker === undefined || broker.fenced) {
          fail(topic, p)
          continue
        }
        const topics = byLeader.get(leader) ?? new Map<string, number[]>()
        topics.set(topic, [...(topics.get(topic) ?? []), p])
        byLeader.set(leader, topics)
      }
    }
    await Promise.all([...byLeader].map(([leader, topics]) => this.#send(leader, m, topics, fail)))
    return failed
  }

  async #send(leader: number, m: MarkerRequest, topics: Map<string, number[]>, fail: (topic: string, p: number) => void): Promise<void> {
    const failAll = (): void => {
      for (const [t, ps] of topics) for (const p of ps) fail(t, p)
    }
    const conn = this.#connection(leader)
    if (conn === null) return failAll()
    const body = {
      markers: [{ producerId: m.producerId, producerEpoch: m.producerEpoch, transactionEpoch: m.transactionEpoch, transactionResult: m.commit, coordinatorEpoch: m.coordinatorEpoch, topics: [...topics].map(([name, ps]) => ({ name, partitionIndexes: ps })) }],
    }
    try {
      const res = await conn.request(ApiKey.WriteTxnMarkers, body, { timeoutMs: MARKER_REQUEST_TIMEOUT_MS })
      const answered = new Set<string>()
      for (const marker of res.markers) {
        for (const t of marker.topics) {
          for (const p of t.partitions) {
            answered.add(`${t.name}\u0000${p.partitionIndex}`)
            // A newer producer epoch at the partition: a later marker (or the next instance)
            // already ended this transaction there; nothing is left to write.
            if (p.errorCode === 0 || p.errorCode === errorCodeOf('INVALID_PRODUCER_EPOCH') || p.errorCode === errorCodeOf('TRANSACTION_COORDINATOR_FENCED') || (p.errorCode === errorCodeOf('UNKNOWN_TOPIC_OR_PARTITION') && !this.#image().topics.has(t.name))) continue
            this.#logger.debug({ topic: t.name, partition: p.partitionIndex, leader, error: nameOfCode(p.errorCode) }, 'transaction marker refused; retrying')
            fail(t.name, p.partitionIndex)
          }
        }
      }
      for (const [t, ps] of topics) for (const p of ps) if (!answered.has(`${t}\u0000${p}`)) fail(t, p)
    } catch (err) {
      this.#logger.debug({ leader, err: (err as Error).message }, 'transaction markers failed; retrying')
      this.#drop(leader)
      failAll()
    }
  }

  #connection(nodeId: number): Connection | null {
    if (this.#closed) return null
    const broker = this.#image().brokers.get(nodeId)
    if (broker === undefined) return null
    const address = `${broker.host}:${broker.port}`
    const known = this.#connections.get(nodeId)
    if (known !== undefined && known.address === address) return known.connection
    known?.connection.close()
    const connection = new Connection({
      host: broker.host,
      port: broker.port,
      clientId: this.#clientId,
      connectTimeoutMs: 5000,
      requestTimeoutMs: MARKER_REQUEST_TIMEOUT_MS,
      inflightRequestsMax: 16,
      frameBytesMax: MARKER_FRAME_BYTES_MAX,
      security: this.#security,
    })
    this.#connections.set(nodeId, { address, connection })
    return connection
  }

  #drop(nodeId: number): void {
    this.#connections.get(nodeId)?.connection.close()
    this.#connections.delete(nodeId)
  }

  close(): void {
    this.#closed = true
    for (const { connection } of this.#connections.values()) connection.close()
    this.#connections.clear()
  }
}
