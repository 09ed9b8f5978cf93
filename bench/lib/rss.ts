// Resident memory (RSS) of broker processes the benchmark spawned, read from /proc/<pid>/status
// (VmRSS). Linux only: elsewhere, and for brokers it did not spawn (--bootstrap), every reading is
// null and the report says n/a.

import { readFileSync } from 'node:fs'
import { sleep } from './cluster.js'

/** VmRSS is reported in kB (KiB). */
const VMRSS_UNIT_BYTES = 1024

/** The process's resident set in bytes, or null when /proc cannot say (not Linux, process gone). */
export function readRssBytes(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m === null ? null : Number(m[1]) * VMRSS_UNIT_BYTES
  } catch {
    return null
  }
}

/**
 * Samples every pid's RSS every `intervalMs` until stop(), keeping each one's maximum: the peak a
 * workload drove a broker to, within the sampling interval.
 */
export class RssPeakSampler {
  /** Highest reading per pid so far; null until a reading succeeds. */
  readonly #peakBytes = new Map<number, number | null>()
  readonly #timer: NodeJS.Timeout

  constructor(pids: readonly number[], intervalMs: number) {
    for (const pid of pids) this.#peakBytes.set(pid, null)
    this.#sample()
    this.#timer = setInterval(() => this.#sample(), intervalMs)
  }

  #sample(): void {
    for (const [pid, peak] of this.#peakBytes) {
      const now = readRssBytes(pid)
      if (now !== null && (peak === null || now > peak)) this.#peakBytes.set(pid, now)
    }
  }

  /** Stops sampling; the peak per pid, null where no reading succeeded. */
  stop(): Map<number, number | null> {
    clearInterval(this.#timer)
    this.#sample()
    return new Map(this.#peakBytes)
  }
}

/**
 * The median of `samples` readings per pid taken `intervalMs` apart: an idle broker's RSS still
 * moves with garbage its timers make between collections, and the median is steadier than any
 * one reading.
 */
export async function medianRssBytes(pids: readonly number[], samples: number, intervalMs: number): Promise<Map<number, number | null>> {
  const readings = new Map<number, number[]>(pids.map((pid) => [pid, []]))
  for (let i = 0; i < samples; i++) {
    if (i > 0) await sleep(intervalMs)
    for (const pid of pids) {
      const v = readRssBytes(pid)
      if (v !== null) readings.get(pid)?.push(v)
    }
  }
  return new Map(
    [...readings].map(([pid, vs]) => {
      const sorted = vs.sort((a, b) => a - b)
      return [pid, sorted.length === 0 ? null : (sorted[Math.floor(sorted.length / 2)] as number)]
    }),
  )
}
