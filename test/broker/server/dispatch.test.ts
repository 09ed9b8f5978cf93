// The broker's dispatch table (broker/server/dispatch.ts): one handler for every API the protocol
// defines (client/protocol/apis.ts) and none for anything else, and a request for an API or a
// version the broker does not serve answered with UNSUPPORTED_VERSION in an ApiVersions v0 body
// that lists what it does serve (as Kafka does), before any collaborator is consulted.

import t from 'tap'
import { ApiKey, decodeResponse, encodeRequest, supportedApis } from '../../../client/protocol/apis.js'
import { errorCodeOf } from '../../../client/protocol/errors.js'
import { createDispatcher, HANDLERS } from '../../../broker/server/dispatch.js'
import type { HandlerContext } from '../../../broker/server/handlers/context.js'
import { newSession } from '../../../broker/security/session.js'
import net from 'node:net'

const SIZE_PREFIX_BYTES = 4

t.test('every API the protocol defines has a handler, and nothing else does', async (t) => {
  const served = Object.keys(HANDLERS).map(Number).sort((a, b) => a - b)
  const defined = supportedApis().map((a) => a.apiKey).sort((a, b) => a - b)
  t.same(served, defined, `${served.length} APIs`)
  t.ok(served.includes(ApiKey.Produce) && served.includes(ApiKey.AppendEntries), 'client and broker-to-broker APIs alike')
  for (const key of served) t.type(HANDLERS[key as keyof typeof HANDLERS], 'function')
})

t.test('an unknown API key or version gets UNSUPPORTED_VERSION and the supported ranges, without touching the broker', async (t) => {
  // Any property read of this context fails the test: the answer must not need the broker.
  const untouchable = new Proxy({}, { get: (_, key) => t.fail(`the dispatcher read ctx.${String(key)}`) }) as HandlerContext
  const dispatch = createDispatcher(untouchable)
  const session = newSession(new net.Socket(), { saslRequired: false, onAuthenticated: () => undefined })
  const metadata = encodeRequest(ApiKey.Metadata, 0, 41, 'dispatch-test', { topics: null }).subarray(SIZE_PREFIX_BYTES)
  const cases = [
    { what: 'an API key nobody defines', patch: (f: Buffer) => f.writeInt16BE(9999, 0) },
    { what: 'a version past the highest', patch: (f: Buffer) => f.writeInt16BE(0x7fff, 2) },
  ]
  for (const c of cases) {
    const frame = Buffer.from(metadata)
    c.patch(frame)
    const answer = (await dispatch(frame, session)) as Buffer
    const { correlationId, body } = decodeResponse(ApiKey.ApiVersions, 0, answer.subarray(SIZE_PREFIX_BYTES))
    t.equal(correlationId, 41, `${c.what}: answered to its correlation id`)
    t.equal(body.errorCode, errorCodeOf('UNSUPPORTED_VERSION'), `${c.what}: UNSUPPORTED_VERSION`)
    t.same(body.apiKeys, supportedApis(), `${c.what}: with every supported range`)
  }
})
