// Target stores: where a sink (sink.ts) applies one table's changes. The interface is small so any
// database fits behind it; two implementations come with it: in memory, and a JSON file.
//
// A store remembers deletions: delete() keeps a marker with the deletion's version (get() returns
// it with value null). Without it, an older event of the key read after the delete (a replay from
// an older committed offset, a capture retry that landed late, two sources racing) would find no
// row and bring the deleted one back. Markers are small (a version and a timestamp); a store may
// drop those older than the topic's delete.retention.ms, since by then no event older than the
// delete can still be read from the topic by a sink that keeps up.

import { mkdir, open, readFile, rename } from 'node:fs/promises'
import path from 'node:path'
import type { ChangeOperation } from './event.js'

/** The version a store holds for a key. */
export interface StoredVersion {
  version: bigint
  timestamp: number
}

/** What a store holds for a key: a row, or (value null) the marker of its deletion. */
export interface StoredRow<Row = unknown> extends StoredVersion {
  value: Row | null
}

/** Where in the topic a change came from, and what it was. */
export interface ChangeMeta extends StoredVersion {
  table: string
  operation: ChangeOperation
  /** Absent when the change did not come from a topic (tests, direct calls). */
  topic?: string
  partition?: number
  offset?: bigint
}

/** One table's target, keyed by primary key. Methods may return promises or plain values. */
export interface TargetStore<Row = unknown> {
  get(key: string): Promise<StoredRow<Row> | undefined> | StoredRow<Row> | undefined
  /** Stores the row with meta's version and timestamp. */
  put(key: string, row: Row, meta: ChangeMeta): Promise<void> | void
  /** Removes the row, keeping a marker with meta's version and timestamp (see above). */
  delete(key: string, meta: ChangeMeta): Promise<void> | void
  /**
   * Makes every put and delete that completed before the call durable. The sink calls it before
   * committing offsets, so a crash never leaves a committed offset past what the store kept. It may
   * run while later puts are in progress. Absent: every put and delete is durable when it returns.
   */
  flush?(): Promise<void> | void
}

/** A store in a Map: for tests and for caches rebuilt from the topic at every start. */
export class MemoryStore<Row = unknown> implements TargetStore<Row> {
  readonly #entries = new Map<string, StoredRow<Row>>()

  get(key: string): StoredRow<Row> | undefined {
    return this.#entries.get(key)
  }

  put(key: string, row: Row, meta: ChangeMeta): void {
    this.#entries.set(key, { version: meta.version, timestamp: meta.timestamp, value: row })
  }

  delete(key: string, meta: ChangeMeta): void {
    this.#entries.set(key, { version: meta.version, timestamp: meta.timestamp, value: null })
  }

  /** The live rows (deletion markers left out). */
  rows(): Map<string, Row> {
    return liveRows(this.#entries)
  }

  /** Every entry, deletion markers included. */
  entries(): Map<string, StoredRow<Row>> {
    return new Map(this.#entries)
  }
}

function liveRows<Row>(entries: ReadonlyMap<string, StoredRow<Row>>): Map<string, Row> {
  const out = new Map<string, Row>()
  for (const [k, e] of entries) if (e.value !== null) out.set(k, e.value)
  return out
}

/** The JSON file's format name; a file with another is refused rather than misread. */
const JSON_STORE_FORMAT = 'strand-cdc-json-store/1'

interface JsonStoreFile {
  format: string
  /** key -> { version (decimal string: it is int64), timestamp, value (null: deleted) } */
  rows: Record<string, { version: string; timestamp: number; value: unknown }>
}

/**
 * One table in a JSON file, held in memory and written whole by flush(): to a temp file, fsynced,
 * then renamed over the old one (and the directory fsynced), so the file is always either the
 * previous flush or the new one, never a mix. Rows must be JSON values (avsc records of strings,
 * numbers, booleans, arrays, maps and nested records are; bytes and bigint longs are not). Meant
 * for demos and tests: every flush rewrites the whole table.
 */
export class JsonFileStore<Row = unknown> implements TargetStore<Row> {
  readonly file: string
  readonly #entries: Map<string, StoredRow<Row>>
  /** Changed since the last flush. */
  #dirty = false
  /** Flushes run one at a time, in call order. */
  #flushChain: Promise<void> = Promise.resolve()

  private constructor(file: string, entries: Map<string, StoredRow<Row>>) {
    this.file = file
    this.#entries = entries
  }

  /** Opens the file, or starts empty when it does not exist (the directory is created). */
  static async open<Row = unknown>(file: string): Promise<JsonFileStore<Row>> {
    const resolved = path.resolve(file)
    await mkdir(path.dirname(resolved), { recursive: true })
    let text: string
    try {
      text = await readFile(resolved, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new JsonFileStore<Row>(resolved, new Map())
      throw err
    }
    return new JsonFileStore<Row>(resolved, parseStoreFile<Row>(resolved, text))
  }

  get(key: string): StoredRow<Row> | undefined {
    return this.#entries.get(key)
  }

  put(key: string, row: Row, meta: ChangeMeta): void {
    this.#entries.set(key, { version: meta.version, timestamp: meta.timestamp, value: row })
    this.#dirty = true
  }

  delete(key: string, meta: ChangeMeta): void {
    this.#entries.set(key, { version: meta.version, timestamp: meta.timestamp, value: null })
    this.#dirty = true
  }

  /** The live rows (deletion markers left out). */
  rows(): Map<string, Row> {
    return liveRows(this.#entries)
  }

  entries(): Map<string, StoredRow<Row>> {
    return new Map(this.#entries)
  }

  flush(): Promise<void> {
    // Serialized now, so the write holds exactly what was applied before this call.
    const text = this.#dirty ? this.#serialize() : null
    this.#dirty = false
    const write = async (): Promise<void> => {
      if (text !== null) await writeFileAtomically(this.file, text)
    }
    const next = this.#flushChain.then(write, write)
    this.#flushChain = next.catch(() => {
      // A failed write leaves the file as it was: the next flush must write everything again.
      this.#dirty = true
    })
    return next
  }

  #serialize(): string {
    const rows: JsonStoreFile['rows'] = {}
    for (const [k, e] of this.#entries) rows[k] = { version: e.version.toString(), timestamp: e.timestamp, value: e.value }
    return JSON.stringify({ format: JSON_STORE_FORMAT, rows } satisfies JsonStoreFile)
  }
}

function parseStoreFile<Row>(file: string, text: string): Map<string, StoredRow<Row>> {
  let parsed: JsonStoreFile
  try {
    parsed = JSON.parse(text) as JsonStoreFile
  } catch (err) {
    throw new Error(`${file} is not JSON: ${(err as Error).message}`)
  }
  if (parsed?.format !== JSON_STORE_FORMAT || typeof parsed.rows !== 'object' || parsed.rows === null) {
    throw new Error(`${file} is not a ${JSON_STORE_FORMAT} file.`)
  }
  const entries = new Map<string, StoredRow<Row>>()
  for (const [k, e] of Object.entries(parsed.rows)) {
    if (typeof e?.version !== 'string' || !/^\d+$/.test(e.version) || !Number.isSafeInteger(e.timestamp)) throw new Error(`${file}: entry ${JSON.stringify(k)} is malformed.`)
    entries.set(k, { version: BigInt(e.version), timestamp: e.timestamp, value: e.value as Row | null })
  }
  return entries
}

/**
 * Temp file in the same directory, fsync, rename over the target, fsync the directory. The temp
 * name is fixed, so one left by a crash is overwritten by the next write rather than piling up
 * (one writer per file: the store's flushes run one at a time).
 */
export async function writeFileAtomically(file: string, text: string): Promise<void> {
  const temp = `${file}.tmp`
  const fh = await open(temp, 'w')
  try {
    await fh.writeFile(text, 'utf8')
    await fh.sync()
  } finally {
    await fh.close()
  }
  await rename(temp, file)
  const dir = await open(path.dirname(file), 'r')
  try {
    await dir.sync()
  } finally {
    await dir.close()
  }
}
