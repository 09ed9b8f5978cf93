// The acks=all produces of one partition waiting for its high watermark (Kafka's produce
// purgatory): each waits for the offset after its last batch, and is completed when the high
// watermark reaches it, failed when leadership moves, or timed out.
//
// Only Partition calls it: `waitForCommit` adds, `maybeAdvanceHighWatermark` completes, the role
// changes and the lease's lapse fail. Fetch long-polls wait elsewhere (append-waiters.ts).
//
// Invariant: a waiter is in the queue exactly while its timer runs; whichever of completion,
// failure or timeout comes first removes it and stops the timer, so each settles once.

interface CommitWaiter {
  /** The high watermark that completes it (the last offset of its batches + 1). */
  offset: bigint
  resolve: () => void
  reject: (err: Error) => void
  timer: NodeJS.Timeout
}

export class CommitWaiters {
  /**
   * In arrival order. No bound of its own: one per acks=all produce (or coordinator write) in
   * flight, and those the server already bounds per connection (`inflightRequestsMax`, connection.ts).
   */
  #waiters: CommitWaiter[] = []

  get count(): number {
    return this.#waiters.length
  }

  /** Resolves through `onCommitted` once `completeUpTo` reaches `offset`; rejects with `onTimeout()` after `timeoutMs`. */
  wait(offset: bigint, timeoutMs: number, onTimeout: () => Error): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter: CommitWaiter = {
        offset,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#waiters = this.#waiters.filter((w) => w !== waiter)
          reject(onTimeout())
        }, Math.max(0, timeoutMs)),
      }
      this.#waiters.push(waiter)
    })
  }

  /**
   * The high watermark reached `highWatermark`: every waiter at or below it settles as `check()`
   * says (the ISR may have shrunk below min.insync.replicas meanwhile).
   */
  completeUpTo(highWatermark: bigint, check: () => Promise<void>): void {
    if (this.#waiters.length === 0) return
    const done = this.#waiters.filter((w) => w.offset <= highWatermark)
    if (done.length === 0) return
    this.#waiters = this.#waiters.filter((w) => w.offset > highWatermark)
    for (const w of done) {
      clearTimeout(w.timer)
      check().then(w.resolve, w.reject)
    }
  }

  /**
   * Fails every waiter with the error `why` makes. Built only when one waits: an error captures a
   * stack, and every metadata sync makes each followed partition a follower again.
   */
  failAll(why: () => Error): void {
    if (this.#waiters.length === 0) return
    const err = why()
    const waiters = this.#waiters
    this.#waiters = []
    for (const w of waiters) {
      clearTimeout(w.timer)
      w.reject(err)
    }
  }
}
