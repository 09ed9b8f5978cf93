// The protocol fuzzer's short form (test/fuzz/fuzz.ts; `npm run test:fuzz` runs it for longer):
// seeded mutations of every API's sample request and random frames against three brokers for a
// few seconds, with the fuzzer's checks as assertions. A failure names the seed to replay with
// `npm run test:fuzz -- --seed <n>`.
//
// Then against brokers that require SASL (`security: 'sasl'`; `npm run test:fuzz -- --security
// sasl` runs it for longer): mutated SaslHandshake and SaslAuthenticate frames, other APIs and
// oversized frames before authenticating, scripted exchanges with a corrupted step, and sockets
// fuzzed once logged in.
//
// Then against the brokers' Apache Kafka listener (`listener: 'kafka'`; `npm run test:fuzz --
// --listener kafka` runs it for longer): mutated Kafka request frames of every API and version it
// serves, and verifier sockets checking that well-formed requests at every version are answered
// with their correlation id, that ApiVersions at a version it does not speak gets a v0 answer
// with UNSUPPORTED_VERSION, that unserved APIs close the connection, and that a request pipelined
// behind a Produce at acks 0 gets its own answer.
//
// All three in one file, one after the other: two fuzzers at once (tap runs two files at a time)
// pushed each other's timing checks past their bounds.

import t from 'tap'
import { testSeed } from '../helpers/random.js'
import { formatReport, runFuzz } from '../fuzz/fuzz.js'
import { sampledApis } from '../fuzz/mutate.js'
import { kafkaApiNames, KAFKA_TARGETS } from '../fuzz/kafka-samples.js'

const seed = testSeed()
const FUZZ_MS = 12_000
const SASL_FUZZ_MS = 10_000
const KAFKA_FUZZ_MS = 8000

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

t.test(`protocol fuzz of the Kafka listener for ${KAFKA_FUZZ_MS / 1000} s (seed ${seed})`, async (t) => {
  // Fewer fuzzing sockets again, for the same reason as above. Three verifiers share out the
  // well-formed requests of every API version (and finish their round if the run ends first).
  const r = await runFuzz(t, { seed, durationMs: KAFKA_FUZZ_MS, workers: 6, tricklers: 2, listener: 'kafka', verifiers: 3 })
  if (r.failures.length > 0) t.comment(formatReport(r))
  t.same(r.failures, [], `no failure (replay: npm run test:fuzz -- --listener kafka --seed ${seed})`)
  for (const b of r.brokers) t.equal(b.exited, null, `broker ${b.id} still running; slowest probe ${b.probeLatencyMsMax} ms, slowest Kafka probe ${b.kafkaProbes?.latencyMsMax} ms`)
  t.ok(r.framesSent > 500, `${r.framesSent} inputs sent`)
  t.same(kafkaApiNames().filter((a) => (r.sentByApi[a] ?? 0) === 0), [], 'every API the Kafka listener serves was fuzzed')
  t.same(KAFKA_TARGETS.filter((k) => (r.sentByTarget[k.name] ?? 0) === 0).map((k) => k.name), [], `every one of its ${KAFKA_TARGETS.length} API versions was fuzzed`)
  const k = r.kafka
  if (k === null) throw new Error('a Kafka listener run reports its verifier counts')
  t.same(KAFKA_TARGETS.filter((x) => (k.byTarget[x.name]?.answered ?? 0) === 0).map((x) => x.name), [], 'every API version answered a well-formed request, with its correlation id and a body that decodes')
  t.ok(k.unsupportedApiVersions.answered > 0 && k.unsupportedApiVersions.answered === k.unsupportedApiVersions.sent, `ApiVersions at unsupported versions answered in v0 with UNSUPPORTED_VERSION (${k.unsupportedApiVersions.answered})`)
  t.ok(k.unserved.closed > 0 && k.unserved.closed === k.unserved.sent, `unserved APIs and versions closed without an answer (${k.unserved.closed})`)
  t.ok(k.acksZero.answered > 0, `requests pipelined behind a Produce at acks 0 got their own answer (${k.acksZero.answered})`)
  t.equal(k.violationCount, 0, 'no answer the Kafka protocol does not allow')
  t.ok(r.closedByBroker > 0, `${r.closedByBroker} sockets closed by the brokers`)
  t.ok(r.trickle.closedOnTime > 0 && r.trickle.late === 0, `slow-loris sockets closed by the read deadline (${r.trickle.closedOnTime}, slowest ${r.trickle.closeMsMax} ms)`)
  t.ok(r.bombs.answered > 0, `${r.bombs.answered} Kafka Produce requests of zip bombs answered`)
  t.ok(r.healthy.acked > 0 && r.healthy.lost === 0, `${r.healthy.acked} records acknowledged and read back`)
})
