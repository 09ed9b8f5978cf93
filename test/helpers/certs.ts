// A throwaway PKI made with the `openssl` command line, for TLS tests: an independent issuer to
// hold broker/security/x509.ts against, and the same tool an operator would use.
//
// Files, all in the directory the caller gives (a fresh one from `t.testdir()` or fs.mkdtemp):
//   ca.pem, ca.key, ca.cnf                      the CA (CN from `caName`) and the config it was made with
//   <name>.pem, <name>.key, <name>.csr, <name>.ext   one per name: cert, key, request, config
// Every suffix has four characters, so two different names never share a file; only 'ca' is refused.
//
// When `openssl` is missing it tries `apt-get install -y openssl` once per process (CI runs as
// root), with `apt-get update` first if that fails; if it is still missing, makeTestPki returns a
// reason for the test to skip on.

import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

/** Each openssl call makes one EC key or signs one cert: well under a second; 20 s allows a loaded machine. */
const OPENSSL_TIMEOUT_MS = 20_000
/** Each apt-get step; two installs and an update stay under tap's 180 s per file. */
const APT_TIMEOUT_MS = 50_000
/** Test certificates outlive any test run; a short life keeps a leaked temp dir harmless. */
const CERT_DAYS = 2
/** Names become file names and CNs: a hostname-like shape, so neither openssl's -subj nor a path can be misread. */
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$/
/** The CA's CN goes into an openssl config line: the same shape, spaces allowed, nothing openssl would expand ($) or cut (#). */
const CA_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9 .-]{0,62}$/
/** A test needs a few certificates; more is a bug in the test. */
const NAMES_MAX = 16
/** openssl's stderr quoted in an error, at most. */
const STDERR_CHARS_MAX = 2_000

export interface TestPki {
  /** The directory holding every file. */
  dir: string
  /** The CA certificate, PEM. */
  caFile: string
  /** The cert and key files for one of the names given to makeTestPki; throws for any other. */
  certFor(name: string): { certFile: string; keyFile: string }
}

let opensslProbe: Promise<{ unavailable: string } | undefined> | undefined

/** Whether `openssl` can be run (installing it once per process if need be), or why not. */
export function findOpenssl(): Promise<{ unavailable: string } | undefined> {
  opensslProbe ??= probeOpenssl()
  return opensslProbe
}

async function opensslRuns(): Promise<boolean> {
  try {
    await run('openssl', ['version'], { timeout: OPENSSL_TIMEOUT_MS })
    return true
  } catch {
    return false
  }
}

/** Runs one apt-get step; returns why it failed, or undefined when it succeeded. */
async function apt(args: string[]): Promise<string | undefined> {
  try {
    await run('apt-get', args, { timeout: APT_TIMEOUT_MS, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
    return undefined
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'apt-get is not on PATH'
    const lastLine = String((err as { stderr?: unknown }).stderr ?? '').trim().split('\n').pop()
    return `apt-get ${args[0] ?? ''} failed: ${lastLine || (err as Error).message}`
  }
}

async function probeOpenssl(): Promise<{ unavailable: string } | undefined> {
  if (await opensslRuns()) return undefined
  if (process.getuid?.() !== 0) return { unavailable: 'openssl is not on PATH, and this process is not root to apt-get install it' }
  let failure = await apt(['install', '-y', 'openssl'])
  if (failure !== undefined && failure !== 'apt-get is not on PATH') failure = (await apt(['update'])) ?? (await apt(['install', '-y', 'openssl']))
  if (failure === undefined && (await opensslRuns())) return undefined
  return { unavailable: `openssl is not on PATH, and installing it did not work (${failure ?? 'installed, yet still not on PATH'})` }
}

async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args, { timeout: OPENSSL_TIMEOUT_MS })
  } catch (err) {
    const stderr = String((err as { stderr?: unknown }).stderr ?? '').slice(0, STDERR_CHARS_MAX)
    throw new Error(`openssl ${args[0] ?? ''} failed: ${stderr || (err as Error).message}`, { cause: err })
  }
}

function checkNames(names: string[], caName: string): void {
  if (names.length > NAMES_MAX) throw new Error(`makeTestPki: at most ${NAMES_MAX} names, got ${names.length}`)
  if (new Set(names).size !== names.length) throw new Error(`makeTestPki: duplicate names in ${names.join(', ')}`)
  for (const name of names) {
    if (!NAME_PATTERN.test(name)) throw new Error(`makeTestPki: name ${JSON.stringify(name)} must match ${NAME_PATTERN}`)
  }
  if (!CA_NAME_PATTERN.test(caName)) throw new Error(`makeTestPki: caName ${JSON.stringify(caName)} must match ${CA_NAME_PATTERN}`)
  if (names.includes('ca')) throw new Error("makeTestPki: 'ca' names the CA's own files")
}

/** Our own config rather than the system openssl.cnf, which may be absent or add extensions of its own. */
function caConfig(caName: string): string {
  return [
    '[req]', 'distinguished_name = dn', 'x509_extensions = ca_ext', 'prompt = no',
    '[dn]', `CN = ${caName}`,
    '[ca_ext]', 'basicConstraints = critical,CA:TRUE', 'keyUsage = critical,keyCertSign,cRLSign',
    'subjectKeyIdentifier = hash', 'authorityKeyIdentifier = keyid:always',
  ].join('\n') + '\n'
}

/** Serves both `req -new` (the [req] and [dn] sections) and `x509 -req -extfile` (the [leaf_ext] section). */
function leafConfig(name: string): string {
  return [
    '[req]', 'distinguished_name = dn', 'prompt = no',
    '[dn]', `CN = ${name}`,
    '[leaf_ext]', 'basicConstraints = critical,CA:FALSE', 'keyUsage = critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage = serverAuth,clientAuth', 'subjectAltName = DNS:localhost,IP:127.0.0.1',
    'subjectKeyIdentifier = hash', 'authorityKeyIdentifier = keyid',
  ].join('\n') + '\n'
}

/** `req` arguments for a new P-256 key (PKCS#8, unencrypted) and a SHA-256 signature, as x509.ts makes. */
const NEW_EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-sha256']

async function makeLeaf(dir: string, name: string, ca: { certFile: string; keyFile: string }): Promise<void> {
  const file = (suffix: string): string => path.join(dir, `${name}${suffix}`)
  await writeFile(file('.ext'), leafConfig(name))
  await openssl(['req', '-new', '-config', file('.ext'), ...NEW_EC_KEY, '-keyout', file('.key'), '-out', file('.csr')])
  // A random positive serial instead of -CAcreateserial, which would write a ca.srl beside the CA.
  const serial = randomBytes(16)
  serial.writeUInt8(serial.readUInt8(0) & 0x7f, 0)
  await openssl([
    'x509', '-req', '-in', file('.csr'), '-CA', ca.certFile, '-CAkey', ca.keyFile, '-set_serial', `0x${serial.toString('hex')}`,
    '-days', String(CERT_DAYS), '-sha256', '-extfile', file('.ext'), '-extensions', 'leaf_ext', '-out', file('.pem'),
  ])
}

/** Makes a CA and, for each name, a cert with CN=<name> and SAN DNS:localhost, IP:127.0.0.1, signed by that CA (serverAuth+clientAuth). Returns a reason string instead when openssl cannot be had. */
export async function makeTestPki(dir: string, names: string[], options: { caName?: string } = {}): Promise<TestPki | { unavailable: string }> {
  const caName = options.caName ?? 'Strand test CA'
  checkNames(names, caName)
  const missing = await findOpenssl()
  if (missing !== undefined) return missing
  const ca = { certFile: path.join(dir, 'ca.pem'), keyFile: path.join(dir, 'ca.key') }
  const caConfigFile = path.join(dir, 'ca.cnf')
  await writeFile(caConfigFile, caConfig(caName))
  await openssl(['req', '-x509', '-config', caConfigFile, ...NEW_EC_KEY, '-days', String(CERT_DAYS), '-keyout', ca.keyFile, '-out', ca.certFile])
  for (const name of names) await makeLeaf(dir, name, ca)
  const made = new Set(names)
  return {
    dir,
    caFile: ca.certFile,
    certFor(name) {
      if (!made.has(name)) throw new Error(`makeTestPki made no cert for ${JSON.stringify(name)} (made: ${names.join(', ')})`)
      return { certFile: path.join(dir, `${name}.pem`), keyFile: path.join(dir, `${name}.key`) }
    },
  }
}
