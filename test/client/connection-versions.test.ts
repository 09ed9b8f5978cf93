// Version negotiation of client/net/connection.ts against a scripted broker that speaks the versions a
// test gives it: an API the client speaks in one version is sent at it without asking; the first
// request of a multi-version API (Produce) asks ApiVersions once for everything waiting, and goes
// at the highest version both sides speak; a broker that shares no version gets nothing; the
// answer is forgotten with its socket.

import net from 'node:net'
import t from 'tap'
import { Connection } from '../../client/net/connection.js'
import { ApiKey, decodeRequestBody, decodeRequestHeader, encodeResponse, type ApiVersionRange } from '../../client/protocol/apis.js'
import { FrameDecoder } from '../../client/protocol/frame.js'
import type { ProduceRequest } from '../../client/protocol/messages/produce.js'
import { waitFor } from '../helpers/wait.js'

type Teardown = { teardown(fn: () => unknown): void }

interface Seen {
  apiKey: number
  apiVersion: number
  body: unknown
}

/** Answers ApiVersions with `speaks`, Produce (but acks=0) and Metadata with empty bodies at the version asked. */
class VersionedBroker {
  readonly seen: Seen[] = []
  /** Close each socket after answering a Produce (a broker restart, as the client sees it). */
  closeAfterProduce = false
  connections = 0
  readonly #server: net.Server

  constructor(readonly speaks: ApiVersionRange[]) {
    this.#server = net.createServer((socket) => {
      this.connections++
      const decoder = new FrameDecoder()
      socket.on('data', (chunk) => {
        for (const frame of decoder.push(chunk)) this.#answer(socket, frame)
      })
      socket.on('error', () => {})
    })
  }

  #answer(socket: net.Socket, frame: Buffer): void {
    const h = decodeRequestHeader(frame)
    this.seen.push({ apiKey: h.apiKey, apiVersion: h.apiVersion, body: decodeRequestBody(h.apiKey, h.apiVersion, frame, h.bodyOffset) })
    if (h.apiKey === ApiKey.ApiVersions) socket.write(encodeResponse(ApiKey.ApiVersions, 0, h.correlationId, { errorCode: 0, apiKeys: this.speaks }))
    if (h.apiKey === ApiKey.Metadata) socket.write(encodeResponse(ApiKey.Metadata, 0, h.correlationId, { brokers: [], clusterId: 'c', controllerId: -1, topics: [] }))
    // acks=0 gets no answer, as from a real broker.
    if (h.apiKey === ApiKey.Produce && (this.seen.at(-1)?.body as ProduceRequest).acks !== 0) {
      socket.write(encodeResponse(ApiKey.Produce, h.apiVersion, h.correlationId, { topics: [], throttleTimeMs: 0 }))
      if (this.closeAfterProduce) socket.end()
    }
  }

  async listen(t: Teardown): Promise<number> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve))
    t.teardown(() => this.#server.close())
    return (this.#server.address() as net.AddressInfo).port
  }
}

function connect(t: Teardown, port: number): Connection {
  const c = new Connection({ host: '127.0.0.1', port, clientId: 'test', connectTimeoutMs: 2000, requestTimeoutMs: 5000, inflightRequestsMax: 1, frameBytesMax: 1 << 20 })
  t.teardown(() => c.close())
  return c
}

const PRODUCE: ProduceRequest = { transactionalId: null, acks: 1, timeoutMs: 1000, topics: [{ name: 't', partitions: [{ index: 0, currentLeaderEpoch: 7, records: Buffer.alloc(0) }] }] }
const ALL_BUT_PRODUCE: ApiVersionRange[] = [
  { apiKey: ApiKey.ApiVersions, minVersion: 0, maxVersion: 0 },
  { apiKey: ApiKey.Metadata, minVersion: 0, maxVersion: 0 },
]

const sent = (b: VersionedBroker): string[] => b.seen.map((s) => `${s.apiKey}v${s.apiVersion}`)

t.test('an API spoken in one version goes at it, without asking the broker', async (t) => {
  const broker = new VersionedBroker([])
  const c = connect(t, await broker.listen(t))
  await c.request(ApiKey.Metadata, { topics: [] })
  t.same(sent(broker), [`${ApiKey.Metadata}v0`])
})

t.test('Produce asks once for every request waiting, then goes at the highest common version', async (t) => {
  const broker = new VersionedBroker([...ALL_BUT_PRODUCE, { apiKey: ApiKey.Produce, minVersion: 0, maxVersion: 9 }])
  // One in-flight slot: the question must not wait behind the requests that wait for its answer.
  const c = connect(t, await broker.listen(t))
  await Promise.all([c.request(ApiKey.Produce, PRODUCE), c.request(ApiKey.Produce, PRODUCE), c.send(ApiKey.Produce, { ...PRODUCE, acks: 0 })])
  await c.request(ApiKey.Produce, PRODUCE)
  t.same(sent(broker), [`${ApiKey.ApiVersions}v0`, ...Array.from({ length: 4 }, () => `${ApiKey.Produce}v1`)], 'one ApiVersions, then v1 (this client\'s highest) for all')
  t.equal((broker.seen[1]?.body as ProduceRequest).topics[0]?.partitions[0]?.currentLeaderEpoch, 7, 'the leader epoch is on the wire')
})

t.test('a broker that speaks only Produce v0 gets v0, the epoch left out', async (t) => {
  const broker = new VersionedBroker([...ALL_BUT_PRODUCE, { apiKey: ApiKey.Produce, minVersion: 0, maxVersion: 0 }])
  const c = connect(t, await broker.listen(t))
  await c.request(ApiKey.Produce, PRODUCE)
  t.same(sent(broker), [`${ApiKey.ApiVersions}v0`, `${ApiKey.Produce}v0`])
  t.same((broker.seen[1]?.body as { topics: unknown[] }).topics, [{ name: 't', partitions: [{ index: 0, records: Buffer.alloc(0) }] }], 'a v0 body: no currentLeaderEpoch')
})

t.test('a broker that shares no version gets nothing: UNSUPPORTED_VERSION', async (t) => {
  for (const speaks of [ALL_BUT_PRODUCE, [...ALL_BUT_PRODUCE, { apiKey: ApiKey.Produce, minVersion: 2, maxVersion: 3 }]]) {
    const broker = new VersionedBroker(speaks)
    const c = connect(t, await broker.listen(t))
    await t.rejects(c.request(ApiKey.Produce, PRODUCE), { code: 'UNSUPPORTED_VERSION', retriable: false })
    await t.rejects(c.send(ApiKey.Produce, { ...PRODUCE, acks: 0 }), { code: 'UNSUPPORTED_VERSION' }, 'acks=0 too')
    t.same(sent(broker), [`${ApiKey.ApiVersions}v0`], 'only the question was sent')
  }
})

t.test('the answer is forgotten with its socket: a new socket asks again', async (t) => {
  const broker = new VersionedBroker([...ALL_BUT_PRODUCE, { apiKey: ApiKey.Produce, minVersion: 0, maxVersion: 1 }])
  broker.closeAfterProduce = true
  const c = connect(t, await broker.listen(t))
  await c.request(ApiKey.Produce, PRODUCE)
  // The broker closed the socket after answering; the next request reconnects.
  await waitFor(() => !c.connected, { what: 'the client to see the socket closed' })
  await c.request(ApiKey.Produce, PRODUCE)
  t.equal(broker.connections, 2, 'two sockets')
  t.same(sent(broker), [`${ApiKey.ApiVersions}v0`, `${ApiKey.Produce}v1`, `${ApiKey.ApiVersions}v0`, `${ApiKey.Produce}v1`])
})

t.test('apiVersion overrides the negotiation (acting as an older client)', async (t) => {
  const broker = new VersionedBroker([...ALL_BUT_PRODUCE, { apiKey: ApiKey.Produce, minVersion: 0, maxVersion: 1 }])
  const c = connect(t, await broker.listen(t))
  await c.request(ApiKey.Produce, PRODUCE, { apiVersion: 0 })
  t.same(sent(broker), [`${ApiKey.Produce}v0`])
})
