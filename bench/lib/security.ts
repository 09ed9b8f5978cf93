// `npm run bench -- --security tls,scram`: the same workloads again on a second fresh cluster with
// TLS on the listener (and between the brokers) and SASL/SCRAM-SHA-256 on every connection, so
// the cost of security is a ratio measured in one run on one machine. Certificates come from
// broker/security/x509.ts (no openssl), in a temp dir removed at the end; the password is random.

import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { SecurityOptions } from '../../client/net/security.js'
import { generateCa, generateLeafCert } from '../../broker/security/x509.js'
import type { Goal, Row } from './report.js'

export const SECURITY_LABEL = 'TLS + SCRAM-SHA-256'
/** The goals: acks=all over TLS at least this share of plaintext; e2e p99 at most this multiple. */
export const SECURE_ACKS_ALL_SHARE_MIN = 0.7
export const SECURE_E2E_P99_RATIO_MAX = 1.3

export interface SecureCluster {
  overrides: Record<string, string>
  client: SecurityOptions
  /** Removes the certificates. */
  cleanup(): void
}

export function secureCluster(): SecureCluster {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'strand-bench-pki-'))
  const ca = generateCa({ commonName: 'Strand bench CA' })
  const broker = generateLeafCert(ca, { commonName: 'broker', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] })
  const file = (name: string, text: string): string => {
    const f = path.join(dir, name)
    writeFileSync(f, text, { mode: 0o600 })
    return f
  }
  const password = randomBytes(18).toString('base64url')
  const overrides = {
    'listener.security.protocol': 'tls',
    'tls.cert.file': file('broker.pem', broker.certPem),
    'tls.key.file': file('broker.key', broker.keyPem),
    'tls.ca.file': file('ca.pem', ca.certPem),
    'sasl.enabled.mechanisms': 'SCRAM-SHA-256',
    'inter.broker.sasl.username': 'broker',
    'inter.broker.sasl.password.file': file('broker.password', `${password}\n`),
  }
  // The bench authenticates as the brokers' own user: a super user, so no ACL is in the way.
  return { overrides, client: { tls: { ca: ca.certPem }, sasl: { mechanism: 'SCRAM-SHA-256', username: 'broker', password } }, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

function figure(rows: readonly Row[], match: (r: Row) => boolean, key: string): number | null {
  const v = rows.find(match)?.figures[key]
  return typeof v === 'number' ? v : null
}

/**
 * The secure pass's rows (their sections prefixed) and the two ratio goals against the plaintext
 * pass of the same run.
 */
export function compareSecure(plain: readonly Row[], secure: readonly Row[]): { rows: Row[]; goals: Goal[] } {
  const acksAll = (r: Row): boolean => r.name === 'produce acks=all'
  const e2e = (r: Row): boolean => r.name.startsWith('send -> consumer receipt, ')
  const ratio = (a: number | null, b: number | null): number | null => (a === null || b === null || b === 0 ? null : a / b)
  const share = ratio(figure(secure, acksAll, 'records/s'), figure(plain, acksAll, 'records/s'))
  const p99 = ratio(figure(secure, e2e, 'ms p99'), figure(plain, e2e, 'ms p99'))
  const rows: Row[] = secure.map((r) => ({ ...r, section: `${SECURITY_LABEL}: ${r.section ?? ''}` }))
  rows.push({
    name: `${SECURITY_LABEL} / plaintext, same run`,
    section: `security cost (${SECURITY_LABEL} over plaintext)`,
    figures: { 'acks=all records/s ratio': share ?? 'n/a', 'e2e ms p99 ratio': p99 ?? 'n/a' },
  })
  const goals: Goal[] = [
    { name: `produce acks=all, ${SECURITY_LABEL} / plaintext`, target: `>= ${SECURE_ACKS_ALL_SHARE_MIN}x`, value: share, unit: 'x', met: share === null ? null : share >= SECURE_ACKS_ALL_SHARE_MIN },
    { name: `e2e p99, ${SECURITY_LABEL} / plaintext`, target: `<= ${SECURE_E2E_P99_RATIO_MAX}x`, value: p99, unit: 'x', met: p99 === null ? null : p99 <= SECURE_E2E_P99_RATIO_MAX },
  ]
  return { rows, goals }
}
