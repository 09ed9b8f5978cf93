import t, { type Test } from 'tap'
import { StrandProtocolError } from '../../../client/protocol/errors.js'
import {
  BATCH_HEADER_BYTES,
  BatchBuilder,
  decodeBatch,
  decodeBatches,
  encodeBatch,
  patchBatch,
  readBatchHeader,
  validateBatchRecords,
  validateBatchRecordsAsync,
  verifyBatch,
  verifyBatches,
  NO_HEADERS,
  recordPayloadBytes,
  type Compression,
  type MeasuredRecord,
  type RecordHeader,
  type RecordInput,
} from '../../../client/protocol/records.js'
import { Rng, testSeed } from '../../helpers/random.js'

const seed = testSeed()
const rng = new Rng(seed)
const NOW = 1_700_000_000_000
const COMPRESSIONS: Compression[] = ['none', 'gzip', 'deflate', 'brotli']

function randomRecords(count: number): RecordInput[] {
  const records: RecordInput[] = []
  for (let i = 0; i < count; i++) {
    const key = rng.bool(0.2) ? null : rng.bool() ? rng.string(rng.int(0, 20)) : rng.bytes(rng.int(0, 40))
    const value = rng.bool(0.1) ? null : rng.bytes(rng.int(0, rng.bool(0.05) ? 5000 : 200))
    const headers = Array.from({ length: rng.int(0, 3) }, () => ({ key: rng.string(rng.int(0, 8)), value: rng.bool(0.2) ? null : rng.bytes(rng.int(0, 10)) }))
    // Timestamps both sides of the base, and far apart, to exercise varlong deltas.
    const timestamp = NOW + rng.int(-1_000_000, 1_000_000) * (rng.bool(0.1) ? 1_000_000 : 1)
    records.push({ key, value, headers, timestamp })
  }
  return records
}

function asBuffer(v: Buffer | string | null | undefined): Buffer | null {
  if (v === null || v === undefined) return null
  return typeof v === 'string' ? Buffer.from(v) : v
}

function expectCorrupt(t: Test, fn: () => unknown, what: string): void {
  try {
    fn()
  } catch (err) {
    if (err instanceof StrandProtocolError && err.code === 'CORRUPT_MESSAGE') return
    t.fail(`${what}: threw ${(err as Error).name}: ${(err as Error).message} (seed ${seed})`)
    return
  }
  t.fail(`${what}: was accepted (seed ${seed})`)
}

t.test(`seeded round trips in every compression (seed ${seed})`, async (t) => {
  for (let round = 0; round < 200; round++) {
    const compression = COMPRESSIONS[round % COMPRESSIONS.length] as Compression
    const input = randomRecords(rng.int(1, 50))
    const baseOffset = BigInt(rng.int(0, 2 ** 40))
    const batch = encodeBatch(input, { timestamp: NOW, compression, baseOffset, partitionLeaderEpoch: 7, producerId: 42n, producerEpoch: 3, baseSequence: 11 })
    const { header, records, sizeBytes } = decodeBatch(batch)
    if (sizeBytes !== batch.length) t.fail(`size ${sizeBytes} != ${batch.length}`)
    if (header.compression !== compression || header.recordCount !== input.length || header.baseOffset !== baseOffset) {
      t.fail(`header mismatch in round ${round} (seed ${seed})`)
    }
    if (header.producerId !== 42n || header.producerEpoch !== 3 || header.baseSequence !== 11 || header.partitionLeaderEpoch !== 7) {
      t.fail(`producer fields mismatch (seed ${seed})`)
    }
    for (let i = 0; i < input.length; i++) {
      const want = input[i] as RecordInput
      const got = records[i]
      if (got === undefined) throw new Error('missing record')
      const same =
        got.offset === baseOffset + BigInt(i) &&
        got.timestamp === want.timestamp &&
        Buffer.compare(got.key ?? Buffer.alloc(0), asBuffer(want.key) ?? Buffer.alloc(0)) === 0 &&
        (got.key === null) === (asBuffer(want.key) === null) &&
        (got.value === null) === (want.value === null) &&
        Buffer.compare(got.value ?? Buffer.alloc(0), asBuffer(want.value) ?? Buffer.alloc(0)) === 0 &&
        JSON.stringify(got.headers) === JSON.stringify(want.headers)
      if (!same) t.fail(`record ${i} of round ${round} differs (seed ${seed})`)
    }
  }
  t.pass('200 batches round-tripped')
})

t.test('header fields and timestamps', async (t) => {
  const batch = encodeBatch([{ value: 'a', timestamp: NOW + 5 }, { value: 'b', timestamp: NOW - 3 }, { value: 'c' }], { timestamp: NOW })
  const h = readBatchHeader(batch)
  t.equal(h.baseTimestamp, NOW - 3)
  t.equal(h.maxTimestamp, NOW + 5)
  t.equal(h.lastOffsetDelta, 2)
  t.equal(h.recordCount, 3)
  t.equal(h.magic, 2)
  t.equal(h.producerId, -1n, 'not idempotent by default')
  const { records } = decodeBatch(batch)
  t.same(records.map((r) => r.timestamp), [NOW + 5, NOW - 3, NOW])
  t.same(records.map((r) => r.value?.toString()), ['a', 'b', 'c'])
})

t.test('patching offset and leader epoch keeps the CRC valid', async (t) => {
  const batch = encodeBatch(randomRecords(5), { timestamp: NOW })
  patchBatch(batch, 0, { baseOffset: 1234n, partitionLeaderEpoch: 9 })
  const { header, records } = decodeBatch(batch)
  t.equal(header.baseOffset, 1234n)
  t.equal(header.partitionLeaderEpoch, 9)
  t.equal(records[4]?.offset, 1238n)
})

t.test(`every truncation of a valid batch is CORRUPT_MESSAGE (seed ${seed})`, async (t) => {
  for (const compression of COMPRESSIONS) {
    const batch = encodeBatch(randomRecords(8), { timestamp: NOW, compression })
    for (let len = 0; len < batch.length; len++) {
      expectCorrupt(t, () => decodeBatch(batch.subarray(0, len)), `${compression} cut at ${len}`)
      expectCorrupt(t, () => verifyBatches(batch.subarray(0, len)), `${compression} verifyBatches cut at ${len}`)
    }
  }
  t.pass('all truncations rejected')
})

t.test(`random bit flips are CORRUPT_MESSAGE (seed ${seed})`, async (t) => {
  let rejected = 0
  for (let i = 0; i < 2000; i++) {
    const compression = COMPRESSIONS[i % 4] as Compression
    const batch = encodeBatch(randomRecords(rng.int(1, 6)), { timestamp: NOW, compression })
    // Flip a bit anywhere covered by the CRC or by the length: base offset and leader epoch are
    // deliberately outside the CRC (the leader patches them).
    const pos = rng.pick([rng.int(8, 11), rng.int(16, batch.length - 1)])
    batch[pos] = (batch[pos] as number) ^ (1 << rng.int(0, 7))
    expectCorrupt(t, () => decodeBatch(batch), `flip at ${pos} of ${batch.length} (${compression})`)
    rejected++
  }
  t.equal(rejected, 2000)
})

t.test('absurd lengths and counts are rejected without huge allocations', async (t) => {
  const batch = encodeBatch([{ key: 'k', value: 'v' }], { timestamp: NOW })
  const huge = Buffer.from(batch)
  huge.writeInt32BE(0x7fffffff, 8)
  expectCorrupt(t, () => decodeBatch(huge), 'batchLength 2^31-1')
  const negative = Buffer.from(batch)
  negative.writeInt32BE(-5, 8)
  expectCorrupt(t, () => decodeBatch(negative), 'negative batchLength')
  // A record count the bytes cannot hold, with a valid CRC: the decoder must refuse before it
  // allocates an array for 2^31 records.
  const lying = Buffer.from(batch)
  lying.writeInt32BE(0x7fffffff, 57)
  lying.writeInt32BE(0x7fffffff - 1, 23)
  const { crc32 } = await import('node:zlib')
  lying.writeUInt32BE(crc32(lying.subarray(21)), 17)
  expectCorrupt(t, () => decodeBatch(lying), 'record count 2^31-1 with valid CRC')
  const negativeCount = Buffer.from(batch)
  negativeCount.writeInt32BE(-1, 57)
  negativeCount.writeUInt32BE(crc32(negativeCount.subarray(21)), 17)
  expectCorrupt(t, () => decodeBatch(negativeCount), 'negative record count with valid CRC')
  t.pass()
})

t.test('a forged record length inside a batch with a valid CRC is rejected', async (t) => {
  const batch = encodeBatch([{ key: 'key', value: 'value' }], { timestamp: NOW })
  batch[BATCH_HEADER_BYTES] = 0x7f // record length varint: 63 -> past the end
  const { crc32 } = await import('node:zlib')
  batch.writeUInt32BE(crc32(batch.subarray(21)), 17)
  expectCorrupt(t, () => decodeBatch(batch), 'record length past the end')
  t.pass()
})

t.test(`validateBatchRecords accepts exactly what decodeBatch decodes (seed ${seed})`, async (t) => {
  const { crc32 } = await import('node:zlib')
  /** Whether `fn` refused with CORRUPT_MESSAGE; anything else thrown fails the test. */
  const refuses = (fn: () => unknown): boolean => {
    try {
      fn()
      return false
    } catch (err) {
      if (err instanceof StrandProtocolError && err.code === 'CORRUPT_MESSAGE') return true
      throw err
    }
  }
  let refused = 0
  for (let round = 0; round < 300; round++) {
    const batch = encodeBatch(randomRecords(rng.int(1, 8)), { timestamp: NOW })
    const header = readBatchHeader(batch, 0)
    t.notOk(refuses(() => validateBatchRecords(batch, 0, header, batch.length)), 'an intact batch is valid')
    // A changed byte of the records block, under a CRC recomputed to match: only the record
    // parsing can tell, as with a producer that checksums garbage.
    const forged = Buffer.from(batch)
    // Half the time among the first record's leading fields (length, attributes, deltas, key length).
    const at = rng.bool() ? BATCH_HEADER_BYTES + rng.int(0, Math.min(7, forged.length - BATCH_HEADER_BYTES - 1)) : rng.int(BATCH_HEADER_BYTES, forged.length - 1)
    forged[at] = rng.bool() ? rng.int(0, 255) : (forged[at] as number) ^ 0x80
    forged.writeUInt32BE(crc32(forged.subarray(21)), 17)
    const decodes = !refuses(() => decodeBatch(forged))
    const valid = !refuses(() => validateBatchRecords(forged, 0, readBatchHeader(forged, 0), forged.length))
    if (valid !== decodes) t.fail(`byte ${at} of a ${forged.length}-byte batch: decodeBatch ${decodes ? 'decodes' : 'refuses'} it, validateBatchRecords ${valid ? 'accepts' : 'refuses'} it`)
    if (!valid) refused++
  }
  t.ok(refused > 0, `${refused} of 300 forged batches refused by both`)
})

t.test('a zip bomb is refused', async (t) => {
  const { gzipSync, crc32 } = await import('node:zlib')
  const batch = encodeBatch([{ value: 'x' }], { timestamp: NOW, compression: 'gzip' })
  const bomb = gzipSync(Buffer.alloc(80 * 1024 * 1024))
  const forged = Buffer.alloc(BATCH_HEADER_BYTES + bomb.length)
  batch.copy(forged, 0, 0, BATCH_HEADER_BYTES)
  bomb.copy(forged, BATCH_HEADER_BYTES)
  forged.writeInt32BE(forged.length - 12, 8)
  forged.writeUInt32BE(crc32(forged.subarray(21)), 17)
  expectCorrupt(t, () => decodeBatch(forged), 'an 80 MiB decompressed block')
  t.pass()
})

t.test(`validateBatchRecordsAsync (inflating off the event loop) agrees with validateBatchRecords (seed ${seed})`, async (t) => {
  const { crc32, gzipSync } = await import('node:zlib')
  const verdict = async (fn: () => unknown): Promise<string> => {
    try {
      await fn()
      return 'valid'
    } catch (err) {
      if (err instanceof StrandProtocolError && err.code === 'CORRUPT_MESSAGE') return 'corrupt'
      throw err
    }
  }
  const seen = new Set<string>()
  for (let round = 0; round < 100; round++) {
    const compression = rng.pick(['none', 'gzip', 'deflate', 'brotli'] as const)
    const batch = encodeBatch(randomRecords(rng.int(1, 8)), { timestamp: NOW, compression })
    // A changed byte of the (compressed) records block under a matching CRC, half of the time.
    if (rng.bool()) {
      const at = rng.int(BATCH_HEADER_BYTES, batch.length - 1)
      batch[at] = (batch[at] as number) ^ (1 << rng.int(0, 7))
      batch.writeUInt32BE(crc32(batch.subarray(21)), 17)
    }
    const header = readBatchHeader(batch, 0)
    const sync = await verdict(() => validateBatchRecords(batch, 0, header, batch.length))
    const async = await verdict(() => validateBatchRecordsAsync(batch, 0, header, batch.length))
    if (sync !== async) t.fail(`a ${compression} batch: validateBatchRecords says ${sync}, the async one ${async}`)
    seen.add(sync)
  }
  t.same([...seen].sort(), ['corrupt', 'valid'], 'both verdicts occurred')

  // A bomb: refused, and the event loop keeps turning while it inflates.
  const bomb = gzipSync(Buffer.alloc(80 * 1024 * 1024))
  const forged = Buffer.alloc(BATCH_HEADER_BYTES + bomb.length)
  encodeBatch([{ value: 'x' }], { timestamp: NOW, compression: 'gzip' }).copy(forged, 0, 0, BATCH_HEADER_BYTES)
  bomb.copy(forged, BATCH_HEADER_BYTES)
  forged.writeInt32BE(forged.length - 12, 8)
  forged.writeUInt32BE(crc32(forged.subarray(21)), 17)
  let turns = 0
  let inflating = true
  const count = (): void => {
    turns++
    if (inflating) setImmediate(count)
  }
  setImmediate(count)
  const result = await verdict(() => validateBatchRecordsAsync(forged, 0, readBatchHeader(forged, 0), forged.length))
  inflating = false
  t.equal(result, 'corrupt', 'an 80 MiB decompressed block is refused')
  t.ok(turns > 1, `the event loop turned ${turns} times while the bomb inflated`)
})

t.test('decodeBatches returns complete batches and reports a trailing partial one', async (t) => {
  const a = encodeBatch([{ value: 'a' }, { value: 'b' }], { timestamp: NOW, baseOffset: 0n })
  const b = encodeBatch([{ value: 'c' }], { timestamp: NOW, baseOffset: 2n })
  const c = encodeBatch([{ value: 'd' }], { timestamp: NOW, baseOffset: 3n })
  const buf = Buffer.concat([a, b, c.subarray(0, 30)])
  const { batches, partialBytes } = decodeBatches(buf)
  t.equal(batches.length, 2)
  t.equal(partialBytes, 30)
  t.same(batches.flatMap((x) => x.records.map((r) => r.offset)), [0n, 1n, 2n])
  t.same(verifyBatches(Buffer.concat([a, b])).map((s) => s.pos), [0, a.length])
  expectCorrupt(t, () => verifyBatches(Buffer.alloc(0)), 'empty payload')
  t.equal(verifyBatch(a).sizeBytes, a.length)
})

// The producer's BatchBuilder writes records one by one, as they are appended; it must write the
// same format as encodeBatch.

function measured(r: RecordInput): MeasuredRecord {
  const key = r.key ?? null
  const headers = (r.headers as RecordHeader[] | undefined) ?? NO_HEADERS
  return { key, value: r.value, headers, timestamp: r.timestamp ?? NOW, payloadBytes: recordPayloadBytes(key, r.value, headers) }
}

function build(input: readonly RecordInput[], options: { bytesMax: number; compression: Compression }): { batch: Buffer; sizes: number[] } {
  const builder = new BatchBuilder(options.bytesMax)
  const sizes: number[] = []
  for (const r of input) {
    const m = measured(r)
    const size = builder.nextRecordBytes(m)
    builder.append(m, size)
    sizes.push(builder.sizeBytes)
  }
  return { batch: builder.build({ compression: options.compression, producerId: 42n, producerEpoch: 3, baseSequence: 11 }), sizes }
}

t.test(`BatchBuilder writes what encodeBatch writes, byte for byte, when the first timestamp is the earliest (seed ${seed})`, async (t) => {
  for (let round = 0; round < 100; round++) {
    const compression = COMPRESSIONS[round % COMPRESSIONS.length] as Compression
    const input = randomRecords(rng.int(1, 60))
    const earliest = Math.min(...input.map((r) => r.timestamp as number))
    ;(input[0] as RecordInput).timestamp = earliest
    // A small bytesMax makes the buffer grow past it for large records, a large one lets it double.
    const { batch, sizes } = build(input, { bytesMax: rng.bool() ? 256 : 1 << 20, compression })
    const expected = encodeBatch(input, { timestamp: NOW, compression, producerId: 42n, producerEpoch: 3, baseSequence: 11 })
    if (!batch.equals(expected)) t.fail(`round ${round}: bytes differ (seed ${seed})`)
    if (compression === 'none' && sizes.at(-1) !== batch.length) t.fail(`round ${round}: sizeBytes ${sizes.at(-1)} for a batch of ${batch.length} (seed ${seed})`)
  }
  t.pass()
})

t.test('BatchBuilder: a later record with an earlier timestamp gets a negative delta', async (t) => {
  const input: RecordInput[] = [{ value: 'a', timestamp: NOW }, { value: 'b', timestamp: NOW - 5_000 }, { value: 'c', timestamp: NOW + 9 }]
  const { batch } = build(input, { bytesMax: 1024, compression: 'none' })
  const { header, records } = decodeBatch(batch)
  t.equal(header.baseTimestamp, NOW, "the base timestamp is the first record's")
  t.equal(header.maxTimestamp, NOW + 9)
  t.same(records.map((r) => r.timestamp), [NOW, NOW - 5_000, NOW + 9])
})

t.test('BatchBuilder refuses to build an empty batch and checks each record against its measured size', async (t) => {
  t.throws(() => new BatchBuilder(1024).build({ compression: 'none' }), RangeError)
  const builder = new BatchBuilder(1024)
  const m = measured({ value: 'abc' })
  t.throws(() => builder.append(m, builder.nextRecordBytes(m) + 1), /not the/, 'a wrong size is a bug, not a corrupt batch')
})
