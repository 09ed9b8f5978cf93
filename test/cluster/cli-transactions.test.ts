// `strand transactions list|describe` and `strand groups describe --isolation`, run as users run
// them (child processes through client/bin/strand.mjs) against three real broker processes: an
// open transaction over two partitions shows as Ongoing with its partitions, producer id, epoch
// and timeout in describe and in list (and list's --state and --producer-id filters pick it out);
// once committed it is CompleteCommit with no partitions; an id no producer initialized exits 1
// naming TRANSACTIONAL_ID_NOT_FOUND; and while the transaction is open, a group's lag under
// read_committed is measured from the last stable offset (the transaction's first record), not the
// high watermark, so it differs from read_uncommitted's until the commit.

import t from 'tap'
import { strand } from '../helpers/cli.js'
import { TestCluster } from '../helpers/cluster.js'
import { waitFor } from '../helpers/wait.js'

const TOPIC = 'orders'
/** Long enough that the coordinator never aborts the open transaction during the test. */
const TXN_TIMEOUT_MS = 45_000

interface Listed {
  transactionalId: string
  producerId: string
  state: string
  coordinatorId: number
}

interface Described {
  transactionalId: string
  coordinatorId: number
  state: string
  producerId: string
  producerEpoch: number
  timeoutMs: number
  startTimeMs: number
  partitions: Array<{ topic: string; partition: number }>
}

/** What `run` needs of a test. */
type Checks = Pick<typeof t, 'equal'>

interface GroupDescribed {
  isolation: string
  partitions: Array<{ topic: string; partition: number; committed: string | null; highWatermark: string; lag: string | null }>
}

t.test('transactions list / describe, and groups describe --isolation read_committed', async (t) => {
  const cluster = await TestCluster.start(t, { overrides: { 'transaction.state.log.num.partitions': 3, 'offsets.topic.num.partitions': 1, 'group.initial.rebalance.delay.ms': 0 } })
  const b = ['--bootstrap', cluster.bootstrap.join(',')]
  const json = [...b, '--json']
  const client = cluster.client('cli-transactions', { requestTimeoutMs: 10_000 })
  const admin = client.admin()
  await admin.createTopic({ topic: TOPIC, partitions: 3, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } })

  /** The command's stdout; its exit code is checked in the (sub)test `tt`. */
  const run = async (tt: Checks, args: string[]): Promise<string> => {
    const r = await strand(args)
    tt.equal(r.code, 0, `strand ${args.filter((a) => !a.includes(':')).join(' ')} exits 0 ${r.stderr}`)
    return r.stdout
  }
  const describe = async (tt: Checks, id: string): Promise<Described> => JSON.parse(await run(tt, ['transactions', 'describe', id, ...json])) as Described
  const list = async (tt: Checks, ...filters: string[]): Promise<Listed[]> => (JSON.parse(await run(tt, ['transactions', 'list', ...filters, ...json])) as { transactions: Listed[] }).transactions
  const groupLags = async (tt: Checks, isolation: string): Promise<GroupDescribed> => JSON.parse(await run(tt, ['groups', 'describe', 'billing', '--isolation', isolation, ...json])) as GroupDescribed
  const stateOf = async (id: string): Promise<string> => (await admin.describeTransactions([id]))[0]!.state

  // Two committed records on partitions 0 and 1, and a group that has read them.
  const plain = client.producer({ acks: 'all' })
  await plain.send({ topic: TOPIC, messages: [0, 0, 1, 1].map((partition, i) => ({ partition, value: `plain-${i}` })) })
  await plain.close()
  await admin.commitGroupOffsets('billing', [{ topic: TOPIC, partition: 0, offset: 2n }, { topic: TOPIC, partition: 1, offset: 2n }])

  // A committed transaction of another id, so that the state filter has something to leave out.
  const audit = client.producer({ transactionalId: 'audit-tx', lingerMs: 1 })
  await audit.initTransactions()
  audit.beginTransaction()
  await audit.send({ topic: TOPIC, messages: [{ partition: 2, value: 'audit' }] })
  await audit.commitTransaction()
  await audit.close()
  await waitFor(async () => (await stateOf('audit-tx')) === 'CompleteCommit', { what: 'audit-tx to complete its commit', timeoutMs: 20_000, intervalMs: 50 })

  // The open transaction: 3 records on partition 0, 2 on partition 1, not committed.
  const producer = client.producer({ transactionalId: 'orders-tx', transactionTimeoutMs: TXN_TIMEOUT_MS, lingerMs: 1 })
  await producer.initTransactions()
  const beganMs = Date.now()
  producer.beginTransaction()
  await producer.send({ topic: TOPIC, messages: [0, 0, 0, 1, 1].map((partition, i) => ({ partition, value: `txn-${i}` })) })

  await t.test('an open transaction: Ongoing, with its partitions, producer and timeout', async (t) => {
    const d = await describe(t, 'orders-tx')
    t.equal(d.state, 'Ongoing')
    t.same(d.partitions, [{ topic: TOPIC, partition: 0 }, { topic: TOPIC, partition: 1 }], 'the two partitions written')
    t.equal(d.producerEpoch, 0, 'the first instance of the id: epoch 0')
    t.equal(d.timeoutMs, TXN_TIMEOUT_MS, "the producer's transaction timeout")
    t.ok(BigInt(d.producerId) >= 0n, `a producer id (${d.producerId})`)
    t.ok(d.startTimeMs >= beganMs - 5_000 && d.startTimeMs <= Date.now(), 'started when the first partition was added')
    t.ok(cluster.ids.includes(d.coordinatorId), `coordinated by broker ${d.coordinatorId}`)

    const human = await run(t, ['transactions', 'describe', 'orders-tx', ...b])
    t.match(human, new RegExp(`^Transactional id orders-tx: state Ongoing, producer id ${d.producerId}, epoch 0, timeout ${TXN_TIMEOUT_MS} ms, started \\d{4}-\\d\\d-\\d\\dT[^,]+Z, coordinator broker ${d.coordinatorId}\\n`))
    t.match(human, /TOPIC\s+PARTITION\norders\s+0\norders\s+1\n?$/)

    const all = await list(t)
    t.same(all.map((x) => [x.transactionalId, x.state]), [['audit-tx', 'CompleteCommit'], ['orders-tx', 'Ongoing']], 'list: both ids, sorted, with their states')
    t.same(all.find((x) => x.transactionalId === 'orders-tx'), { transactionalId: 'orders-tx', producerId: d.producerId, state: 'Ongoing', coordinatorId: d.coordinatorId }, 'the same producer id and coordinator as describe')
    t.same((await list(t, '--state', 'Ongoing')).map((x) => x.transactionalId), ['orders-tx'], '--state Ongoing: the open one only')
    t.same((await list(t, '--state', 'CompleteCommit')).map((x) => x.transactionalId), ['audit-tx'], '--state CompleteCommit: the committed one only')
    t.same((await list(t, '--producer-id', d.producerId)).map((x) => x.transactionalId), ['orders-tx'], '--producer-id picks the producer')
    const table = await run(t, ['transactions', 'list', '--state', 'Ongoing', ...b])
    t.match(table, new RegExp(`^TRANSACTIONAL ID\\s+PRODUCER ID\\s+STATE\\s+COORDINATOR\\norders-tx\\s+${d.producerId}\\s+Ongoing\\s+${d.coordinatorId}\\n?$`))
  })

  await t.test('groups describe: read_committed lag stops at the open transaction', async (t) => {
    const uncommitted = await groupLags(t, 'read_uncommitted')
    const committed = await groupLags(t, 'read_committed')
    t.equal(committed.isolation, 'read_committed')
    const rows = (g: GroupDescribed) => g.partitions.map((p) => [p.partition, p.committed, p.highWatermark, p.lag])
    t.same(rows(uncommitted), [[0, '2', '5', '3'], [1, '2', '4', '2']], 'read_uncommitted: the open transaction\'s records count as lag')
    t.same(rows(committed), [[0, '2', '2', '0'], [1, '2', '2', '0']], 'read_committed: the last stable offset is the transaction\'s first record, no lag')
    const human = await run(t, ['groups', 'describe', 'billing', '--isolation', 'read_committed', ...b])
    t.match(human, /TOPIC\s+PARTITION\s+COMMITTED\s+LAST STABLE\s+LAG\s+MEMBER\s+CLIENT ID\norders\s+0\s+2\s+2\s+0/)
  })

  await producer.commitTransaction()
  await waitFor(async () => (await stateOf('orders-tx')) === 'CompleteCommit', { what: 'orders-tx to complete its commit', timeoutMs: 20_000, intervalMs: 50 })

  await t.test('once committed: CompleteCommit, no partitions', async (t) => {
    const d = await describe(t, 'orders-tx')
    t.equal(d.state, 'CompleteCommit')
    t.same(d.partitions, [], 'no partitions in a transaction')
    t.equal(d.startTimeMs, -1, 'no open transaction')
    t.equal(d.producerEpoch, 1, 'the epoch its next transaction runs under: one per transaction (EndTxn v1)')
    t.match(await run(t, ['transactions', 'describe', 'orders-tx', ...b]), /state CompleteCommit, .*no open transaction.*\n\nNo partitions in a transaction\./)
    t.same(await list(t, '--state', 'Ongoing'), [], 'nothing is Ongoing any more')
    t.match(await run(t, ['transactions', 'list', '--state', 'Ongoing', ...b]), /^No transactional id matches\./)
    // The commit markers follow the records: once followers have them, the last stable offset is the high watermark.
    const stable = async () => (await admin.groupOffsets('billing', { isolationLevel: 'read_committed' })).map((p) => String(p.highWatermark))
    await waitFor(async () => (await stable()).join() === '6,5', { what: 'the last stable offset to pass the commit markers', timeoutMs: 20_000, intervalMs: 50 })
    const lags = async (isolation: string) => (await groupLags(t, isolation)).partitions.map((p) => [p.partition, p.highWatermark, p.lag])
    const expected = [[0, '6', '4'], [1, '5', '3']]
    t.same(await lags('read_committed'), expected, 'read_committed: records and commit marker, up to the log end')
    t.same(await lags('read_uncommitted'), expected, 'the same as read_uncommitted')
  })
  await producer.close()

  await t.test('an id no producer initialized: exit 1, TRANSACTIONAL_ID_NOT_FOUND', async (t) => {
    const r = await strand(['transactions', 'describe', 'nobody-tx', ...b])
    t.equal(r.code, 1)
    t.match(r.stderr, /^strand: TRANSACTIONAL_ID_NOT_FOUND: The transactional id is not known to its coordinator: no producer has initialized it\. Transactional id "nobody-tx" \(coordinator: broker \d\)\./)
    t.equal(r.stdout, '')
  })
})

t.test('bad transactions arguments exit 2 with a message, before connecting', async (t) => {
  const nowhere = ['--bootstrap', '127.0.0.1:1']
  const cases: Array<[string[], RegExp]> = [
    [['transactions', 'describe'], /needs a transactional id/],
    [['transactions', 'frob'], /Unknown action "frob"; expected list or describe/],
    [['transactions', 'list', 'x'], /Unexpected argument "x"/],
    [['transactions', 'list', '--state', 'Frozen'], /--state must be one of Empty, Ongoing, PrepareCommit, PrepareAbort, CompleteCommit, CompleteAbort, not "Frozen"/],
    [['transactions', 'list', '--producer-id', '-1'], /--producer-id/],
    [['transactions', 'describe', 't', '--state', 'Ongoing'], /options of strand transactions list/],
    [['groups', 'describe', 'g', '--isolation', 'serializable'], /--isolation must be read_uncommitted or read_committed/],
    [['groups', 'list', '--isolation', 'read_committed'], /--isolation is an option of strand groups describe/],
  ]
  for (const [args, message] of cases) {
    const r = await strand([...args, ...nowhere])
    t.equal(r.code, 2, `strand ${args.join(' ')} exits 2`)
    t.match(r.stderr, message)
  }
  const help = await strand(['transactions', '--help'])
  t.equal(help.code, 0)
  t.match(help.stdout, /strand transactions describe <transactionalId>/)
  t.match((await strand(['--help'])).stdout, /strand transactions list \[--state S\]/)
})
