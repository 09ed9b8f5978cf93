// Bounds-checked readers and writers for the primitive wire types: fixed-width big-endian ints,
// zigzag varints (the record format's lengths and deltas), strings and bytes.
//
// Every read checks the buffer's length first and throws a typed error (CORRUPT_MESSAGE by default;
// the frame layer passes INVALID_REQUEST) rather than letting Node throw a RangeError. Decoders
// never allocate more than what the input already holds, so an absurd length is an error, not an
// out-of-memory crash.

import { StrandProtocolError, type WireErrorName } from './errors.js'

/** A view is kept as is while it spans at least 1 / PIN_RATIO_MAX of its buffer's memory (unpinned). */
export const PIN_RATIO_MAX = 2

/**
 * `buf` itself, or an exact-size copy when it is a small view of a much larger buffer. Decoded
 * `bytes` values are views of their frame (avro.ts) and a fetch's records views of the response, so
 * a value kept for long (group member metadata, a cached append, a consumer's records) would keep
 * the whole frame or file read alive: a 50-byte subscription loaded from the log pinned the 1 MiB
 * read it came from.
 */
export function unpinned(buf: Buffer): Buffer {
  if (buf.buffer.byteLength <= buf.length * PIN_RATIO_MAX) return buf
  const copy = Buffer.allocUnsafeSlow(buf.length)
  buf.copy(copy)
  return copy
}

/** The longest zigzag varint for an int32 (5 bytes) and an int64 (10 bytes). */
export const VARINT_BYTES_MAX = 5
export const VARLONG_BYTES_MAX = 10

/** Bytes a zigzag varint of `value` (an int32) takes. */
export function varintSize(value: number): number {
  let v = ((value << 1) ^ (value >> 31)) >>> 0
  let size = 1
  while (v >= 0x80) {
    v >>>= 7
    size++
  }
  return size
}

/** Writes `value` (an int32) as a zigzag varint at `pos`; returns the position after it. */
export function writeVarint(buf: Buffer, pos: number, value: number): number {
  let v = ((value << 1) ^ (value >> 31)) >>> 0
  while (v >= 0x80) {
    buf[pos++] = (v & 0x7f) | 0x80
    v >>>= 7
  }
  buf[pos++] = v
  return pos
}

/** Bytes a zigzag varlong of `value` takes; numbers must be safe integers. */
export function varlongSize(value: number): number {
  if (value >= -0x40000000 && value < 0x40000000) return varintSize(value)
  let v = zigzag64(BigInt(value))
  let size = 1
  while (v >= 0x80n) {
    v >>= 7n
    size++
  }
  return size
}

/** Writes a safe integer as a zigzag varlong at `pos`; returns the position after it. */
export function writeVarlong(buf: Buffer, pos: number, value: number): number {
  if (value >= -0x40000000 && value < 0x40000000) return writeVarint(buf, pos, value)
  let v = zigzag64(BigInt(value))
  while (v >= 0x80n) {
    buf[pos++] = Number(v & 0x7fn) | 0x80
    v >>= 7n
  }
  buf[pos++] = Number(v)
  return pos
}

function zigzag64(v: bigint): bigint {
  return BigInt.asUintN(64, (v << 1n) ^ (v >> 63n))
}

/**
 * A cursor over a buffer whose every read is bounds-checked. Reads past `end` throw
 * `StrandProtocolError(errorName)`, never RangeError.
 */
export class Reader {
  readonly buf: Buffer
  pos: number
  /** Reads may not pass it; a scanner may narrow it to one field's extent and widen it back. */
  end: number
  readonly #errorName: WireErrorName

  constructor(buf: Buffer, options: { pos?: number; end?: number; errorName?: WireErrorName } = {}) {
    this.buf = buf
    this.pos = options.pos ?? 0
    this.end = options.end ?? buf.length
    this.#errorName = options.errorName ?? 'CORRUPT_MESSAGE'
  }

  get remaining(): number {
    return this.end - this.pos
  }

  fail(detail: string): never {
    throw new StrandProtocolError(this.#errorName, detail)
  }

  need(bytes: number): void {
    if (bytes < 0 || this.pos + bytes > this.end) {
      this.fail(`Needed ${bytes} bytes at position ${this.pos} but only ${this.end - this.pos} remain.`)
    }
  }

  int8(): number {
    this.need(1)
    return this.buf.readInt8(this.pos++)
  }

  int16(): number {
    this.need(2)
    const v = this.buf.readInt16BE(this.pos)
    this.pos += 2
    return v
  }

  int32(): number {
    this.need(4)
    const v = this.buf.readInt32BE(this.pos)
    this.pos += 4
    return v
  }

  uint32(): number {
    this.need(4)
    const v = this.buf.readUInt32BE(this.pos)
    this.pos += 4
    return v
  }

  int64(): bigint {
    this.need(8)
    const v = this.buf.readBigInt64BE(this.pos)
    this.pos += 8
    return v
  }

  /** A zigzag varint that must fit an int32. */
  varint(): number {
    let result = 0
    let shift = 0
    for (let i = 0; i < VARINT_BYTES_MAX; i++) {
      if (this.pos >= this.end) this.fail('Varint runs past the end of the buffer.')
      const byte = this.buf[this.pos++] as number
      result |= (byte & 0x7f) << shift
      if ((byte & 0x80) === 0) {
        if (i === VARINT_BYTES_MAX - 1 && byte > 0x0f) this.fail('Varint overflows 32 bits.')
        const u = result >>> 0
        return (u >>> 1) ^ -(u & 1)
      }
      shift += 7
    }
    return this.fail('Varint is longer than 5 bytes.')
  }

  /** A zigzag varlong; values beyond the safe-integer range are rejected as corrupt. */
  varlong(): number {
    let lo = 0
    let shift = 0
    let i = 0
    // Fast path: most varlongs (timestamp deltas, offsets deltas) fit in 28 bits.
    for (; i < 4; i++) {
      if (this.pos >= this.end) this.fail('Varlong runs past the end of the buffer.')
      const byte = this.buf[this.pos++] as number
      lo |= (byte & 0x7f) << shift
      if ((byte & 0x80) === 0) return (lo >>> 1) ^ -(lo & 1)
      shift += 7
    }
    let v = BigInt(lo >>> 0)
    let bigShift = 28n
    for (; i < VARLONG_BYTES_MAX; i++) {
      if (this.pos >= this.end) this.fail('Varlong runs past the end of the buffer.')
      const byte = this.buf[this.pos++] as number
      v |= BigInt(byte & 0x7f) << bigShift
      if ((byte & 0x80) === 0) {
        const signed = (v >> 1n) ^ -(v & 1n)
        if (signed > BigInt(Number.MAX_SAFE_INTEGER) || signed < BigInt(Number.MIN_SAFE_INTEGER)) {
          this.fail('Varlong is outside the safe integer range.')
        }
        return Number(signed)
      }
      bigShift += 7n
    }
    return this.fail('Varlong is longer than 10 bytes.')
  }

  /** `length` bytes as a view (no copy) of the underlying buffer. */
  bytesView(length: number): Buffer {
    this.need(length)
    const v = this.buf.subarray(this.pos, this.pos + length)
    this.pos += length
    return v
  }

  /** A varint-length-prefixed byte string; length -1 means null. */
  varBytes(): Buffer | null {
    const length = this.varint()
    if (length === -1) return null
    if (length < -1) this.fail(`Negative length ${length}.`)
    return this.bytesView(length)
  }

  /** Skips a varint-length-prefixed byte string, checked as `varBytes` reads it but with no view made. */
  skipVarBytes(): void {
    const length = this.varint()
    if (length === -1) return
    if (length < -1) this.fail(`Negative length ${length}.`)
    this.need(length)
    this.pos += length
  }

  /** Skips a varint-length-prefixed string, checked as `varString` reads it (never null). */
  skipVarString(): void {
    const length = this.varint()
    if (length < 0) this.fail(`Negative string length ${length}.`)
    this.need(length)
    this.pos += length
  }

  /** A varint-length-prefixed UTF-8 string (never null). */
  varString(): string {
    const length = this.varint()
    if (length < 0) this.fail(`Negative string length ${length}.`)
    this.need(length)
    const s = this.buf.toString('utf8', this.pos, this.pos + length)
    this.pos += length
    return s
  }

  /** An int16-length-prefixed UTF-8 string; length -1 means null. */
  string16(): string | null {
    const length = this.int16()
    if (length === -1) return null
    if (length < -1) this.fail(`Negative string length ${length}.`)
    this.need(length)
    const s = this.buf.toString('utf8', this.pos, this.pos + length)
    this.pos += length
    return s
  }
}
