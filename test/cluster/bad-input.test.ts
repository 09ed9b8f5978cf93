// Bad input never crashes the broker: each kind of garbage gets an error code or a closed
// connection, and afterwards a healthy client still produces and consumes, with nothing that was
// acknowledged lost.

import net from 'node:net'
import zlib from 'node:zlib'
import { once } from 'node:events'
import t from 'tap'
import { ApiKey, decodeResponse, encodeRequest } from '../../client/protocol/apis.js'
import { errorCodeOf } from '../../client/protocol/errors.js'
import { encodeBatch } from '../../client/protocol/records.js'
import { Strand } from '../../client/index.js'
import { spawnBroker } from '../helpers/broker-process.js'
import { Rng, testSeed } from '../helpers/random.js'
import { waitFor } from '../helpers/wait.js'

const seed = testSeed()
const MAX_REQUEST_BYTES = 1024 * 1024

/** A raw connection that collects response frames and notices when the broker closes it. */
class RawClient {
  readonly socket: net.Socket
  #buf = Buffer.alloc(0)
  readonly frames: Buffer[] = []
  closed = false
  constructor(socket: net.Socket) {
    this.socket = socket
    socket.on('data', (chunk: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, chunk])
      while (this.#buf.length >= 4) {
        const size = this.#buf.readInt32BE(0)
        if (this.#buf.length < 4 + size) break
        this.frames.push(this.#buf.subarray(4, 4 + size))
        this.#buf = this.#buf.subarray(4 + size)
      }
    })
    socket.on('close', () => (this.closed = true))
    socket.on('error', () => undefined)
  }
  static async connect(port: number): Promise<RawClient> {
    const socket = net.connect(port, '127.0.0.1')
    await once(socket, 'connect')
    return new RawClient(socket)
  }
}

t.test(`bad input leaves the broker serving (seed ${seed})`, async (t) => {
  const broker = await spawnBroker(t, { overrides: { 'max.request.bytes': MAX_REQUEST_BYTES } })
  const strand = new Strand({ brokers: [broker.address], clientId: 'healthy' })
  t.teardown(() => strand.close())
  const admin = strand.admin()
  await admin.createTopic({ topic: 'healthy', partitions: 2, replicationFactor: 1 })
  const producer = strand.producer({ acks: 1, lingerMs: 0 })
  const acked: bigint[] = []
  const produceOne = async (i: number): Promise<void> => {
    const [ack] = await producer.send({ topic: 'healthy', messages: [{ key: `k${i}`, value: `v${i}`, partition: 0 }] })
    if (ack === undefined) throw new Error('no ack')
    acked.push(ack.offset)
  }
  await produceOne(0)

  await t.test('garbage bytes close the connection', async (t) => {
    const c = await RawClient.connect(broker.port)
    c.socket.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'))
    await waitFor(() => c.closed, { what: 'connection closed after garbage' })
    t.ok(c.closed)
  })

  await t.test('a negative frame size closes the connection', async (t) => {
    const c = await RawClient.connect(broker.port)
    const b = Buffer.alloc(8)
    b.writeInt32BE(-7, 0)
    c.socket.write(b)
    await waitFor(() => c.closed, { what: 'connection closed after negative size' })
    t.ok(c.closed)
  })

  await t.test('a frame above max.request.bytes closes the connection without buffering it', async (t) => {
    const c = await RawClient.connect(broker.port)
    const b = Buffer.alloc(4)
    b.writeInt32BE(MAX_REQUEST_BYTES + 1, 0)
    c.socket.write(b)
    await waitFor(() => c.closed, { what: 'connection closed after oversized frame' })
    t.ok(c.closed)
  })

  await t.test('a truncated frame then a close does not disturb the broker', async (t) => {
    const c = await RawClient.connect(broker.port)
    const frame = encodeRequest(ApiKey.Metadata, 0, 1, 'x', { topics: null })
    c.socket.end(frame.subarray(0, frame.length - 3))
    await waitFor(() => c.closed, { what: 'connection closed' })
    t.equal(c.frames.length, 0, 'no response to half a request')
  })

  await t.test('an unknown API key or version gets UNSUPPORTED_VERSION and the connection stays usable', async (t) => {
    const c = await RawClient.connect(broker.port)
    const unknownKey = Buffer.from(encodeRequest(ApiKey.Metadata, 0, 77, 'x', { topics: null }))
    unknownKey.writeInt16BE(9999, 4)
    c.socket.write(unknownKey)
    const unknownVersion = Buffer.from(encodeRequest(ApiKey.Metadata, 0, 78, 'x', { topics: null }))
    unknownVersion.writeInt16BE(999, 6)
    c.socket.write(unknownVersion)
    c.socket.write(encodeRequest(ApiKey.Metadata, 0, 79, 'x', { topics: null }))
    await waitFor(() => c.frames.length >= 3, { what: 'three responses' })
    const first = decodeResponse(ApiKey.ApiVersions, 0, c.frames[0] as Buffer)
    const second = decodeResponse(ApiKey.ApiVersions, 0, c.frames[1] as Buffer)
    t.equal(first.correlationId, 77)
    t.equal(first.body.errorCode, errorCodeOf('UNSUPPORTED_VERSION'))
    t.equal(second.correlationId, 78)
    t.equal(second.body.errorCode, errorCodeOf('UNSUPPORTED_VERSION'))
    t.ok(first.body.apiKeys.some((k) => k.apiKey === ApiKey.Produce), 'the error lists what the broker supports')
    const third = decodeResponse(ApiKey.Metadata, 0, c.frames[2] as Buffer)
    t.equal(third.correlationId, 79, 'responses come back in request order')
    t.ok(third.body.topics.some((x) => x.name === 'healthy'))
    c.socket.destroy()
  })

  await t.test('invalid topic names get INVALID_TOPIC', async (t) => {
    const results = await Promise.allSettled(['', 'a/b', '..', 'x'.repeat(250), 'sp ace'].map((topic) => admin.createTopic({ topic, partitions: 1, replicationFactor: 1 })))
    for (const r of results) {
      t.equal(r.status, 'rejected')
      if (r.status === 'rejected') t.equal((r.reason as { code?: string }).code, 'INVALID_TOPIC')
    }
  })

  await t.test('a corrupt batch gets CORRUPT_MESSAGE for its partition only', async (t) => {
    const c = await RawClient.connect(broker.port)
    const good = encodeBatch([{ value: 'fine' }], { timestamp: Date.now() })
    const bad = encodeBatch([{ value: 'flipped' }], { timestamp: Date.now() })
    bad[bad.length - 2] = (bad[bad.length - 2] as number) ^ 0xff
    c.socket.write(
      encodeRequest(ApiKey.Produce, 0, 5, 'x', {
        transactionalId: null,
        acks: 1,
        timeoutMs: 5000,
        topics: [{ name: 'healthy', partitions: [{ index: 1, records: bad }, { index: 0, records: good }] }],
      }),
    )
    await waitFor(() => c.frames.length >= 1, { what: 'produce response' })
    const res = decodeResponse(ApiKey.Produce, 0, c.frames[0] as Buffer)
    const parts = res.body.topics[0]?.partitions ?? []
    t.equal(parts.find((p) => p.index === 1)?.errorCode, errorCodeOf('CORRUPT_MESSAGE'))
    const ok = parts.find((p) => p.index === 0)
    t.equal(ok?.errorCode, 0)
    if (ok !== undefined) acked.push(ok.baseOffset)
    c.socket.destroy()
  })

  await t.test('garbage records under a valid CRC are refused, so no consumer is poisoned', async (t) => {
    const c = await RawClient.connect(broker.port)
    const batch = encodeBatch([{ key: 'k', value: 'a perfectly normal value' }], { timestamp: Date.now() })
    // Scramble the records section, then recompute the CRC so only record parsing can tell.
    for (let i = 62; i < batch.length; i++) batch[i] = 0xff
    batch.writeUInt32BE(zlib.crc32(batch.subarray(21)), 17)
    c.socket.write(
      encodeRequest(ApiKey.Produce, 0, 6, 'x', { transactionalId: null, acks: 1, timeoutMs: 5000, topics: [{ name: 'healthy', partitions: [{ index: 0, records: batch }] }] }),
    )
    await waitFor(() => c.frames.length >= 1, { what: 'produce response' })
    const res = decodeResponse(ApiKey.Produce, 0, c.frames[0] as Buffer)
    t.equal(res.body.topics[0]?.partitions[0]?.errorCode, errorCodeOf('CORRUPT_MESSAGE'))
    c.socket.destroy()
  })

  await t.test(`seeded random frames for a bounded time (seed ${seed})`, async (t) => {
    const rng = new Rng(seed)
    const valid = [
      encodeRequest(ApiKey.Metadata, 0, 1, 'fuzz', { topics: ['healthy'] }),
      encodeRequest(ApiKey.Fetch, 0, 2, 'fuzz', {
        replicaId: -1, maxWaitMs: 0, minBytes: 1, maxBytes: 1024, isolationLevel: 0,
        topics: [{ name: 'healthy', partitions: [{ partition: 0, currentLeaderEpoch: -1, fetchOffset: 0n, logStartOffset: -1n, partitionMaxBytes: 1024 }] }],
      }),
      encodeRequest(ApiKey.Produce, 0, 3, 'fuzz', {
        transactionalId: null, acks: 1, timeoutMs: 1000,
        topics: [{ name: 'healthy', partitions: [{ index: 1, records: encodeBatch([{ value: 'z' }], { timestamp: 1 }) }] }],
      }),
    ]
    const deadline = Date.now() + 4000
    let sent = 0
    while (Date.now() < deadline) {
      const c = await RawClient.connect(broker.port)
      for (let i = 0; i < 20; i++) {
        const base = Buffer.from(rng.pick(valid))
        const mode = rng.int(0, 2)
        let frame: Buffer
        if (mode === 0) {
          // Mutate bytes after the size prefix.
          for (let k = rng.int(1, 8); k > 0; k--) base[rng.int(4, base.length - 1)] = rng.int(0, 255)
          frame = base
        } else if (mode === 1) {
          frame = rng.bytes(rng.int(1, 64))
        } else {
          // A plausible size with random content.
          const body = rng.bytes(rng.int(0, 200))
          frame = Buffer.concat([Buffer.from([0, 0, 0, body.length]), body])
        }
        c.socket.write(frame)
        sent++
      }
      c.socket.destroy()
    }
    t.ok(sent > 0, `sent ${sent} fuzzed frames`)
    t.equal(broker.child.exitCode, null, 'the broker is still running')
  })

  await produceOne(1)
  const consumer = strand.consumer({})
  t.teardown(() => consumer.close())
  consumer.assign([{ topic: 'healthy', partition: 0, offset: 'earliest' }])
  const seen: bigint[] = []
  for await (const batch of consumer) {
    for (const m of batch.messages) seen.push(m.offset)
    if (acked.every((o) => seen.includes(o))) break
  }
  t.ok(acked.every((o) => seen.includes(o)), `every acknowledged offset (${acked.join(', ')}) reads back`)
  t.equal(broker.child.exitCode, null, 'the broker never exited')
})
