// A broker's connection to the active controller (the metadata quorum's leader, reached at its
// listener address), for the lifecycle (registration, heartbeats) and for partition leaders'
// ISR changes (AlterPartition). When leadership moves, the old connection is closed and the next
// call connects to the new controller.

import { Connection } from '../../client/net/connection.js'
import type { SecurityOptions } from '../../client/net/security.js'
import type { QuorumNode } from './quorum.js'

/** Largest controller response: a few bytes per partition; the bound only guards against garbage. */
const CONTROLLER_FRAME_BYTES_MAX = 16 * 1024 * 1024

export class ControllerChannel {
  readonly #quorum: QuorumNode
  readonly #clientId: string
  readonly #timeoutMs: number
  readonly #security: SecurityOptions
  #conn: { nodeId: number; connection: Connection } | null = null

  constructor(quorum: QuorumNode, options: { clientId: string; timeoutMs: number; security: SecurityOptions }) {
    this.#quorum = quorum
    this.#clientId = options.clientId
    this.#timeoutMs = options.timeoutMs
    this.#security = options.security
  }

  /** The connection to the current controller and its id, or null while there is none. */
  current(): { nodeId: number; connection: Connection } | null {
    const id = this.#quorum.leaderId
    if (id === null) return null
    if (this.#conn?.nodeId === id) return this.#conn
    this.#conn?.connection.close()
    this.#conn = null
    const address = this.#quorum.voterAddress(id)
    if (address === undefined) return null
    const connection = new Connection({
      host: address.host,
      port: address.port,
      clientId: this.#clientId,
      connectTimeoutMs: this.#timeoutMs,
      requestTimeoutMs: this.#timeoutMs,
      inflightRequestsMax: 4,
      frameBytesMax: CONTROLLER_FRAME_BYTES_MAX,
      security: this.#security,
    })
    this.#conn = { nodeId: id, connection }
    return this.#conn
  }

  close(): void {
    this.#conn?.connection.close()
    this.#conn = null
  }
}
