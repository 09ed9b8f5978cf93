// The `__transaction_state` record format (broker/txn/records.ts): version 1 names the markers a
// decided transaction still owes; version 0 records, which earlier brokers wrote, still load, a
// prepared one owing its own markers.

import t from 'tap'
import { decodeTxnRecord, txnRecord, txnRecordV0, type TxnValue } from '../../../broker/txn/records.js'

const base = { producerId: 7n, producerEpoch: 3, timeoutMs: 60_000, partitions: [{ topic: 'orders', partitions: [0, 2] }], lastUpdateMs: 1000n, startMs: 900n }

t.test('version 1: the state with the owed markers, and without', async (t) => {
  const owed = { producerId: 7n, producerEpoch: 2, markerEpoch: 3, fenced: false, commit: true, partitions: [{ topic: 'orders', partitions: [1] }] }
  const value: TxnValue = { ...base, state: 'Ongoing', owed, ended: { producerId: 7n, producerEpoch: 1, commit: false } }
  const r = txnRecord('tx', value)
  t.equal(r.value!.readUInt8(0), 1, 'written at version 1')
  t.same(decodeTxnRecord(r.key, r.value), { transactionalId: 'tx', value })
  const none = txnRecord('tx', { ...value, state: 'CompleteCommit', owed: null, ended: null })
  t.equal(decodeTxnRecord(none.key, none.value)!.value!.owed, null)
  t.equal(decodeTxnRecord(none.key, none.value)!.value!.ended, null)
  t.same(decodeTxnRecord(r.key, null), { transactionalId: 'tx', value: null }, 'a tombstone')
})

t.test('version 0: a prepared transaction owes its own markers; any other state none', async (t) => {
  const prepared = txnRecordV0('tx', { ...base, state: 'PrepareAbort' })
  t.equal(prepared.value.readUInt8(0), 0)
  t.same(decodeTxnRecord(prepared.key, prepared.value)!.value!.owed, { producerId: 7n, producerEpoch: 3, markerEpoch: 3, fenced: false, commit: false, partitions: base.partitions }, 'written at its own epoch, as version 0 markers were')
  t.equal(decodeTxnRecord(prepared.key, prepared.value)!.value!.ended, null, 'version 0 knows no ended transaction')
  const ongoing = txnRecordV0('tx', { ...base, state: 'Ongoing' })
  t.equal(decodeTxnRecord(ongoing.key, ongoing.value)!.value!.owed, null)
})

t.test('a version or state this broker does not know is skipped, not misread', async (t) => {
  const r = txnRecord('tx', { ...base, state: 'Ongoing', owed: null, ended: null })
  const future = Buffer.from(r.value!)
  future.writeUInt8(2, 0)
  t.equal(decodeTxnRecord(r.key, future), null, 'version 2')
  const odd = txnRecord('tx', { ...base, state: 'Frozen', owed: null, ended: null })
  t.equal(decodeTxnRecord(odd.key, odd.value), null, 'an unknown state')
  t.equal(decodeTxnRecord(null, r.value), null, 'no key')
})
