// The "bank" of the CDC transactions test (test/cluster/cdc-transactions.test.ts), shared by the
// source process (cdc-bank-child.ts) and the test's checker: its tables and row schemas, its
// accounts, the lines the source prints, and a target store that records every change a sink
// applies.
//
// Accounts live in two tables (checking, savings), so a transfer's two updates usually land on
// different partitions; each transfer also inserts a ledger row, and some delete an old one. Every
// row names the source transaction that last wrote it (`txn`), so a checker can tell the changes of
// one transaction from another's without trusting the sink.
//
// The source prints one line per event, JSON after a word:
//   commit {"txn":"r1-3","changes":[Change...]}   the transaction committed (capture.transaction resolved)
//   open {"txn":"r1-open","changes":[Change...]}  these changes are acknowledged inside a transaction left open
//   done                                          every transaction asked for committed, the capture closed

import { MemoryStore, type ChangeMeta, type StoredRow, type TargetStore } from '../../client/index.js'

export const ACCOUNT_TABLES = ['checking', 'savings'] as const
export const LEDGER_TABLE = 'ledger'
export const BANK_TABLES = [...ACCOUNT_TABLES, LEDGER_TABLE] as const
/** Per account table: c1..c4, s1..s4. */
export const ACCOUNTS_PER_TABLE = 4
export const OPENING_BALANCE = 1000
/** The ledger row the opening transaction writes; only the transaction left open deletes it. */
export const OPENING_LEDGER_KEY = 'opening'

export interface AccountRow {
  id: string
  balance: number
  txn: string
}

export interface LedgerRow {
  txn: string
  from: string
  to: string
  amount: number
}

export const ACCOUNT_SCHEMA = {
  type: 'record',
  name: 'Account',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'balance', type: 'long' },
    { name: 'txn', type: 'string' },
  ],
}

export const LEDGER_SCHEMA = {
  type: 'record',
  name: 'LedgerEntry',
  fields: [
    { name: 'txn', type: 'string' },
    { name: 'from', type: 'string' },
    { name: 'to', type: 'string' },
    { name: 'amount', type: 'long' },
  ],
}

export const BANK_SCHEMAS = { checking: ACCOUNT_SCHEMA, savings: ACCOUNT_SCHEMA, ledger: LEDGER_SCHEMA }

/** Every account as `<table>:<key>`. */
export function accountIds(): string[] {
  return ACCOUNT_TABLES.flatMap((table) => Array.from({ length: ACCOUNTS_PER_TABLE }, (_, i) => `${table}:${table[0]}${i + 1}`))
}

/** One row change as the source printed it (versions as decimal strings: JSON has no bigint). */
export interface PrintedChange {
  op: 'insert' | 'update' | 'delete'
  table: string
  key: string
  version: string
  /** The row after the change; null for a delete. */
  row: AccountRow | LedgerRow | null
}

export interface PrintedTransaction {
  txn: string
  changes: PrintedChange[]
}

/** What a source holds: each `<table>:<key>` with its version and row (null once deleted). */
export type BankState = Record<string, { version: string; row: AccountRow | LedgerRow | null }>

/** The state after `txns`, in commit order, applied to `state`: the replay a sink must end at. */
export function replay(state: BankState, txns: readonly PrintedTransaction[]): BankState {
  const out = { ...state }
  for (const t of txns) for (const c of t.changes) out[`${c.table}:${c.key}`] = { version: c.version, row: c.row }
  return out
}

/** The live rows of a state, sorted, for comparing with a store's. */
export function liveRows(state: BankState): Array<[string, unknown]> {
  return Object.entries(state)
    .filter(([, v]) => v.row !== null)
    .map(([k, v]): [string, unknown] => [k, v.row])
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
}

/** One change a sink applied to a store. */
export interface AppliedChange {
  table: string
  key: string
  operation: ChangeMeta['operation']
  version: bigint
  /** The row stored; null for a delete. */
  row: unknown
  /** Where the sink read it. */
  partition: number
  offset: bigint
}

/** A MemoryStore per table that also records, in order, every put and delete a sink makes. */
export class RecordingStores {
  readonly applied: AppliedChange[] = []
  readonly stores: Record<string, MemoryStore>

  constructor(tables: readonly string[]) {
    this.stores = Object.fromEntries(tables.map((table) => [table, new MemoryStore()]))
  }

  /** The stores to give a sink: each forwards to its MemoryStore and records the change. */
  targets(): Record<string, TargetStore> {
    return Object.fromEntries(Object.entries(this.stores).map(([table, store]) => [table, this.#recording(store)]))
  }

  #recording(store: MemoryStore): TargetStore {
    return {
      get: (key: string): StoredRow | undefined => store.get(key),
      put: (key: string, row: unknown, meta: ChangeMeta): void => {
        this.applied.push({ table: meta.table, key, operation: meta.operation, version: meta.version, row, partition: meta.partition ?? -1, offset: meta.offset ?? -1n })
        store.put(key, row, meta)
      },
      delete: (key: string, meta: ChangeMeta): void => {
        this.applied.push({ table: meta.table, key, operation: meta.operation, version: meta.version, row: null, partition: meta.partition ?? -1, offset: meta.offset ?? -1n })
        store.delete(key, meta)
      },
    }
  }

  /** Every table's live rows as `<table>:<key>`, sorted, rows as plain JSON. */
  liveRows(): Array<[string, unknown]> {
    return Object.entries(this.stores)
      .flatMap(([table, store]) => [...store.rows()].map(([key, row]): [string, unknown] => [`${table}:${key}`, JSON.parse(JSON.stringify(row))]))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  }

  /** The sum of every live account's balance. */
  totalBalance(): number {
    let sum = 0
    for (const table of ACCOUNT_TABLES) for (const row of (this.stores[table] as MemoryStore).rows().values()) sum += (row as AccountRow).balance
    return sum
  }
}
