// Partition replication with real broker processes: three brokers, a topic with replication factor
// 3 and min.insync.replicas 2, a producer with acks=all at a steady rate, while the leader of a
// partition is SIGKILLed and restarted five times (Kafka's hard bounce) and SIGTERMed once (a
// clean bounce). Afterwards every acknowledged record is read back at the offset it was
// acknowledged with, and the three replicas' logs are byte-identical below the high watermark.

import t from 'tap'
import { TestCluster } from '../helpers/cluster.js'
import { logBytesBelow, readCommitted, steadyProducer, watchPartitions } from '../helpers/replication.js'

const PARTITIONS = 3

t.test('acks=all survives five hard bounces and a clean bounce of a leader, and replicas agree', async (t) => {
  const cluster = await TestCluster.start(t)
  const strand = cluster.client('bounce')
  const admin = strand.admin()
  await admin.createTopic({ topic: 'bounce', partitions: PARTITIONS, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } })
  for (let p = 0; p < PARTITIONS; p++) {
    await cluster.waitForPartition(strand, 'bounce', p, (x) => x.isr.length === 3 && x.leaderId > 0, 'three in-sync replicas')
  }

  const producer = strand.producer({ acks: 'all', lingerMs: 2, retries: 50 })
  const load = steadyProducer(producer, 'bounce', { perRound: 30, partitions: PARTITIONS })
  const ackedAt = (): number => load.acked.length
  // A consumer reads along the whole time: it must never see a record that later vanishes.
  const watcher = watchPartitions(cluster.client('watcher'), 'bounce', PARTITIONS)
  const watched = watcher.seen

  for (let round = 1; round <= 6; round++) {
    const clean = round === 6
    const before = await cluster.waitForPartition(strand, 'bounce', 0, (x) => x.leaderId > 0 && x.isr.length === 3, 'a leader and a full ISR')
    const victim = before.leaderId
    const ackedBefore = ackedAt()
    const proc = cluster.broker(victim)
    if (clean) await cluster.stop(victim)
    else await cluster.kill(victim)
    if (clean) t.ok(proc.output.some((l) => l.includes('controlled shutdown: leaderships moved')), 'the clean stop handed its leaderships over before exiting')
    const after = await cluster.waitForPartition(strand, 'bounce', 0, (x) => x.leaderId > 0 && x.leaderId !== victim, 'a new leader')
    t.ok(before.isr.includes(after.leaderId), `round ${round}: the new leader ${after.leaderId} comes from the ISR ${JSON.stringify(before.isr)}`)
    t.ok(after.leaderEpoch > before.leaderEpoch, `round ${round}: broker ${after.leaderId} leads at epoch ${after.leaderEpoch} after broker ${victim} (epoch ${before.leaderEpoch}) ${clean ? 'stopped' : 'was killed'}`)
    await cluster.startBroker(victim)
    await cluster.waitForPartition(strand, 'bounce', 0, (x) => x.isr.includes(victim), `broker ${victim} back in the ISR`)
    // Progress is made across the bounce: the producer keeps getting acknowledgements.
    await cluster.waitForPartition(strand, 'bounce', 0, () => ackedAt() > ackedBefore + 100, 'acknowledgements after the bounce')
  }
  await load.stop()
  await producer.close()
  await watcher.stop()
  t.ok(load.acked.length > 1000, `${load.acked.length} records acknowledged (${load.failed()} sends failed)`)

  const highWatermarks: bigint[] = []
  for (let p = 0; p < PARTITIONS; p++) {
    await cluster.waitForPartition(strand, 'bounce', p, (x) => x.isr.length === 3, 'all replicas in sync at the end')
    highWatermarks.push((await admin.listOffsets({ topic: 'bounce', partition: p, timestamp: 'latest' })).offset)
  }
  const committed = await readCommitted(strand, 'bounce', PARTITIONS, highWatermarks)
  const lost = load.acked.filter((a) => committed.get(`${a.partition}:${a.offset}`) !== a.value)
  t.same(lost.slice(0, 5), [], `every acknowledged record is at its acknowledged offset (${lost.length} of ${load.acked.length} are not)`)
  const vanished = [...watched].filter(([key, v]) => committed.get(key) !== v)
  t.ok(watched.size > 1000, `the concurrent consumer read ${watched.size} records during the bounces`)
  t.same(vanished.slice(0, 5), [], `no record the consumer saw vanished or changed (${vanished.length} did)`)
  const offsets = new Set(load.acked.map((a) => `${a.partition}:${a.offset}`))
  t.equal(offsets.size, load.acked.length, 'no offset was acknowledged twice')

  // Stop cleanly, then compare the replicas' bytes below each high watermark.
  for (const id of cluster.ids) await cluster.stop(id)
  for (let p = 0; p < PARTITIONS; p++) {
    const logs = await Promise.all(cluster.dataDirs.map((dir) => logBytesBelow(dir, 'bounce', p, highWatermarks[p]!)))
    t.ok(logs[0]!.length > 0, `bounce-${p} has ${logs[0]!.length} bytes below its high watermark ${highWatermarks[p]}`)
    t.ok(logs.every((l) => l.equals(logs[0]!)), `bounce-${p}: the three replicas are byte-identical below the high watermark`)
  }
})
