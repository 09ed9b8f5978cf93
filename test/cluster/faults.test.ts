// The fault suite's short form (test/faults/scenarios.ts; `npm run test:faults` runs it at full
// length): each scenario on its own three-broker cluster, with the suite's checks as assertions.

import t from 'tap'
import { testSeed } from '../helpers/random.js'
import { runScenario, SCENARIOS } from '../faults/scenarios.js'

const seed = testSeed()

for (const [i, scenario] of SCENARIOS.entries()) {
  t.test(`${scenario.name} (seed ${seed + i})`, async (t) => {
    const r = await runScenario(t, scenario, { seed: seed + i, short: true })
    t.ok(r.acknowledged > 0, `${r.acknowledged} records acknowledged; recovery took ${r.recoveryMs} ms after ${r.faults.join(', ')}`)
    t.equal(r.lost, 0, 'no acknowledged record lost or moved')
    t.equal(r.duplicated, 0, 'no record written twice')
    t.equal(r.vanished, 0, 'no record a consumer saw vanished')
    t.ok(r.replicasIdentical, 'replicas byte-identical below the high watermark')
  })
}
