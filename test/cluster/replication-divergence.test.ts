// Divergent logs, with real broker processes (KIP-101 / KIP-279): a leader appends batches with
// acks=1 that no follower gets (both followers are frozen with SIGSTOP), then dies (SIGKILL). The
// followers resume, one of them is elected leader with a higher epoch and takes acks=all
// produces; the old leader restarts as a follower, finds with OffsetsForLeaderEpoch where its log
// stops agreeing with the new leader's, truncates the acks=1 batches away, and catches up. At the
// end no replica holds an acks=1 record, every acks=all record is at its acknowledged offset, and
// the three logs are byte-identical.
//
// Getting the followers to miss the acks=1 batches: a follower usually has a fetch waiting at the
// leader (a long poll), and a frozen follower's socket still takes the answer, which it appends
// once resumed. So right after freezing them the test produces one "drain" record: it wakes every
// waiting fetch, which answers with the drain record alone, and a frozen follower sends no new
// fetch. Whether the drain record survives depends on which follower got it, so the test makes no
// claim about it beyond the replicas agreeing. While both followers are frozen the metadata quorum
// (three voters) has no majority, so nothing, neither ISR shrink nor fencing, can change the
// partition behind the test's back.

import t from 'tap'
import { TestCluster } from '../helpers/cluster.js'
import { waitFor } from '../helpers/wait.js'
import { logBytesBelow, logRecords, readCommitted, sendValues, values, type Acked } from '../helpers/replication.js'

const TOPIC = 'diverge'
/** Long enough that the brief freeze of the followers never fences one; the dead leader is fenced after it. */
const SESSION_TIMEOUT_MS = 3000
const TRUNCATED_MSG = 'truncated to where the log agrees with the leader'

t.test('a leader\'s acks=1 batches that no follower got are truncated when it returns as a follower', async (t) => {
  const cluster = await TestCluster.start(t, {
    overrides: { 'broker.session.timeout.ms': SESSION_TIMEOUT_MS, 'replica.lag.time.max.ms': SESSION_TIMEOUT_MS },
  })
  const strand = cluster.client('diverge', { requestTimeoutMs: 3000 })
  const admin = strand.admin()
  await admin.createTopic({ topic: TOPIC, partitions: 1, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } })
  const initial = await cluster.waitForPartition(strand, TOPIC, 0, (x) => x.isr.length === 3 && x.leaderId > 0, 'three in-sync replicas')
  const oldLeader = initial.leaderId
  const followers = initial.replicas.filter((r) => r !== oldLeader)
  t.comment(`replicas ${JSON.stringify(initial.replicas)}: leader ${oldLeader} at epoch ${initial.leaderEpoch}`)

  const all = strand.producer({ acks: 'all', lingerMs: 0, retries: 20, timeoutMs: 10_000 })
  // Retries are for the warm-up: the broker whose metadata the test waited on may know the topic
  // a moment before the leader does (UNKNOWN_TOPIC_OR_PARTITION, retriable).
  const one = strand.producer({ acks: 1, lingerMs: 0, retries: 10 })
  const committed: Acked[] = []
  // acks=1 first, so `one` knows the leader before the followers freeze; the acks=all records
  // after it commit it too.
  committed.push(...(await sendValues(one, TOPIC, 0, ['warm'])))
  committed.push(...(await sendValues(all, TOPIC, 0, values('a', 30))))
  const agreedEnd = committed.at(-1)!.offset + 1n

  for (const id of followers) cluster.pause(id)
  const [drain] = await sendValues(one, TOPIC, 0, ['drain'])
  const lost: Acked[] = []
  for (let i = 0; i < 4; i++) lost.push(...(await sendValues(one, TOPIC, 0, values(`lost${i}-`, 5))))
  t.equal(drain!.offset, agreedEnd, `the drain record is at ${agreedEnd}`)
  t.same(lost.map((a) => a.offset), Array.from({ length: 20 }, (_, i) => agreedEnd + 1n + BigInt(i)), 'the leader alone acknowledged 20 acks=1 records after it')
  await cluster.kill(oldLeader)
  for (const id of followers) cluster.resume(id)

  const elected = await cluster.waitForPartition(strand, TOPIC, 0, (x) => x.leaderId > 0 && x.leaderId !== oldLeader, 'a new leader')
  t.ok(followers.includes(elected.leaderId), `broker ${elected.leaderId}, a follower from the ISR, leads now`)
  t.ok(elected.leaderEpoch > initial.leaderEpoch, `at epoch ${elected.leaderEpoch}, above ${initial.leaderEpoch}`)
  for (const id of followers) {
    const stored = await logRecords(cluster.dataDirs[id - 1]!, TOPIC, 0)
    const has = stored.filter((r) => r.value.startsWith('lost'))
    t.same(has, [], `premise: follower ${id} never got an acks=1 record (it has ${stored.length} records, the drain record ${stored.some((r) => r.value === 'drain') ? 'among them' : 'not'})`)
  }

  committed.push(...(await sendValues(all, TOPIC, 0, values('c', 30))))

  const restarted = await cluster.startBroker(oldLeader)
  const back = await cluster.waitForPartition(strand, TOPIC, 0, (x) => x.isr.length === 3 && x.leaderId === oldLeader, `broker ${oldLeader} in sync and the preferred leader again`)
  t.ok(back.leaderEpoch > elected.leaderEpoch, `broker ${oldLeader} leads again at epoch ${back.leaderEpoch}`)
  committed.push(...(await sendValues(all, TOPIC, 0, values('d', 30))))

  const end = committed.at(-1)!.offset + 1n
  const hw = await waitFor(
    async () => {
      const latest = (await admin.listOffsets({ topic: TOPIC, partition: 0, timestamp: 'latest' })).offset
      return latest === end ? latest : false
    },
    { what: `the high watermark at ${end}`, timeoutMs: 10_000, intervalMs: 50 },
  )
  const read = await readCommitted(strand, TOPIC, 1, [hw])
  const misplaced = committed.filter((a) => read.get(`0:${a.offset}`) !== a.value)
  t.same(misplaced, [], `every acks=all record (${committed.length}) is at its acknowledged offset`)
  t.notOk([...read.values()].some((v) => v.startsWith('lost')), 'no acks=1 record of the dead leader is readable')

  // Every replica is in the ISR and the last acks=all needed all of them: each log ends at the high
  // watermark, and nothing is being written.
  const logs = await Promise.all(cluster.ids.map((id) => logBytesBelow(cluster.dataDirs[id - 1]!, TOPIC, 0, hw)))
  t.ok(logs[0]!.length > 0, `${logs[0]!.length} bytes below the high watermark ${hw}`)
  t.ok(logs.every((l) => l.equals(logs[0]!)), 'the three replicas are byte-identical below the high watermark')
  for (const id of cluster.ids) {
    const stored = await logRecords(cluster.dataDirs[id - 1]!, TOPIC, 0)
    t.same({ end: stored.at(-1)?.offset, lost: stored.filter((r) => r.value.startsWith('lost')).length }, { end: hw - 1n, lost: 0 }, `broker ${id}'s whole log ends at the high watermark and holds no acks=1 record`)
  }


  // Last, so that a missing truncation shows above as the data it left behind. The broker logs it
  // before it fetches at all, so long before it rejoined the ISR.
  const truncation = await waitFor(
    () => restarted.output.map(parseLine).find((l) => l?.msg === TRUNCATED_MSG && l.topic === TOPIC) ?? undefined,
    { what: `broker ${oldLeader} logging "${TRUNCATED_MSG}"`, timeoutMs: 5000, intervalMs: 20 },
  )
  const lostEnd = lost.at(-1)!.offset + 1n
  t.equal(BigInt(String(truncation.from)), lostEnd, `the restarted broker logged truncating from its log end ${lostEnd}`)
  const to = BigInt(String(truncation.to))
  t.ok(to >= agreedEnd && to <= agreedEnd + 1n, `to ${to}: where the acks=1 records start (the drain record stays only if the new leader has it)`)

  await Promise.all([all.close(), one.close()])
})

function parseLine(line: string): Record<string, unknown> | null {
  try {
    return JSON.parse(line) as Record<string, unknown>
  } catch {
    return null
  }
}
