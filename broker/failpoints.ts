// Failpoints: named places in the broker where a test can make the process die at an exact step
// (FoundationDB's and TiKV's fault injection, reduced to the one action our tests need). A test
// that must show recovery from a crash *between* two steps (the transaction coordinator between
// writing PrepareCommit and sending the markers) cannot time a SIGKILL from outside precisely
// enough: the window is a millisecond wide. With the failpoint the broker SIGKILLs itself there,
// so what follows is a real crash of a real process, at the step the test names.
//
// STRAND_FAILPOINTS, read once at start-up, is a comma-separated list of `name` or
// `name:subject` (a subject narrows a point to one transactional id, topic and the like). Unset,
// every check is one Set lookup on an empty set. Not a configuration property: no operator sets it.

import { writeSync } from 'node:fs'

function parse(raw: string | undefined): Set<string> {
  const points = new Set<string>()
  for (const item of (raw ?? '').split(',')) {
    const p = item.trim()
    if (p.length > 0) points.add(p)
  }
  return points
}

const armed = parse(process.env.STRAND_FAILPOINTS)

/** The names of the failpoints the broker code has (a name outside this list in STRAND_FAILPOINTS is a typo). */
export const FAILPOINTS = {
  /** The transaction coordinator has written PrepareCommit / PrepareAbort (durable on the ISR) and has not sent a marker yet. Subject: the transactional id. */
  txnPrepared: 'txn.prepared',
  /**
   * The coordinator has written (durable on the ISR) the first record of the producer's next
   * transaction, naming the previous one's markers owed. Armed, it also holds back the markers of
   * the id's first transaction it prepares (before any marker of the id was written by this
   * process), so that they are still owed then. Subject: the transactional id.
   */
  txnOwed: 'txn.owed',
} as const

/** Names in STRAND_FAILPOINTS that no failpoint has: reported at start-up rather than silently never firing. */
export function unknownFailpoints(): string[] {
  const known = new Set<string>(Object.values(FAILPOINTS))
  return [...armed].map((p) => p.split(':')[0]!).filter((name) => !known.has(name))
}

/** Whether `name` (or `name:subject`) is armed. */
export function isArmed(name: string, subject?: string): boolean {
  if (armed.size === 0) return false
  return armed.has(name) || (subject !== undefined && armed.has(`${name}:${subject}`))
}

/** SIGKILLs this process if `name` (or `name:subject`) is armed. */
export function failpoint(name: string, subject?: string): void {
  if (!isArmed(name, subject)) return
  // Synchronous: the line must be out before the process is.
  writeSync(2, `failpoint ${name}${subject === undefined ? '' : `:${subject}`} reached: SIGKILL\n`)
  process.kill(process.pid, 'SIGKILL')
}
