// Certificates from broker/security/x509.ts are real certificates: Node parses them as issued,
// a TLS handshake accepts them against their CA and refuses them against another, and openssl
// verifies them on its own. The openssl-made PKI of test/helpers/certs.ts is proven here too,
// with a server that requires client certificates.

import { execFile } from 'node:child_process'
import { createPrivateKey, X509Certificate } from 'node:crypto'
import { once } from 'node:events'
import { readFile } from 'node:fs/promises'
import type { AddressInfo, Socket } from 'node:net'
import path from 'node:path'
import tls from 'node:tls'
import { promisify } from 'node:util'
import t from 'tap'
import { generateCa, generateLeafCert } from '../../../broker/security/x509.js'
import type { Teardown } from '../../helpers/broker-process.js'
import { findOpenssl, makeTestPki } from '../../helpers/certs.js'

const run = promisify(execFile)

/** A local handshake takes milliseconds; past this the test fails with a reason instead of hanging. */
const EXCHANGE_TIMEOUT_MS = 10_000
/** `openssl verify` of one certificate. */
const OPENSSL_TIMEOUT_MS = 20_000

const opensslMissing = await findOpenssl()

/** A TLS server on 127.0.0.1 that greets each client by its certificate's CN; it and its connections close at teardown. */
async function listen(t: Teardown, options: tls.TlsOptions): Promise<{ port: number; peers: string[] }> {
  const peers: string[] = []
  const server = tls.createServer(options, (socket) => {
    const cn = String(socket.getPeerCertificate().subject?.CN ?? '-')
    peers.push(cn)
    socket.end(`hello ${cn}`)
  })
  const sockets = new Set<Socket>()
  server.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  t.teardown(async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise((resolve) => server.close(resolve))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return { port: (server.address() as AddressInfo).port, peers }
}

type Outcome = { data: string; authorized: boolean } | { error: NodeJS.ErrnoException }

/** Connects and reports the server's greeting, or the error that ended the connection first. */
function exchange(t: Teardown, options: tls.ConnectionOptions): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', ...options })
    t.teardown(() => socket.destroy())
    socket.setEncoding('utf8')
    socket.setTimeout(EXCHANGE_TIMEOUT_MS, () => socket.destroy(new Error(`no greeting within ${EXCHANGE_TIMEOUT_MS} ms`)))
    socket.once('data', (data: string) => resolve({ data, authorized: socket.authorized }))
    socket.once('error', (error) => resolve({ error }))
    socket.once('close', () => resolve({ error: new Error('closed before a greeting') }))
  })
}

function errorCode(outcome: Outcome): string | undefined {
  return 'error' in outcome ? (outcome.error.code ?? outcome.error.message) : undefined
}

t.test('a generated CA and leaf parse as issued, and the leaf verifies against the CA', async (t) => {
  const ca = generateCa({ commonName: 'Strand local CA' })
  const leaf = generateLeafCert(ca, { commonName: 'broker-1', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] })
  const caCert = new X509Certificate(ca.certPem)
  const leafCert = new X509Certificate(leaf.certPem)
  t.equal(caCert.subject, 'CN=Strand local CA')
  t.equal(caCert.issuer, 'CN=Strand local CA', 'the CA is self-issued')
  t.equal(caCert.ca, true)
  t.ok(caCert.verify(caCert.publicKey), 'the CA is self-signed')
  t.equal(leafCert.subject, 'CN=broker-1')
  t.equal(leafCert.issuer, 'CN=Strand local CA')
  t.equal(leafCert.ca, false)
  t.equal(leafCert.subjectAltName, 'DNS:localhost, IP Address:127.0.0.1')
  t.same(leafCert.keyUsage, ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'], 'extendedKeyUsage serverAuth, clientAuth')
  t.ok(leafCert.verify(caCert.publicKey), 'the CA signed the leaf')
  t.ok(leafCert.checkIssued(caCert), 'names and key identifiers chain')
  t.ok(leafCert.checkPrivateKey(createPrivateKey(leaf.keyPem)), 'keyPem is the leaf\'s key')
  t.match(leaf.keyPem, /^-----BEGIN PRIVATE KEY-----\n/, 'PKCS#8')
  t.match(leafCert.serialNumber, /^[4-7][0-9A-F]{31}$/i, '16 octets, positive')
  t.not(leafCert.serialNumber, caCert.serialNumber)
  const notBeforeMs = Date.parse(leafCert.validFrom)
  t.ok(Math.abs(Date.now() - 3_600_000 - notBeforeMs) < 60_000, 'notBefore is an hour ago')
  t.ok(Math.abs(Date.parse(leafCert.validTo) - notBeforeMs - 3_600_000 - 30 * 86_400_000) < 2_000, 'notAfter is 30 days on by default')
})

t.test('a TLS client trusting the CA completes a handshake with the leaf; one trusting another CA does not', async (t) => {
  const ca = generateCa({ commonName: 'Strand local CA' })
  const leaf = generateLeafCert(ca, { commonName: 'broker-1', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] })
  const { port } = await listen(t, { cert: leaf.certPem, key: leaf.keyPem })

  t.same(await exchange(t, { port, ca: ca.certPem, servername: 'localhost' }), { data: 'hello -', authorized: true }, 'by DNS name')
  t.same(await exchange(t, { port, ca: ca.certPem }), { data: 'hello -', authorized: true }, 'by IP address (the IP SAN)')
  const other = generateCa({ commonName: 'Strand local CA' })
  t.equal(errorCode(await exchange(t, { port, ca: other.certPem, servername: 'localhost' })), 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'same name, other key')
  t.equal(errorCode(await exchange(t, { port, ca: ca.certPem, servername: 'broker-2.example' })), 'ERR_TLS_CERT_ALTNAME_INVALID', 'a name not in the SAN')
})

t.test('a generated leaf serves as a client certificate to a server requiring one', async (t) => {
  const ca = generateCa({ commonName: 'Strand local CA' })
  const server = generateLeafCert(ca, { commonName: 'broker-1', dnsNames: ['localhost'] })
  const client = generateLeafCert(ca, { commonName: 'client-1' })
  const { port, peers } = await listen(t, { cert: server.certPem, key: server.keyPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: true })
  t.same(await exchange(t, { port, ca: ca.certPem, servername: 'localhost', cert: client.certPem, key: client.keyPem }), { data: 'hello client-1', authorized: true })
  t.same(peers, ['client-1'])
})

t.test('openssl verifies the generated certificates on its own', async (t) => {
  if (opensslMissing !== undefined) {
    t.comment(`openssl verify not run: ${opensslMissing.unavailable}`)
    return
  }
  const ca = generateCa({ commonName: 'Strand local CA' })
  const leaf = generateLeafCert(ca, { commonName: 'broker-1', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] })
  const dir = t.testdir({ 'ca.pem': ca.certPem, 'leaf.pem': leaf.certPem })
  const verify = (args: string[]) => run('openssl', ['verify', '-x509_strict', ...args, '-CAfile', path.join(dir, 'ca.pem'), path.join(dir, 'leaf.pem')], { timeout: OPENSSL_TIMEOUT_MS })
  t.match((await verify([])).stdout, /leaf\.pem: OK/)
  t.match((await verify(['-purpose', 'sslserver'])).stdout, /leaf\.pem: OK/, 'as a TLS server')
  t.match((await verify(['-purpose', 'sslclient'])).stdout, /leaf\.pem: OK/, 'as a TLS client')
  t.equal(await readFile(path.join(dir, 'leaf.pem'), 'utf8'), leaf.certPem)
})

t.test('validity follows the injected clock: UTCTime through 2049, GeneralizedTime from 2050', async (t) => {
  const nowMs = Date.UTC(2049, 11, 31, 12, 0, 0)
  const ca = new X509Certificate(generateCa({ commonName: 'Strand local CA', days: 2, clock: () => nowMs }).certPem)
  t.equal(ca.validFrom, 'Dec 31 11:00:00 2049 GMT', 'notBefore an hour before the clock')
  t.equal(ca.validTo, 'Jan  2 12:00:00 2050 GMT')
  t.equal(ca.verify(ca.publicKey), true)
})

t.test('IPv6 addresses are 16 octets; bad options are typed errors', async (t) => {
  const ca = generateCa({ commonName: 'Strand local CA', days: 1 })
  const leaf = new X509Certificate(generateLeafCert(ca, { commonName: 'broker-1', ipAddresses: ['::1', '2001:db8::a:0:0:1', '::ffff:10.0.0.1'] }).certPem)
  t.equal(leaf.subjectAltName, 'IP Address:0:0:0:0:0:0:0:1, IP Address:2001:DB8:0:0:A:0:0:1, IP Address:0:0:0:0:0:FFFF:A00:1')
  t.equal(leaf.checkIP('::1'), '::1')
  const invalid = { code: 'INVALID_CONFIG' }
  t.throws(() => generateLeafCert(ca, { commonName: 'x', ipAddresses: ['300.1.1.1'] }), invalid)
  t.throws(() => generateLeafCert(ca, { commonName: 'x', dnsNames: ['bad name'] }), invalid)
  t.throws(() => generateLeafCert(ca, { commonName: '' }), invalid)
  t.throws(() => generateCa({ commonName: 'x', days: 0 }), invalid)
  t.throws(() => generateCa({ commonName: 'x', days: 826 }), invalid)
  const notCa = generateLeafCert(ca, { commonName: 'broker-1' })
  t.throws(() => generateLeafCert(notCa, { commonName: 'x' }), invalid, 'a leaf cannot issue')
  t.throws(() => generateLeafCert({ certPem: ca.certPem, keyPem: notCa.keyPem }, { commonName: 'x' }), invalid, 'a CA with another key')
})

t.test('an openssl-made PKI (test/helpers/certs.ts): a server requiring client certs knows the client by its CN', { skip: opensslMissing?.unavailable ?? false }, async (t) => {
  const pki = await makeTestPki(t.testdir(), ['broker-1', 'client-1'])
  if ('unavailable' in pki) return t.fail(`openssl was found, then not: ${pki.unavailable}`)
  const caPem = await readFile(pki.caFile, 'utf8')
  const pem = async (name: string) => {
    const files = pki.certFor(name)
    return { cert: await readFile(files.certFile, 'utf8'), key: await readFile(files.keyFile, 'utf8') }
  }
  const broker = await pem('broker-1')
  const client = await pem('client-1')
  t.equal(new X509Certificate(client.cert).subjectAltName, 'DNS:localhost, IP Address:127.0.0.1')
  const { port, peers } = await listen(t, { ...broker, ca: caPem, requestCert: true, rejectUnauthorized: true })

  t.same(await exchange(t, { port, ca: caPem, servername: 'localhost', ...client }), { data: 'hello client-1', authorized: true })
  t.same(peers, ['client-1'], 'getPeerCertificate().subject.CN on the server')
  // In TLS 1.3 the client finishes its half of the handshake before the server judges its
  // certificate, so the refusal reaches it as an alert or as a bare close, whichever wins the race.
  const noCert = await exchange(t, { port, ca: caPem, servername: 'localhost' })
  t.notOk('data' in noCert, `no client cert is refused (${errorCode(noCert)})`)
  const foreignCa = generateCa({ commonName: 'Strand test CA' })
  const foreign = generateLeafCert(foreignCa, { commonName: 'client-1' })
  const foreignCert = await exchange(t, { port, ca: caPem, servername: 'localhost', cert: foreign.certPem, key: foreign.keyPem })
  t.notOk('data' in foreignCert, `a client cert from another CA, same CN, is refused (${errorCode(foreignCert)})`)
  t.same(peers, ['client-1'], 'neither refused client reached the server')
  t.throws(() => pki.certFor('broker-2'), /made no cert/)
})
