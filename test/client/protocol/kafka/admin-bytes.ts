// Expected Kafka wire bytes for the admin APIs' golden tests (CreateTopics, DeleteTopics,
// DescribeConfigs, InitProducerId), written field by field from Kafka's protocol guide and
// deliberately independent of client/protocol/kafka/schema.ts: a test compares the codec
// against this second, plain reading of the encodings, never against itself.
//
//   fixed width      int8, int16, int32, int64 big-endian; bool one byte; uuid 16 bytes
//   string           classic int16 length (-1 null); compact uvarint length+1 (0 null)
//   array            classic int32 count (-1 null);  compact uvarint count+1 (0 null)
//   tagged fields    (flexible structs only) uvarint count, then uvarint tag, uvarint size, value
//
// Also here: the checks each golden test makes (round trip, truncations, a forged count).

import type { Test } from 'tap'
import { StrandProtocolError } from '../../../../client/protocol/errors.js'
import { KafkaWriter, messageCodec, type KafkaStruct, type MessageSpec } from '../../../../client/protocol/kafka/schema.js'

/** A tagged field: its tag, and the bytes of its value written in flexible mode. */
export interface AdminTag {
  readonly tag: number
  readonly value: (b: AdminBytes) => void
}

export class AdminBytes {
  readonly flexible: boolean
  readonly #parts: Buffer[] = []

  constructor(flexible: boolean) {
    this.flexible = flexible
  }

  #push(size: number, write: (buf: Buffer) => void): this {
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
    return this.#push(1, (b) => b.writeInt8(v))
  }
  bool(v: boolean): this {
    return this.int8(v ? 1 : 0)
  }
  int16(v: number): this {
    return this.#push(2, (b) => b.writeInt16BE(v))
  }
  int32(v: number): this {
    return this.#push(4, (b) => b.writeInt32BE(v))
  }
  int64(v: bigint): this {
    return this.#push(8, (b) => b.writeBigInt64BE(v))
  }
  uuid(v: Buffer): this {
    if (v.length !== 16) throw new Error(`A uuid is 16 bytes, not ${v.length}.`)
    return this.raw(v)
  }

  /** Seven bits a byte, least significant group first, the high bit set on all but the last. */
  uvarint(v: number): this {
    const out: number[] = []
    let rest = v
    while (rest >= 0x80) {
      out.push((rest % 0x80) | 0x80)
      rest = Math.floor(rest / 0x80)
    }
    out.push(rest)
    return this.raw(Buffer.from(out))
  }

  /** A string, or null, in this version's form. */
  string(s: string | null): this {
    const utf8 = s === null ? null : Buffer.from(s, 'utf8')
    if (this.flexible) this.uvarint(utf8 === null ? 0 : utf8.length + 1)
    else this.int16(utf8 === null ? -1 : utf8.length)
    return utf8 === null ? this : this.raw(utf8)
  }

  /** An array's element count, or null, in this version's form. */
  count(n: number | null): this {
    if (this.flexible) return this.uvarint(n === null ? 0 : n + 1)
    return this.int32(n === null ? -1 : n)
  }

  /** The end of a struct: nothing in a classic version, the tagged-field section in a flexible one. */
  tags(fields: readonly AdminTag[] = []): this {
    if (!this.flexible) {
      if (fields.length > 0) throw new Error('A classic version has no tagged fields.')
      return this
    }
    this.uvarint(fields.length)
    for (const f of fields) {
      const value = new AdminBytes(true)
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

/** A tag no version of these messages defines: a newer client's field, which decoders skip. */
export const FOREIGN_TAG: AdminTag = { tag: 77, value: (b) => b.int32(0x5eed).string('from a newer client') }

/** An array count no body could hold: the decoder must refuse it before allocating. */
export const ABSURD_COUNT = 0x7ffffff0

export function uuidOf(hex: string): Buffer {
  const b = Buffer.from(hex.replace(/-/g, ''), 'hex')
  if (b.length !== 16) throw new Error(`${hex} is not a uuid.`)
  return b
}

export function encodeWith(spec: MessageSpec, version: number, value: KafkaStruct): Buffer {
  const w = new KafkaWriter()
  messageCodec(spec, version).encode(w, value)
  return w.toBuffer()
}

/** Runs `fn` and says whether it threw StrandProtocolError(INVALID_REQUEST) and nothing else. */
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
 * `expected`, `expected` decodes back to `sample`, and every proper prefix of it is refused.
 */
export function checkGolden(t: Test, spec: MessageSpec, version: number, sample: KafkaStruct, expected: Buffer): void {
  const codec = messageCodec(spec, version)
  t.equal(encodeWith(spec, version, sample).toString('hex'), expected.toString('hex'), `${spec.name} v${version} encodes to the golden bytes`)
  t.strictSame(codec.decode(expected), sample, `${spec.name} v${version} decodes the golden bytes`)
  const accepted: number[] = []
  for (let cut = 0; cut < expected.length; cut++) if (!refusedAsInvalid(() => codec.decode(expected.subarray(0, cut)))) accepted.push(cut)
  t.strictSame(accepted, [], `${spec.name} v${version}: each of its ${expected.length} truncations is INVALID_REQUEST`)
}

/** `bytes` (forged) is refused as INVALID_REQUEST at `version`, and fast. */
export function checkRefused(t: Test, spec: MessageSpec, version: number, bytes: Buffer, what: string): void {
  const started = performance.now()
  t.ok(refusedAsInvalid(() => messageCodec(spec, version).decode(bytes)), `${spec.name} v${version}: ${what} is INVALID_REQUEST`)
  t.ok(performance.now() - started < 500, `${spec.name} v${version}: ${what} is refused at once`)
}
