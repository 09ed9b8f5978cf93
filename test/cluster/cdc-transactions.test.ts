// Source transactions through CDC on three real broker processes (client/cdc/capture.ts
// transaction(), client/cdc/sink.ts read_committed by default):
// - a bank (test/helpers/cdc-bank.ts) whose source is a process of its own, SIGKILLed with a
//   transaction open (a debit and a ledger DELETE acknowledged, the credit never sent), then
//   restarted under the same transactionalId, which fences it and aborts that transaction. A
//   read_committed sink never applies a change of the killed transaction, applies every committed
//   one whole, ends equal to the replay of the committed transactions with the balances' sum
//   unchanged, and commits offsets from which a sink of its group resumes reading only what was
//   committed since (markers and aborted records are never handed out); a read_uncommitted sink on the same topic does apply the killed transaction's changes, which
//   shows the check can fail;
// - in one process: a callback that throws aborts, a change of the capture itself is a
//   transaction of its own, nesting is refused, and a second capture with the same
//   transactionalId fences the first in the middle of its transaction (PRODUCER_FENCED).

import { spawn, type ChildProcess } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { ChangeCapture, ChangeSink, type Strand } from '../../client/index.js'
import type { IsolationLevel } from '../../client/consumer/consumer.js'
import { tempDir, type Teardown } from '../helpers/broker-process.js'
import {
  accountIds,
  ACCOUNT_TABLES,
  BANK_SCHEMAS,
  BANK_TABLES,
  LEDGER_TABLE,
  liveRows,
  OPENING_BALANCE,
  OPENING_LEDGER_KEY,
  RecordingStores,
  type AppliedChange,
  replay,
  type AccountRow,
  type PrintedTransaction,
} from '../helpers/cdc-bank.js'
import { TestCluster } from '../helpers/cluster.js'
import { testSeed } from '../helpers/random.js'
import { waitFor } from '../helpers/wait.js'

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'helpers', 'cdc-bank-child.ts')
const WAIT = { timeoutMs: 30_000, intervalMs: 50 }
const SINK_GROUP = { sessionTimeoutMs: 2_000, heartbeatIntervalMs: 200, rebalanceTimeoutMs: 8_000, maxWaitMs: 100 }
const PARTITIONS = 6

const cluster = await TestCluster.start(t, { overrides: { 'transaction.state.log.num.partitions': 3, 'offsets.topic.num.partitions': 3 } })

interface Source {
  child: ChildProcess
  /** Parsed stdout lines: commit, open, done. */
  commits: PrintedTransaction[]
  open: PrintedTransaction | null
  done: boolean
  stderr: () => string
  exited: Promise<void>
}

/** Spawns the bank's source; it is SIGKILLed and reaped at teardown, whatever the test's outcome. */
function startSource(t: Teardown, args: string[]): Source {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, '--bootstrap', cluster.bootstrap.join(','), '--partitions', String(PARTITIONS), ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited
  })
  const source: Source = { child, commits: [], open: null, done: false, stderr: () => err, exited }
  let out = ''
  let err = ''
  child.stdout!.setEncoding('utf8')
  child.stdout!.on('data', (chunk: string) => {
    out += chunk
    for (let nl = out.indexOf('\n'); nl >= 0; nl = out.indexOf('\n')) {
      const line = out.slice(0, nl)
      out = out.slice(nl + 1)
      const space = line.indexOf(' ')
      const word = space < 0 ? line : line.slice(0, space)
      if (word === 'commit') source.commits.push(JSON.parse(line.slice(space + 1)) as PrintedTransaction)
      else if (word === 'open') source.open = JSON.parse(line.slice(space + 1)) as PrintedTransaction
      else if (word === 'done') source.done = true
    }
  })
  child.stderr!.setEncoding('utf8')
  child.stderr!.on('data', (chunk: string) => {
    err += chunk
  })
  return source
}

function startSink(t: Teardown, strand: Strand, topic: string, groupId: string, tables: readonly string[], isolationLevel?: IsolationLevel): { sink: ChangeSink; recording: RecordingStores; running: Promise<void> } {
  const recording = new RecordingStores(tables)
  const sink = new ChangeSink(strand, { topic, groupId, stores: recording.targets(), consumer: SINK_GROUP, flushIntervalMs: 50, ...(isolationLevel === undefined ? {} : { isolationLevel }) })
  const running = sink.run()
  t.teardown(async () => {
    await sink.close()
    await running.catch(() => undefined)
  })
  return { sink, recording, running }
}

const changeId = (c: { table: string; key: string; version: bigint | string }): string => `${c.table}:${c.key}@${c.version}`

/** The group's committed offset of each partition of `topic`, with its lag. */
async function groupOffsets(strand: Strand, groupId: string, topic: string): Promise<Array<{ partition: number; committed: bigint; lag: bigint }>> {
  const admin = strand.admin()
  try {
    return (await admin.groupOffsets(groupId)).filter((o) => o.topic === topic).map(({ partition, committed, lag }) => ({ partition, committed, lag }))
  } finally {
    await admin.close()
  }
}

t.test('a bank: a source killed mid-transaction and restarted; read_committed applies committed transactions whole, never the killed one', async (t) => {
  const seed = testSeed()
  const context = `seed ${seed}`
  const topic = 'bank.cdc'
  const strand = cluster.client('cdc-bank-test')

  // Run 1: the opening transaction and 8 transfers committed, then one left open and killed.
  const first = startSource(t, ['--transactional-id', 'bank-source', '--topic', topic, '--run', 'r1', '--seed', String(seed), '--commit', '8', '--hold-open'])
  await waitFor(() => first.open !== null || first.child.exitCode !== null, { ...WAIT, what: 'the first source to leave a transaction open' })
  t.ok(first.open !== null, `the first source committed ${first.commits.length} transactions and left one open (${context}; stderr: ${first.stderr()})`)
  first.child.kill('SIGKILL')
  await first.exited
  const killed = first.open as PrintedTransaction
  // By the row's txn, not by key and version: the restarted source gives its own change of the
  // debited account the version the killed one had. No committed transaction deletes the ledger
  // row "opening", so any delete of it is the killed transaction's.
  const isKilled = (a: AppliedChange): boolean =>
    killed.changes.some((c) => c.table === a.table && c.key === a.key && (c.row === null ? a.operation === 'delete' : (a.row as AccountRow | null)?.txn === killed.txn))

  // Sinks start with the dead source's transaction still open: the read_committed one cannot read
  // past it on its partitions; the read_uncommitted one reads it at once.
  const committed = startSink(t, strand, topic, 'bank-committed', BANK_TABLES)
  const uncommitted = startSink(t, strand, topic, 'bank-uncommitted', BANK_TABLES, 'read_uncommitted')
  await waitFor(() => uncommitted.recording.applied.filter(isKilled).length === killed.changes.length, { ...WAIT, what: 'the read_uncommitted sink to apply the open transaction\'s changes' })
  t.pass('a read_uncommitted sink applies the changes of the open transaction (the checker below can fail)')

  // Run 2: the source restarts from the committed state under the same id: fences run 1 and
  // aborts its open transaction, then commits 8 more transfers.
  const dir = tempDir(t, 'strand-cdc-bank-')
  const stateFile = path.join(dir, 'state.json')
  writeFileSync(stateFile, JSON.stringify(replay({}, first.commits)))
  const second = startSource(t, ['--transactional-id', 'bank-source', '--topic', topic, '--run', 'r2', '--seed', String(seed + 1), '--commit', '8', '--state', stateFile])
  await waitFor(() => second.done || second.child.exitCode !== null, { ...WAIT, what: 'the restarted source to commit its transactions' })
  t.ok(second.done, `the restarted source committed ${second.commits.length} transactions (stderr: ${second.stderr()})`)
  await second.exited

  const txns = [...first.commits, ...second.commits]
  const expected = liveRows(replay({}, txns))
  await waitFor(() => JSON.stringify(committed.recording.liveRows()) === JSON.stringify(expected), { ...WAIT, what: 'the read_committed sink to equal the replay of the committed transactions' })
  t.same(committed.recording.liveRows(), expected, `the read_committed sink equals the replay of the ${txns.length} committed transactions (${context})`)
  t.equal(committed.recording.totalBalance(), accountIds().length * OPENING_BALANCE, 'the sum of the balances is unchanged')
  t.ok(committed.recording.stores[LEDGER_TABLE]!.rows().has(OPENING_LEDGER_KEY), 'the ledger row only the killed transaction deleted is there')

  const applied = committed.recording.applied
  t.same(applied.filter(isKilled), [], `the read_committed sink never applied a change of the killed transaction ${killed.txn}`)
  const committedIds = txns.flatMap((x) => x.changes.map(changeId)).sort()
  t.same(applied.map(changeId).sort(), committedIds, 'it applied every change of every committed transaction, once each, and nothing else')
  for (const table of ACCOUNT_TABLES) t.ok(applied.some((a) => a.table === table), `changes of table ${table} were applied`)
  t.equal(uncommitted.recording.applied.filter(isKilled).length, killed.changes.length, `the read_uncommitted sink did apply the killed transaction's ${killed.changes.length} changes (its debit and its DELETE)`)

  // Offsets with markers and aborted records in the log: what the sink committed is past every
  // change it applied, and a sink of the same group resuming from there reads none of them again
  // nor anything of the aborted transaction: only what is committed after it.
  await committed.sink.close()
  await committed.running
  const ends = new Map<number, bigint>()
  for (const a of applied) if (a.offset + 1n > (ends.get(a.partition) ?? 0n)) ends.set(a.partition, a.offset + 1n)
  const offsets = await groupOffsets(strand, 'bank-committed', topic)
  for (const [partition, end] of ends) {
    const o = offsets.find((x) => x.partition === partition)
    t.ok(o !== undefined && o.committed >= end, `partition ${partition}: committed ${o?.committed} is past its last applied change (${end}); lag ${o?.lag}`)
  }
  const sentinel = new ChangeCapture(strand, { topic, tables: BANK_SCHEMAS, transactionalId: 'bank-source' })
  await sentinel.transaction(async (tx) => {
    await tx.insert(LEDGER_TABLE, 'sentinel', { txn: 'sentinel', from: '', to: '', amount: 0 }, { version: 1n })
  })
  await sentinel.close()
  const resumed = startSink(t, strand, topic, 'bank-committed', BANK_TABLES)
  await waitFor(() => resumed.recording.applied.length > 0, { ...WAIT, what: 'the resumed sink to apply the change committed after it stopped' })
  t.same(resumed.recording.applied.map(changeId), [`${LEDGER_TABLE}:sentinel@1`], 'the resumed sink applied only the change committed after the commit, nothing twice, nothing aborted')
  t.equal(resumed.sink.stats().records, 1, 'and read no other record: the markers and aborted records under its offsets are never handed out')
})

t.test('in one process: abort on throw, a change of its own transaction, nesting refused, fencing mid-transaction', async (t) => {
  const strand = cluster.client('cdc-fence-test')
  const topic = 'fence.cdc'
  const options = { topic, tables: BANK_SCHEMAS, partitions: 3, replicationFactor: 3, transactionalId: 'fence-source' }
  const a = new ChangeCapture(strand, options)
  const row = (id: string, balance: number, txn: string): AccountRow => ({ id, balance, txn })
  // Timestamps strictly increasing: an aborted change and the committed one that reuses its
  // version never tie, so the read_uncommitted sink applies each in turn.
  let timestamp = Date.now()
  const v = (version: bigint): { version: bigint; timestamp: number } => ({ version, timestamp: ++timestamp })

  await a.transaction(async (tx) => {
    await tx.insert('checking', 'k1', row('k1', 10, 'a-1'), v(1n))
    await tx.insert('savings', 'k2', row('k2', 20, 'a-1'), v(1n))
  })
  const boom = new Error('the source rolled back')
  const thrown = await a.transaction(async (tx) => {
    await tx.update('checking', 'k1', row('k1', 10, 'a-1'), row('k1', 999, 'rolled-back'), v(2n))
    throw boom
  }).catch((err: unknown) => err)
  t.equal(thrown, boom, 'a callback that throws aborts the transaction, and its error is rethrown')
  const refused = await a.transaction(async (tx) => {
    await tx.update('checking', 'k1', row('k1', 10, 'a-1'), row('k1', 998, 'half'), v(2n))
    await tx.insert('nope', 'k1', row('k1', 0, 'half'), v(1n)).catch(() => undefined)
  }).catch((err: unknown) => err)
  t.match(refused, { code: 'INVALID_ARGUMENT' }, 'a change refused by its checks aborts its transaction even when the callback catches it')

  await a.transaction(async (tx) => {
    await t.rejects(a.insert('checking', 'k9', row('k9', 1, 'nested'), v(1n)), { code: 'ILLEGAL_STATE' }, 'the capture\'s own insert inside a callback is refused, not left to wait for the transaction it is in')
    await t.rejects(a.transaction(async () => undefined), { code: 'ILLEGAL_STATE' }, 'so is a nested transaction()')
    await tx.update('checking', 'k1', row('k1', 10, 'a-1'), row('k1', 5, 'a-2'), v(2n))
    await tx.update('savings', 'k2', row('k2', 20, 'a-1'), row('k2', 25, 'a-2'), v(2n))
  })
  await a.insert('ledger', 'l1', { txn: 'a-3', from: 'k1', to: 'k2', amount: 5 }, v(1n))
  t.pass('a change of the capture itself is a transaction of its own, committed before it resolves')

  // A second capture with the same id starts while the first has a transaction open.
  const b = new ChangeCapture(strand, options)
  const fenced = await a.transaction(async (tx) => {
    await tx.update('checking', 'k1', row('k1', 5, 'a-2'), row('k1', 777, 'zombie'), v(3n))
    await b.start()
    await tx.update('checking', 'k1', row('k1', 777, 'zombie'), row('k1', 778, 'zombie'), v(4n))
  }).catch((err: unknown) => err)
  t.match(fenced, { code: 'PRODUCER_FENCED' }, 'the first capture\'s transaction fails with PRODUCER_FENCED once the second started')
  await t.rejects(a.insert('ledger', 'l2', { txn: 'a-4', from: '', to: '', amount: 0 }, v(1n)), { code: 'PRODUCER_FENCED' }, 'and so does every later change of the first')

  await b.transaction(async (tx) => {
    await tx.update('checking', 'k1', row('k1', 5, 'a-2'), row('k1', 6, 'b-1'), v(3n))
    await tx.delete('savings', 'k2', row('k2', 25, 'a-2'), v(3n))
    await tx.insert('savings', 'k3', row('k3', 24, 'b-1'), v(1n))
  })
  await a.close()
  await b.close()

  const tables = ['checking', 'savings', 'ledger']
  const committed = startSink(t, strand, topic, 'fence-committed', tables)
  const uncommitted = startSink(t, strand, topic, 'fence-uncommitted', tables, 'read_uncommitted')
  const expected = [
    ['checking:k1', row('k1', 6, 'b-1')],
    ['ledger:l1', { txn: 'a-3', from: 'k1', to: 'k2', amount: 5 }],
    ['savings:k3', row('k3', 24, 'b-1')],
  ]
  await waitFor(() => JSON.stringify(committed.recording.liveRows()) === JSON.stringify(expected), { ...WAIT, what: 'the read_committed sink to hold what committed' })
  t.same(committed.recording.liveRows(), expected, 'the read_committed sink holds the committed changes, k2 deleted in a transaction')
  const txnsOf = (r: RecordingStores): Set<string> => new Set(r.applied.map((x) => (x.row as AccountRow | null)?.txn).filter((x): x is string => x !== undefined))
  t.same([...txnsOf(committed.recording)].filter((x) => ['rolled-back', 'half', 'zombie'].includes(x)), [], 'it never applied a change of the aborted or the fenced transactions')
  await waitFor(() => ['rolled-back', 'half', 'zombie'].every((x) => txnsOf(uncommitted.recording).has(x)), { ...WAIT, what: 'the read_uncommitted sink to apply the aborted and the fenced transactions\' changes' })
  t.pass('a read_uncommitted sink did apply them')
})

t.test('a caught-up read_committed sink commits past the commit markers: its group has no lag', async (t) => {
  const strand = cluster.client('cdc-lag-test')
  const topic = 'lag.cdc'
  const capture = new ChangeCapture(strand, { topic, tables: BANK_SCHEMAS, partitions: 3, replicationFactor: 3, transactionalId: 'lag-source' })
  t.teardown(() => capture.close())
  const row = (id: string, balance: number): AccountRow => ({ id, balance, txn: 'lag-1' })
  for (let i = 0; i < 3; i++) {
    await capture.transaction(async (tx) => {
      await tx.insert('checking', `c${i}`, row(`c${i}`, i), { version: 1n })
      await tx.insert('savings', `s${i}`, row(`s${i}`, i), { version: 1n })
    })
  }
  const { sink, recording, running } = startSink(t, strand, topic, 'lag-sink', BANK_TABLES)
  await waitFor(() => recording.applied.length === 6, { ...WAIT, what: 'the sink to apply the 6 committed changes' })
  await sink.close()
  await running
  const offsets = await groupOffsets(strand, 'lag-sink', topic)
  const written = offsets.filter((o) => o.committed > 0n)
  t.ok(written.length > 0, `the sink committed offsets on ${written.length} partitions`)
  // Each transaction ends with a commit marker on each of its partitions, never handed out: a
  // group committing the last applied change's offset + 1 would have lag 1 on each.
  for (const o of written) t.equal(o.lag, 0n, `partition ${o.partition}: committed ${o.committed}, lag 0 (the markers are covered)`)
})
