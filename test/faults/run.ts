// `npm run test:faults`: every fault scenario at full length on its own fresh cluster, then a
// table: scenario, records acknowledged, lost, duplicated, vanished (seen by a consumer, then
// gone), replicas identical, recovery time. Exit code 1 if any check failed.
//
//   npm run test:faults [-- --seed N] [-- --only "hard bounce"]

import { parseArgs } from 'node:util'
import { Cleanup } from '../helpers/broker-process.js'
import { testSeed } from '../helpers/random.js'
import { runScenario, SCENARIOS, type ScenarioResult } from './scenarios.js'

const { values } = parseArgs({ options: { seed: { type: 'string' }, only: { type: 'string' } }, strict: true })
const seed = values.seed === undefined ? testSeed() : Number(values.seed)
if (!Number.isSafeInteger(seed)) {
  process.stderr.write(`test:faults: --seed must be an integer, got "${values.seed}"\n`)
  process.exit(1)
}


const results: ScenarioResult[] = []
let failed = false
for (const [i, scenario] of SCENARIOS.entries()) {
  if (values.only !== undefined && !scenario.name.includes(values.only)) continue
  const cleanup = new Cleanup()
  process.stderr.write(`[${i + 1}/${SCENARIOS.length}] ${scenario.name} (seed ${seed + i}) ...\n`)
  try {
    const r = await runScenario(cleanup, scenario, { seed: seed + i, short: false })
    results.push(r)
    if (r.lost > 0 || r.duplicated > 0 || r.vanished > 0 || !r.replicasIdentical) failed = true
  } catch (err) {
    failed = true
    process.stderr.write(`  failed: ${(err as Error).stack ?? String(err)}\n`)
  } finally {
    await cleanup.run()
  }
}

const header = ['scenario', 'acknowledged', 'lost', 'duplicated', 'vanished', 'replicas identical', 'recovery ms']
const rows = results.map((r) => [r.scenario, String(r.acknowledged), String(r.lost), String(r.duplicated), String(r.vanished), r.replicasIdentical ? 'yes' : 'NO', String(r.recoveryMs)])
const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)))
const line = (cells: string[]): string => cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ')
process.stdout.write(`\nfault suite (seed ${seed}): 3 brokers, RF 3, min.insync.replicas 2, acks=all idempotent producer\n\n`)
process.stdout.write(`${line(header)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n${rows.map(line).join('\n')}\n`)
process.exit(failed ? 1 : 0)
