import t from 'tap'
import { FrameDecoder, FrameReader, readRequestHeader, writeRequestHeader, requestHeaderBytes } from '../../../client/protocol/frame.js'
import { StrandProtocolError } from '../../../client/protocol/errors.js'
import { Rng, testSeed } from '../../helpers/random.js'

const seed = testSeed()

function frame(body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(4 + body.length)
  out.writeInt32BE(body.length, 0)
  body.copy(out, 4)
  return out
}

t.test(`frames survive any chunking (seed ${seed})`, async (t) => {
  const rng = new Rng(seed)
  for (let round = 0; round < 200; round++) {
    const bodies = Array.from({ length: rng.int(1, 20) }, () => rng.bytes(rng.bool(0.1) ? rng.int(0, 70_000) : rng.int(0, 50)))
    const stream = Buffer.concat(bodies.map(frame))
    const decoder = new FrameDecoder({ frameBytesMax: 100_000 })
    const got: Buffer[] = []
    let pos = 0
    while (pos < stream.length) {
      const n = rng.bool(0.3) ? 1 : rng.int(1, 9000)
      got.push(...decoder.push(stream.subarray(pos, pos + n)))
      pos += n
    }
    if (got.length !== bodies.length || got.some((g, i) => !g.equals(bodies[i] as Buffer))) {
      t.fail(`round ${round} differs (seed ${seed})`)
      return
    }
    t.equal(decoder.bufferedBytes, 0)
  }
})

t.test('a frame inside one chunk is returned without copying', async (t) => {
  const body = Buffer.from('hello world')
  const chunk = Buffer.concat([frame(body), frame(Buffer.from('x'))])
  const [first, second] = new FrameDecoder().push(chunk)
  t.equal(first?.toString(), 'hello world')
  t.equal(second?.toString(), 'x')
  t.equal(first?.buffer, chunk.buffer, 'a view of the received chunk')
})

t.test('negative and oversized sizes are refused before buffering', async (t) => {
  const negative = Buffer.alloc(4)
  negative.writeInt32BE(-1, 0)
  t.throws(() => new FrameDecoder().push(negative), { code: 'INVALID_REQUEST' })
  const huge = Buffer.alloc(4)
  huge.writeInt32BE(1025, 0)
  t.throws(() => new FrameDecoder({ frameBytesMax: 1024 }).push(huge), StrandProtocolError)
  const d = new FrameDecoder({ frameBytesMax: 1024 })
  const exact = Buffer.alloc(4)
  exact.writeInt32BE(1024, 0)
  t.same(d.push(exact), [], 'exactly the max is fine; waits for the body')
})

t.test('frames before a bad size in the same chunk are returned; the failure then ends the stream', async (t) => {
  const d = new FrameDecoder({ frameBytesMax: 16 })
  const good = Buffer.from([0, 0, 0, 2, 7, 8])
  const bad = Buffer.from([0, 0, 1, 0, 1, 2, 3])
  const frames = d.push(Buffer.concat([good, good, bad]))
  t.same(frames.map((f) => [...f]), [[7, 8], [7, 8]], 'the two complete frames come out, to be answered')
  t.type(d.failure, StrandProtocolError, 'the bad prefix is kept as the failure')
  t.throws(() => d.push(Buffer.from([4])), StrandProtocolError, 'and every later push throws it')
  const fresh = new FrameDecoder({ frameBytesMax: 16 })
  t.throws(() => fresh.push(bad), StrandProtocolError, 'a bad prefix with nothing before it throws at once, as before')
  t.equal(fresh.failure, null)
})

t.test('request headers round-trip, including a null client id; short headers are INVALID_REQUEST', async (t) => {
  for (const clientId of ['app', null, 'é✓']) {
    const buf = Buffer.alloc(4 + requestHeaderBytes(clientId) + 3)
    const bodyOffset = writeRequestHeader(buf, { apiKey: 3, apiVersion: 1, correlationId: -5, clientId })
    const h = readRequestHeader(buf.subarray(4))
    t.same(h, { apiKey: 3, apiVersion: 1, correlationId: -5, clientId, bodyOffset: bodyOffset - 4 })
  }
  for (let len = 0; len < 10; len++) t.throws(() => readRequestHeader(Buffer.alloc(len)), { code: 'INVALID_REQUEST' }, `header of ${len} bytes`)
  const lying = Buffer.alloc(12)
  lying.writeInt16BE(100, 8)
  t.throws(() => readRequestHeader(lying), { code: 'INVALID_REQUEST' }, 'client id longer than the frame')
})

t.test("hasPartialFrame: from a frame's first byte until it completes, for the read deadline", async (t) => {
  const d = new FrameDecoder()
  t.equal(d.hasPartialFrame, false, 'nothing received')
  const stream = Buffer.concat([frame(Buffer.from('one')), frame(Buffer.from('two'))])
  d.push(stream.subarray(0, 2))
  t.equal(d.hasPartialFrame, true, 'half a size prefix')
  d.push(stream.subarray(2, 4))
  t.equal(d.hasPartialFrame, true, 'a size prefix, no body yet')
  t.same(d.push(stream.subarray(4, 9)).map(String), ['one'])
  t.equal(d.hasPartialFrame, true, 'one complete, the next begun in the same chunk')
  t.same(d.push(stream.subarray(9)).map(String), ['two'])
  t.equal(d.hasPartialFrame, false, 'all complete')
  t.same(d.push(frame(Buffer.alloc(0))), [Buffer.alloc(0)], 'an empty frame completes with its prefix')
  t.equal(d.hasPartialFrame, false)
})

t.test('a frame trickled byte by byte comes out whole (small chunks are merged as they arrive)', async (t) => {
  const body = Buffer.from(Array.from({ length: 20_000 }, (_, i) => i % 251))
  const stream = frame(body)
  const d = new FrameDecoder()
  const got: Buffer[] = []
  for (let i = 0; i < stream.length; i++) got.push(...d.push(stream.subarray(i, i + 1)))
  t.equal(got.length, 1)
  t.ok(got[0]?.equals(body))
  t.equal(d.bufferedBytes, 0)
})

/** Feeds `stream` to `reader` as a socket with `onread` would: each read fills at most the buffer next() gives. */
function readAll(reader: FrameReader, stream: Buffer, readBytes: () => number): Buffer[] {
  const got: Buffer[] = []
  let pos = 0
  while (pos < stream.length) {
    const into = reader.next()
    const n = Math.min(readBytes(), into.length, stream.length - pos)
    stream.copy(into, 0, pos, pos + n)
    pos += n
    got.push(...reader.read(n))
  }
  return got
}

t.test(`FrameReader: frames survive any read sizes, and each is its own buffer (seed ${seed})`, async (t) => {
  const rng = new Rng(seed)
  for (let round = 0; round < 200; round++) {
    const bodies = Array.from({ length: rng.int(1, 20) }, () => rng.bytes(rng.bool(0.1) ? rng.int(0, 70_000) : rng.int(0, 50)))
    const stream = Buffer.concat(bodies.map(frame))
    const reader = new FrameReader({ frameBytesMax: 100_000, stagingBytes: rng.int(8, 70_000) })
    const got = readAll(reader, stream, () => (rng.bool(0.3) ? rng.int(1, 3) : rng.int(1, 90_000)))
    // Compared only after the whole stream was read: a frame handed out must not share the
    // staging buffer that later reads overwrite.
    if (got.length !== bodies.length || got.some((g, i) => !g.equals(bodies[i] as Buffer))) {
      t.fail(`round ${round} differs (seed ${seed})`)
      return
    }
    t.equal(reader.next().length > 0, true)
  }
})

t.test('FrameReader: a large frame is read in place, into the buffer it is returned in', async (t) => {
  const body = Buffer.alloc(200_000, 7)
  const reader = new FrameReader({ stagingBytes: 1024 })
  const stream = frame(body)
  const first = reader.next()
  stream.copy(first, 0, 0, first.length)
  t.same(reader.read(first.length), [])
  const rest = reader.next()
  t.equal(rest.length, stream.length - first.length, 'the next read goes straight into the rest of the frame')
  stream.copy(rest, 0, first.length)
  const [got] = reader.read(rest.length)
  t.equal(got?.buffer, rest.buffer, 'the frame is the buffer the read went into')
  t.ok(got?.equals(body))
})

t.test('FrameReader: negative and oversized sizes are CORRUPT_MESSAGE', async (t) => {
  for (const size of [-1, 1025]) {
    const reader = new FrameReader({ frameBytesMax: 1024 })
    const into = reader.next()
    into.writeInt32BE(size, 0)
    t.throws(() => reader.read(4), { code: 'CORRUPT_MESSAGE' })
  }
  const reader = new FrameReader({ frameBytesMax: 1024 })
  const into = reader.next()
  into.writeInt32BE(1024, 0)
  t.same(reader.read(4), [], 'exactly the max is fine; waits for the body')
  t.equal(reader.next().length, 1024)
})
