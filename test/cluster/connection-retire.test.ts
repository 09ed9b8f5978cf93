// A connection the client retires (its broker moved or left) fails its requests with a retriable
// error, never the non-retriable "closed" of a client shutting down.

import t from 'tap'
import { Connection } from '../../client/net/connection.js'
import { ApiKey } from '../../client/protocol/apis.js'
import { spawnBroker } from '../helpers/broker-process.js'

t.test('retired connections fail retriably; closed ones do not', async (t) => {
  const broker = await spawnBroker(t)
  const make = (): Connection => new Connection({ host: broker.host, port: broker.port, clientId: 'retire', connectTimeoutMs: 2000, requestTimeoutMs: 2000, inflightRequestsMax: 2, frameBytesMax: 1 << 20 })
  const retired = make()
  t.teardown(() => retired.close())
  await retired.request(ApiKey.ApiVersions, {})
  retired.retire()
  await t.rejects(retired.request(ApiKey.ApiVersions, {}), { code: 'CONNECTION_ERROR', retriable: true })
  const closed = make()
  await closed.request(ApiKey.ApiVersions, {})
  closed.close()
  await t.rejects(closed.request(ApiKey.ApiVersions, {}), { name: 'ClosedError', retriable: false })
})
