// Command-line pieces every benchmark shares: integer and list flags that fail with the usage
// line, and the exact command to print beside the figures.

import type { Acks, Compression } from '../../client/index.js'

const COMPRESSIONS: readonly Compression[] = ['none', 'gzip', 'deflate', 'brotli']

export function usageError(usage: string, message: string): never {
  process.stderr.write(`bench: ${message}\n${usage}\n`)
  process.exit(1)
}

/** A safe integer >= `min`, or the usage line and exit 1. */
export function intFlag(usage: string, name: string, raw: string, min: number): number {
  const n = Number(raw)
  if (raw.trim() === '' || !Number.isSafeInteger(n) || n < min) usageError(usage, `--${name} must be an integer >= ${min}, got "${raw}"`)
  return n
}

/** A comma-separated list of acks levels ("1,all"); -1 is read as all. */
export function acksListFlag(usage: string, raw: string): Acks[] {
  const out: Acks[] = []
  for (const part of raw.split(',').map((s) => s.trim())) {
    const acks: Acks | null = part === 'all' || part === '-1' ? 'all' : part === '1' ? 1 : part === '0' ? 0 : null
    if (acks === null) usageError(usage, `--acks takes 0, 1 or all (or a list like 1,all), got "${raw}"`)
    if (!out.includes(acks)) out.push(acks)
  }
  return out
}

export function compressionFlag(usage: string, raw: string): Compression {
  const found = COMPRESSIONS.find((c) => c === raw)
  if (found === undefined) usageError(usage, `--compression must be one of ${COMPRESSIONS.join(', ')}, got "${raw}"`)
  return found
}

/**
 * The command as the user typed it: `npm run <script> -- <their flags>` when run by npm (whose
 * script may carry flags of its own, which are not repeated), else the tsx command line.
 */
export function commandLine(file: string): string {
  const script = process.env.npm_lifecycle_event
  const line = (process.env.npm_lifecycle_script ?? '').trim().split(/\s+/)
  const args = process.argv.slice(2)
  // npx sets these too, to its own command; only a package.json script naming this file counts
  // (`tsx bench/x.ts` or `node <flags> --import tsx bench/x.ts`).
  const at = line.indexOf(file)
  if (script === undefined || at < 1) return ['npx tsx', file, ...args].join(' ')
  // `tsx bench/x.ts --workload a` puts its own flags before the user's.
  const baked = line.slice(at + 1)
  const own = args.slice(0, baked.length).every((a, i) => a === baked[i]) ? args.slice(baked.length) : args
  return own.length === 0 ? `npm run ${script}` : `npm run ${script} -- ${own.join(' ')}`
}
