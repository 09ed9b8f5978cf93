// A topic's effective configuration as DescribeConfigs reports it: every key, overrides marked,
// defaults taken from the broker's `log.*` settings.

import t from 'tap'
import { DEFAULT_BROKER_CONFIG } from '../../broker/config.js'
import { describeTopicConfig } from '../../broker/topic-config.js'

t.test('every key with its effective value; overrides are not defaults', async (t) => {
  const broker = { ...DEFAULT_BROKER_CONFIG, logRetentionBytes: 1_000_000 }
  const entries = describeTopicConfig(broker, { 'retention.ms': '60000', 'cleanup.policy': 'compact' })
  const byName = new Map(entries.map((e) => [e.name, e]))
  t.same(byName.get('retention.ms'), { name: 'retention.ms', value: '60000', isDefault: false })
  t.same(byName.get('cleanup.policy'), { name: 'cleanup.policy', value: 'compact', isDefault: false })
  t.same(byName.get('retention.bytes'), { name: 'retention.bytes', value: '1000000', isDefault: true }, 'a default comes from the broker\'s log.* key')
  t.same(byName.get('unclean.leader.election.enable'), { name: 'unclean.leader.election.enable', value: 'false', isDefault: true })
  t.same(byName.get('min.cleanable.dirty.ratio')?.value, '0.5')
  t.equal(entries.filter((e) => !e.isDefault).length, 2)
  t.ok(entries.length >= 14, 'every topic key is listed')
  t.throws(() => describeTopicConfig(broker, { 'retention.mss': '1' }), { code: 'INVALID_CONFIG' }, 'an override this build does not know')
})
