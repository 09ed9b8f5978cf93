// SASL mechanism logic shared by the client and the broker: SCRAM-SHA-256 and PLAIN, as pure
// functions of the bytes exchanged. Nothing here touches a socket; the caller carries each message
// in a SaslAuthenticate request or response.
//
// SCRAM-SHA-256 (RFC 5802, RFC 7677) takes two round trips:
//   client-first  "n,,n=<user>,r=<cnonce>"                 (gs2 header "n,," then the bare part)
//   server-first  "r=<cnonce><snonce>,s=<base64 salt>,i=<iterations>"
//   client-final  "c=biws,r=<cnonce><snonce>,p=<base64 ClientProof>"
//   server-final  "v=<base64 ServerSignature>"  (or "e=<error>")
// The client proves it knows the password without sending it, and the server proves it holds the
// credential, so a client never authenticates to an impostor that merely accepts any proof.
//
// The broker stores, per user, only a ScramCredential: the salt, the iteration count, StoredKey
// = H(HMAC(SaltedPassword, "Client Key")) and ServerKey = HMAC(SaltedPassword, "Server Key").
// Neither the password nor SaltedPassword is stored, so a stolen store does not let anyone log in
// (StoredKey verifies a proof but cannot produce one). PLAIN (RFC 4616) is checked against the
// same credential: the broker recomputes StoredKey from the password it received. That costs one
// PBKDF2 per PLAIN login, the price of keeping a single credential store.
//
// An unknown user is not revealed at the first step: the server answers with a salt derived from
// the username under a per-process key (stable, so repeated probes see the same salt) and the
// default iteration count, then fails the final step with the same error as a wrong password.
// A broker checking PLAIN for an unknown user should likewise run verifyPassword against a
// stand-in credential, so the PBKDF2 time does not tell the two cases apart.
//
// Like Kafka, usernames and passwords are used as UTF-8 bytes without SASLprep; clients that
// normalise them must do so alike on both sides.

import assert from 'node:assert/strict'
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto'
import { StrandError } from './errors.js'

/** The mechanism names, as in Kafka's SaslHandshake and `sasl.enabled.mechanisms`. */
export const SCRAM_SHA_256 = 'SCRAM-SHA-256'
export const PLAIN = 'PLAIN'
/** Kafka's minimum: fewer iterations make an offline guess of a stolen credential too cheap. */
export const SCRAM_ITERATIONS_MIN = 4096
/** Kafka's maximum: a server-first asking for more would let a rogue server burn client CPU. */
export const SCRAM_ITERATIONS_MAX = 16384
/** Kafka's default; it is also what an unknown user is offered, so it should match most users. */
export const SCRAM_ITERATIONS_DEFAULT = 4096
/** Any SASL message larger is refused: real ones are a few hundred bytes, and this bounds parsing. */
export const SASL_MESSAGE_BYTES_MAX = 4096
/** SHA-256's output; every key, signature and proof has this length. */
const SCRAM_KEY_BYTES = 32
/** A salt as long as the hash, so salts never repeat across users in practice. */
const SCRAM_SALT_BYTES = 32
/** 24 random bytes (32 base64 characters) make a nonce that never repeats. */
const SCRAM_NONCE_BYTES = 24
/** One message for a wrong password and an unknown user alike, so the error does not tell them apart. */
const AUTH_FAILED = 'Authentication failed: invalid credentials'
/** Keys the fake salts of unknown users when the caller gives none; random, so salts differ per process. */
const PROCESS_FAKE_SALT_KEY = randomBytes(SCRAM_KEY_BYTES)

export interface ScramCredential {
  /** Random per user, sent to the client in server-first. */
  salt: Buffer
  /** PBKDF2 iterations, in [SCRAM_ITERATIONS_MIN, SCRAM_ITERATIONS_MAX] for a credential the client accepts. */
  iterations: number
  /** H(ClientKey): verifies a ClientProof but cannot produce one. */
  storedKey: Buffer
  /** HMAC(SaltedPassword, "Server Key"): signs server-final, proving the server holds the credential. */
  serverKey: Buffer
}

/** A SASL exchange failed. The message never contains a password or a proof. */
export class SaslError extends StrandError {
  override readonly name = 'SaslError'
  constructor(message: string) {
    // Not retriable: the same credentials and messages would fail the same way again.
    super('SASL_AUTHENTICATION_FAILED', message, { retriable: false })
  }
}

/** Hi(password, salt, i) of RFC 5802: PBKDF2-HMAC-SHA-256 with a 32-byte output. */
export function saltPassword(password: string, salt: Buffer, iterations: number): Buffer {
  assert.ok(Number.isSafeInteger(iterations) && iterations > 0, 'PBKDF2 iterations are a positive integer')
  return pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, SCRAM_KEY_BYTES, 'sha256')
}

export function credentialFromSaltedPassword(saltedPassword: Buffer, salt: Buffer, iterations: number): ScramCredential {
  const { storedKey, serverKey } = scramKeys(saltedPassword)
  return { salt, iterations, storedKey, serverKey }
}

/** A credential for a new password, with a random salt; the password itself is not kept. */
export function newScramCredential(password: string, iterations: number = SCRAM_ITERATIONS_DEFAULT): ScramCredential {
  checkIterations(iterations)
  const salt = randomBytes(SCRAM_SALT_BYTES)
  return credentialFromSaltedPassword(saltPassword(password, salt, iterations), salt, iterations)
}

/** Which ScramClient call is allowed next ('done' and 'failed' allow none). */
type ClientState = 'first' | 'final' | 'verify' | 'done' | 'failed'

/** The client side of one SCRAM-SHA-256 exchange: first(), final(serverFirst), verify(serverFinal). */
export class ScramClient {
  /** The password, kept only until final() has derived the keys. */
  #password: string | null
  /** The client's own nonce; the server's combined nonce must start with it. */
  readonly #nonce: string
  /** "n=<user>,r=<cnonce>", the first part of AuthMessage. */
  readonly #clientFirstBare: string
  /** The ServerSignature final() expects in server-final. */
  #serverSignature: Buffer | null = null
  /** Which call is allowed next. */
  #state: ClientState = 'first'

  constructor(options: { username: string; password: string; nonce?: string }) {
    if (options.username === '') throw new SaslError('SCRAM username is empty.')
    if (options.username.includes('\0')) throw new SaslError('SCRAM username contains NUL.')
    this.#password = options.password
    this.#nonce = options.nonce ?? randomNonce()
    assert.ok(isPrintable(this.#nonce), 'a SCRAM nonce is printable ASCII without a comma')
    this.#clientFirstBare = `n=${escapeSaslName(options.username)},r=${this.#nonce}`
    const firstBytes = Buffer.byteLength(`n,,${this.#clientFirstBare}`, 'utf8')
    if (firstBytes > SASL_MESSAGE_BYTES_MAX) throw new SaslError(`SCRAM client-first of ${firstBytes} bytes exceeds ${SASL_MESSAGE_BYTES_MAX}.`)
  }

  /** "n,,n=<escaped user>,r=<cnonce>": no channel binding, no authzid. */
  first(): Buffer {
    this.#advance('first', 'final')
    return Buffer.from(`n,,${this.#clientFirstBare}`, 'utf8')
  }

  /** Checks server-first (nonce, salt, iterations) and answers with the proof. */
  final(serverFirst: Buffer): Buffer {
    this.#advance('final', 'verify')
    try {
      const text = decodeScram(serverFirst, 'server-first')
      const { nonce, salt, iterations } = parseServerFirst(text)
      if (!nonce.startsWith(this.#nonce) || nonce.length === this.#nonce.length) throw new SaslError('SCRAM server nonce does not extend the client nonce.')
      const keys = scramKeys(saltPassword(this.#password ?? '', salt, iterations))
      this.#password = null
      const withoutProof = `c=biws,r=${nonce}`
      const authMessage = `${this.#clientFirstBare},${text},${withoutProof}`
      const proof = xor(keys.clientKey, hmac(keys.storedKey, authMessage))
      this.#serverSignature = hmac(keys.serverKey, authMessage)
      return Buffer.from(`${withoutProof},p=${proof.toString('base64')}`, 'utf8')
    } catch (err) {
      throw this.#fail(err)
    }
  }

  /** Checks the server's signature; an "e=" error from the server is thrown as a SaslError. */
  verify(serverFinal: Buffer): void {
    this.#advance('verify', 'done')
    try {
      const [first] = attributes(decodeScram(serverFinal, 'server-final'))
      if (first?.key === 'e') throw new SaslError(`SCRAM server error: ${first.value}`)
      if (first?.key !== 'v') throw new SaslError('SCRAM server-final has neither a signature nor an error.')
      const signature = decodeBase64(first.value, 'server signature')
      const expected = this.#serverSignature
      assert.ok(expected !== null, 'final() derived the server signature')
      if (signature.length !== expected.length || !timingSafeEqual(signature, expected)) {
        throw new SaslError('SCRAM server signature is wrong: the server does not hold this credential.')
      }
    } catch (err) {
      throw this.#fail(err)
    }
  }

  #advance(expected: ClientState, next: ClientState): void {
    if (this.#state !== expected) throw new SaslError(`SCRAM client: ${expected}() called in state ${this.#state}.`)
    this.#state = next
  }

  /** Ends the exchange: a failed exchange is never resumed, and the password is dropped. */
  #fail(err: unknown): unknown {
    this.#state = 'failed'
    this.#password = null
    return err
  }
}

/** The state a ScramServer keeps between client-first and client-final. */
interface ServerPending {
  /** The user named in client-first (known or not). */
  username: string
  /** The user's credential, or a stand-in for an unknown user. */
  credential: ScramCredential
  /** Whether the credential is real; an unknown user fails at the final step. */
  known: boolean
  /** "n,," or "y,,", which client-final's c= must carry back in base64. */
  gs2Header: string
  /** cnonce + snonce, which client-final must repeat. */
  nonce: string
  clientFirstBare: string
  serverFirst: string
}

/** The server side of one SCRAM-SHA-256 exchange, fed each client message through step(). */
export class ScramServer {
  readonly #lookup: (username: string) => ScramCredential | undefined
  /** The server's part of the combined nonce. */
  readonly #nonce: string
  /** Keys the fake salt of an unknown user. */
  readonly #fakeSaltKey: Buffer
  #pending: ServerPending | null = null
  /** Set only once the proof checked. */
  #username: string | null = null
  #state: 'first' | 'final' | 'done' | 'failed' = 'first'

  constructor(options: { lookup: (username: string) => ScramCredential | undefined; nonce?: string; fakeSaltKey?: Buffer }) {
    this.#lookup = options.lookup
    this.#nonce = options.nonce ?? randomNonce()
    assert.ok(isPrintable(this.#nonce), 'a SCRAM nonce is printable ASCII without a comma')
    this.#fakeSaltKey = options.fakeSaltKey ?? PROCESS_FAKE_SALT_KEY
  }

  /**
   * Feeds one client message; returns the reply to send. After the final step, `done` is true and
   * `username` is the authenticated user. Throws SaslError on any failure, after which the
   * exchange accepts no more messages.
   */
  step(message: Buffer): { response: Buffer; done: boolean } {
    const state = this.#state
    // Failed until the step succeeds, so a throw anywhere below ends the exchange.
    this.#state = 'failed'
    if (state === 'first') {
      const response = this.#first(decodeScram(message, 'client-first'))
      this.#state = 'final'
      return { response, done: false }
    }
    if (state === 'final') {
      const response = this.#final(decodeScram(message, 'client-final'))
      this.#state = 'done'
      return { response, done: true }
    }
    throw new SaslError(`SCRAM exchange is ${state === 'done' ? 'complete' : 'failed'}; no more messages are accepted.`)
  }

  get username(): string | null {
    return this.#username
  }

  #first(text: string): Buffer {
    const { gs2Header, clientFirstBare, username, nonce: clientNonce } = parseClientFirst(text)
    const found = this.#lookup(username)
    const credential = found ?? this.#fakeCredential(username)
    assert.ok(credential.storedKey.length === SCRAM_KEY_BYTES && credential.serverKey.length === SCRAM_KEY_BYTES, 'a stored SCRAM credential holds SHA-256 keys')
    const nonce = clientNonce + this.#nonce
    const serverFirst = `r=${nonce},s=${credential.salt.toString('base64')},i=${credential.iterations}`
    this.#pending = { username, credential, known: found !== undefined, gs2Header, nonce, clientFirstBare, serverFirst }
    return Buffer.from(serverFirst, 'utf8')
  }

  #final(text: string): Buffer {
    const pending = this.#pending
    assert.ok(pending !== null, 'client-first was handled')
    const { channelBinding, nonce, proof, withoutProof } = parseClientFinal(text)
    if (channelBinding !== Buffer.from(pending.gs2Header, 'utf8').toString('base64')) throw new SaslError('SCRAM channel binding does not match the gs2 header.')
    // librdkafka before 2.6.1 (Debian's kcat among them) sends its own nonce again in front of
    // the combined one (confluentinc/librdkafka#4895), which Apache Kafka accepts (endsWith).
    // Exactly that form is accepted too: the server's nonce is still echoed in full, and the proof
    // below covers the message as sent.
    const clientNonce = pending.nonce.slice(0, pending.nonce.length - this.#nonce.length)
    if (nonce !== pending.nonce && nonce !== clientNonce + pending.nonce) throw new SaslError('SCRAM client-final nonce does not match.')
    const { storedKey, serverKey } = pending.credential
    const authMessage = `${pending.clientFirstBare},${pending.serverFirst},${withoutProof}`
    const clientKey = xor(proof, hmac(storedKey, authMessage))
    // The same work for an unknown user as for a known one; `known` is checked last.
    const matches = timingSafeEqual(sha256(clientKey), storedKey)
    if (!matches || !pending.known) throw new SaslError(AUTH_FAILED)
    this.#username = pending.username
    return Buffer.from(`v=${hmac(serverKey, authMessage).toString('base64')}`, 'utf8')
  }

  /** A stand-in with a stable salt per name; its random keys match no proof. */
  #fakeCredential(username: string): ScramCredential {
    const salt = hmac(this.#fakeSaltKey, username).subarray(0, SCRAM_SALT_BYTES)
    return { salt, iterations: SCRAM_ITERATIONS_DEFAULT, storedKey: randomBytes(SCRAM_KEY_BYTES), serverKey: randomBytes(SCRAM_KEY_BYTES) }
  }
}

/** A PLAIN message, RFC 4616: authzid NUL authcid NUL passwd. */
export function encodePlain(username: string, password: string, authzid: string = ''): Buffer {
  if (username === '' || password === '') throw new SaslError('PLAIN username and password must not be empty.')
  if ([username, password, authzid].some((field) => field.includes('\0'))) throw new SaslError('PLAIN fields must not contain NUL.')
  const message = Buffer.from(`${authzid}\0${username}\0${password}`, 'utf8')
  if (message.length > SASL_MESSAGE_BYTES_MAX) throw new SaslError(`PLAIN message of ${message.length} bytes exceeds ${SASL_MESSAGE_BYTES_MAX}.`)
  return message
}

/**
 * Parses a PLAIN message. An authzid is refused unless it is empty or the username itself (as
 * Kafka does), since Strand has no proxy authorization; `authzid` is returned for logging only.
 */
export function parsePlain(message: Buffer): { authzid: string; username: string; password: string } {
  const fields = decodeUtf8(message, 'PLAIN message').split('\0')
  const [authzid, username, password] = fields
  if (fields.length !== 3 || authzid === undefined || username === undefined || password === undefined) throw new SaslError('PLAIN message must hold exactly three NUL-separated fields.')
  if (username === '' || password === '') throw new SaslError('PLAIN username and password must not be empty.')
  if (authzid !== '' && authzid !== username) throw new SaslError('PLAIN authorization identity differs from the username.')
  return { authzid, username, password }
}

/** Whether the password produces the credential's StoredKey (PLAIN against a SCRAM credential). */
export function verifyPassword(credential: ScramCredential, password: string): boolean {
  const { storedKey } = scramKeys(saltPassword(password, credential.salt, credential.iterations))
  return credential.storedKey.length === storedKey.length && timingSafeEqual(credential.storedKey, storedKey)
}

// ---- Pure helpers ----

function scramKeys(saltedPassword: Buffer): { clientKey: Buffer; storedKey: Buffer; serverKey: Buffer } {
  assert.ok(saltedPassword.length === SCRAM_KEY_BYTES, 'a salted password is a SHA-256 output')
  const clientKey = hmac(saltedPassword, 'Client Key')
  return { clientKey, storedKey: sha256(clientKey), serverKey: hmac(saltedPassword, 'Server Key') }
}

function hmac(key: Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest()
}

function sha256(data: Buffer): Buffer {
  return createHash('sha256').update(data).digest()
}

function xor(a: Buffer, b: Buffer): Buffer {
  assert.ok(a.length === b.length, 'XORed SCRAM values have the same length')
  return Buffer.from(a.map((byte, i) => byte ^ (b[i] ?? 0)))
}

function randomNonce(): string {
  return randomBytes(SCRAM_NONCE_BYTES).toString('base64')
}

function checkIterations(iterations: number): void {
  if (!Number.isSafeInteger(iterations) || iterations < SCRAM_ITERATIONS_MIN || iterations > SCRAM_ITERATIONS_MAX) {
    throw new SaslError(`SCRAM iterations ${iterations} are outside [${SCRAM_ITERATIONS_MIN}, ${SCRAM_ITERATIONS_MAX}].`)
  }
}

/** RFC 5802's printable: ASCII 0x21-0x7E except ','. */
function isPrintable(text: string): boolean {
  return /^[\x21-\x2b\x2d-\x7e]+$/.test(text)
}

function escapeSaslName(name: string): string {
  return name.replaceAll('=', '=3D').replaceAll(',', '=2C')
}

function unescapeSaslName(escaped: string): string {
  if (/=(?!2C|3D)/.test(escaped)) throw new SaslError('SCRAM username has an invalid "=" escape.')
  return escaped.replaceAll('=2C', ',').replaceAll('=3D', '=')
}

function decodeUtf8(message: Buffer, what: string): string {
  if (message.length > SASL_MESSAGE_BYTES_MAX) throw new SaslError(`SASL ${what} of ${message.length} bytes exceeds ${SASL_MESSAGE_BYTES_MAX}.`)
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(message)
  } catch {
    throw new SaslError(`SASL ${what} is not valid UTF-8.`)
  }
}

/** A SCRAM message as text; RFC 5802 allows no NUL anywhere in one. */
function decodeScram(message: Buffer, what: string): string {
  const text = decodeUtf8(message, `SCRAM ${what}`)
  if (text.includes('\0')) throw new SaslError(`SCRAM ${what} contains NUL.`)
  return text
}

/** "k=v,k=v" into its attributes in order; values may contain '=' (base64) but never ','. */
function attributes(text: string): Array<{ key: string; value: string }> {
  return text.split(',').map((part) => {
    const match = /^([A-Za-z]+)=(.*)$/s.exec(part)
    if (match === null) throw new SaslError('SCRAM message is malformed.')
    return { key: match[1] ?? '', value: match[2] ?? '' }
  })
}

/** Strict base64: Node's decoder skips bad characters, which would hide a corrupted value. */
function decodeBase64(text: string, what: string): Buffer {
  const bytes = Buffer.from(text, 'base64')
  if (text === '' || bytes.toString('base64') !== text) throw new SaslError(`SCRAM ${what} is not valid base64.`)
  return bytes
}

function parseClientFirst(text: string): { gs2Header: string; clientFirstBare: string; username: string; nonce: string } {
  const flagEnd = text.indexOf(',')
  const headerEnd = text.indexOf(',', flagEnd + 1)
  if (flagEnd < 0 || headerEnd < 0) throw new SaslError('SCRAM client-first has no gs2 header.')
  const flag = text.slice(0, flagEnd)
  const authzid = text.slice(flagEnd + 1, headerEnd)
  if (flag.startsWith('p=')) throw new SaslError('SCRAM channel binding is not supported.')
  if (flag !== 'n' && flag !== 'y') throw new SaslError('SCRAM client-first has an invalid gs2 flag.')
  if (authzid !== '' && !authzid.startsWith('a=')) throw new SaslError('SCRAM client-first has an invalid authzid.')
  const clientFirstBare = text.slice(headerEnd + 1)
  const [user, nonce] = attributes(clientFirstBare)
  if (user?.key === 'm') throw new SaslError('SCRAM mandatory extensions are not supported.')
  if (user?.key !== 'n' || user.value === '' || nonce?.key !== 'r' || !isPrintable(nonce.value)) throw new SaslError('SCRAM client-first is malformed.')
  const username = unescapeSaslName(user.value)
  if (authzid !== '' && unescapeSaslName(authzid.slice(2)) !== username) throw new SaslError('SCRAM authorization identity differs from the username.')
  return { gs2Header: text.slice(0, headerEnd + 1), clientFirstBare, username, nonce: nonce.value }
}

function parseServerFirst(text: string): { nonce: string; salt: Buffer; iterations: number } {
  const [nonce, salt, iterations] = attributes(text)
  if (nonce?.key === 'm') throw new SaslError('SCRAM mandatory extensions are not supported.')
  if (nonce?.key !== 'r' || !isPrintable(nonce.value) || salt?.key !== 's' || iterations?.key !== 'i') throw new SaslError('SCRAM server-first is malformed.')
  if (!/^[1-9][0-9]{0,8}$/.test(iterations.value)) throw new SaslError('SCRAM server-first iteration count is malformed.')
  checkIterations(Number(iterations.value))
  return { nonce: nonce.value, salt: decodeBase64(salt.value, 'salt'), iterations: Number(iterations.value) }
}

function parseClientFinal(text: string): { channelBinding: string; nonce: string; proof: Buffer; withoutProof: string } {
  const attrs = attributes(text)
  const [binding, nonce] = attrs
  const proof = attrs.at(-1)
  if (attrs.length < 3 || binding?.key !== 'c' || nonce?.key !== 'r' || proof?.key !== 'p') throw new SaslError('SCRAM client-final is malformed.')
  const proofBytes = decodeBase64(proof.value, 'proof')
  if (proofBytes.length !== SCRAM_KEY_BYTES) throw new SaslError('SCRAM proof has the wrong length.')
  return { channelBinding: binding.value, nonce: nonce.value, proof: proofBytes, withoutProof: text.slice(0, text.lastIndexOf(',p=')) }
}
