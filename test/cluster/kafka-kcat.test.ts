// The Kafka listener driven by a real Kafka client: kcat (librdkafka), as Debian ships it,
// against three real broker processes with `kafka.listener.port` on. kcat -L lists the cluster
// at its Kafka listeners; kcat -P produces 10,000 keyed messages with headers (acks=all), which
// kcat -C reads back identical and a Strand consumer reads identical too; records a Strand
// producer wrote (uncompressed, gzip, and deflate, which the listener sends decompressed) are read
// by kcat identical; and kcat -G joins a consumer group, consumes everything and commits, which
// the Strand admin then sees as the group's committed offsets at each partition's end.

import t, { type Test } from 'tap'
import { TestCluster } from '../helpers/cluster.js'
import { kcatAvailable, messagesOf, runKcat, type KcatMetadata, type KcatRun } from '../helpers/kcat.js'

const TOPIC = 'kcat-orders'
const STRAND_TOPIC = 'strand-written'
const PARTITIONS = 3
const MESSAGES = 10_000
/** kcat runs that have not finished by then are killed and fail the test. */
const KCAT_TIMEOUT_MS = 90_000

function kcat(t: Test, args: string[], stdin = ''): Promise<KcatRun> {
  return runKcat(t, args, { stdin, timeoutMs: KCAT_TIMEOUT_MS })
}

const missing = await kcatAvailable()

t.test('kcat against the Kafka listener', missing === undefined ? {} : { skip: missing.unavailable }, async (t) => {
  const cluster = await TestCluster.start(t, { overrides: { 'kafka.listener.port': 0, 'offsets.topic.num.partitions': 1, 'group.initial.rebalance.delay.ms': 0 } })
  const kafkaPorts = cluster.ids.map((id) => cluster.broker(id).kafkaPort)
  t.ok(kafkaPorts.every((p) => typeof p === 'number' && p > 0), `every broker has a Kafka listener (${kafkaPorts.join(', ')})`)
  const bootstrap = kafkaPorts.map((p) => `127.0.0.1:${p}`).join(',')
  const client = cluster.client('kcat-test', { requestTimeoutMs: 10_000 })
  const admin = client.admin()
  await admin.createTopic({ topic: TOPIC, partitions: PARTITIONS, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } })
  await admin.createTopic({ topic: STRAND_TOPIC, partitions: 1, replicationFactor: 3 })
  for (const [topic, partitions] of [[TOPIC, PARTITIONS], [STRAND_TOPIC, 1]] as const) {
    for (let p = 0; p < partitions; p++) await cluster.waitForPartition(client, topic, p, (info) => info.leaderId >= 1 && info.isr.length === 3, `${topic}-${p} led with a full ISR`)
  }

  await t.test('kcat -L lists the brokers at their Kafka listeners, and the topics', async (t) => {
    const run = await kcat(t, ['-b', bootstrap, '-L', '-J'])
    t.equal(run.code, 0, `kcat -L exits 0 ${run.stderr}`)
    const md = JSON.parse(run.stdout) as KcatMetadata
    t.same(md.brokers.map((b) => b.id).sort(), [1, 2, 3])
    for (const b of md.brokers) t.equal(b.name, `127.0.0.1:${kafkaPorts[b.id - 1]}`, `broker ${b.id} is advertised at its Kafka port`)
    const topic = md.topics.find((x) => x.topic === TOPIC)
    t.ok(topic, `${TOPIC} is listed`)
    t.equal(topic?.partitions.length, PARTITIONS)
    t.ok(topic?.partitions.every((p) => p.leader >= 1 && p.leader <= 3 && p.replicas.length === 3), 'each partition has a leader and 3 replicas')
  })

  const lines = Array.from({ length: MESSAGES }, (_, i) => `key-${i}:value-${i}-${'v'.repeat(i % 50)}`)
  const expected = new Map(lines.map((l) => l.split(':') as [string, string]))

  await t.test('kcat -P produces 10,000 keyed messages with headers, and kcat -C reads them back identical', async (t) => {
    const produced = await kcat(t, ['-b', bootstrap, '-P', '-t', TOPIC, '-K', ':', '-H', 'trace=abc-123', '-H', 'source=kcat', '-X', 'acks=all', '-X', 'linger.ms=5'], lines.join('\n') + '\n')
    t.equal(produced.code, 0, `kcat -P exits 0 ${produced.stderr}`)
    const consumed = await kcat(t, ['-b', bootstrap, '-C', '-t', TOPIC, '-o', 'beginning', '-e', '-J', '-q'])
    t.equal(consumed.code, 0, `kcat -C exits 0 ${consumed.stderr}`)
    const messages = messagesOf(consumed)
    t.equal(messages.length, MESSAGES, 'every message is read back once')
    const seen = new Map(messages.map((m) => [m.key, m.payload]))
    t.equal(seen.size, MESSAGES, 'no key twice')
    t.ok([...expected].every(([k, v]) => seen.get(k) === v), 'every key has its value')
    t.ok(messages.every((m) => JSON.stringify(m.headers) === JSON.stringify(['trace', 'abc-123', 'source', 'kcat'])), 'every message has its headers, in order')
    const perPartition = new Map<number, number[]>()
    for (const m of messages) perPartition.set(m.partition, [...(perPartition.get(m.partition) ?? []), m.offset])
    t.ok([...perPartition.values()].every((offsets) => offsets.every((o, i) => o === i)), 'offsets run from 0 without a gap in every partition')
  })

  await t.test('a Strand consumer reads what kcat produced, identical', async (t) => {
    const consumer = client.consumer({ groupId: 'strand-reads-kcat', autoCommit: false })
    await consumer.subscribe({ topics: [TOPIC], fromBeginning: true })
    const seen = new Map<string, { value: string; headers: string }>()
    for await (const batch of consumer) {
      for (const m of batch.messages) seen.set(m.key?.toString() ?? '', { value: m.value?.toString() ?? '', headers: JSON.stringify(m.headers.map((h) => [h.key, h.value?.toString()])) })
      if (seen.size >= MESSAGES) break
    }
    await consumer.close()
    t.equal(seen.size, MESSAGES)
    t.ok([...expected].every(([k, v]) => seen.get(k)?.value === v), 'every key has its value')
    t.ok([...seen.values()].every((s) => s.headers === JSON.stringify([['trace', 'abc-123'], ['source', 'kcat']])), 'headers intact')
  })

  await t.test('kcat reads what a Strand producer wrote: uncompressed, gzip and deflate', async (t) => {
    const written: string[] = []
    for (const compression of ['none', 'gzip', 'deflate'] as const) {
      const producer = client.producer({ acks: 'all', compression })
      const messages = Array.from({ length: 100 }, (_, i) => ({ key: `${compression}-${i}`, value: `from strand ${compression} ${i}`, headers: { codec: compression } }))
      await producer.send({ topic: STRAND_TOPIC, messages })
      await producer.close()
      written.push(...messages.map((m) => `${m.key}=${m.value}|${m.headers.codec}`))
    }
    const consumed = await kcat(t, ['-b', bootstrap, '-C', '-t', STRAND_TOPIC, '-o', 'beginning', '-e', '-J', '-q'])
    t.equal(consumed.code, 0, `kcat -C exits 0 ${consumed.stderr}`)
    const read = messagesOf(consumed).map((m) => `${m.key}=${m.payload}|${m.headers?.[1]}`)
    t.same(read, written, 'kcat reads every record, in order, with its key, value and header')
  })

  await t.test('kcat -G joins a group, consumes and commits; the Strand admin sees the commits', async (t) => {
    const group = 'kcat-group'
    const run = await kcat(t, ['-b', bootstrap, '-G', group, TOPIC, '-o', 'beginning', '-e', '-J', '-q', '-X', 'auto.commit.interval.ms=100'])
    t.equal(run.code, 0, `kcat -G exits 0 ${run.stderr}`)
    t.equal(messagesOf(run).length, MESSAGES, 'the group member read every message')
    const offsets = await admin.groupOffsets(group)
    t.equal(offsets.length, PARTITIONS, 'a commit for every partition')
    t.ok(offsets.every((o) => o.committed === o.highWatermark && o.lag === 0n), `committed at each partition's end: ${offsets.map((o) => `${o.partition}:${o.committed}/${o.highWatermark}`).join(' ')}`)
  })
})
