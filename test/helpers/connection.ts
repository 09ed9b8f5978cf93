// A raw protocol connection to one broker for tests that call broker-to-broker or admin APIs
// directly (DescribeQuorum, DescribeCluster, Vote, ...), closed at teardown.

import { Connection } from '../../client/connection.js'
import type { Teardown } from './broker-process.js'

export function rawConnection(t: Teardown, port: number, clientId = 'test'): Connection {
  const c = new Connection({ host: '127.0.0.1', port, clientId, connectTimeoutMs: 2000, requestTimeoutMs: 2000, inflightRequestsMax: 4, frameBytesMax: 1 << 20 })
  t.teardown(() => c.close())
  return c
}
