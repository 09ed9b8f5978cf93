// Reading a broker's GET /metrics (Prometheus text exposition 0.0.4) in a benchmark: scrape it,
// parse every sample line into name, labels and value, and pick series by name and labels.

/** A scrape that has not answered by then fails the benchmark rather than hang it. */
const SCRAPE_TIMEOUT_MS = 5_000

export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

/** One `name{a="x",b="y"} value` pair per line; comments, blank lines and timestamps are skipped. */
export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = []
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line)
    if (m === null) continue
    const labels: Record<string, string> = {}
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]!] = l[2]!.replace(/\\n/g, '\n').replace(/\\(["\\])/g, '$1')
    }
    samples.push({ name: m[1]!, labels, value: Number(m[3]) })
  }
  return samples
}

export async function scrape(host: string, port: number): Promise<Sample[]> {
  const res = await fetch(`http://${host}:${port}/metrics`, { signal: AbortSignal.timeout(SCRAPE_TIMEOUT_MS) })
  if (res.status !== 200) throw new Error(`GET http://${host}:${port}/metrics answered ${res.status}`)
  return parseExposition(await res.text())
}

/** The value of the sample named `name` whose labels include all of `labels`, or null when there is none. */
export function sampleValue(samples: readonly Sample[], name: string, labels: Readonly<Record<string, string>>): number | null {
  const found = samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
  return found?.value ?? null
}
