// The follower's fetcher against a scripted leader: a TCP server that records every Fetch and holds
// each one for the whole maxWaitMs it asks for (a leader with nothing new), unless the test scripts
// an answer with records.

import net from 'node:net'
import t from 'tap'
import { ApiKey, decodeRequest, decodeRequestHeader, encodeResponse } from '../../../client/protocol/apis.js'
import { FrameDecoder } from '../../../client/protocol/frame.js'
import type { FetchRequest, FetchResponse } from '../../../client/protocol/messages/fetch.js'
import { encodeBatch } from '../../../client/protocol/records.js'
import { DEFAULT_BROKER_CONFIG } from '../../../broker/config.js'
import { LeaderEpochCache } from '../../../broker/replication/leader-epoch-cache.js'
import { Partition } from '../../../broker/replication/partition.js'
import { ReplicaFetcher } from '../../../broker/replication/replica-fetcher.js'
import { parseTopicConfig } from '../../../broker/topic-config.js'
import { ManualClock, openLog, silentLogger, tempDir } from '../../helpers/log.js'
import { waitFor } from '../../helpers/wait.js'

type Teardown = { teardown(fn: () => unknown): void }

const FOLLOWER = 2
const LEADER = 1
/** Long enough that a fetch held for it would outlast every wait in these tests. */
const LONG_POLL_MS = 30_000

interface SeenFetch {
  maxWaitMs: number
  partitions: number[]
}

class ScriptedLeader {
  readonly fetches: SeenFetch[] = []
  /** Records to answer the next fetch of a partition with, by partition index. */
  readonly pending = new Map<number, Buffer>()
  readonly #server: net.Server
  readonly #timers = new Set<NodeJS.Timeout>()

  constructor() {
    this.#server = net.createServer((socket) => {
      const decoder = new FrameDecoder()
      socket.on('data', (chunk) => {
        for (const frame of decoder.push(chunk)) this.#onFrame(socket, frame)
      })
      socket.on('error', () => {})
    })
  }

  async listen(t: Teardown): Promise<number> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve))
    t.teardown(() => {
      for (const timer of this.#timers) clearTimeout(timer)
      this.#server.close()
    })
    return (this.#server.address() as net.AddressInfo).port
  }

  #onFrame(socket: net.Socket, frame: Buffer): void {
    const header = decodeRequestHeader(frame)
    if (header.apiKey !== ApiKey.Fetch) throw new Error(`the scripted leader only answers Fetch, got api key ${header.apiKey}`)
    const req: FetchRequest = decodeRequest(ApiKey.Fetch, frame).body
    const partitions = req.topics.flatMap((topic) => topic.partitions.map((p) => p.partition))
    this.fetches.push({ maxWaitMs: req.maxWaitMs, partitions })
    const withRecords = partitions.filter((p) => this.pending.has(p))
    const res: FetchResponse = {
      throttleTimeMs: 0,
      errorCode: 0,
      topics: req.topics.map((topic) => ({
        name: topic.name,
        partitions: topic.partitions.map((p) => {
          const records = this.pending.get(p.partition) ?? Buffer.alloc(0)
          this.pending.delete(p.partition)
          // A high watermark two past the fetch offset: the end of a two-record batch answered now.
          return { partitionIndex: p.partition, errorCode: 0, highWatermark: p.fetchOffset + 2n, lastStableOffset: 0n, logStartOffset: 0n, records }
        }),
      })),
    }
    const timer = setTimeout(() => {
      this.#timers.delete(timer)
      if (!socket.destroyed) socket.write(encodeResponse(ApiKey.Fetch, header.apiVersion, header.correlationId, res))
    }, withRecords.length > 0 ? 0 : req.maxWaitMs)
    this.#timers.add(timer)
  }
}

async function followed(t: Teardown, index: number, clock: ManualClock): Promise<Partition> {
  const dir = await tempDir(t)
  const { log } = await openLog(dir, { clock: clock.now })
  t.teardown(() => log.close())
  const epochs = await LeaderEpochCache.load(dir, silentLogger)
  const p = new Partition({
    topic: 't',
    index,
    log,
    epochs,
    config: parseTopicConfig(DEFAULT_BROKER_CONFIG, {}),
    nodeId: FOLLOWER,
    highWatermark: 0n,
    state: { leader: LEADER, leaderEpoch: 0, partitionEpoch: 0, replicas: [1, 2, 3], isr: [1, 2, 3] },
    clock: clock.now,
  })
  p.becomeFollower(p.state)
  return p
}

function fetcherOf(t: Teardown, port: number, clock: ManualClock): ReplicaFetcher {
  const fetcher = new ReplicaFetcher({
    nodeId: FOLLOWER,
    sourceId: LEADER,
    host: '127.0.0.1',
    port,
    security: {},
    waitMsMax: LONG_POLL_MS,
    partitionMaxBytes: 1 << 20,
    responseBytesMax: 10 << 20,
    backoffMs: 10,
    frameBytesMax: 16 << 20,
    clock: clock.now,
    logger: silentLogger,
    onAppended: () => {},
  })
  t.teardown(() => fetcher.close())
  return fetcher
}

t.test('a partition added while a fetch is in flight joins soon, not after the long poll', async (t) => {
  const leader = new ScriptedLeader()
  const clock = new ManualClock()
  const fetcher = fetcherOf(t, await leader.listen(t), clock)
  const first = await followed(t, 0, clock)
  fetcher.add(first)
  await waitFor(() => leader.fetches.length > 0, { what: 'the first fetch' })
  t.same(first.epochs.entries().map((e) => [e.epoch, e.startOffset]), [[0, 0n]], 'a new partition has its first epoch entry before it is fetched')

  clock.nowMs += 500 // still within the joining window of the first add
  const second = await followed(t, 1, clock)
  fetcher.add(second)
  // Had the fetch in flight asked for the whole long poll, the leader would hold it 30 s.
  await waitFor(() => leader.fetches.some((f) => f.partitions.includes(1)), { timeoutMs: 10_000, what: 'partition 1 in a fetch' })
  t.ok(leader.fetches.every((f) => f.maxWaitMs < LONG_POLL_MS), `fetches poll briefly while partitions join (${JSON.stringify(leader.fetches.map((f) => f.maxWaitMs))} ms)`)

  clock.nowMs += 5_000 // no add for longer than the joining window
  const before = leader.fetches.length
  await waitFor(() => leader.fetches.length > before && leader.fetches.at(-1)!.maxWaitMs === LONG_POLL_MS, { timeoutMs: 10_000, what: 'a long poll once nothing joins' })
  t.same(leader.fetches.at(-1)!.partitions.sort(), [0, 1], 'both partitions are fetched')
})

t.test('records for many partitions in one response are all appended, and the high watermark taken', async (t) => {
  const leader = new ScriptedLeader()
  const clock = new ManualClock()
  const fetcher = fetcherOf(t, await leader.listen(t), clock)
  const partitions = await Promise.all(Array.from({ length: 20 }, (_, i) => followed(t, i, clock)))
  for (const p of partitions) {
    leader.pending.set(p.index, encodeBatch([{ value: Buffer.from('a') }, { value: Buffer.from('b') }], { timestamp: 1, baseOffset: 0n, partitionLeaderEpoch: 0 }))
    fetcher.add(p)
  }
  await waitFor(() => partitions.every((p) => p.logEndOffset === 2n && p.highWatermark === 2n), { what: 'every partition to have both records and the high watermark after them' })
  t.pass('every partition has its records and high watermark')
})

t.test('a partition being readied does not hold up fetching the others', async (t) => {
  const leader = new ScriptedLeader()
  const clock = new ManualClock()
  const fetcher = fetcherOf(t, await leader.listen(t), clock)
  const fetched = await followed(t, 0, clock)
  fetcher.add(fetched)
  await waitFor(() => leader.fetches.some((f) => f.partitions.includes(0)), { what: 'partition 0 in a fetch' })

  const slow = await followed(t, 1, clock)
  let ready!: () => void
  const writing = new Promise<void>((resolve) => (ready = resolve))
  slow.prepareToFollow = async () => writing // its epoch file is slow to write
  fetcher.add(slow)
  const before = leader.fetches.length
  await waitFor(() => leader.fetches.length >= before + 3, { timeoutMs: 10_000, what: 'fetches of partition 0 while partition 1 is readied' })
  t.ok(leader.fetches.slice(before).every((f) => f.partitions.length === 1 && f.partitions[0] === 0), 'partition 1 is not fetched before it is ready')
  ready()
  await waitFor(() => leader.fetches.some((f) => f.partitions.includes(1)), { timeoutMs: 10_000, what: 'partition 1 in a fetch once ready' })
  t.pass('partition 1 joined once ready')
})
