// Settings for a cluster on TLS + SASL/SCRAM, made at test time: a throwaway CA and one broker
// certificate (CN=broker, SAN 127.0.0.1 and localhost) from openssl, and a random password for
// the brokers' own SASL user. Nothing secret is committed: every run makes its own.
//
// STRAND_TEST_SECURITY=tls,scram makes every TestCluster use these settings (its clients then
// authenticate as the brokers' user, a super user), so the replication and fault tests run over
// TLS + SCRAM unchanged.

import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { SaslOptions, TlsOptions } from '../../client/index.js'
import { tempDir, type Teardown } from './broker-process.js'
import { makeTestPki, type TestPki } from './certs.js'

export interface SecureSettings {
  /** Broker config over the test defaults. */
  overrides: Record<string, string | number | boolean>
  pki: TestPki
  /** TLS options a client needs to trust the brokers. */
  tls: TlsOptions
  /** The brokers' own user: a super user, for the tests' admin work. */
  brokerSasl: SaslOptions
}

export const BROKER_USER = 'broker'

export async function secureSettings(t: Teardown, options: { clientCerts?: string[] } = {}): Promise<SecureSettings | { unavailable: string }> {
  const pki = await makeTestPki(tempDir(t, 'strand-pki-'), ['broker', ...(options.clientCerts ?? [])])
  if ('unavailable' in pki) return pki
  const password = randomBytes(18).toString('base64url')
  const broker = pki.certFor('broker')
  return {
    pki,
    overrides: {
      'listener.security.protocol': 'tls',
      'tls.cert.file': broker.certFile,
      'tls.key.file': broker.keyFile,
      'tls.ca.file': pki.caFile,
      'sasl.enabled.mechanisms': 'SCRAM-SHA-256,PLAIN',
      'inter.broker.sasl.username': BROKER_USER,
      'inter.broker.sasl.password': password,
      'sasl.failed.authentication.delay.ms': 20,
    },
    tls: { ca: readFileSync(pki.caFile) },
    brokerSasl: { mechanism: 'SCRAM-SHA-256', username: BROKER_USER, password },
  }
}

/** True when STRAND_TEST_SECURITY asks every test cluster to run on TLS + SCRAM. */
export function securityFromEnv(): boolean {
  const v = process.env.STRAND_TEST_SECURITY ?? ''
  if (v === '') return false
  if (v !== 'tls,scram') throw new Error(`STRAND_TEST_SECURITY must be "tls,scram" or empty, got "${v}".`)
  return true
}
