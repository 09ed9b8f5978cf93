// The type compilers of the Kafka codec (schema.ts walks a MessageSpec and calls these): for
// one primitive type at one (flexible or classic) version, with its nullability, a reader, a
// writer and a default, each a closure built once and run per field per message. schema.ts
// draws the encodings. Reads are bounds-checked by the Reader and never allocate more than the
// input holds; a string longer than Kafka allows is refused, as is any malformed length.

import type { Reader } from '../primitives.js'
import type { BytesValue, FieldSpec, Primitive } from './schema.js'
import { readUvarint, type KafkaWriter } from './writer.js'

export type ReadFn = (r: Reader) => unknown
export type WriteFn = (w: KafkaWriter, v: unknown) => void

const ZERO_UUID = Buffer.alloc(16)
/** Kafka's limit on a string's UTF-8 bytes, classic (int16 length) or compact. */
const STRING_BYTES_MAX = 0x7fff
const EMPTY = Buffer.alloc(0)

export function primitiveDefault(type: string, spec: FieldSpec, nullable: boolean): () => unknown {
  const d = spec.default
  // A `null` default holds in every version, also where the field is absent or not nullable (as
  // in Kafka's generated code): only the versions that carry the field are bound by nullability.
  if (d === null && (nullable || spec.nullableVersions !== undefined)) return () => null
  switch (type) {
    case 'bool':
      return () => (d === undefined ? false : d === true || d === 'true')
    case 'int8':
    case 'int16':
    case 'uint16':
    case 'int32':
    case 'float64': {
      const n = d === undefined ? 0 : Number(d)
      return () => n
    }
    case 'int64': {
      const n = d === undefined ? 0n : BigInt(d as number | bigint | string)
      return () => n
    }
    case 'uuid':
      return () => ZERO_UUID
    case 'string': {
      const s = typeof d === 'string' ? d : ''
      return () => s
    }
    case 'bytes':
      return () => (nullable ? null : Buffer.alloc(0))
    case 'records':
      return () => null
    default:
      throw new Error(`Unknown primitive type ${type}.`)
  }
}

export function lengthOf(r: Reader, flexible: boolean, kind: 'string' | 'bytes' | 'array'): number {
  if (flexible) return readUvarint(r) - 1
  if (kind === 'string') return r.int16()
  return r.int32()
}

export function readPrimitive(type: string, flexible: boolean, nullable: boolean, fieldName: string): ReadFn {
  switch (type) {
    case 'bool':
      return (r) => r.int8() !== 0
    case 'int8':
      return (r) => r.int8()
    case 'int16':
      return (r) => r.int16()
    case 'uint16':
      return (r) => {
        r.need(2)
        const v = r.buf.readUInt16BE(r.pos)
        r.pos += 2
        return v
      }
    case 'int32':
      return (r) => r.int32()
    case 'int64':
      return (r) => r.int64()
    case 'float64':
      return (r) => {
        r.need(8)
        const v = r.buf.readDoubleBE(r.pos)
        r.pos += 8
        return v
      }
    case 'uuid':
      return (r) => r.bytesView(16)
    case 'string':
      return (r) => {
        const length = lengthOf(r, flexible, 'string')
        if (length === -1 && nullable) return null
        if (length < 0) r.fail(`${fieldName}: negative string length ${length}.`)
        // Kafka's strings are at most 0x7fff bytes in every version (a compact length could say
        // more): a longer one accepted here could never be written back at a classic version.
        if (length > STRING_BYTES_MAX) r.fail(`${fieldName}: string of ${length} bytes is longer than ${STRING_BYTES_MAX}.`)
        r.need(length)
        const s = r.buf.toString('utf8', r.pos, r.pos + length)
        r.pos += length
        return s
      }
    case 'bytes':
    case 'records':
      return (r) => {
        const length = lengthOf(r, flexible, 'bytes')
        if (length === -1 && (nullable || type === 'records')) return null
        if (length < 0) r.fail(`${fieldName}: negative bytes length ${length}.`)
        return r.bytesView(length)
      }
    default:
      throw new Error(`Unknown primitive type ${type}.`)
  }
}

function bytesLength(v: BytesValue): number {
  if (v === null) return -1
  if (Buffer.isBuffer(v)) return v.length
  let n = 0
  for (const c of v as readonly Buffer[]) n += c.length
  return n
}

export function writeLength(w: KafkaWriter, flexible: boolean, kind: 'string' | 'bytes' | 'array', length: number): void {
  if (flexible) w.uvarint(length + 1)
  else if (kind === 'string') w.int16(length)
  else w.int32(length)
}

/**
 * `nullable`: whether this version may carry null. Where it may not, a null (or missing) string
 * or bytes value is written empty: a length of -1 there is a body no Kafka reader accepts.
 */
export function writePrimitive(type: string, flexible: boolean, nullable: boolean): WriteFn {
  switch (type) {
    case 'bool':
      return (w, v) => w.int8(v === true ? 1 : 0)
    case 'int8':
      return (w, v) => w.int8(v as number)
    case 'int16':
      return (w, v) => w.int16(v as number)
    case 'uint16':
      return (w, v) => w.uint16(v as number)
    case 'int32':
      return (w, v) => w.int32(v as number)
    case 'int64':
      return (w, v) => w.int64(v as bigint)
    case 'float64':
      return (w, v) => w.float64(v as number)
    case 'uuid':
      return (w, v) => {
        const b = v as Buffer
        if (b.length !== 16) throw new Error(`A uuid is 16 bytes, not ${b.length}.`)
        w.raw(b)
      }
    case 'string':
      return (w, v) => {
        if (v === null || v === undefined) return writeLength(w, flexible, 'string', nullable ? -1 : 0)
        const s = v as string
        const bytes = Buffer.byteLength(s)
        writeLength(w, flexible, 'string', bytes)
        w.utf8(s, bytes)
      }
    case 'bytes':
    case 'records':
      return (w, v) => {
        const value = (v ?? (nullable || type === 'records' ? null : EMPTY)) as BytesValue
        writeLength(w, flexible, 'bytes', bytesLength(value))
        if (value === null) return
        if (Buffer.isBuffer(value)) w.raw(value)
        else for (const c of value as readonly Buffer[]) w.raw(c)
      }
    default:
      throw new Error(`Unknown primitive type ${type}.`)
  }
}

export const PRIMITIVES: ReadonlySet<string> = new Set<Primitive>(['bool', 'int8', 'int16', 'uint16', 'int32', 'int64', 'float64', 'uuid', 'string', 'bytes', 'records'])

/** The least bytes one element of an array of `type` takes: bounds a count before allocating. */
export function elementBytesMin(type: string, flexible: boolean): number {
  switch (type) {
    case 'int8':
    case 'bool':
      return 1
    case 'int16':
    case 'uint16':
      return 2
    case 'int32':
      return 4
    case 'int64':
    case 'float64':
      return 8
    case 'uuid':
      return 16
    case 'string':
      return flexible ? 1 : 2
    case 'bytes':
    case 'records':
      return flexible ? 1 : 4
    default:
      return flexible ? 1 : 0
  }
}
