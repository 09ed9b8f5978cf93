// Timers a test advances by hand, for code that takes its setTimeout/clearTimeout as an option
// (the server connection's request read deadline): a deadline then fires exactly when the test
// says the time has come, never because the machine was slow.

export class ManualTimers {
  nowMs = 0
  #next = 1
  readonly #timers = new Map<number, { atMs: number; fn: () => void }>()

  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.#next++
    this.#timers.set(id, { atMs: this.nowMs + ms, fn })
    return id
  }

  clearTimeout(handle: unknown): void {
    if (typeof handle === 'number') this.#timers.delete(handle)
  }

  /** Timers set and not yet fired or cleared. */
  get pending(): number {
    return this.#timers.size
  }

  /** Moves time on by `ms`, firing every timer that falls due on the way, in the order they fall due. */
  advance(ms: number): void {
    const endMs = this.nowMs + ms
    for (;;) {
      let due: [number, { atMs: number; fn: () => void }] | undefined
      for (const entry of this.#timers) if (entry[1].atMs <= endMs && (due === undefined || entry[1].atMs < due[1].atMs)) due = entry
      if (due === undefined) break
      this.#timers.delete(due[0])
      this.nowMs = due[1].atMs
      due[1].fn()
    }
    this.nowMs = endMs
  }
}
