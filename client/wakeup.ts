// One timer that wakes a loop (the producer's sender, the consumer's fetch pump) at the earliest
// time anything asked for: a linger expiring, a backoff ending, a metadata refresh coming due.
// Asking for a later time than the one already set changes nothing; asking for an earlier one
// moves the timer. After it fires, the loop runs and asks again for what it needs next.

export class Wakeup {
  readonly #clock: () => number
  readonly #fire: () => void
  #timer: NodeJS.Timeout | null = null
  /** Clock time the timer is set for; +Infinity when none is. */
  #atMs = Number.POSITIVE_INFINITY

  constructor(clock: () => number, fire: () => void) {
    this.#clock = clock
    this.#fire = fire
  }

  /** Clock time of the next wake-up; +Infinity when none is set. */
  get atMs(): number {
    return this.#atMs
  }

  /** Wakes the loop at clock time `atMs`, unless it is set to wake no later already. +Infinity asks for nothing. */
  at(atMs: number): void {
    if (atMs === Number.POSITIVE_INFINITY || atMs >= this.#atMs) return
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#atMs = atMs
    this.#timer = setTimeout(() => {
      this.#timer = null
      this.#atMs = Number.POSITIVE_INFINITY
      this.#fire()
    }, Math.max(0, atMs - this.#clock()))
  }

  /** No wake-up from now on, until `at` is called again (a close). */
  cancel(): void {
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
    this.#atMs = Number.POSITIVE_INFINITY
  }
}
