// The broker's metrics, kept in-process and served as Prometheus text (exposition format 0.0.4)
// on the optional HTTP port `metrics.port`.
//
// Counters and gauges are plain numbers keyed by their label values; latencies and lags are
// summaries over a perf_hooks histogram (HdrHistogram, integers: milliseconds are kept as
// microseconds) reported as p50 / p99 / max with a count and sum. Gauges that describe current
// state (under-replicated partitions, the active controller) are computed when scraped, from
// collectors the broker registers. Label sets are bounded by what the broker hosts (topics,
// followers, API keys), never by what a client sends.

import { createHistogram, type RecordableHistogram } from 'node:perf_hooks'

type Labels = Readonly<Record<string, string | number>>

interface Family {
  help: string
  type: 'counter' | 'gauge' | 'summary'
}

/** Quantiles a summary reports; 1 is the maximum. */
const QUANTILES = [0.5, 0.99, 1] as const

function labelKey(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}="${String(labels[k]).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
    .join(',')
}

export interface SummarySnapshot {
  count: number
  p50: number
  p99: number
  max: number
}

class Summary {
  /**
   * Values are recorded ×1000 so fractions of a millisecond survive the integer histogram, and
   * one more, because it only takes values from 1: a lag of 0 records must read back as 0.
   */
  readonly #histogram: RecordableHistogram = createHistogram()
  #sum = 0

  record(value: number): void {
    this.#histogram.record(Math.max(0, Math.round(value * 1000)) + 1)
    this.#sum += value
  }

  get sum(): number {
    return this.#sum
  }

  snapshot(): SummarySnapshot {
    const h = this.#histogram
    if (h.count === 0) return { count: 0, p50: 0, p99: 0, max: 0 }
    const unscale = (v: number): number => (v - 1) / 1000
    return { count: h.count, p50: unscale(h.percentile(50)), p99: unscale(h.percentile(99)), max: unscale(h.max) }
  }
}

/** Label keys remembered at most (label sets are bounded by what the broker hosts, so this is slack). */
const LABEL_KEYS_MAX = 100_000

export class Metrics {
  /**
   * Built label keys by the labels' names and values joined in the caller's order: building one
   * (sort, escape, join) for every observation was most of what recording a metric cost, and the
   * lag and request summaries record one per follower fetch and per request.
   */
  readonly #labelKeys = new Map<string, string>()
  readonly #families = new Map<string, Family>()
  readonly #counters = new Map<string, Map<string, number>>()
  readonly #summaries = new Map<string, Map<string, Summary>>()
  readonly #collectors: (() => { name: string; labels: Labels; value: number }[])[] = []

  #family(name: string, type: Family['type'], help: string): void {
    if (!this.#families.has(name)) this.#families.set(name, { help, type })
  }

  #keyOf(labels: Labels): string {
    let raw = ''
    for (const name in labels) {
      const value = String(labels[name])
      // The separators in a value could make two label sets join the same: build those directly.
      if (value.includes('\u0000') || value.includes('\u0001')) return labelKey(labels)
      raw += `${name}\u0000${value}\u0001`
    }
    let key = this.#labelKeys.get(raw)
    if (key === undefined) {
      key = labelKey(labels)
      if (this.#labelKeys.size < LABEL_KEYS_MAX) this.#labelKeys.set(raw, key)
    }
    return key
  }

  /** Adds `by` to a counter. */
  inc(name: string, help: string, labels: Labels, by = 1): void {
    this.#family(name, 'counter', help)
    let series = this.#counters.get(name)
    if (series === undefined) {
      series = new Map()
      this.#counters.set(name, series)
    }
    const key = this.#keyOf(labels)
    series.set(key, (series.get(key) ?? 0) + by)
  }

  /** Records one observation of a summary (a latency or a lag). */
  observe(name: string, help: string, labels: Labels, value: number): void {
    this.#family(name, 'summary', help)
    let series = this.#summaries.get(name)
    if (series === undefined) {
      series = new Map()
      this.#summaries.set(name, series)
    }
    const key = this.#keyOf(labels)
    let s = series.get(key)
    if (s === undefined) {
      s = new Summary()
      series.set(key, s)
    }
    s.record(value)
  }

  /** A gauge family computed at each scrape. */
  gauge(name: string, help: string, collect: () => { labels: Labels; value: number }[]): void {
    this.#family(name, 'gauge', help)
    this.#collectors.push(() => collect().map((g) => ({ name, ...g })))
  }

  /** A summary's current figures, for tests and tools; null when never observed. */
  summary(name: string, labels: Labels): SummarySnapshot | null {
    return this.#summaries.get(name)?.get(labelKey(labels))?.snapshot() ?? null
  }

  counter(name: string, labels: Labels): number {
    return this.#counters.get(name)?.get(labelKey(labels)) ?? 0
  }

  /** Prometheus text exposition of everything. */
  render(): string {
    const gauges = new Map<string, string[]>()
    for (const collect of this.#collectors) {
      for (const g of collect()) {
        const lines = gauges.get(g.name) ?? []
        lines.push(`${g.name}${wrap(labelKey(g.labels))} ${g.value}`)
        gauges.set(g.name, lines)
      }
    }
    const out: string[] = []
    for (const [name, family] of [...this.#families].sort(([a], [b]) => a.localeCompare(b))) {
      out.push(`# HELP ${name} ${family.help}`, `# TYPE ${name} ${family.type}`)
      if (family.type === 'counter') {
        for (const [key, value] of this.#counters.get(name) ?? []) out.push(`${name}${wrap(key)} ${value}`)
      } else if (family.type === 'gauge') {
        out.push(...(gauges.get(name) ?? []))
      } else {
        for (const [key, s] of this.#summaries.get(name) ?? []) {
          const snap = s.snapshot()
          const sep = key === '' ? '' : ','
          for (const q of QUANTILES) {
            const v = q === 0.5 ? snap.p50 : q === 0.99 ? snap.p99 : snap.max
            out.push(`${name}{${key}${sep}quantile="${q}"} ${v}`)
          }
          out.push(`${name}_sum${wrap(key)} ${s.sum}`, `${name}_count${wrap(key)} ${snap.count}`)
        }
      }
    }
    return `${out.join('\n')}\n`
  }
}

function wrap(key: string): string {
  return key === '' ? '' : `{${key}}`
}
