import t from 'tap'
import { MetadataImage } from '../../../broker/metadata/image.js'
import { decodeMetadataEntry, decodeMetadataRecord, encodeMetadataEntry, encodeMetadataRecord, type MetadataRecord } from '../../../broker/metadata/records.js'

const RECORDS: MetadataRecord[] = [
  { kind: 'registerBroker', record: { brokerId: 1, host: '127.0.0.1', port: 9092, incarnationId: 'a1' } },
  { kind: 'brokerFencing', record: { brokerId: 1, fenced: false } },
  { kind: 'topic', record: { name: 'orders', topicId: 't-1', configs: [{ key: 'retention.ms', value: '1000' }] } },
  { kind: 'partition', record: { topic: 'orders', partition: 0, replicas: [1, 2, 3], isr: [1, 2, 3], leader: 1, leaderEpoch: 0, partitionEpoch: 0 } },
  { kind: 'removeTopic', record: { name: 'orders', reason: null } },
  { kind: 'cluster', record: { clusterId: 'c-1' } },
]

t.test('every record kind round-trips, behind a stable envelope', async (t) => {
  for (const r of RECORDS) t.same(decodeMetadataRecord(encodeMetadataRecord(r)), r, r.kind)
  t.equal(encodeMetadataRecord(RECORDS[1]!).toString('hex'), '0002000200', 'brokerFencing v0: kind 2, version 0, Avro body (brokerId 1 as zigzag 02, fenced false 00)')
  t.throws(() => decodeMetadataRecord(Buffer.from('00', 'hex')), { name: 'MetadataRecordError' })
  t.throws(() => decodeMetadataRecord(Buffer.from('0063000000', 'hex')), /Unknown metadata record kind 99/)
  t.throws(() => decodeMetadataRecord(Buffer.from('0001070000', 'hex')), /Unsupported version 7/)
  t.throws(() => decodeMetadataRecord(Buffer.from('000100ff', 'hex')), { name: 'MetadataRecordError' })
})

t.test('the image applies records and refuses the ones that do not fit, changing nothing', async (t) => {
  const image = new MetadataImage()
  let index = 0
  for (const r of RECORDS.slice(0, 4)) image.apply(++index, r)
  t.same(image.brokers.get(1), { brokerId: 1, host: '127.0.0.1', port: 9092, incarnationId: 'a1', fenced: false })
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
  image.apply(++index, { kind: 'registerBroker', record: { brokerId: 1, host: 'h', port: 1, incarnationId: 'a2' } })
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
  for (const id of [1, 2, 3]) apply({ kind: 'registerBroker', record: { brokerId: id, host: '127.0.0.1', port: 9090 + id, incarnationId: `inc-${id}` } })
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
