// `npm start`'s cluster launcher as a user runs it: brokers from a config directory, ready line,
// a working cluster, the status screen (brokers with their metrics endpoints, topics,
// under-replicated and offline partitions once a broker dies), and a clean stop on SIGINT. It runs
// in its own process group so teardown can reap the launcher and every broker it started, even if
// the test fails midway.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { Strand } from '../../client/index.js'
import { tempDir, type Teardown } from '../helpers/broker-process.js'
import { freePorts, quorumVoters } from '../helpers/ports.js'
import { waitFor } from '../helpers/wait.js'

const LAUNCHER = path.join(import.meta.dirname, '../../broker/local/local-cluster.ts')

interface Launch {
  child: ChildProcess
  output: () => string
  exited: Promise<number | null>
}

function launch(t: Teardown, args: string[]): Launch {
  const child = spawn(process.execPath, ['--import', 'tsx', LAUNCHER, ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  let output = ''
  child.stdout!.on('data', (c: Buffer) => (output += c.toString()))
  child.stderr!.on('data', (c: Buffer) => (output += c.toString()))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  t.teardown(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL')
    } catch {
      // The whole group already exited.
    }
  })
  return { child, output: () => output, exited }
}

/** The last status screen printed: from the last line that starts with a timestamp. */
function lastStatus(output: string): string {
  const starts = [...output.matchAll(/^\d{4}-\d\d-\d\dT[\d:.]+Z /gm)]
  const last = starts[starts.length - 1]
  return last === undefined ? '' : output.slice(last.index)
}

/** The pid of the launcher's broker process started from broker-N.json. */
function brokerPid(launcherPid: number, id: number): number {
  const children = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(launcherPid)], { encoding: 'utf8' })
  const line = children.split('\n').find((l) => l.includes(`broker-${id}.json`))
  if (line === undefined) throw new Error(`no broker-${id} among the launcher's children:\n${children}`)
  return Number(line.trim().split(/\s+/)[0])
}

t.test('the local cluster starts, serves, and stops cleanly on SIGINT', async (t) => {
  const configDir = tempDir(t)
  const dataDir = tempDir(t)
  const [ports, metricsPorts] = [await freePorts(3), await freePorts(3)]
  const voters = quorumVoters(ports)
  for (const [i, port] of ports.entries()) {
    const config = {
      'node.id': i + 1,
      'listener.port': port,
      'metrics.port': metricsPorts[i],
      'data.dir': `unused-${i + 1}`,
      'controller.quorum.voters': voters,
      'controller.quorum.election.timeout.ms': 300,
      'controller.quorum.heartbeat.interval.ms': 50,
      'broker.heartbeat.interval.ms': 100,
      'broker.session.timeout.ms': 1500,
      'replica.lag.time.max.ms': 1500,
    }
    await writeFile(path.join(configDir, `broker-${i + 1}.json`), JSON.stringify(config))
  }
  const run = launch(t, ['--config-dir', configDir, '--data-dir', dataDir])
  await waitFor(() => run.output().includes('Strand cluster ready'), { what: 'the ready line', timeoutMs: 60_000 })
  const bootstrap = /Bootstrap: (\S+)/.exec(run.output())?.[1]
  t.equal(bootstrap, ports.map((p) => `127.0.0.1:${p}`).join(','), 'it prints the bootstrap address')

  const strand = new Strand({ brokers: bootstrap!.split(',') })
  t.teardown(() => strand.close())
  const admin = strand.admin()
  await admin.createTopic({ topic: 'hello', partitions: 3, replicationFactor: 1 })
  const [ack] = await strand.producer({ acks: 1 }).send({ topic: 'hello', messages: [{ value: 'world' }] })
  t.equal(ack?.offset, 0n, 'the cluster takes writes')

  // The status screen: every broker with its metrics endpoint, then the two topics, all in sync.
  await admin.createTopic({ topic: 'replicated', partitions: 1, replicationFactor: 3 })
  await waitFor(() => lastStatus(run.output()).includes('topics: 2, 4 partitions | under-replicated: 0 | offline: 0'), { what: 'the status with both topics', timeoutMs: 30_000 })
  const healthy = lastStatus(run.output())
  t.match(healthy, /Z controller: broker [123] \| topics: 2, 4 partitions \| under-replicated: 0 \| offline: 0\n/)
  for (const [i, port] of ports.entries()) t.match(healthy, `  broker ${i + 1}  127.0.0.1:${port}  up        metrics http://127.0.0.1:${metricsPorts[i]}/metrics\n`)

  // Broker 3 dies: the partitions it led alone go offline, the replicated one is under-replicated.
  const hello = (await admin.metadata(['hello'])).topics.find((x) => x.name === 'hello')!
  const offline = hello.partitions.filter((p) => p.leaderId === 3).length
  process.kill(brokerPid(run.child.pid!, 3), 'SIGKILL')
  await waitFor(() => run.output().includes('broker 3 exited unexpectedly'), { what: 'the crash to be reported' })
  await waitFor(() => lastStatus(run.output()).includes(`under-replicated: 1 | offline: ${offline}`), { what: 'the status to show the lost replica', timeoutMs: 30_000 })
  const degraded = lastStatus(run.output())
  t.match(degraded, `  broker 3  127.0.0.1:${ports[2]}  down      metrics http://127.0.0.1:${metricsPorts[2]}/metrics\n`)
  t.match(degraded, /\n {2}under-replicated: replicated-0 \(ISR [12],[12] of [123],[123],[123]\)/, 'the under-replicated partition, named')
  if (offline > 0) t.match(degraded, /\n {2}offline: hello-\d \(replicas 3\)/, 'and the ones with no leader')
  await strand.close()

  run.child.kill('SIGINT')
  t.equal(await run.exited, 0, 'SIGINT stops it with exit code 0')
  t.match(run.output(), /all brokers stopped cleanly/, 'the two that were still running')
})

t.test('--secure: TLS + SCRAM with a generated CA, an admin whose password is printed once, kept across restarts', async (t) => {
  const configDir = tempDir(t)
  const dataDir = tempDir(t)
  const ports = await freePorts(3)
  for (const [i, port] of ports.entries()) {
    const config = { 'node.id': i + 1, 'listener.port': port, 'data.dir': `unused-${i + 1}`, 'controller.quorum.voters': quorumVoters(ports), 'controller.quorum.election.timeout.ms': 300, 'controller.quorum.heartbeat.interval.ms': 50, 'broker.heartbeat.interval.ms': 100, 'broker.session.timeout.ms': 1500 }
    await writeFile(path.join(configDir, `broker-${i + 1}.json`), JSON.stringify(config))
  }
  const args = ['--config-dir', configDir, '--data-dir', dataDir, '--secure']
  const first = launch(t, args)
  await waitFor(() => first.output().includes('CLI: '), { what: 'the secure cluster to be ready', timeoutMs: 60_000 })
  const password = /printed this once: (\S+)/.exec(first.output())?.[1]
  t.ok(password !== undefined && password.length >= 20, 'the admin password is printed')
  const brokers = ports.map((p) => `127.0.0.1:${p}`)
  const ca = readFileSync(path.join(dataDir, 'security', 'ca.pem'))
  const asAdmin = async (): Promise<void> => {
    const strand = new Strand({ brokers, tls: { ca }, sasl: { mechanism: 'SCRAM-SHA-256', username: 'admin', password: password! } })
    try {
      await strand.admin().createTopic({ topic: `t-${Date.now()}`, partitions: 1, replicationFactor: 3 })
    } finally {
      await strand.close()
    }
  }
  await asAdmin()
  t.pass('admin creates a topic over TLS + SCRAM')
  const anonymous = new Strand({ brokers, tls: { ca }, retry: { retriesMax: 1, retryBackoffMs: 10, retryBackoffMsMax: 10 } })
  await t.rejects(anonymous.admin().listTopics(), 'a client without credentials is refused')
  await anonymous.close()
  t.match(readFileSync(path.join(dataDir, 'security', 'admin.properties'), 'utf8'), /security.protocol=SASL_SSL/, 'admin.properties is a --command-config for the CLI')
  first.child.kill('SIGINT')
  t.equal(await first.exited, 0, 'it stops cleanly')

  const second = launch(t, args)
  await waitFor(() => second.output().includes('CLI: '), { what: 'the restarted secure cluster', timeoutMs: 60_000 })
  t.notMatch(second.output(), /printed this once/, 'a restart prints no password')
  await asAdmin()
  t.pass('the same admin password works after the restart')
  second.child.kill('SIGINT')
  t.equal(await second.exited, 0)
})

t.test('bad arguments and a missing config directory exit 1 with a message', async (t) => {
  const bad = launch(t, ['--no-such-flag'])
  t.equal(await bad.exited, 1)
  t.match(bad.output(), /no-such-flag/)
  const missing = launch(t, ['--config-dir', path.join(tempDir(t), 'nope')])
  t.equal(await missing.exited, 1)
  t.match(missing.output(), /does not exist/)
})
