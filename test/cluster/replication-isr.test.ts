// The ISR follows the followers, with real broker processes: a follower frozen (SIGSTOP) for longer
// than replica.lag.time.max.ms leaves the ISR, and acks=all keeps working with the two left
// (min.insync.replicas 2); freezing the second follower too makes acks=all produces fail with
// NOT_ENOUGH_REPLICAS, nothing appended, while acks=1 still works; resuming both brings the ISR
// back to three once their logs have caught up, and the three logs are then byte-identical.
//
// Five brokers, not three: every broker is a metadata quorum voter, and ISR changes are metadata
// records. Freezing two of three voters would leave no majority to commit the second follower's
// removal, so the ISR in the metadata would stay {leader, second follower} and acks=all would time
// out (REQUEST_TIMED_OUT) rather than be refused. With five voters, freezing the partition's two
// followers leaves three, a majority. The topic's three replicas are wherever the controller put
// them (round robin from a hash of the name), so the test reads them from the metadata.

import t from 'tap'
import { TestCluster } from '../helpers/cluster.js'
import { logBytesBelow, readCommitted, sendValues, values, type Acked } from '../helpers/replication.js'

const TOPIC = 'isr'
/** Bounds how long a request to a frozen broker may hang before the client tries another. */
const REQUEST_TIMEOUT_MS = 3000

t.test('a frozen follower leaves the ISR, two frozen refuse acks=all, resumed ones catch up and rejoin', async (t) => {
  const cluster = await TestCluster.start(t, { size: 5 })
  const admin = cluster.client('isr-admin').admin()
  await admin.createTopic({ topic: TOPIC, partitions: 1, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } })
  const setup = cluster.client('isr-setup')
  const initial = await cluster.waitForPartition(setup, TOPIC, 0, (x) => x.isr.length === 3 && x.leaderId > 0, 'three in-sync replicas')
  const leader = initial.leaderId
  const [first, second] = initial.replicas.filter((r) => r !== leader) as [number, number]
  const bystanders = cluster.ids.filter((id) => !initial.replicas.includes(id))
  t.comment(`replicas ${JSON.stringify(initial.replicas)}: leader ${leader}, followers ${first} and ${second}`)

  // Every client asks the leader first (it is never frozen), then brokers outside the partition.
  const strand = cluster.client('isr', { brokers: [leader, ...bystanders], requestTimeoutMs: REQUEST_TIMEOUT_MS })
  const isrIs = async (isr: number[], what: string): Promise<void> => {
    const want = JSON.stringify([...isr].sort((a, b) => a - b))
    await cluster.waitForPartition(strand, TOPIC, 0, (x) => x.leaderId === leader && JSON.stringify([...x.isr].sort((a, b) => a - b)) === want, what)
  }
  const offsets = strand.admin()
  const highWatermark = async (): Promise<bigint> => (await offsets.listOffsets({ topic: TOPIC, partition: 0, timestamp: 'latest' })).offset
  const all = strand.producer({ acks: 'all', lingerMs: 0, retries: 10, timeoutMs: 10_000 })
  // No retries: the first answer is the one checked. A short timeout, so a produce that waits for
  // a replica instead of being refused fails the test in seconds, not half a minute.
  const allOnce = strand.producer({ acks: 'all', lingerMs: 0, retries: 0, timeoutMs: 3000 })
  const one = strand.producer({ acks: 1, lingerMs: 0, retries: 0 })
  const acked: Acked[] = []

  acked.push(...(await sendValues(all, TOPIC, 0, values('a', 50))))
  t.equal(await highWatermark(), 50n, 'acks=all: 50 records committed with three in-sync replicas')

  const frozenAtMs = Date.now()
  cluster.pause(first)
  await isrIs([leader, second], `follower ${first} out of the ISR`)
  const outAfterMs = Date.now() - frozenAtMs
  t.ok(outAfterMs >= 1000, `follower ${first} left the ISR ${outAfterMs} ms after it froze (lag and session timeouts are 1500 ms)`)

  const b = await sendValues(all, TOPIC, 0, values('b', 50))
  acked.push(...b)
  t.same(b.map((a) => a.offset), Array.from({ length: 50 }, (_, i) => 50n + BigInt(i)), 'acks=all still works with two in-sync replicas, at offsets 50..99')
  t.equal(await highWatermark(), 100n, 'the high watermark follows the two in-sync replicas')

  cluster.pause(second)
  await isrIs([leader], `follower ${second} out of the ISR too, with three of five quorum voters alive`)
  const refused = await allOnce.sendSettled({ topic: TOPIC, messages: values('c', 10).map((value) => ({ partition: 0, value })) })
  const codes = refused.map((o) => (o.ok ? 'acknowledged' : (o.error as Error & { code?: string }).code))
  t.same([...new Set(codes)], ['NOT_ENOUGH_REPLICAS'], 'acks=all with one in-sync replica is refused with NOT_ENOUGH_REPLICAS')
  t.equal(await highWatermark(), 100n, 'and nothing was appended')
  const d = await sendValues(one, TOPIC, 0, values('d', 20))
  acked.push(...d)
  t.equal(d[0]?.offset, 100n, 'acks=1 still works with one in-sync replica')
  t.equal(await highWatermark(), 120n, 'and is committed at once: the ISR is the leader alone')

  const resumedAtMs = Date.now()
  cluster.resume(first)
  cluster.resume(second)
  await isrIs([leader, first, second], 'both followers back in the ISR')
  t.comment(`the ISR was back to three ${Date.now() - resumedAtMs} ms after the followers resumed`)

  acked.push(...(await sendValues(all, TOPIC, 0, values('e', 50))))
  const hw = await highWatermark()
  t.equal(hw, 170n, 'acks=all works again with three in-sync replicas; 170 records committed')

  const committed = await readCommitted(strand, TOPIC, 1, [hw])
  const misplaced = acked.filter((a) => committed.get(`0:${a.offset}`) !== a.value)
  t.same(misplaced, [], `every acknowledged record (${acked.length}) is at its acknowledged offset`)
  t.notOk([...committed.values()].some((v) => v.startsWith('c')), 'no refused record is in the log')

  // Nothing is produced any more, and every ISR member has everything below the high watermark
  // (the last acks=all needed all three), so the files are stable and can be read as they run.
  const logOf = (id: number): Promise<Buffer> => logBytesBelow(cluster.dataDirs[id - 1]!, TOPIC, 0, hw)
  const leaderLog = await logOf(leader)
  t.ok(leaderLog.length > 0, `the leader has ${leaderLog.length} bytes below the high watermark ${hw}`)
  for (const id of [first, second]) {
    t.ok((await logOf(id)).equals(leaderLog), `follower ${id}'s log is byte-identical to the leader's below the high watermark`)
  }

  await Promise.all([all.close(), allOnce.close(), one.close()])
})
