// The network-partition suite's short form (test/partitions/scenarios.ts; `npm run test:partitions`
// runs every scenario at full length): brokers in network namespaces, links cut between them,
// the suite's checks as assertions. Where namespaces cannot be made (not root), the test says why
// in one line; the CI machine is root and runs it.

import t from 'tap'
import { netnsSupport } from '../helpers/netns.js'
import { testSeed } from '../helpers/random.js'
import { failures, runPartitionScenario, SCENARIOS } from '../partitions/scenarios.js'

const seed = testSeed()
const SHORT_FORM = ['partition leader isolated from the majority', 'bridge: two brokers cut from each other, the third sees both']
const support = await netnsSupport()

for (const [i, scenario] of SCENARIOS.entries()) {
  if (!SHORT_FORM.includes(scenario.name)) continue
  // Cannot run here: one line says why (tap prints it as the skip reason).
  t.test(`${scenario.name} (seed ${seed + i})`, { skip: support.ok ? false : `not run: ${support.why}` }, async (t) => {
    const r = await runPartitionScenario(t, scenario, { seed: seed + i, short: true })
    const summary = `${r.acknowledged} acknowledged, ${r.indeterminate} indeterminate, ${r.leaderChanges} leader changes, ${(r.unavailableMs / 1000).toFixed(2)} s unavailable; ${r.faults.join(', ')}`
    t.ok(r.acknowledged > 0, summary)
    t.equal(r.lost, 0, 'no acknowledged record lost')
    t.equal(r.moved, 0, 'no acknowledged record moved')
    t.equal(r.duplicated, 0, 'no record written twice')
    t.equal(r.vanished, 0, 'no record a reader was given vanished (the pinned reader of the stale leader included)')
    t.equal(r.reordered, 0, 'each partition keeps the producer\'s order')
    t.equal(r.forbiddenFound, 0, 'nothing the cut-off leader was sent reached the log')
    t.ok(r.replicasIdentical, 'replicas byte-identical below the high watermark')
    if (r.termStable) t.equal(r.termAfter, r.termBefore, `the Raft term stayed ${r.termBefore}: the healed voter rejoined without an election`)
    if (r.pinnedProduced > 0) t.equal(r.pinnedAccepted, 0, `the cut-off leader acknowledged none of the ${r.pinnedProduced} acks=all produces sent to it`)
    t.same(failures(r), [], r.examples.join('\n'))
  })
}
