// Reading a broker's GET /metrics in a benchmark: the parser is the CLI's
// (client/cli/prometheus.ts), so `strand cluster metrics` and the benchmarks read the same figures.

import { scrapeMetrics, type Sample } from '../../client/cli/prometheus.js'

export { parseExposition, sampleValue, type Sample } from '../../client/cli/prometheus.js'

/** A scrape that has not answered by then fails the benchmark rather than hang it. */
const SCRAPE_TIMEOUT_MS = 5_000

export function scrape(host: string, port: number): Promise<Sample[]> {
  return scrapeMetrics(host, port, SCRAPE_TIMEOUT_MS)
}
