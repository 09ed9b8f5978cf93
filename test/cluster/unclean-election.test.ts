// Unclean leader election is off by default: when the last in-sync replica of a partition dies, the
// partition waits for it rather than elect a replica that may miss acknowledged records. A topic
// with unclean.leader.election.enable=true elects any live replica instead. Five brokers, so the
// metadata quorum keeps its majority while two of them are down.

import t from 'tap'
import { TestCluster } from '../helpers/cluster.js'

t.test('a partition whose ISR died waits for it, unless unclean election is enabled', async (t) => {
  const cluster = await TestCluster.start(t, { size: 5 })
  const strand = cluster.client('unclean')
  const admin = strand.admin()
  await admin.createTopic({ topic: 'unclean', partitions: 1, replicationFactor: 2, configs: { 'unclean.leader.election.enable': 'true' } })
  const u = await cluster.waitForPartition(strand, 'unclean', 0, (p) => p.leaderId > 0 && p.isr.length === 2, 'two in-sync replicas')
  // Find a clean topic on the same two brokers (placement follows the name): try names until one matches.
  let clean = ''
  for (let i = 0; i < 40 && clean === ''; i++) {
    const name = `clean-${i}`
    await admin.createTopic({ topic: name, partitions: 1, replicationFactor: 2 })
    const p = await cluster.waitForPartition(strand, name, 0, (x) => x.leaderId > 0 && x.isr.length === 2, 'two in-sync replicas')
    if ([...p.replicas].sort().join() === [...u.replicas].sort().join()) clean = name
    else await admin.deleteTopic(name)
  }
  t.not(clean, '', `topic ${clean} shares the replicas ${u.replicas.join(',')}`)
  const [first, second] = u.replicas as [number, number]

  // The follower dies first, so the ISR shrinks to the other; then that one dies too.
  const leader = u.leaderId
  const follower = leader === first ? second : first
  await cluster.kill(follower)
  for (const topic of ['unclean', clean]) await cluster.waitForPartition(strand, topic, 0, (p) => p.isr.length === 1 && p.isr[0] === leader, `${topic}: ISR down to broker ${leader}`)
  await cluster.kill(leader)
  for (const topic of ['unclean', clean]) await cluster.waitForPartition(strand, topic, 0, (p) => p.leaderId < 0, `${topic}: no leader once its last ISR member is gone`)

  // The out-of-sync replica comes back: only the unclean topic takes it as leader.
  await cluster.startBroker(follower)
  const elected = await cluster.waitForPartition(strand, 'unclean', 0, (p) => p.leaderId === follower, `broker ${follower} elected uncleanly`)
  t.same(elected.isr, [follower], 'the unclean topic elects the live replica, which becomes its whole ISR')
  const still = await cluster.partition(strand, clean, 0)
  t.equal(still?.leaderId, -1, 'the clean topic still has no leader: it waits for its last in-sync replica')
  t.same(still?.isr, [leader], 'and keeps that replica as its ISR')

  await cluster.startBroker(leader)
  const back = await cluster.waitForPartition(strand, clean, 0, (p) => p.leaderId === leader, `broker ${leader} back as leader`)
  t.equal(back.leaderId, leader, 'the clean topic is led again by its last in-sync replica once it returns')
})
