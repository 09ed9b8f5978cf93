// The broker's TCP listener: accepts connections up to `max.connections`, gives each a
// Connection, and shuts down gracefully: stop accepting, stop reading, answer what is in flight,
// then close.

import net from 'node:net'
import tls from 'node:tls'
import type { Logger } from 'pino'
import { newSession, PRE_AUTH_FRAME_BYTES_MAX } from '../security/session.js'
import { Connection, type DeadlineTimers, type FrameHandler, type FrameSource } from './connection.js'

export interface ServerOptions {
  host: string
  port: number
  maxConnections: number
  inflightRequestsMax: number
  idleTimeoutMs: number
  requestReadTimeoutMs: number
  /** The request read deadline's timers (tests drive them); Node's own when absent. */
  timers?: DeadlineTimers
  logger: Logger
  /** Largest request frame (max.request.bytes); PRE_AUTH_FRAME_BYTES_MAX until SASL completes. */
  frameBytesMax: number
  newDecoder: (frameBytesMax: number) => FrameSource & { frameBytesMax: number }
  handle: FrameHandler
  /** TLS server options (listener.security.protocol=tls), or null for plaintext. */
  tls: tls.TlsOptions | null
  /** Every connection must authenticate with SASL before other requests. */
  saslRequired: boolean
  /** With saslRequired: a connection not authenticated this long after connecting is closed. */
  saslAuthenticationTimeoutMs: number
}

/** How long a graceful shutdown waits for in-flight requests before closing sockets anyway. */
export const SHUTDOWN_DRAIN_MS = 10_000
/**
 * Refused connections are logged at most once per this interval, with a count: a flood refused
 * one by one must not turn into a flood of log lines.
 */
export const REFUSED_LOG_INTERVAL_MS = 1000

export class Server {
  readonly #options: ServerOptions
  readonly #server: net.Server
  readonly #connections = new Set<Connection>()
  readonly #logger: Logger
  /** Connections refused since the last refusal log line; null when no interval is running. */
  #refusedUnlogged: number | null = null
  /** Set once stopAccepting() has run: resolves when the listening socket has closed. */
  #stopped: Promise<void> | null = null

  constructor(options: ServerOptions) {
    this.#options = options
    this.#logger = options.logger
    if (options.tls === null) {
      this.#server = net.createServer((socket) => this.#accept(socket))
    } else {
      // A TLS handshake must finish within the request read deadline: a stalled one holds a socket too.
      const server = tls.createServer({ ...options.tls, handshakeTimeout: options.requestReadTimeoutMs }, (socket) => this.#accept(socket))
      // Failed handshakes (an unknown CA, no client certificate, a plaintext client) are the
      // client's problem, logged at info without a stack: they must never reach 'error'.
      server.on('tlsClientError', (err, socket) => this.#logger.info({ remote: socket.remoteAddress, reason: err.message }, 'TLS handshake failed'))
      // Sockets still in their handshake are not Connections yet: Node's own bound covers them.
      server.maxConnections = options.maxConnections
      this.#server = server
    }
    this.#server.on('error', (err) => this.#logger.error({ err }, 'server error'))
  }

  get connectionCount(): number {
    return this.#connections.size
  }

  async listen(): Promise<{ host: string; port: number }> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject)
      this.#server.listen(this.#options.port, this.#options.host, () => {
        this.#server.off('error', reject)
        resolve()
      })
    })
    const address = this.#server.address() as net.AddressInfo
    return { host: this.#options.host, port: address.port }
  }

  #accept(socket: net.Socket): void {
    // A TLS handshake that was under way when the stop began: the stop takes no new connections.
    if (this.#stopped !== null) {
      socket.destroy()
      return
    }
    if (this.#connections.size >= this.#options.maxConnections) {
      // Refuse politely but firmly: a flood of connections must not exhaust file descriptors.
      this.#logRefused(socket.remoteAddress)
      socket.destroy()
      return
    }
    const decoder = this.#options.newDecoder(this.#options.saslRequired ? PRE_AUTH_FRAME_BYTES_MAX : this.#options.frameBytesMax)
    const session = newSession(socket, { saslRequired: this.#options.saslRequired, onAuthenticated: () => (decoder.frameBytesMax = this.#options.frameBytesMax) })
    const connection: Connection = new Connection({
      socket,
      session,
      decoder,
      handle: this.#options.handle,
      inflightRequestsMax: this.#options.inflightRequestsMax,
      idleTimeoutMs: this.#options.idleTimeoutMs,
      requestReadTimeoutMs: this.#options.requestReadTimeoutMs,
      ...(this.#options.timers === undefined ? {} : { timers: this.#options.timers }),
      logger: this.#logger,
      onClose: () => this.#connections.delete(connection),
    })
    this.#connections.add(connection)
    if (this.#options.saslRequired) {
      const timer = setTimeout(() => {
        if (session.authenticated) return
        this.#logger.info({ remote: socket.remoteAddress, timeoutMs: this.#options.saslAuthenticationTimeoutMs }, 'not authenticated within sasl.authentication.timeout.ms; closing connection')
        connection.close()
      }, this.#options.saslAuthenticationTimeoutMs)
      timer.unref()
      socket.once('close', () => clearTimeout(timer))
    }
  }

  /** The first refusal is logged at once; the rest of its interval's refusals as one count after. */
  #logRefused(remote: string | undefined): void {
    if (this.#refusedUnlogged !== null) {
      this.#refusedUnlogged++
      return
    }
    this.#logger.warn({ remote, max: this.#options.maxConnections }, 'max.connections reached; refusing connection')
    this.#refusedUnlogged = 0
    setTimeout(() => {
      const refused = this.#refusedUnlogged ?? 0
      this.#refusedUnlogged = null
      if (refused > 0) this.#logger.warn({ refused, max: this.#options.maxConnections, intervalMs: REFUSED_LOG_INTERVAL_MS }, 'max.connections reached; refused more connections')
    }, REFUSED_LOG_INTERVAL_MS).unref()
  }

  /**
   * The first half of a graceful stop, on its own so the broker can stop taking work before it
   * stops its other parts: no new connections, and no new requests read on open ones. Those in
   * flight are still answered; close() waits for them.
   */
  stopAccepting(): void {
    if (this.#stopped !== null) return
    this.#stopped = new Promise<void>((resolve) => this.#server.close(() => resolve()))
    for (const c of this.#connections) c.stopReading()
  }

  /** Graceful stop: no new connections or requests; in-flight ones are answered first. */
  async close(): Promise<void> {
    this.stopAccepting()
    const closed = this.#stopped
    const drained = Promise.all([...this.#connections].map((c) => c.drained()))
    let timer: NodeJS.Timeout | undefined
    await Promise.race([drained, new Promise((resolve) => (timer = setTimeout(resolve, SHUTDOWN_DRAIN_MS)))])
    clearTimeout(timer)
    for (const c of this.#connections) c.close()
    await closed
  }
}
