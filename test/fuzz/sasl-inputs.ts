// The fuzzer's inputs aimed at a listener that requires SASL, for sockets that have not
// authenticated: SaslHandshake with odd mechanisms; SaslAuthenticate behind a valid handshake (so
// the mechanism's parser is reached) carrying SCRAM client-first messages with corrupted
// attributes, a plausible client-first followed by a garbage client-final, or PLAIN messages with
// NULs missing, extra, or a wrong password; SaslAuthenticate without a handshake; handshakes twice
// and other APIs in the middle of an exchange; frames at and past the 512 KiB pre-authentication
// limit (PRE_AUTH_FRAME_BYTES_MAX); byte-level mutations of all of these; and, a quarter of the
// time, the ordinary inputs of mutate.ts (other APIs before authenticating).
//
// Also the corruptions of a valid client-final and PLAIN message that sasl-conn.ts's scripted
// exchanges send once the broker has answered the first step. Pure functions of an Rng, like
// mutate.ts: no input is made from a password (the generators know user names only), so every
// PLAIN message and every corrupted client-final here must be refused.

import { PRE_AUTH_FRAME_BYTES_MAX } from '../../broker/security/session.js'
import { ApiKey, encodeRequest } from '../../client/protocol/apis.js'
import { SASL_MESSAGE_BYTES_MAX } from '../../client/protocol/scram.js'
import { SAMPLES } from '../client/protocol/samples.js'
import type { Rng } from '../helpers/random.js'
import { PRE_AUTH_API_KEYS } from './guard.js'
import { encodeSample, mutateBytes, nextInput, type FuzzInput, type MutateOptions, type MutationKind } from './mutate.js'

export interface SaslInputOptions extends MutateOptions {
  /** User names worth aiming at: the brokers' own (a super user) and the fuzzer's. */
  usernames: readonly string[]
}

const CLIENT_ID = 'fuzz-sasl'
export const MECHANISMS = ['SCRAM-SHA-256', 'PLAIN'] as const
const ODD_MECHANISMS = [
  '',
  ' ',
  'plain',
  'scram-sha-256',
  'PLAIN ',
  ' PLAIN',
  'PLAIN\u0000',
  'SCRAM-SHA-256\u0000',
  'SCRAM-SHA-1',
  'SCRAM-SHA-512',
  'SCRAM-SHA-256-PLUS',
  'GSSAPI',
  'OAUTHBEARER',
  'ANONYMOUS',
  'EXTERNAL',
  'SCRAM-SHA-256,PLAIN',
  'é✓',
  'x'.repeat(300),
  'P'.repeat(40_000),
]
/** RFC 5802's printable characters (0x21-0x7e but ','), for nonces. */
const PRINTABLE = Array.from({ length: 0x7e - 0x21 + 1 }, (_, i) => String.fromCharCode(0x21 + i)).filter((c) => c !== ',')
const ODD_NAMES = ['', '=', '=2', '=3', '=3d', '=2c', '==', 'a,b', 'a=b', '\u0000', 'é✓', ' ', 'x'.repeat(5000)]
const ODD_NONCES = ['', 'a,b', ' ', 'é', '\u0001', '\u007f', 'x'.repeat(4000)]
/** Bytes that make a message invalid UTF-8: a lone continuation byte, a truncated sequence, 0xff. */
const BAD_UTF8 = [Buffer.from([0x80]), Buffer.from([0xc3]), Buffer.from([0xff]), Buffer.from([0xed, 0xa0, 0x80])]

export function handshakeFrame(mechanism: string, correlationId: number): Buffer {
  return encodeRequest(ApiKey.SaslHandshake, 0, correlationId, CLIENT_ID, { mechanism })
}

export function authenticateFrame(authBytes: Buffer, correlationId: number): Buffer {
  return encodeRequest(ApiKey.SaslAuthenticate, 0, correlationId, CLIENT_ID, { authBytes })
}

export function scramNonce(rng: Rng): string {
  return Array.from({ length: rng.int(16, 40) }, () => rng.pick(PRINTABLE)).join('')
}

function userName(rng: Rng, options: SaslInputOptions): string {
  return rng.bool(0.7) ? rng.pick(options.usernames) : rng.string(rng.int(1, 30))
}

/** Random bytes inserted, a byte replaced by invalid UTF-8 or NUL, a cut, or a pad past SASL_MESSAGE_BYTES_MAX. */
function damage(rng: Rng, message: Buffer): Buffer {
  const at = rng.int(0, message.length)
  switch (rng.int(0, 4)) {
    case 0:
      return Buffer.concat([message.subarray(0, at), rng.bytes(rng.int(1, 16)), message.subarray(at)])
    case 1:
      return Buffer.concat([message.subarray(0, at), rng.pick(BAD_UTF8), message.subarray(Math.min(message.length, at + 1))])
    case 2:
      return Buffer.concat([message.subarray(0, at), Buffer.from([0]), message.subarray(at)])
    case 3:
      return message.subarray(0, at)
    default:
      return Buffer.concat([message, Buffer.alloc(SASL_MESSAGE_BYTES_MAX + 1 - Math.min(message.length, SASL_MESSAGE_BYTES_MAX) + rng.int(0, 60_000), 0x61)])
  }
}

/** A SCRAM client-first that parses: `n,,n=<user>,r=<nonce>`. */
export function scramFirst(user: string, nonce: string): Buffer {
  return Buffer.from(`n,,n=${user.replaceAll('=', '=3D').replaceAll(',', '=2C')},r=${nonce}`, 'utf8')
}

/** A SCRAM client-first with its gs2 header or attributes corrupted, or its bytes damaged. */
export function corruptScramFirst(rng: Rng, options: SaslInputOptions): Buffer {
  const u = userName(rng, options)
  const n = scramNonce(rng)
  const forms: Array<() => string> = [
    () => `p=tls-unique,,n=${u},r=${n}`,
    () => `y,,n=${u},r=${n}`,
    () => `${rng.pick(['x', '', 'nn', 'N', 'n=', 'p', 'y=1'])},,n=${u},r=${n}`,
    () => `n,a=${rng.pick([u, 'other', '', '=', `${u}=2C`, `${u}=`])},n=${u},r=${n}`,
    () => `n,b=x,n=${u},r=${n}`,
    () => `n,n=${u},r=${n}`,
    () => `n=${u},r=${n}`,
    () => `n,,n=${rng.pick(ODD_NAMES)},r=${n}`,
    () => `n,,n=${u},r=${rng.pick(ODD_NONCES)}`,
    () => `n,,m=ext,n=${u},r=${n}`,
    () => `n,,r=${n},n=${u}`,
    () => `n,,n=${u}`,
    () => `n,,n=${u},r=${n},${'x=1,'.repeat(rng.int(1, 500))}z=2`,
    () => `n,,n=${u},n=${u},r=${n}`,
    () => `n,,n=${u},r=${n}${','.repeat(rng.int(1, 2000))}`,
    () => ','.repeat(rng.int(1, 100)),
    () => `n,,N=${u},R=${n}`,
    () => `n,,n=${u},r=${n}\u0000`,
  ]
  const text = Buffer.from(rng.pick(forms)(), 'utf8')
  return rng.bool(0.2) ? damage(rng, text) : text
}

interface FinalParts {
  binding: string
  nonce: string
  proof: string
}

function finalParts(valid: string): FinalParts {
  const [binding = '', nonce = '', proof = ''] = valid.split(',').map((a) => a.slice(2))
  return { binding, nonce, proof }
}

/**
 * A client-final that must be refused, made from `valid` (the right one for this exchange): its
 * proof, nonce or channel binding changed, attributes added, dropped, repeated or reordered, or
 * its bytes damaged. Never equal to `valid`.
 */
export function corruptScramFinal(rng: Rng, valid: string): { kind: string; bytes: Buffer } {
  const { binding: c, nonce: r, proof: p } = finalParts(valid)
  const proofBytes = Buffer.from(p, 'base64')
  const flipped = Buffer.from(proofBytes)
  const bit = rng.int(0, Math.max(0, flipped.length - 1))
  flipped[bit] = (flipped[bit] ?? 0) ^ (1 << rng.int(0, 7))
  const forms: Array<[string, () => string]> = [
    ['proof bit', () => `c=${c},r=${r},p=${flipped.toString('base64')}`],
    ['proof length', () => `c=${c},r=${r},p=${rng.bytes(rng.pick([1, 31, 33, 64, 3000])).toString('base64')}`],
    ['proof empty', () => `c=${c},r=${r},p=`],
    ['proof base64', () => `c=${c},r=${r},p=${rng.pick([`${p}!`, p.replace(/=+$/, ''), `${p}=`, ` ${p}`, `${p}\n`, p.replace(/[A-Za-z]/, '*')])}`],
    ['nonce', () => `c=${c},r=${rng.pick([r.slice(0, -1), `${r}x`, '', r.slice(0, Math.floor(r.length / 2)), `${r.slice(1)}${r[0] ?? ''}`])},p=${p}`],
    ['binding', () => `c=${rng.pick(['', 'eSws', 'cD10bHMtdW5pcXVlLCw=', 'biws=', 'bixh', 'Ymlud3M=', rng.bytes(6).toString('base64')])},r=${r},p=${p}`],
    ['extension', () => `c=${c},r=${r},x=${rng.string(rng.int(0, 20))},p=${p}`],
    ['no proof', () => `c=${c},r=${r}`],
    ['proof twice', () => `c=${c},r=${r},p=${p},p=${p}`],
    ['reordered', () => `r=${r},c=${c},p=${p}`],
    ['mandatory extension', () => `m=1,c=${c},r=${r},p=${p}`],
    ['upper case', () => `C=${c},R=${r},P=${p}`],
    ['trailing comma', () => `${valid},`],
    ['oversize', () => `c=${c},r=${r},x=${'a'.repeat(SASL_MESSAGE_BYTES_MAX)},p=${p}`],
    ['empty', () => ''],
  ]
  const [kind, make] = rng.pick(forms)
  let bytes: Buffer = Buffer.from(make(), 'utf8')
  let name = kind
  if (rng.bool(0.15)) {
    bytes = damage(rng, Buffer.from(valid, 'utf8'))
    name = 'damaged bytes'
  }
  if (bytes.equals(Buffer.from(valid, 'utf8'))) bytes = Buffer.concat([bytes, Buffer.from(',')])
  return { kind: name, bytes }
}

/** A garbage client-final for a nonce the fuzzer guesses (pipelined behind a client-first). */
function garbageFinal(rng: Rng, clientNonce: string): Buffer {
  const valid = `c=biws,r=${clientNonce}${scramNonce(rng)},p=${rng.bytes(32).toString('base64')}`
  return rng.bool(0.3) ? Buffer.from(valid, 'utf8') : corruptScramFinal(rng, valid).bytes
}

/**
 * A PLAIN message for `user` that must be refused: well-formed with a password the fuzzer made up,
 * or with NULs missing or extra, a field empty, an authzid naming someone else, invalid UTF-8, or
 * past SASL_MESSAGE_BYTES_MAX.
 */
export function corruptPlain(rng: Rng, user: string): { kind: string; bytes: Buffer } {
  const pw = rng.string(rng.int(1, 30))
  const forms: Array<[string, () => Buffer | string]> = [
    ['wrong password', () => `\0${user}\0${pw}`],
    ['authzid self, wrong password', () => `${user}\0${user}\0${pw}`],
    ['authzid other', () => `other\0${user}\0${pw}`],
    ['two fields', () => `${user}\0${pw}`],
    ['four fields', () => `\0${user}\0${pw}\0x`],
    ['no NUL', () => `${user}${pw}`],
    ['empty user', () => `\0\0${pw}`],
    ['empty password', () => `\0${user}\0`],
    ['only NULs', () => '\0'.repeat(rng.int(1, 100))],
    ['invalid UTF-8', () => Buffer.concat([Buffer.from(`\0${user}\0`), rng.pick(BAD_UTF8)])],
    ['oversize', () => `\0${user}\0${'x'.repeat(SASL_MESSAGE_BYTES_MAX)}`],
    ['long password', () => `\0${user}\0${'x'.repeat(Math.max(1, SASL_MESSAGE_BYTES_MAX - Buffer.byteLength(user) - 2))}`],
    ['empty', () => ''],
  ]
  const [kind, make] = rng.pick(forms)
  const made = make()
  return { kind, bytes: typeof made === 'string' ? Buffer.from(made, 'utf8') : made }
}

/** A SaslAuthenticate frame whose body is `bodyBytes` long (its authBytes sized to fit). */
export function authenticateOfBodyBytes(bodyBytes: number, correlationId: number, fill: number): Buffer {
  let authBytes = Math.max(0, bodyBytes - 32)
  let frame = authenticateFrame(Buffer.alloc(authBytes, fill), correlationId)
  // The length's varint may shrink or grow by a byte as authBytes changes: converge in a few steps.
  for (let i = 0; i < 4 && frame.length - 4 !== bodyBytes; i++) {
    authBytes = Math.max(0, authBytes + bodyBytes - (frame.length - 4))
    frame = authenticateFrame(Buffer.alloc(authBytes, fill), correlationId)
  }
  return frame
}

/** Frames at and past the pre-authentication limit, sent whole or as a size prefix alone. */
function oversize(rng: Rng, cid: number, options: SaslInputOptions): Buffer {
  switch (rng.int(0, 3)) {
    case 0: {
      // A size prefix the broker refuses before authentication (some accepted after it): the
      // connection closes without the rest being read.
      const size = rng.pick([PRE_AUTH_FRAME_BYTES_MAX + 1, PRE_AUTH_FRAME_BYTES_MAX + rng.int(2, 65_536), rng.int(PRE_AUTH_FRAME_BYTES_MAX, options.maxRequestBytes), options.maxRequestBytes, options.maxRequestBytes + 1])
      const frame = Buffer.from(handshakeFrame(rng.pick(MECHANISMS), cid))
      frame.writeInt32BE(size, 0)
      return frame
    }
    case 1:
      return authenticateOfBodyBytes(PRE_AUTH_FRAME_BYTES_MAX + rng.int(1, 1024), cid, rng.int(0, 255))
    case 2:
      // Exactly at the limit, after a handshake: read whole, then refused as a SASL message too large.
      return Buffer.concat([handshakeFrame(rng.pick(MECHANISMS), cid), authenticateOfBodyBytes(PRE_AUTH_FRAME_BYTES_MAX, cid + 1, rng.int(0, 255))])
    default:
      return Buffer.concat([handshakeFrame(rng.pick(MECHANISMS), cid), authenticateOfBodyBytes(PRE_AUTH_FRAME_BYTES_MAX - rng.int(1, 64), cid + 1, rng.int(0, 255))])
  }
}

/** A well-formed request of an API that is not allowed before authentication (broker-to-broker ones included). */
function otherApiFrame(rng: Rng, cid: number): Buffer {
  const others = SAMPLES.filter((s) => !PRE_AUTH_API_KEYS.has(s.apiKey))
  return encodeSample(rng.pick(others), cid, 'fuzz-sasl')
}

/** The frames, one write; a fifth of the time the last one byte-mutated. */
function pipeline(rng: Rng, frames: Buffer[], kinds: MutationKind[], options: SaslInputOptions): Buffer {
  const last = frames.pop()
  if (last !== undefined) frames.push(rng.bool(0.2) ? mutateBytes(rng, last, options, kinds) : last)
  return Buffer.concat(frames)
}

/** One input for a socket that has not authenticated; `correlationId` is the worker's running id. */
export function nextPreAuthInput(rng: Rng, correlationId: number, options: SaslInputOptions): FuzzInput {
  const cid = correlationId
  const roll = rng.float()
  if (roll < 0.25) return nextInput(rng, cid, options)
  if (roll < 0.33) {
    const kinds: MutationKind[] = ['saslMechanism']
    const frames = [handshakeFrame(rng.pick(ODD_MECHANISMS), cid)]
    if (rng.bool(0.5)) frames.push(authenticateFrame(rng.bool(0.5) ? scramFirst(userName(rng, options), scramNonce(rng)) : rng.bytes(rng.int(0, 300)), cid + 1))
    return { api: 'SaslHandshake', kinds, bytes: pipeline(rng, frames, kinds, options) }
  }
  if (roll < 0.53) {
    const kinds: MutationKind[] = ['saslPipeline', 'scramFirst']
    const frames = [handshakeFrame('SCRAM-SHA-256', cid), authenticateFrame(corruptScramFirst(rng, options), cid + 1)]
    return { api: 'SaslAuthenticate', kinds, bytes: pipeline(rng, frames, kinds, options) }
  }
  if (roll < 0.63) {
    // A client-first that parses, then (without waiting for server-first) a garbage final.
    const kinds: MutationKind[] = ['saslPipeline', 'scramFinal']
    const nonce = scramNonce(rng)
    const frames = [handshakeFrame('SCRAM-SHA-256', cid), authenticateFrame(scramFirst(userName(rng, options), nonce), cid + 1), authenticateFrame(garbageFinal(rng, nonce), cid + 2)]
    return { api: 'SaslAuthenticate', kinds, bytes: pipeline(rng, frames, kinds, options) }
  }
  if (roll < 0.78) {
    const kinds: MutationKind[] = ['saslPipeline', 'plain']
    const frames = [handshakeFrame('PLAIN', cid), authenticateFrame(corruptPlain(rng, userName(rng, options)).bytes, cid + 1)]
    return { api: 'SaslAuthenticate', kinds, bytes: pipeline(rng, frames, kinds, options) }
  }
  if (roll < 0.84) {
    // No handshake first: ILLEGAL_SASL_STATE, and the connection closes.
    const kinds: MutationKind[] = ['authBytes']
    const authBytes = rng.bool(0.8) ? rng.bytes(rng.int(0, 600)) : rng.bytes(rng.int(SASL_MESSAGE_BYTES_MAX, 100_000))
    return { api: 'SaslAuthenticate', kinds, bytes: pipeline(rng, [authenticateFrame(authBytes, cid)], kinds, options) }
  }
  if (roll < 0.9) {
    // Out of order: two handshakes, another API mid-exchange, the first message twice.
    const kinds: MutationKind[] = ['saslPipeline']
    const mechanism = rng.pick(MECHANISMS)
    const first = authenticateFrame(scramFirst(userName(rng, options), scramNonce(rng)), cid + 1)
    const sequences = [
      () => [handshakeFrame(mechanism, cid), handshakeFrame(rng.pick(MECHANISMS), cid + 1)],
      () => [handshakeFrame(mechanism, cid), otherApiFrame(rng, cid + 1)],
      () => [handshakeFrame('SCRAM-SHA-256', cid), first, otherApiFrame(rng, cid + 2)],
      () => [handshakeFrame('SCRAM-SHA-256', cid), first, first],
      () => [encodeRequest(ApiKey.ApiVersions, 0, cid, 'fuzz-sasl', {}), otherApiFrame(rng, cid + 1)],
    ]
    return { api: 'SaslHandshake', kinds, bytes: pipeline(rng, rng.pick(sequences)(), kinds, options) }
  }
  if (roll < 0.93) return { api: 'SaslAuthenticate', kinds: ['preAuthOversize'], bytes: oversize(rng, cid, options) }
  // The SASL samples themselves, mutated as every other API's are.
  const kinds: MutationKind[] = ['saslPipeline']
  const frames = [handshakeFrame(rng.pick(MECHANISMS), cid), authenticateFrame(rng.bool(0.5) ? scramFirst(userName(rng, options), scramNonce(rng)) : corruptPlain(rng, userName(rng, options)).bytes, cid + 1)]
  const target = rng.int(0, 1)
  frames[target] = mutateBytes(rng, frames[target]!, options, kinds)
  return { api: target === 0 ? 'SaslHandshake' : 'SaslAuthenticate', kinds, bytes: Buffer.concat(frames) }
}

/** After authenticating: SaslHandshake or SaslAuthenticate again, which the broker answers ILLEGAL_SASL_STATE and closes. */
export function afterAuthSaslInput(rng: Rng, correlationId: number, options: SaslInputOptions): FuzzInput {
  const kinds: MutationKind[] = ['afterAuthSasl']
  if (rng.bool(0.5)) return { api: 'SaslHandshake', kinds, bytes: pipeline(rng, [handshakeFrame(rng.bool(0.7) ? rng.pick(MECHANISMS) : rng.pick(ODD_MECHANISMS), correlationId)], kinds, options) }
  const authBytes = rng.bool(0.5) ? scramFirst(userName(rng, options), scramNonce(rng)) : rng.bytes(rng.int(0, 300))
  return { api: 'SaslAuthenticate', kinds, bytes: pipeline(rng, [authenticateFrame(authBytes, correlationId)], kinds, options) }
}
