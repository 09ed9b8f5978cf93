// Opening real logs in temp directories for storage tests, and building batches whose content
// can be checked after recovery.

import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import pino from 'pino'
import { encodeBatch, type RecordInput } from '../../client/protocol/records.js'
import { DEFAULT_LOG_CONFIG, type LogConfig } from '../../broker/log/config.js'
import { Log } from '../../broker/log/log.js'
import type { ReadCache } from '../../broker/log/read-cache.js'

export const silentLogger = pino({ level: 'silent' })

interface Teardown {
  teardown(fn: () => unknown): void
}

export async function tempDir(t: Teardown, prefix = 'strand-log-'): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

/** A clock the test moves by hand. */
export class ManualClock {
  nowMs: number
  constructor(startMs = 1_700_000_000_000) {
    this.nowMs = startMs
  }
  readonly now = (): number => this.nowMs
}

export interface OpenLogOptions {
  config?: Partial<LogConfig>
  clock?: () => number
  recoveryPoint?: bigint
  cleanShutdown?: boolean
  readCache?: ReadCache
}

export async function openLog(dir: string, options: OpenLogOptions = {}): Promise<{ log: Log; droppedBytes: number }> {
  return Log.open({
    dir,
    config: { ...DEFAULT_LOG_CONFIG, ...options.config },
    clock: options.clock ?? Date.now,
    logger: silentLogger,
    recoveryPoint: options.recoveryPoint ?? 0n,
    cleanShutdown: options.cleanShutdown ?? false,
    ...(options.readCache === undefined ? {} : { readCache: options.readCache }),
  })
}

/** The value every test record at `offset` carries, so content can be checked after recovery. */
export function valueFor(offset: bigint, padBytes = 0): string {
  return `value-${offset}-${'x'.repeat(padBytes)}`
}

/** A batch of `count` records meant to land at `firstOffset` (for content checks), timestamp `timestampMs`. */
export function testBatch(firstOffset: bigint, count: number, options: { timestampMs?: number; padBytes?: number; timestamps?: number[] } = {}): Buffer {
  const records: RecordInput[] = []
  for (let i = 0; i < count; i++) {
    const offset = firstOffset + BigInt(i)
    records.push({ key: `key-${offset}`, value: valueFor(offset, options.padBytes), timestamp: options.timestamps?.[i] })
  }
  return encodeBatch(records, { timestamp: options.timestampMs ?? 1_700_000_000_000 })
}
