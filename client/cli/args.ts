// Argument handling shared by the `strand` commands: parseArgs with strict checking, usage errors
// that exit 2 with a message, and output as a human table or `--json`.

import { parseArgs, type ParseArgsConfig } from 'node:util'

/** A mistake in how the command was called: printed with the command's usage, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError'
}

/**
 * A well-formed command that the cluster's state does not allow (a group with active members, a
 * metrics endpoint that does not answer): printed without usage, exit code 1 like a wire error.
 */
export class CommandFailedError extends Error {
  override readonly name = 'CommandFailedError'
}

export type Options = NonNullable<ParseArgsConfig['options']>

export const COMMON_OPTIONS = {
  bootstrap: { type: 'string', short: 'b' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const satisfies Options

/** Parses `argv` strictly: unknown flags and missing values are usage errors, not surprises. */
export function parse<O extends Options>(argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options: { ...COMMON_OPTIONS, ...options }, allowPositionals: true, strict: true })
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
}

/** The bootstrap address: --bootstrap, then $STRAND_BOOTSTRAP, then the local cluster's first broker. */
export function bootstrapOf(flag: string | undefined): string[] {
  const raw = flag ?? process.env.STRAND_BOOTSTRAP ?? '127.0.0.1:9092'
  const brokers = raw.split(',').map((s) => s.trim()).filter((s) => s.length > 0)
  for (const b of brokers) if (!/^[^:\s]+:\d{1,5}$/.test(b)) throw new UsageError(`--bootstrap wants host:port[,host:port...], got "${raw}".`)
  return brokers
}

/** One `host:port` given to `--<name>`. */
export function hostPort(name: string, raw: string): { host: string; port: number } {
  const m = /^([^:\s]+):(\d{1,5})$/.exec(raw)
  const port = Number(m?.[2])
  if (m === null || port > 65535) throw new UsageError(`--${name} wants host:port, got "${raw}".`)
  return { host: m[1]!, port }
}

export function positiveInt(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback
  const n = Number(raw)
  if (!Number.isSafeInteger(n) || n <= 0) throw new UsageError(`--${name} must be a positive integer, got "${raw}".`)
  return n
}

/** Left-aligned columns, one header line; every cell stringified. */
export function table(header: readonly string[], rows: ReadonlyArray<ReadonlyArray<unknown>>): string {
  const cells = [header.map(String), ...rows.map((r) => r.map((c) => (Array.isArray(c) ? c.join(',') : String(c))))]
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)))
  return cells.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n')
}

/** JSON with bigints as strings (offsets), one object per call. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))
}
