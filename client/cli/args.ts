// Argument handling shared by the `strand` commands: parseArgs with strict checking, usage errors
// that exit 2 with a message, and output as a human table or `--json`.

import { readFileSync } from 'node:fs'
import { parseArgs, type ParseArgsConfig } from 'node:util'
import type { Strand } from '../index.js'
import type { SaslOptions, TlsOptions } from '../net/security.js'

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
  'command-config': { type: 'string' },
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

/** What every command connects with: --bootstrap and --command-config (or their environment variables). */
export interface ConnectFlags {
  bootstrap?: string | undefined
  'command-config'?: string | undefined
}

export type Connect = (flags: ConnectFlags) => Strand

/** Keys of a --command-config file: librdkafka's (as kcat reads them), so one file serves both. */
const COMMAND_CONFIG_KEYS = ['security.protocol', 'sasl.mechanism', 'sasl.mechanisms', 'sasl.username', 'sasl.password', 'ssl.ca.location', 'ssl.certificate.location', 'ssl.key.location', 'ssl.endpoint.identification.hostname'] as const

/** `key=value` lines; `#` and `!` start comments, as in Java properties. */
export function parseProperties(text: string, where: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [i, line] of text.split(/\r?\n/).entries()) {
    const trimmed = line.trim()
    if (trimmed === '' || trimmed.startsWith('#') || trimmed.startsWith('!')) continue
    const eq = trimmed.indexOf('=')
    if (eq <= 0) throw new UsageError(`${where}:${i + 1}: expected key=value, got "${trimmed}".`)
    const key = trimmed.slice(0, eq).trim()
    if (!(COMMAND_CONFIG_KEYS as readonly string[]).includes(key)) throw new UsageError(`${where}:${i + 1}: unknown key "${key}"; known: ${COMMAND_CONFIG_KEYS.join(', ')}.`)
    out[key] = trimmed.slice(eq + 1).trim()
  }
  return out
}

function readFileFor(key: string, file: string): Buffer {
  try {
    return readFileSync(file)
  } catch (err) {
    throw new UsageError(`${key} ${file} cannot be read: ${(err as Error).message}`)
  }
}

/**
 * TLS and SASL from --command-config FILE (or $STRAND_COMMAND_CONFIG), with $STRAND_SASL_USERNAME
 * and $STRAND_SASL_PASSWORD over the file's, so a password need not be written down.
 */
export function securityOf(flags: ConnectFlags, env: NodeJS.ProcessEnv = process.env): { tls?: TlsOptions; sasl?: SaslOptions } {
  const file = flags['command-config'] ?? env.STRAND_COMMAND_CONFIG
  let props: Record<string, string> = {}
  if (file !== undefined && file !== '') {
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch (err) {
      throw new UsageError(`--command-config ${file} cannot be read: ${(err as Error).message}`)
    }
    props = parseProperties(text, file)
  }
  const protocol = (props['security.protocol'] ?? (env.STRAND_SASL_USERNAME !== undefined ? 'SASL_PLAINTEXT' : 'PLAINTEXT')).toUpperCase()
  if (!['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'].includes(protocol)) throw new UsageError(`security.protocol must be PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL, got "${protocol}".`)
  const result: { tls?: TlsOptions; sasl?: SaslOptions } = {}
  if (protocol === 'SSL' || protocol === 'SASL_SSL') {
    const tls: TlsOptions = {}
    if (props['ssl.ca.location'] !== undefined) tls.ca = readFileFor('ssl.ca.location', props['ssl.ca.location'])
    if (props['ssl.certificate.location'] !== undefined) tls.cert = readFileFor('ssl.certificate.location', props['ssl.certificate.location'])
    if (props['ssl.key.location'] !== undefined) tls.key = readFileFor('ssl.key.location', props['ssl.key.location'])
    if (props['ssl.endpoint.identification.hostname'] !== undefined) tls.servername = props['ssl.endpoint.identification.hostname']
    result.tls = tls
  }
  if (protocol === 'SASL_PLAINTEXT' || protocol === 'SASL_SSL') {
    const mechanism = props['sasl.mechanism'] ?? props['sasl.mechanisms'] ?? 'SCRAM-SHA-256'
    if (mechanism !== 'PLAIN' && mechanism !== 'SCRAM-SHA-256') throw new UsageError(`sasl.mechanism must be PLAIN or SCRAM-SHA-256, got "${mechanism}".`)
    const username = env.STRAND_SASL_USERNAME ?? props['sasl.username']
    const password = env.STRAND_SASL_PASSWORD ?? props['sasl.password']
    if (username === undefined || password === undefined) throw new UsageError(`${protocol} needs sasl.username and sasl.password (in --command-config, or $STRAND_SASL_USERNAME and $STRAND_SASL_PASSWORD).`)
    result.sasl = { mechanism, username, password }
  }
  return result
}
