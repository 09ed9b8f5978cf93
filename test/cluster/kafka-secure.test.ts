// The Kafka listener's security, driven by a real Kafka client: kcat (librdkafka), as Debian
// ships it, against three broker processes on TLS + SASL with the authorizer on. The CA, the
// broker certificate and every password are made at test time (secure.ts).
//
// What is proven, each through kcat at the Kafka listeners:
//   - SASL_SSL with SCRAM-SHA-256, verifying the brokers' certificate and their address
//     (ssl.endpoint.identification.algorithm=https, against the certificate's IP:127.0.0.1 SAN):
//     kcat -L lists the brokers at their Kafka ports and the topic, kcat -P produces, kcat -C reads
//     the records back identical. PLAIN (which secure.ts enables, offered on TLS only) does too.
//   - A wrong password (SCRAM and PLAIN) fails: kcat exits non-zero saying authentication
//     failed, and the topic's end offsets do not move. A client trusting another CA gets nowhere.
//   - A plaintext kcat against the TLS port fails, and every broker still answers a Strand client
//     afterwards, and a SASL_SSL kcat too.
//   - ACLs: a user with READ only is refused Produce (TOPIC_AUTHORIZATION_FAILED, and nothing is
//     written) but reads; a user with WRITE only produces but is refused Fetch.
//   - At the end the topic holds exactly the records the allowed producers wrote, none refused.
//
// kcat's settings are written to a file per user (kcat -F) so no password is on a command line
// or in a failure message.

import { randomBytes } from 'node:crypto'
import t from 'tap'
import type { SaslOptions } from '../../client/index.js'
import { ApiKey } from '../../client/protocol/apis.js'
import { filterToWire } from '../../client/admin-security.js'
import { tempDir, type Teardown } from '../helpers/broker-process.js'
import { makeTestPki } from '../helpers/certs.js'
import { TestCluster } from '../helpers/cluster.js'
import { describeExit, kcatAvailable, kcatConfigFile, messagesOf, runKcat, type KcatMetadata, type KcatRun } from '../helpers/kcat.js'
import { secureSettings, type SecureSettings } from '../helpers/secure.js'
import { waitFor } from '../helpers/wait.js'

const TOPIC = 'kcat-secure'
const PARTITIONS = 3
/** kcat runs that have not finished by then are killed and fail the test. */
const KCAT_TIMEOUT_MS = 40_000
/**
 * A producer that cannot deliver gives up after this long (librdkafka waits 300 s by default);
 * refused runs usually end sooner, when every broker has refused the login or the produce.
 */
const MESSAGE_TIMEOUT_MS = 8_000
/** kcat -L's wait for metadata (-m, seconds) where it is expected to get none. */
const REFUSED_METADATA_TIMEOUT_S = 3
/** What librdkafka logs when a broker refuses the SASL exchange. */
const AUTH_FAILED = /SASL authentication error|Authentication failure/
/** librdkafka's text for TOPIC_AUTHORIZATION_FAILED (error code 29). */
const TOPIC_DENIED = /Topic authorization failed/

/** Runs kcat to its end; kills it (and fails) after KCAT_TIMEOUT_MS, and kills it at teardown if the test ends first. */
function kcat(tt: Teardown, args: string[], stdin = ''): Promise<KcatRun> {
  return runKcat(tt, args, { stdin, timeoutMs: KCAT_TIMEOUT_MS })
}

/** kcat -L -J's answer; none when the run failed (its exit code is asserted on its own). */
function metadataOf(run: KcatRun): KcatMetadata {
  return run.code === 0 ? (JSON.parse(run.stdout) as KcatMetadata) : { brokers: [], topics: [] }
}

/** A random password; base64url keeps it one token in a properties file. */
function newPassword(): string {
  return randomBytes(18).toString('base64url')
}

const missingKcat = await kcatAvailable()
const secure = missingKcat === undefined ? await secureSettings(t) : missingKcat
if ('unavailable' in secure) {
  t.plan(0, missingKcat === undefined ? `kcat security tests need openssl: ${secure.unavailable}` : secure.unavailable)
} else {
  await runTests(secure)
}

async function runTests(secure: SecureSettings): Promise<void> {
  await t.test('kcat against the Kafka listener on TLS + SASL, authorizer on', async (t) => {
    const cluster = await TestCluster.start(t, {
      overrides: { ...secure.overrides, 'authorizer.enabled': true, 'kafka.listener.port': 0 },
      clientSecurity: { tls: secure.tls, sasl: secure.brokerSasl },
    })
    const kafkaPorts = cluster.ids.map((id) => cluster.broker(id).kafkaPort)
    t.ok(kafkaPorts.every((p) => typeof p === 'number' && p > 0), `every broker has a Kafka listener (${kafkaPorts.join(', ')})`)
    const bootstrap = kafkaPorts.map((p) => `127.0.0.1:${p}`).join(',')
    const admin = cluster.client('kcat-secure-admin', { requestTimeoutMs: 10_000 }).admin()
    await admin.createTopic({ topic: TOPIC, partitions: PARTITIONS, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } })
    const users = { both: { name: 'kcat-both', password: newPassword() }, reader: { name: 'kcat-reader', password: newPassword() }, writer: { name: 'kcat-writer', password: newPassword() } }
    for (const u of Object.values(users)) await admin.upsertUser(u)
    await admin.createAcls([
      { principal: `User:${users.both.name}`, operation: 'read', resourceType: 'topic', resourceName: TOPIC },
      { principal: `User:${users.both.name}`, operation: 'write', resourceType: 'topic', resourceName: TOPIC },
      { principal: `User:${users.reader.name}`, operation: 'read', resourceType: 'topic', resourceName: TOPIC },
      { principal: `User:${users.writer.name}`, operation: 'write', resourceType: 'topic', resourceName: TOPIC },
    ])
    for (const u of Object.values(users)) await cluster.waitForUser({ mechanism: 'SCRAM-SHA-256', username: u.name, password: u.password })
    // Users and ACLs reach each broker as it replays the metadata log.
    const brokerConnections = cluster.ids.map((id) => cluster.connection(id, 'acl-wait', 5000))
    await waitFor(async () => (await Promise.all(brokerConnections.map((c) => c.request(ApiKey.DescribeAcls, filterToWire({}))))).every((r) => r.acls.length === 4), { what: 'every broker to have the four ACLs', timeoutMs: 15_000, intervalMs: 50 })
    const strand = cluster.client('kcat-secure-wait')
    for (let p = 0; p < PARTITIONS; p++) await cluster.waitForPartition(strand, TOPIC, p, (info) => info.leaderId >= 1 && info.isr.length === 3, `${TOPIC}-${p} led with a full ISR`)

    const configDir = tempDir(t, 'strand-kcat-conf-')
    /** A kcat -F file: SASL_SSL as `sasl` says, trusting `caFile` (default the test CA), verifying the brokers' address. */
    const configFile = (label: string, sasl: SaslOptions, caFile = secure.pki.caFile): string =>
      kcatConfigFile(configDir, label, {
        'security.protocol': 'SASL_SSL',
        'sasl.mechanisms': sasl.mechanism,
        'sasl.username': sasl.username,
        'sasl.password': sasl.password,
        'ssl.ca.location': caFile,
        // librdkafka 2.x's default, stated so the brokers' address is checked whatever the default.
        'ssl.endpoint.identification.algorithm': 'https',
      })
    const as = (user: { name: string; password: string }, mechanism: SaslOptions['mechanism'] = 'SCRAM-SHA-256'): string => configFile(`${user.name}-${mechanism}`, { mechanism, username: user.name, password: user.password })
    const endOffsets = async (): Promise<bigint> => {
      let sum = 0n
      for (let p = 0; p < PARTITIONS; p++) sum += (await admin.listOffsets({ topic: TOPIC, partition: p, timestamp: 'latest' })).offset
      return sum
    }
    const produce = (config: string, lines: string[]): Promise<KcatRun> =>
      kcat(t, ['-F', config, '-b', bootstrap, '-P', '-t', TOPIC, '-K', ':', '-X', 'acks=all', '-X', `message.timeout.ms=${MESSAGE_TIMEOUT_MS}`], lines.join('\n') + '\n')
    const consume = (config: string): Promise<KcatRun> => kcat(t, ['-F', config, '-b', bootstrap, '-C', '-t', TOPIC, '-o', 'beginning', '-e', '-J', '-q'])
    /** Every record the allowed producers wrote, key to value. */
    const written = new Map<string, string>()
    const lines = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}-${i}:value-${prefix}-${i}`)
    const record = (ls: string[]): void => ls.forEach((l) => written.set(...(l.split(':') as [string, string])))

    await t.test('SCRAM-SHA-256 over verified TLS: kcat -L, -P and -C', async (t) => {
      const listed = await kcat(t, ['-F', as(users.both), '-b', bootstrap, '-L', '-J', '-t', TOPIC])
      t.equal(listed.code, 0, 'kcat -L exits 0', { stderr: listed.stderr })
      const md = metadataOf(listed)
      t.same(md.brokers.map((b) => b.id).sort(), [1, 2, 3], 'all three brokers are listed')
      for (const b of md.brokers) t.equal(b.name, `127.0.0.1:${kafkaPorts[b.id - 1]}`, `broker ${b.id} is advertised at its Kafka port`)
      t.equal(md.topics.find((x) => x.topic === TOPIC)?.partitions.length, PARTITIONS, `${TOPIC} is listed with its ${PARTITIONS} partitions`)

      const sent = lines('scram', 300)
      const produced = await produce(as(users.both), sent)
      t.equal(produced.code, 0, 'kcat -P exits 0', { stderr: produced.stderr })
      record(sent)
      t.equal(await endOffsets(), 300n, 'the 300 records are in the topic')
      const consumed = await consume(as(users.both))
      t.equal(consumed.code, 0, 'kcat -C exits 0', { stderr: consumed.stderr })
      const read = new Map(messagesOf(consumed).map((m) => [m.key, m.payload]))
      t.equal(messagesOf(consumed).length, 300, 'each record read once')
      t.ok([...written].every(([k, v]) => read.get(k) === v), 'every key with its value')
    })

    await t.test('a wrong password is refused, and nothing it sent is written', async (t) => {
      const before = await endOffsets()
      for (const mechanism of ['SCRAM-SHA-256', 'PLAIN'] as const) {
        const run = await produce(configFile(`wrong-${mechanism}`, { mechanism, username: users.both.name, password: newPassword() }), lines(`refused-wrong-password-${mechanism}`, 5))
        t.not(run.code, 0, `${mechanism}: kcat -P fails (${describeExit(run)})`)
        t.match(run.stderr, AUTH_FAILED, `${mechanism}: kcat says authentication failed`)
      }
      const unknown = await produce(configFile('unknown-user', { mechanism: 'SCRAM-SHA-256', username: 'kcat-nobody', password: newPassword() }), lines('refused-unknown-user', 5))
      t.not(unknown.code, 0, `an unknown user fails alike (${describeExit(unknown)})`)
      t.match(unknown.stderr, AUTH_FAILED)
      const listed = await kcat(t, ['-F', configFile('wrong-list', { mechanism: 'SCRAM-SHA-256', username: users.both.name, password: newPassword() }), '-b', bootstrap, '-L', '-m', String(REFUSED_METADATA_TIMEOUT_S)])
      t.not(listed.code, 0, `kcat -L with a wrong password gets no metadata (${describeExit(listed)})`)
      t.match(listed.stderr, AUTH_FAILED)
      t.equal(await endOffsets(), before, 'the end offsets did not move')
    })

    await t.test('a kcat that trusts another CA refuses the brokers', async (t) => {
      const other = await makeTestPki(tempDir(t, 'strand-pki-other-'), ['broker'], { caName: 'Other CA' })
      if ('unavailable' in other) throw new Error(other.unavailable)
      const run = await kcat(t, ['-F', configFile('other-ca', { mechanism: 'SCRAM-SHA-256', username: users.both.name, password: users.both.password }, other.caFile), '-b', bootstrap, '-L', '-m', String(REFUSED_METADATA_TIMEOUT_S)])
      t.not(run.code, 0, `kcat -L fails (${describeExit(run)})`)
      t.match(run.stderr, /certificate verify failed/, 'on the certificate')
    })

    await t.test('a plaintext kcat on the TLS port fails, and the brokers carry on', async (t) => {
      // -F /dev/null: no kcat config file from the environment may turn TLS on.
      const run = await kcat(t, ['-F', '/dev/null', '-b', bootstrap, '-L', '-m', String(REFUSED_METADATA_TIMEOUT_S)])
      t.not(run.code, 0, `kcat -L without TLS fails (${describeExit(run)})`)
      t.notMatch(run.stdout, /broker/i, 'and lists nothing')
      t.ok(cluster.ids.every((id) => cluster.broker(id).child.exitCode === null && cluster.broker(id).child.signalCode === null), 'every broker process is still running')
      for (const [i, c] of brokerConnections.entries()) t.equal((await c.request(ApiKey.ApiVersions, {})).errorCode, 0, `broker ${i + 1} answers a Strand ApiVersions on the Strand listener`)
      t.same((await admin.describeCluster()).brokers.map((b) => b.nodeId).sort(), [1, 2, 3], 'the Strand admin sees all three brokers')
      const again = await kcat(t, ['-F', as(users.both), '-b', bootstrap, '-L', '-J'])
      t.equal(again.code, 0, 'a SASL_SSL kcat -L still works on the same ports', { stderr: again.stderr })
      t.same(metadataOf(again).brokers.map((b) => b.id).sort(), [1, 2, 3], 'and lists the three brokers')
    })

    await t.test('ACLs: READ without WRITE reads but cannot produce; WRITE without READ produces but cannot read', async (t) => {
      const before = await endOffsets()
      const refused = await produce(as(users.reader), lines('refused-reader', 5))
      t.not(refused.code, 0, `kcat -P as ${users.reader.name} fails (${describeExit(refused)})`)
      t.match(refused.stderr, TOPIC_DENIED, 'with TOPIC_AUTHORIZATION_FAILED')
      t.equal(await endOffsets(), before, 'and nothing is written')
      const read = await consume(as(users.reader))
      t.equal(read.code, 0, `kcat -C as ${users.reader.name} exits 0`, { stderr: read.stderr })
      t.equal(messagesOf(read).length, Number(before), `${users.reader.name} reads every record`)

      const sent = lines('writer', 50)
      const produced = await produce(as(users.writer), sent)
      t.equal(produced.code, 0, `kcat -P as ${users.writer.name} exits 0`, { stderr: produced.stderr })
      record(sent)
      t.equal(await endOffsets(), before + 50n, 'its 50 records are written')
      const denied = await consume(as(users.writer))
      t.not(denied.code, 0, `kcat -C as ${users.writer.name} fails (${describeExit(denied)})`)
      t.match(denied.stderr, TOPIC_DENIED, 'with TOPIC_AUTHORIZATION_FAILED')
      t.same(messagesOf(denied), [], 'and reads nothing')
    })

    await t.test('PLAIN over TLS: kcat -L, -P and -C', async (t) => {
      const listed = await kcat(t, ['-F', as(users.both, 'PLAIN'), '-b', bootstrap, '-L', '-J'])
      t.equal(listed.code, 0, 'kcat -L exits 0', { stderr: listed.stderr })
      const sent = lines('plain', 20)
      const produced = await produce(as(users.both, 'PLAIN'), sent)
      t.equal(produced.code, 0, 'kcat -P exits 0', { stderr: produced.stderr })
      record(sent)
      const consumed = await consume(as(users.both, 'PLAIN'))
      t.equal(consumed.code, 0, 'kcat -C exits 0', { stderr: consumed.stderr })
      const read = messagesOf(consumed)
      t.equal(read.length, written.size, 'every record, once')
      t.same(new Map(read.map((m) => [m.key, m.payload])), written, 'the topic holds exactly what the allowed producers wrote: nothing refused is there')
    })
  })
}
