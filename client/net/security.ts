// A client connection's security: TLS (node:tls) and SASL authentication, the client's side of
// Kafka's SASL_SSL. The broker's side is broker/security/.
//
// After the TCP (and TLS) handshake, and before any other request, a connection with `sasl` set
// runs SaslHandshake and then SaslAuthenticate until the mechanism completes: one exchange for
// PLAIN, two for SCRAM-SHA-256, whose last answer proves the broker knew the credential too. A
// failure is SASL_AUTHENTICATION_FAILED, which is not retriable: retrying a wrong password only
// locks up the caller and fills the broker's log. A TLS failure that retrying cannot fix (an
// unknown CA, a certificate the broker refused) is an AuthenticationError, not retriable either.

import type { ConnectionOptions as TlsConnectionOptions } from 'node:tls'
import { ApiKey, type ApiKeyValue, type ApiTypes } from '../protocol/apis.js'
import { errorFromCode, StrandError, StrandProtocolError } from '../protocol/errors.js'
import { encodePlain, PLAIN, SaslError, SCRAM_SHA_256, ScramClient } from '../protocol/scram.js'

export type SaslMechanism = typeof PLAIN | typeof SCRAM_SHA_256
export const SASL_MECHANISMS: readonly SaslMechanism[] = [PLAIN, SCRAM_SHA_256]

export interface SaslOptions {
  mechanism: SaslMechanism
  username: string
  password: string
  /** PLAIN without TLS sends the password in the clear; the Strand client refuses it unless this is true. */
  allowPlaintextPassword?: boolean
}

/** PEM contents (not file names); `servername` defaults to the broker's host when it is a name. */
export interface TlsOptions {
  ca?: string | Buffer | Array<string | Buffer>
  cert?: string | Buffer
  key?: string | Buffer
  servername?: string
  /** Default true. False accepts any certificate: for debugging only, never in production. */
  rejectUnauthorized?: boolean
}

export interface SecurityOptions {
  tls?: TlsOptions | null
  sasl?: SaslOptions | null
}

/** A TLS handshake or certificate failure: retrying with the same settings cannot succeed. */
export class AuthenticationError extends StrandError {
  override readonly name = 'AuthenticationError'
  constructor(message: string, cause?: unknown) {
    super('SSL_AUTHENTICATION_FAILED', message, { retriable: false, cause })
  }
}

/** Node's codes for TLS failures that come from configuration or certificates, not the network. */
const TLS_PERMANENT_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
])

/** True for an error a TLS connection failed with that retrying cannot fix. */
export function isPermanentTlsError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  if (typeof code !== 'string') return false
  // ERR_SSL_*: alerts (the broker refused our certificate, or none was sent) and handshake failures.
  return TLS_PERMANENT_CODES.has(code) || code.startsWith('ERR_SSL_')
}

/** Options for tls.connect from ours. */
export function tlsConnectOptions(host: string, port: number, tls: TlsOptions): TlsConnectionOptions {
  const isIp = /^[\d.]+$/.test(host) || host.includes(':')
  const options: TlsConnectionOptions = { host, port, rejectUnauthorized: tls.rejectUnauthorized ?? true }
  if (tls.ca !== undefined) options.ca = tls.ca
  if (tls.cert !== undefined) options.cert = tls.cert
  if (tls.key !== undefined) options.key = tls.key
  // SNI may not carry an IP address (RFC 6066); the certificate is then checked against it as an IP SAN.
  const servername = tls.servername ?? (isIp ? undefined : host)
  if (servername !== undefined) options.servername = servername
  return options
}

/** Sends one request on the connection being authenticated and resolves with its response. */
export type RoundTrip = <K extends ApiKeyValue>(apiKey: K, body: ApiTypes[K]['request']) => Promise<ApiTypes[K]['response']>

function saslFailure(detail: string, cause?: unknown): StrandProtocolError {
  return new StrandProtocolError('SASL_AUTHENTICATION_FAILED', detail, cause)
}

async function step(roundTrip: RoundTrip, authBytes: Buffer): Promise<Buffer> {
  const res = await roundTrip(ApiKey.SaslAuthenticate, { authBytes })
  const err = errorFromCode(res.errorCode, res.errorMessage)
  if (err !== null) throw err
  return res.authBytes
}

/** Runs the SASL exchange for `sasl`; resolves once the broker has accepted it. */
export async function authenticate(roundTrip: RoundTrip, sasl: SaslOptions): Promise<void> {
  const handshake = await roundTrip(ApiKey.SaslHandshake, { mechanism: sasl.mechanism })
  if (handshake.errorCode !== 0) {
    const err = errorFromCode(handshake.errorCode) as StrandProtocolError
    throw new StrandProtocolError(err.code, `Mechanism ${sasl.mechanism} refused; the listener offers: ${handshake.mechanisms.join(', ') || 'none'}.`)
  }
  if (sasl.mechanism === PLAIN) {
    await step(roundTrip, encodePlain(sasl.username, sasl.password))
    return
  }
  const scram = new ScramClient({ username: sasl.username, password: sasl.password })
  try {
    const serverFirst = await step(roundTrip, scram.first())
    const serverFinal = await step(roundTrip, scram.final(serverFirst))
    scram.verify(serverFinal)
  } catch (err) {
    if (err instanceof SaslError) throw saslFailure(err.message, err)
    throw err
  }
}
