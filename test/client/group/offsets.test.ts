// Committing and reading committed offsets through a scripted coordinator: a commit retries only
// the partitions whose error was retriable and reports every partition's outcome; a fetch maps
// "nothing committed" (-1 on the wire) to null and retries a moving coordinator.

import t from 'tap'
import { ApiKey, type ApiKeyValue } from '../../../client/protocol/apis.js'
import { errorCodeOf } from '../../../client/protocol/errors.js'
import type { GroupCoordinator } from '../../../client/group/coordinator.js'
import { CommitFailedError } from '../../../client/group/errors.js'
import { commitOffsets, fetchCommitted, NO_GENERATION } from '../../../client/group/offsets.js'

const retry = { retriesMax: 3, retryBackoffMs: 1, retryBackoffMsMax: 5 }

function scripted(answer: (apiKey: ApiKeyValue, body: any, attempt: number) => unknown): { coordinator: GroupCoordinator; sent: any[]; resets: () => number } {
  const sent: any[] = []
  let resets = 0
  const coordinator = {
    groupId: 'g',
    nodeId: 1,
    async request(apiKey: ApiKeyValue, body: unknown) {
      sent.push(body)
      return answer(apiKey, body, sent.length)
    },
    reset() {
      resets++
    },
  }
  return { coordinator: coordinator as unknown as GroupCoordinator, sent, resets: () => resets }
}

t.test('a commit retries only the partitions that failed retriably, and reports each outcome', async (t) => {
  const { coordinator, sent, resets } = scripted((_apiKey, body) => ({
    throttleTimeMs: 0,
    topics: body.topics.map((topic: any) => ({
      name: topic.name,
      partitions: topic.partitions.map((p: any) => {
        const first = sent.length === 1
        const errorCode = p.partitionIndex === 1 && first ? errorCodeOf('NOT_COORDINATOR') : p.partitionIndex === 2 ? errorCodeOf('ILLEGAL_GENERATION') : 0
        return { partitionIndex: p.partitionIndex, errorCode }
      }),
    })),
  }))
  const offsets = [0, 1, 2].map((partition) => ({ topic: 'orders', partition, offset: BigInt(100 + partition) }))
  const results = await commitOffsets(coordinator, { generationId: 4, memberId: 'm1' }, offsets, { retry, requestTimeoutMs: 1000 })
  t.equal(sent.length, 2, 'one retry')
  t.same(sent[0].topics[0].partitions.map((p: any) => p.partitionIndex), [0, 1, 2])
  t.same(sent[1].topics[0].partitions.map((p: any) => p.partitionIndex), [1], 'the retry carries only the partition that failed retriably')
  t.same(sent[1].topics[0].partitions[0], { partitionIndex: 1, committedOffset: 101n, committedLeaderEpoch: -1, committedMetadata: null })
  t.equal(sent[0].generationId, 4)
  t.equal(sent[0].memberId, 'm1')
  t.equal(resets(), 1, 'NOT_COORDINATOR made it look the coordinator up again')
  t.same(results.map((r) => [r.partition, r.offset, r.error?.code ?? null]), [[0, 100n, null], [1, 101n, null], [2, 102n, 'ILLEGAL_GENERATION']])
  const err = new CommitFailedError(results)
  t.equal(err.code, 'COMMIT_FAILED')
  t.equal(err.retriable, false, 'ILLEGAL_GENERATION is not retriable')
  t.match(err.message, /1 of 3 partitions were not committed \(orders-2: ILLEGAL_GENERATION\)/)
})

t.test('a commit that keeps failing retriably gives up after retriesMax and says so', async (t) => {
  const { coordinator, sent } = scripted((_apiKey, body) => ({
    throttleTimeMs: 0,
    topics: body.topics.map((topic: any) => ({ name: topic.name, partitions: topic.partitions.map((p: any) => ({ partitionIndex: p.partitionIndex, errorCode: errorCodeOf('COORDINATOR_LOAD_IN_PROGRESS') })) })),
  }))
  const results = await commitOffsets(coordinator, NO_GENERATION, [{ topic: 'a', partition: 0, offset: 5n }], { retry, requestTimeoutMs: 1000 })
  t.equal(sent.length, retry.retriesMax + 1)
  t.equal(sent[0].generationId, -1, 'an assign() consumer commits outside the group protocol')
  t.equal(sent[0].memberId, '')
  t.equal(results[0]?.error?.code, 'COORDINATOR_LOAD_IN_PROGRESS')
  t.equal(new CommitFailedError(results).retriable, true, 'retriable when every failure was')
})

t.test('committed offsets: -1 is nothing committed; a moving coordinator is retried', async (t) => {
  const { coordinator, sent, resets } = scripted((apiKey, body) => {
    t.equal(apiKey, ApiKey.OffsetFetch)
    if (sent.length === 1) return { throttleTimeMs: 0, errorCode: errorCodeOf('COORDINATOR_NOT_AVAILABLE'), topics: [] }
    return {
      throttleTimeMs: 0,
      errorCode: 0,
      topics: body.topics.map((topic: any) => ({
        name: topic.name,
        partitions: topic.partitionIndexes.map((p: number) => ({ partitionIndex: p, committedOffset: p === 0 ? 42n : -1n, committedLeaderEpoch: -1, metadata: null, errorCode: 0 })),
      })),
    }
  })
  const found = await fetchCommitted(coordinator, [{ topic: 'orders', partition: 0 }, { topic: 'orders', partition: 1 }], { retry, requestTimeoutMs: 1000 })
  t.same(found, [{ topic: 'orders', partition: 0, offset: 42n }, { topic: 'orders', partition: 1, offset: null }])
  t.equal(resets(), 1)
  t.same(sent[1], { groupId: 'g', topics: [{ name: 'orders', partitionIndexes: [0, 1] }] })
})
