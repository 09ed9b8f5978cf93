// The way to a group's coordinator: FindCoordinator through any broker, then a connection of its
// own to the broker named (as Kafka's consumer keeps a separate channel to its coordinator).
//
// Why a separate connection: responses come back in request order per connection, so a
// heartbeat queued behind a long-polling Fetch on the shared connection to the same broker would
// wait up to maxWaitMs, and a fetch queued behind a JoinGroup (answered only when the rebalance
// completes) would wait for the whole rebalance.
//
// NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE and COORDINATOR_LOAD_IN_PROGRESS, a failed
// connection and a timed-out request all mean the same to callers: forget the coordinator
// (reset()), find it again and retry. Callers own their retry loops, because what to retry is
// theirs to say (a commit retries only the partitions that failed).

import { ApiKey, type ApiKeyValue, type ApiTypes } from '../protocol/apis.js'
import type { Cluster } from '../cluster.js'
import { Connection, type ConnectionOptions, type RequestOptions } from '../net/connection.js'
import { ClosedError, ConnectionError, RequestTimeoutError, StrandProtocolError, wireError } from '../errors.js'

/** FindCoordinator's key type for consumer groups. */
const KEY_TYPE_GROUP = 0

/** Wire errors that say the coordinator moved or is not ready: find it again and retry. */
const COORDINATOR_CODES: ReadonlySet<string> = new Set(['NOT_COORDINATOR', 'COORDINATOR_NOT_AVAILABLE', 'COORDINATOR_LOAD_IN_PROGRESS'])

export function isCoordinatorError(err: unknown): boolean {
  if (err instanceof ConnectionError || err instanceof RequestTimeoutError) return true
  return err instanceof StrandProtocolError && COORDINATOR_CODES.has(err.code)
}

/** Connection settings for the coordinator's connection (host and port come from FindCoordinator). */
export type CoordinatorConnectionOptions = Omit<ConnectionOptions, 'host' | 'port'>

export interface GroupCoordinatorOptions {
  cluster: Cluster
  groupId: string
  connection: CoordinatorConnectionOptions
  /** FindCoordinator's key type: 0 (the default) a group; 1 a transactional id (the producer's transaction coordinator). */
  keyType?: number
}

export class GroupCoordinator {
  readonly groupId: string
  readonly #cluster: Cluster
  readonly #connectionOptions: CoordinatorConnectionOptions
  readonly #keyType: number
  /** The coordinator's connection; null until found, and after reset(). */
  #connection: Connection | null = null
  /** The FindCoordinator in flight, shared by concurrent callers. */
  #finding: Promise<Connection> | null = null
  /** The coordinator's node id when known, for logs and errors. */
  #nodeId = -1
  #closed = false

  constructor(options: GroupCoordinatorOptions) {
    this.groupId = options.groupId
    this.#cluster = options.cluster
    this.#connectionOptions = options.connection
    this.#keyType = options.keyType ?? KEY_TYPE_GROUP
  }

  get nodeId(): number {
    return this.#nodeId
  }

  /** Sends a group request to the coordinator (found first if unknown); a failed connection resets it. */
  async request<K extends ApiKeyValue>(apiKey: K, body: ApiTypes[K]['request'], options: RequestOptions = {}): Promise<ApiTypes[K]['response']> {
    const conn = await this.#connect()
    try {
      return await conn.request(apiKey, body, options)
    } catch (err) {
      if (isCoordinatorError(err)) this.#drop(conn)
      throw err
    }
  }

  /**
   * Forgets the coordinator after NOT_COORDINATOR and the like. Requests still in flight on the
   * old connection fail with a retriable ConnectionError.
   */
  reset(): void {
    if (this.#connection !== null) this.#drop(this.#connection)
  }

  close(): void {
    this.#closed = true
    this.#connection?.close()
    this.#connection = null
  }

  #drop(conn: Connection): void {
    if (this.#connection !== conn) return
    this.#connection = null
    this.#nodeId = -1
    conn.retire()
  }

  #connect(): Promise<Connection> {
    if (this.#closed) return Promise.reject(new ClosedError(`coordinator connection of group "${this.groupId}"`))
    if (this.#connection !== null) return Promise.resolve(this.#connection)
    this.#finding ??= this.#find().finally(() => {
      this.#finding = null
    })
    return this.#finding
  }

  async #find(): Promise<Connection> {
    const res = await this.#cluster.requestAny(ApiKey.FindCoordinator, { key: this.groupId, keyType: this.#keyType })
    const err = wireError(res.errorCode, res.errorMessage, this.#keyType === KEY_TYPE_GROUP ? `Group "${this.groupId}".` : `Transactional id "${this.groupId}".`)
    if (err !== null) throw err
    if (this.#closed) throw new ClosedError(`coordinator connection of group "${this.groupId}"`)
    const conn = new Connection({ ...this.#connectionOptions, host: res.host, port: res.port })
    this.#connection = conn
    this.#nodeId = res.nodeId
    return conn
  }
}
