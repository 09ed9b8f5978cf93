// The broker's request security: the authorizer every request's permission check asks
// (security/request-auth.ts) and the SASL server of SaslHandshake / SaslAuthenticate, both reading
// ACLs and SCRAM credentials from the metadata image. startBroker (broker/broker.ts) makes them
// once the quorum phase has the image, before the listeners open.

import { X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { Logger } from 'pino'
import { SCRAM_SHA_256 } from '../../client/protocol/scram.js'
import type { BrokerConfig } from '../config.js'
import type { MetadataImage } from '../metadata/image.js'
import { Authorizer } from '../security/authorizer.js'
import { SaslServer } from '../security/sasl-server.js'
import { subjectDn } from '../security/session.js'
import { saslMechanisms } from '../security/tls.js'

export interface RequestSecurity {
  readonly authorizer: Authorizer
  /** Disabled when sasl.enabled.mechanisms is empty. */
  readonly sasl: SaslServer
}

export function requestSecurity(config: BrokerConfig, image: MetadataImage, logger: Logger): RequestSecurity {
  const mechanisms = saslMechanisms(config)
  const authorizer = new Authorizer({
    superUsers: superUsersOf(config),
    enabled: config.authorizerEnabled,
    clusterActionEnforced: mechanisms.length > 0 || config.tlsClientAuth === 'required',
    source: { get aclVersion() { return image.aclVersion }, acls: () => image.acls() },
  })
  const sasl = new SaslServer({
    mechanisms,
    allowPlaintextPasswords: config.allowPlaintextPasswords,
    failedAuthenticationDelayMs: config.saslFailedAuthenticationDelayMs,
    lookup: (username) => image.scramCredentials.get(username)?.get(SCRAM_SHA_256),
    interBroker: mechanisms.length > 0 ? { username: config.interBrokerSaslUsername, password: config.interBrokerSaslPassword } : null,
    logger,
  })
  return { authorizer, sasl }
}

/**
 * super.users, plus the principals the brokers themselves connect as: their SASL user, or (with
 * mTLS and no SASL) the subject of their own certificate, which every broker of a cluster shares
 * the shape of; list other brokers' subjects in super.users when they differ.
 */
function superUsersOf(config: BrokerConfig): string[] {
  const users = config.superUsers.split(';').map((u) => u.trim()).filter((u) => u !== '')
  if (saslMechanisms(config).length > 0 && config.interBrokerSaslUsername !== '') users.push(`User:${config.interBrokerSaslUsername}`)
  else if (config.tlsClientAuth === 'required' && config.tlsCertFile !== '') users.push(`User:${subjectDn(new X509Certificate(readFileSync(config.tlsCertFile)).raw)}`)
  return users
}
