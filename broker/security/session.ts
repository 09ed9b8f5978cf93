// Who is on the other end of a connection: the session the server keeps per connection and every
// handler sees. Principals are Kafka's: `User:<name>` for a SASL user, `User:<subject DN>` for a
// TLS client certificate (RFC 2253 order, CN first: `User:CN=alice,O=Acme`), and
// `User:ANONYMOUS` for a connection that neither authenticated nor presented a certificate.
//
// A listener with SASL enabled starts every session unauthenticated: only ApiVersions and the
// SASL APIs may be sent, and frames are bounded by PRE_AUTH_FRAME_BYTES_MAX until the exchange
// completes, so a stranger cannot make the broker buffer max.request.bytes per connection.

import { X509Certificate } from 'node:crypto'
import type { Socket } from 'node:net'
import { TLSSocket } from 'node:tls'
import type { SaslExchange, SaslState } from './sasl-server.js'

export const ANONYMOUS = 'User:ANONYMOUS'
/** Largest frame read before authentication (Kafka's sasl.server.max.receive.size). */
export const PRE_AUTH_FRAME_BYTES_MAX = 512 * 1024

export interface Session {
  /** `/host`, for tools that show who is connected. */
  readonly peer: string
  /** The client's address, for ACLs with a host. */
  readonly host: string
  /** True when the connection is TLS. */
  readonly tls: boolean
  /** Who the requests are from; changes once, when SASL authentication succeeds. */
  principal: string
  /** False until SASL completes on a listener that requires it; true from the start otherwise. */
  authenticated: boolean
  /** The SASL exchange under way, from SaslHandshake until it succeeds or fails. */
  sasl: SaslExchange | null
  saslState: SaslState
  /** Set by a handler whose answer must be the connection's last (a failed authentication). */
  closeAfterResponse: boolean
  /** Called once SASL succeeds: lifts the pre-authentication frame limit. */
  readonly onAuthenticated: () => void
}

/** RFC 2253 form of a certificate subject: Node lists the RDNs most significant first, one a line. */
export function subjectDn(raw: Buffer): string {
  const lines = new X509Certificate(raw).subject.split('\n').filter((l) => l !== '')
  return lines.reverse().join(',')
}

/** The session for a newly accepted socket; `saslRequired` leaves it unauthenticated. */
export function newSession(socket: Socket, options: { saslRequired: boolean; onAuthenticated: () => void }): Session {
  // An IPv4 client of a dual-stack listener shows as ::ffff:a.b.c.d; ACL hosts name it a.b.c.d.
  const host = (socket.remoteAddress ?? 'unknown').replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, '')
  let principal = ANONYMOUS
  const isTls = socket instanceof TLSSocket
  if (isTls && socket.authorized) {
    const cert = socket.getPeerCertificate()
    if (cert !== null && cert.raw !== undefined) principal = `User:${subjectDn(cert.raw)}`
  }
  return { peer: `/${host}`, host, tls: isTls, principal, authenticated: !options.saslRequired, sasl: null, saslState: 'none', closeAfterResponse: false, onAuthenticated: options.onAuthenticated }
}
