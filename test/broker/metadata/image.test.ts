import t from 'tap'
import { MetadataImage } from '../../../broker/metadata/image.js'
import { decodeMetadataEntry, decodeMetadataRecord, encodeMetadataEntry, encodeMetadataRecord, type MetadataRecord } from '../../../broker/metadata/records.js'
import { decodeSnapshot, encodeSnapshot } from '../../../broker/metadata/snapshot.js'

const RECORDS: MetadataRecord[] = [
  { kind: 'registerBroker', record: { brokerId: 1, host: '127.0.0.1', port: 9092, kafkaPort: -1, incarnationId: 'a1' } },
  { kind: 'brokerFencing', record: { brokerId: 1, fenced: false } },
  { kind: 'topic', record: { name: 'orders', topicId: 't-1', configs: [{ key: 'retention.ms', value: '1000' }] } },
  { kind: 'partition', record: { topic: 'orders', partition: 0, replicas: [1, 2, 3], isr: [1, 2, 3], leader: 1, leaderEpoch: 0, partitionEpoch: 0 } },
  { kind: 'removeTopic', record: { name: 'orders', reason: null } },
  { kind: 'cluster', record: { clusterId: 'c-1' } },
  { kind: 'registerBroker', record: { brokerId: 2, host: 'b2', port: 9093, kafkaPort: 19093, incarnationId: 'a2' } },
]

/**
 * Frozen bytes of registerBroker at each version (kind 1, then the version byte, then Avro:
 * brokerId 3 -> 06, "broker-3.local", port 9094 -> 8c8e01, "4f1c2a", then v1's kafkaPort 19094 -> acaa02).
 */
const REGISTER_BROKER_V0 = '000100061c62726f6b65722d332e6c6f63616c8c8e010c346631633261'
const REGISTER_BROKER_V1 = '000101061c62726f6b65722d332e6c6f63616c8c8e010c346631633261acaa02'

t.test('every record kind round-trips, behind a stable envelope', async (t) => {
  for (const r of RECORDS) t.same(decodeMetadataRecord(encodeMetadataRecord(r)), r, r.kind)
  t.equal(encodeMetadataRecord(RECORDS[1]!).toString('hex'), '0002000200', 'brokerFencing v0: kind 2, version 0, Avro body (brokerId 1 as zigzag 02, fenced false 00)')
  t.throws(() => decodeMetadataRecord(Buffer.from('00', 'hex')), { name: 'MetadataRecordError' })
  t.throws(() => decodeMetadataRecord(Buffer.from('0063000000', 'hex')), /Unknown metadata record kind 99/)
  t.throws(() => decodeMetadataRecord(Buffer.from('0001070000', 'hex')), /Unsupported version 7/)
  t.throws(() => decodeMetadataRecord(Buffer.from('000100ff', 'hex')), { name: 'MetadataRecordError' })
  t.throws(() => decodeMetadataRecord(Buffer.from('0002010200', 'hex')), /Unsupported version 1 of metadata record "brokerFencing"/, 'versions are per kind')
})

t.test('registerBroker: v0 carries no Kafka port (-1), v1 does; each is written at the lowest version that holds it', async (t) => {
  const base = { brokerId: 3, host: 'broker-3.local', port: 9094, incarnationId: '4f1c2a' }
  const none: MetadataRecord = { kind: 'registerBroker', record: { ...base, kafkaPort: -1 } }
  const kafka: MetadataRecord = { kind: 'registerBroker', record: { ...base, kafkaPort: 19094 } }
  t.equal(encodeMetadataRecord(none).toString('hex'), REGISTER_BROKER_V0, 'no Kafka listener: v0, the bytes brokers of the previous build read')
  t.equal(encodeMetadataRecord(kafka).toString('hex'), REGISTER_BROKER_V1, 'a Kafka listener: v1')
  t.same(decodeMetadataRecord(Buffer.from(REGISTER_BROKER_V0, 'hex')), none, 'a v0 record (an old log or snapshot) reads with kafkaPort -1')
  t.same(decodeMetadataRecord(Buffer.from(REGISTER_BROKER_V1, 'hex')), kafka, 'a v1 record reads with its port')
  t.throws(() => decodeMetadataRecord(Buffer.from('000102', 'hex')), /Unsupported version 2 of metadata record "registerBroker"/)
  t.throws(() => decodeMetadataRecord(Buffer.from(REGISTER_BROKER_V0.replace(/^000100/, '000101'), 'hex')), { name: 'MetadataRecordError' }, 'a v0 body behind a v1 envelope does not decode')

  const image = new MetadataImage()
  image.apply(1, decodeMetadataRecord(Buffer.from(REGISTER_BROKER_V0, 'hex')))
  t.equal(image.brokers.get(3)?.kafkaPort, -1, 'an image built from a v0 record: no Kafka listener')
  image.apply(2, decodeMetadataRecord(Buffer.from(REGISTER_BROKER_V1, 'hex')))
  t.equal(image.brokers.get(3)?.kafkaPort, 19094, 'a registration with a Kafka port replaces it (same incarnation, new port)')
  t.equal(image.brokers.get(3)?.port, 9094, 'beside the Strand listener\'s')
  image.apply(3, none)
  t.equal(image.brokers.get(3)?.kafkaPort, -1, 'and one without takes it away')
})

t.test('Kafka ports survive a snapshot round trip, and an old snapshot of v0 records loads with -1', async (t) => {
  const image = new MetadataImage()
  let index = 0
  image.apply(++index, { kind: 'cluster', record: { clusterId: 'c-1' } })
  image.apply(++index, { kind: 'registerBroker', record: { brokerId: 1, host: 'h1', port: 9092, kafkaPort: 19092, incarnationId: 'i1' } })
  image.apply(++index, { kind: 'registerBroker', record: { brokerId: 2, host: 'h2', port: 9093, kafkaPort: -1, incarnationId: 'i2' } })
  image.apply(++index, { kind: 'brokerFencing', record: { brokerId: 1, fenced: false } })
  const file = encodeSnapshot({ lastIndex: index, lastTerm: 1, data: encodeMetadataEntry(image.toRecords()) })
  const loaded = MetadataImage.fromRecords(decodeMetadataEntry(decodeSnapshot(file, 'the snapshot').data), index)
  t.same([...loaded.brokers.values()], [
    { brokerId: 1, host: 'h1', port: 9092, kafkaPort: 19092, incarnationId: 'i1', fenced: false },
    { brokerId: 2, host: 'h2', port: 9093, kafkaPort: -1, incarnationId: 'i2', fenced: true },
  ], 'each broker with its Kafka port (or none) and fencing')

  // A snapshot an older build wrote: the same entry with broker 3's registration at v0.
  const old = Buffer.concat([Buffer.from('00000002', 'hex'), ...[REGISTER_BROKER_V0, '0002000600'].map((hex) => {
    const record = Buffer.from(hex, 'hex')
    const length = Buffer.alloc(4)
    length.writeUInt32BE(record.length)
    return Buffer.concat([length, record])
  })])
  const fromOld = MetadataImage.fromRecords(decodeMetadataEntry(decodeSnapshot(encodeSnapshot({ lastIndex: 2, lastTerm: 1, data: old }), 'the old snapshot').data), 2)
  t.same(fromOld.brokers.get(3), { brokerId: 3, host: 'broker-3.local', port: 9094, kafkaPort: -1, incarnationId: '4f1c2a', fenced: false }, 'loads, with no Kafka listener')
  t.same(encodeMetadataEntry(fromOld.toRecords()), old, 'and is written back byte for byte: nothing new to hold')
})

t.test('the image applies records and refuses the ones that do not fit, changing nothing', async (t) => {
  const image = new MetadataImage()
  let index = 0
  for (const r of RECORDS.slice(0, 4)) image.apply(++index, r)
  t.same(image.brokers.get(1), { brokerId: 1, host: '127.0.0.1', port: 9092, kafkaPort: -1, incarnationId: 'a1', fenced: false })
  t.same(image.topics.get('orders')?.configs, { 'retention.ms': '1000' })
  t.equal(image.topics.get('orders')?.partitions[0]?.leader, 1)

  const change = (partitionEpoch: number, leader: number, isr: number[]): MetadataRecord => ({
    kind: 'partition',
    record: { topic: 'orders', partition: 0, replicas: [1, 2, 3], isr, leader, leaderEpoch: 1, partitionEpoch },
  })
  image.apply(++index, change(1, 2, [2, 3]))
  t.equal(image.topics.get('orders')?.partitions[0]?.leader, 2, 'a change with the next epoch applies')
  t.throws(() => image.apply(++index, change(1, 3, [3])), /carries epoch 1; the next is 2/, 'a change against a stale epoch is refused')
  t.equal(image.topics.get('orders')?.partitions[0]?.leader, 2, 'and changes nothing')
  t.throws(() => image.apply(++index, change(2, 1, [2, 3])), /not in its ISR/)
  t.throws(() => image.apply(++index, { kind: 'partition', record: { topic: 'nope', partition: 0, replicas: [1], isr: [1], leader: 1, leaderEpoch: 0, partitionEpoch: 0 } }), /unknown topic/)
  t.throws(() => image.apply(++index, { kind: 'partition', record: { topic: 'orders', partition: 5, replicas: [1], isr: [1], leader: 1, leaderEpoch: 0, partitionEpoch: 0 } }), /skips partition 1/)
  t.throws(() => image.apply(++index, RECORDS[2]!), /already exists/)
  t.throws(() => image.apply(3, RECORDS[0]!), /at or before the applied index/)
  t.equal(image.appliedIndex, index, 'refused records still advance the applied index')
  image.apply(++index, RECORDS[4]!)
  t.equal(image.topics.size, 0)
  image.apply(++index, { kind: 'registerBroker', record: { brokerId: 1, host: 'h', port: 1, kafkaPort: -1, incarnationId: 'a2' } })
  t.equal(image.brokers.get(1)?.fenced, true, 'a new incarnation starts fenced')
  image.apply(++index, RECORDS[5]!)
  t.throws(() => image.apply(++index, { kind: 'cluster', record: { clusterId: 'c-2' } }), /already c-1/, 'the first cluster id sticks')
  t.equal(image.clusterId, 'c-1')
})

t.test('toRecords rebuilds an equal image with fromRecords, partitions at any epoch included', async (t) => {
  const image = new MetadataImage()
  let index = 0
  const apply = (r: MetadataRecord): void => image.apply(++index, r)
  apply({ kind: 'cluster', record: { clusterId: 'c-1' } })
  for (const id of [1, 2, 3]) apply({ kind: 'registerBroker', record: { brokerId: id, host: '127.0.0.1', port: 9090 + id, kafkaPort: id === 2 ? -1 : 19090 + id, incarnationId: `inc-${id}` } })
  apply({ kind: 'brokerFencing', record: { brokerId: 1, fenced: false } })
  apply({ kind: 'brokerFencing', record: { brokerId: 3, fenced: false } })
  apply({ kind: 'brokerFencing', record: { brokerId: 3, fenced: true } })
  for (const name of ['orders', 'payments', 'gone']) {
    apply({ kind: 'topic', record: { name, topicId: `id-${name}`, configs: [{ key: 'retention.ms', value: '1000' }, { key: 'min.insync.replicas', value: '2' }] } })
    for (const p of [0, 1]) apply({ kind: 'partition', record: { topic: name, partition: p, replicas: [1, 2, 3], isr: [1, 2, 3], leader: 1 + p, leaderEpoch: 0, partitionEpoch: 0 } })
  }
  apply({ kind: 'partition', record: { topic: 'orders', partition: 1, replicas: [1, 2, 3], isr: [1, 3], leader: 3, leaderEpoch: 1, partitionEpoch: 1 } })
  apply({ kind: 'partition', record: { topic: 'orders', partition: 1, replicas: [1, 2, 3], isr: [3], leader: 3, leaderEpoch: 1, partitionEpoch: 2 } })
  apply({ kind: 'removeTopic', record: { name: 'gone', reason: null } })
  apply({ kind: 'producerIds', record: { brokerId: 2, nextProducerId: 2000n } })

  const records = image.toRecords()
  t.same(records.filter((r) => r.kind === 'registerBroker' || r.kind === 'brokerFencing').map((r) => r.kind), ['registerBroker', 'brokerFencing', 'registerBroker', 'registerBroker'], 'a fencing record only for unfenced brokers')
  const rebuilt = MetadataImage.fromRecords(records, index)
  const view = (i: MetadataImage): unknown => ({ clusterId: i.clusterId, nextProducerId: i.nextProducerId, appliedIndex: i.appliedIndex, brokers: [...i.brokers.entries()], topics: [...i.topics.entries()] })
  t.same(view(rebuilt), view(image), 'the same brokers, fencing, topics, configs and partition states')
  t.equal(rebuilt.topics.get('orders')?.partitions[1]?.partitionEpoch, 2, 'a partition loads at the epoch it had reached')
  t.equal(rebuilt.nextProducerId, 2000n, 'and the producer ids handed out stay handed out')
  t.same(decodeMetadataEntry(encodeMetadataEntry(records)), records, 'and the records survive their encoding as one entry')

  rebuilt.apply(index + 1, { kind: 'partition', record: { topic: 'orders', partition: 1, replicas: [1, 2, 3], isr: [3, 1], leader: 3, leaderEpoch: 1, partitionEpoch: 3 } })
  t.same(rebuilt.topics.get('orders')?.partitions[1]?.isr, [3, 1], 'changes after the snapshot apply on top of it')
  t.throws(() => rebuilt.apply(index + 2, { kind: 'partition', record: { topic: 'orders', partition: 1, replicas: [1, 2, 3], isr: [3], leader: 3, leaderEpoch: 1, partitionEpoch: 3 } }), /the next is 4/, 'with the usual epoch checks')
  t.equal(image.topics.get('orders')?.partitions[1]?.isr.length, 1, 'the source image is not shared with the rebuilt one')

  t.throws(() => MetadataImage.fromRecords([{ kind: 'partition', record: { topic: 'nope', partition: 0, replicas: [1], isr: [1], leader: 1, leaderEpoch: 0, partitionEpoch: 4 } }], 5), /Snapshot record 0 \(partition\) does not load/)

  const target = new MetadataImage()
  const held = target
  target.replaceWith(image)
  t.equal(target, held, 'replaceWith keeps the object (the replica manager holds it)')
  t.same(view(target), view(image))
  image.brokers.get(1)!.fenced = true
  t.equal(target.brokers.get(1)?.fenced, false, 'and copies, not shares')
})
