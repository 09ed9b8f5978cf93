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

import { setTimeout as delay } from 'node:timers/promises'
import type { Logger } from 'pino'
import { errorCodeOf } from '../../client/protocol/errors.js'
import type { SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse } from '../../client/protocol/messages/security.js'
import { newScramCredential, parsePlain, PLAIN, SaslError, SCRAM_SHA_256, ScramServer, verifyPassword, type ScramCredential } from '../../client/protocol/scram.js'
import type { Session } from './session.js'

/** The mechanism under way on one connection. */
export interface SaslExchange {
  readonly mechanism: string
  /** One client message in, the reply out; `username` once authenticated. Throws SaslError. */
  step(message: Buffer): { response: Buffer; username: string | null }
}

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
    if (session.sasl !== null || (session.authenticated && this.enabled)) {
      session.closeAfterResponse = true
      return { errorCode: errorCodeOf('ILLEGAL_SASL_STATE'), mechanisms }
    }
    if (!mechanisms.includes(req.mechanism)) return { errorCode: errorCodeOf('UNSUPPORTED_SASL_MECHANISM'), mechanisms }
    session.sasl = req.mechanism === PLAIN ? this.#plain() : this.#scram()
    return { errorCode: 0, mechanisms }
  }

  async authenticate(session: Session, req: SaslAuthenticateRequest): Promise<SaslAuthenticateResponse> {
    const exchange = session.sasl
    if (exchange === null) {
      session.closeAfterResponse = true
      return { errorCode: errorCodeOf('ILLEGAL_SASL_STATE'), errorMessage: 'SaslAuthenticate before SaslHandshake, or after authentication completed.', authBytes: Buffer.alloc(0), sessionLifetimeMs: 0n }
    }
    try {
      const { response, username } = exchange.step(req.authBytes)
      if (username !== null) {
        session.sasl = null
        session.principal = `User:${username}`
        session.authenticated = true
        session.onAuthenticated()
        this.#logger.debug({ peer: session.peer, mechanism: exchange.mechanism, principal: session.principal }, 'authenticated')
      }
      return { errorCode: 0, errorMessage: null, authBytes: response, sessionLifetimeMs: 0n }
    } catch (err) {
      if (!(err instanceof SaslError)) throw err
      session.sasl = null
      session.closeAfterResponse = true
      this.#logger.warn({ peer: session.peer, mechanism: exchange.mechanism, user: attemptedUser(exchange.mechanism, req.authBytes), reason: err.message }, 'authentication failed; closing connection')
      await delay(this.#options.failedAuthenticationDelayMs)
      return { errorCode: errorCodeOf('SASL_AUTHENTICATION_FAILED'), errorMessage: `${exchange.mechanism}: ${err.message}`, authBytes: Buffer.alloc(0), sessionLifetimeMs: 0n }
    }
  }

  #plain(): SaslExchange {
    return {
      mechanism: PLAIN,
      step: (message) => {
        const { username, password } = parsePlain(message)
        const credential = this.#credential(username)
        const ok = verifyPassword(credential ?? this.#standIn, password)
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
  if (mechanism === PLAIN) return text.split('\u0000')[1] ?? null
  const m = /(?:^|,)n=([^,]*)/.exec(text.replace(/^[ny],[^,]*,/, ''))
  return m?.[1] ?? null
}
