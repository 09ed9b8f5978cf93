// The active controller's broker bookkeeping: registrations, heartbeats, and fencing of brokers
// whose heartbeats stop. It runs on every broker but acts only while its quorum seat leads; every
// decision is a metadata record proposed to the quorum, so the image on every broker shows it.
//
// Heartbeat times are kept in memory only: a newly elected controller gives every broker a full
// session timeout from its election before fencing anyone (it cannot know when they last beat).

import type { Logger } from 'pino'
import { errorCodeOf, StrandProtocolError, toWireCode } from '../../client/protocol/errors.js'
import type { BrokerHeartbeatRequest, BrokerHeartbeatResponse, BrokerRegistrationRequest, BrokerRegistrationResponse } from '../../client/protocol/messages/brokers.js'
import type { QuorumNode } from './quorum.js'

export interface ControllerOptions {
  sessionTimeoutMs: number
  clock: () => number
  logger: Logger
}

export class Controller {
  readonly #quorum: QuorumNode
  readonly #options: ControllerOptions
  readonly #logger: Logger
  /** When each broker last heartbeat to this controller. */
  readonly #lastHeartbeatMs = new Map<number, number>()
  /** Brokers with a fencing or unfencing record in flight, so it is proposed once. */
  readonly #changing = new Set<number>()
  #leaderSinceMs: number | null = null
  readonly #timer: NodeJS.Timeout

  constructor(quorum: QuorumNode, options: ControllerOptions) {
    this.#quorum = quorum
    this.#options = options
    this.#logger = options.logger.child({ subsystem: 'controller' })
    this.#timer = setInterval(() => this.#checkSessions(), Math.max(10, Math.floor(options.sessionTimeoutMs / 4)))
    this.#timer.unref()
  }

  #proposeTimeoutMs(): number {
    return this.#options.sessionTimeoutMs
  }

  async handleRegistration(req: BrokerRegistrationRequest): Promise<BrokerRegistrationResponse> {
    if (!this.#quorum.isLeader) return { errorCode: errorCodeOf('NOT_CONTROLLER') }
    if (!Number.isSafeInteger(req.brokerId) || req.brokerId < 0 || req.incarnationId.length === 0 || req.port <= 0 || req.port > 65535) {
      return { errorCode: errorCodeOf('INVALID_REQUEST') }
    }
    const known = this.#quorum.image.brokers.get(req.brokerId)
    const same = known !== undefined && known.incarnationId === req.incarnationId && known.host === req.host && known.port === req.port
    try {
      if (!same) await this.#quorum.propose({ kind: 'registerBroker', record: { ...req } }, this.#proposeTimeoutMs())
      this.#lastHeartbeatMs.set(req.brokerId, this.#options.clock())
      if (!same) this.#logger.info({ brokerId: req.brokerId, host: req.host, port: req.port, incarnationId: req.incarnationId }, 'broker registered')
      return { errorCode: 0 }
    } catch (err) {
      return { errorCode: toWireCode(err) }
    }
  }

  async handleHeartbeat(req: BrokerHeartbeatRequest): Promise<BrokerHeartbeatResponse> {
    if (!this.#quorum.isLeader) return { errorCode: errorCodeOf('NOT_CONTROLLER'), isFenced: true }
    const known = this.#quorum.image.brokers.get(req.brokerId)
    // An unknown broker or a previous incarnation must register (again) first.
    if (known === undefined || known.incarnationId !== req.incarnationId) return { errorCode: errorCodeOf('STALE_BROKER_EPOCH'), isFenced: true }
    this.#lastHeartbeatMs.set(req.brokerId, this.#options.clock())
    if (!known.fenced) return { errorCode: 0, isFenced: false }
    try {
      await this.#setFenced(req.brokerId, false)
      return { errorCode: 0, isFenced: this.#quorum.image.brokers.get(req.brokerId)?.fenced ?? true }
    } catch (err) {
      return { errorCode: toWireCode(err), isFenced: true }
    }
  }

  async #setFenced(brokerId: number, fenced: boolean): Promise<void> {
    if (this.#changing.has(brokerId)) throw new StrandProtocolError('REQUEST_TIMED_OUT', `A change to broker ${brokerId} is already in flight.`)
    this.#changing.add(brokerId)
    try {
      await this.#quorum.propose({ kind: 'brokerFencing', record: { brokerId, fenced } }, this.#proposeTimeoutMs())
      this.#logger.info({ brokerId, fenced }, fenced ? 'broker fenced: its heartbeats stopped' : 'broker unfenced')
    } finally {
      this.#changing.delete(brokerId)
    }
  }

  /** Fences every unfenced broker silent for longer than the session timeout. */
  #checkSessions(): void {
    if (!this.#quorum.isLeader) {
      this.#leaderSinceMs = null
      return
    }
    const now = this.#options.clock()
    if (this.#leaderSinceMs === null) {
      this.#leaderSinceMs = now
      this.#lastHeartbeatMs.clear()
    }
    for (const b of this.#quorum.image.brokers.values()) {
      if (b.fenced || this.#changing.has(b.brokerId)) continue
      const last = this.#lastHeartbeatMs.get(b.brokerId) ?? this.#leaderSinceMs
      if (now - last > this.#options.sessionTimeoutMs) {
        this.#setFenced(b.brokerId, true).catch((err: unknown) => this.#logger.warn({ brokerId: b.brokerId, err: (err as Error).message }, 'fencing failed; will retry'))
      }
    }
  }

  close(): void {
    clearInterval(this.#timer)
  }
}
