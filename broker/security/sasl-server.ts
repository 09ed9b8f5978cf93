// The broker's side of SASL: SaslHandshake picks a mechanism for the connection, SaslAuthenticate
// carries its messages (client/protocol/scram.ts does the mechanism itself). On success the
// session's principal becomes `User:<name>` and other APIs are allowed; on failure the answer is
// SASL_AUTHENTICATION_FAILED after `sasl.failed.authentication.delay.ms`, and the connection
// closes after it: one guess per connection, so guessing costs a connection and the delay each.
//
// Credentials are the SCRAM-SHA-256 ones in the metadata image, plus the brokers' own user from
// the config (inter.broker.sasl.*), derived in memory at start: brokers must authenticate to each
// other before the quorum has replayed anything. Failed attempts are logged with the peer, the
// mechanism and the user name tried, never the secret.
//
// A session's SASL state only moves forward: none -> exchanging (after SaslHandshake) -> done, or
// failed from anywhere, and a failed session answers nothing more (the dispatcher drops every
// frame after closeAfterResponse), so frames pipelined behind a wrong password are not guesses.
// PLAIN derives a PBKDF2 key per attempt: on libuv's thread pool, PLAIN_VERIFICATIONS_INFLIGHT_MAX
// at a time broker-wide, so a flood of attempts cannot stall the event loop (Raft, replication).

import { pbkdf2, timingSafeEqual } from 'node:crypto'
import { setTimeout as delay } from 'node:timers/promises'
import { promisify } from 'node:util'
import type { Logger } from 'pino'
import { errorCodeOf } from '../../client/protocol/errors.js'
import type { SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse } from '../../client/protocol/messages/security.js'
import { credentialFromSaltedPassword, newScramCredential, parsePlain, PLAIN, SaslError, SCRAM_SHA_256, ScramServer, type ScramCredential } from '../../client/protocol/scram.js'
import type { Session } from './session.js'

/** PLAIN checks (a PBKDF2 each, on the thread pool) running at once; more fail at once, as busy. */
export const PLAIN_VERIFICATIONS_INFLIGHT_MAX = 4

const pbkdf2Async = promisify(pbkdf2)

/** The mechanism under way on one connection. */
export interface SaslExchange {
  readonly mechanism: string
  /** One client message in, the reply out; `username` once authenticated. Rejects with SaslError. */
  step(message: Buffer): Promise<{ response: Buffer; username: string | null }> | { response: Buffer; username: string | null }
}

/** Where a session is in SASL; it only moves forward. */
export type SaslState = 'none' | 'exchanging' | 'busy' | 'done' | 'failed'

export interface SaslServerOptions {
  /** sasl.enabled.mechanisms. */
  mechanisms: readonly string[]
  allowPlaintextPasswords: boolean
  failedAuthenticationDelayMs: number
  /** The SCRAM-SHA-256 credential of a user in the metadata image. */
  lookup: (username: string) => ScramCredential | undefined
  /** The brokers' own user and password (inter.broker.sasl.*), or null. */
  interBroker: { username: string; password: string } | null
  logger: Logger
}

export class SaslServer {
  readonly #options: SaslServerOptions
  readonly #logger: Logger
  /** The inter-broker user's credential, derived once: it lives only in this process. */
  readonly #interBroker: { username: string; credential: ScramCredential } | null
  /** Checked by PLAIN for an unknown user, so the PBKDF2 time does not tell who exists. */
  readonly #standIn: ScramCredential
  /** PLAIN verifications running now. */
  #plainInflight = 0

  constructor(options: SaslServerOptions) {
    this.#options = options
    this.#logger = options.logger.child({ subsystem: 'sasl' })
    const ib = options.interBroker
    this.#interBroker = ib === null ? null : { username: ib.username, credential: newScramCredential(ib.password) }
    this.#standIn = newScramCredential(`stand-in-${Math.random()}`)
  }

  get enabled(): boolean {
    return this.#options.mechanisms.length > 0
  }

  /** The principal of the brokers' own user, a super user; null without SASL. */
  get interBrokerPrincipal(): string | null {
    return this.#interBroker === null ? null : `User:${this.#interBroker.username}`
  }

  /** What a session may use: PLAIN only over TLS unless allow.plaintext.passwords. */
  offered(session: Session): string[] {
    return this.#options.mechanisms.filter((m) => m !== PLAIN || session.tls || this.#options.allowPlaintextPasswords)
  }

  #credential(username: string): ScramCredential | undefined {
    const ib = this.#interBroker
    if (ib !== null && ib.username === username) return ib.credential
    return this.#options.lookup(username)
  }

  handshake(session: Session, req: SaslHandshakeRequest): SaslHandshakeResponse {
    const mechanisms = this.offered(session)
    if (session.saslState !== 'none' || (session.authenticated && this.enabled)) {
      this.#fail(session)
      return { errorCode: errorCodeOf('ILLEGAL_SASL_STATE'), mechanisms }
    }
    // A refused mechanism leaves the state as it was: the client may name another one.
    if (!mechanisms.includes(req.mechanism)) return { errorCode: errorCodeOf('UNSUPPORTED_SASL_MECHANISM'), mechanisms }
    session.sasl = req.mechanism === PLAIN ? this.#plain() : this.#scram()
    session.saslState = 'exchanging'
    return { errorCode: 0, mechanisms }
  }

  async authenticate(session: Session, req: SaslAuthenticateRequest): Promise<SaslAuthenticateResponse> {
    const exchange = session.sasl
    if (exchange === null || session.saslState !== 'exchanging') {
      this.#fail(session)
      return { errorCode: errorCodeOf('ILLEGAL_SASL_STATE'), errorMessage: 'SaslAuthenticate before SaslHandshake, while the last one is being checked, or after authentication ended.', authBytes: Buffer.alloc(0), sessionLifetimeMs: 0n }
    }
    session.saslState = 'busy'
    try {
      // SCRAM answers at once: kept synchronous, so a request the client pipelines behind its
      // final message finds the session authenticated (PLAIN's PBKDF2 runs off the loop).
      const stepped = exchange.step(req.authBytes)
      const { response, username } = stepped instanceof Promise ? await stepped : stepped
      if (username === null) {
        session.saslState = 'exchanging'
      } else {
        session.sasl = null
        session.saslState = 'done'
        session.principal = `User:${username}`
        session.authenticated = true
        session.onAuthenticated()
        this.#logger.debug({ peer: session.peer, mechanism: exchange.mechanism, principal: session.principal }, 'authenticated')
      }
      return { errorCode: 0, errorMessage: null, authBytes: response, sessionLifetimeMs: 0n }
    } catch (err) {
      if (!(err instanceof SaslError)) throw err
      this.#fail(session)
      this.#logger.warn({ peer: session.peer, mechanism: exchange.mechanism, user: attemptedUser(exchange.mechanism, req.authBytes), reason: err.message }, 'authentication failed; closing connection')
      await delay(this.#options.failedAuthenticationDelayMs)
      return { errorCode: errorCodeOf('SASL_AUTHENTICATION_FAILED'), errorMessage: `${exchange.mechanism}: ${err.message}`, authBytes: Buffer.alloc(0), sessionLifetimeMs: 0n }
    }
  }

  /** Ends SASL on this session for good: its next answer is its last. */
  #fail(session: Session): void {
    session.sasl = null
    session.saslState = 'failed'
    session.closeAfterResponse = true
  }

  #plain(): SaslExchange {
    return {
      mechanism: PLAIN,
      step: async (message) => {
        const { username, password } = parsePlain(message)
        if (this.#plainInflight >= PLAIN_VERIFICATIONS_INFLIGHT_MAX) throw new SaslError('Too many PLAIN authentications in progress on this broker; retry later.')
        const credential = this.#credential(username)
        const against = credential ?? this.#standIn
        this.#plainInflight++
        let salted: Buffer
        try {
          salted = await pbkdf2Async(password, against.salt, against.iterations, 32, 'sha256')
        } finally {
          this.#plainInflight--
        }
        const { storedKey } = credentialFromSaltedPassword(salted, against.salt, against.iterations)
        const ok = storedKey.length === against.storedKey.length && timingSafeEqual(storedKey, against.storedKey)
        if (!ok || credential === undefined) throw new SaslError('Authentication failed: invalid credentials.')
        return { response: Buffer.alloc(0), username }
      },
    }
  }

  #scram(): SaslExchange {
    const server = new ScramServer({ lookup: (u) => this.#credential(u) })
    return {
      mechanism: SCRAM_SHA_256,
      step: (message) => {
        const { response, done } = server.step(message)
        return { response, username: done ? server.username : null }
      },
    }
  }
}

/** The user name a failed message named, for the log: never the password or proof. */
function attemptedUser(mechanism: string, message: Buffer): string | null {
  const text = message.subarray(0, 512).toString('utf8')
  if (mechanism === PLAIN) {
    // Only a well-formed message's second field is a user name: in `user\0password` it is the password.
    const fields = text.split('\u0000')
    return fields.length === 3 ? (fields[1] ?? null) : null
  }
  const m = /(?:^|,)n=([^,]*)/.exec(text.replace(/^[ny],[^,]*,/, ''))
  return m?.[1] ?? null
}
