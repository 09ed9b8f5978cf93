// Producing for a benchmark: as fast as the producers go (throughput), or paced by the clock to a
// fixed rate (latency and lag), each with the records' bytes counted as sent.

import type { RecordableHistogram } from 'node:perf_hooks'
import type { Message, Producer, ProducerOptions, Strand } from '../../client/index.js'
import { sleep } from './cluster.js'
import { progress } from './report.js'

/** Messages handed to one send() call: big enough to keep the accumulator full. */
const SEND_CHUNK_RECORDS = 1000
/** Sends in flight per producer at once: bounded so the producer's buffer, not the heap, absorbs bursts. */
const SENDS_INFLIGHT_MAX = 64
/** A paced producer sends what is due every this often, so its rate is even at this scale. */
const PACE_INTERVAL_MS = 1
/** Progress is redrawn at most this often. */
const PROGRESS_INTERVAL_MS = 250

export interface Throughput {
  records: number
  /** Value bytes of those records (the payload; keys, headers and framing not counted). */
  bytes: number
  ms: number
}

/** Keeps SENDS_INFLIGHT_MAX sends outstanding; a failed send fails the workload at the next wait. */
class SendWindow {
  readonly #inflight = new Set<Promise<unknown>>()

  async add(p: Promise<unknown>): Promise<void> {
    this.#inflight.add(p)
    void p.finally(() => this.#inflight.delete(p)).catch(() => {})
    if (this.#inflight.size >= SENDS_INFLIGHT_MAX) await Promise.race(this.#inflight)
  }

  async drain(): Promise<void> {
    await Promise.all(this.#inflight)
  }
}

/** A progress line redrawn at most every PROGRESS_INTERVAL_MS. */
function throttledProgress(): (text: () => string) => void {
  let last = 0
  return (text) => {
    const now = performance.now()
    if (now - last < PROGRESS_INTERVAL_MS) return
    last = now
    progress(text())
  }
}

export interface ProduceAllOptions {
  topic: string
  records: number
  recordBytes: number
  /** Producers sending at once, each its own connections, splitting `records` between them. */
  producers: number
  producer: ProducerOptions
  /** Names the workload in the progress line. */
  label: string
}

/** Every record as fast as the producers take them; timed from the first send to the last acknowledgement. */
export async function produceAll(strand: Strand, o: ProduceAllOptions): Promise<Throughput> {
  const value = Buffer.alloc(o.recordBytes, 0x61)
  const messages: Message[] = Array.from({ length: SEND_CHUNK_RECORDS }, () => ({ value }))
  const producers = Array.from({ length: o.producers }, () => strand.producer(o.producer))
  const show = throttledProgress()
  let sent = 0
  const one = async (producer: Producer, share: number): Promise<void> => {
    const window = new SendWindow()
    for (let mine = 0; mine < share; ) {
      const n = Math.min(SEND_CHUNK_RECORDS, share - mine)
      mine += n
      sent += n
      show(() => `${o.label}: ${sent.toLocaleString('en-US')} / ${o.records.toLocaleString('en-US')} records`)
      await window.add(producer.send({ topic: o.topic, messages: n === SEND_CHUNK_RECORDS ? messages : messages.slice(0, n) }))
    }
    await window.drain()
    await producer.flush()
  }
  try {
    const start = performance.now()
    const base = Math.floor(o.records / o.producers)
    await Promise.all(producers.map((p, i) => one(p, base + (i < o.records % o.producers ? 1 : 0))))
    return { records: o.records, bytes: o.records * o.recordBytes, ms: performance.now() - start }
  } finally {
    await Promise.allSettled(producers.map((p) => p.close()))
  }
}

export interface ProduceAtRateOptions {
  topic: string
  recordsPerSec: number
  durationMs: number
  recordBytes: number
  producer: ProducerOptions
  label: string
  /**
   * Makes each record's value at its send time (`performance.now()`); absent, every record shares
   * one buffer of `recordBytes`.
   */
  valueAt?: (sentAtMs: number) => Buffer
  /** Called when a send() is acknowledged, with the time it was made (`performance.now()`). */
  onAcked?: (sentAtMs: number) => void
}

/** Microseconds per millisecond: the histograms hold integer microseconds, a time under 1 us reads 1 us. */
export const US_PER_MS = 1000

export function recordMs(h: RecordableHistogram, ms: number): void {
  h.record(Math.max(1, Math.round(ms * US_PER_MS)))
}

/**
 * `recordsPerSec` for `durationMs`: every PACE_INTERVAL_MS it sends the records due by then, so
 * the rate is set by the clock, not by how fast acknowledgements come back. Falling behind (the
 * send window full) lowers the achieved rate, which the returned figures show.
 */
export async function produceAtRate(strand: Strand, o: ProduceAtRateOptions): Promise<Throughput> {
  const producer = strand.producer(o.producer)
  const total = Math.max(1, Math.round((o.recordsPerSec * o.durationMs) / 1000))
  const shared = Buffer.alloc(o.recordBytes, 0x61)
  const window = new SendWindow()
  const show = throttledProgress()
  try {
    const start = performance.now()
    let sent = 0
    while (sent < total) {
      const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * o.recordsPerSec))
      while (sent < due) {
        const n = Math.min(SEND_CHUNK_RECORDS, due - sent)
        const now = performance.now()
        const messages: Message[] = Array.from({ length: n }, () => ({ value: o.valueAt === undefined ? shared : o.valueAt(now) }))
        sent += n
        const sending = producer.send({ topic: o.topic, messages })
        const onAcked = o.onAcked
        if (onAcked !== undefined) void sending.then(() => onAcked(now), () => {})
        await window.add(sending)
      }
      show(() => `${o.label} at ${Math.round(o.recordsPerSec).toLocaleString('en-US')} records/s: ${sent.toLocaleString('en-US')} / ${total.toLocaleString('en-US')}`)
      await sleep(PACE_INTERVAL_MS)
    }
    await window.drain()
    await producer.flush()
    return { records: total, bytes: total * o.recordBytes, ms: performance.now() - start }
  } finally {
    await producer.close()
  }
}
