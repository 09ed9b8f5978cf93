// Long-poll support: Fetch requests that found too little data wait here until one of their
// partitions grows or their maxWaitMs passes. Kafka calls this the fetch purgatory.
//
// A consumer's fetch registers on every partition it fetches; the first append to any of them (or
// the timer) completes it once and unregisters it everywhere. A follower's fetch registers once,
// under its broker id, and is woken by a change to any partition that broker replicates: its
// fetch names every partition it follows from this leader (hundreds with many partitions), and
// registering on each of them on every fetch was a measurable share of the leader's CPU. A wake
// for a partition the fetch did not name only makes it read again and wait on. The number of
// waiters is bounded by `waitersMax`: beyond it a fetch returns at once with what it has, which is
// always correct (a long poll is an optimisation, not a promise).

export const WAITERS_MAX = 10_000

export interface Waiter {
  /** Resolves true when woken by an append, false on timeout or cancel. */
  readonly done: Promise<boolean>
  cancel(): void
}

/** The replica set of a hosted partition by its key, to wake the follower fetches a change concerns. */
export type ReplicasOf = (key: string) => readonly number[] | undefined

export class AppendWaiters {
  /** Consumer fetches waiting, by partition key (`topic/partition`). */
  readonly #byKey = new Map<string, Set<() => void>>()
  /** Follower fetches waiting, by the follower's broker id. */
  readonly #byReplica = new Map<number, Set<() => void>>()
  #count = 0
  readonly #waitersMax: number
  readonly #replicasOf: ReplicasOf

  constructor(options: { waitersMax?: number; replicasOf?: ReplicasOf } = {}) {
    this.#waitersMax = options.waitersMax ?? WAITERS_MAX
    this.#replicasOf = options.replicasOf ?? (() => undefined)
  }

  get count(): number {
    return this.#count
  }

  /** A fetch of `keys` waits. Returns null when the bound is reached; the caller then answers without waiting. */
  wait(keys: readonly string[], timeoutMs: number): Waiter | null {
    return this.#wait(keys, this.#byKey, timeoutMs)
  }

  /** A follower's fetch waits for a change to any partition `replicaId` replicates. Null when the bound is reached. */
  waitForReplica(replicaId: number, timeoutMs: number): Waiter | null {
    return this.#wait([replicaId], this.#byReplica, timeoutMs)
  }

  #wait<K>(keys: readonly K[], index: Map<K, Set<() => void>>, timeoutMs: number): Waiter | null {
    if (this.#count >= this.#waitersMax) return null
    this.#count++
    let finish!: (woken: boolean) => void
    const done = new Promise<boolean>((resolve) => {
      let settled = false
      const wake = (): void => finish(true)
      const timer = setTimeout(() => finish(false), timeoutMs)
      finish = (woken: boolean): void => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        this.#count--
        for (const key of keys) {
          const set = index.get(key)
          set?.delete(wake)
          if (set?.size === 0) index.delete(key)
        }
        resolve(woken)
      }
      for (const key of keys) {
        let set = index.get(key)
        if (set === undefined) {
          set = new Set()
          index.set(key, set)
        }
        set.add(wake)
      }
    })
    return { done, cancel: () => finish(false) }
  }

  /**
   * Wakes every fetch waiting on `key`, and the follower fetches of its replicas: `replicas` when
   * the caller knows them (a partition being dropped is no longer found by key), else the replica
   * set of the hosted partition.
   */
  notify(key: string, replicas: readonly number[] | undefined = this.#replicasOf(key)): void {
    wakeAll(this.#byKey.get(key))
    this.notifyFollowers(key, replicas)
  }

  /**
   * Wakes the follower fetches of `key`'s replicas only: a leader's append that did not move the
   * high watermark has nothing new for consumers, who read below it.
   */
  notifyFollowers(key: string, replicas: readonly number[] | undefined = this.#replicasOf(key)): void {
    if (replicas === undefined || this.#byReplica.size === 0) return
    for (const r of replicas) wakeAll(this.#byReplica.get(r))
  }

  /**
   * Wakes only the consumer fetches waiting on `key`, not follower fetches: for a moved high
   * watermark (followers hear it with their next records, or once their short wait for news runs
   * out (fetch.ts), rather than in a round trip of their own per move), and for a follower's own
   * append (no replica fetches a partition from a follower; waking the followers of the partitions
   * this broker leads made each of their fetches read everything again for nothing, five reads
   * per fetch at 10,000 records/s).
   */
  notifyConsumers(key: string): void {
    wakeAll(this.#byKey.get(key))
  }

  /** Wakes everyone (shutdown). */
  notifyAll(): void {
    for (const set of [...this.#byKey.values(), ...this.#byReplica.values()]) wakeAll(set)
  }
}

/** Each wake unregisters itself from the set, so the set is copied first. */
function wakeAll(set: Set<() => void> | undefined): void {
  if (set === undefined || set.size === 0) return
  for (const wake of [...set]) wake()
}

export function partitionKey(topic: string, partition: number): string {
  return `${topic}/${partition}`
}
