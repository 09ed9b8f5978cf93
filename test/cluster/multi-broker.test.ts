// Three brokers, one cluster: topics are created through the controller, their partitions spread
// over the brokers, and a client bootstrapped from any one broker produces to and consumes from
// every partition's leader. Replication factor 1 here; test/cluster/replication.test.ts replicates.

import t from 'tap'
import { Strand } from '../../client/index.js'
import { spawnBroker, tempDir, type BrokerProcess } from '../helpers/broker-process.js'
import { freePorts, quorumVoters } from '../helpers/ports.js'
import { waitFor } from '../helpers/wait.js'

const PARTITIONS = 6
const RECORDS = 3000

t.test('a topic spread over three brokers, produced and consumed through one bootstrap address', async (t) => {
  const ports = await freePorts(3)
  const voters = quorumVoters(ports)
  const brokers: BrokerProcess[] = await Promise.all(
    ports.map((port, i) =>
      spawnBroker(t, {
        dataDir: tempDir(t),
        port,
        overrides: { 'node.id': i + 1, 'controller.quorum.voters': voters, 'controller.quorum.election.timeout.ms': 300, 'controller.quorum.heartbeat.interval.ms': 50, 'broker.heartbeat.interval.ms': 100 },
      }),
    ),
  )
  const strand = new Strand({ brokers: [brokers[2]!.address], clientId: 'multi' })
  t.teardown(() => strand.close())
  const admin = strand.admin()
  // Partitions are placed on the brokers registered at creation time: wait for all three.
  await waitFor(async () => (await admin.metadata().catch(() => null))?.brokers.length === 3, { what: 'three registered brokers' })
  await admin.createTopic({ topic: 'spread', partitions: PARTITIONS, replicationFactor: 1 })
  await t.rejects(admin.createTopic({ topic: 'spread', partitions: 1, replicationFactor: 1 }), { code: 'TOPIC_ALREADY_EXISTS' })
  await t.rejects(admin.createTopic({ topic: 'replicated', partitions: 1, replicationFactor: 4 }), { code: 'INVALID_REPLICATION_FACTOR' }, 'more replicas than brokers is refused')

  const md = await admin.metadata(['spread'])
  t.same(md.brokers.map((b) => b.nodeId).sort(), [1, 2, 3], 'every broker is registered')
  const leaders = md.topics[0]!.partitions.map((p) => p.leaderId)
  t.same([...new Set(leaders)].sort(), [1, 2, 3], `leaders spread over all brokers (${leaders.join(',')})`)
  for (const b of brokers) {
    const other = new Strand({ brokers: [b.address], clientId: 'metadata-check' })
    t.teardown(() => other.close())
    // Each broker applies the new topic when the quorum tells it the entry committed.
    const seen = await waitFor(async () => {
      const topic = (await other.admin().metadata().catch(() => null))?.topics.find((x) => x.name === 'spread')
      return topic?.partitions.length === PARTITIONS ? topic : false
    }, { what: `broker at ${b.address} to know the topic` })
    t.same(seen.partitions.map((p) => p.leaderId), leaders, `broker at ${b.address} describes the same leaders`)
  }
  const clients = brokers.map((b) => new Strand({ brokers: [b.address], clientId: 'cluster-id-check' }))
  t.teardown(() => Promise.all(clients.map((c) => c.close())))
  const clusterIds = await waitFor(async () => {
    const ids = new Set(await Promise.all(clients.map(async (c) => (await c.admin().describeCluster()).clusterId)))
    return ids.size === 1 ? ids : false
  }, { what: 'every broker to report the cluster id the controller chose' })
  t.equal(clusterIds.size, 1, `one cluster id (${[...clusterIds].join('')})`)

  const producer = strand.producer({ acks: 1, lingerMs: 1 })
  const acks = await producer.send({ topic: 'spread', messages: Array.from({ length: RECORDS }, (_, i) => ({ key: `k${i % 97}`, value: `v${i}` })) })
  await producer.close()
  t.same([...new Set(acks.map((a) => a.partition))].sort(), Array.from({ length: PARTITIONS }, (_, i) => i), 'records reached every partition')

  const consumer = strand.consumer({ maxWaitMs: 100 })
  t.teardown(() => consumer.close())
  consumer.assign(Array.from({ length: PARTITIONS }, (_, partition) => ({ topic: 'spread', partition, offset: 'earliest' as const })))
  const values = new Set<string>()
  for await (const batch of consumer) {
    for (const m of batch.messages) values.add(m.value!.toString())
    if (values.size >= RECORDS) break
  }
  t.equal(values.size, RECORDS, 'every record read back from its partition leader')

  await admin.deleteTopic('spread')
  // Committed on the controller when deleteTopic returns; the other brokers learn it with the
  // next quorum heartbeat (metadata is eventually consistent across brokers, as in Kafka).
  const remaining = await waitFor(async () => {
    const topics = await admin.listTopics()
    return topics.length === 0 ? topics : false
  }, { what: 'the deletion to reach the broker answering metadata' })
  t.same(remaining, [], 'deleted through the controller')
})
