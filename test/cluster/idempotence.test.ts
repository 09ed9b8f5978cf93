// The leader's side of idempotent producing, with raw protocol requests against a real broker
// process: producer ids are unique; a retried batch is answered with its original offset and not
// appended again, also after a restart (the state is rebuilt from the log); gaps, unknown
// producers, stale epochs and multi-batch requests are refused with their error codes.

import t from 'tap'
import type { Connection } from '../../client/net/connection.js'
import { ApiKey } from '../../client/protocol/apis.js'
import { errorCodeOf } from '../../client/protocol/errors.js'
import { encodeBatch } from '../../client/protocol/records.js'
import { spawnBroker, stopBroker } from '../helpers/broker-process.js'
import { rawConnection } from '../helpers/connection.js'
import { waitFor } from '../helpers/wait.js'

const TOPIC = 'dedup'

function batch(producerId: bigint, baseSequence: number, values: string[], producerEpoch = 0): Buffer {
  return encodeBatch(values.map((value) => ({ value })), { timestamp: Date.now(), producerId, producerEpoch, baseSequence })
}

async function produce(c: Connection, records: Buffer): Promise<{ errorCode: number; baseOffset: bigint }> {
  const res = await c.request(ApiKey.Produce, { transactionalId: null, acks: -1, timeoutMs: 5000, topics: [{ name: TOPIC, partitions: [{ index: 0, currentLeaderEpoch: -1, records }] }] })
  return res.topics[0]!.partitions[0]!
}

async function logEnd(c: Connection): Promise<bigint> {
  const res = await c.request(ApiKey.ListOffsets, { replicaId: -1, isolationLevel: 0, topics: [{ name: TOPIC, partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp: -1n }] }] })
  return res.topics[0]!.partitions[0]!.offset
}

async function newProducerId(c: Connection): Promise<bigint> {
  return waitFor(async () => {
    const res = await c.request(ApiKey.InitProducerId, { transactionalId: null, transactionTimeoutMs: 60_000, producerId: -1n, producerEpoch: -1 })
    return res.errorCode === 0 ? res.producerId : false
  }, { what: 'a producer id' })
}

t.test('the leader deduplicates retried batches and checks sequences', async (t) => {
  const broker = await spawnBroker(t)
  const c = rawConnection(t, broker.port)
  await waitFor(async () => {
    const res = await c.request(ApiKey.CreateTopics, { topics: [{ name: TOPIC, numPartitions: 1, replicationFactor: 1, configs: [] }], timeoutMs: 5000, validateOnly: false })
    const code = res.topics[0]!.errorCode
    return code === 0 || code === errorCodeOf('TOPIC_ALREADY_EXISTS')
  }, { what: 'the topic to be created' })

  const pid = await newProducerId(c)
  const other = await newProducerId(c)
  t.ok(pid >= 0n && other !== pid, `two producers get distinct ids (${pid}, ${other})`)

  const first = batch(pid, 0, ['a', 'b', 'c'])
  const sent = await waitFor(async () => {
    const r = await produce(c, Buffer.from(first))
    return r.errorCode === 0 ? r : false
  }, { what: 'the partition to take the first batch' })
  t.equal(sent.baseOffset, 0n, 'the first batch lands at offset 0')
  const retried = await produce(c, Buffer.from(first))
  t.same([retried.errorCode, retried.baseOffset], [0, 0n], 'a retried batch is answered with its original offset')
  t.equal(await logEnd(c), 3n, 'and not appended again')

  t.same((await produce(c, batch(pid, 3, ['d']))).baseOffset, 3n, 'the next sequence appends')
  t.equal((await produce(c, batch(pid, 9, ['x']))).errorCode, errorCodeOf('OUT_OF_ORDER_SEQUENCE_NUMBER'), 'a gap in the sequence is refused')
  t.equal((await produce(c, batch(other, 4, ['y']))).errorCode, errorCodeOf('UNKNOWN_PRODUCER_ID'), 'an unknown producer not starting at 0 is refused')
  t.equal((await produce(c, batch(other, 0, ['z'], 2))).errorCode, 0, 'a new producer starting at 0 appends')
  t.equal((await produce(c, batch(other, 1, ['w'], 1))).errorCode, errorCodeOf('INVALID_PRODUCER_EPOCH'), 'an older epoch of a producer is fenced')
  const two = Buffer.concat([batch(pid, 4, ['e']), batch(pid, 5, ['f'])])
  t.equal((await produce(c, two)).errorCode, errorCodeOf('INVALID_RECORD'), 'two idempotent batches in one partition entry are refused')
  t.equal(await logEnd(c), 5n, 'none of the refused batches was appended')

  // After a restart the state is rebuilt from the log: the old retry is still recognised.
  await stopBroker(broker)
  const again = await spawnBroker(t, { dataDir: broker.dataDir })
  const c2 = rawConnection(t, again.port)
  const afterRestart = await waitFor(async () => {
    const r = await produce(c2, Buffer.from(first))
    return r.errorCode === 0 ? r : false
  }, { what: 'the restarted leader to answer' })
  t.equal(afterRestart.baseOffset, 0n, 'a retry of the first batch is still answered with offset 0 after a restart')
  t.equal((await produce(c2, batch(pid, 4, ['e']))).baseOffset, 5n, 'and the sequence continues where it was')
  t.equal(await logEnd(c2), 6n, 'nothing was duplicated')
})
