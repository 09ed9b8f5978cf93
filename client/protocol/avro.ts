// Avro schema builders and avsc compilation for the protocol's message bodies.
//
// Schemas are written with the small builders below, which both produce the Avro JSON schema and
// carry its shape at the type level, so each message's TypeScript type is derived from its schema
// (`Value<typeof FetchRequestV0>`): the types come from the code, never from a hand-kept copy.
//
// Deliberate adjustments to avsc's defaults:
// - Avro `long` decodes to a JS `bigint` (offsets and producer ids are int64; a JS number would
//   silently lose precision above 2^53).
// - Array decoding refuses a block count larger than the bytes left, so a forged count cannot make
//   the decoder loop billions of times or allocate a huge array.
// - Varints are checked before avsc uses them: an `int` must fit 32 bits, and a bytes or string
//   length (like an array count) must be an integer within the bytes left. avsc reads an overlong
//   varint of continuation bytes that runs to the buffer's end as NaN (0 * Infinity), and
//   `readFixed(NaN)` passes its bounds check and sets avsc's module-wide buffer pool offset to NaN:
//   from then on every `bytes` value the process decodes comes out empty (found by the protocol
//   fuzzer: one malformed request made a broker refuse every later Produce as CORRUPT_MESSAGE).

import avro from 'avsc'

export type Schema =
  | 'int'
  | 'long'
  | 'string'
  | 'boolean'
  | 'bytes'
  | readonly ['null', Schema]
  | ArraySchema<Schema>
  | RecordSchema<Record<string, Schema>>

export interface ArraySchema<I extends Schema> {
  readonly type: 'array'
  readonly items: I
}

export interface RecordSchema<F extends Record<string, Schema>> {
  readonly type: 'record'
  readonly name: string
  readonly fields: ReadonlyArray<{ name: string; type: Schema }>
  /** Type-level only: the fields as an object, for `Value`. */
  readonly __fields?: F
}

/** The JS value of a schema: what encode takes and decode returns. */
export type Value<S> = S extends 'int'
  ? number
  : S extends 'long'
    ? bigint
    : S extends 'string'
      ? string
      : S extends 'boolean'
        ? boolean
        : S extends 'bytes'
          ? Buffer
          : S extends readonly ['null', infer T]
            ? Value<T> | null
            : S extends ArraySchema<infer I>
              ? Array<Value<I>>
              : S extends RecordSchema<infer F>
                ? { [K in keyof F]: Value<F[K]> }
                : never

export const int = 'int' as const
export const long = 'long' as const
export const string = 'string' as const
export const boolean = 'boolean' as const
export const bytes = 'bytes' as const

export function nullable<T extends Schema>(t: T): readonly ['null', T] {
  return ['null', t] as const
}

export function array<I extends Schema>(items: I): ArraySchema<I> {
  return { type: 'array', items }
}

/** A record whose field order is the order of `fields`' keys: that order is the wire format. */
export function record<F extends Record<string, Schema>>(name: string, fields: F): RecordSchema<F> {
  return { type: 'record', name, fields: Object.entries(fields).map(([n, type]) => ({ name: n, type })) }
}

// avsc's custom long type: the value is unpacked into an 8-byte little-endian buffer.
export const BigIntLong = avro.types.LongType.__with({
  fromBuffer: (buf: Buffer) => buf.readBigInt64LE(0),
  toBuffer: (n: bigint) => {
    const buf = Buffer.allocUnsafe(8)
    buf.writeBigInt64LE(n, 0)
    return buf
  },
  fromJSON: (v: unknown) => BigInt(v as string),
  toJSON: (n: bigint) => n.toString(),
  isValid: (n: unknown) => typeof n === 'bigint' && n >= -(2n ** 63n) && n < 2n ** 63n,
  compare: (a: bigint, b: bigint) => (a === b ? 0 : a < b ? -1 : 1),
})

interface AvscTap {
  buf: Buffer
  pos: number
  readLong(): number
  skipLong(): void
  writeLong(n: number): void
  isValid(): boolean
}

/** Below this magnitude avsc's number varint code is exact (its zigzag value stays under 2^53). */
const LONG_EXACT_AS_NUMBER = 2 ** 52
const LONG_EXACT_AS_BIGINT = BigInt(LONG_EXACT_AS_NUMBER)
type LongMethods = { _read(tap: AvscTap): unknown; _write(tap: AvscTap, value: unknown): void; _isValid(value: unknown): boolean }
const UNPACKED_LONG = BigIntLong as unknown as LongMethods

/**
 * BigIntLong, without the 8-byte buffer avsc's custom longs unpack each value into: a value under
 * 2^52 in magnitude (every offset, timestamp and id in practice) goes through avsc's own number
 * varint code, byte for byte the same encoding; larger ones take the unpacking path. Every Fetch
 * and Produce carries several longs per partition, and their buffers were a tenth of what a broker
 * allocated under load.
 */
export const FastBigIntLong: avro.Type = Object.freeze(
  Object.create(BigIntLong, {
    _read: {
      value(tap: AvscTap): unknown {
        const pos = tap.pos
        const n = tap.readLong()
        if (!tap.isValid()) return undefined
        if (n > -LONG_EXACT_AS_NUMBER && n < LONG_EXACT_AS_NUMBER) return BigInt(n)
        tap.pos = pos
        return UNPACKED_LONG._read(tap)
      },
    },
    _write: {
      value(tap: AvscTap, value: unknown): void {
        if (typeof value === 'bigint' && value > -LONG_EXACT_AS_BIGINT && value < LONG_EXACT_AS_BIGINT) tap.writeLong(Number(value))
        else UNPACKED_LONG._write(tap, value)
      },
    },
  }) as avro.Type,
)

/** Thrown inside avsc's reader; the caller turns it into a typed protocol error. */
export class AvroBoundsError extends Error {
  override readonly name = 'AvroBoundsError'
}

// avsc freezes its type instances, so the bounded reader is a subclass whose prototype method
// replaces ArrayType's, installed through the `typeHook` of forSchema.
const ArrayTypeBase = avro.types.ArrayType as unknown as new (schema: unknown, opts: unknown) => {
  itemsType: { _read(tap: AvscTap): unknown }
}

class BoundedArrayType extends ArrayTypeBase {
  _read(tap: AvscTap): unknown[] {
    const items = this.itemsType
    const out: unknown[] = []
    for (;;) {
      let n = tap.readLong()
      if (!Number.isSafeInteger(n)) throw new AvroBoundsError(`Array block count ${n} is not an integer.`)
      if (n === 0) return out
      if (n < 0) {
        n = -n
        tap.skipLong()
      }
      // Every item of our schemas takes at least one byte.
      const left = tap.buf.length - tap.pos
      if (n > left) throw new AvroBoundsError(`Array block of ${n} items exceeds the ${left} bytes left.`)
      while (n-- > 0) out.push(items._read(tap))
    }
  }
}

const INT32_MIN = -(2 ** 31)
const INT32_MAX = 2 ** 31 - 1

/** Throws unless the varint at the tap's position is a length that fits in the bytes left; consumes nothing. */
function checkLength(tap: AvscTap, what: string): void {
  const pos = tap.pos
  const length = tap.readLong()
  tap.pos = pos
  const left = tap.buf.length - pos
  if (!Number.isSafeInteger(length) || length < 0 || length > left) throw new AvroBoundsError(`A ${what} of length ${length} does not fit the ${left} bytes left.`)
}

type PrimitiveBase = new () => { _read(tap: AvscTap): unknown }

class GuardedIntType extends (avro.types.IntType as unknown as PrimitiveBase) {
  override _read(tap: AvscTap): number {
    const n = tap.readLong()
    if (!Number.isInteger(n) || n < INT32_MIN || n > INT32_MAX) throw new AvroBoundsError(`An int of ${n} does not fit 32 bits.`)
    return n
  }
}

/**
 * `bytes` values at least this long are spliced, not copied, by a splicing encode (encodeSpliced):
 * below it a copy costs less than the extra chunk it would make.
 */
export const SPLICE_BYTES_MIN = 1024

/** Bytes values left out of the body being encoded by encodeSpliced, and where each goes. */
interface Splices {
  at: number[]
  values: Buffer[]
}
/** Set only for the duration of one encodeSpliced call (encoding is synchronous). */
let splicing: Splices | null = null
/** Where encodeSpliced encodes a body that fits, before copying it out (encoding is synchronous). */
const SCRATCH = Buffer.allocUnsafeSlow(64 * 1024)

type BytesBase = new () => { _read(tap: AvscTap): unknown; _write(tap: AvscTap, value: unknown): void }

class GuardedBytesType extends (avro.types.BytesType as unknown as BytesBase) {
  /**
   * A view of the decoded buffer, not a copy (avsc copies): every Produce and Fetch carries its
   * records as one bytes value, and the copies were the largest allocation of a broker under load
   * (a quarter of its buffer bytes, each buffer's memory outside the heap counting towards V8's
   * next forced scavenge). Frames are never reused or written to after decoding, so a view is
   * safe; it keeps its frame alive as long as it lives.
   */
  override _read(tap: AvscTap): unknown {
    checkLength(tap, 'bytes value')
    const length = tap.readLong()
    const start = tap.pos
    tap.pos = start + length
    return tap.buf.subarray(start, start + length)
  }

  override _write(tap: AvscTap, value: unknown): void {
    if (splicing !== null && Buffer.isBuffer(value) && value.length >= SPLICE_BYTES_MIN) {
      tap.writeLong(value.length)
      splicing.at.push(tap.pos)
      splicing.values.push(value)
      return
    }
    super._write(tap, value)
  }
}

class GuardedStringType extends (avro.types.StringType as unknown as PrimitiveBase) {
  override _read(tap: AvscTap): unknown {
    checkLength(tap, 'string')
    return super._read(tap)
  }
}

/** Primitive types with checked varints, shared by every compiled schema (avsc types are immutable). */
const GUARDED_PRIMITIVES = {
  int: new GuardedIntType() as unknown as avro.Type,
  bytes: new GuardedBytesType() as unknown as avro.Type,
  string: new GuardedStringType() as unknown as avro.Type,
}

function typeHook(schema: unknown, opts: unknown): avro.Type | undefined {
  if (typeof schema === 'object' && schema !== null && (schema as { type?: unknown }).type === 'array') {
    return new BoundedArrayType(schema, opts) as unknown as avro.Type
  }
  return undefined
}

/** Compiles a schema with bigint longs and bounded arrays. */
export function compileGuarded(schema: Schema): avro.Type {
  return avro.Type.forSchema(schema as unknown as avro.Schema, {
    registry: { long: FastBigIntLong, ...GUARDED_PRIMITIVES },
    typeHook: typeHook as avro.ForSchemaOptions['typeHook'],
  } as Partial<avro.ForSchemaOptions>)
}

/**
 * Encodes `value` after `headerBytes` reserved bytes, as the chunks of one frame: large `bytes`
 * values (record batches) are not copied into the body but returned as chunks of their own, in
 * their place (the body holds their length prefix), to be written with one writev. The first
 * chunk always starts with the reserved header bytes; `bytes` is the frame's whole length.
 * `sizeHint` is what the body takes besides spliced values; a short guess costs one more attempt.
 */
export function encodeSpliced(type: avro.Type, value: unknown, headerBytes: number, sizeHint: number): { chunks: Buffer[]; bytes: number } {
  const splices: Splices = { at: [], values: [] }
  // The body goes into a reused scratch buffer and is copied out at its exact size: a guess at its
  // size left most of each small frame's buffer unused (over 1 KB per Fetch response), and the
  // memory of Node's buffer pool was used up, and reallocated, that much faster.
  let buf = headerBytes + sizeHint <= SCRATCH.length ? SCRATCH : Buffer.allocUnsafe(headerBytes + sizeHint)
  let end: number
  splicing = splices
  try {
    end = type.encode(value, buf, headerBytes)
    if (end < 0) {
      buf = Buffer.allocUnsafe(buf.length - end)
      splices.at.length = 0
      splices.values.length = 0
      end = type.encode(value, buf, headerBytes)
    }
  } finally {
    splicing = null
  }
  if (buf === SCRATCH) {
    buf = Buffer.allocUnsafe(end)
    SCRATCH.copy(buf, 0, 0, end)
  }
  const chunks: Buffer[] = []
  let bytes = end
  let from = 0
  for (let i = 0; i < splices.at.length; i++) {
    const at = splices.at[i] as number
    const spliced = splices.values[i] as Buffer
    if (at > from) chunks.push(buf.subarray(from, at))
    chunks.push(spliced)
    bytes += spliced.length
    from = at
  }
  if (end > from || chunks.length === 0) chunks.push(buf.subarray(from, end))
  return { chunks, bytes }
}
