// `npm run demo:cdc`: a source table synced through a Strand cluster into two replica stores (JSON
// files), one of them killed and restarted midway, each compared with the source at the end (run.ts).
//
//   npm start                                  # the local cluster, in another terminal
//   npm run demo:cdc
//   npm run demo:cdc -- --self-contained       # starts its own three brokers in a temp dir
//   npm run demo:cdc -- --bootstrap host:9092 --rows 1000 --changes 5000 --seed 7
//
// Exit code 0 when both replicas equal the source, 1 when not (or the run failed), 2 on bad arguments.

import { mkdtempSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { Strand } from '../../index.js'
import { startOwnCluster, type OwnCluster } from './own-cluster.js'
import { runDemo } from './run.js'

const USAGE = `Usage: npm run demo:cdc -- [options]

Syncs a source table of accounts through a Strand cluster into two replicas (JSON files), one
sink killed and restarted midway, the table's schema migrated midway, and checks both replicas
equal the source row by row.
  --bootstrap LIST     brokers, host:port,... (default 127.0.0.1:9092,127.0.0.1:9093,127.0.0.1:9094: npm start)
  --self-contained     start a three-broker cluster of its own in a temp dir instead
  --rows N             rows of the source table (default 10000)
  --changes N          random updates, deletes and re-inserts (default 30000)
  --rate N             changes per second, 0 for as fast as acknowledged (default 5000)
  --seed N             the workload's seed (default: random, printed)
  --dir DIR            where the replica files go (default: a new temp dir, kept)
  --keep-topics        do not delete the demo's topics at the end`

const LOCAL_CLUSTER = ['127.0.0.1:9092', '127.0.0.1:9093', '127.0.0.1:9094']

function usageError(message: string): never {
  process.stderr.write(`demo:cdc: ${message}\n\n${USAGE}\n`)
  process.exit(2)
}

function count(name: string, v: string | undefined, fallback: number): number {
  if (v === undefined) return fallback
  const n = Number(v)
  if (!Number.isSafeInteger(n) || n < 0) usageError(`--${name} takes an integer >= 0, got "${v}".`)
  return n
}

function parse() {
  let values
  try {
    values = parseArgs({
      options: {
        bootstrap: { type: 'string' },
        'self-contained': { type: 'boolean', default: false },
        rows: { type: 'string' },
        changes: { type: 'string' },
        rate: { type: 'string' },
        seed: { type: 'string' },
        dir: { type: 'string' },
        'keep-topics': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }).values
  } catch (err) {
    return usageError((err as Error).message)
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`)
    process.exit(0)
  }
  if (values['self-contained'] && values.bootstrap !== undefined) usageError('--bootstrap and --self-contained exclude each other.')
  const rows = count('rows', values.rows, 10_000)
  if (rows < 1) usageError('--rows must be at least 1.')
  return {
    bootstrap: values.bootstrap?.split(',').filter((s) => s.length > 0) ?? LOCAL_CLUSTER,
    selfContained: values['self-contained'],
    rows,
    changes: count('changes', values.changes, 30_000),
    ratePerSec: count('rate', values.rate, 5_000),
    seed: count('seed', values.seed, Math.floor(Math.random() * 2 ** 31)),
    dir: values.dir,
    keepTopics: values['keep-topics'],
  }
}

/** The number of live brokers, or a clear message when none answers. */
async function brokerCount(bootstrap: string[]): Promise<number> {
  const strand = new Strand({ brokers: bootstrap, clientId: 'cdc-demo-probe', connectTimeoutMs: 2_000, requestTimeoutMs: 5_000, retry: { retriesMax: 2 } })
  try {
    return (await strand.admin().describeCluster()).brokers.length
  } catch (err) {
    const local = bootstrap.join(',') === LOCAL_CLUSTER.join(',')
    const hint = local ? ' Start the local cluster with `npm start` in another terminal, or run with --self-contained.' : ''
    throw new Error(`no Strand cluster answers at ${bootstrap.join(',')} (${(err as Error).message}).${hint}`)
  } finally {
    await strand.close().catch(() => undefined)
  }
}

async function main(): Promise<number> {
  const args = parse()
  const log = (line: string): void => {
    process.stdout.write(`${line}\n`)
  }
  let own: OwnCluster | null = null
  const stopOwn = (): void => {
    void own?.stop().finally(() => process.exit(130))
  }
  process.once('SIGINT', stopOwn)
  try {
    if (args.selfContained) {
      log('starting a three-broker cluster of its own...')
      // The cleaner looks for dirty compacted logs every second (15 s by default), so compaction shows within the run.
      own = await startOwnCluster({ size: 3, overrides: { 'log.level': 'warn', 'log.cleaner.backoff.ms': 1000 } })
      log(`cluster ready: ${own.bootstrap.join(',')} (data in ${own.dir}, removed at the end)`)
    }
    const bootstrap = own?.bootstrap ?? args.bootstrap
    const brokers = await brokerCount(bootstrap)
    const result = await runDemo({
      bootstrap,
      rows: args.rows,
      changes: args.changes,
      seed: args.seed,
      ratePerSec: args.ratePerSec,
      // Made only now, so a run that cannot reach a cluster leaves no empty directory behind.
      dir: args.dir ?? mkdtempSync(path.join(os.tmpdir(), 'strand-cdc-replicas-')),
      partitions: 6,
      replicationFactor: Math.min(3, brokers),
      runId: Date.now().toString(36),
      sessionTimeoutMs: 3_000,
      catchUpTimeoutMs: 120_000,
      deleteTopics: !args.keepTopics,
      log,
    })
    log(
      result.ok
        ? `PASS: both replicas equal the source (${result.sourceRows} rows) after ${args.changes} changes, in ${(result.elapsedMs / 1000).toFixed(1)} s (seed ${result.seed})`
        : `FAIL: a replica differs from the source (seed ${result.seed})`,
    )
    return result.ok ? 0 : 1
  } catch (err) {
    process.stderr.write(`demo:cdc failed: ${(err as Error).message}\n`)
    return 1
  } finally {
    process.off('SIGINT', stopOwn)
    await own?.stop()
  }
}

process.exit(await main())
