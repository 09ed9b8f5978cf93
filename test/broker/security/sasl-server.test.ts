// The broker's SASL state machine (SaslServer) on one session: PLAIN offered only over TLS unless
// allowed, success sets the principal and lifts the pre-authentication frame limit, a failure is
// SASL_AUTHENTICATION_FAILED with the connection closed after it, and out-of-order messages are
// ILLEGAL_SASL_STATE. The last test is a review finding: through a real listener, a client that
// pipelines several PLAIN attempts gets every one of them checked on one connection.

import { once } from 'node:events'
import { Writable } from 'node:stream'
import net from 'node:net'
import { pino } from 'pino'
import t from 'tap'
import { ApiKey, decodeResponse, encodeRequest } from '../../../client/protocol/apis.js'
import { errorCodeOf } from '../../../client/protocol/errors.js'
import { FrameDecoder } from '../../../client/protocol/frame.js'
import { encodePlain, newScramCredential, type ScramCredential } from '../../../client/protocol/scram.js'
import { Authorizer } from '../../../broker/security/authorizer.js'
import { SaslServer } from '../../../broker/security/sasl-server.js'
import type { Session } from '../../../broker/security/session.js'
import type { HandlerContext } from '../../../broker/server/handlers/context.js'
import { createDispatcher } from '../../../broker/server/dispatch.js'
import { Server } from '../../../broker/server/server.js'

const ILLEGAL = errorCodeOf('ILLEGAL_SASL_STATE')
const FAILED = errorCodeOf('SASL_AUTHENTICATION_FAILED')
const UNSUPPORTED = errorCodeOf('UNSUPPORTED_SASL_MECHANISM')
const PASSWORD = 'correct horse'
const ALICE: ScramCredential = newScramCredential(PASSWORD)
/** Long enough that a second guess answered within it must have been checked on the same connection. */
const FAILED_DELAY_MS = 300

function saslServer(options: { allowPlaintextPasswords?: boolean; failedAuthenticationDelayMs?: number; logLines?: string[] } = {}): SaslServer {
  const lines = options.logLines
  const logger = lines === undefined ? pino({ level: 'silent' }) : pino({ level: 'debug' }, new Writable({ write: (chunk: Buffer, _enc, done) => void (lines.push(chunk.toString('utf8')), done()) }))
  return new SaslServer({
    mechanisms: ['PLAIN', 'SCRAM-SHA-256'],
    allowPlaintextPasswords: options.allowPlaintextPasswords ?? true,
    failedAuthenticationDelayMs: options.failedAuthenticationDelayMs ?? 0,
    lookup: (u) => (u === 'alice' ? ALICE : undefined),
    interBroker: null,
    logger,
  })
}

function session(options: { tls?: boolean } = {}): Session & { liftedFrameLimit: number } {
  const s = {
    peer: '/127.0.0.1',
    host: '127.0.0.1',
    tls: options.tls ?? false,
    principal: 'User:ANONYMOUS',
    authenticated: false,
    sasl: null,
    saslState: 'none' as const,
    closeAfterResponse: false,
    liftedFrameLimit: 0,
    onAuthenticated: () => void s.liftedFrameLimit++,
  }
  return s
}

t.test('PLAIN is offered over TLS, or in the clear only with allow.plaintext.passwords', async (t) => {
  const strict = saslServer({ allowPlaintextPasswords: false })
  t.same(strict.offered(session()), ['SCRAM-SHA-256'])
  t.same(strict.offered(session({ tls: true })), ['PLAIN', 'SCRAM-SHA-256'])
  const s = session()
  t.equal(strict.handshake(s, { mechanism: 'PLAIN' }).errorCode, UNSUPPORTED, 'asking for it anyway is refused')
  t.equal(s.sasl, null)
})

t.test('a right PLAIN password authenticates once; the session then refuses another exchange', async (t) => {
  const server = saslServer()
  const s = session()
  t.equal(server.handshake(s, { mechanism: 'PLAIN' }).errorCode, 0)
  const res = await server.authenticate(s, { authBytes: encodePlain('alice', PASSWORD) })
  t.equal(res.errorCode, 0)
  t.equal(s.principal, 'User:alice')
  t.ok(s.authenticated)
  t.equal(s.liftedFrameLimit, 1, 'the frame limit is lifted once')
  t.equal(s.closeAfterResponse, false)
  t.equal(server.handshake(s, { mechanism: 'PLAIN' }).errorCode, ILLEGAL, 'no second handshake')
  t.ok(s.closeAfterResponse, 'and the connection closes after saying so')
})

t.test('a wrong password and an unknown user fail alike, and close the connection', async (t) => {
  const server = saslServer()
  const answers: Array<{ code: number; message: string | null }> = []
  for (const authBytes of [encodePlain('alice', 'wrong'), encodePlain('nobody', 'wrong')]) {
    const s = session()
    server.handshake(s, { mechanism: 'PLAIN' })
    const res = await server.authenticate(s, { authBytes })
    answers.push({ code: res.errorCode, message: res.errorMessage })
    t.equal(s.principal, 'User:ANONYMOUS')
    t.notOk(s.authenticated)
    t.ok(s.closeAfterResponse)
  }
  t.equal(answers[0]?.code, FAILED)
  t.same(answers[0], answers[1], 'the answer does not tell a wrong password from an unknown user')
  t.notMatch(answers[0]?.message ?? '', /wrong|correct horse/, 'the message never echoes a password')
})

t.test('SaslAuthenticate without a handshake is ILLEGAL_SASL_STATE and closes', async (t) => {
  const server = saslServer()
  const s = session()
  const res = await server.authenticate(s, { authBytes: encodePlain('alice', PASSWORD) })
  t.equal(res.errorCode, ILLEGAL)
  t.notOk(s.authenticated)
  t.ok(s.closeAfterResponse)
})

/** A listener with only what pre-authentication requests need: the SASL server and an authorizer. */
async function listen(t: { teardown(fn: () => unknown): void }): Promise<number> {
  const sasl = saslServer({ failedAuthenticationDelayMs: FAILED_DELAY_MS })
  const authorizer = new Authorizer({ superUsers: [], enabled: true, clusterActionEnforced: true, source: { aclVersion: 0, acls: () => [] } })
  const ctx = { sasl, authorizer } as unknown as HandlerContext
  const server = new Server({
    host: '127.0.0.1',
    port: 0,
    maxConnections: 10,
    inflightRequestsMax: 100,
    idleTimeoutMs: 10_000,
    requestReadTimeoutMs: 10_000,
    logger: pino({ level: 'silent' }),
    frameBytesMax: 1 << 20,
    newDecoder: (frameBytesMax) => new FrameDecoder({ frameBytesMax }),
    handle: createDispatcher(ctx),
    tls: null,
    saslRequired: true,
    saslAuthenticationTimeoutMs: 10_000,
  })
  const { port } = await server.listen()
  t.teardown(() => server.close())
  return port
}


// One guess per connection: frames pipelined behind a failed SaslAuthenticate are not checked (a
// wrong password followed by [Handshake, right password] in one write must not authenticate;
// found in review, where every pipelined password used to be checked).
t.test('pipelined guesses after a failed SaslAuthenticate are not checked', async (t) => {
  const port = await listen(t)
  const socket = net.connect({ host: '127.0.0.1', port })
  t.teardown(() => socket.destroy())
  // The broker may reset the connection while frames it will not read are still in flight.
  socket.on('error', () => {})
  await once(socket, 'connect')
  const guesses = ['guess-1', 'guess-2', PASSWORD, 'guess-4']
  const frames: Buffer[] = []
  let correlationId = 0
  for (const guess of guesses) {
    frames.push(encodeRequest(ApiKey.SaslHandshake, 0, correlationId++, 'attacker', { mechanism: 'PLAIN' }))
    frames.push(encodeRequest(ApiKey.SaslAuthenticate, 0, correlationId++, 'attacker', { authBytes: encodePlain('alice', guess) }))
  }
  const started = performance.now()
  socket.write(Buffer.concat(frames))

  const decoder = new FrameDecoder({ frameBytesMax: 1 << 20 })
  const answers: string[] = []
  socket.on('data', (chunk: Buffer) => {
    for (const frame of decoder.push(chunk)) {
      const id = frame.readInt32BE(0)
      const key = id % 2 === 0 ? ApiKey.SaslHandshake : ApiKey.SaslAuthenticate
      answers.push(`${key === ApiKey.SaslHandshake ? 'handshake' : `auth(${guesses[(id - 1) / 2]})`}=${decodeResponse(key, 0, frame).body.errorCode}`)
    }
  })
  await once(socket, 'close')
  const elapsedMs = performance.now() - started
  t.comment(`answers: ${answers.join(' ')} in ${Math.round(elapsedMs)} ms`)
  t.same(answers.slice(0, 2), ['handshake=0', `auth(guess-1)=${FAILED}`], 'the first guess fails')
  t.notOk(answers.includes(`auth(${PASSWORD})=0`), 'the right password, pipelined behind a wrong one on the same connection, must not be checked (it is, and answered 0)')
  t.ok(answers.length <= 2 || answers[2] === `handshake=${ILLEGAL}`, 'anything after the failure is refused or unanswered')
})

// A client that leaves out PLAIN's empty authzid sends `user NUL password`: the log of the failure
// must not take the second field (the password) for the user name (found in review).
t.test('a malformed PLAIN message does not put its password in the log', async (t) => {
  const logLines: string[] = []
  const server = saslServer({ logLines })
  const s = session()
  server.handshake(s, { mechanism: 'PLAIN' })
  const res = await server.authenticate(s, { authBytes: Buffer.from(`alice\u0000${PASSWORD}`, 'utf8') })
  t.equal(res.errorCode, FAILED, 'the malformed message is refused')
  t.ok(logLines.length > 0, 'and the failure is logged')
  t.notOk(logLines.some((l) => l.includes(PASSWORD)), `the log does not hold the password: ${logLines.join('')}`)
})
