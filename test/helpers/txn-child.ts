// A transactional producer in a process of its own, for tests that SIGKILL it mid-transaction:
// it opens a transaction, sends `<prefix>-<partition>` to every partition (acknowledged), prints
// "SENT", and then waits, never committing, until it is killed.
//
//   node --import tsx test/helpers/txn-child.ts <bootstrap,...> <transactionalId> <topic> <partitions> <prefix> <transactionTimeoutMs>

import { Strand } from '../../client/index.js'

const [bootstrap, transactionalId, topic, partitions, prefix, timeoutMs] = process.argv.slice(2)
if (timeoutMs === undefined) {
  process.stderr.write('usage: txn-child.ts <bootstrap> <transactionalId> <topic> <partitions> <prefix> <transactionTimeoutMs>\n')
  process.exit(2)
}
const strand = new Strand({ brokers: bootstrap!.split(','), clientId: `txn-child-${transactionalId}` })
const producer = strand.producer({ transactionalId: transactionalId!, transactionTimeoutMs: Number(timeoutMs), lingerMs: 1 })
await producer.initTransactions()
producer.beginTransaction()
await Promise.all(Array.from({ length: Number(partitions) }, (_, p) => producer.send({ topic: topic!, messages: [{ partition: p, value: `${prefix}-${p}` }] })))
process.stdout.write('SENT\n')
// Hold the transaction open until killed.
setInterval(() => undefined, 60_000)
