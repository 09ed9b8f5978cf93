// Golden bytes for the group and offset APIs of the Kafka listener. `GroupBytes` is a byte builder
// written from Kafka's protocol guide that deliberately shares nothing with
// client/protocol/kafka/schema.ts: the tests build each expected body field by field with it, so a
// codec bug cannot hide in a shared helper. `golden` is the one check every test makes.
//
// `flexible` picks the compact encodings (uvarint length + 1) and makes `tags()` write a
// tagged-field section; in a classic version `tags()` writes nothing, so a struct's builder can
// end with it in every version.

import type { Test } from 'tap'
import { StrandProtocolError } from '../../../../client/protocol/errors.js'
import { inVersions, KafkaWriter, messageCodec, type FieldSpec, type KafkaStruct, type MessageSpec } from '../../../../client/protocol/kafka/schema.js'

export interface RawTaggedField {
  tag: number
  /** The field's value as it is on the wire. */
  value: Buffer
}

export class GroupBytes {
  readonly flexible: boolean
  /** The body so far, one buffer per call. */
  readonly #parts: Buffer[] = []

  constructor(flexible: boolean) {
    this.flexible = flexible
  }

  #push(b: Buffer): this {
    this.#parts.push(b)
    return this
  }

  int8(v: number): this {
    const b = Buffer.alloc(1)
    b.writeInt8(v)
    return this.#push(b)
  }

  bool(v: boolean): this {
    return this.#push(Buffer.from([v ? 1 : 0]))
  }

  int16(v: number): this {
    const b = Buffer.alloc(2)
    b.writeInt16BE(v)
    return this.#push(b)
  }

  int32(v: number): this {
    const b = Buffer.alloc(4)
    b.writeInt32BE(v)
    return this.#push(b)
  }

  int64(v: bigint): this {
    const b = Buffer.alloc(8)
    b.writeBigInt64BE(v)
    return this.#push(b)
  }

  /** Unsigned LEB128, as compact lengths and tags use. */
  uvarint(v: number): this {
    const out: number[] = []
    let rest = v
    while (rest >= 0x80) {
      out.push((rest % 128) | 0x80)
      rest = Math.floor(rest / 128)
    }
    out.push(rest)
    return this.#push(Buffer.from(out))
  }

  raw(b: Buffer): this {
    return this.#push(b)
  }

  /** A string (null only where the field is nullable): int16 length, or compact. */
  string(s: string | null): this {
    if (s === null) return this.flexible ? this.uvarint(0) : this.int16(-1)
    const utf8 = Buffer.from(s, 'utf8')
    if (this.flexible) this.uvarint(utf8.length + 1)
    else this.int16(utf8.length)
    return this.#push(utf8)
  }

  /** Bytes: int32 length, or compact. */
  bytes(b: Buffer | null): this {
    if (b === null) return this.flexible ? this.uvarint(0) : this.int32(-1)
    if (this.flexible) this.uvarint(b.length + 1)
    else this.int32(b.length)
    return this.#push(b)
  }

  /** An array's element count (null: a null array): int32, or compact. */
  count(n: number | null): this {
    if (n === null) return this.flexible ? this.uvarint(0) : this.int32(-1)
    return this.flexible ? this.uvarint(n + 1) : this.int32(n)
  }

  /** The end of a struct: in a flexible version its tagged fields (in tag order), else nothing. */
  tags(fields: readonly RawTaggedField[] = []): this {
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

// ---------------------------------------------------------------------------------------------
// The check each golden test makes. Only here is the codec under test used, never to build bytes.

/**
 * encode(sample) is `expected`, decode(expected) is `sample` (absent fields at Kafka's defaults),
 * and every strict prefix of `expected` is refused with INVALID_REQUEST.
 */
export function golden(t: Test, spec: MessageSpec, version: number, sample: KafkaStruct, expected: Buffer): void {
  const codec = messageCodec(spec, version)
  const w = new KafkaWriter()
  codec.encode(w, sample)
  const what = `${spec.name} v${version}`
  t.equal(w.toBuffer().toString('hex'), expected.toString('hex'), `${what} encodes to the golden bytes`)
  t.strictSame(codec.decode(expected), sample, `${what} decodes from the golden bytes`)
  const accepted: number[] = []
  for (let cut = 0; cut < expected.length; cut++) {
    try {
      codec.decode(expected.subarray(0, cut))
      accepted.push(cut)
    } catch (err) {
      if (!(err instanceof StrandProtocolError) || err.code !== 'INVALID_REQUEST') accepted.push(cut)
    }
  }
  t.strictSame(accepted, [], `${what}: every truncation is INVALID_REQUEST`)
}

/** decode(body) as the broker sees it. */
export function decodeAsKafka(spec: MessageSpec, version: number, body: Buffer): KafkaStruct {
  return messageCodec(spec, version).decode(body)
}

/** The builder for `spec` at `version` (flexible or classic as the spec says). */
export function bytesFor(spec: MessageSpec, version: number): GroupBytes {
  return new GroupBytes(inVersions(spec.flexibleVersions, version))
}
