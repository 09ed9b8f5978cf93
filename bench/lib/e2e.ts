// End-to-end latency: one producer paced to a fixed rate writes its send time into each record's
// value, and one consumer in the same process (one clock, performance.now()) records, per record,
// how long after that it received it. The consumer is reading before the first send. The first
// `warmupMs` of sends are the warm-up, reported apart: in its first seconds every process (three
// brokers and this one) compiles the paths a paced, small-batch load takes, and on the 2-core
// benchmark machine TurboFan was 29% of all CPU samples then (perf record -a), which made nearly
// every record of the first 1.5-2 s slower than 3 ms.

import { createHistogram, monitorEventLoopDelay, type RecordableHistogram } from 'node:perf_hooks'
import type { ProducerOptions, Strand } from '../../client/index.js'
import { produceAtRate, recordMs, US_PER_MS, type Throughput } from './produce.js'
import { endOffsets } from './topics.js'

/** The send time (a float64 of performance.now()) sits in the value's first bytes. */
export const STAMP_BYTES = 8
/** Sampling interval of the event-loop delay histogram. */
const LOOP_DELAY_RESOLUTION_MS = 10
/** After the last send, records still missing by then are reported as lost, not waited for. */
const DRAIN_TIMEOUT_MS = 10_000

export interface EndToEndOptions {
  topic: string
  partitions: number
  recordsPerSec: number
  /** Measured, after the warm-up. */
  durationMs: number
  /** Sent at the same rate before `durationMs`; its latencies are reported apart (`warmup`). */
  warmupMs: number
  recordBytes: number
  producer: ProducerOptions
}

export interface EndToEndResult {
  produced: Throughput
  /** Records the consumer received, warm-up included. */
  received: number
  /** Records whose latency is in the quantiles (sent after the warm-up). */
  measured: number
  warmupMs: number
  /** Send to receipt by the consumer. */
  latency: Quantiles
  /** Send to receipt of the records sent during the warm-up. */
  warmup: Quantiles
  /** Send to the producer's acknowledgement (acks=all: the ISR has the records), per send() call. */
  ack: Quantiles
  /**
   * How late this process's timers ran while it sent: scheduling delay that every figure above
   * includes (on a machine shared by the brokers and the client, it is the floor of the tail).
   */
  eventLoopDelay: Quantiles
}

export interface Quantiles {
  msP50: number
  msP99: number
  msP999: number
  msMax: number
}

/** NaN everywhere for an empty histogram (the report prints NaN rather than a made-up 0). */
function quantiles(h: RecordableHistogram): Quantiles {
  const q = (p: number): number => (h.count === 0 ? NaN : h.percentile(p) / US_PER_MS)
  return { msP50: q(50), msP99: q(99), msP999: q(99.9), msMax: h.count === 0 ? NaN : h.max / US_PER_MS }
}

export async function endToEndLatency(strand: Strand, o: EndToEndOptions): Promise<EndToEndResult> {
  if (o.recordBytes < STAMP_BYTES) throw new Error(`end-to-end latency needs records of at least ${STAMP_BYTES} bytes for the send time, got ${o.recordBytes}`)
  const histogram = createHistogram()
  const warmupHistogram = createHistogram()
  const ackHistogram = createHistogram()
  const loopDelay = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS })
  const warmupMs = o.warmupMs
  // From the end offsets before the first send: what the topic held before (priming records) is not this run's.
  const starts = await endOffsets(strand.admin(), o.topic, o.partitions)
  const consumer = strand.consumer({})
  consumer.assign(starts.map((offset, partition) => ({ topic: o.topic, partition, offset })))
  let received = 0
  let expected = Infinity
  let measureFromMs = Infinity
  let drained = (): void => {}
  const allIn = new Promise<void>((resolve) => {
    drained = resolve
  })
  const reading = (async () => {
    for await (const batch of consumer) {
      const now = performance.now()
      for (const m of batch.messages) {
        const sentAtMs = (m.value as Buffer).readDoubleLE(0)
        recordMs(sentAtMs >= measureFromMs ? histogram : warmupHistogram, now - sentAtMs)
      }
      received += batch.messages.length
      if (received >= expected) break
    }
    drained()
  })()
  // Its failure is thrown by the await in finally; until then it must not count as unhandled.
  reading.catch(() => {})
  try {
    const start = performance.now()
    measureFromMs = start + warmupMs
    const warmedUp = setTimeout(() => loopDelay.enable(), warmupMs)
    const produced = await produceAtRate(strand, {
      topic: o.topic,
      recordsPerSec: o.recordsPerSec,
      durationMs: warmupMs + o.durationMs,
      recordBytes: o.recordBytes,
      producer: o.producer,
      label: 'end-to-end latency',
      onAcked: (sentAtMs) => {
        if (sentAtMs >= measureFromMs) recordMs(ackHistogram, performance.now() - sentAtMs)
      },
      valueAt: (sentAtMs) => {
        const value = Buffer.alloc(o.recordBytes, 0x61)
        value.writeDoubleLE(sentAtMs, 0)
        return value
      },
    })
    clearTimeout(warmedUp)
    loopDelay.disable()
    expected = produced.records
    if (received < expected) {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([allIn, new Promise<void>((resolve) => { timer = setTimeout(resolve, DRAIN_TIMEOUT_MS) })])
      clearTimeout(timer)
    }
    // The histogram holds the interval between samples (ns): the delay is what exceeds the resolution.
    const late = (ns: number): number => Math.max(0, ns / 1e6 - LOOP_DELAY_RESOLUTION_MS)
    const loop = loopDelay.count === 0
      ? { msP50: NaN, msP99: NaN, msP999: NaN, msMax: NaN }
      : { msP50: late(loopDelay.percentile(50)), msP99: late(loopDelay.percentile(99)), msP999: late(loopDelay.percentile(99.9)), msMax: late(loopDelay.max) }
    return { produced, received, measured: histogram.count, warmupMs, latency: quantiles(histogram), warmup: quantiles(warmupHistogram), ack: quantiles(ackHistogram), eventLoopDelay: loop }
  } finally {
    await consumer.close()
    await reading
  }
}
