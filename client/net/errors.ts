// The transport's own errors (client/net/connection.ts): a socket that failed or timed out, a
// request without a response, a connection closed by its owner. Here rather than in
// client/errors.ts so the broker, which uses the same connection for replication, the quorum and
// the controller channel, imports only client/protocol and client/net; client/errors.ts re-exports
// them with the rest of the client's errors.

import { StrandError } from '../protocol/errors.js'

/**
 * The socket to a broker failed, closed, or could not be opened (or opened in time). Requests
 * that were in flight may or may not have been processed by the broker; the connection is
 * reopened on next use.
 */
export class ConnectionError extends StrandError {
  override readonly name: string = 'ConnectionError'
  /** 'host:port' of the broker. */
  readonly broker: string
  constructor(broker: string, message: string, options: { cause?: unknown; code?: 'CONNECTION_ERROR' | 'CONNECT_TIMEOUT' } = {}) {
    super(options.code ?? 'CONNECTION_ERROR', `${broker}: ${message}`, { retriable: true, cause: options.cause })
    this.broker = broker
  }
}

/** Connecting took longer than connectTimeoutMs. */
export class ConnectTimeoutError extends ConnectionError {
  override readonly name = 'ConnectTimeoutError'
  constructor(broker: string, connectTimeoutMs: number) {
    super(broker, `connection not established within ${connectTimeoutMs} ms`, { code: 'CONNECT_TIMEOUT' })
  }
}

/**
 * A request got no response within its timeout. The broker may still have processed it (a
 * produce may have been appended), which is why the connection is closed after one (as Kafka
 * does): a late response could otherwise be matched to the wrong request.
 */
export class RequestTimeoutError extends StrandError {
  override readonly name = 'RequestTimeoutError'
  readonly broker: string
  constructor(broker: string, what: string, timeoutMs: number) {
    super('REQUEST_TIMEOUT', `${broker}: ${what} got no response within ${timeoutMs} ms`, { retriable: true })
    this.broker = broker
  }
}

/** The producer, consumer, admin client or connection was closed by its owner. */
export class ClosedError extends StrandError {
  override readonly name = 'ClosedError'
  constructor(what: string) {
    super('CLIENT_CLOSED', `${what} is closed`, { retriable: false })
  }
}
