// What the admin client's per-resource modules (admin-configs.ts, admin-groups.ts,
// admin-transactions.ts) are given by Admin, which delegates to them: its cluster, clock and
// timeouts, its open check, and its metadata call. As AdminRoutes is for admin-security.ts.

import type { Cluster, ClusterMetadata } from './cluster.js'
import type { IsolationLevel } from './consumer/consumer.js'
import { InvalidArgumentError } from './errors.js'
import type { CoordinatorConnectionOptions } from './group/coordinator.js'

export interface AdminScope {
  readonly cluster: Cluster
  readonly clock: () => number
  readonly requestTimeoutMs: number
  /** Settings of the connections to group coordinators. */
  readonly connection: CoordinatorConnectionOptions
  /** Throws ClosedError once the admin client is closed. */
  checkOpen(): void
  /** Admin.metadata: brokers and topics (every topic when absent; `[]` for the brokers alone). */
  metadata(topics?: readonly string[]): Promise<ClusterMetadata>
}

/** ListOffsets' isolationLevel on the wire. */
export function isolationCodeOf(level: IsolationLevel | undefined): number {
  if (level === undefined || level === 'read_uncommitted') return 0
  if (level === 'read_committed') return 1
  throw new InvalidArgumentError(`isolationLevel must be 'read_uncommitted' or 'read_committed', got ${JSON.stringify(level)}.`)
}
