// The Kafka listener's answers to what a Kafka client sends, byte for byte, against a real broker
// process: ApiVersions lists exactly the table of APIs and versions; ApiVersions at a version the
// broker does not speak gets Kafka's v0 answer with UNSUPPORTED_VERSION (so the client falls
// back); any other unsupported API or version closes the connection (as Kafka's broker does)
// while the broker carries on; produced batches in Kafka's format are appended and read back by a
// Strand consumer, while a snappy batch gets UNSUPPORTED_COMPRESSION_TYPE and a batch with
// Strand's CRC-32 gets CORRUPT_MESSAGE, appending nothing; a Fetch naming a fetch session gets
// FETCH_SESSION_ID_NOT_FOUND; acks=0 gets no response; pipelined requests are answered in order;
// and a group id longer than a Kafka string can be (0x7fff bytes) is refused on the Strand
// listener too, so no group exists that a Kafka-listener answer could not name.

import t from 'tap'
import { Strand } from '../../client/index.js'
import { crc32c } from '../../client/protocol/crc32c.js'
import { errorCodeOf } from '../../client/protocol/errors.js'
import { apiVersionsRequest, apiVersionsResponse } from '../../client/protocol/kafka/messages/api-versions.js'
import { fetchRequest, fetchResponse } from '../../client/protocol/kafka/messages/fetch.js'
import { metadataRequest } from '../../client/protocol/kafka/messages/metadata.js'
import { produceRequest, produceResponse } from '../../client/protocol/kafka/messages/produce.js'
import { encodeBatch } from '../../client/protocol/records.js'
import { KAFKA_APIS } from '../../broker/kafka/apis.js'
import { kafkaVersionRanges } from '../../broker/kafka/dispatch.js'
import { strandToKafkaBatches } from '../../broker/kafka/records.js'
import { ApiKey } from '../../client/protocol/apis.js'
import { spawnBroker } from '../helpers/broker-process.js'
import { rawConnection } from '../helpers/connection.js'
import { waitFor } from '../helpers/wait.js'
import { decodeResponse, KafkaWire } from '../helpers/kafka-wire.js'

const TOPIC = 'wire'

/** A batch as a Kafka producer writes it (CRC-32C), of `values`. */
async function kafkaBatch(values: string[]): Promise<Buffer> {
  return Buffer.concat(await strandToKafkaBatches(encodeBatch(values.map((v) => ({ key: v, value: v })), { timestamp: Date.now() })))
}

function produceBody(records: Buffer, acks = -1): Record<string, unknown> {
  return { transactionalId: null, acks, timeoutMs: 5000, topicData: [{ name: TOPIC, partitionData: [{ index: 0, records }] }] }
}

function partitionResult(res: Record<string, unknown>): { errorCode: number; baseOffset: bigint } {
  const topic = (res.responses as Array<{ partitionResponses: Array<{ errorCode: number; baseOffset: bigint }> }>)[0]!
  return topic.partitionResponses[0]!
}

t.test('the Kafka listener answers as a Kafka broker does', async (t) => {
  const broker = await spawnBroker(t, { overrides: { 'kafka.listener.port': 0 } })
  const kafkaPort = broker.kafkaPort
  if (kafkaPort === null) throw new Error('the broker reported no Kafka port')
  const strand = new Strand({ brokers: [broker.address], clientId: 'kafka-listener-test' })
  t.teardown(() => strand.close())
  await strand.admin().createTopic({ topic: TOPIC, partitions: 1, replicationFactor: 1 })

  await t.test('ApiVersions lists the API table, at every version, in header v0', async (t) => {
    const wire = await KafkaWire.connect(t, kafkaPort)
    for (const v of [0, 1, 2, 3]) {
      const res = await wire.request(apiVersionsRequest, apiVersionsResponse, v, { clientSoftwareName: 'test', clientSoftwareVersion: '1' })
      t.equal(res.errorCode, 0, `v${v}: no error`)
      t.same(res.apiKeys, kafkaVersionRanges(KAFKA_APIS), `v${v}: exactly the table's ranges`)
    }
  })

  await t.test('ApiVersions at an unknown version: a v0 answer with UNSUPPORTED_VERSION and the ranges', async (t) => {
    const wire = await KafkaWire.connect(t, kafkaPort)
    const { bytes, correlationId } = wire.frame(apiVersionsRequest, 3, { clientSoftwareName: 'test', clientSoftwareVersion: '1' })
    bytes.writeInt16BE(77, 6) // the request header's apiVersion
    wire.write(bytes)
    const frame = await wire.next()
    t.equal(frame?.correlationId, correlationId)
    const res = decodeResponse(apiVersionsResponse, 0, frame!)
    t.equal(res.errorCode, errorCodeOf('UNSUPPORTED_VERSION'))
    t.same(res.apiKeys, kafkaVersionRanges(KAFKA_APIS))
    const again = await wire.request(apiVersionsRequest, apiVersionsResponse, 3, { clientSoftwareName: 'test', clientSoftwareVersion: '1' })
    t.equal(again.errorCode, 0, 'the connection stays usable: the client retries at a version both speak')
  })

  await t.test('another API at an unsupported version, or an unknown API, closes the connection only', async (t) => {
    for (const [what, patch] of [['Metadata v99', (b: Buffer) => b.writeInt16BE(99, 6)], ['API key 4242', (b: Buffer) => b.writeInt16BE(4242, 4)]] as const) {
      const wire = await KafkaWire.connect(t, kafkaPort)
      const { bytes } = wire.frame(metadataRequest, 1, { topics: null })
      patch(bytes)
      wire.write(bytes)
      t.equal(await wire.next(), null, `${what}: no answer, the connection is closed`)
      await wire.closed
    }
    const wire = await KafkaWire.connect(t, kafkaPort)
    const res = await wire.request(apiVersionsRequest, apiVersionsResponse, 3, { clientSoftwareName: 'test', clientSoftwareVersion: '1' })
    t.equal(res.errorCode, 0, 'the broker still answers new connections')
  })

  await t.test('Produce: Kafka batches are appended; snappy and CRC-32 batches are refused, nothing appended', async (t) => {
    const wire = await KafkaWire.connect(t, kafkaPort)
    const good = partitionResult(await wire.request(produceRequest, produceResponse, 9, produceBody(await kafkaBatch(['a', 'b', 'c']))))
    t.same(good, { ...good, errorCode: 0, baseOffset: 0n }, 'appended at offset 0')

    const snappy = await kafkaBatch(['snappy'])
    snappy.writeInt16BE((snappy.readInt16BE(21) & ~7) | 2, 21)
    snappy.writeUInt32BE(crc32c(snappy.subarray(21)), 17)
    for (const v of [3, 7, 9]) {
      t.equal(partitionResult(await wire.request(produceRequest, produceResponse, v, produceBody(Buffer.from(snappy)))).errorCode, errorCodeOf('UNSUPPORTED_COMPRESSION_TYPE'), `v${v}: snappy is UNSUPPORTED_COMPRESSION_TYPE`)
    }
    const strandCrc = encodeBatch([{ value: 'crc32' }], { timestamp: Date.now() })
    t.equal(partitionResult(await wire.request(produceRequest, produceResponse, 9, produceBody(strandCrc))).errorCode, errorCodeOf('CORRUPT_MESSAGE'), 'a CRC-32 batch is CORRUPT_MESSAGE')
    const end = await strand.admin().listOffsets({ topic: TOPIC, partition: 0, timestamp: 'latest' })
    t.equal(end.offset, 3n, 'only the good batch is in the log')
  })

  await t.test('Fetch reads back what was produced; a fetch session id is FETCH_SESSION_ID_NOT_FOUND', async (t) => {
    const wire = await KafkaWire.connect(t, kafkaPort)
    const fetch = (sessionId: number): Record<string, unknown> => ({
      replicaId: -1, maxWaitMs: 100, minBytes: 1, maxBytes: 1 << 20, isolationLevel: 0, sessionId, sessionEpoch: sessionId === 0 ? -1 : 1,
      topics: [{ topic: TOPIC, partitions: [{ partition: 0, currentLeaderEpoch: -1, fetchOffset: 0n, lastFetchedEpoch: -1, logStartOffset: -1n, partitionMaxBytes: 1 << 20 }] }],
      forgottenTopicsData: [], rackId: '',
    })
    for (const v of [4, 11, 12]) {
      const res = await wire.request(fetchRequest, fetchResponse, v, fetch(0))
      const p = (res.responses as Array<{ partitions: Array<{ errorCode: number; highWatermark: bigint; records: Buffer }> }>)[0]!.partitions[0]!
      t.equal(p.errorCode, 0, `v${v}: no error`)
      t.equal(p.highWatermark, 3n, `v${v}: high watermark 3`)
      t.equal(p.records.readUInt32BE(17), crc32c(p.records.subarray(21, p.records.readInt32BE(8) + 12)), `v${v}: the batch carries a CRC-32C`)
    }
    const refused = await wire.request(fetchRequest, fetchResponse, 12, fetch(7))
    t.equal(refused.errorCode, errorCodeOf('FETCH_SESSION_ID_NOT_FOUND'))
    t.same(refused.responses, [])
  })

  await t.test('acks=0 gets no response; pipelined requests are answered in order', async (t) => {
    const wire = await KafkaWire.connect(t, kafkaPort)
    const silent = wire.frame(produceRequest, 9, produceBody(await kafkaBatch(['quiet']), 0))
    const frames = [silent, ...Array.from({ length: 5 }, () => wire.frame(apiVersionsRequest, 3, { clientSoftwareName: 'test', clientSoftwareVersion: '1' }))]
    wire.write(Buffer.concat(frames.map((f) => f.bytes)))
    const answered: number[] = []
    for (let i = 0; i < 5; i++) answered.push((await wire.next())!.correlationId)
    t.same(answered, frames.slice(1).map((f) => f.correlationId), 'the five ApiVersions, in order, and nothing for the acks=0 Produce')
    const end = await strand.admin().listOffsets({ topic: TOPIC, partition: 0, timestamp: 'latest' })
    t.equal(end.offset, 4n, 'the acks=0 record was appended')
  })
})

t.test('a group id longer than Kafka strings allow is refused on the Strand listener too', async (t) => {
  const broker = await spawnBroker(t, { overrides: { 'offsets.topic.num.partitions': 1, 'group.initial.rebalance.delay.ms': 0 } })
  const conn = rawConnection(t, broker.port, 'long-group-id', { timeoutMs: 10_000 })
  const join = (groupId: string): Promise<{ errorCode: number }> =>
    waitFor(async () => {
      // FindCoordinator creates the offsets topic on first use; JoinGroup then reaches its coordinator.
      await conn.request(ApiKey.FindCoordinator, { key: 'short', keyType: 0 })
      const res = await conn.request(ApiKey.JoinGroup, { groupId, sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 10_000, memberId: '', groupInstanceId: null, protocolType: 'consumer', protocols: [{ name: 'range', metadata: Buffer.alloc(0) }] })
      return res.errorCode === errorCodeOf('COORDINATOR_NOT_AVAILABLE') || res.errorCode === errorCodeOf('COORDINATOR_LOAD_IN_PROGRESS') || res.errorCode === errorCodeOf('NOT_COORDINATOR') ? false : res
    }, { what: 'a JoinGroup answered by its coordinator', timeoutMs: 20_000 })
  t.equal((await join('short')).errorCode, 0, 'a short group id joins')
  t.equal((await join('g'.repeat(0x8000))).errorCode, errorCodeOf('INVALID_GROUP_ID'), '0x8000 bytes: INVALID_GROUP_ID')
  t.equal((await join('g'.repeat(0x7fff))).errorCode, 0, '0x7fff bytes: joined')
})
