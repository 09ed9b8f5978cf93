// `strand transactions list|describe`: transactional ids and their coordinators' state (Kafka's
// kafka-transactions.sh list / describe), to find the producer whose open transaction holds a
// read_committed consumer back at the last stable offset.
//
// list asks every broker (each knows the ids of the `__transaction_state` partitions it leads);
// describe asks the id's coordinator. An id no producer has initialized is TRANSACTIONAL_ID_NOT_FOUND
// (exit 1).

import type { TransactionDescription, TransactionStateName } from '../index.js'
import { parse, table, toJson, UsageError, type Connect } from './args.js'

export const TRANSACTIONS_USAGE = `Usage:
  strand transactions list [--state S] [--producer-id N]
                                              every transactional id: producer id, state, coordinator broker;
                                              --state (repeatable): Empty, Ongoing, PrepareCommit, PrepareAbort,
                                              CompleteCommit, CompleteAbort; --producer-id (repeatable)
  strand transactions describe <transactionalId>
                                              state, producer id and epoch, timeout, when the open transaction
                                              started, coordinator; the open transaction's partitions`

const OPTIONS = {
  state: { type: 'string', multiple: true },
  'producer-id': { type: 'string', multiple: true },
} as const

/** The states a --state filter may name (Dead ids are never listed). */
const LISTABLE_STATES: readonly TransactionStateName[] = ['Empty', 'Ongoing', 'PrepareCommit', 'PrepareAbort', 'CompleteCommit', 'CompleteAbort']

type Out = (text: string) => void

export async function transactionsCommand(argv: string[], connect: Connect, out: Out): Promise<void> {
  const { values, positionals } = parse(argv, OPTIONS)
  const [action, transactionalId, ...extra] = positionals
  if (values.help || action === undefined) return out(TRANSACTIONS_USAGE)
  if (extra.length > 0) throw new UsageError(`Unexpected argument "${extra[0]}".`)
  if (action !== 'list' && action !== 'describe') throw new UsageError(`Unknown action "${action}"; expected list or describe.`)
  if (action === 'list' && transactionalId !== undefined) throw new UsageError(`Unexpected argument "${transactionalId}".`)
  if (action === 'describe' && (transactionalId === undefined || transactionalId === '')) throw new UsageError('strand transactions describe needs a transactional id.')
  if (action === 'describe' && (values.state !== undefined || values['producer-id'] !== undefined)) throw new UsageError('--state and --producer-id are options of strand transactions list.')
  const states = [...new Set(values.state ?? [])].map(stateOf)
  const producerIds = [...new Set(values['producer-id'] ?? [])].map(producerIdOf)
  const strand = connect(values)
  try {
    const admin = strand.admin()
    if (action === 'list') {
      const transactions = await admin.listTransactions({ states, producerIds })
      if (values.json) return out(toJson({ transactions }))
      if (transactions.length === 0) return out(states.length + producerIds.length === 0 ? 'No transactional ids.' : 'No transactional id matches.')
      return out(table(['TRANSACTIONAL ID', 'PRODUCER ID', 'STATE', 'COORDINATOR'], transactions.map((x) => [x.transactionalId, x.producerId, x.state, x.coordinatorId])))
    }
    const [described] = await admin.describeTransactions([transactionalId!])
    const { error, ...description } = described!
    if (error !== null) throw error
    out(values.json ? toJson(description) : describeText(description))
  } finally {
    await strand.close()
  }
}

function stateOf(raw: string): TransactionStateName {
  const found = LISTABLE_STATES.find((s) => s.toLowerCase() === raw.toLowerCase())
  if (found === undefined) throw new UsageError(`--state must be one of ${LISTABLE_STATES.join(', ')}, not "${raw}".`)
  return found
}

function producerIdOf(raw: string): bigint {
  if (!/^\d{1,19}$/.test(raw) || BigInt(raw) > 2n ** 63n - 1n) throw new UsageError(`--producer-id must be a producer id (an integer >= 0), got "${raw}".`)
  return BigInt(raw)
}

function describeText(d: Omit<TransactionDescription, 'error'>): string {
  const started = d.startTimeMs < 0 ? 'no open transaction' : `started ${new Date(d.startTimeMs).toISOString()}`
  const headline = `Transactional id ${d.transactionalId}: state ${d.state}, producer id ${d.producerId}, epoch ${d.producerEpoch}, timeout ${d.timeoutMs} ms, ${started}, coordinator broker ${d.coordinatorId}`
  if (d.partitions.length === 0) return `${headline}\n\nNo partitions in a transaction.`
  return `${headline}\n\n${table(['TOPIC', 'PARTITION'], d.partitions.map((p) => [p.topic, p.partition]))}`
}
