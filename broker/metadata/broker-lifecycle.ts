// This broker's side of the lifecycle: register with the active controller (the quorum leader,
// reached at its listener address), then heartbeat every `broker.heartbeat.interval.ms`. A
// controller change, a refused heartbeat (STALE_BROKER_EPOCH) or a lost connection leads back to
// registering; nothing here ever gives up while the broker runs.

import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import { Connection } from '../../client/connection.js'
import { ApiKey } from '../../client/protocol/apis.js'
import { errorCodeOf } from '../../client/protocol/errors.js'
import type { QuorumNode } from './quorum.js'

/** Largest lifecycle response: a few bytes; the bound only guards against garbage. */
const LIFECYCLE_FRAME_BYTES_MAX = 64 * 1024

export interface BrokerLifecycleOptions {
  brokerId: number
  advertised: { host: string; port: number }
  heartbeatIntervalMs: number
  logger: Logger
}

export class BrokerLifecycle {
  /** New for every process start, so the controller tells a restarted broker from its old self. */
  readonly incarnationId = randomUUID()
  readonly #quorum: QuorumNode
  readonly #options: BrokerLifecycleOptions
  readonly #logger: Logger
  readonly #timer: NodeJS.Timeout
  /** Connection to the controller in use, and which node it goes to. */
  #conn: { nodeId: number; connection: Connection } | null = null
  #registered = false
  #busy = false
  #closed = false

  constructor(quorum: QuorumNode, options: BrokerLifecycleOptions) {
    this.#quorum = quorum
    this.#options = options
    this.#logger = options.logger.child({ subsystem: 'lifecycle' })
    this.#timer = setInterval(() => void this.#beat(), options.heartbeatIntervalMs)
    this.#timer.unref()
    void this.#beat()
  }

  get registered(): boolean {
    return this.#registered
  }

  #controller(): Connection | null {
    const id = this.#quorum.leaderId
    if (id === null) return null
    if (this.#conn?.nodeId === id) return this.#conn.connection
    this.#conn?.connection.close()
    this.#registered = false
    const address = this.#quorum.voterAddress(id)
    if (address === undefined) return null
    const timeoutMs = Math.max(this.#options.heartbeatIntervalMs * 4, 1000)
    const connection = new Connection({ host: address.host, port: address.port, clientId: `broker-${this.#options.brokerId}`, connectTimeoutMs: timeoutMs, requestTimeoutMs: timeoutMs, inflightRequestsMax: 2, frameBytesMax: LIFECYCLE_FRAME_BYTES_MAX })
    this.#conn = { nodeId: id, connection }
    return connection
  }

  async #beat(): Promise<void> {
    if (this.#busy || this.#closed) return
    const conn = this.#controller()
    if (conn === null) return
    this.#busy = true
    try {
      if (!this.#registered) await this.#register(conn)
      else await this.#heartbeat(conn)
    } catch (err) {
      this.#registered = false
      this.#logger.debug({ err: (err as Error).message }, 'controller unreachable; will retry')
    } finally {
      this.#busy = false
    }
  }

  async #register(conn: Connection): Promise<void> {
    const { brokerId, advertised } = this.#options
    const res = await conn.request(ApiKey.BrokerRegistration, { brokerId, host: advertised.host, port: advertised.port, incarnationId: this.incarnationId })
    if (res.errorCode !== 0) return
    this.#registered = true
    this.#logger.info({ controllerId: this.#conn?.nodeId, incarnationId: this.incarnationId }, 'registered with the controller')
    // The first heartbeat unfences the broker: send it now rather than an interval later.
    await this.#heartbeat(conn)
  }

  async #heartbeat(conn: Connection): Promise<void> {
    const res = await conn.request(ApiKey.BrokerHeartbeat, { brokerId: this.#options.brokerId, incarnationId: this.incarnationId })
    if (res.errorCode === errorCodeOf('STALE_BROKER_EPOCH') || res.errorCode === errorCodeOf('NOT_CONTROLLER')) this.#registered = false
  }

  close(): void {
    this.#closed = true
    clearInterval(this.#timer)
    this.#conn?.connection.close()
  }
}
