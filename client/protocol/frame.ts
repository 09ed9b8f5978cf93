// Frames and headers: the only hand-written part of the wire. Everything inside a frame after the
// header is an Avro body (see apis.ts).
//
//   frame            = int32 size, then `size` bytes of body
//   request header   = int16 apiKey, int16 apiVersion, int32 correlationId, string clientId
//                      (string = int16 length + UTF-8 bytes; length -1 = null)
//   response header  = int32 correlationId

import { StrandProtocolError } from './errors.js'
import { Reader } from './primitives.js'

export const SIZE_PREFIX_BYTES = 4
/** Default `max.request.bytes`. */
export const FRAME_BYTES_MAX_DEFAULT = 100 * 1024 * 1024
/** A client id longer than this is refused: it is logged and kept per connection. */
export const CLIENT_ID_BYTES_MAX = 1024
/**
 * Received chunks smaller than this are copied onto the previous small chunk instead of kept as
 * their own Buffer. Each Buffer costs on the order of 100 bytes of heap besides its bytes, so a
 * peer trickling a frame in 1-10 byte TCP segments made a partial frame cost ~25x its size
 * (measured: 3.7 MB buffered held 84 MB of heap). Merging keeps the overhead to a few percent;
 * the copy is at most this many bytes per chunk, and large chunks are never copied.
 */
export const COALESCE_CHUNK_BYTES = 4096

export interface RequestHeader {
  apiKey: number
  apiVersion: number
  correlationId: number
  clientId: string | null
  /** Where the body starts in the frame body. */
  bodyOffset: number
}

export function requestHeaderBytes(clientId: string | null): number {
  return 2 + 2 + 4 + 2 + (clientId === null ? 0 : Buffer.byteLength(clientId))
}

/**
 * Writes the size prefix and request header at the start of `buf`; returns the body's offset.
 * `frameBytes` is the whole frame's length when `buf` is only its first chunk.
 */
export function writeRequestHeader(buf: Buffer, header: Omit<RequestHeader, 'bodyOffset'>, frameBytes = buf.length): number {
  buf.writeInt32BE(frameBytes - SIZE_PREFIX_BYTES, 0)
  buf.writeInt16BE(header.apiKey, 4)
  buf.writeInt16BE(header.apiVersion, 6)
  buf.writeInt32BE(header.correlationId, 8)
  if (header.clientId === null) {
    buf.writeInt16BE(-1, 12)
    return 14
  }
  const length = buf.write(header.clientId, 14, 'utf8')
  buf.writeInt16BE(length, 12)
  return 14 + length
}

/** Reads a request header from a frame body (no size prefix). Malformed -> INVALID_REQUEST. */
export function readRequestHeader(frame: Buffer): RequestHeader {
  const r = new Reader(frame, { errorName: 'INVALID_REQUEST' })
  const apiKey = r.int16()
  const apiVersion = r.int16()
  const correlationId = r.int32()
  const clientIdLength = frame.length >= 10 ? frame.readInt16BE(8) : 0
  if (clientIdLength > CLIENT_ID_BYTES_MAX) r.fail(`Client id of ${clientIdLength} bytes is longer than ${CLIENT_ID_BYTES_MAX}.`)
  const clientId = r.string16()
  return { apiKey, apiVersion, correlationId, clientId, bodyOffset: r.pos }
}

export const RESPONSE_HEADER_BYTES = 4

export function writeResponseHeader(buf: Buffer, correlationId: number, frameBytes = buf.length): number {
  buf.writeInt32BE(frameBytes - SIZE_PREFIX_BYTES, 0)
  buf.writeInt32BE(correlationId, 4)
  return 8
}

export function readResponseHeader(frame: Buffer): { correlationId: number; bodyOffset: number } {
  if (frame.length < RESPONSE_HEADER_BYTES) throw new StrandProtocolError('CORRUPT_MESSAGE', 'Response frame is shorter than its header.')
  return { correlationId: frame.readInt32BE(0), bodyOffset: RESPONSE_HEADER_BYTES }
}

/**
 * Splits a byte stream into frame bodies. Chunks are kept as a list and joined only when a frame
 * is complete, so a large frame arriving in many small chunks costs one copy, not a quadratic
 * series of concatenations; a frame inside a single chunk is returned as a view, with no copy.
 */
export class FrameDecoder {
  #frameBytesMax: number
  /** Received bytes not yet returned as frames, oldest first. */
  #chunks: Buffer[] = []
  #bufferedBytes = 0
  /** Size of the frame being assembled, once its prefix has been read; -1 before. */
  #frameBytes = -1
  /** A bad size prefix found after complete frames of the same chunk: those are returned first, then every push throws it. */
  #failure: StrandProtocolError | null = null

  constructor(options: { frameBytesMax?: number } = {}) {
    this.#frameBytesMax = options.frameBytesMax ?? FRAME_BYTES_MAX_DEFAULT
  }

  get bufferedBytes(): number {
    return this.#bufferedBytes
  }

  /** Changes the frame limit from the next size prefix on (the broker raises it once a connection authenticates). */
  set frameBytesMax(bytes: number) {
    this.#frameBytesMax = bytes
  }

  /** True while a frame has begun (some of its prefix or body arrived) and is not complete. */
  get hasPartialFrame(): boolean {
    return this.#frameBytes >= 0 || this.#bufferedBytes > 0
  }

  /**
   * The bad size prefix that ends the stream, once frames before it in the same chunk were
   * returned; the caller answers those, then closes.
   */
  get failure(): StrandProtocolError | null {
    return this.#failure
  }

  /**
   * Returns the frame bodies completed by `chunk`. Throws on a negative or oversized prefix, unless
   * frames came before it in this chunk: they are returned and `failure` is set.
   */
  push(chunk: Buffer): Buffer[] {
    if (this.#failure !== null) throw this.#failure
    if (chunk.length > 0) {
      const last = this.#chunks.at(-1)
      if (last !== undefined && last.length + chunk.length <= COALESCE_CHUNK_BYTES) {
        this.#chunks[this.#chunks.length - 1] = Buffer.concat([last, chunk], last.length + chunk.length)
      } else {
        this.#chunks.push(chunk)
      }
      this.#bufferedBytes += chunk.length
    }
    const frames: Buffer[] = []
    for (;;) {
      if (this.#frameBytes < 0) {
        if (this.#bufferedBytes < SIZE_PREFIX_BYTES) break
        const size = this.#take(SIZE_PREFIX_BYTES).readInt32BE(0)
        if (size < 0 || size > this.#frameBytesMax) {
          const err = new StrandProtocolError('INVALID_REQUEST', `Frame size ${size} is outside 0..${this.#frameBytesMax} bytes.`)
          if (frames.length === 0) throw err
          this.#failure = err
          return frames
        }
        this.#frameBytes = size
      }
      if (this.#bufferedBytes < this.#frameBytes) break
      frames.push(this.#take(this.#frameBytes))
      this.#frameBytes = -1
    }
    return frames
  }

  /** Removes and returns the first `n` buffered bytes (a view when they sit in one chunk). */
  #take(n: number): Buffer {
    this.#bufferedBytes -= n
    const first = this.#chunks[0]
    if (first !== undefined && first.length >= n) {
      if (first.length === n) this.#chunks.shift()
      else this.#chunks[0] = first.subarray(n)
      return first.subarray(0, n)
    }
    const out = Buffer.allocUnsafe(n)
    let filled = 0
    while (filled < n) {
      const c = this.#chunks[0] as Buffer
      const k = Math.min(c.length, n - filled)
      c.copy(out, filled, 0, k)
      filled += k
      if (k === c.length) this.#chunks.shift()
      else this.#chunks[0] = c.subarray(k)
    }
    return out
  }
}

/** FrameReader gives frames at least this large an exact-size buffer of their own, smaller ones a slice of Node's pool. */
const OWN_MEMORY_FRAME_BYTES = 1024

/** FrameReader's buffer for reads between frames: the largest read Node makes by default. */
export const READ_STAGING_BYTES = 64 * 1024

/**
 * Splits a socket's byte stream into frames read straight into their own buffers, for a socket
 * created with Node's `onread` option (`buffer: () => reader.next()`, `callback: (n) =>
 * reader.read(n)`). Reads between frames go into one reused staging buffer, and a frame complete
 * there is copied out; once a frame's size is known and it is not all there, it gets its own
 * buffer and the next reads fill it in place, however many reads that takes.
 *
 * FrameDecoder, on a socket's 'data' events, costs a new buffer per read (Node's) and, for a
 * frame that spans reads, a copy into one more: a follower receives every record twice over that
 * way, and each buffer's memory outside V8's heap counts towards its next forced scavenge. Here a
 * large frame costs one buffer of its size and, apart from what came with its size prefix, no copy.
 */
export class FrameReader {
  readonly #frameBytesMax: number
  readonly #staging: Buffer
  /** Bytes of an incomplete size prefix kept at the start of the staging buffer. */
  #carried = 0
  /** The frame being filled in place, once its size is known; null between frames. */
  #frame: Buffer | null = null
  #filled = 0

  constructor(options: { frameBytesMax?: number; stagingBytes?: number } = {}) {
    this.#frameBytesMax = options.frameBytesMax ?? FRAME_BYTES_MAX_DEFAULT
    this.#staging = Buffer.allocUnsafeSlow(options.stagingBytes ?? READ_STAGING_BYTES)
  }

  /** Where the next read goes: the unfilled rest of the frame being read, or the staging buffer. */
  next(): Buffer {
    return this.#frame !== null ? this.#frame.subarray(this.#filled) : this.#staging.subarray(this.#carried)
  }

  /**
   * Takes `n` bytes just read into the last `next()` buffer; returns the frame bodies they
   * complete. Throws on a negative or oversized size prefix (the stream cannot go on).
   */
  read(n: number): Buffer[] {
    const frame = this.#frame
    if (frame !== null) {
      this.#filled += n
      if (this.#filled < frame.length) return []
      this.#frame = null
      return [frame]
    }
    const staging = this.#staging
    const end = this.#carried + n
    const frames: Buffer[] = []
    let pos = 0
    while (end - pos >= SIZE_PREFIX_BYTES) {
      const size = staging.readInt32BE(pos)
      if (size < 0 || size > this.#frameBytesMax) {
        throw new StrandProtocolError('CORRUPT_MESSAGE', `Frame size ${size} is outside 0..${this.#frameBytesMax} bytes.`)
      }
      const body = pos + SIZE_PREFIX_BYTES
      // Frames that can carry records get memory of their own: a view of records kept later (a
      // follower's append in the read cache, a consumer's messages) then pins nothing else, where a
      // slice of Node's shared pool would be copied out again by unpinned().
      const own = size >= OWN_MEMORY_FRAME_BYTES ? Buffer.allocUnsafeSlow(size) : Buffer.allocUnsafe(size)
      if (end - body >= size) {
        staging.copy(own, 0, body, body + size)
        frames.push(own)
        pos = body + size
        continue
      }
      staging.copy(own, 0, body, end)
      this.#frame = own
      this.#filled = end - body
      pos = end
    }
    this.#carried = end - pos
    if (this.#carried > 0) staging.copyWithin(0, pos, end)
    return frames
  }
}
