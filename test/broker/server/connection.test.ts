// The request read deadline and connection limits of broker/server on an in-process Server with a
// stub handler: a frame must arrive whole within request.read.timeout.ms of its first byte (a
// client trickling bytes cannot hold a connection), time the broker spends not reading does not
// count, and connections past max.connections are closed on arrival while closed ones free slots.
// The deadline's timers are the test's (ManualTimers): time moves only when a test advances it,
// and only once the server has read every byte sent so far, so each deadline is exact.

import net from 'node:net'
import { once } from 'node:events'
import { pino } from 'pino'
import t from 'tap'
import { FrameDecoder } from '../../../client/protocol/frame.js'
import { Server, type ServerOptions } from '../../../broker/server/server.js'
import type { Teardown } from '../../helpers/broker-process.js'
import { ManualTimers } from '../../helpers/timers.js'
import { waitFor } from '../../helpers/wait.js'

const READ_TIMEOUT_MS = 300
/** What the warn line of a connection closed at its read deadline says. */
const DEADLINE_LINE = 'request.read.timeout.ms'

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
  timers: ManualTimers
  /** Resolves once the server's decoders have been given `bytes` bytes in all. */
  read(bytes: number): Promise<void>
  /** Requests the handler has been called with. */
  handled(): number
  /** The read deadline closed a connection: its warn line is written before the close. */
  deadlineFired(): boolean
}

async function start(t: Teardown, options: Partial<ServerOptions> & { handlerGate?: () => Promise<void>; frameBytesMax?: number } = {}): Promise<Started> {
  const logs: Array<{ msg: string; remote?: string }> = []
  const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as { msg: string }) })
  const timers = new ManualTimers()
  let received = 0
  let handled = 0
  const { handlerGate, ...serverOptions } = options
  const server = new Server({
    host: '127.0.0.1',
    port: 0,
    maxConnections: 100,
    inflightRequestsMax: 10,
    idleTimeoutMs: 60_000,
    requestReadTimeoutMs: READ_TIMEOUT_MS,
    timers,
    logger,
    frameBytesMax: 1 << 20,
    tls: null,
    saslRequired: false,
    saslAuthenticationTimeoutMs: 10_000,
    // The real decoder, watched: how many bytes the server has read is what a test waits for.
    newDecoder: (frameBytesMax) => {
      const decoder = new FrameDecoder({ frameBytesMax: options.frameBytesMax ?? frameBytesMax })
      const push = decoder.push.bind(decoder)
      decoder.push = (chunk: Buffer) => {
        received += chunk.length
        return push(chunk)
      }
      return decoder
    },
    handle: async (body) => {
      handled++
      if (handlerGate !== undefined) await handlerGate()
      const out = Buffer.allocUnsafe(4 + body.length)
      out.writeInt32BE(body.length, 0)
      body.copy(out, 4)
      return out
    },
    ...serverOptions,
  })
  const { port } = await server.listen()
  t.teardown(() => server.close())
  return {
    server,
    port,
    logs,
    timers,
    read: async (bytes) => {
      await waitFor(() => received >= bytes, { what: `the server to read ${bytes} bytes` })
    },
    handled: () => handled,
    deadlineFired: () => logs.some((l) => l.msg.includes(DEADLINE_LINE)),
  }
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
  const s = await start(t)
  const c = await new Client(s.port).connected()
  const bytes = frame('x'.repeat(1000))
  // One byte every 20 ms: 14 of them take 280 ms, within the deadline.
  let sent = 0
  for (; sent < 14; sent++) {
    c.socket.write(bytes.subarray(sent, sent + 1))
    await s.read(sent + 1)
    s.timers.advance(20)
  }
  t.notOk(s.deadlineFired(), `open ${s.timers.nowMs} ms after the frame's first byte`)
  c.socket.write(bytes.subarray(sent, sent + 1))
  await s.read(sent + 1)
  s.timers.advance(20)
  t.ok(s.deadlineFired(), `closed at ${s.timers.nowMs} ms (deadline ${READ_TIMEOUT_MS} ms) although bytes kept coming`)
  await waitFor(() => c.closed, { what: 'the client to see the close' })
  const warn = s.logs.find((l) => l.msg.includes(DEADLINE_LINE))
  t.equal(warn?.remote, '127.0.0.1', 'the warn line names the remote address')
})

t.test('the deadline runs per frame: many frames over a long time are fine, each sent in pieces in time', async (t) => {
  const s = await start(t)
  const c = await new Client(s.port).connected()
  let sent = 0
  for (let i = 0; i < 8; i++) {
    const bytes = frame(`request-${i}`)
    c.socket.write(bytes.subarray(0, 5))
    await s.read((sent += 5))
    s.timers.advance(READ_TIMEOUT_MS - 1)
    c.socket.write(bytes.subarray(5))
    await s.read((sent += bytes.length - 5))
    s.timers.advance(READ_TIMEOUT_MS - 1)
  }
  await waitFor(() => c.replies.length === 8, { what: 'eight replies' })
  t.notOk(s.deadlineFired(), `open after ${s.timers.nowMs} ms: only a frame's own time counts`)
  t.notOk(c.closed)
  t.same(c.replies, Array.from({ length: 8 }, (_, i) => `request-${i}`))
  t.equal(s.timers.pending, 0, 'no deadline is armed between frames')
  c.socket.destroy()
})

t.test('a frame completing a chunk that starts the next gives the next its own full period', async (t) => {
  const s = await start(t)
  const c = await new Client(s.port).connected()
  const first = frame('first')
  const second = frame('second')
  c.socket.write(first.subarray(0, 3))
  await s.read(3)
  s.timers.advance(READ_TIMEOUT_MS * 0.7)
  // Completes the first frame and starts the second in one write.
  c.socket.write(Buffer.concat([first.subarray(3), second.subarray(0, 3)]))
  await s.read(first.length + 3)
  s.timers.advance(READ_TIMEOUT_MS * 0.7)
  t.notOk(s.deadlineFired(), '1.4 deadlines after the first frame began, 0.7 after the second did')
  s.timers.advance(READ_TIMEOUT_MS * 0.3)
  t.ok(s.deadlineFired(), 'and the second is closed at its own deadline')
  await waitFor(() => c.closed, { what: 'the close' })
  t.same(c.replies, ['first'], 'the first frame was answered')
})

t.test('time the broker is not reading (backpressure) does not count against the client', async (t) => {
  // One request in flight at a time, held by the handler past the deadline: the second frame's
  // start arrives with the first, and waits while the broker has paused reading.
  let release: () => void = () => undefined
  const gate = new Promise<void>((resolve) => (release = resolve))
  const s = await start(t, { inflightRequestsMax: 1, handlerGate: () => gate })
  const c = await new Client(s.port).connected()
  const first = frame('first')
  const second = frame('second')
  c.socket.write(Buffer.concat([first, second.subarray(0, 3)]))
  await s.read(first.length + 3)
  await waitFor(() => s.handled() === 1, { what: 'the first request in the handler' })
  s.timers.advance(READ_TIMEOUT_MS * 1.5)
  t.notOk(s.deadlineFired(), 'the deadline passed while the broker was not reading: it waits')
  release()
  await waitFor(() => c.replies.length === 1, { what: 'the first reply' })
  s.timers.advance(READ_TIMEOUT_MS - 1)
  t.notOk(s.deadlineFired(), 'reading again, the frame gets a full period from then')
  c.socket.write(second.subarray(3))
  await waitFor(() => c.replies.length === 2, { what: 'two replies' })
  t.notOk(c.closed, 'still open')
  c.socket.destroy()
})

t.test('a huge declared size, trickled, is closed at the deadline without the frame being allocated', async (t) => {
  const s = await start(t, { frameBytesMax: 64 << 20 })
  const c = await new Client(s.port).connected()
  const prefix = Buffer.alloc(4)
  prefix.writeInt32BE(64 << 20, 0)
  const before = process.memoryUsage().arrayBuffers
  c.socket.write(prefix)
  await s.read(4)
  for (let i = 0; i < 100; i++) {
    c.socket.write(Buffer.from([i]))
    await s.read(5 + i)
    s.timers.advance(2)
  }
  const grownBytes = process.memoryUsage().arrayBuffers - before
  t.ok(grownBytes < 8 << 20, `buffers grew ${grownBytes} bytes for a declared 64 MiB frame`)
  t.notOk(s.deadlineFired())
  s.timers.advance(READ_TIMEOUT_MS - 200)
  t.ok(s.deadlineFired(), 'closed at the deadline')
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
