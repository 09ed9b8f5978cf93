// The fuzzer's SASL mode (`--security sasl`): the brokers require SCRAM-SHA-256 or PLAIN on a
// plaintext listener (PLAIN allowed there: nothing secret crosses it, the passwords are made per
// run), and the fuzz targets the unauthenticated state as much as the authenticated one.
//
// Users: the brokers' own (inter.broker.sasl.*, a super user: the healthy client, the probes and
// the bomber log in as it) and the fuzzer's non-super one, made with AlterUserScramCredentials
// once the cluster is up. Both passwords are random per run and never written anywhere.
//
// Sockets: a fuzzing worker's socket either stays unauthenticated and gets the inputs of
// sasl-inputs.ts (SASL frames, other APIs, oversized frames), or runs one scripted exchange
// (sasl-conn.ts), or logs in with correct credentials (either user, either mechanism) and then
// gets the ordinary inputs of mutate.ts plus, now and then, SASL again. Idlers hold sockets that
// never authenticate but keep sending complete frames (ApiVersions, or a handshake and then
// ApiVersions), which only sasl.authentication.timeout.ms closes.

import { randomBytes } from 'node:crypto'
import { PRE_AUTH_FRAME_BYTES_MAX } from '../../broker/security/session.js'
import type { SaslOptions } from '../../client/index.js'
import type { Rng } from '../helpers/random.js'
import { ExchangeTally, type LoginResult, type SaslUser } from './sasl-conn.js'

export type Security = 'none' | 'sasl'
export const SECURITIES: readonly Security[] = ['none', 'sasl']

/** A failed authentication is answered after this: short, so a fuzzed socket costs little time, but not zero (the delay path runs). */
const FAILED_AUTH_DELAY_MS = 10
/** sasl.authentication.timeout.ms under fuzzing: short enough that idlers see it several times a run. */
export const FUZZ_SASL_AUTHENTICATION_TIMEOUT_MS = 3000
/** The fuzzer's non-super user. */
const FUZZ_USER = 'fuzz-user'
const BROKER_USER = 'broker'

/** What a worker does with its next socket, in SASL mode. */
export type SocketPlan = 'preAuth' | 'exchange' | 'authenticated'

export function pickPlan(rng: Rng): SocketPlan {
  const roll = rng.float()
  return roll < 0.4 ? 'preAuth' : roll < 0.6 ? 'exchange' : 'authenticated'
}

export interface SaslSetup {
  /** Broker config over the fuzzer's. */
  overrides: Record<string, string | number | boolean>
  brokerUser: SaslUser
  fuzzUser: SaslUser
  /** The cluster clients' SASL (the healthy client): the brokers' user. */
  clientSasl: SaslOptions
}

export function saslSetup(): SaslSetup {
  const brokerPassword = randomBytes(18).toString('base64url')
  return {
    overrides: {
      'sasl.enabled.mechanisms': 'SCRAM-SHA-256,PLAIN',
      'allow.plaintext.passwords': true,
      'inter.broker.sasl.username': BROKER_USER,
      'inter.broker.sasl.password': brokerPassword,
      'sasl.failed.authentication.delay.ms': FAILED_AUTH_DELAY_MS,
      'sasl.authentication.timeout.ms': FUZZ_SASL_AUTHENTICATION_TIMEOUT_MS,
    },
    brokerUser: { username: BROKER_USER, password: brokerPassword, superUser: true },
    fuzzUser: { username: FUZZ_USER, password: randomBytes(18).toString('base64url'), superUser: false },
    clientSasl: { mechanism: 'SCRAM-SHA-256', username: BROKER_USER, password: brokerPassword },
  }
}

/** Counts of the SASL mode, shared by the workers. */
export class SaslTally {
  readonly sockets: Record<SocketPlan, number> = { preAuth: 0, exchange: 0, authenticated: 0 }
  /** Inputs sent on sockets that had not authenticated, and on ones that had. */
  readonly inputs = { preAuth: 0, authenticated: 0 }
  /** Frames of other APIs sent before authenticating, and whether the broker closed their socket in time. */
  readonly preAuthGate = { frames: 0, watched: 0, closedOnTime: 0, late: 0 }
  /** Idlers' sockets, closed by the authentication deadline in time or late, and the slowest close. */
  readonly authDeadline = { sockets: 0, closedOnTime: 0, late: 0, closeMsMax: 0 }
  /** The fuzzer's own logins with correct credentials, by `mechanism as user`. */
  readonly logins: Record<string, { ok: number; failed: number }> = {}
  /** Why logins failed (no answer in time, or an answer refusing them), by reason. */
  readonly loginProblems: Record<string, number> = {}
  readonly exchanges = new ExchangeTally()
  /** Correct credentials refused with an error code: never expected. */
  readonly refusedLogins: string[] = []

  login(user: SaslUser, mechanism: string, result: LoginResult): void {
    const entry = (this.logins[`${mechanism} as ${user.superUser ? 'the brokers\' user' : 'a non-super user'}`] ??= { ok: 0, failed: 0 })
    if (result.ok) {
      entry.ok++
      return
    }
    entry.failed++
    this.loginProblems[result.problem] = (this.loginProblems[result.problem] ?? 0) + 1
    if (result.answered) this.refusedLogins.push(`${mechanism} login of ${user.username}: ${result.problem}`)
  }

  report(): SaslReport {
    return {
      sockets: { ...this.sockets },
      inputs: { ...this.inputs },
      preAuthGate: { ...this.preAuthGate },
      authDeadline: { ...this.authDeadline },
      logins: this.logins,
      loginProblems: this.loginProblems,
      exchanges: this.exchanges.byKind,
      corruptions: this.exchanges.corruptions,
      lostFinals: { ...this.exchanges.lostFinals },
      violations: [...new Set([...this.exchanges.violations, ...this.refusedLogins])],
    }
  }
}

export interface SaslReport {
  sockets: Record<SocketPlan, number>
  inputs: { preAuth: number; authenticated: number }
  preAuthGate: { frames: number; watched: number; closedOnTime: number; late: number }
  authDeadline: { sockets: number; closedOnTime: number; late: number; closeMsMax: number }
  logins: Record<string, { ok: number; failed: number }>
  loginProblems: Record<string, number>
  exchanges: ExchangeTally['byKind']
  corruptions: Record<string, number>
  /** See ExchangeTally.lostFinals. */
  lostFinals: ExchangeTally['lostFinals']
  /** What must not happen (see sasl-conn.ts): each one is a failure. */
  violations: string[]
}

/** The failures of a SASL run beyond the fuzzer's usual ones. */
export function saslFailures(r: SaslReport): string[] {
  const failures = [...r.violations]
  if (r.preAuthGate.late > 0) failures.push(`${r.preAuthGate.late} sockets that sent another API before authenticating were not closed in time`)
  if (r.authDeadline.late > 0) failures.push(`${r.authDeadline.late} sockets that never authenticated outlived sasl.authentication.timeout.ms (${FUZZ_SASL_AUTHENTICATION_TIMEOUT_MS} ms) plus slack`)
  const loggedIn = Object.values(r.logins).reduce((n, l) => n + l.ok, 0)
  if (loggedIn === 0) failures.push('no fuzzing socket logged in: the authenticated state was not fuzzed')
  return failures
}

function table(rows: Array<[string, string | number]>, indent = '  '): string {
  const width = Math.max(0, ...rows.map(([k]) => k.length))
  return rows.map(([k, v]) => `${indent}${k.padEnd(width)}  ${v}`).join('\n')
}

/** The report's SASL section. */
export function formatSasl(r: SaslReport): string {
  const out: string[] = []
  out.push(`\nSASL (listener requires SCRAM-SHA-256 or PLAIN, plaintext; pre-authentication frame limit ${PRE_AUTH_FRAME_BYTES_MAX / 1024} KiB):`)
  out.push(
    table([
      ['sockets left unauthenticated / one scripted exchange / logged in, then fuzzed', `${r.sockets.preAuth} / ${r.sockets.exchange} / ${r.sockets.authenticated}`],
      ['inputs sent before authenticating / after', `${r.inputs.preAuth} / ${r.inputs.authenticated}`],
      ['frames of other APIs before authenticating / sockets watched / closed in time / late', `${r.preAuthGate.frames} / ${r.preAuthGate.watched} / ${r.preAuthGate.closedOnTime} / ${r.preAuthGate.late}`],
      [`idle unauthenticated sockets / closed by the ${FUZZ_SASL_AUTHENTICATION_TIMEOUT_MS} ms deadline / late`, `${r.authDeadline.sockets} / ${r.authDeadline.closedOnTime} / ${r.authDeadline.late} (slowest close ${r.authDeadline.closeMsMax} ms)`],
    ]),
  )
  out.push('  logins with correct credentials (ok / failed):')
  out.push(Object.keys(r.logins).length === 0 ? '    none' : table(Object.entries(r.logins).map(([k, v]) => [k, `${v.ok} / ${v.failed}`]), '    '))
  if (Object.keys(r.loginProblems).length > 0) out.push(table(Object.entries(r.loginProblems).sort((a, b) => b[1] - a[1]).map(([k, v]) => [`failed: ${k}`, v]), '    '))
  out.push('  scripted exchanges (runs: refused / accepted / no answer in time):')
  const kinds = Object.entries(r.exchanges).sort((a, b) => a[0].localeCompare(b[0]))
  out.push(kinds.length === 0 ? '    none' : table(kinds.map(([k, v]) => [k, `${v.runs}: ${v.refused} / ${v.accepted} / ${v.noAnswer}`]), '    '))
  const lost = r.lostFinals
  out.push(`    finalThenGarbage without an answer: a size refused before authentication (negative, over ${PRE_AUTH_FRAME_BYTES_MAX / 1024} KiB) behind the final ${lost.refusedSize}, connection reset ${lost.reset}, other ${lost.other}`)
  out.push('  corruptions in scripted exchanges:')
  const corruptions = Object.entries(r.corruptions).sort((a, b) => b[1] - a[1])
  out.push(corruptions.length === 0 ? '    none' : table(corruptions, '    '))
  out.push(`  violations: ${r.violations.length === 0 ? 'none' : `\n${r.violations.map((v) => `    - ${v}`).join('\n')}`}`)
  return out.join('\n')
}
