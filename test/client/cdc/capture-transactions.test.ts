// The transactional side of ChangeCapture's API (client/cdc/capture.ts) and the sink's isolation
// option (client/cdc/sink.ts), checked without a broker: the options are checked when the capture
// is made, transaction() refuses what it cannot run, a bad change of a transactional capture fails
// alone before anything is sent, and the bound on waiting transactions holds. What transactions do
// on a cluster is test/cluster/cdc-transactions.test.ts.

import t from 'tap'
import { ChangeCapture, ChangeSink, MemoryStore, Strand } from '../../../client/index.js'
import { TRANSACTIONS_WAITING_MAX } from '../../../client/cdc/capture.js'
import type { ProducerOptions } from '../../../client/producer.js'
import type { Teardown } from '../../helpers/broker-process.js'

const ACCOUNT = { type: 'record', name: 'Account', fields: [{ name: 'id', type: 'long' }, { name: 'owner', type: 'string' }] }
const tables = { accounts: ACCOUNT }
type CaptureProducerOptions = NonNullable<ConstructorParameters<typeof ChangeCapture>[1]['producer']>

/** Nothing listens on port 1: a request fails with a connection error, never INVALID_ARGUMENT or ILLEGAL_STATE. */
function offline(t: Teardown): Strand {
  const strand = new Strand({ brokers: ['127.0.0.1:1'], retry: { retriesMax: 0 } })
  t.teardown(() => strand.close())
  return strand
}

t.test('transaction options are checked when the capture is made', async (t) => {
  const strand = offline(t)
  const invalid = { code: 'INVALID_ARGUMENT' }
  t.throws(() => new ChangeCapture(strand, { topic: 't', tables, transactionTimeoutMs: 5000 }), { ...invalid, message: /needs transactionalId/ }, 'a timeout without a transactional id')
  t.throws(() => new ChangeCapture(strand, { topic: 't', tables, transactionalId: '' }), invalid, 'an empty transactional id')
  t.throws(() => new ChangeCapture(strand, { topic: 't', tables, transactionalId: 7 as unknown as string }), invalid, 'a transactional id that is not a string')
  t.throws(() => new ChangeCapture(strand, { topic: 't', tables, transactionalId: 'src', transactionTimeoutMs: 0 }), invalid, 'a timeout of 0')
  t.throws(() => new ChangeCapture(strand, { topic: 't', tables, transactionalId: 'src', transactionTimeoutMs: 1.5 }), invalid, 'a fractional timeout')
  const producer = { transactionalId: 'src' } as ProducerOptions as CaptureProducerOptions
  t.throws(() => new ChangeCapture(strand, { topic: 't', tables, producer }), { ...invalid, message: /on the ChangeCapture options/ }, 'a transactional id in the producer options, which the capture would not run transactions for')
  t.throws(() => new ChangeCapture(strand, { topic: 't', tables, transactionalId: 'src', producer: { idempotent: false } }), invalid, 'idempotent: false with a transactional id')
  const ok = new ChangeCapture(strand, { topic: 't', tables, transactionalId: 'src', transactionTimeoutMs: 5000 })
  await ok.close()
})

t.test('transaction() refuses what it cannot run, before contacting a broker', async (t) => {
  const strand = offline(t)
  const plain = new ChangeCapture(strand, { topic: 't', tables })
  await t.rejects(plain.transaction(async () => undefined), { code: 'ILLEGAL_STATE', message: /transactionalId/ }, 'a capture without a transactional id has no transactions')
  await plain.close()

  const capture = new ChangeCapture(strand, { topic: 't', tables, transactionalId: 'src' })
  await t.rejects(capture.transaction('insert everything' as unknown as () => Promise<void>), { code: 'INVALID_ARGUMENT' }, 'transaction() takes a function')
  await t.rejects(capture.insert('orders', '1', { id: 1, owner: 'a' }, { version: 1n }), { code: 'INVALID_ARGUMENT' }, 'a single change of a transactional capture is checked before its transaction is queued')
  await t.rejects(capture.update('accounts', '1', null, { id: 'one' }, { version: 1n }), { code: 'INVALID_ARGUMENT', message: /at id/ })
  await t.rejects(capture.delete('accounts', '1', null, { version: -1n }), { code: 'INVALID_ARGUMENT' })
  await capture.close()
  await t.rejects(capture.transaction(async () => undefined), { code: 'CLIENT_CLOSED' }, 'after close()')
  await t.rejects(capture.insert('accounts', '1', { id: 1, owner: 'a' }, { version: 1n }), { code: 'CLIENT_CLOSED' })
})

t.test(`at most ${TRANSACTIONS_WAITING_MAX} transactions wait their turn; the next is refused at once`, async (t) => {
  const strand = offline(t)
  const capture = new ChangeCapture(strand, { topic: 't', tables, transactionalId: 'src' })
  const waiting = Array.from({ length: TRANSACTIONS_WAITING_MAX }, (_, i) => capture.insert('accounts', String(i), { id: i, owner: 'a' }, { version: 1n }).then(() => null, (err: unknown) => err))
  await t.rejects(capture.insert('accounts', 'x', { id: 0, owner: 'a' }, { version: 1n }), { code: 'ILLEGAL_STATE', message: /waiting already/ })
  // Each fails to start (nothing listens), one after another, which frees the queue.
  const errors = await Promise.all(waiting)
  t.ok(errors.every((e) => e !== null && (e as { code?: string }).code !== 'ILLEGAL_STATE'), 'the waiting ones ran (and failed to reach a broker)')
  const again = await capture.insert('accounts', 'y', { id: 0, owner: 'a' }, { version: 1n }).then(() => null, (err: unknown) => err as { code?: string })
  t.not(again?.code, 'ILLEGAL_STATE', `once they are done, a new one is queued again (it failed with ${again?.code})`)
  await capture.close()
})

t.test('the sink checks its isolationLevel (that read_committed is its default, the cluster test shows)', async (t) => {
  const strand = offline(t)
  const stores = { accounts: new MemoryStore() }
  t.throws(() => new ChangeSink(strand, { topic: 't', groupId: 'g', stores, isolationLevel: 'serializable' as 'read_committed' }), { code: 'INVALID_ARGUMENT', message: /isolationLevel/ })
  for (const isolationLevel of [undefined, 'read_committed', 'read_uncommitted'] as const) {
    const sink = new ChangeSink(strand, { topic: 't', groupId: 'g', stores, ...(isolationLevel === undefined ? {} : { isolationLevel }) })
    await sink.close()
  }
})
