// The broker process's own gauges: event-loop delay, memory, and whether this broker is the
// active controller. startBroker (broker/broker.ts) registers them once the quorum phase exists
// (the last reads the quorum seat) and before the listeners open, so the first scrape sees them.

import { monitorEventLoopDelay } from 'node:perf_hooks'
import type { QuorumNode } from '../metadata/quorum.js'
import type { Metrics } from '../metrics/metrics.js'

/** Sampling interval of the event-loop delay histogram. */
const EVENT_LOOP_RESOLUTION_MS = 10

/** Registers the gauges; close() stops sampling the event loop. */
export function registerBrokerGauges(metrics: Metrics, quorum: QuorumNode): { close(): void } {
  // How late timers and I/O callbacks run: on a busy or shared machine, the floor under every latency.
  const loopDelay = monitorEventLoopDelay({ resolution: EVENT_LOOP_RESOLUTION_MS })
  loopDelay.enable()
  // The histogram holds the interval between samples (ns): the delay is what exceeds the resolution.
  const lateMs = (ns: number): number => Math.max(0, ns / 1e6 - EVENT_LOOP_RESOLUTION_MS)
  metrics.gauge('strand_event_loop_delay_ms', 'How late the event loop ran a timer, since the broker started, in ms, by quantile (1 is the max).', () =>
    loopDelay.count === 0 ? [] : [0.5, 0.99, 1].map((q) => ({ labels: { quantile: String(q) }, value: lateMs(q === 1 ? loopDelay.max : loopDelay.percentile(q * 100)) })),
  )
  metrics.gauge('strand_memory_bytes', 'The broker process\'s memory, by kind: rss (resident), heap_used and heap_total (V8\'s heap), external (outside the heap, buffers included), array_buffers (buffers alone).', () => {
    const m = process.memoryUsage()
    return [
      { labels: { kind: 'rss' }, value: m.rss },
      { labels: { kind: 'heap_used' }, value: m.heapUsed },
      { labels: { kind: 'heap_total' }, value: m.heapTotal },
      { labels: { kind: 'external' }, value: m.external },
      { labels: { kind: 'array_buffers' }, value: m.arrayBuffers },
    ]
  })
  metrics.gauge('strand_active_controller', '1 on the broker whose quorum seat leads (the active controller), else 0.', () => [{ labels: {}, value: quorum.isLeader ? 1 : 0 }])
  return { close: () => loopDelay.disable() }
}
