// `npm run test:fuzz`: the protocol fuzzer (test/fuzz/fuzz.ts) against a fresh three-broker
// cluster for a bounded time, then a report: inputs sent by API, mutations, what was skipped and
// why, connections closed by the brokers, errors, broker RSS before / peak / after, the healthy
// client's progress, and PASS or FAIL (exit code 1).
//
//   npm run test:fuzz -- [--seconds 60] [--seed N] [--workers 16] [--tricklers 2] [--security none|sasl]
//                       [--listener strand|kafka] [--verifiers 2]
//
// `--security sasl` makes the brokers require SASL (SCRAM-SHA-256, PLAIN) and fuzzes the
// handshake and the unauthenticated state too (test/fuzz/sasl-run.ts).
//
// `--listener kafka` fuzzes the brokers' Apache Kafka listener instead: Kafka request frames of
// every API and version it serves, and `--verifiers` sockets checking its answers to well-formed
// requests (test/fuzz/kafka-mutate.ts, kafka-verify.ts). Not with `--security sasl`.

import { parseArgs } from 'node:util'
import { Cleanup } from '../helpers/broker-process.js'
import { testSeed } from '../helpers/random.js'
import { formatReport, LISTENERS, runFuzz, type Listener } from './fuzz.js'
import { SECURITIES, type Security } from './sasl-run.js'

const { values } = parseArgs({
  options: {
    seconds: { type: 'string' },
    seed: { type: 'string' },
    workers: { type: 'string' },
    tricklers: { type: 'string' },
    security: { type: 'string' },
    listener: { type: 'string' },
    verifiers: { type: 'string' },
  },
  strict: true,
})

function intArg(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback
  const n = Number(raw)
  if (!Number.isSafeInteger(n) || n < 0) {
    process.stderr.write(`test:fuzz: --${name} must be a non-negative integer, got "${raw}"\n`)
    process.exit(1)
  }
  return n
}

const seed = intArg('seed', values.seed, testSeed())
const seconds = intArg('seconds', values.seconds, 60)
const workers = intArg('workers', values.workers, 16)
const tricklers = intArg('tricklers', values.tricklers, 2)
const security = (values.security ?? 'none') as Security
if (!SECURITIES.includes(security)) {
  process.stderr.write(`test:fuzz: --security must be one of ${SECURITIES.join(', ')}, got "${values.security}"\n`)
  process.exit(1)
}

const listener = (values.listener ?? 'strand') as Listener
if (!LISTENERS.includes(listener)) {
  process.stderr.write(`test:fuzz: --listener must be one of ${LISTENERS.join(', ')}, got "${values.listener}"\n`)
  process.exit(1)
}
if (listener === 'kafka' && security !== 'none') {
  process.stderr.write('test:fuzz: --listener kafka fuzzes a listener without SASL; drop --security sasl\n')
  process.exit(1)
}
const verifiers = intArg('verifiers', values.verifiers, 2)
/** What to type to run this again with the same seed. */
const replay = `npm run test:fuzz -- --seed ${seed}${security === 'none' ? '' : ` --security ${security}`}${listener === 'strand' ? '' : ` --listener ${listener}`}`

const cleanup = new Cleanup()
let failed = true
try {
  const report = await runFuzz(cleanup, { seed, durationMs: seconds * 1000, workers, tricklers, security, listener, verifiers, log: (line) => process.stderr.write(`${line}\n`) })
  process.stdout.write(`\n${formatReport(report)}\n`)
  failed = report.failures.length > 0
  if (failed) process.stdout.write(`replay: ${replay}\n`)
} catch (err) {
  process.stderr.write(`test:fuzz (seed ${seed}) failed: ${(err as Error).stack ?? String(err)}\nreplay: ${replay}\n`)
} finally {
  await cleanup.run()
}
process.exit(failed ? 1 : 0)
