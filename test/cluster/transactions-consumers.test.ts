// What read_committed consumers see of real transactions (the coordinator, the transactional
// producer and the data plane together, real broker processes): every transaction over three
// partitions whole once committed and never once aborted, read_uncommitted seeing all; and a
// transactional producer SIGKILLed in the middle of a transaction (a process of its own): its
// records are never seen by read_committed, the coordinator aborts the transaction when its
// timeout passes, and the last stable offset moves on, so a transaction committed after it, on
// the same partitions, becomes visible.

import { spawn } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { jsonLines, strand as cli } from '../helpers/cli.js'
import { TestCluster } from '../helpers/cluster.js'
import { watchBothIsolations } from '../helpers/replication.js'
import { waitFor } from '../helpers/wait.js'

const TOPIC = 'txn-seen'
const PARTITIONS = 3
const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'helpers', 'txn-child.ts')

t.test('read_committed consumers see transactions whole or not at all', async (t) => {
  const cluster = await TestCluster.start(t, { overrides: { 'transaction.state.log.num.partitions': 3, 'offsets.topic.num.partitions': 3, 'transaction.abort.timed.out.transaction.cleanup.interval.ms': 200 } })
  const strand = cluster.client('txn-seen', { requestTimeoutMs: 10_000 })
  await strand.admin().createTopic({ topic: TOPIC, partitions: PARTITIONS, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } })
  const { committed, uncommitted } = watchBothIsolations(t, cluster, TOPIC, PARTITIONS)
  const valuesOf = (txn: string): string[] => Array.from({ length: PARTITIONS }, (_, p) => [`${txn}-${p}-a`, `${txn}-${p}-b`]).flat()
  const seen = (w: { seen: Map<string, string> }, txn: string): number => valuesOf(txn).filter((v) => [...w.seen.values()].includes(v)).length

  await t.test('committed transactions are seen whole, aborted ones never', async (t) => {
    const producer = strand.producer({ transactionalId: 'seen-1', lingerMs: 1 })
    const outcomes: Array<{ txn: string; commit: boolean }> = []
    for (let i = 0; i < 6; i++) {
      const txn = `t${i}`
      const commit = i % 3 !== 1
      if (i === 0) await producer.initTransactions()
      producer.beginTransaction()
      await Promise.all(Array.from({ length: PARTITIONS }, (_, p) => producer.send({ topic: TOPIC, messages: [{ partition: p, value: `${txn}-${p}-a` }, { partition: p, value: `${txn}-${p}-b` }] })))
      if (commit) await producer.commitTransaction()
      else await producer.abortTransaction()
      outcomes.push({ txn, commit })
    }
    await producer.close()
    const total = outcomes.length * PARTITIONS * 2
    await waitFor(() => uncommitted.seen.size >= total, { what: 'read_uncommitted to read every record', timeoutMs: 20_000 })
    const wanted = outcomes.filter((o) => o.commit).length * PARTITIONS * 2
    await waitFor(() => committed.seen.size >= wanted, { what: 'read_committed to read every committed record', timeoutMs: 20_000 })
    for (const o of outcomes) {
      t.equal(seen(committed, o.txn), o.commit ? PARTITIONS * 2 : 0, `${o.txn} (${o.commit ? 'committed' : 'aborted'}): read_committed saw ${o.commit ? 'all' : 'none'} of its ${PARTITIONS * 2} records`)
      t.equal(seen(uncommitted, o.txn), PARTITIONS * 2, `${o.txn}: read_uncommitted saw all of them`)
    }
    t.equal(committed.seen.size, wanted, 'and read_committed saw nothing else')
  })

  await t.test('a producer SIGKILLed mid-transaction: aborted at its timeout, never seen, and what follows is', async (t) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, cluster.bootstrap.join(','), 'seen-zombie', TOPIC, String(PARTITIONS), 'z', '1500'], { stdio: ['ignore', 'pipe', 'inherit'] })
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    t.teardown(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      await exited
    })
    let out = ''
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (chunk: string) => {
      out += chunk
    })
    await waitFor(() => out.includes('SENT') || child.exitCode !== null, { what: 'the child producer to send inside its transaction', timeoutMs: 30_000 })
    t.ok(out.includes('SENT'), 'the child producer had its records acknowledged inside an open transaction')
    child.kill('SIGKILL')
    await exited
    await waitFor(() => [...uncommitted.seen.values()].filter((v) => v.startsWith('z-')).length >= PARTITIONS, { what: 'read_uncommitted to see the open transaction', timeoutMs: 20_000 })

    // Committed after the open transaction, on the same partitions: visible only once the
    // coordinator has aborted the dead producer's transaction and the last stable offset moved on.
    const after = strand.producer({ transactionalId: 'seen-after', lingerMs: 1 })
    await after.transaction(async (tx) => {
      await Promise.all(Array.from({ length: PARTITIONS }, (_, p) => tx.send({ topic: TOPIC, messages: [{ partition: p, value: `after-${p}-a` }, { partition: p, value: `after-${p}-b` }] })))
    })
    await after.close()
    await waitFor(() => seen(committed, 'after') === PARTITIONS * 2, { what: 'read_committed to see the transaction committed after the dead one (its timeout passed, the coordinator aborted it)', timeoutMs: 30_000 })
    t.equal(seen(committed, 'after'), PARTITIONS * 2, 'the transaction committed after the dead one is seen whole')
    t.equal([...committed.seen.values()].filter((v) => v.startsWith('z-')).length, 0, 'no record of the dead producer\'s transaction is ever seen by read_committed')
  })

  await t.test('strand consume --isolation read_committed prints only committed records', async (t) => {
    const b = ['--bootstrap', cluster.bootstrap.join(','), '--json']
    const want = [...committed.seen.values()].sort()
    const run = await cli(['consume', TOPIC, '--from-beginning', '--isolation', 'read_committed', '--max-messages', String(want.length), ...b])
    t.equal(run.code, 0, run.stderr)
    t.same(jsonLines<{ value: string }>(run).map((r) => r.value).sort(), want, `the ${want.length} committed records, none of the aborted or the dead producer's`)
    const bad = await cli(['consume', TOPIC, '--isolation', 'serializable', ...b])
    t.not(bad.code, 0, 'an unknown isolation level exits non-zero')
    t.match(bad.stderr, /--isolation must be read_uncommitted or read_committed/, 'with a message saying what is allowed')
  })
})
