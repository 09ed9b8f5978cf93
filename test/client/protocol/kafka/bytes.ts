// A test-side builder of Kafka wire bytes, written from Kafka's protocol guide and independent of
// client/protocol/kafka/schema.ts, so that a golden test compares the codec against a second,
// deliberately plain reading of the encodings rather than against itself:
//
//   int8/int16/int32/int64  big-endian two's complement; bool one byte (0 or 1); uuid 16 bytes
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
// `tags()` ends a struct and writes nothing in a classic version, so a struct's bytes can be
// written the same way in every version.
//
// Also here: the checks every golden test makes (round trip, every truncation, forged input).
// They take the codec under test as a `CodecUnderTest` (codec.ts makes one from a message spec),
// so this file imports nothing of schema.ts and a codec bug cannot hide in a helper both sides use.

import type { Test } from 'tap'
import { StrandProtocolError } from '../../../../client/protocol/errors.js'

/** The largest count a forged array header (or length a string header) claims: far more than any body holds. */
export const ABSURD_COUNT = 0x7ffffff0

/** A forged body must be refused within this long: a decoder that allocated for its counts would not be. */
const REFUSED_WITHIN_MS = 500

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

/** A decoded message: field name to value, as the codec returns it. */
export type DecodedStruct = Record<string, unknown>

/**
 * One version of one message's codec, as the checks below drive it. Handed in by the test
 * (codec.ts's `codecOf`) rather than made here, which keeps this file free of schema.ts.
 */
export interface CodecUnderTest {
  /** How assertions name it: `CreateTopicsRequest v5`. */
  readonly what: string
  encode(value: DecodedStruct): Buffer
  decode(body: Buffer): DecodedStruct
}

/**
 * `sample` (the decoded form: every field of the message, those absent from the version at their
 * defaults) encodes to exactly `golden`, and `golden` decodes back to `sample`.
 */
export function checkGolden(t: Test, codec: CodecUnderTest, sample: DecodedStruct, golden: Buffer): void {
  t.equal(codec.encode(sample).toString('hex'), golden.toString('hex'), `${codec.what} encodes to the golden bytes`)
  t.strictSame(codec.decode(golden), sample, `${codec.what} decodes the golden bytes`)
}

/** Whether `run` threw StrandProtocolError(INVALID_REQUEST), and nothing else. */
function refusedAsInvalid(run: () => unknown): boolean {
  try {
    run()
    return false
  } catch (err) {
    return err instanceof StrandProtocolError && err.code === 'INVALID_REQUEST'
  }
}

/** Every proper prefix of `golden` (a body cut short anywhere) is refused as INVALID_REQUEST. */
export function checkTruncations(t: Test, codec: CodecUnderTest, golden: Buffer): void {
  const accepted: number[] = []
  for (let length = 0; length < golden.length; length++) if (!refusedAsInvalid(() => codec.decode(golden.subarray(0, length)))) accepted.push(length)
  t.strictSame(accepted, [], `${codec.what}: each of its ${golden.length} truncations is INVALID_REQUEST`)
}

/** `checkGolden`, then `checkTruncations` of the same golden bytes. */
export function checkGoldenAndTruncations(t: Test, codec: CodecUnderTest, sample: DecodedStruct, golden: Buffer): void {
  checkGolden(t, codec, sample, golden)
  checkTruncations(t, codec, golden)
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

/** Forged `body` is refused as INVALID_REQUEST, and at once (nothing allocated for what it claims). */
export function checkRefused(t: Test, codec: CodecUnderTest, body: Buffer, what: string): void {
  const started = performance.now()
  checkInvalid(t, () => codec.decode(body), `${codec.what}: ${what}`)
  t.ok(performance.now() - started < REFUSED_WITHIN_MS, `${codec.what}: ${what} is refused at once`)
}
