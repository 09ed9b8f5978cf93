// This broker's lease on the partitions it leads. The controller fences a broker it has not heard
// from for `broker.session.timeout.ms` and gives each partition that broker led to another ISR
// member; it heard from this broker no earlier than the moment a heartbeat it answered (registered,
// unfenced) was sent. So until that send time plus the session timeout no other broker can have
// been made leader because this one went silent, and after it one may have been: a leader cut off
// from the controller that carries on acknowledges acks=1 produces that its successor never sees
// (they are truncated when it learns), and serves consumers a log that has moved on elsewhere.
//
// The lease is that bound less a margin (`leaseMarginMs`). The lifecycle renews it with the send
// time of every heartbeat the controller answers (broker-lifecycle.ts); partitions led here ask
// `valid()` on every append, consumer read and high-watermark move (replication/partition.ts), and
// the replica manager hears of lapses and returns through `onChange`.
//
// Time is monotonic (performance.now), never the wall clock: the lease is a duration measured on
// this machine, and a wall clock stepped by NTP would stretch or cut it.

import assert from 'node:assert/strict'

export interface BrokerLeaseOptions {
  sessionTimeoutMs: number
  /** How much shorter than the session the lease is (`leaseMarginMs`). */
  marginMs: number
  /** Monotonic milliseconds; performance.now by default. Tests inject one. */
  clock?: () => number
}

/**
 * How much shorter than `broker.session.timeout.ms` the lease is. The controller can end the
 * session a little before the last answered heartbeat's send time + session timeout:
 * - A controller that lost its quorum and has not noticed yet still answers heartbeats, while its
 *   successor's session clock started at its own election (controller.ts gives every broker a full
 *   session from then). Check-quorum steps the old one down within the maximum election timeout of
 *   last hearing a majority, checked every minimum timeout; its successor is elected no sooner
 *   than a minimum timeout after that majority last heard from it (raft.ts): the old one may answer
 *   for up to two election timeouts after the new one took over.
 * - The lease is checked before an append reaches the log and before its answer is sent; an event
 *   loop stall between the two runs past the check.
 * Capped at a quarter of the session, so a broker whose heartbeats are answered keeps its lease
 * across several missed beats (heartbeats come every `broker.heartbeat.interval.ms`, far more
 * often than the session ends). The controller times sessions with its own clock (Date.now): a
 * step of its wall clock is beyond what a margin can cover.
 */
export function leaseMarginMs(options: { sessionTimeoutMs: number; electionTimeoutMs: number }): number {
  return Math.min(2 * options.electionTimeoutMs, Math.floor(options.sessionTimeoutMs / 4))
}

export class BrokerLease {
  /** From a heartbeat's send time to the end of the lease it earns. */
  readonly lengthMs: number
  readonly #clock: () => number
  /** When the lease ends (monotonic ms); -Infinity before the first answered heartbeat and after a revoke. */
  #deadlineMs = -Infinity
  /** What listeners were last told: whether the lease held. */
  #held = false
  /** Fires at the deadline to tell listeners of a lapse; re-armed when renewals have moved it on. */
  #timer: NodeJS.Timeout | null = null
  #closed = false
  readonly #listeners = new Set<(held: boolean) => void>()

  constructor(options: BrokerLeaseOptions) {
    this.lengthMs = options.sessionTimeoutMs - options.marginMs
    assert.ok(this.lengthMs > 0, 'the lease margin is shorter than the session')
    this.#clock = options.clock ?? (() => performance.now())
  }

  /** The lease's clock, for the send times of heartbeats. */
  now(): number {
    return this.#clock()
  }

  get deadlineMs(): number {
    return this.#deadlineMs
  }

  /**
   * Whether this broker may act as leader at `nowMs`. Asked on every append and consumer read: a
   * clock read and a comparison, nothing allocated. Exact at the deadline, unlike a flag a timer
   * flips, which a busy event loop flips late.
   */
  valid(nowMs: number = this.#clock()): boolean {
    return nowMs < this.#deadlineMs
  }

  /** A heartbeat sent at `sentAtMs` was answered (registered, unfenced): the lease runs to its send time + `lengthMs`, never shorter than it was. */
  renew(sentAtMs: number): void {
    const deadline = sentAtMs + this.lengthMs
    if (deadline > this.#deadlineMs) this.#deadlineMs = deadline
    this.check()
  }

  /** The controller does not vouch for this broker (fenced, or an unknown incarnation): the lease ends now. */
  revoke(): void {
    this.#deadlineMs = -Infinity
    this.check()
  }

  /** Tells listeners when the lease lapsed or came back since they last heard. Run by the lease's timer; tests call it with their clock. */
  check(nowMs: number = this.#clock()): void {
    if (this.#closed) return
    const held = this.valid(nowMs)
    if (held) this.#arm(this.#deadlineMs - nowMs)
    if (held === this.#held) return
    this.#held = held
    for (const listener of this.#listeners) listener(held)
  }

  /**
   * One timer at a time: renewals come every heartbeat and only move the deadline; the timer, when
   * it fires at an old deadline, finds the lease still held and waits for the new one.
   */
  #arm(inMs: number): void {
    if (this.#timer !== null) return
    this.#timer = setTimeout(() => {
      this.#timer = null
      this.check()
    }, Math.max(1, Math.ceil(inMs)))
    this.#timer.unref()
  }

  /** Calls `listener(held)` when the lease lapses (false) or is granted again (true). */
  onChange(listener: (held: boolean) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /** Stops telling listeners (a stopping broker); `valid` still answers. */
  close(): void {
    this.#closed = true
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
  }
}
