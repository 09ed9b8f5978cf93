// `npm run bench -- --workload durable`: produce acks=all and the end-to-end latency again on a
// second fresh cluster whose brokers all run `fsync: always` (every append fsynced before it is
// acknowledged, group-committed: broker/log/log.ts), so the cost of surviving a power failure is a
// ratio against the first pass of the same run, beside the disk's own fsync rate measured then too.

import type { FsyncBaselineResult } from './baseline.js'
import type { Goal, Row } from './report.js'

export const DURABLE_LABEL = 'fsync: always'
/** What the second cluster's brokers run with. */
export const DURABLE_OVERRIDES: Record<string, string> = { fsync: 'always' }
/** The goals. */
export const DURABLE_GOALS = {
  acksAllRecordsPerSecMin: 250_000,
  /** acks=all with fsync: always over acks=all without, in the same run. */
  acksAllShareMin: 0.5,
  e2eMsP99Max: 5,
} as const

function figure(rows: readonly Row[], match: (r: Row) => boolean, key: string): number | null {
  const v = rows.find(match)?.figures[key]
  return typeof v === 'number' ? v : null
}

/** The durable pass's rows (sections prefixed), the fsync baseline's, the ratios, and the goals. */
export function compareDurable(plain: readonly Row[], durable: readonly Row[], fsync: FsyncBaselineResult, chunkBytes: number): { rows: Row[]; goals: Goal[] } {
  const acksAll = (r: Row): boolean => r.name === 'produce acks=all'
  const e2e = (r: Row): boolean => r.name.startsWith('send -> consumer receipt, ')
  const ratio = (a: number | null, b: number | null): number | null => (a === null || b === null || b === 0 ? null : a / b)
  const rate = figure(durable, acksAll, 'records/s')
  const share = ratio(rate, figure(plain, acksAll, 'records/s'))
  const p99 = figure(durable, e2e, 'ms p99')
  const rows: Row[] = durable.map((r) => ({ ...r, section: `${DURABLE_LABEL}: ${r.section ?? ''}` }))
  const fsyncsPerSec = (fsync.fsyncs * 1000) / fsync.ms
  rows.push(
    {
      name: `raw ${chunkBytes / 1024} KiB write + fdatasync, one after another, ${(fsync.ms / 1000).toFixed(1)} s`,
      section: 'baseline: the disk\'s fsync rate (same run, same temp dir)',
      figures: { 'fsyncs/s': fsyncsPerSec, 'ms per fsync': fsync.ms / fsync.fsyncs },
    },
    {
      name: `${DURABLE_LABEL} / default, same run`,
      section: `durability cost (${DURABLE_LABEL} over the default)`,
      figures: { 'acks=all records/s ratio': share ?? 'n/a', 'e2e ms p99 ratio': ratio(p99, figure(plain, e2e, 'ms p99')) ?? 'n/a' },
    },
  )
  const goal = (name: string, target: string, value: number | null, unit: string, met: (v: number) => boolean): Goal => ({ name, target, value, unit, met: value === null ? null : met(value) })
  const goals: Goal[] = [
    goal(`produce acks=all, ${DURABLE_LABEL}`, `>= ${DURABLE_GOALS.acksAllRecordsPerSecMin.toLocaleString('en-US')}`, rate, 'records/s', (v) => v >= DURABLE_GOALS.acksAllRecordsPerSecMin),
    goal(`produce acks=all, ${DURABLE_LABEL} / default`, `>= ${DURABLE_GOALS.acksAllShareMin}x`, share, 'x', (v) => v >= DURABLE_GOALS.acksAllShareMin),
    goal(`e2e p99, ${DURABLE_LABEL}`, `<= ${DURABLE_GOALS.e2eMsP99Max} ms`, p99, 'ms', (v) => v <= DURABLE_GOALS.e2eMsP99Max),
  ]
  return { rows, goals }
}
