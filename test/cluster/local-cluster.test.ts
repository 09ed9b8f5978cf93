// `npm start`'s cluster launcher as a user runs it: brokers from a config directory, ready line,
// a working cluster, and a clean stop on SIGINT. It runs in its own process group so teardown
// can reap the launcher and every broker it started, even if the test fails midway.

import { spawn, type ChildProcess } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { Strand } from '../../client/index.js'
import { tempDir, type Teardown } from '../helpers/broker-process.js'
import { freePorts, quorumVoters } from '../helpers/ports.js'
import { waitFor } from '../helpers/wait.js'

const LAUNCHER = path.join(import.meta.dirname, '../../broker/local-cluster.ts')

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

t.test('the local cluster starts, serves, and stops cleanly on SIGINT', async (t) => {
  const configDir = tempDir(t)
  const dataDir = tempDir(t)
  const ports = await freePorts(3)
  const voters = quorumVoters(ports)
  for (const [i, port] of ports.entries()) {
    const config = { 'node.id': i + 1, 'listener.port': port, 'data.dir': `unused-${i + 1}`, 'controller.quorum.voters': voters, 'controller.quorum.election.timeout.ms': 300, 'controller.quorum.heartbeat.interval.ms': 50, 'broker.heartbeat.interval.ms': 100 }
    await writeFile(path.join(configDir, `broker-${i + 1}.json`), JSON.stringify(config))
  }
  const run = launch(t, ['--config-dir', configDir, '--data-dir', dataDir])
  await waitFor(() => run.output().includes('Strand cluster ready'), { what: 'the ready line', timeoutMs: 60_000 })
  const bootstrap = /Bootstrap: (\S+)/.exec(run.output())?.[1]
  t.equal(bootstrap, ports.map((p) => `127.0.0.1:${p}`).join(','), 'it prints the bootstrap address')

  const strand = new Strand({ brokers: bootstrap!.split(',') })
  t.teardown(() => strand.close())
  await strand.admin().createTopic({ topic: 'hello', partitions: 3, replicationFactor: 1 })
  const [ack] = await strand.producer({ acks: 1 }).send({ topic: 'hello', messages: [{ value: 'world' }] })
  t.equal(ack?.offset, 0n, 'the cluster takes writes')
  await strand.close()

  run.child.kill('SIGINT')
  t.equal(await run.exited, 0, 'SIGINT stops it with exit code 0')
  t.match(run.output(), /all brokers stopped cleanly/)
})

t.test('bad arguments and a missing config directory exit 1 with a message', async (t) => {
  const bad = launch(t, ['--no-such-flag'])
  t.equal(await bad.exited, 1)
  t.match(bad.output(), /no-such-flag/)
  const missing = launch(t, ['--config-dir', path.join(tempDir(t), 'nope')])
  t.equal(await missing.exited, 1)
  t.match(missing.output(), /does not exist/)
})
