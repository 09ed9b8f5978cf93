import t from 'tap'
import { fetchRequest, fetchResponse } from '../../../../client/protocol/kafka/messages/fetch.js'
import type { KafkaStruct } from '../../../../client/protocol/kafka/schema.js'
import { ABSURD_COUNT, Bytes, bytesFor, checkGolden, checkInvalid, checkTruncations, tagged, UNKNOWN_TAG, ZERO_UUID, type TaggedBytes } from './bytes.js'
import { codecOf } from './codec.js'

// Golden bytes for Fetch v4-12, built field by field from Kafka's FetchRequest.json and
// FetchResponse.json (flexible from v12, where the request has tagged clusterId and each response
// partition tagged divergingEpoch, currentLeader and snapshotId).
const VERSIONS = [4, 5, 6, 7, 8, 9, 10, 11, 12]
const FLEXIBLE_FROM = 12

/** Stands in for record batches: the codec passes records through as an opaque blob. */
const BATCHES = Buffer.from('00000000000004b00000003d0000000502c0ffee0000', 'hex')

interface FetchPartition {
  partition: number
  currentLeaderEpoch: number
  fetchOffset: bigint
  lastFetchedEpoch: number
  logStartOffset: bigint
  partitionMaxBytes: number
  replicaDirectoryId: Buffer
}

function fetchPartitions(v: number): FetchPartition[] {
  const partition = (index: number, fetchOffset: bigint): FetchPartition => ({
    partition: index,
    currentLeaderEpoch: v >= 9 ? 5 : -1,
    fetchOffset,
    lastFetchedEpoch: v >= 12 ? 4 : -1,
    logStartOffset: v >= 5 ? 100n : -1n,
    partitionMaxBytes: 1_048_576,
    replicaDirectoryId: ZERO_UUID,
  })
  return [partition(0, 1200n), partition(2, 0n)]
}

const FORGOTTEN = [{ topic: 'payments', topicId: ZERO_UUID, partitions: [0, 2] }]

function request(v: number, clusterId: string | null = null): KafkaStruct {
  return {
    clusterId,
    replicaId: -1,
    replicaState: { replicaId: -1, replicaEpoch: -1n },
    maxWaitMs: 500,
    minBytes: 1,
    maxBytes: 52_428_800,
    isolationLevel: 1,
    sessionId: v >= 7 ? 1_234_567 : 0,
    sessionEpoch: v >= 7 ? 3 : -1,
    topics: [{ topic: 'orders', topicId: ZERO_UUID, partitions: fetchPartitions(v) }],
    forgottenTopicsData: v >= 7 ? FORGOTTEN : [],
    rackId: v >= 11 ? 'rack-a' : '',
  }
}

function requestBytes(v: number, options: { topTags?: readonly TaggedBytes[]; partitionTags?: readonly TaggedBytes[] } = {}): Buffer {
  const b = bytesFor(v, FLEXIBLE_FROM)
  b.int32(-1) // replicaId, v0-14
  b.int32(500).int32(1)
  b.int32(52_428_800) // maxBytes, v3+
  b.int8(1) // isolationLevel, v4+
  if (v >= 7) b.int32(1_234_567).int32(3)
  b.array(['orders'], (b, topic) => {
    b.string(topic) // topic name, v0-12
    b.array(fetchPartitions(v), (b, p) => {
      b.int32(p.partition)
      if (v >= 9) b.int32(p.currentLeaderEpoch)
      b.int64(p.fetchOffset)
      if (v >= 12) b.int32(p.lastFetchedEpoch)
      if (v >= 5) b.int64(p.logStartOffset)
      b.int32(p.partitionMaxBytes)
      b.tags(options.partitionTags)
    })
    b.tags()
  })
  if (v >= 7) b.array(FORGOTTEN, (b, f) => b.string(f.topic).int32Array(f.partitions).tags())
  if (v >= 11) b.string('rack-a')
  return b.tags(options.topTags).build()
}

interface Tagged {
  divergingEpoch: { epoch: number; endOffset: bigint }
  currentLeader: { leaderId: number; leaderEpoch: number }
  snapshotId: { endOffset: bigint; epoch: number }
}

const NO_TAGS: Tagged = {
  divergingEpoch: { epoch: -1, endOffset: -1n },
  currentLeader: { leaderId: -1, leaderEpoch: -1 },
  snapshotId: { endOffset: -1n, epoch: -1 },
}

function responsePartitions(v: number, tags: Tagged = NO_TAGS): KafkaStruct[] {
  return [
    {
      partitionIndex: 0,
      errorCode: 0,
      highWatermark: 1300n,
      lastStableOffset: 1290n,
      logStartOffset: v >= 5 ? 100n : -1n,
      ...tags,
      abortedTransactions: [{ producerId: 4000n, firstOffset: 1210n }],
      preferredReadReplica: -1,
      records: BATCHES,
    },
    {
      partitionIndex: 2,
      errorCode: 1, // OFFSET_OUT_OF_RANGE
      highWatermark: -1n,
      lastStableOffset: -1n,
      logStartOffset: -1n,
      ...NO_TAGS,
      abortedTransactions: null,
      preferredReadReplica: v >= 11 ? 2 : -1,
      records: null,
    },
  ]
}

function response(v: number, tags: Tagged = NO_TAGS): KafkaStruct {
  return {
    throttleTimeMs: 10,
    errorCode: 0,
    sessionId: 0,
    responses: [{ topic: 'orders', topicId: ZERO_UUID, partitions: responsePartitions(v, tags) }],
    nodeEndpoints: [],
  }
}

function responseBytes(v: number, options: { topTags?: readonly TaggedBytes[]; firstPartitionTags?: readonly TaggedBytes[] } = {}): Buffer {
  const b = bytesFor(v, FLEXIBLE_FROM)
  b.int32(10) // throttleTimeMs, v1+
  if (v >= 7) b.int16(0).int32(0)
  b.array(['orders'], (b, topic) => {
    b.string(topic)
    b.count(2)
    // Partition 0: records, one aborted transaction.
    b.int32(0).int16(0).int64(1300n).int64(1290n)
    if (v >= 5) b.int64(100n)
    b.array([{ producerId: 4000n, firstOffset: 1210n }], (b, a) => b.int64(a.producerId).int64(a.firstOffset).tags())
    if (v >= 11) b.int32(-1)
    b.bytes(BATCHES)
    b.tags(options.firstPartitionTags)
    // Partition 2: out of range, null aborted transactions, null records.
    b.int32(2).int16(1).int64(-1n).int64(-1n)
    if (v >= 5) b.int64(-1n)
    b.count(null)
    if (v >= 11) b.int32(2)
    b.bytes(null)
    b.tags()
    b.tags()
  })
  return b.tags(options.topTags).build()
}

for (const v of VERSIONS) {
  t.test(`Fetch v${v}: golden bytes, both ways, and every truncation refused`, async (t) => {
    checkGolden(t, codecOf(fetchRequest, v), request(v), requestBytes(v))
    checkGolden(t, codecOf(fetchResponse, v), response(v), responseBytes(v))
    checkTruncations(t, codecOf(fetchRequest, v), requestBytes(v))
    checkTruncations(t, codecOf(fetchResponse, v), responseBytes(v))
  })
}

t.test('FetchRequest v12: clusterId is tagged field 0 of the request', async (t) => {
  const golden = requestBytes(12, { topTags: [tagged(0, (b) => b.compactString('strand-cluster-7'))] })
  checkGolden(t, codecOf(fetchRequest, 12), request(12, 'strand-cluster-7'), golden)
  t.ok(golden.subarray(-20).equals(Buffer.from('0100' + '11' + '11' + Buffer.from('strand-cluster-7').toString('hex'), 'hex')), 'ends 01 (one tag), 00 (tag 0), 11 (17 bytes), 11 (compact length 16), the id')
  checkTruncations(t, codecOf(fetchRequest, 12), golden)
})

t.test('FetchResponse v12: divergingEpoch, currentLeader and snapshotId are tags 0, 1, 2 of a partition', async (t) => {
  const tags: Tagged = {
    divergingEpoch: { epoch: 3, endOffset: 1250n },
    currentLeader: { leaderId: 2, leaderEpoch: 6 },
    snapshotId: { endOffset: 1000n, epoch: 2 },
  }
  const golden = responseBytes(12, {
    firstPartitionTags: [
      tagged(0, (b) => b.int32(3).int64(1250n).tags()),
      tagged(1, (b) => b.int32(2).int32(6).tags()),
      tagged(2, (b) => b.int64(1000n).int32(2).tags()),
    ],
  })
  checkGolden(t, codecOf(fetchResponse, 12), response(12, tags), golden)
  const at = golden.indexOf(Buffer.from('03' + '000d' + '00000003' + '00000000000004e2' + '00', 'hex'))
  t.ok(at > 0, 'three tags; tag 0 is 13 bytes: epoch, endOffset, an empty tag section of its own')
  // Only the changed one is written: a tagged field at its default stays off the wire.
  const leaderOnly: Tagged = { ...NO_TAGS, currentLeader: { leaderId: 2, leaderEpoch: 6 } }
  checkGolden(t, codecOf(fetchResponse, 12), response(12, leaderOnly), responseBytes(12, { firstPartitionTags: [tagged(1, (b) => b.int32(2).int32(6).tags())] }))
  checkTruncations(t, codecOf(fetchResponse, 12), golden)
})

t.test('Fetch v12: an unknown tagged field is skipped at the top and in a partition', async (t) => {
  t.strictSame(codecOf(fetchRequest, 12).decode(requestBytes(12, { topTags: [UNKNOWN_TAG] })), request(12), 'request, top level')
  t.strictSame(codecOf(fetchRequest, 12).decode(requestBytes(12, { partitionTags: [UNKNOWN_TAG] })), request(12), 'request, in each partition')
  t.strictSame(codecOf(fetchResponse, 12).decode(responseBytes(12, { topTags: [UNKNOWN_TAG] })), response(12), 'response, top level')
  const withKnown = responseBytes(12, { firstPartitionTags: [tagged(1, (b) => b.int32(2).int32(6).tags()), UNKNOWN_TAG] })
  t.strictSame(codecOf(fetchResponse, 12).decode(withKnown), response(12, { ...NO_TAGS, currentLeader: { leaderId: 2, leaderEpoch: 6 } }), 'response, after a known tag in a partition')
})

t.test('Fetch: absurd counts and lengths are refused as INVALID_REQUEST', async (t) => {
  const head = (b: Bytes, v: number): Bytes => {
    b.int32(-1).int32(500).int32(1).int32(52_428_800).int8(0)
    if (v >= 7) b.int32(0).int32(-1)
    return b
  }
  checkInvalid(t, () => codecOf(fetchRequest, 4).decode(head(new Bytes({ flexible: false }), 4).classicCount(ABSURD_COUNT).build()), 'v4 topics count')
  const partitions = head(new Bytes({ flexible: true }), 12).compactCount(1).compactString('orders').compactCount(ABSURD_COUNT).int32(0).build()
  checkInvalid(t, () => codecOf(fetchRequest, 12).decode(partitions), 'v12 partitions count')
  const forgotten = head(new Bytes({ flexible: false }), 7).classicCount(0).classicCount(1).classicString('payments').classicCount(ABSURD_COUNT).int32(0).build()
  checkInvalid(t, () => codecOf(fetchRequest, 7).decode(forgotten), 'v7 forgotten partitions count')
  const records = new Bytes({ flexible: false }).int32(0).int16(0).int32(0).classicCount(1).classicString('orders').classicCount(1)
    .int32(0).int16(0).int64(1300n).int64(1290n).int64(0n).classicCount(null).int32(0x7fffffff).raw(BATCHES).build()
  checkInvalid(t, () => codecOf(fetchResponse, 7).decode(records), 'v7 records length')
  const aborted = new Bytes({ flexible: true }).int32(0).int16(0).int32(0).compactCount(1).compactString('orders').compactCount(1)
    .int32(0).int16(0).int64(1300n).int64(1290n).int64(0n).compactCount(ABSURD_COUNT).build()
  checkInvalid(t, () => codecOf(fetchResponse, 12).decode(aborted), 'v12 abortedTransactions count')
  const tagSize = head(new Bytes({ flexible: true }), 12).compactCount(0).compactCount(0).compactString('').uvarint(1).uvarint(0).uvarint(0xfffffff0).build()
  checkInvalid(t, () => codecOf(fetchRequest, 12).decode(tagSize), 'v12 a tagged field longer than the body')
})
