// Change data capture end to end, on three real broker processes:
// - the demo's convergence check (client/cdc/demo/run.ts) with a seeded, smaller workload: a
//   source table synced into two replica files by sink processes, one SIGKILLed and restarted
//   midway, the row schema migrated midway; each replica must equal the source row by row;
// - an in-process sink: reads rows written with schema v1 and v2 through the schema topic with a
//   v2 reader, resumes after close() from its committed offsets, and a new group bootstraps a
//   fresh replica from the compacted topic.

import t from 'tap'
import { ChangeCapture, ChangeSink, MemoryStore, type Strand } from '../../client/index.js'
import { runDemo } from '../../client/cdc/demo/run.js'
import { ACCOUNT_V1, ACCOUNT_V2, type Account } from '../../client/cdc/demo/workload.js'
import { tempDir } from '../helpers/broker-process.js'
import { TestCluster } from '../helpers/cluster.js'
import { testSeed } from '../helpers/random.js'
import { waitFor } from '../helpers/wait.js'

// The cleaner looks for dirty compacted logs twice a second, so compaction happens within a test.
const cluster = await TestCluster.start(t, { overrides: { 'log.cleaner.backoff.ms': 500, 'offsets.topic.num.partitions': 6 } })
const WAIT = { timeoutMs: 30_000, intervalMs: 50 }
const SINK_GROUP = { sessionTimeoutMs: 2_000, heartbeatIntervalMs: 200, rebalanceTimeoutMs: 8_000, maxWaitMs: 100 }

t.test("the demo's check: two replicas, one sink killed and restarted midway, each equals the source", async (t) => {
  const seed = testSeed()
  const lines: string[] = []
  const result = await runDemo({
    bootstrap: cluster.bootstrap,
    rows: 500,
    changes: 3_000,
    seed,
    ratePerSec: 2_000,
    dir: tempDir(t, 'strand-cdc-replicas-'),
    partitions: 6,
    replicationFactor: 3,
    runId: `t${seed}`,
    sessionTimeoutMs: 2_000,
    catchUpTimeoutMs: 25_000,
    deleteTopics: false,
    log: (line) => lines.push(line),
  })
  const context = `seed ${seed}; demo output:\n${lines.join('\n')}`
  t.equal(result.replicas.length, 2)
  for (const r of result.replicas) {
    t.same(r.diff, { missing: [], extra: [], different: [] }, `replica ${r.name} equals the source row by row (${r.rows} rows; ${context})`)
    t.equal(r.rows, result.sourceRows)
  }
  t.equal(result.replicas[0]!.processes, 2, 'sink A ran as two processes: killed, then restarted')
  t.ok(result.sourceRows > 0 && result.sourceRows < 500, `deletes left ${result.sourceRows} of 500 rows`)
  t.ok(result.ok)
})

async function expectRows(store: MemoryStore<Account>, expected: Map<string, object>, what: string): Promise<void> {
  const want = JSON.stringify([...expected].sort())
  await waitFor(() => JSON.stringify([...store.rows()].map(([k, v]) => [k, JSON.parse(JSON.stringify(v))]).sort()) === want, { ...WAIT, what })
}

function sink(strand: Strand, groupId: string, store: MemoryStore<Account>): { sink: ChangeSink; running: Promise<void> } {
  const s = new ChangeSink(strand, { topic: 'shop.cdc', groupId, stores: { accounts: store }, readerSchemas: { accounts: ACCOUNT_V2 }, consumer: SINK_GROUP, flushIntervalMs: 50 })
  return { sink: s, running: s.run() }
}

t.test('a sink reads v1 and v2 rows with a v2 reader, resumes from its commits, and a new group bootstraps from the compacted topic', async (t) => {
  const strand = cluster.client('cdc-sink')
  const configs = { 'segment.bytes': '2048', 'min.cleanable.dirty.ratio': '0.01', 'delete.retention.ms': '600000' }
  const v1 = new ChangeCapture<Account>(strand, { topic: 'shop.cdc', tables: { accounts: ACCOUNT_V1 }, partitions: 2, replicationFactor: 3, configs })
  const expected = new Map<string, object>()
  let version = 0n
  for (let id = 1; id <= 20; id++) {
    await v1.insert('accounts', String(id), { id, owner: `o${id}`, balance: id }, { version: ++version })
    expected.set(String(id), { id, owner: `o${id}`, balance: id, tier: 'basic' })
  }
  await v1.delete('accounts', '20', { id: 20, owner: 'o20', balance: 20 }, { version: ++version })
  expected.delete('20')
  await v1.close()
  const v2 = new ChangeCapture<Account>(strand, { topic: 'shop.cdc', tables: { accounts: ACCOUNT_V2 } })
  await v2.update('accounts', '1', null, { id: 1, owner: 'o1', balance: 100, tier: 'gold' }, { version: ++version })
  expected.set('1', { id: 1, owner: 'o1', balance: 100, tier: 'gold' })

  const first = new MemoryStore<Account>()
  const a = sink(strand, 'replica-1', first)
  await expectRows(first, expected, 'the first sink to apply every change')
  t.pass('v1 rows read with the v2 reader get tier "basic"; the v2 row keeps "gold"; the deleted row is gone')
  await a.sink.close()
  await a.running
  const applied = a.sink.stats().applied
  t.ok(a.sink.stats().commits > 0, 'it committed')

  // Changes made while no sink runs; a new sink of the same group starts where the first stopped.
  for (let round = 0; round < 30; round++) {
    await v2.update('accounts', '2', null, { id: 2, owner: 'o2', balance: 1000 + round, tier: 'silver' }, { version: ++version })
  }
  expected.set('2', { id: 2, owner: 'o2', balance: 1029, tier: 'silver' })
  const resumed = new MemoryStore<Account>()
  const b = sink(strand, 'replica-1', resumed)
  await waitFor(() => resumed.get('2')?.version === version, { ...WAIT, what: 'the resumed sink to apply the new changes' })
  t.equal(resumed.rows().size, 1, `the resumed sink read only what came after the commit (it applied ${applied} before)`)
  const st = b.sink.stats()
  // The cleaner may already have compacted some of the 30 away: at most 30 are read, none stale.
  t.ok(st.records >= 1 && st.records <= 30 && st.stale === 0, `it read ${st.records} records from the committed offsets on, none a replay`)
  await b.sink.close()
  await b.running

  // Force compaction of the rows' history (key 2 has 31 records), then bootstrap a new replica.
  await waitFor(async () => {
    const admin = strand.admin()
    try {
      const ends = await Promise.all([0, 1].map((partition) => admin.listOffsets({ topic: 'shop.cdc', partition, timestamp: 'latest' })))
      const total = ends.reduce((n, e) => n + e.offset, 0n)
      const fresh = new MemoryStore<Account>()
      const c = sink(strand, `probe-${Date.now()}`, fresh)
      try {
        await expectRows(fresh, expected, 'a fresh replica to bootstrap')
      } finally {
        await c.sink.close()
        await c.running
      }
      // A compacted history reads fewer records than were written.
      return BigInt(c.sink.stats().records) < total ? { read: c.sink.stats().records, total } : false
    } finally {
      await admin.close()
    }
  }, { ...WAIT, what: 'a fresh replica bootstrapped from the compacted topic, reading fewer records than were written' })
  t.pass('a new group bootstraps an equal replica from the compacted topic')
  await v2.close()
})
