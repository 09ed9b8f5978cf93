// `npm start -- --secure`: the local cluster on TLS + SASL/SCRAM with the authorizer on. The first
// start makes, in <data root>/security/ (files readable by the owner only):
//
//   ca.pem, ca.key           a throwaway CA (broker/security/x509.ts; no openssl needed)
//   broker.pem, broker.key   the brokers' certificate (CN=broker, SAN localhost and 127.0.0.1)
//   broker.password          the brokers' own SASL user's password (inter.broker.sasl.password.file)
//   admin.properties         --command-config for the CLI: SASL_SSL as User:admin, a super user
//
// and creates the SCRAM user `admin` once the cluster is up, printing its password once. Later
// starts reuse the files, so the cluster, its users and its ACLs carry on. This is for trying
// security locally: a real deployment brings its own CA and keeps keys out of data directories.

import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { Strand } from '../../client/index.js'
import type { SecurityOptions } from '../../client/net/security.js'
import { setTimeout as delay } from 'node:timers/promises'
import { Connection } from '../../client/net/connection.js'
import { ApiKey } from '../../client/protocol/apis.js'
import type { SaslOptions } from '../../client/net/security.js'
import { generateCa, generateLeafCert } from '../security/x509.js'

export const ADMIN_USER = 'admin'
export const BROKER_USER = 'broker'
/** A new user reaches every broker as it replays the metadata log: within this, or the start fails. */
const USER_PROPAGATION_MS_MAX = 15_000
/** Characters of a generated password (base64url of 18 random bytes: 144 bits). */
const PASSWORD_BYTES = 18

export interface LocalSecurity {
  /** Broker config applied over each config file's. */
  overrides: Record<string, string>
  /** How the launcher itself connects (as the brokers' user). */
  client: SecurityOptions
  dir: string
  adminProperties: string
}

function writeSecret(file: string, text: string): void {
  writeFileSync(file, text, { mode: 0o600 })
}

/** Makes (once) and loads the local cluster's CA, certificate and passwords under `dataRoot`/security. */
export function prepareLocalSecurity(dataRoot: string): LocalSecurity {
  const dir = path.join(dataRoot, 'security')
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const file = (name: string): string => path.join(dir, name)
  if (!existsSync(file('broker.pem'))) {
    const ca = generateCa({ commonName: 'Strand local CA' })
    const broker = generateLeafCert(ca, { commonName: BROKER_USER, dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] })
    writeFileSync(file('ca.pem'), ca.certPem)
    writeSecret(file('ca.key'), ca.keyPem)
    writeSecret(file('broker.key'), broker.keyPem)
    writeSecret(file('broker.password'), `${randomBytes(PASSWORD_BYTES).toString('base64url')}\n`)
    writeFileSync(file('broker.pem'), broker.certPem)
  }
  const overrides = {
    'listener.security.protocol': 'tls',
    'tls.cert.file': file('broker.pem'),
    'tls.key.file': file('broker.key'),
    'tls.ca.file': file('ca.pem'),
    'sasl.enabled.mechanisms': 'SCRAM-SHA-256,PLAIN',
    'inter.broker.sasl.username': BROKER_USER,
    'inter.broker.sasl.password.file': file('broker.password'),
    'super.users': `User:${ADMIN_USER}`,
    'authorizer.enabled': 'true',
  }
  const password = readFileSync(file('broker.password'), 'utf8').split('\n')[0] ?? ''
  const client: SecurityOptions = { tls: { ca: readFileSync(file('ca.pem')) }, sasl: { mechanism: 'SCRAM-SHA-256', username: BROKER_USER, password } }
  return { overrides, client, dir, adminProperties: file('admin.properties') }
}

/**
 * Creates the admin user on the first start (its password goes to admin.properties and is
 * returned, to be printed once); null when it exists already.
 */
export async function ensureAdmin(local: LocalSecurity, bootstrap: string[]): Promise<string | null> {
  if (existsSync(local.adminProperties)) return null
  const password = randomBytes(PASSWORD_BYTES).toString('base64url')
  const strand = new Strand({ brokers: bootstrap, clientId: 'local-cluster', ...(local.client.tls ? { tls: local.client.tls } : {}), ...(local.client.sasl ? { sasl: local.client.sasl } : {}) })
  try {
    await strand.admin().upsertUser({ name: ADMIN_USER, password })
  } finally {
    await strand.close()
  }
  await untilEveryBrokerAccepts(local, bootstrap, { mechanism: 'SCRAM-SHA-256', username: ADMIN_USER, password })
  const lines = [
    '# strand --command-config for the local secure cluster: User:admin, a super user.',
    'security.protocol=SASL_SSL',
    'sasl.mechanism=SCRAM-SHA-256',
    `sasl.username=${ADMIN_USER}`,
    `sasl.password=${password}`,
    `ssl.ca.location=${path.join(local.dir, 'ca.pem')}`,
  ]
  writeSecret(local.adminProperties, `${lines.join('\n')}\n`)
  return password
}

/** Waits until every broker has replayed the new user's credential (each accepts a login with it). */
async function untilEveryBrokerAccepts(local: LocalSecurity, bootstrap: string[], sasl: SaslOptions): Promise<void> {
  const deadline = Date.now() + USER_PROPAGATION_MS_MAX
  for (const address of bootstrap) {
    const i = address.lastIndexOf(':')
    for (;;) {
      const c = new Connection({ host: address.slice(0, i), port: Number(address.slice(i + 1)), clientId: 'local-cluster', connectTimeoutMs: 2000, requestTimeoutMs: 2000, inflightRequestsMax: 1, frameBytesMax: 1 << 20, security: { ...local.client, sasl } })
      const ok = await c.request(ApiKey.ApiVersions, {}).then(() => true, () => false)
      c.close()
      if (ok) break
      if (Date.now() > deadline) throw new Error(`broker ${address} did not accept the new ${sasl.username} user within ${USER_PROPAGATION_MS_MAX} ms`)
      await delay(100)
    }
  }
}
