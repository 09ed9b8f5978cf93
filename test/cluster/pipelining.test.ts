// Many requests in one socket write: every one is answered, in order, even when the broker lets
// only a few into its handlers at a time (max.inflight.requests.per.connection).

import net from 'node:net'
import { once } from 'node:events'
import t from 'tap'
import { ApiKey, decodeResponse, encodeRequest } from '../../client/protocol/apis.js'
import { FrameDecoder } from '../../client/protocol/frame.js'
import { encodeBatch } from '../../client/protocol/records.js'
import { Strand } from '../../client/index.js'
import { spawnBroker } from '../helpers/broker-process.js'
import { waitFor } from '../helpers/wait.js'

const REQUESTS = 2000

t.test('a burst of pipelined requests is answered completely and in order', async (t) => {
  const broker = await spawnBroker(t, { overrides: { 'max.inflight.requests.per.connection': 2 } })
  const socket = net.connect(broker.port, '127.0.0.1')
  t.teardown(() => socket.destroy())
  await once(socket, 'connect')
  const decoder = new FrameDecoder({ frameBytesMax: 1 << 20 })
  const correlationIds: number[] = []
  socket.on('data', (chunk: Buffer) => {
    for (const frame of decoder.push(chunk)) correlationIds.push(decodeResponse(ApiKey.Metadata, 0, frame).correlationId)
  })
  // One write holding every request: the broker reads them in a few chunks of thousands of frames.
  socket.write(Buffer.concat(Array.from({ length: REQUESTS }, (_, i) => encodeRequest(ApiKey.Metadata, 0, i, 'burst', { topics: [] }))))
  await waitFor(() => correlationIds.length >= REQUESTS, { what: `${REQUESTS} responses`, timeoutMs: 60_000 })
  t.equal(correlationIds.length, REQUESTS)
  t.ok(correlationIds.every((id, i) => id === i), 'responses come back in request order')
})

t.test('an acks=0 produce that fails closes the connection, since no response can say so', async (t) => {
  const broker = await spawnBroker(t)
  const socket = net.connect(broker.port, '127.0.0.1')
  t.teardown(() => socket.destroy())
  await once(socket, 'connect')
  let closed = false
  socket.on('close', () => (closed = true))
  socket.on('error', () => undefined)
  const records = encodeBatch([{ value: 'lost?' }], { timestamp: Date.now() })
  socket.write(encodeRequest(ApiKey.Produce, 0, 1, 'acks0', { transactionalId: null, acks: 0, timeoutMs: 1000, topics: [{ name: 'no-such-topic', partitions: [{ index: 0, currentLeaderEpoch: -1, records }] }] }))
  await waitFor(() => closed, { what: 'the broker to close the connection' })
  t.ok(closed, 'the producer learns something went wrong')
})

t.test('pipelined produces to one partition, compressed or not, are appended in request order', async (t) => {
  // A compressed batch's validation yields to the event loop (a zip bomb must not block the
  // broker); the append order must still be the order the requests arrived in.
  const broker = await spawnBroker(t)
  const strand = new Strand({ brokers: [broker.address], clientId: 'order' })
  t.teardown(() => strand.close())
  await strand.admin().createTopic({ topic: 'order', partitions: 1, replicationFactor: 1 })
  // The producer retries until the broker leads the new partition; raw requests sent before that
  // were refused (NOT_LEADER_OR_FOLLOWER), so the pipelined ones start after this record.
  const producer = strand.producer({ acks: 1 })
  t.teardown(() => producer.close())
  const [first] = await producer.send({ topic: 'order', messages: [{ value: 'first' }] })
  t.equal(first?.offset, 0n, 'the partition is led and writable')
  const socket = net.connect(broker.port, '127.0.0.1')
  t.teardown(() => socket.destroy())
  await once(socket, 'connect')
  const decoder = new FrameDecoder({ frameBytesMax: 1 << 20 })
  const offsets = new Map<number, bigint>()
  socket.on('data', (chunk: Buffer) => {
    for (const frame of decoder.push(chunk)) {
      const res = decodeResponse(ApiKey.Produce, 0, frame)
      offsets.set(res.correlationId, res.body.topics[0]?.partitions[0]?.baseOffset ?? -1n)
    }
  })
  const compressions = ['gzip', 'none', 'brotli', 'none', 'none', 'deflate'] as const
  const requests = Array.from({ length: 60 }, (_, i) =>
    encodeRequest(ApiKey.Produce, 0, i, 'order', {
      transactionalId: null,
      acks: 1,
      timeoutMs: 5000,
      topics: [{ name: 'order', partitions: [{ index: 0, currentLeaderEpoch: -1, records: encodeBatch([{ value: `r${i}` }], { timestamp: Date.now(), compression: compressions[i % compressions.length] }) }] }],
    }),
  )
  socket.write(Buffer.concat(requests))
  await waitFor(() => offsets.size === requests.length, { what: 'every produce answered' })
  const inOrder = [...offsets.entries()].sort((a, b) => a[0] - b[0]).map(([, o]) => o)
  t.same(inOrder, inOrder.map((_, i) => BigInt(i + 1)), 'request i got offset i + 1')
})
