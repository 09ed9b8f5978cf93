// Request timeouts of client/net/connection.ts against a scripted broker: a TCP server that answers
// only the requests the test tells it to. One timer serves every request in flight, so these
// check that each request is held to its own deadline, whichever order they come in.

import net from 'node:net'
import t from 'tap'
import { Connection } from '../../client/net/connection.js'
import { ConnectionError, RequestTimeoutError } from '../../client/errors.js'
import { ApiKey, decodeRequestHeader, encodeResponse } from '../../client/protocol/apis.js'
import { FrameDecoder } from '../../client/protocol/frame.js'
import { waitFor } from '../helpers/wait.js'

type Teardown = { teardown(fn: () => unknown): void }

/** Answers a request only when its correlation id is in `answer`; the others are left hanging. */
class ScriptedBroker {
  readonly answer = new Set<number>()
  readonly seen: number[] = []
  readonly #server: net.Server

  constructor() {
    this.#server = net.createServer((socket) => {
      const decoder = new FrameDecoder()
      socket.on('data', (chunk) => {
        for (const frame of decoder.push(chunk)) {
          const { correlationId } = decodeRequestHeader(frame)
          this.seen.push(correlationId)
          if (this.answer.has(correlationId)) socket.write(encodeResponse(ApiKey.ApiVersions, 0, correlationId, { errorCode: 0, apiKeys: [] }))
        }
      })
      socket.on('error', () => {})
    })
  }

  async listen(t: Teardown): Promise<number> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve))
    t.teardown(() => this.#server.close())
    return (this.#server.address() as net.AddressInfo).port
  }
}

function connect(t: Teardown, port: number, requestTimeoutMs: number): Connection {
  const c = new Connection({ host: '127.0.0.1', port, clientId: 'test', connectTimeoutMs: 2000, requestTimeoutMs, inflightRequestsMax: 8, frameBytesMax: 1 << 20 })
  t.teardown(() => c.close())
  return c
}

/** How a request ended, and after how long. */
async function outcome(p: Promise<unknown>): Promise<{ ok: boolean; err: Error | null; ms: number }> {
  const started = performance.now()
  try {
    await p
    return { ok: true, err: null, ms: performance.now() - started }
  } catch (err) {
    return { ok: false, err: err as Error, ms: performance.now() - started }
  }
}

t.test('an unanswered request times out at its own deadline, behind one with a later deadline', async (t) => {
  const broker = new ScriptedBroker()
  const c = connect(t, await broker.listen(t), 60_000)
  // Warm the connection up, so the timings below are not the connect's.
  broker.answer.add(0)
  await c.request(ApiKey.ApiVersions, {})
  const long = outcome(c.request(ApiKey.ApiVersions, {}, { timeoutMs: 30_000 }))
  const short = outcome(c.request(ApiKey.ApiVersions, {}, { timeoutMs: 300 }))
  const [l, s] = await Promise.all([long, short])
  t.ok(s.err instanceof RequestTimeoutError, `the short request timed out (${s.err?.name})`)
  t.ok(s.ms >= 290 && s.ms < 10_000, `at its own deadline, not the earlier request's (${Math.round(s.ms)} ms)`)
  t.ok(l.err instanceof ConnectionError, `the request before it failed with the connection, retriably (${l.err?.name})`)
  t.ok(l.ms < 10_000, 'without waiting for its own deadline')
})

t.test('requests answered in time do not time out, and a later one still gets its deadline', async (t) => {
  const broker = new ScriptedBroker()
  const c = connect(t, await broker.listen(t), 60_000)
  for (let id = 0; id < 5; id++) broker.answer.add(id)
  // Five answered requests with short deadlines: settling them must not leave a stale deadline
  // that fails the next request early, nor one that stops it from failing at all.
  for (let i = 0; i < 5; i++) t.ok((await outcome(c.request(ApiKey.ApiVersions, {}, { timeoutMs: 200 }))).ok, `request ${i} answered`)
  const late = await outcome(c.request(ApiKey.ApiVersions, {}, { timeoutMs: 400 }))
  t.ok(late.err instanceof RequestTimeoutError, `the unanswered one timed out (${late.err?.name})`)
  t.ok(late.ms >= 390 && late.ms < 10_000, `after its full timeout (${Math.round(late.ms)} ms)`)
  t.same(broker.seen, [0, 1, 2, 3, 4, 5], 'every request reached the broker')
})

t.test('after a timeout the connection reconnects and serves the next request', async (t) => {
  const broker = new ScriptedBroker()
  const c = connect(t, await broker.listen(t), 60_000)
  const first = await outcome(c.request(ApiKey.ApiVersions, {}, { timeoutMs: 200 }))
  t.ok(first.err instanceof RequestTimeoutError)
  broker.answer.add(1)
  const second = await outcome(c.request(ApiKey.ApiVersions, {}, { timeoutMs: 5_000 }))
  t.ok(second.ok, `answered on a new socket (${second.err?.message ?? 'ok'})`)
})

t.test('a timeout past what setTimeout takes is kept, not fired at once; a NaN one gets the default', async (t) => {
  const broker = new ScriptedBroker()
  const c = connect(t, await broker.listen(t), 300)
  const warnings: string[] = []
  const onWarning = (w: Error): void => void warnings.push(w.name)
  process.on('warning', onWarning)
  t.teardown(() => process.off('warning', onWarning))
  broker.answer.add(0)
  t.ok((await outcome(c.request(ApiKey.ApiVersions, {}, { timeoutMs: 5_000 }))).ok, 'an answered request completes')
  // Unanswered, with a 3e9 ms timeout (beyond 2^31 - 1): it must not time out at once.
  const far = outcome(c.request(ApiKey.ApiVersions, {}, { timeoutMs: 3e9 }))
  await waitFor(() => broker.seen.length === 2, { what: 'the far request to reach the broker', timeoutMs: 5_000 })
  t.equal(c.inflightRequests, 1, 'the far request is still waiting')
  t.same(warnings, [], 'no TimeoutOverflowWarning: the far deadline did not become a 1 ms timer')
  // A NaN timeout takes the connection's default (300 ms); it fails the far request with the connection.
  const nan = await outcome(c.request(ApiKey.ApiVersions, {}, { timeoutMs: Number.NaN }))
  t.ok(nan.err instanceof RequestTimeoutError, `the NaN-timeout request timed out (${nan.err?.name})`)
  t.ok(nan.ms >= 290 && nan.ms < 10_000, `after the default timeout (${Math.round(nan.ms)} ms)`)
  t.ok((await far).err instanceof ConnectionError, 'the far request failed with the connection')
})
