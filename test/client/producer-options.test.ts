// Producer options are checked when the producer is made, before anything is sent
// (client/producer-options.ts): through Strand.producer(), as users meet them, and through
// resolveProducerOptions() itself, for the defaults the sender then works with.

import t from 'tap'
import { Strand } from '../../client/index.js'
import type { RetryOptions } from '../../client/cluster.js'
import { resolveProducerOptions } from '../../client/producer-options.js'

const RETRY: RetryOptions = { retriesMax: 7, retryBackoffMs: 100, retryBackoffMsMax: 1000 }

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

t.test('the defaults: acks all, idempotent, 5 in flight, retries from the client, Kafka sizes', async (t) => {
  t.same(resolveProducerOptions({}, RETRY), {
    acks: -1,
    timeoutMs: 30_000,
    lingerMs: 5,
    batchBytes: 16_384,
    bufferBytesMax: 32 * 1024 * 1024,
    requestBytesMax: 1024 * 1024,
    compression: 'none',
    retries: 7,
    retry: RETRY,
    idempotent: true,
    maxInflightPerPartition: 5,
    transactionalId: null,
    transactionTimeoutMs: 60_000,
  })
  t.equal(resolveProducerOptions({ acks: 'all' }, RETRY).acks, -1, "'all' is -1 on the wire")
  t.equal(resolveProducerOptions({ acks: 1 }, RETRY).idempotent, false, 'acks 1 turns the idempotence default off')
  t.equal(resolveProducerOptions({ retries: 0 }, RETRY).retries, 0, 'retries 0 is kept, not taken as absent')
})

t.test('a transactional producer is idempotent with acks all, and its timeout is positive', async (t) => {
  const txn = resolveProducerOptions({ transactionalId: 'tx-1' }, RETRY)
  t.same([txn.transactionalId, txn.idempotent, txn.acks], ['tx-1', true, -1])
  t.throws(() => resolveProducerOptions({ transactionalId: '' }, RETRY), { code: 'INVALID_ARGUMENT', message: /non-empty string/ })
  t.throws(() => resolveProducerOptions({ transactionalId: 'tx', acks: 1 }, RETRY), { code: 'INVALID_ARGUMENT', message: /needs acks 'all'/ })
  t.throws(() => resolveProducerOptions({ transactionalId: 'tx', idempotent: false }, RETRY), { code: 'INVALID_ARGUMENT', message: /contradicts transactionalId/ })
  t.throws(() => resolveProducerOptions({ transactionalId: 'tx', transactionTimeoutMs: 0 }, RETRY), { code: 'INVALID_ARGUMENT', message: /transactionTimeoutMs must be a positive integer/ })
  t.throws(() => resolveProducerOptions({ idempotent: 'yes' as never }, RETRY), { code: 'INVALID_ARGUMENT', message: /idempotent must be a boolean/ })
})

t.test('sizes and times are non-negative integers, and a request must hold more than its fixed part', async (t) => {
  for (const name of ['timeoutMs', 'lingerMs', 'batchBytes', 'bufferBytesMax', 'retries'] as const) {
    t.throws(() => resolveProducerOptions({ [name]: -1 }, RETRY), { code: 'INVALID_ARGUMENT', message: new RegExp(`${name} must be a non-negative integer`) }, name)
    t.throws(() => resolveProducerOptions({ [name]: 1.5 }, RETRY), { code: 'INVALID_ARGUMENT' }, `${name} fractional`)
  }
  t.throws(() => resolveProducerOptions({ requestBytesMax: 1024 }, RETRY), { code: 'INVALID_ARGUMENT', message: /requestBytesMax 1024 is too small/ })
  t.equal(resolveProducerOptions({ lingerMs: 0 }, RETRY).lingerMs, 0)
})
