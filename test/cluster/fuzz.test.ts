// The protocol fuzzer's short form (test/fuzz/fuzz.ts; `npm run test:fuzz` runs it for longer):
// seeded mutations of every API's sample request and random frames against three brokers for a
// few seconds, with the fuzzer's checks as assertions. A failure names the seed to replay with
// `npm run test:fuzz -- --seed <n>`.

import t from 'tap'
import { testSeed } from '../helpers/random.js'
import { formatReport, runFuzz } from '../fuzz/fuzz.js'
import { sampledApis } from '../fuzz/mutate.js'

const seed = testSeed()
const FUZZ_MS = 12_000

t.test(`protocol fuzz for ${FUZZ_MS / 1000} s (seed ${seed})`, async (t) => {
  const r = await runFuzz(t, { seed, durationMs: FUZZ_MS, workers: 12, tricklers: 2 })
  if (r.failures.length > 0) t.comment(formatReport(r))
  t.same(r.failures, [], `no failure (replay: npm run test:fuzz -- --seed ${seed})`)
  t.ok(r.framesSent > 1000, `${r.framesSent} inputs sent`)
  t.same(sampledApis().filter((a) => (r.sentByApi[a] ?? 0) === 0), [], 'every API with a sample was fuzzed')
  t.ok(r.closedByBroker > 0, `${r.closedByBroker} sockets closed by the brokers`)
  t.ok(r.trickle.closedOnTime > 0 && r.trickle.late === 0, `slow-loris sockets closed by the read deadline (${r.trickle.closedOnTime}, slowest ${r.trickle.closeMsMax} ms)`)
  t.ok(r.healthy.acked > 0 && r.healthy.lost === 0, `${r.healthy.acked} records acknowledged and read back`)
  t.ok(r.bombs.answered > 0, `${r.bombs.answered} Produce requests of zip bombs answered`)
  for (const b of r.brokers) t.equal(b.exited, null, `broker ${b.id} still running; slowest probe ${b.probeLatencyMsMax} ms`)
})
