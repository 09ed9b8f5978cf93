// TLS material from the broker's config: the listener's server options and, for the connections
// this broker opens to the others (quorum, controller, replica fetchers), its client options.
// Files are read once at start; a missing or unreadable file is a ConfigError naming it.

import { readFileSync } from 'node:fs'
import type { TlsOptions as ServerTlsOptions } from 'node:tls'
import type { SecurityOptions } from '../../client/net/security.js'
import { ConfigError } from '../config-def.js'
import type { BrokerConfig } from '../config.js'

function readPem(key: string, file: string): Buffer {
  try {
    return readFileSync(file)
  } catch (err) {
    throw new ConfigError(`${key} ${file} cannot be read: ${(err as Error).message}`)
  }
}

/** Options for tls.createServer, or null for a plaintext listener. */
export function serverTlsOptions(config: BrokerConfig): ServerTlsOptions | null {
  if (config.securityProtocol !== 'tls') {
    if (config.tlsClientAuth === 'required') throw new ConfigError('tls.client.auth=required needs listener.security.protocol=tls.')
    return null
  }
  if (config.tlsCertFile === '' || config.tlsKeyFile === '') throw new ConfigError('listener.security.protocol=tls needs tls.cert.file and tls.key.file.')
  const options: ServerTlsOptions = { cert: readPem('tls.cert.file', config.tlsCertFile), key: readPem('tls.key.file', config.tlsKeyFile) }
  if (config.tlsCaFile !== '') options.ca = readPem('tls.ca.file', config.tlsCaFile)
  if (config.tlsClientAuth === 'required') {
    if (config.tlsCaFile === '') throw new ConfigError('tls.client.auth=required needs tls.ca.file: the CA client certificates must chain to.')
    options.requestCert = true
    options.rejectUnauthorized = true
  }
  return options
}

/** SASL mechanisms the listener requires, from sasl.enabled.mechanisms. */
export function saslMechanisms(config: BrokerConfig): string[] {
  return config.saslEnabledMechanisms === '' ? [] : config.saslEnabledMechanisms.split(',')
}

/** How this broker connects to the other brokers: the same protocol as its listener. */
export function interBrokerSecurity(config: BrokerConfig): SecurityOptions {
  const security: SecurityOptions = {}
  if (config.securityProtocol === 'tls') {
    security.tls = {}
    if (config.tlsCaFile !== '') security.tls.ca = readPem('tls.ca.file', config.tlsCaFile)
    // Presented only if asked for (tls.client.auth=required on the other side): it is the broker's principal there.
    if (config.tlsCertFile !== '') security.tls.cert = readPem('tls.cert.file', config.tlsCertFile)
    if (config.tlsKeyFile !== '') security.tls.key = readPem('tls.key.file', config.tlsKeyFile)
  }
  if (saslMechanisms(config).length > 0) {
    if (config.interBrokerSaslUsername === '' || config.interBrokerSaslPassword === '') {
      throw new ConfigError('sasl.enabled.mechanisms needs inter.broker.sasl.username and inter.broker.sasl.password: brokers authenticate to each other too.')
    }
    if (!saslMechanisms(config).includes(config.interBrokerSaslMechanism)) {
      throw new ConfigError(`inter.broker.sasl.mechanism ${config.interBrokerSaslMechanism} is not in sasl.enabled.mechanisms (${config.saslEnabledMechanisms}).`)
    }
    security.sasl = { mechanism: config.interBrokerSaslMechanism, username: config.interBrokerSaslUsername, password: config.interBrokerSaslPassword }
  }
  return security
}
