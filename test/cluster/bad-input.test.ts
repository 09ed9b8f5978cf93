// Bad input never crashes the broker: each kind of garbage gets an error code or a closed
// connection, and afterwards a healthy client still produces and consumes, with nothing that was
// acknowledged lost.

import net from 'node:net'
import zlib from 'node:zlib'
import { once } from 'node:events'
import t from 'tap'
import { ApiKey, decodeResponse, encodeRequest } from '../../client/protocol/apis.js'
import { errorCodeOf } from '../../client/protocol/errors.js'
import { BATCH_BYTES_MAX, encodeBatch } from '../../client/protocol/records.js'
import { Strand } from '../../client/index.js'
import { spawnBroker } from '../helpers/broker-process.js'
import { Rng, testSeed } from '../helpers/random.js'
import { zipBomb } from '../fuzz/mutate.js'
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

  await t.test('a length the decoder reads as NaN does not poison later requests (fuzzer finding)', async (t) => {
    // A Produce whose records length is a run of continuation bytes to the frame's end: avsc read
    // it as NaN, and readFixed(NaN) set its shared buffer pool offset to NaN, so every later
    // `bytes` value the broker decoded came out empty and every Produce failed CORRUPT_MESSAGE.
    const valid = encodeRequest(ApiKey.Produce, 0, 7, 'x', { transactionalId: null, acks: 1, timeoutMs: 5000, topics: [{ name: 'healthy', partitions: [{ index: 0, currentLeaderEpoch: -1, records: Buffer.alloc(0) }] }] })
    const body = Buffer.concat([valid.subarray(4, valid.length - 3), Buffer.alloc(200, 0xff)])
    const frame = Buffer.concat([Buffer.alloc(4), body])
    frame.writeInt32BE(body.length, 0)
    const c = await RawClient.connect(broker.port)
    c.socket.write(frame)
    await waitFor(() => c.closed, { what: 'the malformed request closes its connection' })
    const after = await RawClient.connect(broker.port)
    after.socket.write(
      encodeRequest(ApiKey.Produce, 0, 8, 'x', {
        transactionalId: null,
        acks: 1,
        timeoutMs: 5000,
        topics: [{ name: 'healthy', partitions: [{ index: 0, currentLeaderEpoch: -1, records: encodeBatch([{ value: 'after the NaN' }], { timestamp: Date.now() }) }] }],
      }),
    )
    await waitFor(() => after.frames.length >= 1, { what: 'produce response' })
    const part = decodeResponse(ApiKey.Produce, 0, after.frames[0] as Buffer).body.topics[0]?.partitions[0]
    t.equal(part?.errorCode, 0, 'the next Produce is accepted with its records intact')
    if (part !== undefined) acked.push(part.baseOffset)
    after.socket.destroy()
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
        topics: [{ name: 'healthy', partitions: [{ index: 1, currentLeaderEpoch: -1, records: bad }, { index: 0, currentLeaderEpoch: -1, records: good }] }],
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
      encodeRequest(ApiKey.Produce, 0, 6, 'x', { transactionalId: null, acks: 1, timeoutMs: 5000, topics: [{ name: 'healthy', partitions: [{ index: 0, currentLeaderEpoch: -1, records: batch }] }] }),
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
        topics: [{ name: 'healthy', partitions: [{ index: 1, currentLeaderEpoch: -1, records: encodeBatch([{ value: 'z' }], { timestamp: 1 }) }] }],
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

t.test('slow loris and connection floods are bounded by config, not luck', async (t) => {
  const READ_TIMEOUT_MS = 500
  const MAX_CONNECTIONS = 30
  const broker = await spawnBroker(t, { overrides: { 'request.read.timeout.ms': READ_TIMEOUT_MS, 'max.connections': MAX_CONNECTIONS } })
  const strand = new Strand({ brokers: [broker.address], clientId: 'healthy' })
  t.teardown(() => strand.close())
  await strand.admin().createTopic({ topic: 'flood', partitions: 1, replicationFactor: 1 })
  const producer = strand.producer({ acks: 1, lingerMs: 0 })
  const consumer = strand.consumer({ maxWaitMs: 100 })
  t.teardown(() => consumer.close())
  consumer.assign([{ topic: 'flood', partition: 0, offset: 'earliest' }])
  const consumed: string[] = []
  const consuming = (async () => {
    for await (const batch of consumer) for (const m of batch.messages) consumed.push(m.value?.toString() ?? '')
  })()
  const roundTrip = async (value: string): Promise<void> => {
    await producer.send({ topic: 'flood', messages: [{ value }] })
    await waitFor(() => consumed.includes(value), { what: `${value} consumed` })
  }
  await roundTrip('before')

  await t.test('a frame trickled one byte at a time is closed at request.read.timeout.ms', async (t) => {
    const c = await RawClient.connect(broker.port)
    const prefix = Buffer.alloc(4)
    prefix.writeInt32BE(1024 * 1024, 0)
    c.socket.write(prefix)
    const started = performance.now()
    while (!c.closed && performance.now() - started < READ_TIMEOUT_MS * 10) {
      c.socket.write(Buffer.from([0x2a]))
      await waitFor(() => c.closed, { timeoutMs: 100, intervalMs: 10 }).catch(() => undefined)
    }
    const elapsedMs = Math.round(performance.now() - started)
    t.ok(c.closed && elapsedMs < READ_TIMEOUT_MS + 2000, `closed after ${elapsedMs} ms although a byte came every 100 ms (deadline ${READ_TIMEOUT_MS} ms)`)
    await waitFor(() => broker.output.some((l) => l.includes('request.read.timeout.ms') && l.includes('"remote":"127.0.0.1"')), { what: 'a warn line naming the remote address' })
  })

  await t.test('sockets past max.connections are closed on arrival while the healthy client carries on', async (t) => {
    const flood = await Promise.all(Array.from({ length: 200 }, () => RawClient.connect(broker.port)))
    // The healthy client holds a few connections, so at least this many are refused.
    await waitFor(() => flood.filter((c) => c.closed).length >= 200 - MAX_CONNECTIONS, { what: 'the sockets past the limit closed', timeoutMs: 5000 })
    const refused = flood.filter((c) => c.closed).length
    t.ok(refused >= 200 - MAX_CONNECTIONS, `${refused} of 200 flood sockets closed on arrival`)
    await roundTrip('during the flood')
    const refusalLines = broker.output.filter((l) => l.includes('max.connections reached')).length
    t.ok(refusalLines <= 4, `${refusalLines} log lines for ${refused} refusals`)
    for (const c of flood) c.socket.destroy()
    // Closed sockets free their slots: a new client (new connections) is served.
    const fresh = new Strand({ brokers: [broker.address], clientId: 'fresh' })
    t.teardown(() => fresh.close())
    await waitFor(async () => (await fresh.producer({ acks: 1 }).send({ topic: 'flood', messages: [{ value: 'fresh' }] }).then(() => true, () => false)), { what: 'a new client served once the flood closed', timeoutMs: 10_000, intervalMs: 100 })
    await waitFor(() => consumed.includes('fresh'), { what: "the new client's record consumed" })
    t.pass('slots freed: a new client produced and its record was consumed')
  })

  await t.test('a request of zip-bomb batches does not block the broker (fuzzer finding)', async (t) => {
    // Each batch is ~64 KiB on the wire and inflates to ~64 MiB (~60 ms of CPU to validate). All
    // of a request's batches used to be validated in one synchronous run: 60 of them (3.8 MiB)
    // held the event loop for ~4-8 s; at the default max.request.bytes, minutes.
    const bomb = zipBomb(BATCH_BYTES_MAX - 1024)
    const probe = await RawClient.connect(broker.port)
    let probeMsMax = 0
    let probing = true
    const probes = (async () => {
      for (let id = 1; probing; id++) {
        const started = performance.now()
        probe.socket.write(encodeRequest(ApiKey.ApiVersions, 0, id, 'probe', {}))
        await waitFor(() => probe.frames.length >= id, { what: 'ApiVersions answered', timeoutMs: 60_000, intervalMs: 1 })
        probeMsMax = Math.max(probeMsMax, performance.now() - started)
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    })()
    const c = await RawClient.connect(broker.port)
    c.socket.write(
      encodeRequest(ApiKey.Produce, 0, 1, 'bombs', {
        transactionalId: null,
        acks: 1,
        timeoutMs: 5000,
        topics: [{ name: 'flood', partitions: Array.from({ length: 60 }, () => ({ index: 0, currentLeaderEpoch: -1, records: bomb })) }],
      }),
    )
    await waitFor(() => c.frames.length >= 1, { what: 'the produce answered', timeoutMs: 60_000 })
    probing = false
    await probes
    const parts = decodeResponse(ApiKey.Produce, 0, c.frames[0] as Buffer).body.topics[0]?.partitions ?? []
    t.ok(parts.length === 60 && parts.every((p) => p.errorCode === errorCodeOf('CORRUPT_MESSAGE')), 'every bomb refused as CORRUPT_MESSAGE')
    t.ok(probeMsMax < 2000, `ApiVersions answered within ${Math.round(probeMsMax)} ms at worst while the bombs were validated`)
    c.socket.destroy()
    probe.socket.destroy()
    await roundTrip('after the bombs')
  })

  await consumer.close()
  await consuming
  t.equal(broker.child.exitCode, null, 'the broker never exited')
})
