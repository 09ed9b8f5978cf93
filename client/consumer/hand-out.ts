// The hand-out to the application's loop: fetched batches wait here, oldest first, until the
// consuming loop asks for the next one; the batch handed out last is "in hand" until the loop asks
// again (processed) or ends (not processed). A non-retriable error waits here too, to be thrown
// from the loop once. Kafka's FetchBuffer and the hand-out half of its poll(). Callers:
// - consumer.ts runs the loop (batches()) for `for await` and run();
// - fetcher.ts pushes batches in and surfaces errors;
// - group-session.ts waits for the batch in hand before a rebalance, looks up a batch's end for
//   commit(batch), and surfaces group errors.
//
// Decisions:
// - A batch counts as processed when the loop asks for the next one (the body finished). Leaving
//   the loop (break, return, a throw) does not count the batch in hand: a throw looks the same
//   as a break from here, and counting a batch whose handler failed would skip it.
// - Only one loop may run at a time; `break` ends that loop only, and a new loop resumes at the
//   position after the last batch handed out.

import { IllegalStateError } from '../errors.js'
import type { PartitionState, SubscriptionState } from './subscription-state.js'
import type { ConsumerBatch } from './types.js'

export interface ReadyBatch {
  state: PartitionState
  /** The partition's epoch when fetched: a seek since makes the batch stale. */
  epoch: number
  nextOffset: bigint
  /** The leader epoch of the batch that ends at nextOffset: the position's once this is handed out. */
  leaderEpoch: number
  batch: ConsumerBatch
}

export interface HandOutOptions {
  subscriptions: SubscriptionState
  /** When a loop starts and after each batch handed out: the fetcher may fetch more (its pump). */
  fetchMore: () => void
  /** A batch counts as processed now: auto-commit may have something to commit. */
  onProcessed: () => void
}

export class HandOut {
  readonly #subscriptions: SubscriptionState
  readonly #fetchMore: () => void
  readonly #onProcessed: () => void
  /** Fetched batches not yet handed out, oldest first; at most one per partition (the fetcher's bound). */
  #ready: ReadyBatch[] = []
  /** The batch handed out last, until the loop asks for the next one (or ends). */
  #inHand: ReadyBatch | null = null
  /** Called when the batch in hand is finished (a rebalance waits for it). */
  #inHandWaiters: Array<() => void> = []
  /** Where each handed-out batch ends, for commit(batch); weak, as the application holds the batches. */
  #batchEnds = new WeakMap<ConsumerBatch, ReadyBatch>()
  /** A non-retriable error for the loop to throw. */
  #error: Error | null = null
  /** Wakes the loop waiting for a batch. */
  #signal: (() => void) | null = null
  #iterating = false
  #closed = false

  constructor(options: HandOutOptions) {
    this.#subscriptions = options.subscriptions
    this.#fetchMore = options.fetchMore
    this.#onProcessed = options.onProcessed
  }

  /** A loop is running: fetching happens only then. */
  get iterating(): boolean {
    return this.#iterating
  }

  /** The consuming loop: batches until close(); throws what was surfaced, once. */
  async *batches(): AsyncGenerator<ConsumerBatch, void, undefined> {
    if (this.#iterating) throw new IllegalStateError('The consumer is already being iterated; use one loop at a time.')
    this.#iterating = true
    try {
      this.#fetchMore()
      for (;;) {
        const batch = await this.#next()
        if (batch === null) return
        yield batch
      }
    } finally {
      this.#iterating = false
      // Left by break, return or a throw: the batch in hand does not count as processed.
      this.#finishInHand({ processed: false })
    }
  }

  /** Queues a fetched batch (its partition is marked buffered by the fetcher) and wakes the loop. */
  push(r: ReadyBatch): void {
    this.#ready.push(r)
    this.wake()
  }

  /** Drops the partition's waiting batches (a seek or a rewind moved its position). */
  drop(state: PartitionState): void {
    this.#ready = this.#ready.filter((r) => r.state !== state)
  }

  /** Drops every waiting batch (a new assignment, a revoke, close). */
  clear(): void {
    this.#ready = []
  }

  /** The handed-out batch behind `batch`, or undefined for one this consumer did not hand out. */
  batchEnd(batch: ConsumerBatch): ReadyBatch | undefined {
    return this.#batchEnds.get(batch)
  }

  /** Resolves when no batch is in hand, or after `timeoutMs`. */
  waitForInHand(timeoutMs: number): Promise<void> {
    if (this.#inHand === null || this.#closed) return Promise.resolve()
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer)
        resolve()
      }
      const timer = setTimeout(done, timeoutMs)
      this.#inHandWaiters.push(done)
    })
  }

  /** Keeps `err` for the loop to throw (the first one, if several come before it runs). */
  surface(err: Error): void {
    if (this.#closed) return
    this.#error ??= err
    this.wake()
  }

  /** Wakes a loop waiting for a batch, to look again (a batch came, a partition resumed, an assignment). */
  wake(): void {
    const signal = this.#signal
    this.#signal = null
    signal?.()
  }

  /** Ends the loop (it returns normally) and releases a rebalance waiting for the batch in hand. */
  close(): void {
    this.#closed = true
    this.#ready = []
    this.wake()
    for (const w of this.#inHandWaiters.splice(0)) w()
  }

  async #next(): Promise<ConsumerBatch | null> {
    this.#finishInHand({ processed: true })
    for (;;) {
      if (this.#closed) return null
      if (this.#error !== null) {
        const err = this.#error
        this.#error = null
        throw err
      }
      const r = this.#takeReady()
      if (r !== null) {
        this.#subscriptions.handedOut(r.state, r.nextOffset, r.leaderEpoch)
        this.#inHand = r
        this.#batchEnds.set(r.batch, r)
        this.#fetchMore()
        return r.batch
      }
      await new Promise<void>((resolve) => {
        this.#signal = resolve
      })
    }
  }

  /** The oldest batch to hand out (none while revoking); skips paused partitions, drops stale batches. */
  #takeReady(): ReadyBatch | null {
    if (this.#subscriptions.revoking) return null
    for (let i = 0; i < this.#ready.length; ) {
      const r = this.#ready[i] as ReadyBatch
      if (!this.#subscriptions.isCurrent(r.state, r.epoch)) {
        this.#ready.splice(i, 1)
      } else if (r.state.paused) {
        i++
      } else {
        this.#ready.splice(i, 1)
        return r
      }
    }
    return null
  }

  /** The batch in hand is done: processed (the loop asked for more) or abandoned (the loop ended). */
  #finishInHand(options: { processed: boolean }): void {
    const r = this.#inHand
    if (r === null) return
    this.#inHand = null
    if (options.processed && !this.#closed && this.#subscriptions.isCurrent(r.state, r.epoch)) {
      r.state.processed = r.nextOffset
      this.#onProcessed()
    }
    for (const w of this.#inHandWaiters.splice(0)) w()
  }
}
