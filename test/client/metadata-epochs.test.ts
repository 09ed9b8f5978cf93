// The client's metadata cache never goes back to an older leader epoch (KIP-320): a broker cut off
// from the cluster answers Metadata from a stale image, naming itself leader at an epoch the
// client already saw replaced.

import t from 'tap'
import { keepNewerLeaders, type PartitionInfo, type TopicInfo } from '../../client/cluster.js'

const part = (partition: number, leaderId: number, leaderEpoch: number): PartitionInfo => ({ partition, leaderId, leaderEpoch, replicas: [1, 2, 3], isr: [1, 2, 3], offlineReplicas: [] })
const topic = (...partitions: PartitionInfo[]): TopicInfo => ({ name: 't', internal: false, partitions })

t.test('a partition answered at an older epoch keeps the cached leader', async (t) => {
  const cached = topic(part(0, 2, 5), part(1, 3, 1))
  const stale = topic(part(0, 1, 4), part(1, 1, 2))
  const merged = keepNewerLeaders(stale, cached)
  t.same(merged.partitions[0], cached.partitions[0], 'partition 0: epoch 4 is older than the cached 5: broker 2 still leads')
  t.same(merged.partitions[1], stale.partitions[1], 'partition 1: epoch 2 is newer than the cached 1: taken')
})

t.test('the same or a newer epoch replaces the cache; nothing cached takes the answer', async (t) => {
  const cached = topic(part(0, 2, 5))
  const same = topic({ ...part(0, 2, 5), isr: [2, 3] })
  t.equal(keepNewerLeaders(same, cached), same, 'an ISR change at the same epoch is taken as is')
  const fresh = topic(part(0, 3, 9))
  t.equal(keepNewerLeaders(fresh, undefined), fresh, 'no cache: the answer')
})

t.test('another partition count means another topic of the same name: the answer wins', async (t) => {
  const cached = topic(part(0, 2, 5), part(1, 2, 5))
  const recreated = topic(part(0, 1, 0))
  t.equal(keepNewerLeaders(recreated, cached), recreated, 'a topic deleted and created again starts its epochs over')
})
