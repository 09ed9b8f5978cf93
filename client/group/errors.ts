// Errors of consumer groups that the client raises itself (the wire errors, ILLEGAL_GENERATION and
// the like, stay in client/protocol/errors.ts and come through as StrandProtocolError).

import { StrandError } from '../errors.js'

/** One partition's outcome of a commit. */
export interface PartitionCommitResult {
  topic: string
  partition: number
  /** The offset committed (or that failed to commit): the next record to read. */
  offset: bigint
  /** null: committed. */
  error: StrandError | null
}

/**
 * Some partitions of a commit failed; `results` has every partition's outcome (the others were
 * committed). After ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID or REBALANCE_IN_PROGRESS the group has
 * moved on without this member's generation: its partitions may already be someone else's, and the
 * consumer rejoins by itself. Retriable only when every failure was (the coordinator stayed
 * unreachable through the retries).
 */
export class CommitFailedError extends StrandError {
  override readonly name = 'CommitFailedError'
  readonly results: PartitionCommitResult[]
  constructor(results: PartitionCommitResult[]) {
    const failed = results.filter((r) => r.error !== null)
    const first = failed[0]?.error
    const list = failed.slice(0, 5).map((r) => `${r.topic}-${r.partition}: ${r.error?.code}`).join(', ')
    const more = failed.length > 5 ? ` and ${failed.length - 5} more` : ''
    super('COMMIT_FAILED', `${failed.length} of ${results.length} partitions were not committed (${list}${more}).`, {
      retriable: failed.length > 0 && failed.every((r) => r.error?.retriable === true),
      cause: first,
    })
    this.results = results
  }
}
