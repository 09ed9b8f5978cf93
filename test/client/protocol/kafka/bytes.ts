// A test-side builder of Kafka wire bytes, written from Kafka's protocol guide and independent of
// client/protocol/kafka/schema.ts, so that a golden test compares the codec against a second,
// deliberately plain reading of the encodings rather than against itself:
//
//   int8/int16/int32/int64  big-endian two's complement
//   classic string          int16 length (-1 = null), UTF-8
//   compact string          uvarint length+1 (0 = null), UTF-8
//   classic bytes/records   int32 length (-1 = null)
//   compact bytes/records   uvarint length+1 (0 = null)
//   classic array           int32 count (-1 = null), the elements
//   compact array           uvarint count+1 (0 = null), the elements
//   tagged-field section    uvarint count, then per field: uvarint tag, uvarint size, value bytes
//
// A builder is made for one version's mode (`flexible`); `string`, `bytes`, `count` and `tags`
// pick the classic or compact form from it, and the explicit forms are there for forged input.
// Also here: the assertions every golden test makes, so each test file only lists its versions.

import type { Test } from 'tap'
import { StrandProtocolError } from '../../../../client/protocol/errors.js'
import { KafkaWriter, messageCodec, type KafkaStruct, type MessageSpec } from '../../../../client/protocol/kafka/schema.js'

/** One tagged field to write: its tag and its value, written by `value` in flexible mode. */
export interface TaggedBytes {
  readonly tag: number
  readonly value: (b: Bytes) => void
}

export function tagged(tag: number, value: (b: Bytes) => void): TaggedBytes {
  return { tag, value }
}

export class Bytes {
  readonly flexible: boolean
  readonly #parts: Buffer[] = []

  constructor(options: { flexible: boolean }) {
    this.flexible = options.flexible
  }

  #fixed(size: number, write: (buf: Buffer) => void): this {
    const buf = Buffer.alloc(size)
    write(buf)
    this.#parts.push(buf)
    return this
  }

  raw(buf: Buffer): this {
    this.#parts.push(Buffer.from(buf))
    return this
  }

  int8(v: number): this {
    return this.#fixed(1, (b) => b.writeInt8(v))
  }

  bool(v: boolean): this {
    return this.int8(v ? 1 : 0)
  }

  int16(v: number): this {
    return this.#fixed(2, (b) => b.writeInt16BE(v))
  }

  int32(v: number): this {
    return this.#fixed(4, (b) => b.writeInt32BE(v))
  }

  int64(v: bigint): this {
    return this.#fixed(8, (b) => b.writeBigInt64BE(v))
  }

  uuid(v: Buffer): this {
    if (v.length !== 16) throw new Error(`A uuid is 16 bytes, not ${v.length}.`)
    return this.raw(v)
  }

  /** Unsigned LEB128: seven bits a byte, least significant first, high bit set on all but the last. */
  uvarint(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new Error(`uvarint ${v} is not a uint32.`)
    const out: number[] = []
    let rest = v
    while (rest >= 0x80) {
      out.push((rest % 0x80) | 0x80)
      rest = Math.floor(rest / 0x80)
    }
    out.push(rest)
    return this.raw(Buffer.from(out))
  }

  classicString(s: string | null): this {
    if (s === null) return this.int16(-1)
    const utf8 = Buffer.from(s, 'utf8')
    return this.int16(utf8.length).raw(utf8)
  }

  compactString(s: string | null): this {
    if (s === null) return this.uvarint(0)
    const utf8 = Buffer.from(s, 'utf8')
    return this.uvarint(utf8.length + 1).raw(utf8)
  }

  string(s: string | null): this {
    return this.flexible ? this.compactString(s) : this.classicString(s)
  }

  classicBytes(v: Buffer | null): this {
    if (v === null) return this.int32(-1)
    return this.int32(v.length).raw(v)
  }

  compactBytes(v: Buffer | null): this {
    if (v === null) return this.uvarint(0)
    return this.uvarint(v.length + 1).raw(v)
  }

  /** `bytes` and `records` share an encoding. */
  bytes(v: Buffer | null): this {
    return this.flexible ? this.compactBytes(v) : this.classicBytes(v)
  }

  classicCount(n: number | null): this {
    return this.int32(n === null ? -1 : n)
  }

  compactCount(n: number | null): this {
    return this.uvarint(n === null ? 0 : n + 1)
  }

  /** An array's count (null for a null array). */
  count(n: number | null): this {
    return this.flexible ? this.compactCount(n) : this.classicCount(n)
  }

  /** An array: its count, then `each` per element. */
  array<T>(items: readonly T[] | null, each: (b: this, item: T) => void): this {
    this.count(items === null ? null : items.length)
    for (const item of items ?? []) each(this, item)
    return this
  }

  int32Array(items: readonly number[]): this {
    return this.array(items, (b, v) => b.int32(v))
  }

  int64Array(items: readonly bigint[]): this {
    return this.array(items, (b, v) => b.int64(v))
  }

  stringArray(items: readonly string[]): this {
    return this.array(items, (b, s) => b.string(s))
  }

  /**
   * The end of a struct: in a flexible version its tagged-field section (count, then tag, size,
   * value per field, in the order given), in a classic one nothing (and no tagged fields allowed).
   */
  tags(fields: readonly TaggedBytes[] = []): this {
    if (!this.flexible) {
      if (fields.length > 0) throw new Error('A classic version has no tagged fields.')
      return this
    }
    this.uvarint(fields.length)
    for (const f of fields) {
      const value = new Bytes({ flexible: true })
      f.value(value)
      const bytes = value.build()
      this.uvarint(f.tag).uvarint(bytes.length).raw(bytes)
    }
    return this
  }

  build(): Buffer {
    return Buffer.concat(this.#parts)
  }
}

/** A builder for `version` of a message whose flexible versions start at `flexibleFrom`. */
export function bytesFor(version: number, flexibleFrom: number): Bytes {
  return new Bytes({ flexible: version >= flexibleFrom })
}

/** An unknown tagged field (a tag no version of the message defines yet) to splice into golden bytes. */
export const UNKNOWN_TAG = tagged(99, (b) => b.int32(0x0badf00d).compactString('from a newer client'))

/** A 16-byte uuid from a hex string, for readable samples. */
export function uuid(hex: string): Buffer {
  const b = Buffer.from(hex.replace(/-/g, ''), 'hex')
  if (b.length !== 16) throw new Error(`${hex} is not a uuid.`)
  return b
}

export const ZERO_UUID = Buffer.alloc(16)

export function encode(spec: MessageSpec, version: number, value: KafkaStruct): Buffer {
  const w = new KafkaWriter()
  messageCodec(spec, version).encode(w, value)
  return w.toBuffer()
}

export function decode(spec: MessageSpec, version: number, bytes: Buffer): KafkaStruct {
  return messageCodec(spec, version).decode(bytes)
}

/**
 * `sample` (the decoded form: every field of the message, those absent from `version` at their
 * defaults) encodes to exactly `golden`, and `golden` decodes back to `sample`.
 */
export function checkGolden(t: Test, spec: MessageSpec, version: number, sample: KafkaStruct, golden: Buffer): void {
  const what = `${spec.name} v${version}`
  t.equal(encode(spec, version, sample).toString('hex'), golden.toString('hex'), `${what} encodes to the golden bytes`)
  t.strictSame(decode(spec, version, golden), sample, `${what} decodes the golden bytes`)
}

/** `run` throws StrandProtocolError(INVALID_REQUEST), not a RangeError or any other error. */
export function checkInvalid(t: Test, run: () => unknown, what: string): void {
  let thrown: unknown = null
  try {
    run()
  } catch (err) {
    thrown = err
  }
  if (!(thrown instanceof StrandProtocolError)) {
    t.fail(`${what}: threw ${thrown === null ? 'nothing' : String(thrown)}, not a StrandProtocolError`)
    return
  }
  t.equal(thrown.code, 'INVALID_REQUEST', `${what}: INVALID_REQUEST`)
}

/** Every proper prefix of `golden` (a body cut short anywhere) is refused as INVALID_REQUEST. */
export function checkTruncations(t: Test, spec: MessageSpec, version: number, golden: Buffer): void {
  const codec = messageCodec(spec, version)
  const failures: number[] = []
  for (let length = 0; length < golden.length; length++) {
    try {
      codec.decode(golden.subarray(0, length))
      failures.push(length)
    } catch (err) {
      if (!(err instanceof StrandProtocolError) || err.code !== 'INVALID_REQUEST') failures.push(length)
    }
  }
  t.strictSame(failures, [], `${spec.name} v${version}: each of the ${golden.length} truncations is refused as INVALID_REQUEST`)
}

/** The largest count a forged array header claims: far more elements than any body holds. */
export const ABSURD_COUNT = 0x7ffffff0
