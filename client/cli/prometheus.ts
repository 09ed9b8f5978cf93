// Reading a broker's GET /metrics (Prometheus text exposition 0.0.4), parsed by hand: every sample
// line becomes a name, its labels and a value. Used by `strand cluster metrics` and by the
// benchmarks (bench/lib/prometheus.ts), which must read the figures the same way.

import http from 'node:http'

/** One series' value at the time of the scrape. */
export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

/** Special values of the exposition format that Number() does not read. */
const SPECIAL_VALUES: Readonly<Record<string, number>> = { '+Inf': Number.POSITIVE_INFINITY, '-Inf': Number.NEGATIVE_INFINITY, NaN: Number.NaN }

/** One `name{a="x",b="y"} value [timestamp]` per line; comments, blank lines, timestamps and lines without a value are skipped. */
export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = []
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line)
    if (m === null) continue
    const labels: Record<string, string> = {}
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]!] = l[2]!.replace(/\\(["\\n])/g, (_all, c: string) => (c === 'n' ? '\n' : c))
    }
    const raw = m[3]!
    const value = SPECIAL_VALUES[raw] ?? Number(raw)
    // Not a sample line after all (no number where the value goes): skipped like a comment.
    if (Number.isNaN(value) && raw !== 'NaN') continue
    samples.push({ name: m[1]!, labels, value })
  }
  return samples
}

/**
 * GET http://host:port/metrics, parsed; throws on a refused connection, a timeout or a status
 * other than 200. node:http rather than fetch(), which refuses the ports the Fetch standard
 * blocks (6000, 6665-6669...) that a metrics.port may well be.
 */
export function scrapeMetrics(host: string, port: number, timeoutMs: number): Promise<Sample[]> {
  const url = `http://${host}:${port}/metrics`
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('error', reject)
      res.on('end', () => {
        if (res.statusCode !== 200) reject(new Error(`GET ${url} answered ${res.statusCode}`))
        else resolve(parseExposition(Buffer.concat(chunks).toString('utf8')))
      })
    })
    req.on('timeout', () => req.destroy(new ScrapeTimeoutError(`GET ${url}: no answer within ${timeoutMs} ms`)))
    req.on('error', reject)
  })
}

/** A scrape that got no answer within its timeout. */
export class ScrapeTimeoutError extends Error {
  override readonly name = 'ScrapeTimeoutError'
}

/** The value of the sample named `name` whose labels include all of `labels`, or null when there is none. */
export function sampleValue(samples: readonly Sample[], name: string, labels: Readonly<Record<string, string>> = {}): number | null {
  const found = samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
  return found?.value ?? null
}
