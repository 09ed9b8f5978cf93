// Snapshots of the metadata image in a real three-voter quorum, with `metadata.snapshot.entries`
// small and small metadata log segments: every voter writes snapshots and deletes the segments
// below them; a voter that was down while the leader compacted past its log catches up through
// InstallSnapshot; full restarts rebuild identical images from snapshot plus log; and a damaged
// snapshot is passed over only while the log covers it, else the broker refuses to start.

import { readdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { Strand } from '../../client/index.js'
import type { Connection } from '../../client/net/connection.js'
import { ApiKey } from '../../client/protocol/apis.js'
import { startBroker, type RunningBroker } from '../../broker/broker.js'
import type { MetadataImage } from '../../broker/metadata/image.js'
import type { MetadataRecord } from '../../broker/metadata/records.js'
import { spawnBroker, tempDir, type BrokerProcess, type Teardown } from '../helpers/broker-process.js'
import { rawConnection } from '../helpers/connection.js'
import { freePorts, quorumVoters } from '../helpers/ports.js'
import { waitFor } from '../helpers/wait.js'

const SNAPSHOT_ENTRIES = 20
const SEGMENT_BYTES = 4096
const PROPOSE_TIMEOUT_MS = 10_000

function metadataDir(dataDir: string): string {
  return path.join(dataDir, '__cluster_metadata-0')
}

async function metadataFiles(dataDir: string): Promise<{ snapshots: number[]; segments: bigint[] }> {
  const names = await readdir(metadataDir(dataDir))
  return {
    snapshots: names.filter((n) => /^\d{20}-\d+\.snapshot$/.test(n)).map((n) => Number(n.slice(0, 20))).sort((a, b) => a - b),
    segments: names.filter((n) => /^\d{20}\.log$/.test(n)).map((n) => BigInt(n.slice(0, 20))).sort((a, b) => (a < b ? -1 : 1)),
  }
}

interface Voter {
  id: number
  port: number
  dataDir: string
  broker: BrokerProcess | null
}

async function startVoter(t: Teardown, v: Voter, voters: string): Promise<void> {
  v.broker = await spawnBroker(t, {
    dataDir: v.dataDir,
    port: v.port,
    overrides: {
      'node.id': v.id,
      'controller.quorum.voters': voters,
      'controller.quorum.election.timeout.ms': 300,
      'controller.quorum.heartbeat.interval.ms': 50,
      'broker.heartbeat.interval.ms': 100,
      'broker.session.timeout.ms': 1500,
      'metadata.snapshot.entries': SNAPSHOT_ENTRIES,
      'metadata.log.segment.bytes': SEGMENT_BYTES,
    },
  })
}

/** The topics one broker serves Metadata for (its own image), with their partitions' replicas. */
async function topicsSeenBy(c: Connection, prefix: string): Promise<string[]> {
  const md = await c.request(ApiKey.Metadata, { topics: null })
  return md.topics
    .filter((tp) => tp.name.startsWith(prefix))
    .map((tp) => `${tp.name}:${tp.partitions.map((p) => `${p.partitionIndex}@${p.replicaNodes.join('.')}`).join(',')}`)
    .sort()
}

async function leaderOf(conns: Connection[]): Promise<number> {
  return waitFor(
    async () => {
      const views = await Promise.all(conns.map((c) => c.request(ApiKey.DescribeQuorum, {}).catch(() => null)))
      const ids = new Set(views.map((v) => v?.leaderId ?? -1))
      const [id] = [...ids]
      return ids.size === 1 && id !== undefined && id > 0 ? id : false
    },
    { what: 'the voters to agree on a leader', timeoutMs: 30_000, intervalMs: 50 },
  )
}

/** Creates `count` topics named prefix-from.. and deletes every third; returns the topics left. */
async function churn(admin: ReturnType<Strand['admin']>, prefix: string, from: number, count: number): Promise<string[]> {
  const left: string[] = []
  for (let i = from; i < from + count; i++) {
    const topic = `${prefix}-${String(i).padStart(3, '0')}`
    await admin.createTopic({ topic, partitions: 1, replicationFactor: 1 })
    if (i % 3 === 0) await admin.deleteTopic(topic)
    else left.push(topic)
  }
  return left
}

t.test('voters snapshot and compact; a voter the leader compacted past catches up by InstallSnapshot', async (t) => {
  const ports = await freePorts(3)
  const voters = quorumVoters(ports)
  const nodes: Voter[] = ports.map((port, i) => ({ id: i + 1, port, dataDir: tempDir(t), broker: null }))
  await Promise.all(nodes.map((v) => startVoter(t, v, voters)))
  const conns = nodes.map((v) => rawConnection(t, v.port))
  const strand = (ids: number[]): Strand => new Strand({ brokers: ids.map((id) => `127.0.0.1:${ports[id - 1]}`) })

  const all = strand([1, 2, 3])
  t.teardown(() => all.close())
  const expected = await churn(all.admin(), 'snap', 0, 45)
  const expectedView = expected.map((name) => `${name}:0@`)
  const sameTopics = async (c: Connection): Promise<boolean> => {
    const seen = await topicsSeenBy(c, 'snap-')
    return seen.length === expected.length && seen.every((s, i) => s.startsWith(expectedView[i]!))
  }
  await waitFor(async () => (await Promise.all(conns.map(sameTopics))).every(Boolean), { what: 'every broker to see the topics' })

  for (const v of nodes) {
    const files = await waitFor(
      async () => {
        const f = await metadataFiles(v.dataDir)
        return f.snapshots.length === 2 && f.segments[0]! > 0n ? f : false
      },
      { what: `broker ${v.id} to keep two snapshots and delete its first segments` },
    )
    t.pass(`broker ${v.id}: snapshots at ${files.snapshots.join(', ')}; the metadata log now starts at offset ${files.segments[0]}`)
  }

  // A follower goes down; the others move on and compact past everything it holds.
  const leaderId = await leaderOf(conns)
  const down = nodes.find((v) => v.id !== leaderId)!
  const behind = await conns[down.id - 1]!.request(ApiKey.DescribeQuorum, {})
  down.broker!.kill('SIGKILL')
  await down.broker!.exited
  const up = nodes.filter((v) => v !== down)
  // Until the controller fences it, new single-replica topics could be placed on the dead broker.
  await waitFor(
    async () => {
      const cluster = await conns[leaderId - 1]!.request(ApiKey.DescribeCluster, {})
      return cluster.brokers.find((b) => b.brokerId === down.id)?.fenced === true
    },
    { what: `broker ${down.id} to be fenced` },
  )
  const survivors = strand(up.map((v) => v.id))
  t.teardown(() => survivors.close())
  expected.push(...(await churn(survivors.admin(), 'snap', 100, 3 * SNAPSHOT_ENTRIES)))
  expected.sort()
  expectedView.splice(0, expectedView.length, ...expected.map((name) => `${name}:0@`))
  const leader = nodes.find((v) => v.id === leaderId)!
  await waitFor(async () => (await metadataFiles(leader.dataDir)).snapshots[0]! > Number(behind.lastIndex), {
    what: `the leader's oldest snapshot to pass the stopped voter's log end (${behind.lastIndex})`,
  })

  await startVoter(t, down, voters)
  await waitFor(() => down.broker!.output.some((l) => l.includes('installed metadata snapshot from the leader')), { what: 'the restarted voter to install the leader\'s snapshot' })
  t.pass(`broker ${down.id} (log end ${behind.lastIndex}) installed a snapshot from leader ${leaderId}`)
  t.ok(
    nodes.find((v) => v.id === leaderId)!.broker!.output.some((l) => l.includes('sending metadata snapshot')),
    'the leader sent it',
  )
  await waitFor(() => sameTopics(conns[down.id - 1]!), { what: 'the caught-up voter to serve every topic, old and new' })
  t.same(await topicsSeenBy(conns[down.id - 1]!, 'snap-'), await topicsSeenBy(conns[leaderId - 1]!, 'snap-'), 'it serves the same topics as the leader')
  const later = await churn(survivors.admin(), 'snap', 200, 3)
  expected.push(...later)
  expected.sort()
  expectedView.splice(0, expectedView.length, ...expected.map((name) => `${name}:0@`))
  await waitFor(() => sameTopics(conns[down.id - 1]!), { what: 'it to follow changes made after the snapshot' })

  // A full restart rebuilds every image from its newest snapshot and the log after it.
  await Promise.all(nodes.map((v) => v.broker!.stop()))
  await Promise.all(nodes.map((v) => startVoter(t, v, voters)))
  await waitFor(async () => (await Promise.all(conns.map(sameTopics))).every(Boolean), { what: 'every broker to serve the same topics after a full restart', timeoutMs: 30_000 })
  for (const v of nodes) {
    const { segments } = await metadataFiles(v.dataDir)
    t.ok(segments[0]! > 0n, `broker ${v.id}'s log starts at offset ${segments[0]}: its image came from a snapshot plus the log`)
  }
})

const view = (image: MetadataImage): string =>
  JSON.stringify({ clusterId: image.clusterId, broker7: image.brokers.get(7), topics: [...image.topics.values()].sort((a, b) => a.name.localeCompare(b.name)) })

/** Topic changes whose partitions live on brokers 4-6, which never run: the controller leaves them be. */
async function proposeChanges(leader: RunningBroker, rounds: number): Promise<number> {
  let last = await leader.quorum.propose({ kind: 'registerBroker', record: { brokerId: 7, host: '127.0.0.1', port: 7777, kafkaPort: -1, incarnationId: 'x' } }, PROPOSE_TIMEOUT_MS)
  for (let i = 0; i < rounds; i++) {
    const name = `img-${i}`
    const partition = (p: number, epoch: number, leaderId: number): MetadataRecord => ({
      kind: 'partition',
      record: { topic: name, partition: p, replicas: [4, 5, 6], isr: [4, 5, 6], leader: leaderId, leaderEpoch: epoch, partitionEpoch: epoch },
    })
    await leader.quorum.propose([{ kind: 'topic', record: { name, topicId: `id-${i}`, configs: [{ key: 'retention.ms', value: String(1000 + i) }] } }, partition(0, 0, 4), partition(1, 0, 5)], PROPOSE_TIMEOUT_MS)
    last = await leader.quorum.propose(partition(0, 1, 6), PROPOSE_TIMEOUT_MS)
    if (i % 4 === 0) last = await leader.quorum.propose({ kind: 'removeTopic', record: { name, reason: null } }, PROPOSE_TIMEOUT_MS)
  }
  return last
}

t.test('a full restart rebuilds every image exactly from snapshot plus log', async (t) => {
  const ports = await freePorts(3)
  const dirs = ports.map(() => tempDir(t))
  const voters = quorumVoters(ports)
  const start = (): Promise<RunningBroker[]> =>
    Promise.all(
      ports.map((port, i) =>
        startBroker({ nodeId: i + 1, port, dataDir: dirs[i]!, quorumVoters: voters, quorumElectionTimeoutMs: 300, quorumHeartbeatIntervalMs: 50, metadataSnapshotEntries: 10, metadataLogSegmentBytes: SEGMENT_BYTES }),
      ),
    )
  let brokers = await start()
  t.teardown(() => Promise.all(brokers.map((b) => b.close())))
  const leader = await waitFor(() => brokers.find((b) => b.quorum.isLeader), { what: 'a quorum leader', timeoutMs: 20_000 })
  // The controller commits the cluster id on its own schedule: settle it first, so it is not
  // committed after the last record below and missed by the comparisons.
  await waitFor(() => brokers.every((b) => b.quorum.image.clusterId !== null), { what: 'every image to hold the cluster id' })
  const last = await proposeChanges(leader, 30)
  await waitFor(() => brokers.every((b) => b.quorum.image.appliedIndex >= last), { what: 'every image to apply the last record' })
  t.same(brokers.map((b) => view(b.quorum.image)), brokers.map(() => view(leader.quorum.image)), 'all three images are identical')
  for (const dir of dirs) t.ok((await metadataFiles(dir)).snapshots.length === 2, 'each voter keeps two snapshots')

  const before = view(leader.quorum.image)
  await Promise.all(brokers.map((b) => b.close()))
  brokers = await start()
  await waitFor(() => brokers.every((b) => b.quorum.image.appliedIndex >= last), { what: 'the images to be rebuilt', timeoutMs: 20_000 })
  t.same(brokers.map((b) => view(b.quorum.image)), brokers.map(() => before), 'after a full restart every image is rebuilt identically')
})

t.test('a damaged newest snapshot falls back while the log covers it; with none usable the broker refuses to start', async (t) => {
  const dataDir = tempDir(t)
  const options = { nodeId: 1, port: 0, dataDir, metadataSnapshotEntries: 10, metadataLogSegmentBytes: SEGMENT_BYTES }
  let broker = await startBroker(options)
  await waitFor(() => broker.quorum.isLeader && broker.quorum.image.clusterId !== null, { what: 'the lone voter to lead and name the cluster' })
  const last = await proposeChanges(broker, 30)
  const before = view(broker.quorum.image)
  await broker.close()

  const { snapshots, segments } = await metadataFiles(dataDir)
  t.equal(snapshots.length, 2)
  t.ok(segments[0]! > 0n, `the log starts at offset ${segments[0]}: its first segments are gone`)
  const snapshotFile = async (index: number): Promise<string> => path.join(metadataDir(dataDir), (await readdir(metadataDir(dataDir))).find((n) => n.startsWith(`${String(index).padStart(20, '0')}-`))!)
  const damage = async (file: string): Promise<void> => {
    const bytes = await readFile(file)
    bytes[bytes.length - 1]! ^= 0xff
    await writeFile(file, bytes)
  }
  const newest = await snapshotFile(snapshots[1]!)
  await damage(newest)
  broker = await startBroker(options)
  await waitFor(() => broker.quorum.image.appliedIndex >= last, { what: 'the image to be rebuilt from the older snapshot and the log' })
  t.equal(view(broker.quorum.image), before, 'the older snapshot plus the log rebuild the same image')
  await broker.close()
  t.ok((await readdir(metadataDir(dataDir))).includes(`${path.basename(newest)}.damaged`), 'the damaged snapshot was set aside')

  // Both snapshots are damaged now, and the log's first segments are gone: nothing can rebuild the state.
  const { snapshots: now } = await metadataFiles(dataDir)
  for (const index of now) await damage(await snapshotFile(index))
  const refused = startBroker(options)
  t.teardown(() => refused.then((b) => b.close(), () => undefined))
  await t.rejects(refused, { name: 'SnapshotError', message: /fails its CRC check.*refusing to start/s })
})
