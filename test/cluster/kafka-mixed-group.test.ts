// One consumer group with a Strand consumer and a Kafka client in it: kcat -G (librdkafka 2.0)
// and client.consumer({ groupId }) against three real broker processes, the Strand consumer on
// the Strand listener and kcat on the Kafka listener, sharing the group coordinator. This needs
// both to speak Kafka's consumer protocol (client/group/protocol.ts): each decodes the other's
// JoinGroup subscription when it leads, and the leader's SyncGroup assignment.
//
// Run twice, once with the Strand consumer joining first (so it leads: the coordinator keeps its
// leader across rebalances) and once with kcat first. Each time both members join before any
// record exists; then 3,000 records are produced over 6 partitions. The checks: the group splits
// the partitions (each member consumes some, no partition is consumed by both, together all 6);
// every record is consumed exactly once across the two; kcat, stopped with SIGTERM (its clean exit:
// it commits and leaves the group), hands its partitions to the Strand consumer at their ends; and
// once both stopped, the group's committed offsets are at every partition's end.

import t, { type Test } from 'tap'
import type { Consumer, ConsumerOptions, GroupDescription, Strand, TopicPartition } from '../../client/index.js'
import { TestCluster } from '../helpers/cluster.js'
import { kcatAvailable, startKcat } from '../helpers/kcat.js'
import { waitFor } from '../helpers/wait.js'

const PARTITIONS = 6
const RECORDS = 3_000
/** Short Strand group timeouts, so the rebalances kcat's join and leave start finish quickly. */
const STRAND_GROUP: ConsumerOptions = { sessionTimeoutMs: 6_000, heartbeatIntervalMs: 200, rebalanceTimeoutMs: 20_000, maxWaitMs: 100, autoCommitIntervalMs: 100 }
/** librdkafka's heartbeat (default 3 s) bounds how soon kcat sees a rebalance another member started. */
const KCAT_HEARTBEAT_MS = 300
/** Every wait on the group or on records. */
const WAIT = { timeoutMs: 45_000, intervalMs: 25 }
/** kcat gets this long to commit and leave after SIGTERM before it is killed and the test fails. */
const KCAT_EXIT_MS = 30_000
const KCAT_CLIENT_ID = 'kcat-member'
const STRAND_CLIENT_ID = 'strand-member'

/** A consumed record: `${partition}:${offset}`. */
type RecordId = string

interface KcatMember {
  /** Every record kcat printed so far, in order, duplicates kept. */
  readonly records: () => RecordId[]
  readonly stderr: () => string
  /** Sends SIGTERM (kcat then closes its consumer: commits, leaves) and waits for the exit code. */
  stop(): Promise<number | null>
}

/** `kcat -G group topic` in the background, reading JSON lines as they come (-u: unbuffered). */
function startKcatMember(t: Test, bootstrap: string, group: string, topic: string): KcatMember {
  const args = ['-b', bootstrap, '-G', group, topic, '-o', 'beginning', '-J', '-u', '-q', '-X', `client.id=${KCAT_CLIENT_ID}`, '-X', 'auto.commit.interval.ms=100', '-X', `heartbeat.interval.ms=${KCAT_HEARTBEAT_MS}`]
  const kcat = startKcat(t, args)
  return {
    records: () => kcat.messages.map((m) => `${m.partition}:${m.offset}`),
    stderr: () => kcat.stderr(),
    stop: () => kcat.stop({ killAfterMs: KCAT_EXIT_MS }),
  }
}

interface StrandMember {
  readonly consumer: Consumer
  /** Every record handed out, in order, duplicates kept. */
  readonly records: RecordId[]
  /** Ends the loop and closes the consumer (which commits what was processed). */
  stop(): Promise<void>
}

/** Subscribes (resolving once assigned) and consumes in the background. */
async function startStrand(strand: Strand, group: string, topic: string): Promise<StrandMember> {
  const consumer = strand.consumer({ groupId: group, ...STRAND_GROUP })
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  const records: RecordId[] = []
  let stopping = false
  const loop = (async () => {
    for await (const batch of consumer) {
      for (const m of batch.messages) records.push(`${batch.partition}:${m.offset}`)
      if (stopping) break
    }
  })()
  return {
    consumer,
    records,
    async stop() {
      stopping = true
      await consumer.close()
      await loop
    },
  }
}

function partitionsOf(records: readonly RecordId[]): number[] {
  return [...new Set(records.map((r) => Number(r.split(':')[0])))].sort((a, b) => a - b)
}

function sorted(tps: readonly TopicPartition[]): number[] {
  return tps.map((tp) => tp.partition).sort((a, b) => a - b)
}

/** The group, once Stable with both members, each holding some partitions and together all, once. */
async function waitForSplit(strand: Strand, group: string): Promise<GroupDescription> {
  const admin = strand.admin()
  return waitFor(async () => {
    const g = await admin.describeGroup(group)
    if (g.state !== 'Stable' || g.members.length !== 2) return false
    const held = g.members.map((m) => m.assignment.map((a) => a.partition))
    const flat = held.flat()
    return held.every((h) => h.length > 0) && flat.length === PARTITIONS && new Set(flat).size === PARTITIONS ? g : false
  }, { ...WAIT, what: `group ${group} Stable with the partitions split between its two members` })
}

/** Produces RECORDS records, partition i % PARTITIONS; returns every record's id and each partition's end. */
async function produce(strand: Strand, topic: string): Promise<{ ids: Set<RecordId>; ends: Map<number, bigint> }> {
  const producer = strand.producer({ acks: 'all', lingerMs: 2 })
  try {
    const messages = Array.from({ length: RECORDS }, (_, i) => ({ key: `k${i}`, value: `record-${i}`, partition: i % PARTITIONS }))
    const acks = await producer.send({ topic, messages })
    const ids = new Set(acks.map((a) => `${a.partition}:${a.offset}`))
    const ends = new Map<number, bigint>()
    for (const a of acks) {
      const end = a.offset + 1n
      if (end > (ends.get(a.partition) ?? 0n)) ends.set(a.partition, end)
    }
    return { ids, ends }
  } finally {
    await producer.close()
  }
}

const missing = await kcatAvailable()

t.test('a Strand consumer and kcat share one consumer group', missing === undefined ? {} : { skip: missing.unavailable }, async (t) => {
  const cluster = await TestCluster.start(t, { overrides: { 'kafka.listener.port': 0, 'offsets.topic.num.partitions': 1, 'group.initial.rebalance.delay.ms': 0 } })
  const bootstrap = cluster.ids.map((id) => `127.0.0.1:${cluster.broker(id).kafkaPort}`).join(',')
  const strand = cluster.client(STRAND_CLIENT_ID, { requestTimeoutMs: 10_000 })
  const admin = strand.admin()

  for (const first of ['strand', 'kcat'] as const) {
    await t.test(`${first === 'strand' ? 'the Strand consumer' : 'kcat'} joins first and leads`, async (t) => {
      const topic = `mixed-${first}-first`
      const group = `mixed-${first}-first`
      await admin.createTopic({ topic, partitions: PARTITIONS, replicationFactor: 3 })
      for (let p = 0; p < PARTITIONS; p++) await cluster.waitForPartition(strand, topic, p, (info) => info.leaderId >= 1 && info.isr.length === 3, `${topic}-${p} led with a full ISR`)

      // Both members join before a record exists, so neither can finish before the other is in.
      let kcat: KcatMember
      let member: StrandMember
      if (first === 'strand') {
        member = await startStrand(strand, group, topic)
        t.same(sorted(member.consumer.assignment()), [0, 1, 2, 3, 4, 5], 'alone, the Strand consumer holds every partition')
        kcat = startKcatMember(t, bootstrap, group, topic)
      } else {
        kcat = startKcatMember(t, bootstrap, group, topic)
        await waitFor(async () => {
          const g = await admin.describeGroup(group)
          return g.state === 'Stable' && g.members.length === 1 && g.members[0]?.assignment.length === PARTITIONS
        }, { ...WAIT, what: `kcat alone in ${group}, holding every partition` })
        member = await startStrand(strand, group, topic)
      }
      t.teardown(() => member.consumer.close().catch(() => undefined))

      const split = await waitForSplit(strand, group)
      const byClient = new Map(split.members.map((m) => [m.clientId, m]))
      t.same(byClient.get(KCAT_CLIENT_ID)?.topics, [topic], "the Strand admin decodes kcat's subscription")
      t.same(byClient.get(STRAND_CLIENT_ID)?.topics, [topic], "and the Strand consumer's")
      t.ok(['range', 'roundrobin'].includes(split.protocol), `the group runs an assignor both have (${split.protocol})`)
      const kcatHeld = (byClient.get(KCAT_CLIENT_ID)?.assignment ?? []).map((a) => a.partition).sort((a, b) => a - b)
      await waitFor(() => JSON.stringify(sorted(member.consumer.assignment())) === JSON.stringify([0, 1, 2, 3, 4, 5].filter((p) => !kcatHeld.includes(p))), { ...WAIT, what: "the Strand consumer holding the partitions kcat does not" })
      t.pass(`kcat holds ${kcatHeld.join(',')}; the Strand consumer ${sorted(member.consumer.assignment()).join(',')}`)

      const { ids, ends } = await produce(strand, topic)
      t.equal(ids.size, RECORDS, `${RECORDS} records produced over ${ends.size} partitions`)
      const consumed = (): Set<RecordId> => new Set([...member.records, ...kcat.records()])
      await waitFor(() => consumed().size >= RECORDS, { ...WAIT, what: `every record consumed by one member or the other (${consumed().size} so far)` })

      const code = await kcat.stop()
      t.equal(code, 0, `kcat exits 0 on SIGTERM, having committed and left ${kcat.stderr()}`)
      // kcat's partitions come back to the Strand consumer at kcat's commits: at their ends, so it
      // reads none of their records again.
      await waitFor(() => {
        const assigned = member.consumer.assignment()
        return assigned.length === PARTITIONS && assigned.every((tp) => member.consumer.position(tp) === ends.get(tp.partition))
      }, { ...WAIT, what: 'the Strand consumer holding every partition, each at its end' })
      await member.stop()

      const strandPartitions = partitionsOf(member.records)
      const kcatPartitions = partitionsOf(kcat.records())
      t.ok(strandPartitions.length > 0 && kcatPartitions.length > 0, `each member consumed some partitions (Strand ${strandPartitions.join(',')}; kcat ${kcatPartitions.join(',')})`)
      t.same(strandPartitions.filter((p) => kcatPartitions.includes(p)), [], 'no partition consumed by both')
      t.same([...strandPartitions, ...kcatPartitions].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5], 'together, every partition')
      t.equal(member.records.length + kcat.records().length, RECORDS, `${RECORDS} records handed out in all (Strand ${member.records.length}, kcat ${kcat.records().length})`)
      const all = consumed()
      t.equal(all.size, RECORDS, 'none twice')
      t.ok([...ids].every((id) => all.has(id)), 'every record produced was consumed')

      const offsets = await admin.groupOffsets(group)
      t.same(offsets.map((o) => o.partition), [0, 1, 2, 3, 4, 5], 'a commit for every partition')
      t.ok(offsets.every((o) => o.committed === ends.get(o.partition) && o.committed === o.highWatermark && o.lag === 0n), `committed at each partition's end: ${offsets.map((o) => `${o.partition}:${o.committed}/${o.highWatermark}`).join(' ')}`)
    })
  }
})
