// Consumer truncation detection (KIP-320), with real broker processes and an unclean leader
// election. A partition of two replicas: the follower dies, the leader alone takes records 5..9 and
// two consumers read them; then the leader dies and the out-of-sync follower, whose log ends at 5,
// is elected uncleanly and takes new records at 5 and on. A consumer at position 10 that fetched on
// would silently skip the new records at 5..9. Instead, each asks the new leader where the epoch of
// its last records ends (5, below its position): the one with autoOffsetReset 'earliest' goes back
// to 5 by itself and reads every new record; the one with 'none' throws a LogTruncationError
// naming offset 5 until the application seeks, then reads them too.
//
// Three brokers, all quorum voters: while the two replicas are both down the quorum has no
// majority, so nothing changes until the follower is back (the leader's fencing then elects it).

import t from 'tap'
import { LogTruncationError, type Consumer, type Producer } from '../../client/index.js'
import { TestCluster } from '../helpers/cluster.js'
import { waitFor } from '../helpers/wait.js'

const TOPIC = 'truncated'

interface Read {
  offset: bigint
  value: string
}

async function produce(producer: Producer, values: string[]): Promise<bigint[]> {
  const offsets: bigint[] = []
  for (const value of values) offsets.push((await producer.send({ topic: TOPIC, messages: [{ partition: 0, value }] }))[0]!.offset)
  return offsets
}

const names = (prefix: string, count: number): string[] => Array.from({ length: count }, (_, i) => `${prefix}${i}`)

/** Reads into `seen` until the loop ends; resolves with what it threw, if anything. */
function consume(consumer: Consumer, seen: Read[]): Promise<Error | null> {
  return (async () => {
    try {
      for await (const batch of consumer) for (const m of batch.messages) seen.push({ offset: m.offset, value: m.value!.toString() })
      return null
    } catch (err) {
      return err as Error
    }
  })()
}

t.test('a consumer whose records an unclean election truncated goes back to where the log diverged', async (t) => {
  const cluster = await TestCluster.start(t)
  const strand = cluster.client('truncation')
  const admin = strand.admin()
  await admin.createTopic({ topic: TOPIC, partitions: 1, replicationFactor: 2, configs: { 'unclean.leader.election.enable': 'true' } })
  const initial = await cluster.waitForPartition(strand, TOPIC, 0, (p) => p.leaderId > 0 && p.isr.length === 2, 'two in-sync replicas')
  const leader = initial.leaderId
  const follower = initial.replicas.find((r) => r !== leader)!

  const before = strand.producer({ acks: 'all', lingerMs: 0 })
  t.same(await produce(before, names('a', 5)), [0n, 1n, 2n, 3n, 4n], 'a0..a4, on both replicas')
  const resetting = strand.consumer({ autoOffsetReset: 'earliest', maxWaitMs: 200 })
  const strict = strand.consumer({ autoOffsetReset: 'none', maxWaitMs: 200 })
  const seen: Read[] = []
  const strictSeen: Read[] = []
  for (const c of [resetting, strict]) c.assign([{ topic: TOPIC, partition: 0, offset: 'earliest' }])
  const reading = consume(resetting, seen)
  const strictReading = consume(strict, strictSeen)

  await cluster.kill(follower)
  await cluster.waitForPartition(strand, TOPIC, 0, (p) => p.isr.length === 1 && p.isr[0] === leader, `the ISR down to broker ${leader}`)
  t.same(await produce(before, names('b', 5)), [5n, 6n, 7n, 8n, 9n], 'b0..b4 on the leader alone')
  await waitFor(() => seen.length === 10 && strictSeen.length === 10, { what: 'both consumers to read 0..9', timeoutMs: 20_000 })
  await before.close()

  await cluster.kill(leader)
  await cluster.startBroker(follower)
  const elected = await cluster.waitForPartition(strand, TOPIC, 0, (p) => p.leaderId === follower, `broker ${follower} elected uncleanly`)
  t.ok(elected.leaderEpoch > initial.leaderEpoch, `at epoch ${elected.leaderEpoch}`)
  // A new producer: the old one's sequence numbers count b0..b4, which the new leader never had.
  const after = strand.producer({ acks: 'all', lingerMs: 0 })
  t.same(await produce(after, names('c', 10)), [5n, 6n, 7n, 8n, 9n, 10n, 11n, 12n, 13n, 14n], 'premise: the new leader\'s log diverges at 5, and c0..c9 took 5..14')
  await after.close()

  const newRecords = names('c', 10).map((value, i) => ({ offset: 5n + BigInt(i), value }))
  await waitFor(() => seen.length >= 20, { what: 'the resetting consumer to read the new records', timeoutMs: 30_000 })
  t.same(seen.slice(10), newRecords, 'autoOffsetReset earliest: back to 5 by itself, every new record read, none skipped')
  t.equal(resetting.position({ topic: TOPIC, partition: 0 }), 15n, 'and on to the log end')

  const thrown = await strictReading
  t.ok(thrown instanceof LogTruncationError, `autoOffsetReset none: the loop threw ${thrown?.name}: ${thrown?.message}`)
  const truncation = thrown as LogTruncationError
  t.same({ code: truncation.code, retriable: truncation.retriable, offset: truncation.offset, divergentOffset: truncation.divergentOffset }, { code: 'LOG_TRUNCATION', retriable: false, offset: 10n, divergentOffset: 5n }, 'naming the position and where the log diverged')
  t.equal(strictSeen.length, 10, 'and it read nothing past the truncation')
  t.equal(strict.position({ topic: TOPIC, partition: 0 }), 10n, 'its position is left for the application to decide')
  strict.seek({ topic: TOPIC, partition: 0, offset: truncation.divergentOffset })
  const strictAgain = consume(strict, strictSeen)
  await waitFor(() => strictSeen.length >= 20, { what: 'the strict consumer, after its seek, to read the new records', timeoutMs: 30_000 })
  t.same(strictSeen.slice(10), newRecords, 'after seek(divergentOffset) it reads them too')

  await Promise.all([resetting.close(), strict.close()])
  t.same([await reading, await strictAgain], [null, null], 'the loops end cleanly at close()')
})
