// Producer options are checked when the producer is made, before anything is sent.

import t from 'tap'
import { Strand } from '../../client/index.js'

t.test('options that cannot work are refused up front', async (t) => {
  const strand = new Strand({ brokers: ['127.0.0.1:1'] })
  t.teardown(() => strand.close())
  t.throws(() => strand.producer({ batchBytes: 2 * 1024 * 1024, requestBytesMax: 1024 * 1024 }), { code: 'INVALID_ARGUMENT', message: /batchBytes 2097152 does not fit/ })
  t.throws(() => strand.producer({ acks: 2 as never }), { code: 'INVALID_ARGUMENT' })
  t.throws(() => strand.producer({ compression: 'zstd' as never }), { code: 'INVALID_ARGUMENT' })
  t.doesNotThrow(() => strand.producer({ batchBytes: 64 * 1024, requestBytesMax: 1024 * 1024 }))
})

t.test('idempotence needs acks all; batches in flight per partition are 1 to 5', async (t) => {
  const strand = new Strand({ brokers: ['127.0.0.1:1'] })
  t.teardown(() => strand.close())
  t.doesNotThrow(() => strand.producer({}), 'on by default (acks all)')
  t.doesNotThrow(() => strand.producer({ acks: 1 }), 'off by default with acks 1')
  t.doesNotThrow(() => strand.producer({ acks: 'all', idempotent: false }), 'may be turned off')
  t.throws(() => strand.producer({ acks: 1, idempotent: true }), { code: 'INVALID_ARGUMENT', message: /idempotent needs acks 'all'/ })
  t.throws(() => strand.producer({ acks: 0, idempotent: true }), { code: 'INVALID_ARGUMENT' })
  t.doesNotThrow(() => strand.producer({ maxInflightPerPartition: 1 }))
  t.throws(() => strand.producer({ maxInflightPerPartition: 6 }), { code: 'INVALID_ARGUMENT', message: /above 5/ })
  t.throws(() => strand.producer({ maxInflightPerPartition: 0 }), { code: 'INVALID_ARGUMENT' })
  t.doesNotThrow(() => strand.producer({ acks: 1, maxInflightPerPartition: 5 }), 'without idempotence too, as Kafka (a retry may then reorder)')
  t.doesNotThrow(() => strand.producer({ acks: 1, maxInflightPerPartition: 1 }))
  t.throws(() => strand.producer({ acks: 1, maxInflightPerPartition: 6 }), { code: 'INVALID_ARGUMENT', message: /above 5/ })
})
