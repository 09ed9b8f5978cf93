// A consume-transform-produce processor (KIP-98 / KIP-447), run as a child process by
// test/cluster/exactly-once.test.ts (`node --import tsx test/helpers/eos-processor.ts <json>`) so
// the test can SIGKILL it at any point of its work and start another instance in its place.
//
// It reads the input topic in a consumer group (read_committed, no auto-commit) and, for every
// `chunk` records of a batch, in one transaction: produces each record transformed ('out-' +
// value, same key, same partition number) to the output topic, and sends the offset after the
// chunk to the transaction (sendOffsets), then commits. Either both land or neither does, so a
// crash anywhere leaves the output and the group's offsets in agreement: the next instance (same
// transactional id: initTransactions() fences the dead one and aborts its open transaction)
// resumes exactly where the last committed transaction left off.
//
// It prints `ready` once it has its assignment, `offsets-sent <partition> <next offset>` once a
// transaction holds its records and offsets (the test kills one instance right there), and
// `committed <partition> <next offset>` after each commit. Any error ends the process with exit code 1: the
// test starts a new instance, as a supervisor would.

import { Strand, type SaslOptions, type TlsOptions } from '../../client/index.js'

export interface EosProcessorConfig {
  brokers: string[]
  input: string
  output: string
  groupId: string
  transactionalId: string
  /** Records per transaction. */
  chunk: number
  sessionTimeoutMs: number
  /**
   * Fault injection: after its first transaction holds records and offsets, this instance stops
   * working (it hangs, its transaction open) until the test kills it.
   */
  stallAfterOffsets?: boolean
  /** The test cluster's client security (STRAND_TEST_SECURITY), PEM as text so it survives JSON. */
  tls?: TlsOptions
  sasl?: SaslOptions
}

const config = JSON.parse(process.argv[2] ?? '{}') as EosProcessorConfig

async function main(): Promise<void> {
  const strand = new Strand({
    brokers: config.brokers,
    clientId: 'eos-processor',
    requestTimeoutMs: 5000,
    retry: { retriesMax: 50, retryBackoffMs: 50, retryBackoffMsMax: 500 },
    ...(config.tls === undefined ? {} : { tls: config.tls }),
    ...(config.sasl === undefined ? {} : { sasl: config.sasl }),
  })
  const producer = strand.producer({ transactionalId: config.transactionalId, lingerMs: 0 })
  // Before consuming: this fences the previous instance and waits until its open transaction is
  // aborted, so the group's offsets are stable when the consumer fetches them.
  await producer.initTransactions()
  const consumer = strand.consumer({
    groupId: config.groupId,
    isolationLevel: 'read_committed',
    autoCommit: false,
    sessionTimeoutMs: config.sessionTimeoutMs,
    heartbeatIntervalMs: Math.max(100, Math.floor(config.sessionTimeoutMs / 4)),
    rebalanceTimeoutMs: config.sessionTimeoutMs * 2,
    maxWaitMs: 100,
  })
  await consumer.subscribe({ topics: [config.input], fromBeginning: true })
  process.stdout.write('ready\n')
  for await (const batch of consumer) {
    for (let i = 0; i < batch.messages.length; i += config.chunk) {
      const chunk = batch.messages.slice(i, i + config.chunk)
      const next = chunk[chunk.length - 1]!.offset + 1n
      await producer.transaction(async (tx) => {
        // One send per record, each awaited, as a transform emitting as it goes: most of a
        // transaction's time is then spent with some of its records written, where a kill hurts.
        for (const m of chunk) await tx.send({ topic: config.output, messages: [{ key: m.key, value: `out-${m.value?.toString() ?? ''}`, partition: batch.partition }] })
        // The batch's last chunk sends the batch itself (the offset after it); earlier ones an offset.
        const last = i + config.chunk >= batch.messages.length
        await tx.sendOffsets({ consumer, offsets: last ? batch : [{ topic: batch.topic, partition: batch.partition, offset: next }] })
        process.stdout.write(`offsets-sent ${batch.partition} ${next}\n`)
        if (config.stallAfterOffsets === true) await new Promise<never>(() => undefined)
      })
      process.stdout.write(`committed ${batch.partition} ${next}\n`)
    }
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`eos-processor: ${(err as Error)?.stack ?? String(err)}\n`)
  process.exit(1)
})
