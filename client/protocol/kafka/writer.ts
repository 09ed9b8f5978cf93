// The Kafka codec's byte level (schema.ts compiles messages onto it): unsigned varints, which
// compact lengths and tag numbers use (the record format's zigzag varints are not these), and
// KafkaWriter, the growable buffer every compiled writer writes into.

import type { Reader } from '../primitives.js'

/** The longest unsigned varint for a uint32. */
const UVARINT_BYTES_MAX = 5

export function readUvarint(r: Reader): number {
  let result = 0
  for (let i = 0; i < UVARINT_BYTES_MAX; i++) {
    if (r.pos >= r.end) r.fail('Unsigned varint runs past the end of the body.')
    const byte = r.buf[r.pos++] as number
    result += (byte & 0x7f) * 2 ** (7 * i)
    if ((byte & 0x80) === 0) {
      if (result > 0xffffffff) r.fail('Unsigned varint overflows 32 bits.')
      return result
    }
  }
  return r.fail('Unsigned varint is longer than 5 bytes.')
}

export function uvarintSize(value: number): number {
  let size = 1
  while (value >= 0x80) {
    value = Math.floor(value / 128)
    size++
  }
  return size
}

// ---------------------------------------------------------------------------------------------
// The writer: a growable buffer that takes large byte values by reference (a Fetch response's
// record batches are chunks of their own, as on the Strand listener).

/** Byte values at least this long are passed as chunks instead of copied into the frame. */
export const SPLICE_BYTES_MIN = 16 * 1024
const INITIAL_WRITER_BYTES = 512

export class KafkaWriter {
  #buf = Buffer.allocUnsafe(INITIAL_WRITER_BYTES)
  #pos = 0
  /** Completed chunks before #buf's contents, in order. */
  readonly #chunks: Buffer[] = []
  #chunkedBytes = 0

  get length(): number {
    return this.#chunkedBytes + this.#pos
  }

  #room(bytes: number): void {
    if (this.#pos + bytes <= this.#buf.length) return
    const next = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#pos + bytes))
    this.#buf.copy(next, 0, 0, this.#pos)
    this.#buf = next
  }

  int8(v: number): void {
    this.#room(1)
    this.#buf.writeInt8(v, this.#pos)
    this.#pos += 1
  }
  int16(v: number): void {
    this.#room(2)
    this.#buf.writeInt16BE(v, this.#pos)
    this.#pos += 2
  }
  uint16(v: number): void {
    this.#room(2)
    this.#buf.writeUInt16BE(v, this.#pos)
    this.#pos += 2
  }
  int32(v: number): void {
    this.#room(4)
    this.#buf.writeInt32BE(v, this.#pos)
    this.#pos += 4
  }
  int64(v: bigint): void {
    this.#room(8)
    this.#buf.writeBigInt64BE(v, this.#pos)
    this.#pos += 8
  }
  float64(v: number): void {
    this.#room(8)
    this.#buf.writeDoubleBE(v, this.#pos)
    this.#pos += 8
  }
  uvarint(v: number): void {
    this.#room(UVARINT_BYTES_MAX)
    while (v >= 0x80) {
      this.#buf[this.#pos++] = (v & 0x7f) | 0x80
      v = Math.floor(v / 128)
    }
    this.#buf[this.#pos++] = v
  }
  raw(b: Buffer): void {
    if (b.length >= SPLICE_BYTES_MIN) {
      this.#cut()
      this.#chunks.push(b)
      this.#chunkedBytes += b.length
      return
    }
    this.#room(b.length)
    b.copy(this.#buf, this.#pos)
    this.#pos += b.length
  }
  utf8(s: string, bytes: number): void {
    this.#room(bytes)
    this.#buf.write(s, this.#pos, 'utf8')
    this.#pos += bytes
  }

  /** Moves what #buf holds into the chunk list. */
  #cut(): void {
    if (this.#pos === 0) return
    this.#chunks.push(this.#buf.subarray(0, this.#pos))
    this.#chunkedBytes += this.#pos
    this.#buf = Buffer.allocUnsafe(INITIAL_WRITER_BYTES)
    this.#pos = 0
  }

  /** Everything written, as chunks in order; the writer is spent. */
  chunks(): Buffer[] {
    this.#cut()
    return this.#chunks
  }

  /** Everything written, as one buffer. */
  toBuffer(): Buffer {
    const chunks = this.chunks()
    return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)
  }
}
