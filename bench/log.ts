// Storage benchmark: append N bytes to a partition log as 16 KiB and as 1 KiB batches, read it all
// back, and in the same run write and read the same bytes with plain positional `fs` calls (the
// baseline), interleaved slice by slice. Neither side fsyncs (the default flush policy leaves it to the OS), so both measure
// the same thing: the cost of our log over the page cache.
//
//   npm run bench:log                      1 GiB per batch size
//   npm run bench:log -- --bytes 256MiB --json

import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import pino from 'pino'
import { encodeBatch } from '../client/protocol/records.js'
import { DEFAULT_LOG_CONFIG } from '../broker/log/config.js'
import { Log } from '../broker/log/log.js'
import { openRawFile, READ_CHUNK_BYTES } from './lib/baseline.js'
import { commandLine } from './lib/flags.js'
import { mbPerSec, perSec, progress, progressDone, publish, type Row } from './lib/report.js'

const USAGE = 'usage: npm run bench:log -- [--bytes 1GiB] [--json]'
/** Distinct pre-encoded batches cycled through, so the appends are not one buffer over and over. */
const BATCH_POOL = 16
/** Bytes each side appends (or reads) before the other side takes its turn. */
const SLICE_BYTES = 16 * 1024 * 1024

const { values } = parseArgs({
  options: { bytes: { type: 'string', default: '1GiB' }, json: { type: 'boolean', default: false }, help: { type: 'boolean', default: false } },
  strict: true,
})
if (values.help) {
  process.stdout.write(`${USAGE}\n`)
  process.exit(0)
}
const totalBytes = parseBytes(values.bytes)

function parseBytes(text: string): number {
  const m = /^(\d+)(KiB|MiB|GiB)?$/.exec(text)
  if (m === null) {
    process.stderr.write(`bench: --bytes must look like 1GiB, 256MiB or 1048576, got "${text}"\n${USAGE}\n`)
    process.exit(1)
  }
  const unit = { KiB: 2 ** 10, MiB: 2 ** 20, GiB: 2 ** 30 }[m[2] as 'KiB' | 'MiB' | 'GiB'] ?? 1
  return Number(m[1]) * unit
}

/** Batches of about `batchBytes` each (records of ~100 bytes, like small row changes). */
function batchPool(batchBytes: number): Buffer[] {
  const recordsPerBatch = Math.max(1, Math.floor(batchBytes / 110))
  return Array.from({ length: BATCH_POOL }, (_, i) =>
    encodeBatch(
      Array.from({ length: recordsPerBatch }, (_, r) => ({ key: `k${i}-${r}`, value: Buffer.alloc(96, 97 + (i % 26)) })),
      { timestamp: Date.now() },
    ),
  )
}

interface Timing {
  appendMs: number
  readMs: number
  bytes: number
  batches: number
}

/** One side of the comparison: appends one batch, or reads the next chunk (returning its bytes). */
interface Subject {
  append(batch: Buffer): Promise<void>
  readNext(): Promise<number>
  close(): Promise<void>
}

async function logSubject(dir: string): Promise<Subject> {
  const logger = pino({ level: 'silent' })
  const { log } = await Log.open({ dir, config: DEFAULT_LOG_CONFIG, clock: Date.now, logger, recoveryPoint: 0n, cleanShutdown: false })
  let offset = 0n
  return {
    append: async (batch) => {
      await log.append(batch, { assignOffsets: true, leaderEpoch: 0 })
    },
    readNext: async () => {
      const { records, nextOffset } = await log.read(offset, READ_CHUNK_BYTES)
      offset = nextOffset
      return records.length
    },
    close: () => log.close(),
  }
}

/**
 * Runs both subjects over the same batches, interleaved in slices of SLICE_BYTES and alternating
 * which goes first, so page-cache writeback and noisy neighbours hit both sides alike (running one
 * whole gigabyte after the other made the second one up to 2x slower on its own).
 */
async function compare(label: string, pool: Buffer[], subjects: { log: Subject; raw: Subject }): Promise<{ log: Timing; raw: Timing }> {
  const count = Math.ceil(totalBytes / pool[0]!.length)
  const perSlice = Math.max(1, Math.floor(SLICE_BYTES / pool[0]!.length))
  const timing = { log: { appendMs: 0, readMs: 0, bytes: 0, batches: 0 }, raw: { appendMs: 0, readMs: 0, bytes: 0, batches: 0 } }
  const sides = ['log', 'raw'] as const
  for (let start = 0, slice = 0; start < count; start += perSlice, slice++) {
    for (const side of slice % 2 === 0 ? sides : [...sides].reverse()) {
      const t0 = performance.now()
      for (let i = start; i < Math.min(count, start + perSlice); i++) {
        const batch = pool[i % BATCH_POOL]!
        await subjects[side].append(batch)
        timing[side].bytes += batch.length
        timing[side].batches++
      }
      timing[side].appendMs += performance.now() - t0
    }
    progress(`${label} append: ${((start * pool[0]!.length) / 2 ** 20).toFixed(0)} MiB`)
  }
  const read = { log: 0, raw: 0 }
  for (let slice = 0; read.log < timing.log.bytes || read.raw < timing.raw.bytes; slice++) {
    for (const side of slice % 2 === 0 ? sides : [...sides].reverse()) {
      const t0 = performance.now()
      for (let got = 0; got < SLICE_BYTES && read[side] < timing[side].bytes; ) {
        const n = await subjects[side].readNext()
        got += n
        read[side] += n
      }
      timing[side].readMs += performance.now() - t0
    }
    progress(`${label} read: ${(read.log / 2 ** 20).toFixed(0)} MiB`)
  }
  return timing
}

function rows(label: string, log: Timing, raw: Timing): Row[] {
  const appendRatio = mbPerSec(log.bytes, log.appendMs) / mbPerSec(raw.bytes, raw.appendMs)
  const readRatio = mbPerSec(log.bytes, log.readMs) / mbPerSec(raw.bytes, raw.readMs)
  return [
    { name: `${label} log append`, figures: { 'MB/s': mbPerSec(log.bytes, log.appendMs), 'batches/s': perSec(log.batches, log.appendMs), 'x raw': appendRatio } },
    { name: `${label} raw write`, figures: { 'MB/s': mbPerSec(raw.bytes, raw.appendMs), 'batches/s': perSec(raw.batches, raw.appendMs), 'x raw': 1 } },
    { name: `${label} log read`, figures: { 'MB/s': mbPerSec(log.bytes, log.readMs), 'x raw': readRatio } },
    { name: `${label} raw read`, figures: { 'MB/s': mbPerSec(raw.bytes, raw.readMs), 'x raw': 1 } },
  ]
}

async function main(): Promise<void> {
  const all: Row[] = []
  for (const [label, batchBytes] of [['16KiB', 16 * 1024], ['1KiB', 1024]] as const) {
    const root = mkdtempSync(path.join(os.tmpdir(), 'strand-bench-log-'))
    try {
      const subjects = { log: await logSubject(path.join(root, 'log')), raw: await openRawFile(path.join(root, 'raw.bin')) }
      const { log, raw } = await compare(label, batchPool(batchBytes), subjects)
      await subjects.log.close()
      await subjects.raw.close()
      all.push(...rows(`${label} batches:`, log, raw))
    } finally {
      rmSync(root, { recursive: true, force: true })
    }
  }
  progressDone()
  publish({ workload: 'log', command: commandLine('bench/log.ts'), params: { bytes: totalBytes, readChunkBytes: READ_CHUNK_BYTES, sliceBytes: SLICE_BYTES }, rows: all }, { json: values.json })
}

await main()
