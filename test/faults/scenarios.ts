// The fault-tolerance scenarios: real broker processes (three, RF 3, min.insync.replicas 2), a
// verifying producer (acks=all, idempotent, steady rate) and a verifying consumer reading
// throughout, while a fault is injected. After each scenario the checks are the same:
//
//   - every acknowledged record is in the log at the offset it was acknowledged with (lost = 0);
//   - no value is in the log twice (duplicated = 0: idempotence held through the retries);
//   - no record the consumer saw later vanished or changed (vanished = 0);
//   - the replicas are byte-identical below the high watermark.
//
// `npm run test:faults` runs them all at full length and prints a table; test/cluster/faults.test.ts
// runs a short form of each as part of `npm test`.

import { open, readdir } from 'node:fs/promises'
import path from 'node:path'
import type { Strand } from '../../client/index.js'
import type { Teardown } from '../helpers/broker-process.js'
import { TestCluster } from '../helpers/cluster.js'
import { readBack, replicasIdentical, steadyProducer, waitForFullIsr, watchPartitions } from '../helpers/replication.js'
import { checkHistory } from '../helpers/safety.js'
import { Rng } from '../helpers/random.js'
import { waitFor } from '../helpers/wait.js'

export const TOPIC = 'faults'
/**
 * Clients give up on a request (and retry elsewhere) after this long: a SIGSTOPped broker holds
 * requests without answering, and the default 30 s would make the scenario wait that long.
 */
const REQUEST_TIMEOUT_MS = 3000
export const PARTITIONS = 3

export interface ScenarioContext {
  cluster: TestCluster
  strand: Strand
  rng: Rng
  /** Short form (npm test) or full length (npm run test:faults). */
  short: boolean
  /** Acknowledgements so far. */
  acked: () => number
  /** Resolves once `n` more records are acknowledged than now: the cluster is serving again. */
  progress: (n?: number) => Promise<void>
  /** Records a fault's injection time; the recovery time is measured from it to the next progress. */
  fault: (what: string) => void
}

export interface Scenario {
  name: string
  /** Broker config for this scenario's cluster, over the test defaults. */
  overrides?: Record<string, string | number | boolean>
  inject: (ctx: ScenarioContext) => Promise<void>
}

export interface ScenarioResult {
  scenario: string
  seed: number
  acknowledged: number
  lost: number
  duplicated: number
  vanished: number
  replicasIdentical: boolean
  /** Longest time from a fault to the next acknowledgement, ms. */
  recoveryMs: number
  faults: string[]
}

async function leaderOf(ctx: ScenarioContext, partition: number): Promise<number> {
  const p = await ctx.cluster.waitForPartition(ctx.strand, TOPIC, partition, (x) => x.leaderId > 0 && x.isr.length === 3, 'a leader and a full ISR')
  return p.leaderId
}

async function fullIsr(ctx: ScenarioContext): Promise<void> {
  await waitForFullIsr(ctx.cluster, TOPIC, PARTITIONS)
}

async function controllerOf(ctx: ScenarioContext): Promise<number> {
  return waitFor(async () => {
    const d = await ctx.strand.admin().describeCluster().catch(() => null)
    return d !== null && d.controllerId > 0 ? d.controllerId : false
  }, { what: 'an active controller' })
}

/** Stops broker `victim` (SIGKILL or SIGTERM), waits for the cluster to serve again, restarts it, and waits for a full ISR. */
async function bounce(ctx: ScenarioContext, victim: number, signal: 'SIGKILL' | 'SIGTERM', role: string): Promise<void> {
  ctx.fault(`${signal} ${role} ${victim}`)
  if (signal === 'SIGKILL') await ctx.cluster.kill(victim)
  else await ctx.cluster.stop(victim)
  await ctx.progress()
  await ctx.cluster.startBroker(victim)
  await fullIsr(ctx)
}

export const SCENARIOS: Scenario[] = [
  {
    name: 'leader SIGKILL + restart (hard bounce)',
    async inject(ctx) {
      for (let i = 0; i < (ctx.short ? 2 : 5); i++) await bounce(ctx, await leaderOf(ctx, ctx.rng.int(0, PARTITIONS - 1)), 'SIGKILL', 'leader')
    },
  },
  {
    name: 'leader SIGTERM + restart (clean bounce)',
    inject: async (ctx) => bounce(ctx, await leaderOf(ctx, ctx.rng.int(0, PARTITIONS - 1)), 'SIGTERM', 'leader'),
  },
  {
    name: 'active controller SIGKILL during produce',
    inject: async (ctx) => bounce(ctx, await controllerOf(ctx), 'SIGKILL', 'controller'),
  },
  {
    name: 'follower SIGSTOP past the lag time, resumed',
    async inject(ctx) {
      const leader = await leaderOf(ctx, 0)
      const follower = ctx.cluster.ids.find((id) => id !== leader)!
      ctx.fault(`SIGSTOP follower ${follower}`)
      ctx.cluster.pause(follower)
      await ctx.cluster.waitForPartition(ctx.strand, TOPIC, 0, (x) => !x.isr.includes(follower), `follower ${follower} out of the ISR`)
      await ctx.progress()
      ctx.cluster.resume(follower)
      await fullIsr(ctx)
    },
  },
  {
    name: 'rolling restart of all three brokers',
    async inject(ctx) {
      for (const id of ctx.cluster.ids) await bounce(ctx, id, 'SIGTERM', 'broker')
    },
  },
  {
    name: 'full-cluster SIGKILL with fsync: always',
    overrides: { fsync: 'always' },
    async inject(ctx) {
      ctx.fault('SIGKILL all brokers')
      await Promise.all(ctx.cluster.ids.map((id) => ctx.cluster.kill(id)))
      await Promise.all(ctx.cluster.ids.map((id) => ctx.cluster.startBroker(id)))
      await ctx.progress()
      await fullIsr(ctx)
    },
  },
  {
    name: 'torn tail in one replica\'s active segment',
    async inject(ctx) {
      const leader = await leaderOf(ctx, 0)
      const follower = ctx.cluster.ids.find((id) => id !== leader)!
      ctx.fault(`SIGKILL follower ${follower} and tear its tail`)
      await ctx.cluster.kill(follower)
      await tearTail(path.join(ctx.cluster.dataDirs[follower - 1]!, `${TOPIC}-0`), ctx.rng)
      await ctx.cluster.startBroker(follower)
      await ctx.progress()
      await fullIsr(ctx)
    },
  },
]

/** Cuts the active segment inside its last batch and appends garbage, as a crash mid-write would leave it. */
async function tearTail(dir: string, rng: Rng): Promise<void> {
  const logs = (await readdir(dir)).filter((f) => f.endsWith('.log')).sort()
  const file = path.join(dir, logs[logs.length - 1]!)
  const fh = await open(file, 'r+')
  try {
    const { size } = await fh.stat()
    if (size < 100) return
    await fh.truncate(size - 1 - rng.int(0, 39))
    const garbage = rng.bytes(64 + rng.int(0, 63))
    await fh.write(garbage, 0, garbage.length, size - 40)
  } finally {
    await fh.close()
  }
}

/** Runs one scenario on a fresh cluster and checks what the producer and consumer saw. */
export async function runScenario(t: Teardown, scenario: Scenario, options: { seed: number; short: boolean }): Promise<ScenarioResult> {
  const rng = new Rng(options.seed)
  const cluster = await TestCluster.start(t, { overrides: scenario.overrides })
  const strand = cluster.client(`faults-${options.seed}`, { requestTimeoutMs: REQUEST_TIMEOUT_MS })
  await strand.admin().createTopic({ topic: TOPIC, partitions: PARTITIONS, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } })
  for (let p = 0; p < PARTITIONS; p++) await cluster.waitForPartition(strand, TOPIC, p, (x) => x.leaderId > 0 && x.isr.length === 3, 'three in-sync replicas')

  const producer = strand.producer({ acks: 'all', lingerMs: 2, retries: 100, timeoutMs: REQUEST_TIMEOUT_MS })
  const load = steadyProducer(producer, TOPIC, { perRound: 20, partitions: PARTITIONS })
  const watcher = watchPartitions(cluster.client(`watcher-${options.seed}`, { requestTimeoutMs: REQUEST_TIMEOUT_MS }), TOPIC, PARTITIONS)
  const watched = watcher.seen

  const faults: string[] = []
  let faultAt: number | null = null
  let recoveryMs = 0
  const ctx: ScenarioContext = {
    cluster,
    strand,
    rng,
    short: options.short,
    acked: () => load.acked.length,
    fault: (what) => {
      faults.push(what)
      faultAt = Date.now()
    },
    progress: async (n = 50) => {
      const target = load.acked.length + n
      await waitFor(() => load.acked.length >= target, { what: `${n} more acknowledgements`, timeoutMs: 60_000, intervalMs: 5 })
      if (faultAt !== null) {
        recoveryMs = Math.max(recoveryMs, Date.now() - faultAt)
        faultAt = null
      }
    },
  }
  await ctx.progress(200)
  await scenario.inject(ctx)
  await ctx.progress(200)
  await load.stop()
  await producer.close()
  await watcher.stop()

  // Read the whole log back and compare with what was acknowledged and seen.
  await fullIsr(ctx)
  const { highWatermarks, log } = await readBack(strand, TOPIC, PARTITIONS)
  const verdict = checkHistory({ acked: load.acked, indeterminate: load.failedValues, seen: [watched] }, log)
  for (const id of cluster.ids) await cluster.stop(id)
  const identical = await replicasIdentical(cluster.dataDirs, TOPIC, highWatermarks)
  return { scenario: scenario.name, seed: options.seed, acknowledged: verdict.acknowledged, lost: verdict.lost + verdict.moved, duplicated: verdict.duplicated, vanished: verdict.vanished, replicasIdentical: identical, recoveryMs, faults }
}
