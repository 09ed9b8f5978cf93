// CRC-32C throughput: client/protocol/crc32c.ts ("new") against, in the same run, the slicing-by-8
// it replaced ("old", copied below as the baseline) and Node's native zlib.crc32. zlib's is CRC-32,
// another polynomial: not an answer the Kafka listener could use, but the ceiling a native routine
// reaches on the same bytes. Each size is measured for --rounds rounds; in a round each of the three
// checksums the same buffer for about SAMPLE_BYTES, in an order that rotates from round to round,
// so a noisy neighbour hits all three alike. The table gives each one's median round and best round.
//
// Every buffer is a view starting at byte CRC_START of a larger one, where a record batch's CRC
// range starts, so the word-reading path meets the same misalignment as on the listener.
//
//   npm run bench:crc [-- --rounds 15 --sizes 128,1024,16384,1048576,16777216 --json]

import { randomFillSync } from 'node:crypto'
import { parseArgs } from 'node:util'
import zlib from 'node:zlib'
import { crc32c } from '../client/protocol/crc32c.js'
import { CRC_START } from '../client/protocol/records.js'
import { commandLine, intFlag } from './lib/flags.js'
import { progress, progressDone, publish, type Row } from './lib/report.js'

const USAGE = 'usage: npm run bench:crc -- [--rounds 15] [--sizes 128,1024,16384,1048576,16777216] [--json]'
/** The sizes: a small batch (128 B - 1 KiB is the listener's common case) up to a large read. */
const DEFAULT_SIZES = '128,1024,16384,1048576,16777216'
/** Bytes each checksum covers per round and size (at least one call): ~10-100 ms at these speeds. */
const SAMPLE_BYTES = 16 * 2 ** 20
/** A view offset that is a record batch's own, not 4- or 8-aligned. */
const VIEW_OFFSET_BYTES = CRC_START

// ---- BASELINE: client/protocol/crc32c.ts as it was before slicing-by-16 (slicing-by-8, eight
// ---- nested Uint32Array tables), copied unchanged so the ratio is measured, not remembered.

const BASELINE_POLYNOMIAL = 0x82f63b78

const BASELINE_TABLES: Uint32Array[] = (() => {
  const tables = Array.from({ length: 8 }, () => new Uint32Array(256))
  const t0 = tables[0]!
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ BASELINE_POLYNOMIAL : c >>> 1
    t0[n] = c >>> 0
  }
  for (let n = 0; n < 256; n++) {
    let c = t0[n]!
    for (let k = 1; k < 8; k++) {
      c = t0[c & 0xff]! ^ (c >>> 8)
      tables[k]![n] = c >>> 0
    }
  }
  return tables
})()

/** BASELINE: the slicing-by-8 CRC-32C this bench compares the new one with. */
function baselineCrc32c(buf: Uint8Array, previous = 0): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = BASELINE_TABLES as [Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array]
  let crc = ~previous >>> 0
  let i = 0
  const end8 = buf.length - (buf.length % 8)
  for (; i < end8; i += 8) {
    const lo = (crc ^ (buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24))) >>> 0
    crc =
      t7[lo & 0xff]! ^
      t6[(lo >>> 8) & 0xff]! ^
      t5[(lo >>> 16) & 0xff]! ^
      t4[lo >>> 24]! ^
      t3[buf[i + 4]!]! ^
      t2[buf[i + 5]!]! ^
      t1[buf[i + 6]!]! ^
      t0[buf[i + 7]!]!
  }
  for (; i < buf.length; i++) crc = t0[(crc ^ buf[i]!) & 0xff]! ^ (crc >>> 8)
  return ~crc >>> 0
}

// ---- END BASELINE

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '15' },
    sizes: { type: 'string', default: DEFAULT_SIZES },
    json: { type: 'boolean', default: false },
  },
  strict: true,
})
const rounds = intFlag(USAGE, 'rounds', values.rounds, 1)
const sizes = values.sizes.split(',').map((s) => intFlag(USAGE, 'sizes', s.trim(), 1))

type Checksum = (buf: Uint8Array, previous: number) => number
/** The three in the order of the table's columns. */
const SUBJECTS: readonly { key: 'old' | 'new' | 'zlib'; fn: Checksum }[] = [
  { key: 'old', fn: baselineCrc32c },
  { key: 'new', fn: crc32c },
  { key: 'zlib', fn: (buf, previous) => zlib.crc32(buf, previous) },
]

interface SizeResult {
  size: number
  /** MiB/s of each round, per subject. */
  mibPerSec: Record<'old' | 'new' | 'zlib', number[]>
}

/** Checksums `buf` `calls` times, each call continuing the last, so no call can be skipped; returns ms. */
function timeCalls(fn: Checksum, buf: Uint8Array, calls: number): { ms: number; crc: number } {
  let crc = 0
  const t0 = performance.now()
  for (let c = 0; c < calls; c++) crc = fn(buf, crc)
  return { ms: performance.now() - t0, crc }
}

function measureSize(size: number): SizeResult {
  const backing = Buffer.allocUnsafeSlow(VIEW_OFFSET_BYTES + size)
  randomFillSync(backing)
  const buf = backing.subarray(VIEW_OFFSET_BYTES)
  // The same answer from old and new, or the figures compare two different things.
  const expected = baselineCrc32c(buf, 0)
  if (crc32c(buf) !== expected) throw new Error(`bench: crc32c and the baseline disagree on ${size} bytes`)
  const calls = Math.max(1, Math.round(SAMPLE_BYTES / size))
  const result: SizeResult = { size, mibPerSec: { old: [], new: [], zlib: [] } }
  for (const s of SUBJECTS) timeCalls(s.fn, buf, calls) // warm-up, untimed
  for (let round = 0; round < rounds; round++) {
    progress(`crc32c: ${sizeLabel(size)} round ${round + 1}/${rounds}`)
    const crcs: Partial<Record<'old' | 'new' | 'zlib', number>> = {}
    for (let k = 0; k < SUBJECTS.length; k++) {
      const s = SUBJECTS[(round + k) % SUBJECTS.length]!
      const { ms, crc } = timeCalls(s.fn, buf, calls)
      crcs[s.key] = crc
      result.mibPerSec[s.key].push((size * calls) / 2 ** 20 / (ms / 1000))
    }
    if (crcs.new !== crcs.old) throw new Error(`bench: crc32c and the baseline disagree after ${calls} chained calls on ${size} bytes`)
  }
  return result
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

function sizeLabel(size: number): string {
  for (const [unit, bytes] of [['MiB', 2 ** 20], ['KiB', 2 ** 10]] as const) if (size >= bytes && size % bytes === 0) return `${size / bytes} ${unit}`
  return `${size} B`
}

function rows(results: readonly SizeResult[]): Row[] {
  const out: Row[] = []
  for (const [section, pick] of [
    [`median of ${rounds} rounds`, median],
    [`best of ${rounds} rounds`, (v: readonly number[]) => Math.max(...v)],
  ] as const) {
    for (const r of results) {
      const [oldMiB, newMiB, zlibMiB] = [pick(r.mibPerSec.old), pick(r.mibPerSec.new), pick(r.mibPerSec.zlib)]
      out.push({
        section,
        name: sizeLabel(r.size),
        figures: { 'old MiB/s': oldMiB, 'new MiB/s': newMiB, 'zlib.crc32 MiB/s': zlibMiB, 'new/old': newMiB / oldMiB, 'new/zlib': newMiB / zlibMiB },
      })
    }
  }
  return out
}

function main(): void {
  const results = sizes.map(measureSize)
  progressDone()
  publish(
    {
      workload: 'crc32c',
      command: commandLine('bench/crc32c.ts'),
      params: { rounds, sizes, sampleBytes: SAMPLE_BYTES, viewOffsetBytes: VIEW_OFFSET_BYTES },
      rows: rows(results),
      notes: [
        'old: the slicing-by-8 CRC-32C that client/protocol/crc32c.ts replaced (its copy in this file); new: client/protocol/crc32c.ts.',
        'zlib.crc32 is native CRC-32, not CRC-32C: the ceiling of a native routine, not a substitute.',
        'MiB/s is 2^20 bytes a second; ratios are of the figures in their own section.',
        'old is sometimes far slower at 128 B in one process than in another: V8 can leave its loop-in-one-function shape without optimized code for short calls (see client/protocol/crc32c.ts).',
      ],
    },
    { json: values.json },
  )
}

main()
