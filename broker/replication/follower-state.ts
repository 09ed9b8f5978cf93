// What a partition's leader knows of its followers, and the arithmetic the ISR and the high
// watermark are built from: each follower's log end offset as its fetches show it, when it last
// caught up (Kafka's Replica state), and the recent leader appends that replication lag is timed
// against.
//
// Pure leaf helpers over the leader's follower map, plus one bounded buffer (AppendTimes). Only
// Partition calls them, on its leader paths (becomeLeader, its appends, recordFollowerFetch,
// maybeAdvanceHighWatermark); the map itself is `Partition.followers`.
//
// Invariants: a follower's `logEndOffset` is -1 until its first fetch to this leader, and a
// follower that has not fetched yet makes the smallest log end offset unknown (null), so the
// high watermark never passes what some ISR member may lack.

/** What the leader knows of one follower, from its fetches (Kafka's Replica state). */
export interface FollowerState {
  /** -1 until the follower's first fetch to this leader. */
  logEndOffset: bigint
  /** Last time the follower had everything the leader had (Kafka's lastCaughtUpTimeMs). */
  lastCaughtUpMs: number
  lastFetchMs: number
  /** The leader's log end offset at the follower's previous fetch. */
  lastFetchLeaderLogEndOffset: bigint
  /** The high watermark last sent to it, so a waiting fetch answers when it moves. */
  lastSentHighWatermark: bigint
  /** Position in the leader's recent appends up to which this follower's lag was measured. */
  appendCursor: number
}

/** Where replication lag samples go (the broker's metrics). */
export interface LagSink {
  /** Per leader append the follower newly has: ms from the leader's append to the follower's fetch showing it has it (an upper bound on the follower's own append). */
  ms(follower: number, lagMs: number): void
  /** Per follower fetch: records the follower lacked. */
  offsets(follower: number, lagOffsets: number): void
}

/** Recent leader appends (end offset, time), kept to measure replication lag; bounded. */
export class AppendTimes {
  /** Appends kept once trimmed: the buffer grows to twice this, then drops the older half, so trimming is rare. */
  static readonly CAPACITY = 1024
  #ends: bigint[] = []
  #times: number[] = []
  /** Sequence number of `#ends[0]`. */
  #first = 0

  get end(): number {
    return this.#first + this.#ends.length
  }

  record(endOffset: bigint, ms: number): void {
    this.#ends.push(endOffset)
    this.#times.push(ms)
    if (this.#ends.length > 2 * AppendTimes.CAPACITY) {
      this.#ends = this.#ends.slice(AppendTimes.CAPACITY)
      this.#times = this.#times.slice(AppendTimes.CAPACITY)
      this.#first += AppendTimes.CAPACITY
    }
  }

  /**
   * Reports to `lag`, for `follower`, how long ago (from `now`) each append from `cursor` that ends
   * at or before `offset` was made; returns the new cursor.
   */
  confirm(cursor: number, offset: bigint, lag: LagSink, follower: number, now: number): number {
    let i = Math.max(cursor, this.#first) - this.#first
    while (i < this.#ends.length && this.#ends[i]! <= offset) lag.ms(follower, now - this.#times[i++]!)
    return this.#first + i
  }
}

/** A follower as a new leader epoch starts: unknown, with a full lag time from `nowMs` to show up. */
export function newFollowerState(nowMs: number, appendCursor: number): FollowerState {
  return { logEndOffset: -1n, lastCaughtUpMs: nowMs, lastFetchMs: 0, lastFetchLeaderLogEndOffset: -1n, lastSentHighWatermark: -1n, appendCursor }
}

/**
 * A follower fetched from `fetchOffset` while the leader's log ended at `leaderLogEndOffset`: it
 * has everything below `fetchOffset`. Caught up if it reached the log end now, or the log end of
 * its previous fetch (then as of that previous fetch), as Kafka's leader reckons it.
 */
export function recordFetch(f: FollowerState, fetch: { fetchOffset: bigint; leaderLogEndOffset: bigint; nowMs: number }): void {
  const { fetchOffset, leaderLogEndOffset, nowMs } = fetch
  if (fetchOffset >= leaderLogEndOffset) f.lastCaughtUpMs = nowMs
  else if (fetchOffset >= f.lastFetchLeaderLogEndOffset && f.lastFetchLeaderLogEndOffset >= 0n) f.lastCaughtUpMs = Math.max(f.lastCaughtUpMs, f.lastFetchMs)
  f.logEndOffset = fetchOffset
  f.lastFetchLeaderLogEndOffset = leaderLogEndOffset
  f.lastFetchMs = nowMs
}

/**
 * The smallest log end offset of `replicas` (the leader, `leaderId`, counting as `upTo`), or null
 * when one is not known yet. Runs on every append and follower fetch: allocates nothing.
 */
export function smallestLogEndOffset(followers: ReadonlyMap<number, FollowerState>, replicas: readonly number[], leaderId: number, upTo: bigint): bigint | null {
  let least = upTo
  for (const r of replicas) {
    if (r === leaderId) continue
    const f = followers.get(r)
    if (f === undefined || f.logEndOffset < 0n) return null
    if (f.logEndOffset < least) least = f.logEndOffset
  }
  return least
}

/** ISR members (other than the leader, `leaderId`) that have not caught up for longer than `lagMaxMs`. */
export function laggingMembers(followers: ReadonlyMap<number, FollowerState>, isr: readonly number[], leaderId: number, lag: { nowMs: number; lagMaxMs: number }): number[] {
  return isr.filter((r) => {
    if (r === leaderId) return false
    const f = followers.get(r)
    return f === undefined || lag.nowMs - f.lastCaughtUpMs > lag.lagMaxMs
  })
}
