// ChangeCapture checks every change before anything is sent (client/cdc/capture.ts): an unknown
// table, a row that does not match its schema, a bad key or version fail that call alone, with
// INVALID_ARGUMENT, and no broker is contacted for them.

import t from 'tap'
import { ChangeCapture, Strand } from '../../../client/index.js'

const ACCOUNT = { type: 'record', name: 'Account', fields: [{ name: 'id', type: 'long' }, { name: 'owner', type: 'string' }] }

t.test('bad changes are refused before anything is sent', async (t) => {
  // Nothing listens on port 1: any request would fail with a connection error, not INVALID_ARGUMENT.
  const strand = new Strand({ brokers: ['127.0.0.1:1'], retry: { retriesMax: 0 } })
  t.teardown(() => strand.close())
  const capture = new ChangeCapture(strand, { topic: 'shop.cdc', tables: { accounts: ACCOUNT } })
  const invalid = { code: 'INVALID_ARGUMENT' }
  await t.rejects(capture.insert('orders', '1', { id: 1, owner: 'a' }, { version: 1n }), invalid, 'a table it was not given')
  await t.rejects(capture.insert('accounts', '1', { id: 'one', owner: 'a' }, { version: 1n }), { ...invalid, message: /at id/ }, 'a row that does not match the schema names the field')
  await t.rejects(capture.update('accounts', '1', null, { id: 1 }, { version: 1n }), { ...invalid, message: /at owner/ })
  await t.rejects(capture.insert('accounts', '', { id: 1, owner: 'a' }, { version: 1n }), invalid, 'an empty key')
  await t.rejects(capture.insert('accounts', '1', { id: 1, owner: 'a' }, { version: -1n }), invalid, 'a negative version')
  await t.rejects(capture.insert('accounts', '1', { id: 1, owner: 'a' }, { version: 1.5 }), invalid, 'a fractional version')
  await t.rejects(capture.insert('accounts', '1', { id: 1, owner: 'a' }, { version: 1n, timestamp: -5 }), invalid, 'a negative timestamp')
  await capture.close()
  await t.rejects(capture.insert('accounts', '1', { id: 1, owner: 'a' }, { version: 1n }), { code: 'CLIENT_CLOSED' })
})

t.test('the options are checked when the capture is made', async (t) => {
  const strand = new Strand({ brokers: ['127.0.0.1:1'] })
  t.teardown(() => strand.close())
  t.throws(() => new ChangeCapture(strand, { topic: '', tables: { accounts: ACCOUNT } }), { code: 'INVALID_ARGUMENT' })
  t.throws(() => new ChangeCapture(strand, { topic: 't', tables: {} }), { code: 'INVALID_ARGUMENT' })
  t.throws(() => new ChangeCapture(strand, { topic: 't', tables: { 'bad:table': ACCOUNT } }), { code: 'INVALID_ARGUMENT' })
  t.throws(() => new ChangeCapture(strand, { topic: 't', tables: { accounts: { type: 'nonsense' } } }), { code: 'INVALID_ARGUMENT' })
})
