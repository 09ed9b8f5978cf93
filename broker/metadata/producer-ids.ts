// This broker's supply of producer ids for InitProducerId: a block at a time from the active
// controller (AllocateProducerIds, committed as a metadata record), the next block fetched when
// the current one runs low, so handing out an id is usually immediate.

import type { Logger } from 'pino'
import { ApiKey } from '../../client/protocol/apis.js'
import { errorFromCode, StrandProtocolError } from '../../client/protocol/errors.js'
import type { ControllerChannel } from './controller-channel.js'

/** Ask for the next block when this few ids are left. */
const PREFETCH_REMAINING = 100
/** Attempts to reach the controller before InitProducerId fails (retriably). */
const FETCH_ATTEMPTS = 20
const FETCH_BACKOFF_MS = 50

export class ProducerIdManager {
  readonly #channel: ControllerChannel
  readonly #brokerId: number
  readonly #incarnationId: string
  readonly #logger: Logger
  #next = 0n
  #end = 0n
  #pending: { start: bigint; end: bigint } | null = null
  #fetching: Promise<void> | null = null

  constructor(options: { channel: ControllerChannel; brokerId: number; incarnationId: string; logger: Logger }) {
    this.#channel = options.channel
    this.#brokerId = options.brokerId
    this.#incarnationId = options.incarnationId
    this.#logger = options.logger.child({ subsystem: 'producer-ids' })
  }

  /** A producer id no other producer in the cluster has had. */
  async nextId(): Promise<bigint> {
    for (;;) {
      if (this.#next < this.#end) {
        const id = this.#next++
        if (this.#end - this.#next < PREFETCH_REMAINING) void this.#prefetch().catch(() => undefined)
        return id
      }
      if (this.#pending !== null) {
        this.#next = this.#pending.start
        this.#end = this.#pending.end
        this.#pending = null
        continue
      }
      await this.#prefetch()
      if (this.#pending === null && this.#next >= this.#end) throw new StrandProtocolError('COORDINATOR_NOT_AVAILABLE', 'No producer ids could be obtained from the controller; retry.')
    }
  }

  #prefetch(): Promise<void> {
    if (this.#pending !== null) return Promise.resolve()
    this.#fetching ??= this.#fetch().finally(() => (this.#fetching = null))
    return this.#fetching
  }

  async #fetch(): Promise<void> {
    let lastError = 'no controller known'
    for (let attempt = 0; attempt < FETCH_ATTEMPTS; attempt++) {
      const current = this.#channel.current()
      if (current !== null) {
        try {
          const res = await current.connection.request(ApiKey.AllocateProducerIds, { brokerId: this.#brokerId, incarnationId: this.#incarnationId })
          if (res.errorCode === 0) {
            this.#pending = { start: res.producerIdStart, end: res.producerIdStart + BigInt(res.producerIdLen) }
            this.#logger.debug({ start: String(res.producerIdStart), count: res.producerIdLen }, 'got a block of producer ids')
            return
          }
          lastError = errorFromCode(res.errorCode)?.message ?? String(res.errorCode)
        } catch (err) {
          lastError = (err as Error).message
        }
      }
      await new Promise((resolve) => setTimeout(resolve, FETCH_BACKOFF_MS))
    }
    this.#logger.warn({ reason: lastError }, 'could not get producer ids from the controller')
  }
}
