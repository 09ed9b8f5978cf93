// The safety checker of the fault and partition suites. It knows nothing of the broker: it takes
// what the test recorded (every acknowledgement, every send that failed, everything readers were
// given) and the log read back after healing, and counts what went wrong:
//
//   lost         an acknowledged value is nowhere in the log
//   moved        an acknowledged value is in the log, at another offset than acknowledged
//   duplicated   a value is in the log more than once (idempotence failed)
//   vanished     a reader was given a record that the log no longer holds at that offset
//   reordered    a producer's values of one partition are out of the order it sent them
//   indeterminate  sends that failed or timed out: either outcome is allowed; `landed` of them
//                are in the log
//
// Values are `<producer><n>`: a producer's name followed by a counter it sends in order (the
// steady producer's `r0, r1, ...`), which is how reordering is seen.

import type { Acked } from './replication.js'

export interface History {
  acked: readonly Acked[]
  /** Values whose send failed: never acknowledged, maybe written. */
  indeterminate: readonly string[]
  /** What readers were given, by `partition:offset`. */
  seen: readonly ReadonlyMap<string, string>[]
  /** Values that must not be in the log at all (a stale leader refused them, or should have). */
  forbidden?: readonly string[]
}

export interface Verdict {
  acknowledged: number
  lost: number
  moved: number
  duplicated: number
  vanished: number
  reordered: number
  indeterminate: number
  /** Of the indeterminate sends, how many are in the log. */
  landed: number
  /** Forbidden values found in the log. */
  forbiddenFound: number
  /** A few examples of each failure, for the test's message. */
  examples: string[]
}

/** `log`: the whole log below the high watermark, by `partition:offset`. */
export function checkHistory(history: History, log: ReadonlyMap<string, string>): Verdict {
  const examples: string[] = []
  const note = (what: string): void => {
    if (examples.length < 10) examples.push(what)
  }
  const where = new Map<string, string[]>()
  for (const [key, value] of log) {
    const keys = where.get(value)
    if (keys === undefined) where.set(value, [key])
    else keys.push(key)
  }
  let lost = 0
  let moved = 0
  for (const a of history.acked) {
    const key = `${a.partition}:${a.offset}`
    if (log.get(key) === a.value) continue
    if (where.has(a.value)) {
      moved++
      note(`moved: ${a.value} acknowledged at ${key}, in the log at ${where.get(a.value)!.join(',')}`)
    } else {
      lost++
      note(`lost: ${a.value} acknowledged at ${key}; the log has ${log.get(key) ?? 'nothing'} there`)
    }
  }
  let duplicated = 0
  for (const [value, keys] of where) {
    if (keys.length < 2) continue
    duplicated++
    note(`duplicated: ${value} at ${keys.join(',')}`)
  }
  let vanished = 0
  for (const seen of history.seen) {
    for (const [key, value] of seen) {
      if (log.get(key) === value) continue
      vanished++
      note(`vanished: a reader was given ${value} at ${key}; the log has ${log.get(key) ?? 'nothing'} there`)
    }
  }
  const reordered = countReordered(log, note)
  const landed = history.indeterminate.filter((v) => where.has(v)).length
  const forbidden = (history.forbidden ?? []).filter((v) => where.has(v))
  for (const v of forbidden.slice(0, 3)) note(`forbidden: ${v} is in the log at ${where.get(v)!.join(',')}`)
  return { acknowledged: history.acked.length, lost, moved, duplicated, vanished, reordered, indeterminate: history.indeterminate.length, landed, forbiddenFound: forbidden.length, examples }
}

/** Per partition and producer, in offset order: each value's counter must be above the one before. */
function countReordered(log: ReadonlyMap<string, string>, note: (what: string) => void): number {
  const entries = [...log].map(([key, value]) => {
    const [partition, offset] = key.split(':')
    return { partition: Number(partition), offset: BigInt(offset!), value }
  })
  entries.sort((a, b) => a.partition - b.partition || (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0))
  const last = new Map<string, { n: number; offset: bigint }>()
  let reordered = 0
  for (const e of entries) {
    const m = /^(.*?)(\d+)$/.exec(e.value)
    if (m === null) continue
    const stream = `${e.partition}/${m[1]}`
    const n = Number(m[2])
    const before = last.get(stream)
    if (before !== undefined && n <= before.n) {
      reordered++
      note(`reordered: ${e.value} at ${e.partition}:${e.offset} after ${m[1]}${before.n} at ${e.partition}:${before.offset}`)
    }
    last.set(stream, { n, offset: e.offset })
  }
  return reordered
}

/**
 * Availability from the acknowledgements' times: per partition, the longest time between two
 * consecutive acknowledgements after `fromMs` (and up to the last one), in ms: how long the
 * partition accepted no acks=all write.
 */
export function longestAckGapMs(acked: readonly Acked[], partitions: number, fromMs: number): { ms: number; partition: number } {
  const times = Array.from({ length: partitions }, () => [] as number[])
  for (const a of acked) if (a.at !== undefined) times[a.partition]?.push(a.at)
  let worst = { ms: 0, partition: -1 }
  for (const [p, ts] of times.entries()) {
    ts.sort((x, y) => x - y)
    let prev: number | null = null
    for (const at of ts) {
      if (prev !== null && at > fromMs) {
        const gap = at - Math.max(prev, fromMs)
        if (gap > worst.ms) worst = { ms: gap, partition: p }
      }
      prev = at
    }
  }
  return worst
}
