// The Kafka listener's OffsetsForLeaderEpoch handler (broker/kafka/handlers/leader-epoch.ts): a
// consumer's request at every version, whatever replica id it names, and Strand's answer back in
// Kafka's shape. The context is a fake whose `serve` records the Strand request and answers with
// a canned Strand response.

import t from 'tap'
import { ApiKey } from '../../../client/protocol/apis.js'
import { errorCodeOf } from '../../../client/protocol/errors.js'
import { offsetsForLeaderEpochResponse } from '../../../client/protocol/kafka/messages/offsets-for-leader-epoch.js'
import { KafkaWriter, messageCodec, type KafkaStruct } from '../../../client/protocol/kafka/schema.js'
import type { KafkaRequestContext } from '../../../broker/kafka/context.js'
import { kafkaOffsetsForLeaderEpoch } from '../../../broker/kafka/handlers/leader-epoch.js'
import type { Session } from '../../../broker/security/session.js'
import type { HandlerContext } from '../../../broker/server/handlers/context.js'

const STRAND_ANSWER = {
  throttleTimeMs: 0,
  topics: [
    {
      name: 'orders',
      partitions: [
        { errorCode: 0, partition: 0, leaderEpoch: 4, endOffset: 180n },
        { errorCode: errorCodeOf('FENCED_LEADER_EPOCH'), partition: 1, leaderEpoch: -1, endOffset: -1n },
      ],
    },
  ],
}

function fake(version: number): { req: KafkaRequestContext; served: Array<{ apiKey: number; body: unknown }> } {
  const served: Array<{ apiKey: number; body: unknown }> = []
  const serve = async (apiKey: number, body: unknown): Promise<unknown> => {
    served.push({ apiKey, body })
    return STRAND_ANSWER
  }
  const req: KafkaRequestContext = {
    ctx: {} as unknown as HandlerContext,
    version,
    info: { clientId: 'consumer', clientHost: '/127.0.0.1' },
    session: { principal: 'User:alice', host: '127.0.0.1' } as unknown as Session,
    serve: serve as KafkaRequestContext['serve'],
    kafkaAddress: () => null,
  }
  return { req, served }
}

function body(replicaId: number, currentLeaderEpoch: number): KafkaStruct {
  return {
    replicaId,
    topics: [
      {
        topic: 'orders',
        partitions: [
          { partition: 0, currentLeaderEpoch, leaderEpoch: 4 },
          { partition: 1, currentLeaderEpoch, leaderEpoch: 2 },
        ],
      },
    ],
  }
}

const KAFKA_ANSWER = {
  throttleTimeMs: 0,
  topics: [
    {
      topic: 'orders',
      partitions: [
        { errorCode: 0, partition: 0, leaderEpoch: 4, endOffset: 180n },
        { errorCode: errorCodeOf('FENCED_LEADER_EPOCH'), partition: 1, leaderEpoch: -1, endOffset: -1n },
      ],
    },
  ],
}

t.test('every version: a consumer request (replica id -1), answered in Kafka shape', async (t) => {
  // v0-2 have no replica id: it decodes to Kafka's default, -2; from v3 a consumer sends -1.
  for (const [v, replicaId, currentLeaderEpoch] of [[0, -2, -1], [1, -2, -1], [2, -2, 5], [3, -1, 5], [4, -1, 5]] as const) {
    const { req, served } = fake(v)
    const res = await kafkaOffsetsForLeaderEpoch(req, body(replicaId, currentLeaderEpoch))
    t.strictSame(served, [{
      apiKey: ApiKey.OffsetsForLeaderEpoch,
      body: {
        replicaId: -1,
        topics: [{ name: 'orders', partitions: [{ partition: 0, currentLeaderEpoch, leaderEpoch: 4 }, { partition: 1, currentLeaderEpoch, leaderEpoch: 2 }] }],
      },
    }], `v${v}`)
    t.strictSame(res, KAFKA_ANSWER, `v${v}`)
    t.doesNotThrow(() => messageCodec(offsetsForLeaderEpochResponse, v).encode(new KafkaWriter(), res as KafkaStruct), `v${v} encodes`)
  }
})

t.test('a replica id >= 0 does not make the request a follower\'s: Strand sees a consumer', async (t) => {
  for (const v of [3, 4]) {
    const { req, served } = fake(v)
    await kafkaOffsetsForLeaderEpoch(req, body(2, 5))
    t.equal((served[0]?.body as { replicaId: number }).replicaId, -1, `v${v}: replica id 2 is served as -1`)
  }
})
