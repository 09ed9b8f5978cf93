// The protocol fuzzer's short form (test/fuzz/fuzz.ts; `npm run test:fuzz` runs it for longer):
// seeded mutations of every API's sample request and random frames against three brokers for a
// few seconds, with the fuzzer's checks as assertions. A failure names the seed to replay with
// `npm run test:fuzz -- --seed <n>`.
//
// Then against brokers that require SASL (`security: 'sasl'`; `npm run test:fuzz -- --security
// sasl` runs it for longer): mutated SaslHandshake and SaslAuthenticate frames, other APIs and
// oversized frames before authenticating, scripted exchanges with a corrupted step, and sockets
// fuzzed once logged in. Both in one file, one after the other: two fuzzers at once (tap runs two
// files at a time) pushed each other's timing checks past their bounds.

import t from 'tap'
import { testSeed } from '../helpers/random.js'
import { formatReport, runFuzz } from '../fuzz/fuzz.js'
import { sampledApis } from '../fuzz/mutate.js'

const seed = testSeed()
const FUZZ_MS = 12_000
const SASL_FUZZ_MS = 10_000

t.test(`protocol fuzz for ${FUZZ_MS / 1000} s (seed ${seed})`, async (t) => {
  // Fewer sockets than npm run test:fuzz (16): npm test runs another cluster test beside this one,
  // and that load, not the fuzzing, pushed the probe and partial-frame timing bounds.
  const r = await runFuzz(t, { seed, durationMs: FUZZ_MS, workers: 8, tricklers: 2 })
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

t.test(`protocol fuzz with SASL required for ${SASL_FUZZ_MS / 1000} s (seed ${seed})`, async (t) => {
  // Half the plain fuzz test's sockets: every SASL login costs a PBKDF2 on both sides, and beside the
  // rest of npm test that load, not the broker, set the probe latencies.
  const r = await runFuzz(t, { seed, durationMs: SASL_FUZZ_MS, workers: 4, tricklers: 2, security: 'sasl' })
  if (r.failures.length > 0) t.comment(formatReport(r))
  t.same(r.failures, [], `no failure (replay: npm run test:fuzz -- --security sasl --seed ${seed})`)
  for (const b of r.brokers) t.equal(b.exited, null, `broker ${b.id} still running; slowest probe ${b.probeLatencyMsMax} ms`)
  const sasl = r.sasl
  if (sasl === null) throw new Error('a SASL run reports its SASL counts')
  t.ok(sasl.inputs.preAuth > 500, `${sasl.inputs.preAuth} inputs sent before authenticating`)
  t.ok(sasl.inputs.authenticated > 200, `${sasl.inputs.authenticated} inputs sent after logging in`)
  t.ok((r.sentByApi.SaslHandshake ?? 0) > 0 && (r.sentByApi.SaslAuthenticate ?? 0) > 0, `SaslHandshake (${r.sentByApi.SaslHandshake}) and SaslAuthenticate (${r.sentByApi.SaslAuthenticate}) inputs sent`)
  for (const kind of ['scramFirst', 'scramFinal', 'plain', 'saslMechanism', 'preAuthOversize']) t.ok((r.mutations[kind] ?? 0) > 0, `${r.mutations[kind] ?? 0} ${kind} inputs`)
  t.ok(sasl.preAuthGate.frames > 0 && sasl.preAuthGate.late === 0, `${sasl.preAuthGate.frames} frames of other APIs before authenticating; every watched socket closed (${sasl.preAuthGate.closedOnTime})`)
  t.ok(sasl.authDeadline.closedOnTime > 0 && sasl.authDeadline.late === 0, `idle unauthenticated sockets closed by sasl.authentication.timeout.ms (${sasl.authDeadline.closedOnTime}, slowest ${sasl.authDeadline.closeMsMax} ms)`)
  const exchanges = Object.values(sasl.exchanges).reduce((n, e) => n + e.runs, 0)
  t.ok(exchanges > 20, `${exchanges} scripted exchanges`)
  t.ok(Object.values(sasl.logins).some((l) => l.ok > 0), `fuzzing sockets logged in: ${JSON.stringify(sasl.logins)}`)
  t.same(sasl.violations, [], 'no authentication bypass, gate leak or refusal of correct credentials')
  t.ok(r.healthy.acked > 0 && r.healthy.lost === 0, `${r.healthy.acked} records acknowledged and read back`)
})
