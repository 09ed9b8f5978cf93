// The request read deadline and connection limits of broker/server on an in-process Server with a
// stub handler: a frame must arrive whole within request.read.timeout.ms of its first byte (a
// client trickling bytes cannot hold a connection), time the broker spends not reading does not
// count, and connections past max.connections are closed on arrival while closed ones free slots.

import net from 'node:net'
import { once } from 'node:events'
import { setTimeout as delay } from 'node:timers/promises'
import { pino } from 'pino'
import t from 'tap'
import { FrameDecoder } from '../../../client/protocol/frame.js'
import { Server, type ServerOptions } from '../../../broker/server/server.js'
import type { Teardown } from '../../helpers/broker-process.js'
import { waitFor } from '../../helpers/wait.js'

const READ_TIMEOUT_MS = 300

/** A frame whose body is `body`; the stub handler answers with the same bytes. */
function frame(body: string): Buffer {
  const b = Buffer.from(body)
  const out = Buffer.allocUnsafe(4 + b.length)
  out.writeInt32BE(b.length, 0)
  b.copy(out, 4)
  return out
}

interface Started {
  server: Server
  port: number
  logs: Array<{ msg: string; remote?: string }>
}

async function start(t: Teardown, options: Partial<ServerOptions> & { handlerDelayMs?: number } = {}): Promise<Started> {
  const logs: Array<{ msg: string; remote?: string }> = []
  const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as { msg: string }) })
  const server = new Server({
    host: '127.0.0.1',
    port: 0,
    maxConnections: 100,
    inflightRequestsMax: 10,
    idleTimeoutMs: 60_000,
    requestReadTimeoutMs: READ_TIMEOUT_MS,
    logger,
    frameBytesMax: 1 << 20,
    tls: null,
    saslRequired: false,
    saslAuthenticationTimeoutMs: 10_000,
    newDecoder: (frameBytesMax) => new FrameDecoder({ frameBytesMax }),
    handle: async (body) => {
      if (options.handlerDelayMs !== undefined) await delay(options.handlerDelayMs)
      const out = Buffer.allocUnsafe(4 + body.length)
      out.writeInt32BE(body.length, 0)
      body.copy(out, 4)
      return out
    },
    ...options,
  })
  const { port } = await server.listen()
  t.teardown(() => server.close())
  return { server, port, logs }
}

class Client {
  readonly socket: net.Socket
  readonly replies: string[] = []
  closed = false
  readonly #decoder = new FrameDecoder()
  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1')
    this.socket.setNoDelay(true)
    this.socket.on('data', (c: Buffer) => this.replies.push(...this.#decoder.push(c).map((f) => f.toString())))
    this.socket.on('close', () => (this.closed = true))
    this.socket.on('error', () => undefined)
  }
  async connected(): Promise<this> {
    await once(this.socket, 'connect')
    return this
  }
}

t.test('a frame trickled byte by byte is closed at the read deadline, with a warn line naming the peer', async (t) => {
  const { port, logs } = await start(t)
  const c = await new Client(port).connected()
  const bytes = frame('x'.repeat(1000))
  const started = performance.now()
  for (let i = 0; i < bytes.length && !c.closed; i++) {
    c.socket.write(bytes.subarray(i, i + 1))
    await delay(20)
  }
  const elapsedMs = performance.now() - started
  t.ok(c.closed, 'the broker closed the trickling connection')
  t.ok(elapsedMs >= READ_TIMEOUT_MS - 20 && elapsedMs < READ_TIMEOUT_MS * 4, `closed after ${Math.round(elapsedMs)} ms (deadline ${READ_TIMEOUT_MS} ms) although bytes kept coming`)
  const warn = logs.find((l) => l.msg.includes('request.read.timeout.ms'))
  t.equal(warn?.remote, '127.0.0.1', 'the warn line names the remote address')
})

t.test('the deadline runs per frame: many frames over a long time are fine, each sent in pieces in time', async (t) => {
  const { port } = await start(t)
  const c = await new Client(port).connected()
  for (let i = 0; i < 8; i++) {
    const bytes = frame(`request-${i}`)
    c.socket.write(bytes.subarray(0, 5))
    await delay(READ_TIMEOUT_MS / 3)
    c.socket.write(bytes.subarray(5))
    await delay(READ_TIMEOUT_MS / 3)
  }
  await waitFor(() => c.replies.length === 8, { what: 'eight replies' })
  t.notOk(c.closed, `open after ${Math.round((8 * 2 * READ_TIMEOUT_MS) / 3)} ms: only a frame's own time counts`)
  t.same(c.replies, Array.from({ length: 8 }, (_, i) => `request-${i}`))
  c.socket.destroy()
})

t.test('a frame completing a chunk that starts the next gives the next its own full period', async (t) => {
  const { port } = await start(t)
  const c = await new Client(port).connected()
  const first = frame('first')
  const second = frame('second')
  c.socket.write(first.subarray(0, 3))
  await delay(READ_TIMEOUT_MS * 0.7)
  // Completes the first frame and starts the second in one write.
  c.socket.write(Buffer.concat([first.subarray(3), second.subarray(0, 3)]))
  await delay(READ_TIMEOUT_MS * 0.7)
  c.socket.write(second.subarray(3))
  await waitFor(() => c.replies.length === 2, { what: 'two replies' })
  t.notOk(c.closed)
  c.socket.destroy()
})

t.test('time the broker is not reading (backpressure) does not count against the client', async (t) => {
  // One request in flight at a time, each taking longer than the deadline: the second frame's
  // start arrives with the first, and waits unread-in-full while the broker has paused reading.
  const { port } = await start(t, { inflightRequestsMax: 1, handlerDelayMs: READ_TIMEOUT_MS * 2 })
  const c = await new Client(port).connected()
  const second = frame('second')
  c.socket.write(Buffer.concat([frame('first'), second.subarray(0, 3)]))
  await delay(READ_TIMEOUT_MS * 1.5)
  c.socket.write(second.subarray(3))
  await waitFor(() => c.replies.length === 2, { what: 'two replies' })
  t.notOk(c.closed, 'still open')
  c.socket.destroy()
})

t.test('a huge declared size, trickled, is closed at the deadline without the frame being allocated', async (t) => {
  const { port } = await start(t, { newDecoder: () => new FrameDecoder({ frameBytesMax: 64 << 20 }) })
  const c = await new Client(port).connected()
  const prefix = Buffer.alloc(4)
  prefix.writeInt32BE(64 << 20, 0)
  const before = process.memoryUsage().arrayBuffers
  c.socket.write(prefix)
  for (let i = 0; i < 100 && !c.closed; i++) {
    c.socket.write(Buffer.from([i]))
    await delay(10)
  }
  const grownBytes = process.memoryUsage().arrayBuffers - before
  t.ok(grownBytes < 8 << 20, `buffers grew ${grownBytes} bytes for a declared 64 MiB frame`)
  await waitFor(() => c.closed, { what: 'the deadline closes it' })
})

t.test('connections past max.connections are closed on arrival; closed ones free their slots', async (t) => {
  const { server, port, logs } = await start(t, { maxConnections: 5 })
  const held = await Promise.all(Array.from({ length: 5 }, () => new Client(port).connected()))
  await waitFor(() => server.connectionCount === 5, { what: 'five connections accepted' })
  const flood = await Promise.all(Array.from({ length: 200 }, () => new Client(port).connected()))
  await waitFor(() => flood.every((c) => c.closed), { what: 'every extra connection closed' })
  t.equal(server.connectionCount, 5, 'the limit held')
  held[0]!.socket.write(frame('still served'))
  await waitFor(() => held[0]!.replies.length === 1, { what: 'a held connection is still served' })
  const refusalLines = logs.filter((l) => l.msg.includes('max.connections reached')).length
  t.ok(refusalLines >= 1 && refusalLines <= 3, `${refusalLines} log lines for 200 refusals`)
  for (const c of held.slice(0, 3)) c.socket.destroy()
  await waitFor(() => server.connectionCount === 2, { what: 'closed connections leave the count' })
  const fresh = await Promise.all(Array.from({ length: 3 }, () => new Client(port).connected()))
  for (const c of fresh) c.socket.write(frame('new'))
  await waitFor(() => fresh.every((c) => c.replies.length === 1), { what: 'the freed slots serve new connections' })
  t.ok(fresh.every((c) => !c.closed))
  for (const c of [...held, ...fresh]) c.socket.destroy()
})
