// `npm run test:partitions`: every network-partition scenario at full length, each on its own
// fresh cluster in its own network namespaces, then a table. Exit code 1 if any check failed, 0
// with one line saying why when this machine cannot make network namespaces (not root, no
// iproute2): the CI machine can, and runs them.
//
//   npm run test:partitions [-- --seed N] [-- --only "bridge"] [-- --short]

import { parseArgs } from 'node:util'
import { Cleanup } from '../helpers/broker-process.js'
import { netnsSupport } from '../helpers/netns.js'
import { testSeed } from '../helpers/random.js'
import { failures, runPartitionScenario, SCENARIOS, type PartitionResult } from './scenarios.js'

const { values } = parseArgs({ options: { seed: { type: 'string' }, only: { type: 'string' }, short: { type: 'boolean' } }, strict: true })
const seed = values.seed === undefined ? testSeed() : Number(values.seed)
if (!Number.isSafeInteger(seed)) {
  process.stderr.write(`test:partitions: --seed must be an integer, got "${values.seed}"\n`)
  process.exit(1)
}
const support = await netnsSupport()
if (!support.ok) {
  process.stdout.write(`test:partitions: not run: ${support.why}\n`)
  process.exit(0)
}

const results: PartitionResult[] = []
let failed = false
for (const [i, scenario] of SCENARIOS.entries()) {
  if (values.only !== undefined && !scenario.name.includes(values.only)) continue
  const cleanup = new Cleanup()
  process.stderr.write(`[${i + 1}/${SCENARIOS.length}] ${scenario.name} (seed ${seed + i}) ...\n`)
  try {
    const r = await runPartitionScenario(cleanup, scenario, { seed: seed + i, short: values.short === true })
    results.push(r)
    const wrong = failures(r)
    if (wrong.length > 0) {
      failed = true
      process.stderr.write(`  FAILED: ${wrong.join('; ')}\n${r.examples.map((e) => `    ${e}\n`).join('')}`)
    }
    process.stderr.write(`  faults: ${r.faults.join(', ')}\n`)
  } catch (err) {
    failed = true
    process.stderr.write(`  failed: ${(err as Error).stack ?? String(err)}\n`)
  } finally {
    await cleanup.run()
  }
}

const header = ['scenario', 'acked', 'lost', 'moved', 'dup', 'vanished', 'reordered', 'indeterminate', 'leader changes', 'unavailable s', 'term', 'stale leader acks', 'replicas identical']
const rows = results.map((r) => [
  r.scenario, String(r.acknowledged), String(r.lost), String(r.moved), String(r.duplicated), String(r.vanished), String(r.reordered),
  `${r.indeterminate} (${r.landed} landed)`, String(r.leaderChanges), (r.unavailableMs / 1000).toFixed(2),
  r.termBefore === r.termAfter ? `${r.termBefore} (kept)` : `${r.termBefore} -> ${r.termAfter}`,
  r.pinnedProduced === 0 ? '-' : `${r.pinnedAccepted} of ${r.pinnedProduced}`, r.replicasIdentical ? 'yes' : 'NO',
])
const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)))
const line = (cells: string[]): string => cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ')
process.stdout.write(`\npartition suite (seed ${seed}${values.short === true ? ', short' : ''}): brokers in network namespaces, RF 3, min.insync.replicas 2, acks=all idempotent producer; unavailable = longest time one partition went without an ack after the first cut\n\n`)
process.stdout.write(`${line(header)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n${rows.map(line).join('\n')}\n`)
process.exit(failed ? 1 : 0)
