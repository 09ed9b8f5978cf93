// Golden bytes of OffsetCommit (8) v0-8 and OffsetFetch (9) v0-8 on the Kafka listener. Each
// expected body is built field by field from Kafka's OffsetCommit/OffsetFetch JSON definitions
// with the independent builder (bytes.ts), branching on the version where the fields do.

import t from 'tap'
import { offsetCommitRequest, offsetCommitResponse, offsetFetchRequest, offsetFetchResponse } from '../../../../client/protocol/kafka/messages/offsets.js'
import { messageCodec, type KafkaStruct } from '../../../../client/protocol/kafka/schema.js'
import { bytesFor, checkGoldenAndTruncations, tagged, type Bytes } from './bytes.js'
import { codecOf } from './codec.js'

/** Each API's first flexible version (request and response alike), from Kafka's protocol guide. */
const FLEXIBLE_FROM = { offsetCommit: 8, offsetFetch: 6 }

function range(min: number, max: number): number[] {
  return Array.from({ length: max - min + 1 }, (_, i) => min + i)
}

const COMMIT_TIMESTAMP_MS = 1_700_000_000_000n

// --- OffsetCommit ---

function commitRequestSample(v: number): KafkaStruct {
  const partition = (partitionIndex: number, committedOffset: bigint, committedMetadata: string | null): KafkaStruct => ({
    partitionIndex,
    committedOffset,
    committedLeaderEpoch: v >= 6 ? 5 : -1,
    commitTimestamp: v === 1 ? COMMIT_TIMESTAMP_MS : -1n,
    committedMetadata,
  })
  return {
    groupId: 'billing',
    generationIdOrMemberEpoch: v >= 1 ? 3 : -1,
    memberId: v >= 1 ? 'rdkafka-3f1c' : '',
    groupInstanceId: v >= 8 ? 'instance-a' : null,
    retentionTimeMs: v >= 2 && v <= 4 ? 86_400_000n : -1n,
    topics: [
      { name: 'orders', partitions: [partition(0, 42n, 'after-batch-7'), partition(1, 9_007_199_254_740_993n, null)] },
      { name: 'refunds', partitions: [] },
    ],
  }
}

function commitPartitionBytes(b: Bytes, v: number, partitionIndex: number, committedOffset: bigint, committedMetadata: string | null): void {
  b.int32(partitionIndex).int64(committedOffset)
  if (v >= 6) b.int32(5)
  if (v === 1) b.int64(COMMIT_TIMESTAMP_MS)
  b.string(committedMetadata).tags()
}

function commitRequestBytes(v: number): Buffer {
  const b = bytesFor(v, FLEXIBLE_FROM.offsetCommit).string('billing')
  if (v >= 1) b.int32(3).string('rdkafka-3f1c')
  if (v >= 7) b.string(v >= 8 ? 'instance-a' : null)
  if (v >= 2 && v <= 4) b.int64(86_400_000n)
  b.count(2)
  b.string('orders').count(2)
  commitPartitionBytes(b, v, 0, 42n, 'after-batch-7')
  commitPartitionBytes(b, v, 1, 9_007_199_254_740_993n, null)
  b.tags()
  b.string('refunds').count(0).tags()
  return b.tags().build()
}

function commitResponseSample(v: number): KafkaStruct {
  return {
    throttleTimeMs: v >= 3 ? 11 : 0,
    topics: [
      {
        name: 'orders',
        partitions: [
          { partitionIndex: 0, errorCode: 0 },
          { partitionIndex: 1, errorCode: 22 },
        ],
      },
    ],
  }
}

function commitResponseBytes(v: number): Buffer {
  const b = bytesFor(v, FLEXIBLE_FROM.offsetCommit)
  if (v >= 3) b.int32(11)
  b.count(1).string('orders').count(2)
  b.int32(0).int16(0).tags()
  b.int32(1).int16(22).tags()
  return b.tags().tags().build()
}

t.test('OffsetCommit, every version', async (t) => {
  for (const v of range(0, 8)) {
    checkGoldenAndTruncations(t, codecOf(offsetCommitRequest, v), commitRequestSample(v), commitRequestBytes(v))
    checkGoldenAndTruncations(t, codecOf(offsetCommitResponse, v), commitResponseSample(v), commitResponseBytes(v))
  }
})

// --- OffsetFetch ---

/** Null topics (v2+: every committed partition) in some versions, a list in the others. */
function allTopicsAt(v: number): boolean {
  return v === 2 || v === 6
}

function fetchRequestSample(v: number): KafkaStruct {
  const topics = [{ name: 'orders', partitionIndexes: [0, 1, 7] }]
  if (v >= 8) {
    return {
      groupId: '',
      topics: [],
      groups: [
        { groupId: 'billing', topics },
        { groupId: 'ledger', topics: null },
      ],
      requireStable: true,
    }
  }
  return { groupId: 'billing', topics: allTopicsAt(v) ? null : topics, groups: [], requireStable: v >= 7 }
}

function fetchRequestBytes(v: number): Buffer {
  const b = bytesFor(v, FLEXIBLE_FROM.offsetFetch)
  const topicBytes = (): void => {
    b.count(1).string('orders').count(3).int32(0).int32(1).int32(7).tags()
  }
  if (v <= 7) {
    b.string('billing')
    if (allTopicsAt(v)) b.count(null)
    else topicBytes()
  }
  if (v >= 8) {
    b.count(2)
    b.string('billing')
    topicBytes()
    b.tags()
    b.string('ledger').count(null).tags()
  }
  if (v >= 7) b.bool(true)
  return b.tags().build()
}

function fetchPartition(v: number, partitionIndex: number, committedOffset: bigint, metadata: string | null, errorCode: number): KafkaStruct {
  return { partitionIndex, committedOffset, committedLeaderEpoch: v >= 5 ? 4 : -1, metadata, errorCode }
}

function fetchPartitionBytes(b: Bytes, v: number, partitionIndex: number, committedOffset: bigint, metadata: string | null, errorCode: number): void {
  b.int32(partitionIndex).int64(committedOffset)
  if (v >= 5) b.int32(4)
  b.string(metadata).int16(errorCode).tags()
}

function fetchResponseSample(v: number): KafkaStruct {
  const topics = [{ name: 'orders', partitions: [fetchPartition(v, 0, 42n, 'after-batch-7', 0), fetchPartition(v, 1, -1n, null, 0), fetchPartition(v, 7, -1n, null, 88)] }]
  if (v >= 8) {
    return {
      throttleTimeMs: 3,
      topics: [],
      errorCode: 0,
      groups: [
        { groupId: 'billing', topics, errorCode: 0 },
        { groupId: 'ledger', topics: [], errorCode: 16 },
      ],
    }
  }
  return { throttleTimeMs: v >= 3 ? 3 : 0, topics, errorCode: v >= 2 ? 14 : 0, groups: [] }
}

function fetchResponseBytes(v: number): Buffer {
  const b = bytesFor(v, FLEXIBLE_FROM.offsetFetch)
  const topicBytes = (): void => {
    b.count(1).string('orders').count(3)
    fetchPartitionBytes(b, v, 0, 42n, 'after-batch-7', 0)
    fetchPartitionBytes(b, v, 1, -1n, null, 0)
    fetchPartitionBytes(b, v, 7, -1n, null, 88)
    b.tags()
  }
  if (v >= 3) b.int32(3)
  if (v <= 7) topicBytes()
  if (v >= 2 && v <= 7) b.int16(14)
  if (v >= 8) {
    b.count(2)
    b.string('billing')
    topicBytes()
    b.int16(0).tags()
    b.string('ledger').count(0).int16(16).tags()
  }
  return b.tags().build()
}

t.test('OffsetFetch, every version', async (t) => {
  for (const v of range(0, 8)) {
    checkGoldenAndTruncations(t, codecOf(offsetFetchRequest, v), fetchRequestSample(v), fetchRequestBytes(v))
    checkGoldenAndTruncations(t, codecOf(offsetFetchResponse, v), fetchResponseSample(v), fetchResponseBytes(v))
  }
})

// --- Tagged fields and malformed input ---

t.test('flexible versions skip tagged fields they do not know (these APIs define none)', async (t) => {
  const unknown = [tagged(0, (b) => b.raw(Buffer.from('x')))]
  const b = bytesFor(8, FLEXIBLE_FROM.offsetFetch).count(2)
  b.string('billing').count(1).string('orders').count(3).int32(0).int32(1).int32(7).tags(unknown).tags()
  b.string('ledger').count(null).tags(unknown)
  t.strictSame(codecOf(offsetFetchRequest, 8).decode(b.bool(true).tags(unknown).build()), fetchRequestSample(8))
})

t.test('a null topic list before v2, or in a v8 response, is INVALID_REQUEST', async (t) => {
  const v1 = bytesFor(1, FLEXIBLE_FROM.offsetFetch).string('billing').count(null).build()
  t.throws(() => messageCodec(offsetFetchRequest, 1).decode(v1), { code: 'INVALID_REQUEST' })
  const v8 = bytesFor(8, FLEXIBLE_FROM.offsetFetch).int32(0).count(1).string('billing').count(null).int16(0).tags().tags().build()
  t.throws(() => messageCodec(offsetFetchResponse, 8).decode(v8), { code: 'INVALID_REQUEST' })
})

t.test('absurd counts are INVALID_REQUEST, not an allocation', async (t) => {
  const groups = bytesFor(8, FLEXIBLE_FROM.offsetFetch).uvarint(0x7fffffff).build()
  t.throws(() => messageCodec(offsetFetchRequest, 8).decode(groups), { code: 'INVALID_REQUEST' }, 'v8 group count')
  const indexes = bytesFor(5, FLEXIBLE_FROM.offsetFetch).string('billing').count(1).string('orders').int32(1 << 28).int32(0).build()
  t.throws(() => messageCodec(offsetFetchRequest, 5).decode(indexes), { code: 'INVALID_REQUEST' }, 'partition index count')
  const partitions = bytesFor(2, FLEXIBLE_FROM.offsetCommit).string('billing').int32(3).string('m').int64(-1n).count(1).string('orders').int32(0x7fffffff).build()
  t.throws(() => messageCodec(offsetCommitRequest, 2).decode(partitions), { code: 'INVALID_REQUEST' }, 'commit partition count')
})

t.test('versions past ours are not spoken', async (t) => {
  t.throws(() => messageCodec(offsetCommitRequest, 9), { code: 'UNSUPPORTED_VERSION' })
  t.throws(() => messageCodec(offsetFetchResponse, 9), { code: 'UNSUPPORTED_VERSION' })
})
