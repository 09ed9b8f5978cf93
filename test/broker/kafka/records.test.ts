import zlib from 'node:zlib'
import t from 'tap'
import { crc32c } from '../../../client/protocol/crc32c.js'
import { StrandProtocolError } from '../../../client/protocol/errors.js'
import { decodeBatch, encodeBatch, verifyBatches, type Compression } from '../../../client/protocol/records.js'
import { kafkaToStrandBatches, strandToKafkaBatches } from '../../../broker/kafka/records.js'

const NOW = 1_700_000_000_000

function batch(compression: Compression, count = 3): Buffer {
  const records = Array.from({ length: count }, (_, i) => ({ key: `k${i}`, value: `value-${i}-${'x'.repeat(50)}`, headers: [{ key: 'h', value: Buffer.from([i]) }] }))
  return encodeBatch(records, { timestamp: NOW, compression })
}

/** The CRC-32C that Kafka's format stores at [17, 21) over [21, end). */
function kafkaCrcValid(b: Buffer): boolean {
  return b.readUInt32BE(17) === crc32c(b.subarray(21))
}

function errorCode(fn: () => unknown): string | null {
  try {
    fn()
    return null
  } catch (err) {
    return err instanceof StrandProtocolError ? err.code : `not a protocol error: ${(err as Error).name}`
  }
}

t.test('a Strand batch leaves as a Kafka batch and comes back byte for byte', async (t) => {
  for (const compression of ['none', 'gzip'] as const) {
    const strand = Buffer.concat([batch(compression), batch(compression, 5)])
    const before = Buffer.from(strand)
    const kafka = Buffer.concat(await strandToKafkaBatches(strand))
    t.equal(kafka.length, strand.length, `${compression}: same size`)
    t.ok(strand.equals(before), `${compression}: the fetched read is not modified`)
    const first = kafka.subarray(0, strand.readInt32BE(8) + 12)
    t.ok(kafkaCrcValid(first), `${compression}: the batch carries a valid CRC-32C`)
    t.not(kafka.readUInt32BE(17), strand.readUInt32BE(17), `${compression}: the CRC differs from Strand's CRC-32`)
    kafkaToStrandBatches(kafka)
    t.ok(kafka.equals(before), `${compression}: produced back, it is Strand's batch again`)
    t.equal(verifyBatches(kafka).length, 2, `${compression}: Strand verifies both batches`)
  }
})

t.test('deflate and brotli batches (codes Kafka reads as snappy and lz4) leave uncompressed', async (t) => {
  for (const compression of ['deflate', 'brotli'] as const) {
    const strand = batch(compression, 4)
    const [kafka, ...rest] = await strandToKafkaBatches(strand)
    t.equal(rest.length, 0)
    t.equal(kafka!.readInt16BE(21) & 7, 0, `${compression}: codec none`)
    t.ok(kafkaCrcValid(kafka!), `${compression}: CRC-32C valid`)
    kafkaToStrandBatches(kafka!)
    const decoded = decodeBatch(kafka!)
    t.same(decoded.records.map((r) => r.key?.toString()), ['k0', 'k1', 'k2', 'k3'], `${compression}: records intact`)
  }
})

t.test('a partial last batch (a size limit cut it) is not sent', async (t) => {
  const whole = batch('none')
  const strand = Buffer.concat([whole, batch('none').subarray(0, 40)])
  const kafka = Buffer.concat(await strandToKafkaBatches(strand))
  t.equal(kafka.length, whole.length)
  t.same(await strandToKafkaBatches(null), [])
})

t.test('produced batches that Strand cannot take are refused with Kafka error codes', async (t) => {
  const kafka = Buffer.concat(await strandToKafkaBatches(batch('none')))
  const badCrc = Buffer.from(kafka)
  badCrc[badCrc.length - 1] = badCrc[badCrc.length - 1]! ^ 0xff
  t.equal(errorCode(() => kafkaToStrandBatches(badCrc)), 'CORRUPT_MESSAGE', 'a CRC-32C mismatch')
  // A Strand CRC-32 is not accepted on the Kafka listener: Kafka clients stamp CRC-32C.
  t.equal(errorCode(() => kafkaToStrandBatches(batch('none'))), 'CORRUPT_MESSAGE', 'a CRC-32 instead of CRC-32C')
  for (const [code, name] of [[2, 'snappy'], [3, 'lz4'], [4, 'zstd']] as const) {
    const b = Buffer.from(kafka)
    b.writeInt16BE((b.readInt16BE(21) & ~7) | code, 21)
    b.writeUInt32BE(crc32c(b.subarray(21)), 17)
    t.equal(errorCode(() => kafkaToStrandBatches(b)), 'UNSUPPORTED_COMPRESSION_TYPE', name)
  }
  const magic1 = Buffer.from(kafka)
  magic1[16] = 1
  t.equal(errorCode(() => kafkaToStrandBatches(magic1)), 'CORRUPT_MESSAGE', 'magic 1')
  t.equal(errorCode(() => kafkaToStrandBatches(kafka.subarray(0, kafka.length - 1))), 'CORRUPT_MESSAGE', 'a truncated batch')
  t.equal(errorCode(() => kafkaToStrandBatches(kafka.subarray(0, 30))), 'CORRUPT_MESSAGE', 'a truncated header')
  t.equal(errorCode(() => kafkaToStrandBatches(Buffer.alloc(0))), 'CORRUPT_MESSAGE', 'no batch')
  const hugeLength = Buffer.from(kafka)
  hugeLength.writeInt32BE(0x7fffffff, 8)
  t.equal(errorCode(() => kafkaToStrandBatches(hugeLength)), 'CORRUPT_MESSAGE', 'a length past the payload')
  t.equal(zlib.crc32(kafka.subarray(21)) === kafka.readUInt32BE(17), false, 'the fixture is a Kafka batch')
})
