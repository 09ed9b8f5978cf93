// A raw protocol connection to one broker for tests that call broker-to-broker or admin APIs
// directly (DescribeQuorum, DescribeCluster, Vote, ...), closed at teardown.

import { Connection } from '../../client/net/connection.js'
import type { SecurityOptions } from '../../client/net/security.js'
import type { Teardown } from './broker-process.js'

export interface RawConnectionOptions {
  /** Default 127.0.0.1. */
  host?: string
  security?: SecurityOptions
  /** Connect and request timeout; default 2000 ms. */
  timeoutMs?: number
}

export function rawConnection(t: Teardown, port: number, clientId = 'test', options: RawConnectionOptions = {}): Connection {
  const timeoutMs = options.timeoutMs ?? 2000
  const c = new Connection({ host: options.host ?? '127.0.0.1', port, clientId, connectTimeoutMs: timeoutMs, requestTimeoutMs: timeoutMs, inflightRequestsMax: 4, frameBytesMax: 1 << 20, ...(options.security === undefined ? {} : { security: options.security }) })
  t.teardown(() => c.close())
  return c
}
