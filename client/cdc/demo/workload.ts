// The demo's source: a table of accounts receiving seeded random inserts, updates and deletes,
// each with the next value of one counter as its version (a log sequence number, as a database's
// replication log would give), and the check that a replica holds exactly the source's rows.
//
// Midway the table migrates: it gains a column `tier` with default 'basic' (ALTER TABLE ... ADD
// COLUMN ... DEFAULT, which rewrites no row and emits no change). Rows written before carry schema
// v1; the replicas read everything with v2, so old events must resolve to tier 'basic' to match.

import type avro from 'avsc'

export const ACCOUNT_V1: avro.Schema = {
  type: 'record',
  name: 'Account',
  namespace: 'demo',
  fields: [
    { name: 'id', type: 'long' },
    { name: 'owner', type: 'string' },
    { name: 'balance', type: 'long' },
  ],
}

/** V1 plus a column with a default, so a V2 reader resolves V1 events. */
export const ACCOUNT_V2: avro.Schema = {
  ...(ACCOUNT_V1 as avro.schema.RecordType),
  fields: [...(ACCOUNT_V1 as avro.schema.RecordType).fields, { name: 'tier', type: 'string', default: 'basic' }],
}

export interface Account {
  id: number
  owner: string
  balance: number
  /** Only after the migration. */
  tier?: string
}

export interface SourceChange {
  operation: 'create' | 'update' | 'delete'
  key: string
  before: Account | null
  after: Account | null
  version: bigint
}

/** Shares of the changes to an existing row; a change that picks a deleted id re-inserts it. */
const DELETE_SHARE = 0.2
const OWNER_CHANGE_SHARE = 0.1
const TIER_CHANGE_SHARE = 0.3
const TIERS = ['basic', 'silver', 'gold'] as const
const OWNERS = ['ada', 'bob', 'cy', 'di', 'ed', 'flo', 'gus', 'hal', 'ivy', 'jo'] as const
/** Largest balance change, in cents. */
const BALANCE_STEP_MAX = 50_000

/** mulberry32: a small seeded generator, so a run is reproducible from its seed. Not for secrets. */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export class SourceTable {
  /** Live rows by primary key. */
  readonly rows = new Map<string, Account>()
  readonly #random: () => number
  readonly #ids: number
  /** The last version handed out: one counter for the whole table, as an LSN. */
  #lsn = 0n
  #migrated = false

  constructor(options: { seed: number; rows: number }) {
    this.#random = prng(options.seed)
    this.#ids = options.rows
  }

  get migrated(): boolean {
    return this.#migrated
  }

  /** Inserts rows 1..rows. */
  load(): SourceChange[] {
    const out: SourceChange[] = []
    for (let id = 1; id <= this.#ids; id++) out.push(this.#insert(id))
    return out
  }

  /** One random change to a random row. */
  next(): SourceChange {
    const id = 1 + Math.floor(this.#random() * this.#ids)
    const key = String(id)
    const before = this.rows.get(key)
    if (before === undefined) return this.#insert(id)
    if (this.#random() < DELETE_SHARE) {
      this.rows.delete(key)
      return { operation: 'delete', key, before, after: null, version: ++this.#lsn }
    }
    const after: Account = { ...before, balance: before.balance + Math.round((this.#random() * 2 - 1) * BALANCE_STEP_MAX) }
    if (this.#random() < OWNER_CHANGE_SHARE) after.owner = this.#owner()
    if (this.#migrated && this.#random() < TIER_CHANGE_SHARE) after.tier = this.#pick(TIERS)
    this.rows.set(key, after)
    return { operation: 'update', key, before, after, version: ++this.#lsn }
  }

  /** ADD COLUMN tier DEFAULT 'basic': every row gets it, no change is emitted. */
  migrate(): void {
    this.#migrated = true
    for (const [key, row] of this.rows) this.rows.set(key, { ...row, tier: 'basic' })
  }

  #insert(id: number): SourceChange {
    const row: Account = { id, owner: this.#owner(), balance: Math.floor(this.#random() * 1_000_000) }
    if (this.#migrated) row.tier = this.#pick(TIERS)
    this.rows.set(String(id), row)
    return { operation: 'create', key: String(id), before: null, after: row, version: ++this.#lsn }
  }

  #owner(): string {
    return `${this.#pick(OWNERS)}-${Math.floor(this.#random() * 1000)}`
  }

  #pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.#random() * items.length)] as T
  }
}

export interface TableDiff {
  /** Keys the source has and the replica lacks, the replica has and the source lacks, and both have with different rows. */
  missing: string[]
  extra: string[]
  different: string[]
}

/** JSON with object keys sorted, so rows compare by content, not field order. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`
  if (typeof v === 'object' && v !== null) {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`
  }
  return JSON.stringify(v)
}

/** Compares a replica with the source, row by row. */
export function diffTables(source: ReadonlyMap<string, unknown>, replica: ReadonlyMap<string, unknown>): TableDiff {
  const diff: TableDiff = { missing: [], extra: [], different: [] }
  for (const [key, row] of source) {
    const other = replica.get(key)
    if (other === undefined) diff.missing.push(key)
    else if (canonical(other) !== canonical(row)) diff.different.push(key)
  }
  for (const key of replica.keys()) if (!source.has(key)) diff.extra.push(key)
  return diff
}

export function isEmptyDiff(d: TableDiff): boolean {
  return d.missing.length === 0 && d.extra.length === 0 && d.different.length === 0
}
