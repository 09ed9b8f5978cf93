// Consumer-group options and calls that cannot work are refused up front, before anything is
// sent (the bootstrap address here has nothing listening).

import t from 'tap'
import { Strand } from '../../client/index.js'

t.test('group options are checked when the consumer is made', async (t) => {
  const strand = new Strand({ brokers: ['127.0.0.1:1'] })
  t.teardown(() => strand.close())
  t.throws(() => strand.consumer({ groupId: 'g', sessionTimeoutMs: 1000, heartbeatIntervalMs: 1000 }), { code: 'INVALID_ARGUMENT', message: /heartbeatIntervalMs \(1000\) must be below sessionTimeoutMs/ })
  t.throws(() => strand.consumer({ groupId: 'g', heartbeatIntervalMs: 20_000 }), { code: 'INVALID_ARGUMENT' }, 'against the default session timeout of 10 s')
  t.throws(() => strand.consumer({ groupId: '' }), { code: 'INVALID_ARGUMENT' })
  t.throws(() => strand.consumer({ groupId: 'g', rebalanceTimeoutMs: 0 }), { code: 'INVALID_ARGUMENT' })
  t.throws(() => strand.consumer({ groupId: 'g', autoCommitIntervalMs: -1 }), { code: 'INVALID_ARGUMENT' })
  t.throws(() => strand.consumer({ groupId: 'g', assignors: ['sticky' as never] }), { code: 'INVALID_ARGUMENT', message: /Unknown assignor "sticky"/ })
  t.throws(() => strand.consumer({ groupId: 'g', assignors: [] }), { code: 'INVALID_ARGUMENT' })
  const c = strand.consumer({ groupId: 'g', sessionTimeoutMs: 6000, heartbeatIntervalMs: 2000, assignors: ['roundrobin', 'range'], autoCommitIntervalMs: 0 })
  t.equal(c.groupId, 'g')
})

t.test('subscribe, commit and assign refuse what cannot work', async (t) => {
  const strand = new Strand({ brokers: ['127.0.0.1:1'] })
  t.teardown(() => strand.close())
  const noGroup = strand.consumer()
  await t.rejects(noGroup.subscribe({ topics: ['orders'] }), { code: 'INVALID_ARGUMENT', message: /needs a groupId/ })
  await t.rejects(noGroup.commit(), { code: 'ILLEGAL_STATE', message: /needs a groupId/ })
  const grouped = strand.consumer({ groupId: 'billing' })
  await t.rejects(grouped.subscribe({ topics: [] }), { code: 'INVALID_ARGUMENT' })
  await t.rejects(grouped.subscribe({ topics: ['orders'], groupId: 'other' }), { code: 'INVALID_ARGUMENT', message: /in group "billing"/ })
  const assigned = strand.consumer({ groupId: 'billing' })
  assigned.assign([{ topic: 'orders', partition: 0, offset: 0n }])
  await t.rejects(assigned.subscribe({ topics: ['orders'] }), { code: 'ILLEGAL_STATE', message: /either assigns/ })
  await t.rejects(assigned.commit([{ topic: 'orders', partition: 0, offset: -1n }]), { code: 'INVALID_ARGUMENT' })
  await t.rejects(assigned.commit({ topic: 'orders', partition: 0, messages: [], highWatermark: 0n, nextOffset: 0n }), { code: 'INVALID_ARGUMENT', message: /a batch this consumer handed out/ })
  t.throws(() => assigned.pause([{ topic: 'orders', partition: 7 }]), { code: 'INVALID_ARGUMENT' }, 'only assigned partitions can be paused')
  await assigned.close()
  await t.rejects(assigned.commit(), { code: 'CLIENT_CLOSED' })
})
