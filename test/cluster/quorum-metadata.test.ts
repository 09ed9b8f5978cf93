// Metadata records through a real three-voter quorum (three brokers in this process, real sockets
// and files): only the leader may propose; every broker's image converges; a record that does
// not fit is refused identically everywhere; a restart rebuilds the image from the log.

import t from 'tap'
import { startBroker, type RunningBroker } from '../../broker/broker.js'
import { tempDir } from '../helpers/broker-process.js'
import { freePorts, quorumVoters } from '../helpers/ports.js'
import { waitFor } from '../helpers/wait.js'
import type { MetadataRecord } from '../../broker/metadata/records.js'


const PROPOSE_TIMEOUT_MS = 10_000

t.test('records proposed to the leader reach every image, and survive a restart', async (t) => {
  const ports = await freePorts(3)
  const dirs = ports.map(() => tempDir(t))
  const voters = quorumVoters(ports)
  const start = (): Promise<RunningBroker[]> =>
    Promise.all(ports.map((port, i) => startBroker({ nodeId: i + 1, port, dataDir: dirs[i]!, quorumVoters: voters, quorumElectionTimeoutMs: 300, quorumHeartbeatIntervalMs: 50 })))
  let brokers = await start()
  t.teardown(() => Promise.all(brokers.map((b) => b.close())))
  const leader = await waitFor(() => brokers.find((b) => b.quorum.isLeader), { what: 'a quorum leader', timeoutMs: 20_000 })
  const follower = brokers.find((b) => b !== leader)!

  const topic: MetadataRecord = { kind: 'topic', record: { name: 'orders', topicId: 'id-1', configs: [] } }
  await t.rejects(follower.quorum.propose(topic, PROPOSE_TIMEOUT_MS), { code: 'NOT_CONTROLLER' }, 'a follower cannot propose')
  // Broker 7 is not running: its registration is only data here (the real brokers 1-3 register
  // themselves, with a new incarnation on each start, so the comparisons below leave them out).
  // The partitions live on brokers 4-6, which never run, so the controller's reactions to the
  // real brokers' registrations (leadership and ISR moves) leave them alone.
  await leader.quorum.propose({ kind: 'registerBroker', record: { brokerId: 7, host: '127.0.0.1', port: 7777, kafkaPort: -1, incarnationId: 'x' } }, PROPOSE_TIMEOUT_MS)
  await leader.quorum.propose(topic, PROPOSE_TIMEOUT_MS)
  const partition = (p: number, epoch: number, leaderId: number): MetadataRecord => ({
    kind: 'partition',
    record: { topic: 'orders', partition: p, replicas: [4, 5, 6], isr: [4, 5, 6], leader: leaderId, leaderEpoch: epoch, partitionEpoch: epoch },
  })
  await leader.quorum.propose(partition(0, 0, 4), PROPOSE_TIMEOUT_MS)
  await leader.quorum.propose(partition(1, 0, 5), PROPOSE_TIMEOUT_MS)
  await leader.quorum.propose(partition(0, 1, 6), PROPOSE_TIMEOUT_MS)
  // Two changes raced against the same epoch: the second commits but every image refuses it.
  const last = await leader.quorum.propose(partition(0, 1, 5), PROPOSE_TIMEOUT_MS)

  const view = (b: RunningBroker): string => JSON.stringify({ broker7: b.quorum.image.brokers.get(7), topics: [...b.quorum.image.topics.values()] })
  await waitFor(() => brokers.every((b) => b.quorum.image.appliedIndex >= last), { what: 'every image to apply the last record' })
  t.equal(leader.quorum.image.topics.get('orders')?.partitions[0]?.leader, 6, 'the valid change applied; the stale one did not')
  t.same(brokers.map(view), brokers.map(() => view(leader)), 'all three images are identical')

  const before = view(leader)
  await Promise.all(brokers.map((b) => b.close()))
  brokers = await start()
  await waitFor(() => brokers.every((b) => b.quorum.image.appliedIndex >= last), { what: 'the images to be rebuilt from the log', timeoutMs: 20_000 })
  t.same(brokers.map(view), brokers.map(() => before), 'after a full restart every image is rebuilt identically')
})
