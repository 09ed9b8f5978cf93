// This broker's side of the lifecycle: register with the active controller (the quorum leader,
// reached at its listener address), then heartbeat every `broker.heartbeat.interval.ms`. A
// controller change, a refused heartbeat (STALE_BROKER_EPOCH) or a lost connection leads back to
// registering; nothing here ever gives up while the broker runs.
//
// Every heartbeat the controller answers (registered, unfenced) renews this broker's lease on its
// leaderships with the heartbeat's send time (broker-lease.ts). A lease that was lost (or never
// held yet) is granted again only once the metadata image has caught up with the controller: the
// broker may have been fenced meanwhile, its partitions given to others, and unfenced by the very
// heartbeat that was answered, all of it committed before the answer but not yet replayed here.

import type { SecurityOptions } from '../../client/net/security.js'
import { randomUUID } from 'node:crypto'
import { setTimeout as delay } from 'node:timers/promises'
import type { Logger } from 'pino'
import type { Connection } from '../../client/net/connection.js'
import { ApiKey } from '../../client/protocol/apis.js'
import { errorCodeOf } from '../../client/protocol/errors.js'
import type { BrokerLease } from './broker-lease.js'
import { ControllerChannel } from './controller-channel.js'
import type { QuorumNode } from './quorum.js'

/**
 * How often a lease being regained looks whether the image reached the controller's commit index.
 * Polled rather than heard: the image takes a new leader's no-op entry without telling listeners.
 */
const IMAGE_POLL_MS = 10

/** What the lifecycle needs of the connection to the controller: a seam for tests. */
export interface LifecycleChannel {
  current(): { nodeId: number; connection: Pick<Connection, 'request'> } | null
  close(): void
}

export interface BrokerLifecycleOptions {
  brokerId: number
  /**
   * Where this broker is reached: its Strand listener and, `kafkaPort`, its Kafka wire listener at
   * the same host (-1: none). Read at each registration, so ports the OS chose must be filled in
   * before the lifecycle starts.
   */
  advertised: { host: string; port: number; kafkaPort: number }
  heartbeatIntervalMs: number
  logger: Logger
  /** Defaults to a fresh one. */
  incarnationId?: string
  /** TLS and SASL of the connection to the controller. */
  security: SecurityOptions
  /** The lease the answered heartbeats renew. */
  lease: BrokerLease
  /**
   * Runs when the image has caught up with the controller, before a lost lease is granted again:
   * brings the hosted partitions in line with that image (ReplicaManager.sync), so that what this
   * broker leads once the lease holds is what the controller says it leads.
   */
  beforeLeading?: () => Promise<void>
  /** Defaults to a channel to the quorum's leader; tests give their own. */
  channel?: LifecycleChannel
}

export class BrokerLifecycle {
  /** New for every process start, so the controller tells a restarted broker from its old self. */
  readonly incarnationId: string
  readonly #quorum: QuorumNode
  readonly #options: BrokerLifecycleOptions
  readonly #logger: Logger
  readonly #timer: NodeJS.Timeout
  readonly #channel: LifecycleChannel
  readonly #lease: BrokerLease
  #controllerId: number | null = null
  #registered = false
  #busy = false
  #closed = false
  /** Send time of the latest heartbeat answered since the last revoke; -Infinity when none. */
  #heardAtMs = -Infinity
  /** Bumped by every revoke, so a regain that started before one does not grant the lease. */
  #revocations = 0
  /** The image catching up before a lost lease is granted again; null when not under way. */
  #regaining: Promise<void> | null = null

  constructor(quorum: QuorumNode, options: BrokerLifecycleOptions) {
    this.#quorum = quorum
    this.#options = options
    this.#lease = options.lease
    this.incarnationId = options.incarnationId ?? randomUUID()
    this.#logger = options.logger.child({ subsystem: 'lifecycle' })
    this.#channel = options.channel ?? new ControllerChannel(quorum, { clientId: `broker-${options.brokerId}`, timeoutMs: Math.max(options.heartbeatIntervalMs * 4, 1000), security: options.security })
    this.#timer = setInterval(() => void this.#beat(), options.heartbeatIntervalMs)
    this.#timer.unref()
    void this.#beat()
  }

  get registered(): boolean {
    return this.#registered
  }

  #controller(): Pick<Connection, 'request'> | null {
    const current = this.#channel.current()
    // A new controller knows nothing of this broker's session with the old one: register again.
    if (current?.nodeId !== this.#controllerId) this.#registered = false
    this.#controllerId = current?.nodeId ?? null
    return current?.connection ?? null
  }

  async #beat(): Promise<void> {
    if (this.#closed) return
    // Looked up even while a heartbeat is out: a new controller closes the connection to the old
    // one, which fails that heartbeat now rather than at its timeout, so the new controller renews
    // the lease within a beat or two of its election instead of after it has lapsed.
    const conn = this.#controller()
    if (this.#busy || conn === null) return
    const controllerId = this.#controllerId
    this.#busy = true
    try {
      if (!this.#registered) await this.#register(conn, controllerId)
      else await this.#heartbeat(conn)
    } catch (err) {
      this.#registered = false
      this.#logger.debug({ err: (err as Error).message }, 'controller unreachable; will retry')
    } finally {
      this.#busy = false
    }
  }

  async #register(conn: Pick<Connection, 'request'>, controllerId: number | null): Promise<void> {
    const { brokerId, advertised } = this.#options
    // Sent at the highest version the controller speaks (the connection asks it): v1 and up carry
    // the Kafka listener's port; a controller of an older build gets v0 and records none, and a
    // new controller is registered with again (#controller), so the port lands once it is upgraded.
    const { host, port, kafkaPort } = advertised
    const res = await conn.request(ApiKey.BrokerRegistration, { brokerId, host, port, kafkaPort, incarnationId: this.incarnationId })
    if (res.errorCode !== 0) return
    // Registered with that controller; if another took over meanwhile, it is the one to register with.
    if (this.#controllerId === controllerId) this.#registered = true
    this.#logger.info({ controllerId, incarnationId: this.incarnationId, kafkaPort }, 'registered with the controller')
    // The first heartbeat unfences the broker: send it now rather than an interval later.
    await this.#heartbeat(conn)
  }

  async #heartbeat(conn: Pick<Connection, 'request'>): Promise<void> {
    // Taken before sending: the controller heard from this broker no earlier than this.
    const sentAtMs = this.#lease.now()
    const res = await conn.request(ApiKey.BrokerHeartbeat, { brokerId: this.#options.brokerId, incarnationId: this.incarnationId })
    if (res.errorCode === errorCodeOf('NOT_CONTROLLER')) {
      // Says nothing of this broker's session with the controller: the lease runs its course.
      this.#registered = false
      return
    }
    if (res.errorCode === errorCodeOf('STALE_BROKER_EPOCH')) {
      // The controller does not know this incarnation: nobody vouches for what it leads.
      this.#registered = false
      this.#revoke()
      return
    }
    if (res.errorCode !== 0) return
    if (res.isFenced) {
      this.#revoke()
      return
    }
    this.#answered(conn, sentAtMs)
  }

  #revoke(): void {
    this.#revocations++
    this.#heardAtMs = -Infinity
    this.#lease.revoke()
  }

  /** A heartbeat sent at `sentAtMs` was answered, unfenced: renews a held lease, or starts regaining a lost one. */
  #answered(conn: Pick<Connection, 'request'>, sentAtMs: number): void {
    this.#heardAtMs = Math.max(this.#heardAtMs, sentAtMs)
    // Held until now: the controller cannot have ended the session, so the image is as current as
    // it ever is (leadership moves for other reasons reach a leader the same way, by replay).
    if (this.#lease.valid()) {
      this.#lease.renew(sentAtMs)
      return
    }
    this.#regaining ??= this.#regain(conn).finally(() => (this.#regaining = null))
  }

  /**
   * Grants the lease again once the image is at least as current as the controller was after it
   * answered: every fencing, leadership move and unfencing it committed before then is in the
   * image, and the partitions follow it (`beforeLeading`). Asked of the same controller after its
   * answer, its commit index covers them (Raft's read index, without the extra round of heartbeats:
   * a controller that lost its quorum is covered by the lease margin, broker-lease.ts).
   */
  async #regain(conn: Pick<Connection, 'request'>): Promise<void> {
    const revocations = this.#revocations
    try {
      const quorum = await conn.request(ApiKey.DescribeQuorum, {})
      if (quorum.errorCode !== 0 || quorum.role !== 'leader') return
      const commitIndex = Number(quorum.commitIndex)
      if (!(await this.#imageReaches(commitIndex, this.#lease.lengthMs))) {
        this.#logger.debug({ commitIndex, appliedIndex: this.#quorum.image.appliedIndex }, 'metadata image still behind the controller; lease not granted yet')
        return
      }
      await this.#options.beforeLeading?.()
      if (this.#closed || revocations !== this.#revocations) return
      this.#lease.renew(this.#heardAtMs)
    } catch (err) {
      this.#logger.debug({ err: (err as Error).message }, 'could not catch up with the controller; lease not granted yet')
    }
  }

  /** Whether the image applies entry `index` within `timeoutMs`. */
  async #imageReaches(index: number, timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs
    while (this.#quorum.image.appliedIndex < index) {
      if (this.#closed || performance.now() >= deadline) return false
      await delay(IMAGE_POLL_MS, undefined, { ref: false })
    }
    return true
  }

  close(): void {
    this.#closed = true
    clearInterval(this.#timer)
    this.#channel.close()
  }
}
