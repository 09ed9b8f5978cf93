// A small, typed configuration-definition table in the manner of Kafka's ConfigDef: every key has a
// type, a default, bounds and a line of documentation, and parsing either yields a fully typed
// object or throws a ConfigError naming the key, the bad value and what was expected. Unknown keys
// are errors (with a suggestion), because a typo silently ignored is a production incident.

import { StrandError } from '../client/protocol/errors.js'

export class ConfigError extends StrandError {
  override readonly name = 'ConfigError'
  constructor(message: string) {
    super('INVALID_CONFIG', message, { retriable: false })
  }
}

export interface KeyDef<T> {
  /** The dotted key as written in files, on the command line and on the wire (`log.segment.bytes`). */
  readonly key: string
  readonly doc: string
  readonly default: T
  /** Turns a raw value (from JSON or a `key=value` string) into T, or returns an error sentence. */
  readonly parse: (raw: unknown) => T | { error: string }
}

type Parsed<D> = D extends KeyDef<infer T> ? T : never
export type ConfigOf<Defs extends Record<string, KeyDef<unknown>>> = { [K in keyof Defs]: Parsed<Defs[K]> }

function asNumber(raw: unknown): number | null {
  if (typeof raw === 'number') return raw
  if (typeof raw === 'string' && raw.trim() !== '' && Number.isFinite(Number(raw))) return Number(raw)
  return null
}

export function intKey(key: string, def: number, bounds: { min?: number; max?: number }, doc: string): KeyDef<number> {
  const min = bounds.min ?? Number.MIN_SAFE_INTEGER
  const max = bounds.max ?? Number.MAX_SAFE_INTEGER
  return {
    key,
    doc,
    default: def,
    parse(raw) {
      const n = asNumber(raw)
      if (n === null || !Number.isSafeInteger(n)) return { error: 'expected an integer' }
      if (n < min || n > max) return { error: `expected an integer from ${min} to ${max}` }
      return n
    },
  }
}

/** A finite number, fractions allowed (a ratio such as `min.cleanable.dirty.ratio`). */
export function numberKey(key: string, def: number, bounds: { min: number; max: number }, doc: string): KeyDef<number> {
  return {
    key,
    doc,
    default: def,
    parse(raw) {
      const n = asNumber(raw)
      if (n === null || !Number.isFinite(n)) return { error: 'expected a number' }
      if (n < bounds.min || n > bounds.max) return { error: `expected a number from ${bounds.min} to ${bounds.max}` }
      return n
    },
  }
}

export function boolKey(key: string, def: boolean, doc: string): KeyDef<boolean> {
  return {
    key,
    doc,
    default: def,
    parse(raw) {
      if (raw === true || raw === 'true') return true
      if (raw === false || raw === 'false') return false
      return { error: 'expected true or false' }
    },
  }
}

export function stringKey(key: string, def: string, doc: string, pattern?: RegExp): KeyDef<string> {
  return {
    key,
    doc,
    default: def,
    parse(raw) {
      if (typeof raw !== 'string') return { error: 'expected a string' }
      if (pattern !== undefined && !pattern.test(raw)) return { error: `expected a string matching ${pattern}` }
      return raw
    },
  }
}

export function enumKey<E extends string>(key: string, def: E, values: readonly E[], doc: string): KeyDef<E> {
  return {
    key,
    doc,
    default: def,
    parse(raw) {
      if (typeof raw === 'string' && (values as readonly string[]).includes(raw)) return raw as E
      return { error: `expected one of ${values.join(', ')}` }
    },
  }
}

function suggest(key: string, known: readonly string[]): string {
  let best = ''
  let bestScore = Number.POSITIVE_INFINITY
  for (const k of known) {
    const d = editDistance(key, k)
    if (d < bestScore) {
      best = k
      bestScore = d
    }
  }
  return bestScore <= Math.max(2, key.length / 4) ? ` Did you mean "${best}"?` : ''
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    const cur = [i]
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      cur[j] = Math.min((prev[j] as number) + 1, (cur[j - 1] as number) + 1, (prev[j - 1] as number) + cost)
    }
    prev = cur
  }
  return prev[b.length] as number
}

/**
 * Parses `raw` (dotted keys to values) against `defs`. Keys absent from `raw` take their default.
 * `where` names the source in error messages ("config/broker-1.json", "topic config").
 */
export function parseConfig<Defs extends Record<string, KeyDef<unknown>>>(
  defs: Defs,
  raw: Readonly<Record<string, unknown>>,
  where: string,
): ConfigOf<Defs> {
  const byKey = new Map<string, [string, KeyDef<unknown>]>()
  for (const [field, def] of Object.entries(defs)) byKey.set(def.key, [field, def])
  const out: Record<string, unknown> = {}
  for (const [field, def] of Object.entries(defs)) out[field] = def.default
  for (const [key, value] of Object.entries(raw)) {
    const entry = byKey.get(key)
    if (entry === undefined) {
      throw new ConfigError(`Unknown config key "${key}" in ${where}.${suggest(key, [...byKey.keys()])}`)
    }
    const [field, def] = entry
    const parsed = def.parse(value)
    if (typeof parsed === 'object' && parsed !== null && 'error' in parsed) {
      throw new ConfigError(`Invalid value ${JSON.stringify(value)} for "${key}" in ${where}: ${(parsed as { error: string }).error}.`)
    }
    out[field] = parsed
  }
  return out as ConfigOf<Defs>
}

/** The keys of `defs` with their defaults and docs, for `--help` output and the README. */
export function describeConfig(defs: Record<string, KeyDef<unknown>>): Array<{ key: string; default: unknown; doc: string }> {
  return Object.values(defs).map((d) => ({ key: d.key, default: d.default, doc: d.doc }))
}
