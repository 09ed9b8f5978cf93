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
