// Start-up phase 1, storage: the data dir, the cluster id kept in it, and the partitions' logs
// (ReplicaManager over broker/log). startBroker (broker/broker.ts) opens it first, since every
// later phase reads or writes through it, and closes it last.

import { randomUUID } from 'node:crypto'
import { mkdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import type { Logger } from 'pino'
import type { BrokerConfig } from '../config.js'
import { writeFileAtomic } from '../log/checkpoint.js'
import type { Metrics } from '../metrics/metrics.js'
import { ReplicaManager } from '../replication/replica-manager.js'

export interface Storage {
  /** This data dir's cluster id (meta.json), answered until the quorum has chosen one. */
  readonly clusterId: string
  /** Every partition hosted here, with its log. */
  readonly replicas: ReplicaManager
  /** Flushes and closes the logs; the last step of a stop. */
  close(): Promise<void>
}

export async function openStorage(config: BrokerConfig, options: { logger: Logger; clock: () => number; metrics: Metrics }): Promise<Storage> {
  await mkdir(config.dataDir, { recursive: true })
  const clusterId = await clusterIdOf(config.dataDir)
  const replicas = await ReplicaManager.open(config, options.logger, options.clock, options.metrics)
  return { clusterId, replicas, close: () => replicas.close() }
}

/** The cluster id is made once per data dir and kept, like Kafka's meta.properties. */
async function clusterIdOf(dataDir: string): Promise<string> {
  const file = path.join(dataDir, 'meta.json')
  try {
    const meta = JSON.parse(await readFile(file, 'utf8')) as { clusterId: string }
    return meta.clusterId
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const clusterId = randomUUID()
  await writeFileAtomic(file, `${JSON.stringify({ clusterId })}\n`)
  return clusterId
}
