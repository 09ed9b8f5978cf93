// This broker's side of the lifecycle: register with the active controller (the quorum leader,
// reached at its listener address), then heartbeat every `broker.heartbeat.interval.ms`. A
// controller change, a refused heartbeat (STALE_BROKER_EPOCH) or a lost connection leads back to
// registering; nothing here ever gives up while the broker runs.

import type { SecurityOptions } from '../../client/security.js'
import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import type { Connection } from '../../client/connection.js'
import { ApiKey } from '../../client/protocol/apis.js'
import { errorCodeOf } from '../../client/protocol/errors.js'
import { ControllerChannel } from './controller-channel.js'
import type { QuorumNode } from './quorum.js'

export interface BrokerLifecycleOptions {
  brokerId: number
  advertised: { host: string; port: number }
  heartbeatIntervalMs: number
  logger: Logger
  /** Defaults to a fresh one. */
  incarnationId?: string
  /** TLS and SASL of the connection to the controller. */
  security: SecurityOptions
}

export class BrokerLifecycle {
  /** New for every process start, so the controller tells a restarted broker from its old self. */
  readonly incarnationId: string
  readonly #options: BrokerLifecycleOptions
  readonly #logger: Logger
  readonly #timer: NodeJS.Timeout
  readonly #channel: ControllerChannel
  #controllerId: number | null = null
  #registered = false
  #busy = false
  #closed = false

  constructor(quorum: QuorumNode, options: BrokerLifecycleOptions) {
    this.#options = options
    this.incarnationId = options.incarnationId ?? randomUUID()
    this.#logger = options.logger.child({ subsystem: 'lifecycle' })
    this.#channel = new ControllerChannel(quorum, { clientId: `broker-${options.brokerId}`, timeoutMs: Math.max(options.heartbeatIntervalMs * 4, 1000), security: options.security })
    this.#timer = setInterval(() => void this.#beat(), options.heartbeatIntervalMs)
    this.#timer.unref()
    void this.#beat()
  }

  get registered(): boolean {
    return this.#registered
  }

  #controller(): Connection | null {
    const current = this.#channel.current()
    // A new controller knows nothing of this broker's session with the old one: register again.
    if (current?.nodeId !== this.#controllerId) this.#registered = false
    this.#controllerId = current?.nodeId ?? null
    return current?.connection ?? null
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
    this.#logger.info({ controllerId: this.#controllerId, incarnationId: this.incarnationId }, 'registered with the controller')
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
    this.#channel.close()
  }
}
