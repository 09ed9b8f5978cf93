// Waiting for a condition with a deadline: the only way tests synchronise with brokers and
// clients. Never a fixed sleep: a slow machine makes a test slower, not flaky.

import { setTimeout as delay } from 'node:timers/promises'

export interface WaitOptions {
  /** Give up after this long and throw, naming `what`. */
  timeoutMs?: number
  /** Time between polls. */
  intervalMs?: number
  what?: string
}

/** Polls `probe` until it returns a value other than undefined/false, or throws at the deadline. */
export async function waitFor<T>(probe: () => T | undefined | false | Promise<T | undefined | false>, options: WaitOptions = {}): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 20_000
  const intervalMs = options.intervalMs ?? 10
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  for (;;) {
    try {
      const v = await probe()
      if (v !== undefined && v !== false) return v
    } catch (err) {
      lastError = err
    }
    if (Date.now() > deadline) {
      const cause = lastError === undefined ? '' : ` (last error: ${(lastError as Error).message})`
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${options.what ?? 'a condition'}${cause}`)
    }
    await delay(intervalMs)
  }
}

/**
 * The next value of an async generator (a consumer's loop), with a deadline: a generator that
 * never yields fails the test, naming `what`, instead of hanging it; one that ends throws too.
 */
export async function nextWithin<T>(gen: AsyncGenerator<T, void, undefined>, what: string, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out waiting for ${what}`)), timeoutMs)
  })
  try {
    const r = await Promise.race([gen.next(), deadline])
    if (r.done === true) throw new Error(`The loop ended while waiting for ${what}`)
    return r.value
  } finally {
    clearTimeout(timer)
  }
}
