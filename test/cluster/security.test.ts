// Security with real broker processes: a three-broker cluster on TLS + SASL/SCRAM with the
// authorizer on, and a broker requiring client certificates (mTLS). Certificates come from
// openssl at test time; passwords are random per run.
//
// What is proven: who is refused (no credentials, a wrong password, a plaintext client, a client
// that trusts another CA, a certificate from another CA); that every broker-to-broker API from a
// non-broker principal is CLUSTER_AUTHORIZATION_FAILED and changes nothing (quorum term and
// leader, partition leaders, ISRs, leader epochs, high watermarks read before and after by the
// brokers' own user); and ACL semantics (literal, prefixed, deny beats allow, Metadata hides what
// the principal cannot describe) through real clients, surviving a controller failover and a
// full restart.

import t from 'tap'
import { Connection } from '../../client/net/connection.js'
import { ApiKey } from '../../client/protocol/apis.js'
import { errorCodeOf } from '../../client/protocol/errors.js'
import { AuthenticationError, StrandError, type SaslOptions, type Strand, type TlsOptions } from '../../client/index.js'
import { readFileSync } from 'node:fs'
import { tempDir, type Teardown } from '../helpers/broker-process.js'
import { makeTestPki } from '../helpers/certs.js'
import { TestCluster } from '../helpers/cluster.js'
import { secureSettings, type SecureSettings } from '../helpers/secure.js'
import { waitFor } from '../helpers/wait.js'
import { filterToWire } from '../../client/admin-security.js'

const CLUSTER_DENIED = errorCodeOf('CLUSTER_AUTHORIZATION_FAILED')
const TOPIC_DENIED = errorCodeOf('TOPIC_AUTHORIZATION_FAILED')

function raw(tt: Teardown, port: number, security: { tls?: TlsOptions; sasl?: SaslOptions }): Connection {
  const c = new Connection({ host: '127.0.0.1', port, clientId: 'security-test', connectTimeoutMs: 5000, requestTimeoutMs: 5000, inflightRequestsMax: 4, frameBytesMax: 1 << 20, security })
  tt.teardown(() => c.close())
  return c
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p
    return 'none'
  } catch (err) {
    return err instanceof StrandError ? err.code : (err as Error).message
  }
}

/** What the brokers agree on, as the brokers' own user reads it: must not move under refused requests. */
async function clusterState(admin: ReturnType<Strand['admin']>, topic: string): Promise<string> {
  const quorum = await admin.describeQuorum()
  const md = await admin.metadata([topic])
  const partitions = md.topics.find((x) => x.name === topic)?.partitions ?? []
  const hws = await Promise.all(partitions.map((p) => admin.listOffsets({ topic, partition: p.partition, timestamp: 'latest' })))
  return JSON.stringify({
    quorum: [quorum.leaderId, quorum.term, ...quorum.voters.map((v) => [v.nodeId, v.term, v.leaderId])],
    partitions: partitions.map((p) => [p.partition, p.leaderId, p.leaderEpoch, [...p.isr].sort()]),
    hws: hws.map((h) => String(h.offset)),
  })
}

const secure = await secureSettings(t)
if ('unavailable' in secure) {
  t.plan(0, `security tests need openssl: ${secure.unavailable}`)
} else {
  await runTests(secure)
}

async function runTests(secure: SecureSettings): Promise<void> {
  await t.test('TLS + SCRAM: who is refused, and broker APIs from a client change nothing', async (t) => {
    const cluster = await TestCluster.start(t, { overrides: { ...secure.overrides, 'authorizer.enabled': true }, clientSecurity: { tls: secure.tls, sasl: secure.brokerSasl } })
    const port = cluster.ports[0] as number
    const admin = cluster.client('admin').admin()
    await admin.upsertUser({ name: 'alice', password: 'alice-secret-1' })
    t.same((await admin.listUsers()).map((u) => u.name), ['alice'], 'alice is a SCRAM user (the brokers\' user is not in the metadata log)')
    const alice: SaslOptions = { mechanism: 'SCRAM-SHA-256', username: 'alice', password: 'alice-secret-1' }
    await cluster.waitForUser(alice)

    t.equal(await codeOf(cluster.client('wrong', { sasl: { ...alice, password: 'guess' }, retriesMax: 2 }).admin().metadata()), 'SASL_AUTHENTICATION_FAILED', 'a wrong password is refused')
    t.equal(await codeOf(cluster.client('nobody', { sasl: { ...alice, username: 'mallory' }, retriesMax: 2 }).admin().metadata()), 'SASL_AUTHENTICATION_FAILED', 'an unknown user is refused alike')
    t.equal(await codeOf(cluster.client('plain', { sasl: { ...alice, mechanism: 'PLAIN' }, retriesMax: 2 }).admin().metadata()), 'none', 'PLAIN over TLS checks the same credential')
    const anonymous = raw(t, port, { tls: secure.tls })
    t.equal((await anonymous.request(ApiKey.ApiVersions, {})).errorCode, 0, 'ApiVersions is allowed before authentication')
    t.equal(await codeOf(anonymous.request(ApiKey.Metadata, { topics: null })), 'CONNECTION_ERROR', 'any other API before authentication closes the connection')
    t.not(await codeOf(raw(t, port, {}).request(ApiKey.ApiVersions, {}, { timeoutMs: 2000 })), 'none', 'a plaintext client gets nowhere on a TLS listener')
    const other = await makeTestPki(tempDir(t, 'strand-pki-other-'), ['broker'], { caName: 'Other CA' })
    if ('unavailable' in other) throw new Error(other.unavailable)
    const otherCa = await codeOf(cluster.client('other-ca', { tls: { ca: readFileSync(other.caFile) }, retriesMax: 2 }).admin().metadata())
    t.equal(otherCa, 'SSL_AUTHENTICATION_FAILED', 'a client that trusts another CA refuses the brokers (and does not retry)')

    await admin.createTopic({ topic: 'guarded', partitions: 2, replicationFactor: 3 })
    const producer = cluster.client('producer').producer({ acks: 'all' })
    await producer.send({ topic: 'guarded', messages: Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, value: `v${i}` })) })
    // A follower still joining the ISR after the send would change the state below on its own.
    await waitFor(async () => (await admin.metadata(['guarded'])).topics[0]?.partitions.every((p) => p.isr.length === 3), { timeoutMs: 30_000, what: 'every partition of guarded with its full ISR' })
    const before = await clusterState(admin, 'guarded')
    const md = await admin.metadata(['guarded'])
    const leader = md.topics[0]?.partitions[0]?.leaderId as number
    const c = raw(t, cluster.ports[leader - 1] as number, { tls: secure.tls, sasl: alice })
    const quorum = await admin.describeQuorum()
    const term = quorum.term + 100
    const refused = {
      Vote: (await c.request(ApiKey.Vote, { term, candidateId: 1, lastLogIndex: 1n << 40n, lastLogTerm: term })).errorCode,
      PreVote: (await c.request(ApiKey.PreVote, { term, candidateId: 1, lastLogIndex: 1n << 40n, lastLogTerm: term })).errorCode,
      AppendEntries: (await c.request(ApiKey.AppendEntries, { term, leaderId: 2, prevLogIndex: 0n, prevLogTerm: 0, leaderCommit: 0n, entries: [] })).errorCode,
      InstallSnapshot: (await c.request(ApiKey.InstallSnapshot, { term, leaderId: 2, lastIndex: 1n, lastTerm: term, data: Buffer.alloc(0) })).errorCode,
      BrokerRegistration: (await c.request(ApiKey.BrokerRegistration, { brokerId: 9, host: '127.0.0.1', port: 1, kafkaPort: -1, incarnationId: 'x' })).errorCode,
      BrokerHeartbeat: (await c.request(ApiKey.BrokerHeartbeat, { brokerId: leader, incarnationId: 'x' })).errorCode,
      ControlledShutdown: (await c.request(ApiKey.ControlledShutdown, { brokerId: leader, incarnationId: 'x' })).errorCode,
      AlterPartition: (await c.request(ApiKey.AlterPartition, { brokerId: leader, incarnationId: 'x', topics: [{ name: 'guarded', partitions: [{ partition: 0, leaderEpoch: 0, newIsr: [leader], partitionEpoch: 0 }] }] })).errorCode,
      AllocateProducerIds: (await c.request(ApiKey.AllocateProducerIds, { brokerId: leader, incarnationId: 'x' })).errorCode,
      'Fetch as a replica': (await c.request(ApiKey.Fetch, { replicaId: (leader % 3) + 1, maxWaitMs: 0, minBytes: 0, maxBytes: 1 << 20, isolationLevel: 0, topics: [{ name: 'guarded', partitions: [{ partition: 0, currentLeaderEpoch: -1, fetchOffset: 1000n, logStartOffset: 0n, partitionMaxBytes: 1 << 20 }] }] })).errorCode,
      'OffsetsForLeaderEpoch as a replica': (await c.request(ApiKey.OffsetsForLeaderEpoch, { replicaId: (leader % 3) + 1, topics: [{ name: 'guarded', partitions: [{ partition: 0, currentLeaderEpoch: -1, leaderEpoch: 0 }] }] })).topics[0]?.partitions[0]?.errorCode,
    }
    for (const [api, code] of Object.entries(refused)) t.equal(code, CLUSTER_DENIED, `${api} from User:alice is CLUSTER_AUTHORIZATION_FAILED`)
    t.equal(await clusterState(admin, 'guarded'), before, 'quorum terms and leader, partition leaders, epochs, ISRs and high watermarks are unchanged')
  })

  await t.test('ACLs: literal, prefixed, deny beats allow, Metadata hides topics; they survive a controller failover and a full restart', async (t) => {
    const cluster = await TestCluster.start(t, { overrides: secure.overrides, clientSecurity: { tls: secure.tls, sasl: secure.brokerSasl } })
    const admin = cluster.client('admin').admin()
    for (const topic of ['orders', 'payroll', 'logs-app', 'other']) await admin.createTopic({ topic, partitions: 1, replicationFactor: 3 })
    const seed = cluster.client('seed').producer({ acks: 'all' })
    for (const topic of ['orders', 'payroll']) await seed.send({ topic, messages: [{ key: 'k', value: `${topic}-0` }] })
    await admin.upsertUser({ name: 'alice', password: 'alice-pw' })
    await admin.upsertUser({ name: 'bob', password: 'bob-pw' })
    await cluster.waitForUser({ mechanism: 'SCRAM-SHA-256', username: 'alice', password: 'alice-pw' })
    await cluster.waitForUser({ mechanism: 'SCRAM-SHA-256', username: 'bob', password: 'bob-pw' })
    await admin.createAcls([
      { principal: 'User:alice', operation: 'write', resourceType: 'topic', resourceName: 'orders' },
      { principal: 'User:alice', operation: 'write', resourceType: 'topic', resourceName: 'logs-', patternType: 'prefixed' },
      { principal: 'User:alice', operation: 'read', resourceType: 'topic', resourceName: '*' },
      { principal: 'User:alice', operation: 'read', resourceType: 'topic', resourceName: 'payroll', permission: 'deny' },
      { principal: 'User:bob', operation: 'describe', resourceType: 'topic', resourceName: 'orders' },
    ])
    t.equal((await admin.describeAcls({ principal: 'User:alice' })).length, 4, 'alice has four ACLs')
    // ACLs reach each broker when it replays the metadata log: wait until every one has them all.
    const aclsAt = (port: number): Promise<number> => raw(t, port, { tls: secure.tls, sasl: secure.brokerSasl }).request(ApiKey.DescribeAcls, filterToWire({})).then((r) => r.acls.length)
    await waitFor(async () => (await Promise.all(cluster.ports.map(aclsAt))).every((n) => n === 5), { what: 'every broker has the five ACLs', timeoutMs: 10_000 })

    const check = async (label: string): Promise<void> => {
      const live = cluster.ids.filter((id) => cluster.brokers[id - 1] !== null)
      const alice = cluster.client(`alice-${label}`, { sasl: { mechanism: 'SCRAM-SHA-256', username: 'alice', password: 'alice-pw' }, brokers: live })
      const producer = alice.producer({ acks: 'all' })
      t.equal(await codeOf(producer.send({ topic: 'orders', messages: [{ value: 'o' }] })), 'none', `${label}: alice may produce to orders`)
      t.equal(await codeOf(producer.send({ topic: 'logs-app', messages: [{ value: 'l' }] })), 'none', `${label}: and to logs-app (prefixed ACL)`)
      t.equal(await codeOf(producer.send({ topic: 'other', messages: [{ value: 'x' }] })), 'TOPIC_AUTHORIZATION_FAILED', `${label}: but not to other`)
      // Asked of the partition's leader; after a restart leadership may still move (preferred
      // leader election), so a NOT_LEADER_OR_FOLLOWER answer asks the new leader, within a deadline.
      const NOT_LEADER = errorCodeOf('NOT_LEADER_OR_FOLLOWER')
      const fetchOnce = async (topic: string): Promise<number | undefined> => {
        const md = await admin.metadata([topic])
        const leader = md.topics.find((x) => x.name === topic)?.partitions[0]?.leaderId ?? -1
        if (leader < 0) return NOT_LEADER
        const c = raw(t, cluster.ports[leader - 1] as number, { tls: secure.tls, sasl: { mechanism: 'SCRAM-SHA-256', username: 'alice', password: 'alice-pw' } })
        const res = await c.request(ApiKey.Fetch, { replicaId: -1, maxWaitMs: 0, minBytes: 0, maxBytes: 1 << 20, isolationLevel: 0, topics: [{ name: topic, partitions: [{ partition: 0, currentLeaderEpoch: -1, fetchOffset: 0n, logStartOffset: -1n, partitionMaxBytes: 1 << 20 }] }] })
        return res.topics[0]?.partitions[0]?.errorCode
      }
      const fetchCode = (topic: string): Promise<number | undefined> =>
        waitFor(async () => {
          const code = await fetchOnce(topic)
          return code === NOT_LEADER ? false : { code }
        }, { what: `a leader of ${topic} to answer`, timeoutMs: 15_000, intervalMs: 50 }).then((r) => r.code)
      t.equal(await fetchCode('orders'), 0, `${label}: alice may read orders (allow read *)`)
      t.equal(await fetchCode('payroll'), TOPIC_DENIED, `${label}: alice may not read payroll (deny beats allow)`)
      const bob = cluster.client(`bob-${label}`, { sasl: { mechanism: 'SCRAM-SHA-256', username: 'bob', password: 'bob-pw' }, brokers: live })
      t.same((await bob.admin().metadata()).topics.map((x) => x.name).sort(), ['orders'], `${label}: Metadata shows bob only the topic he may describe`)
      t.equal(await codeOf(bob.producer({ idempotent: false }).send({ topic: 'orders', messages: [{ value: 'b' }] })), 'TOPIC_AUTHORIZATION_FAILED', `${label}: describe does not allow bob to write`)
      t.equal(await codeOf(bob.producer().send({ topic: 'orders', messages: [{ value: 'b' }] })), 'CLUSTER_AUTHORIZATION_FAILED', `${label}: nor, without write on any topic, to get an idempotent producer id`)
    }
    await check('at first')

    const controller = (await admin.describeCluster()).controllerId
    await cluster.kill(controller)
    const rest = cluster.ids.filter((id) => id !== controller)
    const survivor = cluster.client('survivor', { brokers: rest })
    await waitFor(async () => {
      const d = await survivor.admin().describeCluster().catch(() => null)
      return d !== null && d.controllerId !== controller && d.controllerId > 0
    }, { what: 'a new controller', timeoutMs: 30_000, intervalMs: 50 })
    await check('after a controller failover')
    await cluster.startBroker(controller)
    await cluster.waitForBrokers(cluster.ids)

    for (const id of cluster.ids) await cluster.stop(id)
    await Promise.all(cluster.ids.map((id) => cluster.startBroker(id)))
    await cluster.waitForBrokers(cluster.ids)
    await check('after a full restart')
    t.equal((await admin.describeAcls()).length, 5, 'the five ACLs are all still there')
    t.same((await admin.listUsers()).map((u) => u.name).sort(), ['alice', 'bob'], 'and the two users')
  })

  await t.test('mTLS: the client certificate is the principal; no certificate or another CA\'s is refused', async (t) => {
    const pki = await makeTestPki(tempDir(t, 'strand-pki-mtls-'), ['broker', 'client-a', 'admin'])
    const other = await makeTestPki(tempDir(t, 'strand-pki-mtls-other-'), ['client-a'], { caName: 'Other CA' })
    if ('unavailable' in pki || 'unavailable' in other) throw new Error('openssl went away')
    const ca = readFileSync(pki.caFile)
    const certOf = (p: typeof pki, name: string): TlsOptions => ({ ca, cert: readFileSync(p.certFor(name).certFile), key: readFileSync(p.certFor(name).keyFile) })
    const broker = pki.certFor('broker')
    const cluster = await TestCluster.start(t, {
      size: 1,
      overrides: { 'listener.security.protocol': 'tls', 'tls.cert.file': broker.certFile, 'tls.key.file': broker.keyFile, 'tls.ca.file': pki.caFile, 'tls.client.auth': 'required', 'super.users': 'User:CN=admin', 'authorizer.enabled': true },
      clientSecurity: { tls: certOf(pki, 'admin') },
    })
    const admin = cluster.client('admin').admin()
    await admin.createTopic({ topic: 'certs', partitions: 1, replicationFactor: 1 })
    await admin.createAcls([{ principal: 'User:CN=client-a', operation: 'describe', resourceType: 'topic', resourceName: 'certs' }])
    const a = cluster.client('a', { tls: certOf(pki, 'client-a') })
    t.same((await a.admin().metadata()).topics.map((x) => x.name), ['certs'], 'User:CN=client-a sees the topic its ACL names')
    const port = cluster.ports[0] as number
    const vote = await raw(t, port, { tls: certOf(pki, 'client-a') }).request(ApiKey.Vote, { term: 1000, candidateId: 1, lastLogIndex: 0n, lastLogTerm: 0 })
    t.equal(vote.errorCode, CLUSTER_DENIED, 'a client certificate does not make a broker: Vote is refused')
    const noCert = await codeOf(raw(t, port, { tls: { ca } }).request(ApiKey.ApiVersions, {}))
    t.ok(noCert === 'SSL_AUTHENTICATION_FAILED' || noCert === 'CONNECTION_ERROR', `a client without a certificate is refused (${noCert})`)
    const foreign = await codeOf(raw(t, port, { tls: { ca, cert: readFileSync(other.certFor('client-a').certFile), key: readFileSync(other.certFor('client-a').keyFile) } }).request(ApiKey.ApiVersions, {}))
    t.ok(foreign === 'SSL_AUTHENTICATION_FAILED' || foreign === 'CONNECTION_ERROR', `a certificate from another CA is refused (${foreign})`)
    t.type(new AuthenticationError('x'), StrandError)
  })
}
