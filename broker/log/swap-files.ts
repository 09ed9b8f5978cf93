// Finishing or rolling back a clean that a crash interrupted, as Kafka's log loading does with
// `.cleaned` and `.swap` files. Only Log.open calls it, before it lists the segments.
//
// The cleaner (compaction.ts) and Log.replaceSegments stage one cleaned segment at a time:
//
//   1. write   <base>.log.cleaned  .index.cleaned  .timeindex.cleaned    fsync, fsync dir
//   2. rename  each to .swap, the .log last                              fsync dir
//   3. delete  the segments it replaces, oldest (base offset <base>) first
//   4. rename  each .swap to its live name, the .log first               fsync dir
//
// So on open:
//   - any `.cleaned` file means step 2 did not finish: the old segments are all still there, so the
//     staged files (`.cleaned`, and `.swap` at or above the lowest cleaned base) are deleted;
//   - a `<base>.log.swap` without `.cleaned` files is complete and durable: step 3 is redone for
//     every live segment whose base lies in [base, end of the swap segment) (those are exactly the
//     replaced ones that may remain; a replaced segment past that end held only removed records,
//     so keeping it loses nothing and the next clean removes them again), then step 4;
//   - an index `.swap` with no `.log.swap` is from step 4 after its .log was renamed: it belongs to
//     the live segment and is renamed too.
// Writes by writeFileAtomic leave `.tmp` files when cut short; staged ones are deleted.

import { readdir, rename, rm } from 'node:fs/promises'
import path from 'node:path'
import type { Logger } from 'pino'
import { fileExists, fsyncDir } from './checkpoint.js'
import type { LogConfig } from './config.js'
import { Segment, SEGMENT_FILE_KINDS, segmentFileName } from './segment.js'

const STAGED_NAME = /^(\d{20})\.(log|index|timeindex|txnindex)\.(cleaned|swap)(\.tmp)?$/
const LIVE_LOG_NAME = /^(\d{20})\.log$/

interface StagedFile {
  name: string
  base: bigint
  kind: 'log' | 'index' | 'timeindex' | 'txnindex'
  stage: 'cleaned' | 'swap'
  tmp: boolean
}

export interface StagedRecovery {
  /** Base offsets of swap segments that were swapped in. */
  completed: bigint[]
  /** Staged files deleted because their clean had not finished. */
  deletedFiles: number
}

/** Completes or rolls back whatever staged segment files a crash left in `dir`. */
export async function recoverStagedSegments(dir: string, config: LogConfig, options: { nowMs: number; logger: Logger }): Promise<StagedRecovery> {
  const result: StagedRecovery = { completed: [], deletedFiles: 0 }
  const staged = await listStaged(dir)
  if (staged.length === 0) return result
  const cleanedBases = staged.filter((f) => f.stage === 'cleaned' && !f.tmp).map((f) => f.base)
  const lowestCleaned = cleanedBases.length === 0 ? null : cleanedBases.reduce((a, b) => (a < b ? a : b))
  for (const f of staged) {
    const unfinished = f.tmp || f.stage === 'cleaned' || (lowestCleaned !== null && f.base >= lowestCleaned)
    if (!unfinished) continue
    await rm(path.join(dir, f.name), { force: true })
    result.deletedFiles++
  }
  for (const f of await listStaged(dir)) {
    if (f.kind === 'log') {
      await completeSwap(dir, f.base, config, options)
      result.completed.push(f.base)
    }
  }
  for (const f of await listStaged(dir)) {
    // Step 4 had renamed the .log already: the index belongs to the live segment.
    await rename(path.join(dir, f.name), path.join(dir, segmentFileName(f.base, `.${f.kind}`)))
  }
  await fsyncDir(dir)
  options.logger.warn({ subsystem: 'log-cleaner', dir, completed: result.completed.map(String), deletedFiles: result.deletedFiles }, 'finished an interrupted log clean')
  return result
}

/** Steps 3 and 4 for the complete swap segment at `base`. */
async function completeSwap(dir: string, base: bigint, config: LogConfig, options: { nowMs: number; logger: Logger }): Promise<void> {
  const { segment, droppedBytes } = await Segment.open(dir, base, config, { recover: true, nowMs: options.nowMs, stage: '.swap' })
  if (droppedBytes > 0 && (await fileExists(path.join(dir, segmentFileName(base, '.log'))))) {
    // A swap file is fsynced before it is named .swap, so this is a damaged disk, not a crash.
    // The replaced segments are all still there (step 3 deletes the one at `base` first): keep them.
    options.logger.error({ subsystem: 'log-cleaner', dir, base: String(base), droppedBytes }, 'a staged cleaned segment is damaged; keeping the segments it was to replace')
    await segment.delete()
    return
  }
  const end = segment.nextOffset > base ? segment.nextOffset : base + 1n
  for (const replaced of await liveBasesIn(dir, base, end)) {
    for (const kind of SEGMENT_FILE_KINDS) await rm(path.join(dir, segmentFileName(replaced, kind)), { force: true })
  }
  await fsyncDir(dir)
  await segment.renameFiles('')
  await segment.close({ persistIndexes: true })
}

async function listStaged(dir: string): Promise<StagedFile[]> {
  const out: StagedFile[] = []
  for (const name of await readdir(dir)) {
    const m = STAGED_NAME.exec(name)
    if (m === null) continue
    out.push({ name, base: BigInt(m[1]!), kind: m[2] as StagedFile['kind'], stage: m[3] as StagedFile['stage'], tmp: m[4] !== undefined })
  }
  return out.sort((a, b) => (a.base < b.base ? -1 : a.base > b.base ? 1 : 0))
}

/** Base offsets of live segments in [from, to), ascending. */
async function liveBasesIn(dir: string, from: bigint, to: bigint): Promise<bigint[]> {
  const bases: bigint[] = []
  for (const name of await readdir(dir)) {
    const m = LIVE_LOG_NAME.exec(name)
    if (m === null) continue
    const base = BigInt(m[1]!)
    if (base >= from && base < to) bases.push(base)
  }
  return bases.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
}

