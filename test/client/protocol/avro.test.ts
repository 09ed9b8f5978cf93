// The guarded Avro decoding of client/protocol/avro.ts: forged varints are refused as malformed
// requests, and none of them can damage the decoder for the requests that follow. avsc reads an
// overlong run of continuation bytes at a buffer's end as NaN; a bytes length of NaN used to set
// avsc's shared buffer pool offset to NaN, after which every decoded `bytes` value in the process
// came out empty (a broker then refused every Produce as CORRUPT_MESSAGE).

import t from 'tap'
import { ApiKey, decodeRequest, decodeResponse, encodeRequest, encodeRequestChunks, encodeResponse, encodeResponseChunks } from '../../../client/protocol/apis.js'
import { SPLICE_BYTES_MIN } from '../../../client/protocol/avro.js'
import { requestHeaderBytes } from '../../../client/protocol/frame.js'
import { zigzagVarint } from '../../fuzz/mutate.js'
import { Rng, testSeed } from '../../helpers/random.js'

/** Where a request body starts in a frame body with client id "x". */
const BODY = requestHeaderBytes('x')
const records = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex')

function produce(recordsField: Buffer): Buffer {
  return encodeRequest(ApiKey.Produce, 0, 1, 'x', { transactionalId: null, acks: 1, timeoutMs: 1000, topics: [{ name: 't', partitions: [{ index: 0, currentLeaderEpoch: -1, records: recordsField }] }] })
}

/** A frame body (no size prefix) ending in `tail` where Produce's records length would start. */
function produceEndingWith(tail: Buffer): Buffer {
  const valid = produce(Buffer.alloc(0))
  // The body ends with the records length (0), then the ends of the partitions and topics arrays.
  return Buffer.concat([valid.subarray(4, valid.length - 3), tail])
}

t.test('a bytes length read as NaN is refused and later bytes values still decode', async (t) => {
  const runaway = produceEndingWith(Buffer.alloc(200, 0xff))
  t.throws(() => decodeRequest(ApiKey.Produce, runaway), { code: 'INVALID_REQUEST', message: /bytes value of length NaN/ })
  const after = decodeRequest(ApiKey.Produce, produce(records).subarray(4))
  t.same(after.body.topics[0]?.partitions[0]?.records, records, 'the next request decodes its records in full')
})

t.test('lengths past the bytes left, infinite or fractional are refused for bytes and strings', async (t) => {
  for (const length of [2 ** 40, 2 ** 62, 1e300]) {
    t.throws(() => decodeRequest(ApiKey.Produce, produceEndingWith(zigzagVarint(length))), { code: 'INVALID_REQUEST' }, `records length ${length}`)
  }
  const metadata = encodeRequest(ApiKey.Metadata, 0, 1, 'x', { topics: ['abc'] })
  // topics: union branch 1, array block count 1, then the string's length (3, zigzag 6).
  const forged = Buffer.from(metadata.subarray(4))
  const at = BODY + 2
  t.equal(forged[at], 6, 'the string length byte is where expected')
  const withLength = (varint: Buffer): Buffer => Buffer.concat([forged.subarray(0, at), varint, forged.subarray(at + 1)])
  t.throws(() => decodeRequest(ApiKey.Metadata, withLength(zigzagVarint(2 ** 40))), { code: 'INVALID_REQUEST', message: /string of length/ })
  t.throws(() => decodeRequest(ApiKey.Metadata, Buffer.concat([forged.subarray(0, at), Buffer.alloc(200, 0xff)])), { code: 'INVALID_REQUEST', message: /string of length NaN/ })
})

t.test('an int outside 32 bits is refused instead of reaching a handler as a huge float or NaN', async (t) => {
  const fetch = encodeRequest(ApiKey.Fetch, 0, 1, 'x', { replicaId: -1, maxWaitMs: 0, minBytes: 1, maxBytes: 1, isolationLevel: 0, topics: [] })
  const body = Buffer.from(fetch.subarray(4))
  // replicaId is the body's first field.
  const at = BODY
  for (const forged of [zigzagVarint(2 ** 31), zigzagVarint(-(2 ** 31) - 1), zigzagVarint(2 ** 62)]) {
    t.throws(() => decodeRequest(ApiKey.Fetch, Buffer.concat([body.subarray(0, at), forged, body.subarray(at + 1)])), { code: 'INVALID_REQUEST', message: /does not fit 32 bits/ })
  }
  t.throws(() => decodeRequest(ApiKey.Fetch, Buffer.concat([body.subarray(0, at), Buffer.alloc(200, 0xff)])), { code: 'INVALID_REQUEST' }, 'a runaway int varint')
  const extremes = encodeRequest(ApiKey.Fetch, 0, 1, 'x', { replicaId: -(2 ** 31), maxWaitMs: 2 ** 31 - 1, minBytes: 1, maxBytes: 1, isolationLevel: 0, topics: [] })
  t.equal(decodeRequest(ApiKey.Fetch, extremes.subarray(4)).body.replicaId, -(2 ** 31), 'the int32 extremes still decode')
})

t.test('an array block count that is not an integer is refused, not skipped', async (t) => {
  const metadata = encodeRequest(ApiKey.Metadata, 0, 1, 'x', { topics: [] })
  const body = metadata.subarray(4)
  // The union's branch, then the array's block count.
  t.throws(() => decodeRequest(ApiKey.Metadata, Buffer.concat([body.subarray(0, BODY + 1), Buffer.alloc(200, 0xff)])), { code: 'INVALID_REQUEST', message: /block count NaN/ })
})

t.test('longs: every value round-trips, encoded byte for byte as avsc\'s unpacking long type encodes it', async (t) => {
  const avro = (await import('avsc')).default
  const { BigIntLong, FastBigIntLong } = await import('../../../client/protocol/avro.js')
  const schema = { type: 'record', name: 'L', fields: [{ name: 'v', type: 'long' }, { name: 'after', type: 'int' }] }
  const fast = avro.Type.forSchema(schema as never, { registry: { long: FastBigIntLong } } as never)
  const reference = avro.Type.forSchema(schema as never, { registry: { long: BigIntLong } } as never)
  const edges = [0n, 1n, -1n, 63n, -64n, 64n, 2n ** 31n, -(2n ** 31n), 2n ** 52n - 1n, -(2n ** 52n) + 1n, 2n ** 52n, -(2n ** 52n), 2n ** 53n + 1n, -(2n ** 53n) - 1n, 2n ** 63n - 1n, -(2n ** 63n)]
  const rng = new Rng(testSeed())
  for (let i = 0; i < 200; i++) edges.push(BigInt.asIntN(64, (BigInt(rng.int(0, 2 ** 32 - 1)) << BigInt(rng.int(0, 32))) - 2n ** 31n))
  for (const v of edges) {
    const bytes = fast.toBuffer({ v, after: 7 })
    if (!bytes.equals(reference.toBuffer({ v, after: 7 }))) t.fail(`${v} encodes as ${bytes.toString('hex')}, avsc as ${reference.toBuffer({ v, after: 7 }).toString('hex')}`)
    const back = fast.fromBuffer(bytes) as { v: bigint; after: number }
    if (back.v !== v || back.after !== 7) t.fail(`${v} decodes as ${back.v} (then ${back.after})`)
  }
  t.pass(`${edges.length} values (seed ${rng.seed})`)
  t.throws(() => fast.fromBuffer(Buffer.from([0xff, 0xff])), 'a truncated varint is refused')
})

const seed = testSeed()

t.test(`spliced encoding: the chunks are the one-buffer encoding, with large records shared, not copied (seed ${seed})`, async (t) => {
  const rng = new Rng(seed)
  for (let round = 0; round < 50; round++) {
    const partitions = Array.from({ length: rng.int(0, 6) }, (_, index) => ({ index, currentLeaderEpoch: -1, records: rng.bytes(rng.bool(0.5) ? rng.int(0, SPLICE_BYTES_MIN * 3) : rng.int(0, 40)) }))
    const body = { transactionalId: null, acks: -1, timeoutMs: 1000, topics: [{ name: 'topic', partitions }, { name: 'other', partitions: partitions.slice(0, 1) }] }
    const chunks = encodeRequestChunks(ApiKey.Produce, 0, round, 'x', body)
    t.same(Buffer.concat(chunks), encodeRequest(ApiKey.Produce, 0, round, 'x', body), 'same bytes as the one-buffer encoding')
    const large = partitions.filter((p) => p.records.length >= SPLICE_BYTES_MIN).map((p) => p.records)
    t.equal(chunks.filter((c) => large.includes(c)).length, large.length + (large.includes(partitions[0]?.records as Buffer) ? 1 : 0), 'each large records value is a chunk itself')
    const fetched = { throttleTimeMs: 0, errorCode: 0, topics: [{ name: 'topic', partitions: partitions.map((p) => ({ partitionIndex: p.index, errorCode: 0, highWatermark: 5n, lastStableOffset: 5n, logStartOffset: 0n, records: p.records })) }] }
    t.same(Buffer.concat(encodeResponseChunks(ApiKey.Fetch, 0, round, fetched)), encodeResponse(ApiKey.Fetch, 0, round, fetched))
  }
})

t.test('decoded bytes are views of the frame, not copies', async (t) => {
  const big = Buffer.alloc(5000, 3)
  const frameBody = produce(big).subarray(4)
  const { body } = decodeRequest(ApiKey.Produce, frameBody)
  const got = body.topics[0]?.partitions[0]?.records as Buffer
  t.ok(got.equals(big))
  t.equal(got.buffer, frameBody.buffer, 'shares the frame\'s memory')
  const res = encodeResponse(ApiKey.Fetch, 0, 9, { throttleTimeMs: 0, errorCode: 0, topics: [{ name: 't', partitions: [{ partitionIndex: 0, errorCode: 0, highWatermark: 1n, lastStableOffset: 1n, logStartOffset: 0n, records: big }] }] })
  const decoded = decodeResponse(ApiKey.Fetch, 0, res.subarray(4)).body.topics[0]?.partitions[0]?.records as Buffer
  t.equal(decoded.buffer, res.buffer)
  t.ok(decoded.equals(big))
})

t.test('unpinned: a view kept for long is copied to its own memory when it is a small part of its buffer', async (t) => {
  const { unpinned } = await import('../../../client/protocol/primitives.js')
  const frame = Buffer.alloc(1 << 20, 5)
  const small = frame.subarray(100, 150)
  const kept = unpinned(small)
  t.not(kept.buffer, frame.buffer, 'a 50-byte view of 1 MiB is copied')
  t.equal(kept.buffer.byteLength, 50, 'into memory of exactly its size')
  t.ok(kept.equals(small))
  frame.fill(0)
  t.equal(kept[0], 5, 'and no longer shares the frame')
  const most = frame.subarray(0, frame.length - 10)
  t.equal(unpinned(most), most, 'a view of most of its buffer is kept as it is')
})
