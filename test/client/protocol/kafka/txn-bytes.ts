// Expected Kafka wire bytes for the golden tests of the transactional APIs (AddPartitionsToTxn,
// AddOffsetsToTxn, EndTxn, TxnOffsetCommit) and OffsetsForLeaderEpoch. `TxnBytes` is written from
// Kafka's protocol guide and shares nothing with client/protocol/kafka/schema.ts, so a codec bug
// cannot hide in a helper both sides use; only the checks below run the codec, never to build
// the expected bytes.
//
//   int8/int16/int32/int64  big-endian, fixed width; bool one byte (0 or 1)
//   string   classic: int16 length (-1 null), UTF-8;  compact: uvarint length + 1 (0 null)
//   array    classic: int32 count (-1 null);          compact: uvarint count + 1 (0 null)
//   tags     (flexible structs only) uvarint count, then per field uvarint tag, uvarint size, value
//
// A builder is classic or flexible for the whole body; `tags()` ends a struct and writes nothing
// in a classic version, so a struct's bytes can be written the same way in every version.

import type { Test } from 'tap'
import { StrandProtocolError } from '../../../../client/protocol/errors.js'
import { KafkaWriter, messageCodec, type KafkaStruct, type MessageSpec } from '../../../../client/protocol/kafka/schema.js'

/** A tagged field on the wire: its tag and its value's bytes (written in flexible mode). */
export interface TxnTag {
  readonly tag: number
  readonly value: Buffer
}

export class TxnBytes {
  readonly flexible: boolean
  /** The body so far, a buffer per call. */
  readonly #parts: Buffer[] = []

  constructor(flexible: boolean) {
    this.flexible = flexible
  }

  #fixed(size: number, write: (b: Buffer) => void): this {
    const b = Buffer.alloc(size)
    write(b)
    this.#parts.push(b)
    return this
  }

  raw(b: Buffer): this {
    this.#parts.push(Buffer.from(b))
    return this
  }
  bool(v: boolean): this {
    return this.#fixed(1, (b) => b.writeUInt8(v ? 1 : 0))
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

  /** Unsigned LEB128: seven bits a byte, low group first, the high bit on all but the last. */
  uvarint(v: number): this {
    const out: number[] = []
    let rest = v
    while (rest >= 0x80) {
      out.push((rest & 0x7f) | 0x80)
      rest = Math.floor(rest / 0x80)
    }
    out.push(rest)
    return this.raw(Buffer.from(out))
  }

  string(s: string | null): this {
    if (s === null) return this.flexible ? this.uvarint(0) : this.int16(-1)
    const utf8 = Buffer.from(s, 'utf8')
    if (this.flexible) this.uvarint(utf8.length + 1)
    else this.int16(utf8.length)
    return this.raw(utf8)
  }

  /** An array's element count (null: a null array). */
  count(n: number | null): this {
    if (n === null) return this.flexible ? this.uvarint(0) : this.int32(-1)
    return this.flexible ? this.uvarint(n + 1) : this.int32(n)
  }

  /** An int32 array: its count, then the values. */
  int32s(values: readonly number[]): this {
    this.count(values.length)
    for (const v of values) this.int32(v)
    return this
  }

  /** The end of a struct: its tagged fields in a flexible version, nothing in a classic one. */
  tags(fields: readonly TxnTag[] = []): this {
    if (!this.flexible) {
      if (fields.length > 0) throw new Error('A classic version has no tagged fields.')
      return this
    }
    this.uvarint(fields.length)
    for (const f of fields) this.uvarint(f.tag).uvarint(f.value.length).raw(f.value)
    return this
  }

  build(): Buffer {
    return Buffer.concat(this.#parts)
  }
}

/** A tag none of these messages defines (a newer client's field): decoders skip it. */
export const FOREIGN_TAG: TxnTag = { tag: 91, value: new TxnBytes(true).int32(0x7a11).string('from a newer client').build() }

/** An array count or string length no body could hold: refused before anything is allocated. */
export const ABSURD_COUNT = 0x7ffffff0

/** Whether `fn` threw StrandProtocolError(INVALID_REQUEST), and nothing else. */
function refusedAsInvalid(fn: () => unknown): boolean {
  try {
    fn()
    return false
  } catch (err) {
    return err instanceof StrandProtocolError && err.code === 'INVALID_REQUEST'
  }
}

/**
 * `sample` (every field, those absent from `version` at their defaults) encodes to exactly
 * `expected`, `expected` decodes back to `sample`, and every strict prefix is INVALID_REQUEST.
 */
export function golden(t: Test, spec: MessageSpec, version: number, sample: KafkaStruct, expected: Buffer): void {
  const codec = messageCodec(spec, version)
  const w = new KafkaWriter()
  codec.encode(w, sample)
  const what = `${spec.name} v${version}`
  t.equal(w.toBuffer().toString('hex'), expected.toString('hex'), `${what} encodes to the golden bytes`)
  t.strictSame(codec.decode(expected), sample, `${what} decodes the golden bytes`)
  const accepted: number[] = []
  for (let cut = 0; cut < expected.length; cut++) if (!refusedAsInvalid(() => codec.decode(expected.subarray(0, cut)))) accepted.push(cut)
  t.strictSame(accepted, [], `${what}: each of its ${expected.length} truncations is INVALID_REQUEST`)
}

/** Forged `bytes` are refused INVALID_REQUEST at `version`, and at once (nothing allocated for them). */
export function refused(t: Test, spec: MessageSpec, version: number, bytes: Buffer, what: string): void {
  const started = performance.now()
  t.ok(refusedAsInvalid(() => messageCodec(spec, version).decode(bytes)), `${spec.name} v${version}: ${what} is INVALID_REQUEST`)
  t.ok(performance.now() - started < 500, `${spec.name} v${version}: ${what} is refused at once`)
}

/** decode(bytes) as the broker does it. */
export function decoded(spec: MessageSpec, version: number, bytes: Buffer): KafkaStruct {
  return messageCodec(spec, version).decode(bytes)
}
