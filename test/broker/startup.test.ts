// The broker's start-up order (broker/startup/): each listener opens only once every collaborator
// its handlers use exists (the quorum seat, the controller, the group and transaction
// coordinators), so the first request a listener accepts is served, never refused with a "still
// starting" error. A client that connects the moment the port opens, as a restarted broker's
// peers and a waiting client do, is the case where an earlier order showed.

import net from 'node:net'
import t from 'tap'
import { startBroker, type RunningBroker } from '../../broker/broker.js'
import { ApiKey, decodeResponse, encodeRequest, versionRange, type ApiKeyValue } from '../../client/protocol/apis.js'
import { FrameDecoder } from '../../client/protocol/frame.js'
import { listGroupsRequest, listGroupsResponse } from '../../client/protocol/kafka/messages/groups.js'
import { tempDir } from '../helpers/broker-process.js'
import { decodeResponse as decodeKafkaResponse, KafkaWire } from '../helpers/kafka-wire.js'
import { freePorts } from '../helpers/ports.js'

/** Longest a start-up may take before the test gives up on the port opening. */
const PORT_OPEN_TIMEOUT_MS = 20_000

/**
 * A broker starting in this process, and whether its start has failed (the port would then never
 * open, and the connect loop must stop).
 */
function starting(options: Parameters<typeof startBroker>[0]): { broker: Promise<RunningBroker>; failure: () => unknown } {
  let failure: unknown = null
  const broker = startBroker(options)
  broker.catch((err: unknown) => (failure = err))
  return { broker, failure: () => failure }
}

/**
 * The first connection `port` accepts: every refused attempt is retried at once, so the socket
 * returned connected within a connect's round trip of the port opening. `onConnect` runs in the
 * connect callback itself, before the broker has had a turn to do anything else.
 */
async function firstConnection<T>(port: number, start: { failure: () => unknown }, onConnect: (socket: net.Socket) => T): Promise<{ socket: net.Socket; sent: T }> {
  const deadline = Date.now() + PORT_OPEN_TIMEOUT_MS
  for (;;) {
    const failure = start.failure()
    if (failure !== null) throw failure
    if (Date.now() > deadline) throw new Error(`port ${port} did not open within ${PORT_OPEN_TIMEOUT_MS} ms`)
    const connected = await new Promise<{ socket: net.Socket; sent: T } | null>((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => resolve({ socket, sent: onConnect(socket) }))
      socket.once('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNREFUSED' ? resolve(null) : reject(err)))
    })
    if (connected !== null) return connected
  }
}

/** Reads `n` response frames (size prefixes stripped) from a Strand connection. */
function readFrames(socket: net.Socket, n: number): Promise<Buffer[]> {
  const decoder = new FrameDecoder({ frameBytesMax: 1 << 20 })
  const frames: Buffer[] = []
  return new Promise((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      frames.push(...decoder.push(chunk))
      if (frames.length >= n) resolve(frames)
    })
    socket.once('close', () => reject(new Error(`the broker closed the connection after ${frames.length} of ${n} responses`)))
    socket.once('error', reject)
  })
}

interface Probe {
  apiKey: ApiKeyValue
  body: unknown
}

/** Requests each served by a different collaborator; none has a reason to fail on a fresh broker. */
const PROBES: readonly Probe[] = [
  { apiKey: ApiKey.DescribeQuorum, body: {} },
  { apiKey: ApiKey.DescribeCluster, body: {} },
  { apiKey: ApiKey.ListGroups, body: { statesFilter: [] } },
  { apiKey: ApiKey.ListTransactions, body: { stateFilters: [], producerIdFilters: [] } },
]

function versionOf(apiKey: ApiKeyValue): number {
  const range = versionRange(apiKey)
  if (range === undefined) throw new Error(`API ${apiKey} has no versions`)
  return range.maxVersion
}

t.test('the Strand listener serves the first request it accepts from every collaborator', async (t) => {
  const dataDir = tempDir(t)
  const [port] = await freePorts(1)
  const start = starting({ dataDir, port })
  t.teardown(async () => (await start.broker.catch(() => null))?.close())
  // Pipelined in the connect callback: they reach the broker in the first bytes the port reads.
  const { socket } = await firstConnection(port!, start, (s) => {
    s.write(Buffer.concat(PROBES.map((p, i) => encodeRequest(p.apiKey, versionOf(p.apiKey), i + 1, 'startup-test', p.body as never))))
  })
  t.teardown(() => socket.destroy())
  const frames = await readFrames(socket, PROBES.length)
  PROBES.forEach((p, i) => {
    const { correlationId, body } = decodeResponse(p.apiKey, versionOf(p.apiKey), frames[i]!)
    t.equal(correlationId, i + 1)
    t.equal((body as { errorCode: number }).errorCode, 0, `API ${p.apiKey} answered without error at the port's first connection`)
  })
  const broker = await start.broker
  t.equal(broker.port, port)
})

t.test('the Kafka listener serves the first request it accepts from the group coordinator', async (t) => {
  const dataDir = tempDir(t)
  const [kafkaPort] = await freePorts(1)
  const start = starting({ dataDir, port: 0, kafkaListenerPort: kafkaPort! })
  t.teardown(async () => (await start.broker.catch(() => null))?.close())
  const { sent } = await firstConnection(kafkaPort!, start, (s) => {
    const wire = KafkaWire.over(t, s)
    const { bytes, correlationId } = wire.frame(listGroupsRequest, 2, {})
    s.write(bytes)
    return { wire, correlationId }
  })
  const frame = await sent.wire.next()
  t.ok(frame !== null, 'answered, not closed')
  t.equal(frame!.correlationId, sent.correlationId)
  const res = decodeKafkaResponse(listGroupsResponse, 2, frame!) as { errorCode: number }
  t.equal(res.errorCode, 0, 'ListGroups answered by the group coordinator, not COORDINATOR_NOT_AVAILABLE')
  const broker = await start.broker
  t.equal(broker.kafkaPort, kafkaPort)
})

t.test('a start-up that fails at the listeners leaves no port open and the data dir reusable', async (t) => {
  const dataDir = tempDir(t)
  const [port] = await freePorts(1)
  // The Kafka listener's port is taken, so the last phase fails after every other has started.
  const squatter = net.createServer()
  await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => squatter.close(resolve)))
  const taken = (squatter.address() as net.AddressInfo).port
  await t.rejects(startBroker({ dataDir, port: port!, kafkaListenerPort: taken }), { code: 'EADDRINUSE' })
  await t.rejects(
    new Promise((resolve, reject) => net.connect({ host: '127.0.0.1', port: port! }, () => resolve(undefined)).once('error', reject)),
    { code: 'ECONNREFUSED' },
    'the Strand listener was closed again',
  )
  const again = await startBroker({ dataDir, port: port! })
  t.teardown(() => again.close())
  t.equal(again.port, port, 'the same port and data dir start cleanly')
})
