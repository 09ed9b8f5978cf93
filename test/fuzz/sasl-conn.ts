// The fuzzer's SASL conversations over raw sockets (raw-conn.ts), for a listener that requires
// SASL: logging in with correct credentials (the probes, the bomber, and sockets that fuzz once
// authenticated), and scripted exchanges that read the broker's answers and corrupt a later step
// (a client-final made for this very exchange, then damaged; a wrong password; a correct login
// followed by SASL again; a correct final pipelined with fuzz inputs).
//
// What must hold, and is recorded as a violation otherwise (a FAIL in the report):
// - no corrupted or wrong-credential exchange authenticates;
// - a failed authentication is the connection's last answer: the broker closes it (one guess per
//   connection, broker/security/sasl-server.ts);
// - another API before authentication is never answered and closes the connection;
// - correct credentials are never refused with an error code.
// An answer that does not come within EXCHANGE_ANSWER_MS counts as `noAnswer` (a loaded broker,
// a connection refused at max.connections), not as a violation: the probes judge liveness.

import { ApiKey, decodeResponse, encodeRequest, type ApiKeyValue, type ApiTypes } from '../../client/protocol/apis.js'
import { encodePlain, PLAIN, ScramClient } from '../../client/protocol/scram.js'
import type { SaslMechanism } from '../../client/net/security.js'
import type { Rng } from '../helpers/random.js'
import { PRE_AUTH_FRAME_BYTES_MAX } from '../../broker/security/session.js'
import { PRE_AUTH_API_KEYS, ShadowFraming } from './guard.js'
import type { RawConn } from './raw-conn.js'
import { authenticateFrame, corruptPlain, corruptScramFirst, corruptScramFinal, MECHANISMS, scramNonce, type SaslInputOptions } from './sasl-inputs.js'
import { encodeSample } from './mutate.js'
import { SAMPLES } from '../client/protocol/samples.js'

/** How long one step of a login or exchange may wait for its answer. */
export const EXCHANGE_ANSWER_MS = 5000
/** After a failed authentication (or a refused request), the broker must close within this long. */
const CLOSE_AFTER_FAILURE_MS = 3000
const CLIENT_ID = 'fuzz-sasl'

export interface SaslUser {
  username: string
  password: string
  /** The brokers' own user (a super user), or the fuzzer's non-super one. */
  superUser: boolean
}

/**
 * `answered`: the broker refused correct credentials with an error code, which must not happen;
 * false when no answer came in time, or the refusal said the broker was busy (it bounds the
 * PLAIN checks it runs at once, and refuses more with "retry later").
 */
export type LoginResult = { ok: true } | { ok: false; answered: boolean; problem: string }

/** A refusal of correct credentials, told apart from the broker being busy. */
function refused(step: string, answer: { errorCode: number; errorMessage: string | null }): LoginResult {
  const message = answer.errorMessage ?? `error ${answer.errorCode}`
  if (/retry later/i.test(message)) return { ok: false, answered: false, problem: `${step} refused as busy` }
  return { ok: false, answered: true, problem: `${step} refused: ${message}` }
}

/** Sends one request and reads its answer; null if none came. The frame goes through the shadow so the guard's framing stays true. */
async function ask<K extends ApiKeyValue>(conn: RawConn, apiKey: K, correlationId: number, body: ApiTypes[K]['request']): Promise<ApiTypes[K]['response'] | null> {
  const frame = encodeRequest(apiKey, 0, correlationId, CLIENT_ID, body)
  return askFrame(conn, apiKey, frame)
}

async function askFrame<K extends ApiKeyValue>(conn: RawConn, apiKey: K, frame: Buffer): Promise<ApiTypes[K]['response'] | null> {
  conn.shadow.preview(frame).commit()
  if (!(await conn.write(frame))) return null
  const answer = await conn.nextFrame(EXCHANGE_ANSWER_MS)
  return answer === null ? null : decodeResponse(apiKey, 0, answer).body
}

/**
 * Logs in with correct credentials on a socket keeping its frames; on success the socket stops
 * keeping them and its shadow takes `frameBytesMaxAfter`, as the broker's decoder does.
 */
export async function login(conn: RawConn, user: SaslUser, mechanism: SaslMechanism, frameBytesMaxAfter: number): Promise<LoginResult> {
  try {
    const hs = await ask(conn, ApiKey.SaslHandshake, 1, { mechanism })
    if (hs === null) return { ok: false, answered: false, problem: 'no answer to SaslHandshake' }
    if (hs.errorCode !== 0) return { ok: false, answered: true, problem: `SaslHandshake ${mechanism} answered error ${hs.errorCode}` }
    if (mechanism === PLAIN) {
      const r = await ask(conn, ApiKey.SaslAuthenticate, 2, { authBytes: encodePlain(user.username, user.password) })
      if (r === null) return { ok: false, answered: false, problem: 'no answer to PLAIN' }
      if (r.errorCode !== 0) return refused('PLAIN', r)
    } else {
      const scram = new ScramClient({ username: user.username, password: user.password })
      const first = await ask(conn, ApiKey.SaslAuthenticate, 2, { authBytes: scram.first() })
      if (first === null) return { ok: false, answered: false, problem: 'no answer to client-first' }
      if (first.errorCode !== 0) return refused('client-first', first)
      const final = await ask(conn, ApiKey.SaslAuthenticate, 3, { authBytes: scram.final(first.authBytes) })
      if (final === null) return { ok: false, answered: false, problem: 'no answer to client-final' }
      if (final.errorCode !== 0) return refused('client-final', final)
      scram.verify(final.authBytes)
    }
  } catch (err) {
    return { ok: false, answered: true, problem: `unreadable or wrong answer: ${(err as Error).message}` }
  }
  conn.dropFrames()
  conn.shadow.frameBytesMax = frameBytesMaxAfter
  conn.session = user.superUser ? 'super' : 'user'
  return { ok: true }
}

export const EXCHANGE_KINDS = [
  'scramFinalCorrupt',
  'scramWrongPassword',
  'scramUnknownUser',
  'scramFirstCorrupt',
  'plainCorrupt',
  'handshakeTwice',
  'authenticateFirst',
  'otherApiMidExchange',
  'saslAfterLogin',
  'finalThenGarbage',
] as const
export type ExchangeKind = (typeof EXCHANGE_KINDS)[number]

/** How one exchange ended: refused as it must be, accepted (a success expected or not), or no answer in time. */
export type ExchangeOutcome = 'refused' | 'accepted' | 'noAnswer'

export interface ExchangeEnv {
  users: readonly SaslUser[]
  inputs: SaslInputOptions
  /** max.request.bytes: the frame limit once authenticated. */
  frameBytesMax: number
  /** Sends fuzz inputs on a socket that is authenticating with a correct final (finalThenGarbage); returns the bytes written. */
  garbage: (conn: RawConn) => Promise<Buffer[]>
}

/** Per exchange kind: runs and outcomes; the violations found. */
export class ExchangeTally {
  readonly byKind: Record<string, Record<ExchangeOutcome, number> & { runs: number }> = {}
  /** Corruptions sent in scripted exchanges, by what was done (e.g. 'proof bit', 'two fields'). */
  readonly corruptions: Record<string, number> = {}
  /**
   * Why correct finals with fuzz inputs behind them (finalThenGarbage) went unanswered, when it
   * can be told: `refusedSize`, a size prefix the broker refuses before authentication (negative,
   * or over PRE_AUTH_FRAME_BYTES_MAX) followed the final: the broker splits a whole read into
   * frames, under the pre-authentication limit, before it dispatches any, and a refused size
   * discards those already split, the final among them; `reset`, the broker closed on a later
   * input while ours were still arriving, so the close was a reset and the answer was lost on the
   * fuzzer's side (see RawConn.reset).
   */
  readonly lostFinals = { refusedSize: 0, reset: 0, other: 0 }
  readonly violations: string[] = []

  record(kind: ExchangeKind, outcome: ExchangeOutcome): void {
    const k = (this.byKind[kind] ??= { runs: 0, refused: 0, accepted: 0, noAnswer: 0 })
    k.runs++
    k[outcome]++
  }

  corruption(what: string): void {
    this.corruptions[what] = (this.corruptions[what] ?? 0) + 1
  }
}

/** The broker refused (error code): it must now close the socket. */
async function refusedAndClosed(conn: RawConn, tally: ExchangeTally, what: string): Promise<ExchangeOutcome> {
  if (!(await conn.waitClosed(CLOSE_AFTER_FAILURE_MS))) tally.violations.push(`${what}: the socket was still open ${CLOSE_AFTER_FAILURE_MS} ms after the refusal`)
  return 'refused'
}

/** A final step that must fail: refused and closed, or a violation. */
async function mustFail(conn: RawConn, answer: ApiTypes[typeof ApiKey.SaslAuthenticate]['response'] | null, tally: ExchangeTally, what: string): Promise<ExchangeOutcome> {
  if (answer === null) return 'noAnswer'
  if (answer.errorCode === 0) {
    tally.violations.push(`authentication bypass: ${what} was accepted`)
    return 'accepted'
  }
  return refusedAndClosed(conn, tally, what)
}

/** Handshake and client-first for `username` with a ScramClient; the server-first, or null if not answered with success. */
async function scramStart(conn: RawConn, scram: ScramClient): Promise<Buffer | null> {
  const hs = await ask(conn, ApiKey.SaslHandshake, 1, { mechanism: 'SCRAM-SHA-256' })
  if (hs === null || hs.errorCode !== 0) return null
  const first = await ask(conn, ApiKey.SaslAuthenticate, 2, { authBytes: scram.first() })
  return first === null || first.errorCode !== 0 ? null : first.authBytes
}

/** Runs one scripted exchange of `kind` on a fresh socket keeping its frames. */
export async function runExchange(conn: RawConn, rng: Rng, kind: ExchangeKind, env: ExchangeEnv, tally: ExchangeTally): Promise<ExchangeOutcome> {
  try {
    return await exchange(conn, rng, kind, env, tally)
  } catch (err) {
    tally.violations.push(`${kind}: unreadable answer from the broker: ${(err as Error).message}`)
    return 'noAnswer'
  }
}

async function exchange(conn: RawConn, rng: Rng, kind: ExchangeKind, env: ExchangeEnv, tally: ExchangeTally): Promise<ExchangeOutcome> {
  const user = rng.pick(env.users)
  switch (kind) {
    case 'scramFinalCorrupt': {
      const scram = new ScramClient({ username: user.username, password: user.password })
      const serverFirst = await scramStart(conn, scram)
      if (serverFirst === null) return 'noAnswer'
      const corrupt = corruptScramFinal(rng, scram.final(serverFirst).toString('utf8'))
      tally.corruption(`client-final: ${corrupt.kind}`)
      return mustFail(conn, await ask(conn, ApiKey.SaslAuthenticate, 3, { authBytes: corrupt.bytes }), tally, `a corrupted client-final (${corrupt.kind}) for ${user.username}`)
    }
    case 'scramWrongPassword':
    case 'scramUnknownUser': {
      const username = kind === 'scramUnknownUser' ? `nobody-${rng.string(8)}` : user.username
      const scram = new ScramClient({ username, password: `${user.password}${rng.string(rng.int(1, 4))}` })
      const serverFirst = await scramStart(conn, scram)
      if (serverFirst === null) return 'noAnswer'
      return mustFail(conn, await ask(conn, ApiKey.SaslAuthenticate, 3, { authBytes: scram.final(serverFirst) }), tally, `SCRAM for ${username} with a wrong password`)
    }
    case 'scramFirstCorrupt':
      return scramFirstCorrupt(conn, rng, env, tally)
    case 'plainCorrupt': {
      const hs = await ask(conn, ApiKey.SaslHandshake, 1, { mechanism: PLAIN })
      if (hs === null || hs.errorCode !== 0) return 'noAnswer'
      const corrupt = corruptPlain(rng, user.username)
      tally.corruption(`PLAIN: ${corrupt.kind}`)
      return mustFail(conn, await ask(conn, ApiKey.SaslAuthenticate, 2, { authBytes: corrupt.bytes }), tally, `a PLAIN message (${corrupt.kind}) for ${user.username}`)
    }
    case 'handshakeTwice': {
      const first = await ask(conn, ApiKey.SaslHandshake, 1, { mechanism: rng.pick(MECHANISMS) })
      if (first === null || first.errorCode !== 0) return 'noAnswer'
      const again = await ask(conn, ApiKey.SaslHandshake, 2, { mechanism: rng.pick(MECHANISMS) })
      if (again === null) return 'noAnswer'
      if (again.errorCode === 0) {
        tally.violations.push('a second SaslHandshake on one connection was accepted')
        return 'accepted'
      }
      return refusedAndClosed(conn, tally, 'a second SaslHandshake')
    }
    case 'authenticateFirst': {
      const answer = await ask(conn, ApiKey.SaslAuthenticate, 1, { authBytes: rng.bool(0.5) ? Buffer.from(encodePlain(user.username, user.password)) : rng.bytes(rng.int(0, 200)) })
      return mustFail(conn, answer, tally, 'SaslAuthenticate before SaslHandshake')
    }
    case 'otherApiMidExchange':
      return otherApiMidExchange(conn, rng, user, tally)
    case 'saslAfterLogin': {
      const mechanism = rng.pick(MECHANISMS)
      if (!(await login(conn, user, mechanism, env.frameBytesMax)).ok) return 'noAnswer'
      conn.keepFrames = true
      const again = rng.bool(0.5)
        ? await ask(conn, ApiKey.SaslHandshake, 10, { mechanism: rng.pick(MECHANISMS) })
        : await ask(conn, ApiKey.SaslAuthenticate, 10, { authBytes: rng.bool(0.5) ? encodePlain(user.username, user.password) : rng.bytes(rng.int(0, 100)) })
      if (again === null) return 'noAnswer'
      if (again.errorCode === 0) {
        tally.violations.push(`SASL again after a ${mechanism} login was accepted`)
        return 'accepted'
      }
      return refusedAndClosed(conn, tally, 'SASL again after authenticating')
    }
    case 'finalThenGarbage':
      return finalThenGarbage(conn, user, env, tally)
  }
}

/** A corrupted client-first; if the broker takes it, a final with a made-up proof for the nonce it chose, which must fail. */
async function scramFirstCorrupt(conn: RawConn, rng: Rng, env: ExchangeEnv, tally: ExchangeTally): Promise<ExchangeOutcome> {
  const hs = await ask(conn, ApiKey.SaslHandshake, 1, { mechanism: 'SCRAM-SHA-256' })
  if (hs === null || hs.errorCode !== 0) return 'noAnswer'
  tally.corruption('client-first')
  const first = await ask(conn, ApiKey.SaslAuthenticate, 2, { authBytes: corruptScramFirst(rng, env.inputs) })
  if (first === null) return 'noAnswer'
  if (first.errorCode !== 0) return refusedAndClosed(conn, tally, 'a corrupted client-first')
  // Some corruptions still parse (a `y` flag, an authzid equal to the user): the exchange goes on.
  const nonce = /(?:^|,)r=([^,]*)/.exec(first.authBytes.toString('utf8'))?.[1] ?? scramNonce(rng)
  const final = `c=${rng.pick(['biws', 'eSws'])},r=${nonce},p=${rng.bytes(32).toString('base64')}`
  return mustFail(conn, await ask(conn, ApiKey.SaslAuthenticate, 3, { authBytes: Buffer.from(final) }), tally, 'a client-final with a made-up proof after a corrupted client-first')
}

/** A handshake (and for SCRAM a client-first), then a well-formed request of another API: never answered, and the socket closes. */
async function otherApiMidExchange(conn: RawConn, rng: Rng, user: SaslUser, tally: ExchangeTally): Promise<ExchangeOutcome> {
  const mechanism = rng.pick(MECHANISMS)
  const hs = await ask(conn, ApiKey.SaslHandshake, 1, { mechanism })
  if (hs === null || hs.errorCode !== 0) return 'noAnswer'
  if (mechanism !== PLAIN && rng.bool(0.5)) {
    const first = await ask(conn, ApiKey.SaslAuthenticate, 2, { authBytes: new ScramClient({ username: user.username, password: user.password }).first() })
    if (first === null || first.errorCode !== 0) return 'noAnswer'
  }
  const sample = rng.pick(SAMPLES.filter((s) => !PRE_AUTH_API_KEYS.has(s.apiKey)))
  tally.corruption(`other API mid-exchange: ${sample.name.replace(/ v\d+$/, '')}`)
  const frame = encodeSample(sample, 3, CLIENT_ID)
  conn.shadow.preview(frame).commit()
  await conn.write(frame)
  const answer = await conn.nextFrame(CLOSE_AFTER_FAILURE_MS)
  if (answer !== null) {
    tally.violations.push(`${sample.name} before authentication was answered (${answer.length} bytes)`)
    return 'accepted'
  }
  if (!conn.closed) {
    tally.violations.push(`${sample.name} before authentication left the socket open ${CLOSE_AFTER_FAILURE_MS} ms`)
    return 'accepted'
  }
  return 'refused'
}

/**
 * A correct SCRAM final with fuzz inputs written right behind it, before its answer: the broker
 * authenticates the session mid-stream and raises the frame limit for the frames after it. The
 * guard judges those frames as authenticated and with the higher limit, the safe side of both.
 */
async function finalThenGarbage(conn: RawConn, user: SaslUser, env: ExchangeEnv, tally: ExchangeTally): Promise<ExchangeOutcome> {
  const scram = new ScramClient({ username: user.username, password: user.password })
  const serverFirst = await scramStart(conn, scram)
  if (serverFirst === null) return 'noAnswer'
  const final = authenticateFrame(scram.final(serverFirst), 3)
  conn.shadow.preview(final).commit()
  conn.shadow.frameBytesMax = env.frameBytesMax
  conn.session = user.superUser ? 'super' : 'user'
  await conn.write(final)
  const garbage = env.garbage(conn)
  const answer = await conn.nextFrame(EXCHANGE_ANSWER_MS)
  conn.dropFrames()
  const written = await garbage
  if (answer === null) {
    const framing = new ShadowFraming(PRE_AUTH_FRAME_BYTES_MAX)
    framing.preview(Buffer.concat(written)).commit()
    if (framing.dead) tally.lostFinals.refusedSize++
    else if (conn.reset) tally.lostFinals.reset++
    else tally.lostFinals.other++
    return 'noAnswer'
  }
  const body = decodeResponse(ApiKey.SaslAuthenticate, 0, answer).body
  if (body.errorCode !== 0) {
    tally.violations.push(`correct credentials for ${user.username} refused with fuzz inputs pipelined behind the final: ${body.errorMessage ?? body.errorCode}`)
    return 'refused'
  }
  scram.verify(body.authBytes)
  return 'accepted'
}
