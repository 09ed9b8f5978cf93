// Long-poll support: Fetch requests that found too little data wait here until one of their
// partitions grows or their maxWaitMs passes. Kafka calls this the fetch purgatory.
//
// A waiter registers on every partition it fetches; the first append to any of them (or the
// timer) completes it once and unregisters it everywhere. The number of waiters is bounded by
// `waitersMax`: beyond it a fetch returns at once with what it has, which is always correct (a
// long poll is an optimisation, not a promise).

export const WAITERS_MAX = 10_000

export interface Waiter {
  /** Resolves true when woken by an append, false on timeout or cancel. */
  readonly done: Promise<boolean>
  cancel(): void
}

export class AppendWaiters {
  /** Waiters per partition key (`topic/partition`). */
  readonly #byKey = new Map<string, Set<() => void>>()
  #count = 0
  readonly #waitersMax: number

  constructor(waitersMax = WAITERS_MAX) {
    this.#waitersMax = waitersMax
  }

  get count(): number {
    return this.#count
  }

  /** Returns null when the bound is reached; the caller then answers without waiting. */
  wait(keys: readonly string[], timeoutMs: number): Waiter | null {
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
          const set = this.#byKey.get(key)
          set?.delete(wake)
          if (set?.size === 0) this.#byKey.delete(key)
        }
        resolve(woken)
      }
      for (const key of keys) {
        let set = this.#byKey.get(key)
        if (set === undefined) {
          set = new Set()
          this.#byKey.set(key, set)
        }
        set.add(wake)
      }
    })
    return { done, cancel: () => finish(false) }
  }

  /** Wakes every waiter of `key`. */
  notify(key: string): void {
    const set = this.#byKey.get(key)
    if (set === undefined) return
    for (const wake of [...set]) wake()
  }

  /** Wakes everyone (shutdown). */
  notifyAll(): void {
    for (const key of [...this.#byKey.keys()]) this.notify(key)
  }
}

export function partitionKey(topic: string, partition: number): string {
  return `${topic}/${partition}`
}
