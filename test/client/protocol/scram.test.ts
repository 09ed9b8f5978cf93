// SCRAM-SHA-256 and PLAIN of client/protocol/scram.ts: the RFC 7677 test vector byte for byte on
// both sides, a real round trip, and the failures a broker relies on (wrong password, unknown user
// that looks like a known one, forged server, bad order, oversized messages).

import t from 'tap'
import {
  credentialFromSaltedPassword,
  encodePlain,
  newScramCredential,
  parsePlain,
  SASL_MESSAGE_BYTES_MAX,
  saltPassword,
  SaslError,
  ScramClient,
  ScramServer,
  SCRAM_ITERATIONS_MIN,
  verifyPassword,
  type ScramCredential,
} from '../../../client/protocol/scram.js'

// RFC 7677 section 3.
const RFC = {
  username: 'user',
  password: 'pencil',
  clientNonce: 'rOprNGfwEbeRWgbNEkqO',
  serverNonce: '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0',
  salt: Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'),
  iterations: 4096,
  clientFirst: 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO',
  serverFirst: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
  clientFinal: 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
  serverFinal: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
}
const AUTH_FAILED = /Authentication failed: invalid credentials/

const rfcCredential = credentialFromSaltedPassword(saltPassword(RFC.password, RFC.salt, RFC.iterations), RFC.salt, RFC.iterations)
const text = (b: Buffer): string => b.toString('utf8')
const buf = (s: string): Buffer => Buffer.from(s, 'utf8')

function serverFor(users: Record<string, ScramCredential>, options: { nonce?: string; fakeSaltKey?: Buffer } = {}): ScramServer {
  return new ScramServer({ lookup: (name) => users[name], ...options })
}

/** Runs a whole exchange; throws if either side refuses the other. */
function exchange(client: ScramClient, server: ScramServer): void {
  const serverFirst = server.step(client.first())
  const serverFinal = server.step(client.final(serverFirst.response))
  client.verify(serverFinal.response)
}

t.test('RFC 7677 vector: the client produces the expected messages', async (t) => {
  const client = new ScramClient({ username: RFC.username, password: RFC.password, nonce: RFC.clientNonce })
  t.equal(text(client.first()), RFC.clientFirst)
  t.equal(text(client.final(buf(RFC.serverFirst))), RFC.clientFinal)
  t.doesNotThrow(() => client.verify(buf(RFC.serverFinal)))
})

t.test('RFC 7677 vector: the server produces the expected messages', async (t) => {
  const server = serverFor({ user: rfcCredential }, { nonce: RFC.serverNonce })
  const first = server.step(buf(RFC.clientFirst))
  t.equal(text(first.response), RFC.serverFirst)
  t.equal(first.done, false)
  t.equal(server.username, null, 'not authenticated before the proof')
  const final = server.step(buf(RFC.clientFinal))
  t.equal(text(final.response), RFC.serverFinal)
  t.equal(final.done, true)
  t.equal(server.username, 'user')
})

t.test('client and server with random nonces authenticate each other', async (t) => {
  const server = serverFor({ alice: newScramCredential('s3cret', 8192) })
  const client = new ScramClient({ username: 'alice', password: 's3cret' })
  exchange(client, server)
  t.equal(server.username, 'alice')
})

t.test('a wrong password fails at the final step, without the proof in the message', async (t) => {
  const server = serverFor({ alice: newScramCredential('s3cret') })
  const client = new ScramClient({ username: 'alice', password: 'wrong' })
  const first = server.step(client.first())
  const clientFinal = client.final(first.response)
  const proof = text(clientFinal).split(',p=')[1] ?? ''
  const err = t.throws(() => server.step(clientFinal), SaslError) as Error
  t.match(err.message, AUTH_FAILED)
  t.notOk(err.message.includes(proof) || err.message.includes('wrong'), 'neither proof nor password leaks')
  t.equal(server.username, null)
  t.throws(() => server.step(clientFinal), SaslError, 'a failed exchange accepts nothing more')
})

t.test('an unknown user gets a plausible server-first and the same failure as a wrong password', async (t) => {
  const key = Buffer.alloc(32, 7)
  const known = serverFor({ alice: newScramCredential('s3cret') }, { fakeSaltKey: key })
  const firstKnown = text(known.step(new ScramClient({ username: 'alice', password: 'x' }).first()).response)
  const shape = /^r=[\x21-\x2b\x2d-\x7e]+,s=([A-Za-z0-9+/]+=*),i=4096$/
  t.match(firstKnown, shape)

  const salts: string[] = []
  for (let i = 0; i < 2; i++) {
    const server = serverFor({}, { fakeSaltKey: key })
    const client = new ScramClient({ username: 'mallory', password: 'guess' })
    const first = text(server.step(client.first()).response)
    t.match(first, shape, 'same shape as a real server-first')
    const salt = shape.exec(first)?.[1] ?? ''
    t.equal(Buffer.from(salt, 'base64').length, 32, 'fake salt is as long as a real one')
    salts.push(salt)
    const err = t.throws(() => server.step(client.final(buf(first))), SaslError) as Error
    t.match(err.message, AUTH_FAILED)
  }
  t.equal(salts[0], salts[1], 'the fake salt is stable for the same name')
  const other = text(serverFor({}, { fakeSaltKey: key }).step(new ScramClient({ username: 'eve', password: 'x' }).first()).response)
  t.not(shape.exec(other)?.[1], salts[0], 'different names get different salts')
})

t.test('the client rejects a server that does not hold the credential', async (t) => {
  const client = new ScramClient({ username: RFC.username, password: RFC.password, nonce: RFC.clientNonce })
  client.first()
  client.final(buf(RFC.serverFirst))
  t.throws(() => client.verify(buf('v=' + Buffer.alloc(32, 1).toString('base64'))), /server signature is wrong/)

  const errored = new ScramClient({ username: RFC.username, password: RFC.password, nonce: RFC.clientNonce })
  errored.first()
  errored.final(buf(RFC.serverFirst))
  t.throws(() => errored.verify(buf('e=invalid-proof')), { name: 'SaslError', message: /invalid-proof/ })
})

t.test('the client refuses a server-first it must not answer', async (t) => {
  const bad = [
    'r=someoneelse123,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096', // nonce not ours
    `r=${RFC.clientNonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096`, // no server part
    `r=${RFC.clientNonce}x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4095`, // too few iterations
    `r=${RFC.clientNonce}x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=100000`, // too many
    `r=${RFC.clientNonce}x,s=not*base64,i=4096`,
    `m=ext,r=${RFC.clientNonce}x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096`,
  ]
  for (const serverFirst of bad) {
    const client = new ScramClient({ username: 'user', password: 'pencil', nonce: RFC.clientNonce })
    client.first()
    t.throws(() => client.final(buf(serverFirst)), SaslError, serverFirst)
  }
})

t.test("usernames with ',' and '=' are escaped and round-trip", async (t) => {
  const name = 'a,b=c=2C'
  const server = serverFor({ [name]: newScramCredential('pw') })
  const client = new ScramClient({ username: name, password: 'pw' })
  const first = client.first()
  t.equal(text(first).split(',r=')[0], 'n,,n=a=2Cb=3Dc=3D2C')
  const serverFirst = server.step(first).response
  client.verify(server.step(client.final(serverFirst)).response)
  t.equal(server.username, name)
  t.throws(() => serverFor({}).step(buf('n,,n=bad=41,r=abc')), /invalid "=" escape/)
})

t.test('the server refuses gs2 headers it does not support and mismatched finals', async (t) => {
  t.throws(() => serverFor({}).step(buf('p=tls-unique,,n=user,r=abc')), /channel binding is not supported/)
  t.throws(() => serverFor({}).step(buf('n,a=other,n=user,r=abc')), /authorization identity differs/)
  t.throws(() => serverFor({}).step(buf('x,,n=user,r=abc')), SaslError)
  t.throws(() => serverFor({}).step(buf('n,,m=ext,n=user,r=abc')), /mandatory extensions/)
  t.doesNotThrow(() => serverFor({ user: rfcCredential }).step(buf('n,a=user,n=user,r=abc')), 'authzid equal to the user is fine')

  // 'y' is accepted, and its c= must then carry "y,,", not "n,,".
  const yServer = serverFor({ user: rfcCredential }, { nonce: RFC.serverNonce })
  yServer.step(buf(`y,,n=user,r=${RFC.clientNonce}`))
  t.throws(() => yServer.step(buf(RFC.clientFinal)), /channel binding does not match/)

  const nonceServer = serverFor({ user: rfcCredential }, { nonce: RFC.serverNonce })
  nonceServer.step(buf(RFC.clientFirst))
  t.throws(() => nonceServer.step(buf(RFC.clientFinal.replace('k0,p=', 'k1,p='))), /nonce does not match/)
})

t.test('steps out of order throw', async (t) => {
  const server = serverFor({ user: rfcCredential }, { nonce: RFC.serverNonce })
  server.step(buf(RFC.clientFirst))
  t.throws(() => server.step(buf(RFC.clientFirst)), SaslError, 'a second client-first')
  const done = serverFor({ user: rfcCredential }, { nonce: RFC.serverNonce })
  done.step(buf(RFC.clientFirst))
  done.step(buf(RFC.clientFinal))
  t.throws(() => done.step(buf(RFC.clientFinal)), /complete/, 'a message after done')

  const client = new ScramClient({ username: 'user', password: 'pencil' })
  t.throws(() => client.final(buf(RFC.serverFirst)), SaslError, 'final before first')
  t.throws(() => client.verify(buf(RFC.serverFinal)), SaslError, 'verify before final')
  client.first()
  t.throws(() => client.first(), SaslError, 'first twice')
})

t.test('messages over SASL_MESSAGE_BYTES_MAX are refused', async (t) => {
  const huge = buf(`n,,n=user,r=${'a'.repeat(SASL_MESSAGE_BYTES_MAX)}`)
  t.throws(() => serverFor({}).step(huge), /exceeds/)
  t.throws(() => parsePlain(Buffer.alloc(SASL_MESSAGE_BYTES_MAX + 1, 0x61)), /exceeds/)
  t.throws(() => new ScramClient({ username: 'u'.repeat(SASL_MESSAGE_BYTES_MAX), password: 'p' }), /exceeds/)
  const client = new ScramClient({ username: 'user', password: 'pencil', nonce: RFC.clientNonce })
  client.first()
  t.throws(() => client.final(buf(RFC.serverFirst + ',x=' + 'a'.repeat(SASL_MESSAGE_BYTES_MAX))), /exceeds/)
})

t.test('PLAIN encodes and parses authzid NUL authcid NUL passwd', async (t) => {
  t.same(encodePlain('alice', 'pw'), Buffer.from('\0alice\0pw'))
  t.same(encodePlain('alice', 'pw', 'alice'), Buffer.from('alice\0alice\0pw'))
  t.same(parsePlain(encodePlain('alice', 'p\u00e4ss')), { authzid: '', username: 'alice', password: 'p\u00e4ss' })
  t.same(parsePlain(buf('alice\0alice\0pw')), { authzid: 'alice', username: 'alice', password: 'pw' })
  t.throws(() => parsePlain(buf('bob\0alice\0pw')), /authorization identity differs/)
  t.throws(() => parsePlain(buf('alice\0pw')), SaslError)
  t.throws(() => parsePlain(buf('\0alice\0pw\0')), SaslError)
  t.throws(() => parsePlain(buf('\0\0pw')), SaslError)
  t.throws(() => parsePlain(Buffer.from([0, 0x61, 0, 0xff])), /UTF-8/)
  t.throws(() => encodePlain('al\0ice', 'pw'), SaslError)
})

t.test('verifyPassword checks a PLAIN password against the SCRAM credential', async (t) => {
  t.equal(verifyPassword(rfcCredential, 'pencil'), true)
  t.equal(verifyPassword(rfcCredential, 'pencil2'), false)
  const credential = newScramCredential('s3cret')
  t.equal(verifyPassword(credential, 's3cret'), true)
  t.equal(verifyPassword(credential, ''), false)
})

t.test('newScramCredential bounds its iterations and keeps no password', async (t) => {
  t.throws(() => newScramCredential('pw', SCRAM_ITERATIONS_MIN - 1), SaslError)
  t.throws(() => newScramCredential('pw', 16385), SaslError)
  t.throws(() => newScramCredential('pw', 4096.5), SaslError)
  const credential = newScramCredential('pw')
  t.equal(credential.iterations, 4096)
  t.equal(credential.salt.length, 32)
  t.same(Object.keys(credential).sort(), ['iterations', 'salt', 'serverKey', 'storedKey'])
  t.not(newScramCredential('pw').salt.toString('hex'), credential.salt.toString('hex'), 'salts are random')
})

t.test('client-final repeating the client nonce in front (librdkafka before 2.6.1) is accepted; no other nonce is', async (t) => {
  const { createHash, createHmac } = await import('node:crypto')
  const salted = saltPassword(RFC.password, RFC.salt, RFC.iterations)
  const clientKey = createHmac('sha256', salted).update('Client Key').digest()
  const storedKey = createHash('sha256').update(clientKey).digest()
  /** A client-final naming `nonce`, with the proof the password makes over it. */
  const finalWith = (nonce: string): Buffer => {
    const withoutProof = `c=biws,r=${nonce}`
    const signature = createHmac('sha256', storedKey).update(`${RFC.clientFirst.slice(3)},${RFC.serverFirst},${withoutProof}`).digest()
    const proof = Buffer.from(clientKey.map((b, i) => b ^ (signature[i] ?? 0)))
    return buf(`${withoutProof},p=${proof.toString('base64')}`)
  }
  const combined = RFC.clientNonce + RFC.serverNonce
  const attempt = (nonce: string): ScramServer => {
    const server = serverFor({ user: rfcCredential }, { nonce: RFC.serverNonce })
    server.step(buf(RFC.clientFirst))
    server.step(finalWith(nonce))
    return server
  }
  t.equal(attempt(combined).username, 'user', 'the RFC form')
  t.equal(attempt(RFC.clientNonce + combined).username, 'user', "librdkafka's form: client nonce + combined nonce")
  t.throws(() => attempt(`x${combined}`), /nonce does not match/, 'any other prefix')
  t.throws(() => attempt(RFC.clientNonce + RFC.clientNonce + combined), /nonce does not match/, 'the client nonce twice over')
  t.throws(() => attempt(RFC.clientNonce), /nonce does not match/, 'the client nonce alone')
  t.throws(() => attempt(`${combined}x`), /nonce does not match/, 'a suffix')
})
