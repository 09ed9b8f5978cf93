// The network-partition scenarios: real broker processes, each in a network namespace of its own
// (test/helpers/netns.ts), RF 3 and min.insync.replicas 2; an idempotent acks=all producer and a
// consumer in the test process, which reaches every broker throughout (a client on neither side
// of the cut, the hardest place for a client to be: it can still talk to a stale leader). The
// nemesis cuts links between brokers, the load runs through the fault, the links heal, and an
// independent checker (test/helpers/safety.ts) compares what was acknowledged and seen with the
// log read back afterwards:
//
//   lost = moved = duplicated = vanished = reordered = 0, replicas byte-identical below the high
//   watermark, and, where the controller stayed on the majority side, the Raft term unchanged (a
//   healed voter rejoins without an election: pre-vote).
//
// Availability is the longest time a partition went without an acks=all acknowledgement after the
// first cut. `npm run test:partitions` runs them all at full length and prints a table;
// test/cluster/partitions.test.ts runs a short form of two as part of `npm test`.

import { setTimeout as delay } from 'node:timers/promises'
import type { Connection } from '../../client/net/connection.js'
import type { Strand } from '../../client/index.js'
import { ApiKey } from '../../client/protocol/apis.js'
import { decodeBatches, encodeBatch } from '../../client/protocol/records.js'
import type { Teardown } from '../helpers/broker-process.js'
import { TestCluster } from '../helpers/cluster.js'
import { NetLab } from '../helpers/netns.js'
import { Rng } from '../helpers/random.js'
import { readBack, replicasIdentical, steadyProducer, waitForFullIsr, watchPartitions, type Acked } from '../helpers/replication.js'
import { checkHistory, longestAckGapMs, type Verdict } from '../helpers/safety.js'
import { waitFor } from '../helpers/wait.js'

export const TOPIC = 'partitions'
export const PARTITIONS = 3
/** Clients give up on a request after this long and retry (elsewhere, after a metadata refresh). */
const REQUEST_TIMEOUT_MS = 3000

export interface PartitionContext {
  cluster: TestCluster
  lab: NetLab
  strand: Strand
  rng: Rng
  short: boolean
  /** The active controller (the Raft leader). */
  controller: () => Promise<number>
  /** A partition whose leader is not the controller, once every partition is fully in sync. */
  leaderBesidesController: () => Promise<{ partition: number; leader: number; controller: number }>
  /** Records a cut (what, and when: availability is measured from the first). */
  fault: (what: string) => void
  /** Resolves once `n` more records are acknowledged (on `partition`, or on any). */
  progress: (n?: number, partition?: number) => Promise<void>
  /**
   * Keeps the fault in place this long while the load runs: the nemesis's schedule (how long a
   * cut lasts), not a wait for the system; the checks after healing decide the outcome.
   */
  hold: (ms?: number) => Promise<void>
  /** Restores every link and waits for every partition to be fully in sync again. */
  heal: () => Promise<void>
  /**
   * A client pinned to one broker: notes the partition's high watermark there now (before the
   * cut), then from start() (after it) writes and reads through that broker only, until stop().
   */
  pinTo: (broker: number, partition: number) => Promise<{ start: () => StaleLeaderProbe }>
}

export interface PartitionScenario {
  name: string
  size?: number
  /** The controller stays on the majority side: the Raft term must be the same after healing. */
  termStable: boolean
  inject: (ctx: PartitionContext) => Promise<void>
}

export interface StaleLeaderProbe {
  stop: () => Promise<{ produced: number; accepted: number; fetched: number }>
}

export interface PartitionResult extends Verdict {
  scenario: string
  seed: number
  replicasIdentical: boolean
  leaderChanges: number
  /** Longest time without an acks=all acknowledgement on one partition after the first cut, ms. */
  unavailableMs: number
  termBefore: number
  termAfter: number
  termStable: boolean
  /** acks=all produces sent to a pinned broker while it was cut off, and how many it acknowledged (must be 0). */
  pinnedProduced: number
  pinnedAccepted: number
  faults: string[]
}

/** Every voter asked directly agrees on one leader in one term; returns the term. */
async function agreedTerm(cluster: TestCluster): Promise<number> {
  const conns = cluster.ids.map((id) => cluster.connection(id, 'term'))
  try {
    return await waitFor(async () => {
      const views = await Promise.all(conns.map((c) => c.request(ApiKey.DescribeQuorum, {}, { timeoutMs: 1000 }).catch(() => null)))
      const first = views[0]
      if (first === null || first === undefined || first.leaderId < 0) return false
      return views.every((v) => v !== null && v.leaderId === first.leaderId && v.term === first.term) ? first.term : false
    }, { what: 'every voter to agree on a leader and a term', timeoutMs: 60_000, intervalMs: 50 })
  } finally {
    for (const c of conns) c.close()
  }
}

/** Polls the leader epochs the cluster reports, and counts how often they moved. */
function watchLeaderEpochs(strand: Strand): { changes: () => number; stop: () => Promise<void> } {
  const admin = strand.admin()
  const first = new Map<number, number>()
  const latest = new Map<number, number>()
  let stopped = false
  const loop = (async () => {
    while (!stopped) {
      const md = await admin.metadata([TOPIC]).catch(() => null)
      for (const p of md?.topics.find((t) => t.name === TOPIC)?.partitions ?? []) {
        if (!first.has(p.partition)) first.set(p.partition, p.leaderEpoch)
        latest.set(p.partition, Math.max(latest.get(p.partition) ?? -1, p.leaderEpoch))
      }
      await delay(200)
    }
  })()
  return {
    changes: () => [...latest].reduce((sum, [p, e]) => sum + e - (first.get(p) ?? e), 0),
    stop: async () => {
      stopped = true
      await loop
      await admin.close()
    },
  }
}

/**
 * A client pinned to one broker: acks=all produces of values nobody else sends (`pinned<n>`, which
 * must never reach the log: the broker cannot replicate them) and fetches from below the high
 * watermark it had when the cut came (what it hands out must all survive healing).
 */
function staleLeaderProbe(conn: Connection, partition: number, fromOffset: bigint, forbidden: string[], seen: Map<string, string>): StaleLeaderProbe {
  let stopped = false
  let produced = 0
  let accepted = 0
  let fetched = 0
  const loop = (async () => {
    while (!stopped) {
      const value = `pinned${produced++}`
      forbidden.push(value)
      const records = encodeBatch([{ value }], { timestamp: Date.now() })
      const res = await conn.request(ApiKey.Produce, { transactionalId: null, acks: -1, timeoutMs: 1000, topics: [{ name: TOPIC, partitions: [{ index: partition, currentLeaderEpoch: -1, records }] }] }).catch(() => null)
      if (res?.topics[0]?.partitions[0]?.errorCode === 0) accepted++
      const fetch = await conn.request(ApiKey.Fetch, {
        replicaId: -1, maxWaitMs: 0, minBytes: 0, maxBytes: 1 << 20, isolationLevel: 0,
        topics: [{ name: TOPIC, partitions: [{ partition, currentLeaderEpoch: -1, fetchOffset: fromOffset, logStartOffset: -1n, partitionMaxBytes: 1 << 20 }] }],
      }).catch(() => null)
      const answer = fetch?.topics[0]?.partitions[0]
      if (answer !== undefined && answer.errorCode === 0 && answer.records.length > 0) {
        fetched++
        for (const b of decodeBatches(answer.records).batches) for (const r of b.records) seen.set(`${partition}:${r.offset}`, r.value?.toString() ?? '')
      }
      await delay(100)
    }
  })()
  return {
    stop: async () => {
      stopped = true
      await loop
      return { produced, accepted, fetched }
    },
  }
}

/** Cuts `victim` off from `others`, holds, heals: the shape most scenarios share. */
async function isolate(ctx: PartitionContext, victim: number, others: readonly number[], how: 'both ways' | 'outbound only'): Promise<void> {
  ctx.fault(`cut ${victim} ${how === 'both ways' ? '<->' : '->'} ${others.join(',')}`)
  if (how === 'both ways') await ctx.lab.partition([victim], others)
  else for (const o of others) await ctx.lab.cut(victim, o)
}

export const SCENARIOS: PartitionScenario[] = [
  {
    name: 'partition leader isolated from the majority',
    termStable: true,
    async inject(ctx) {
      const { partition, leader } = await ctx.leaderBesidesController()
      const others = ctx.cluster.ids.filter((id) => id !== leader)
      const pinned = await ctx.pinTo(leader, partition)
      await isolate(ctx, leader, others, 'both ways')
      const probe = pinned.start()
      // The majority fences the old leader and elects another from the ISR: acks resume there.
      await ctx.progress(100, partition)
      await ctx.hold()
      await probe.stop()
      await ctx.heal()
    },
  },
  {
    name: 'minority/majority split: the controller and a leader cut off (5 brokers)',
    size: 5,
    termStable: false,
    async inject(ctx) {
      const { leader, controller } = await ctx.leaderBesidesController()
      const minority = [controller, leader]
      const majority = ctx.cluster.ids.filter((id) => !minority.includes(id))
      ctx.fault(`split ${minority.join(',')} | ${majority.join(',')}`)
      await ctx.lab.partition(minority, majority)
      await ctx.progress(100)
      await ctx.hold()
      await ctx.heal()
    },
  },
  {
    name: 'active controller isolated',
    termStable: false,
    async inject(ctx) {
      const controller = await ctx.controller()
      await isolate(ctx, controller, ctx.cluster.ids.filter((id) => id !== controller), 'both ways')
      await ctx.progress(100)
      await ctx.hold()
      await ctx.heal()
    },
  },
  {
    name: 'bridge: two brokers cut from each other, the third sees both',
    termStable: true,
    async inject(ctx) {
      const { leader, controller } = await ctx.leaderBesidesController()
      ctx.fault(`cut ${controller} <-> ${leader}; ${ctx.cluster.ids.find((id) => id !== controller && id !== leader)} bridges`)
      await ctx.lab.partition([controller], [leader])
      await ctx.progress(100)
      await ctx.hold()
      await ctx.heal()
    },
  },
  {
    name: 'asymmetric: a leader\'s packets to the others dropped, theirs to it delivered',
    termStable: true,
    async inject(ctx) {
      const { partition, leader } = await ctx.leaderBesidesController()
      await isolate(ctx, leader, ctx.cluster.ids.filter((id) => id !== leader), 'outbound only')
      await ctx.progress(100, partition)
      await ctx.hold()
      await ctx.heal()
    },
  },
  {
    name: 'flapping: a leader\'s link goes down and up again and again',
    termStable: true,
    async inject(ctx) {
      const { leader } = await ctx.leaderBesidesController()
      const cycles = ctx.short ? 4 : 16
      for (let i = 0; i < cycles; i++) {
        ctx.fault(`link ${leader} down`)
        await ctx.lab.linkDown(leader)
        await ctx.hold(ctx.rng.int(200, 1800))
        await ctx.lab.linkUp(leader)
        await ctx.hold(ctx.rng.int(200, 1800))
      }
      await ctx.heal()
    },
  },
]

/** Runs one scenario on a fresh cluster in a fresh lab, and checks what the clients saw. */
export async function runPartitionScenario(t: Teardown, scenario: PartitionScenario, options: { seed: number; short: boolean }): Promise<PartitionResult> {
  const rng = new Rng(options.seed)
  const size = scenario.size ?? 3
  const lab = await NetLab.create(t, size)
  const cluster = await TestCluster.start(t, { size, network: lab })
  const strand = cluster.client(`partitions-${options.seed}`, { requestTimeoutMs: REQUEST_TIMEOUT_MS })
  await strand.admin().createTopic({ topic: TOPIC, partitions: PARTITIONS, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } })
  await waitForFullIsr(cluster, TOPIC, PARTITIONS)

  const producer = strand.producer({ acks: 'all', lingerMs: 2, retries: 1000, timeoutMs: REQUEST_TIMEOUT_MS })
  // One load per partition: a send waits for all its records, so one load over every partition
  // would stall them all behind the partition that lost its leader, and hide which one did.
  const loads = Array.from({ length: PARTITIONS }, (_, partition) => steadyProducer(producer, TOPIC, { perRound: 10, partitions: PARTITIONS, partition, prefix: `p${partition}-` }))
  const load = { acked: [] as Acked[], failedValues: [] as string[] }
  const ackedCount = (): number => loads.reduce((n, l) => n + l.acked.length, 0)
  const watcher = watchPartitions(cluster.client(`watcher-${options.seed}`, { requestTimeoutMs: REQUEST_TIMEOUT_MS }), TOPIC, PARTITIONS)
  const epochs = watchLeaderEpochs(cluster.client(`epochs-${options.seed}`, { requestTimeoutMs: 1000 }))
  const forbidden: string[] = []
  const pinnedSeen = new Map<string, string>()
  const pinned = { produced: 0, accepted: 0 }
  const faults: string[] = []
  let firstFaultAt: number | null = null
  const holdMs = options.short ? 2500 : 10_000

  const progress = async (n = 50, partition?: number): Promise<void> => {
    const count = (): number => (partition === undefined ? ackedCount() : loads[partition]!.acked.length)
    const target = count() + n
    await waitFor(() => count() >= target, { what: `${n} more acknowledgements${partition === undefined ? '' : ` on ${TOPIC}-${partition}`} (cut: ${lab.describe()})`, timeoutMs: 60_000, intervalMs: 20 })
  }
  const controller = async (): Promise<number> => waitFor(async () => {
    const d = await strand.admin().describeCluster().catch(() => null)
    return d !== null && d.controllerId > 0 ? d.controllerId : false
  }, { what: 'an active controller' })
  const ctx: PartitionContext = {
    cluster,
    lab,
    strand,
    rng,
    short: options.short,
    controller,
    leaderBesidesController: async () => {
      await waitForFullIsr(cluster, TOPIC, PARTITIONS)
      const c = await controller()
      const md = await strand.admin().metadata([TOPIC])
      const led = md.topics.find((x) => x.name === TOPIC)!.partitions.filter((p) => p.leaderId > 0 && p.leaderId !== c)
      if (led.length === 0) throw new Error(`Every partition of ${TOPIC} is led by the controller (${c}).`)
      const p = rng.pick(led)
      return { partition: p.partition, leader: p.leaderId, controller: c }
    },
    fault: (what) => {
      faults.push(what)
      firstFaultAt ??= performance.now()
    },
    progress,
    hold: (ms = holdMs) => delay(ms),
    heal: async () => {
      await lab.heal()
      faults.push('heal')
      await waitForFullIsr(cluster, TOPIC, PARTITIONS)
    },
    pinTo: async (broker, partition) => {
      const conn = cluster.connection(broker, `pinned-${broker}`, 2500)
      const res = await conn.request(ApiKey.ListOffsets, { replicaId: -1, isolationLevel: 0, topics: [{ name: TOPIC, partitions: [{ partitionIndex: partition, currentLeaderEpoch: -1, timestamp: -1n }] }] })
      const hw = res.topics[0]!.partitions[0]!.offset
      const from = hw > 20n ? hw - 20n : 0n
      return {
        start: () => {
          const probe = staleLeaderProbe(conn, partition, from, forbidden, pinnedSeen)
          return {
            stop: async () => {
              const r = await probe.stop()
              pinned.produced += r.produced
              pinned.accepted += r.accepted
              return r
            },
          }
        },
      }
    },
  }

  const termBefore = await agreedTerm(cluster)
  await progress(200)
  await scenario.inject(ctx)
  await progress(200)
  const termAfter = await agreedTerm(cluster)
  for (const l of loads) await l.stop()
  // Hundreds of thousands of acknowledgements: concatenated, not spread into push's arguments.
  load.acked = loads.flatMap((l) => l.acked)
  load.failedValues = loads.flatMap((l) => l.failedValues)
  await producer.close()
  await watcher.stop()
  await epochs.stop()

  await waitForFullIsr(cluster, TOPIC, PARTITIONS)
  const md = await strand.admin().metadata([TOPIC])
  const placement = md.topics.find((x) => x.name === TOPIC)!.partitions.map((p) => p.replicas)
  const { highWatermarks, log } = await readBack(strand, TOPIC, PARTITIONS)
  const verdict = checkHistory({ acked: load.acked, indeterminate: load.failedValues, seen: [watcher.seen, pinnedSeen], forbidden }, log)
  for (const id of cluster.ids) await cluster.stop(id)
  const identical = await replicasIdentical(cluster.dataDirs, TOPIC, highWatermarks, (p) => placement[p]!)
  const gap = longestAckGapMs(load.acked, PARTITIONS, firstFaultAt ?? 0)
  return {
    ...verdict,
    scenario: scenario.name,
    seed: options.seed,
    replicasIdentical: identical,
    leaderChanges: epochs.changes(),
    unavailableMs: Math.round(gap.ms),
    termBefore,
    termAfter,
    termStable: scenario.termStable,
    pinnedProduced: pinned.produced,
    pinnedAccepted: pinned.accepted,
    faults,
  }
}

/** The checks every scenario must pass, as messages (empty: all passed). */
export function failures(r: PartitionResult): string[] {
  const out: string[] = []
  if (r.acknowledged === 0) out.push('nothing was acknowledged')
  for (const k of ['lost', 'moved', 'duplicated', 'vanished', 'reordered', 'forbiddenFound'] as const) if (r[k] > 0) out.push(`${k}: ${r[k]}`)
  if (!r.replicasIdentical) out.push('replicas differ below the high watermark')
  if (r.termStable && r.termAfter !== r.termBefore) out.push(`the Raft term moved from ${r.termBefore} to ${r.termAfter} though the controller kept its majority`)
  if (r.pinnedAccepted > 0) out.push(`the cut-off leader acknowledged ${r.pinnedAccepted} acks=all produces`)
  return out
}
