// The source of the CDC transactions test, in a process of its own so the test can SIGKILL it in
// the middle of a source transaction: a "bank" (cdc-bank.ts) publishing each source transaction
// with ChangeCapture.transaction() under one transactionalId.
//
// Without --state it first commits the opening transaction (every account at OPENING_BALANCE, and
// the ledger row "opening"); with --state it starts from the committed state the test gives it (a
// source database that survived the crash of its CDC process). Then it commits --commit transfers:
// each moves a seeded random amount between two accounts (two updates, usually in two tables and
// on two partitions) and inserts a ledger row; every third also deletes the oldest ledger row of
// an earlier transfer. It prints "commit <json>" once each is committed. With --hold-open it then
// begins one more, the one to be killed: a debit, and the delete of the ledger row "opening"
// (whose tombstone is in the transaction too), both acknowledged, prints "open <json>", and waits
// until it is killed. Otherwise it closes the capture and prints "done".
//
//   node --import tsx test/helpers/cdc-bank-child.ts --bootstrap h:p,... --transactional-id id --topic t
//     --run r1 --seed n --commit 8 [--state file.json] [--hold-open] [--partitions 6] [--transaction-timeout-ms 60000]

import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { ChangeCapture, Strand, type ChangeTransaction } from '../../client/index.js'
import { accountIds, BANK_SCHEMAS, LEDGER_TABLE, OPENING_BALANCE, OPENING_LEDGER_KEY, replay, type AccountRow, type BankState, type LedgerRow, type PrintedChange, type PrintedTransaction } from './cdc-bank.js'
import { Rng } from './random.js'

const { values: o } = parseArgs({
  options: {
    bootstrap: { type: 'string' },
    'transactional-id': { type: 'string' },
    topic: { type: 'string' },
    run: { type: 'string' },
    seed: { type: 'string' },
    commit: { type: 'string' },
    state: { type: 'string' },
    'hold-open': { type: 'boolean', default: false },
    partitions: { type: 'string', default: '6' },
    'transaction-timeout-ms': { type: 'string', default: '60000' },
  },
})
if (o.bootstrap === undefined || o['transactional-id'] === undefined || o.topic === undefined || o.run === undefined || o.seed === undefined || o.commit === undefined) {
  process.stderr.write('usage: cdc-bank-child.ts --bootstrap <h:p,...> --transactional-id <id> --topic <t> --run <name> --seed <n> --commit <n> [--state <file>] [--hold-open]\n')
  process.exit(2)
}
const run = o.run
const rng = new Rng(Number(o.seed))
const strand = new Strand({ brokers: o.bootstrap.split(','), clientId: `cdc-bank-${run}`, retry: { retriesMax: 50, retryBackoffMs: 50, retryBackoffMsMax: 500 } })
const capture = new ChangeCapture(strand, {
  topic: o.topic,
  tables: BANK_SCHEMAS,
  partitions: Number(o.partitions),
  replicationFactor: 3,
  configs: { 'min.insync.replicas': '2' },
  transactionalId: o['transactional-id'],
  transactionTimeoutMs: Number(o['transaction-timeout-ms']),
  producer: { lingerMs: 1 },
})
let state: BankState = o.state === undefined ? {} : (JSON.parse(readFileSync(o.state, 'utf8')) as BankState)

function print(word: string, txn?: PrintedTransaction): void {
  process.stdout.write(txn === undefined ? `${word}\n` : `${word} ${JSON.stringify(txn)}\n`)
}

function nextVersion(id: string): string {
  const held = state[id]
  return held === undefined ? '1' : String(BigInt(held.version) + 1n)
}

function change(op: PrintedChange['op'], id: string, row: AccountRow | LedgerRow | null): PrintedChange {
  const [table, key] = id.split(':') as [string, string]
  return { op, table, key, version: nextVersion(id), row }
}

/** Publishes one change inside the transaction, with the row it replaces as `before`. */
function publish(tx: ChangeTransaction, c: PrintedChange): Promise<unknown> {
  const before = state[`${c.table}:${c.key}`]?.row ?? null
  const version = { version: BigInt(c.version) }
  if (c.op === 'insert') return tx.insert(c.table, c.key, c.row, version)
  if (c.op === 'update') return tx.update(c.table, c.key, before, c.row, version)
  return tx.delete(c.table, c.key, before, version)
}

async function commit(txn: PrintedTransaction): Promise<void> {
  await capture.transaction(async (tx) => {
    await Promise.all(txn.changes.map((c) => publish(tx, c)))
  })
  state = replay(state, [txn])
  print('commit', txn)
}

function account(id: string): AccountRow {
  return state[id]?.row as AccountRow
}

function transfer(i: number): PrintedTransaction {
  const txn = `${run}-${i}`
  const ids = accountIds()
  const from = rng.pick(ids)
  const to = rng.pick(ids.filter((id) => id !== from))
  const amount = rng.int(1, 100)
  const changes = [
    change('update', from, { ...account(from), balance: account(from).balance - amount, txn }),
    change('update', to, { ...account(to), balance: account(to).balance + amount, txn }),
    change('insert', `${LEDGER_TABLE}:${txn}`, { txn, from, to, amount }),
  ]
  if (i % 3 === 0) {
    const oldest = Object.entries(state).find(([id, v]) => id.startsWith(`${LEDGER_TABLE}:`) && id !== `${LEDGER_TABLE}:${OPENING_LEDGER_KEY}` && v.row !== null)
    if (oldest !== undefined) changes.push(change('delete', oldest[0], null))
  }
  return { txn, changes }
}

try {
  await capture.start()
  if (Object.keys(state).length === 0) {
    const txn = `${run}-0`
    const accounts = accountIds().map((id) => change('insert', id, { id, balance: OPENING_BALANCE, txn }))
    await commit({ txn, changes: [...accounts, change('insert', `${LEDGER_TABLE}:${OPENING_LEDGER_KEY}`, { txn, from: '', to: '', amount: 0 })] })
  }
  for (let i = 1; i <= Number(o.commit); i++) await commit(transfer(i))
  if (o['hold-open']) {
    const txn = `${run}-open`
    const from = rng.pick(accountIds())
    const open = {
      txn,
      changes: [change('update', from, { ...account(from), balance: account(from).balance - 555, txn }), change('delete', `${LEDGER_TABLE}:${OPENING_LEDGER_KEY}`, null)],
    }
    // Keeps the process alive once the transaction is left waiting.
    setInterval(() => undefined, 60_000)
    await capture.transaction(async (tx) => {
      await Promise.all(open.changes.map((c) => publish(tx, c)))
      print('open', open)
      // Never committed: the test kills this process here.
      await new Promise(() => undefined)
    })
  }
  await capture.close()
  await strand.close()
  print('done')
} catch (err) {
  process.stderr.write(`cdc-bank-child ${run}: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
}
