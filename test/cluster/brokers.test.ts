// Broker registration and fencing through the quorum, with three real broker processes: every
// broker registers with the active controller; one that is SIGKILLed is fenced once its session
// times out, in every broker's metadata image; restarted, it registers again and is unfenced.
// A registration's Kafka listener port (v1) reaches every broker's image; a v0 one has none.

import t from 'tap'
import type { Connection } from '../../client/net/connection.js'
import { ApiKey } from '../../client/protocol/apis.js'
import { errorCodeOf } from '../../client/protocol/errors.js'
import type { DescribeClusterResponse } from '../../client/protocol/messages/brokers.js'
import { spawnBroker, tempDir, type BrokerProcess, type Teardown } from '../helpers/broker-process.js'
import { freePorts, quorumVoters } from '../helpers/ports.js'
import { rawConnection } from '../helpers/connection.js'
import { waitFor } from '../helpers/wait.js'

const SESSION_TIMEOUT_MS = 1000


async function cluster(c: Connection): Promise<DescribeClusterResponse | null> {
  try {
    return await c.request(ApiKey.DescribeCluster, {})
  } catch {
    return null
  }
}

/** Waits until every connection's image shows exactly `fenced` as the fenced broker ids (all 3 registered). */
async function waitForFenced(conns: Connection[], fenced: number[], what: string): Promise<DescribeClusterResponse> {
  return waitFor(
    async () => {
      const views = await Promise.all(conns.map(cluster))
      const ok = views.every((v) => v !== null && v.brokers.length === 3 && JSON.stringify(v.brokers.filter((b) => b.fenced).map((b) => b.brokerId)) === JSON.stringify(fenced))
      return ok ? views[0]! : false
    },
    { what, timeoutMs: 30_000, intervalMs: 50 },
  )
}

t.test('brokers register, a dead one is fenced, and a restarted one comes back', async (t) => {
  const ports = await freePorts(3)
  const voters = quorumVoters(ports)
  const dirs = ports.map(() => tempDir(t))
  const overrides = (id: number): Record<string, string | number> => ({
    'node.id': id,
    'controller.quorum.voters': voters,
    'controller.quorum.election.timeout.ms': 300,
    'controller.quorum.heartbeat.interval.ms': 50,
    'broker.heartbeat.interval.ms': 100,
    'broker.session.timeout.ms': SESSION_TIMEOUT_MS,
  })
  const start = (i: number): Promise<BrokerProcess> => spawnBroker(t, { dataDir: dirs[i], port: ports[i], overrides: overrides(i + 1) })
  const brokers = await Promise.all([0, 1, 2].map(start))
  const conns = ports.map((p) => rawConnection(t, p))

  const all = await waitForFenced(conns, [], 'all three brokers registered and unfenced')
  t.same(all.brokers.map((b) => [b.brokerId, b.port]), ports.map((p, i) => [i + 1, p]), 'each with its listener address')
  t.same(all.brokers.map((b) => b.kafkaPort), [-1, -1, -1], 'and no Kafka listener (kafka.listener.port defaults to -1)')
  t.ok(all.controllerId >= 1, `controller is broker ${all.controllerId}`)

  // Kill a broker that is not the controller: the controller must notice its silence.
  const victim = [1, 2, 3].find((id) => id !== all.controllerId)!
  brokers[victim - 1]!.kill('SIGKILL')
  await brokers[victim - 1]!.exited
  const others = conns.filter((_, i) => i !== victim - 1)
  const afterKill = await waitFor(
    async () => {
      const views = await Promise.all(others.map(cluster))
      return views.every((v) => v?.brokers.find((b) => b.brokerId === victim)?.fenced === true) ? views[0]! : false
    },
    { what: `broker ${victim} to be fenced`, timeoutMs: 30_000, intervalMs: 50 },
  )
  t.same(afterKill.brokers.filter((b) => b.fenced).map((b) => b.brokerId), [victim], 'only the dead broker is fenced')

  brokers[victim - 1] = await start(victim - 1)
  await waitForFenced(conns, [], 'the restarted broker to be registered and unfenced again')
  t.pass(`broker ${victim} is back`)

  // The lifecycle APIs answer the wrong node and stale incarnations with codes.
  const view = await waitFor(async () => {
    const v = await cluster(conns[0]!)
    return v !== null && v.controllerId >= 1 ? v : false
  }, { what: 'a known controller' })
  const notControllerId = [1, 2, 3].find((id) => id !== view.controllerId)!
  const notController = await conns[notControllerId - 1]!.request(ApiKey.BrokerHeartbeat, { brokerId: 1, incarnationId: 'x' })
  t.equal(notController.errorCode, errorCodeOf('NOT_CONTROLLER'), `broker ${notControllerId}, not the controller, says so`)
  const controllerConn = conns[view.controllerId - 1]!
  const stale = await controllerConn.request(ApiKey.BrokerHeartbeat, { brokerId: victim, incarnationId: 'an-old-incarnation' })
  t.equal(stale.errorCode, errorCodeOf('STALE_BROKER_EPOCH'), 'a heartbeat from an old incarnation is refused')
  const bad = await controllerConn.request(ApiKey.BrokerRegistration, { brokerId: -5, host: 'h', port: 0, kafkaPort: -1, incarnationId: '' })
  t.equal(bad.errorCode, errorCodeOf('INVALID_REQUEST'), 'a malformed registration is refused')
  for (const kafkaPort of [0, -2, 65536]) {
    const res = await controllerConn.request(ApiKey.BrokerRegistration, { brokerId: 9, host: '127.0.0.1', port: 9999, kafkaPort, incarnationId: 'k' })
    t.equal(res.errorCode, errorCodeOf('INVALID_REQUEST'), `a Kafka port of ${kafkaPort} is refused`)
  }

  // A registration with a Kafka port (negotiated: v1) reaches every broker's image; the same
  // incarnation registering again at v0 (no Kafka port) takes it away.
  const kafkaPortOf9 = async (): Promise<Array<number | undefined>> => Promise.all(conns.map(async (c) => (await cluster(c))?.brokers.find((b) => b.brokerId === 9)?.kafkaPort))
  const registered = await controllerConn.request(ApiKey.BrokerRegistration, { brokerId: 9, host: '127.0.0.1', port: 9999, kafkaPort: 19999, incarnationId: 'k' })
  t.equal(registered.errorCode, 0, 'a registration with a Kafka port is taken')
  await waitFor(async () => (await kafkaPortOf9()).every((p) => p === 19999), { what: 'broker 9\'s Kafka port on every broker', timeoutMs: 10_000, intervalMs: 50 })
  t.pass('every broker knows broker 9\'s Kafka port')
  const old = await controllerConn.request(ApiKey.BrokerRegistration, { brokerId: 9, host: '127.0.0.1', port: 9999, kafkaPort: 19999, incarnationId: 'k' }, { apiVersion: 0 })
  t.equal(old.errorCode, 0, 'a v0 registration is taken')
  await waitFor(async () => (await kafkaPortOf9()).every((p) => p === -1), { what: 'broker 9 without a Kafka port on every broker', timeoutMs: 10_000, intervalMs: 50 })
  t.pass('a v0 registration carries no Kafka port: -1 everywhere')
  const v0 = await controllerConn.request(ApiKey.DescribeCluster, {}, { apiVersion: 0 })
  t.equal(v0.brokers.find((b) => b.brokerId === 9)?.kafkaPort, undefined, 'DescribeCluster v0 has no Kafka ports to tell')
})
