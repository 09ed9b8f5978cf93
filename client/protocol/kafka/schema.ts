// Apache Kafka's wire protocol as data: a message is declared the way Kafka's own JSON message
// definitions declare it (clients/src/main/resources/common/message/*.json: fields with version
// ranges, nullable versions, flexible versions, tagged fields), and compiled here, once per
// (message, version), into a reader and a writer. Nothing is hand-coded per API.
//
// Encodings (Kafka's protocol guide):
//   int8/int16/int32/int64/uint16/float64  big-endian fixed width; bool one byte (0 or 1)
//   uuid      16 bytes
//   string    classic: int16 length (-1 = null) + UTF-8; flexible: uvarint length+1 (0 = null)
//   bytes     classic: int32 length (-1 = null);          flexible: uvarint length+1 (0 = null)
//   records   as bytes (nullable); the value is a record-batch blob
//   array     classic: int32 count (-1 = null);          flexible: uvarint count+1 (0 = null)
//   struct    its fields in order; in a flexible version followed by its tagged fields:
//             uvarint count, then per field uvarint tag, uvarint size, the value
// A field absent from a version decodes to its default (Kafka's: 0, "", false, empty, or the
// declared `default`), and is not written. Unknown tagged fields are skipped, as Kafka does.
//
// Decoding is bounds-checked (a `Reader`): a short or malformed body throws
// StrandProtocolError(INVALID_REQUEST), never a RangeError, and never allocates more than the
// input holds (an array count is checked against the bytes left before anything is built).

import { StrandProtocolError, type WireErrorName } from '../errors.js'
import { Reader } from '../primitives.js'

export type Primitive = 'bool' | 'int8' | 'int16' | 'uint16' | 'int32' | 'int64' | 'float64' | 'uuid' | 'string' | 'bytes' | 'records'

/** One field, as Kafka's JSON declares it (names are camelCase here: they are the object's keys). */
export interface FieldSpec {
  readonly name: string
  /** A primitive, `[]primitive`, a struct's name (with `fields`), or `[]StructName` (with `fields`). */
  readonly type: string
  /** `N+`, `N-M`, `N` or `none`. */
  readonly versions: string
  readonly nullableVersions?: string
  /** Present only as a tagged field in these versions (which must be flexible). */
  readonly taggedVersions?: string
  readonly tag?: number
  readonly default?: number | bigint | string | boolean | null
  readonly fields?: readonly FieldSpec[]
}

export interface MessageSpec {
  readonly name: string
  readonly apiKey: number
  /** 'data': not an API message (the consumer protocol inside the group APIs); its apiKey is -1. */
  readonly type: 'request' | 'response' | 'data'
  readonly validVersions: string
  readonly flexibleVersions: string
  readonly fields: readonly FieldSpec[]
}

/** A decoded message or struct: field name -> value (bigint for int64, Buffer for bytes/uuid). */
export type KafkaStruct = Record<string, unknown>

/** A `records` (or `bytes`) value to encode: one buffer, or its chunks in order (not copied). */
export type BytesValue = Buffer | readonly Buffer[] | null

export interface VersionRange {
  readonly min: number
  /** Infinity for `N+`. */
  readonly max: number
}

export function parseVersions(s: string): VersionRange | null {
  if (s === 'none') return null
  const plus = /^(\d+)\+$/.exec(s)
  if (plus !== null) return { min: Number(plus[1]), max: Infinity }
  const range = /^(\d+)-(\d+)$/.exec(s)
  if (range !== null) return { min: Number(range[1]), max: Number(range[2]) }
  const one = /^(\d+)$/.exec(s)
  if (one !== null) return { min: Number(one[1]), max: Number(one[1]) }
  throw new Error(`Bad version range "${s}".`)
}

export function inVersions(s: string | undefined, version: number): boolean {
  if (s === undefined) return false
  const r = parseVersions(s)
  return r !== null && version >= r.min && version <= r.max
}

// ---------------------------------------------------------------------------------------------
// Unsigned varints (compact lengths and tags), which the record format's zigzag varints are not.

/** The longest unsigned varint for a uint32. */
const UVARINT_BYTES_MAX = 5

function readUvarint(r: Reader): number {
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

function uvarintSize(value: number): number {
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

// ---------------------------------------------------------------------------------------------
// Compilation: per (spec, version), closures for each field.

type ReadFn = (r: Reader) => unknown
type WriteFn = (w: KafkaWriter, v: unknown) => void

interface CompiledField {
  readonly name: string
  readonly read: ReadFn
  readonly write: WriteFn
  readonly defaultValue: () => unknown
  /** In a flexible version as a tagged field: its tag. */
  readonly tag: number | null
}

export interface CompiledStruct {
  read(r: Reader): KafkaStruct
  write(w: KafkaWriter, v: KafkaStruct): void
}

const ZERO_UUID = Buffer.alloc(16)
/** Kafka's limit on a string's UTF-8 bytes, classic (int16 length) or compact. */
const STRING_BYTES_MAX = 0x7fff
const EMPTY = Buffer.alloc(0)

function primitiveDefault(type: string, spec: FieldSpec, nullable: boolean): () => unknown {
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

function lengthOf(r: Reader, flexible: boolean, kind: 'string' | 'bytes' | 'array'): number {
  if (flexible) return readUvarint(r) - 1
  if (kind === 'string') return r.int16()
  return r.int32()
}

function readPrimitive(type: string, flexible: boolean, nullable: boolean, fieldName: string): ReadFn {
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

function writeLength(w: KafkaWriter, flexible: boolean, kind: 'string' | 'bytes' | 'array', length: number): void {
  if (flexible) w.uvarint(length + 1)
  else if (kind === 'string') w.int16(length)
  else w.int32(length)
}

/**
 * `nullable`: whether this version may carry null. Where it may not, a null (or missing) string
 * or bytes value is written empty: a length of -1 there is a body no Kafka reader accepts.
 */
function writePrimitive(type: string, flexible: boolean, nullable: boolean): WriteFn {
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

const PRIMITIVES: ReadonlySet<string> = new Set<Primitive>(['bool', 'int8', 'int16', 'uint16', 'int32', 'int64', 'float64', 'uuid', 'string', 'bytes', 'records'])

/** The least bytes one element of an array of `type` takes: bounds a count before allocating. */
function elementBytesMin(type: string, flexible: boolean): number {
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

function compileField(spec: FieldSpec, version: number, flexible: boolean): CompiledField {
  const nullable = inVersions(spec.nullableVersions, version)
  const isArray = spec.type.startsWith('[]')
  const elementType = isArray ? spec.type.slice(2) : spec.type
  const isStruct = !PRIMITIVES.has(elementType)
  if (isStruct && spec.fields === undefined) throw new Error(`Field ${spec.name}: struct type ${elementType} has no fields.`)
  const tag = flexible && inVersions(spec.taggedVersions, version) ? (spec.tag ?? null) : null
  if (flexible && inVersions(spec.taggedVersions, version) && spec.tag === undefined) throw new Error(`Field ${spec.name} is tagged without a tag.`)

  let readOne: ReadFn
  let writeOne: WriteFn
  let defaultOne: () => unknown
  if (isStruct) {
    const fields = spec.fields as readonly FieldSpec[]
    const struct = compileStruct(fields, version, flexible)
    readOne = (r) => struct.read(r)
    writeOne = (w, v) => struct.write(w, (v ?? {}) as KafkaStruct)
    defaultOne = () => defaultStruct(fields, version)
  } else {
    readOne = readPrimitive(elementType, flexible, nullable && !isArray, spec.name)
    writeOne = writePrimitive(elementType, flexible, nullable && !isArray)
    defaultOne = primitiveDefault(elementType, spec, nullable && !isArray)
  }
  if (!isArray) return { name: spec.name, read: readOne, write: writeOne, defaultValue: defaultOne, tag }
  const elementMin = elementBytesMin(elementType, flexible)
  const readArray: ReadFn = (r) => {
    const count = lengthOf(r, flexible, 'array')
    if (count === -1 && nullable) return null
    if (count < 0) r.fail(`${spec.name}: negative array length ${count}.`)
    // Every element takes at least elementMin bytes (a struct with no fields takes none in a classic version).
    if (elementMin > 0 && count * elementMin > r.remaining) r.fail(`${spec.name}: ${count} elements cannot fit in ${r.remaining} bytes.`)
    if (elementMin === 0 && count > r.remaining + 1) r.fail(`${spec.name}: ${count} elements in ${r.remaining} bytes.`)
    const out = new Array<unknown>(count)
    for (let i = 0; i < count; i++) out[i] = readOne(r)
    return out
  }
  const writeArray: WriteFn = (w, v) => {
    if (v === null || v === undefined) {
      if (nullable && v === null) return writeLength(w, flexible, 'array', -1)
      return writeLength(w, flexible, 'array', 0)
    }
    const items = v as readonly unknown[]
    writeLength(w, flexible, 'array', items.length)
    for (const item of items) writeOne(w, item)
  }
  return { name: spec.name, read: readArray, write: writeArray, defaultValue: () => ((nullable || spec.nullableVersions !== undefined) && spec.default === null ? null : []), tag }
}

/** A struct's value when absent: every field at its default. */
function defaultStruct(fields: readonly FieldSpec[], version: number): KafkaStruct {
  const out: KafkaStruct = {}
  for (const f of fields) out[f.name] = compileField(f, version, false).defaultValue()
  return out
}

export function compileStruct(fields: readonly FieldSpec[], version: number, flexible: boolean): CompiledStruct {
  const present: CompiledField[] = []
  const tagged = new Map<number, CompiledField>()
  const absent: CompiledField[] = []
  for (const f of fields) {
    const compiled = compileField(f, version, flexible)
    if (compiled.tag !== null) tagged.set(compiled.tag, compiled)
    else if (inVersions(f.versions, version)) present.push(compiled)
    else absent.push(compiled)
  }
  const taggedInOrder = [...tagged.values()].sort((a, b) => (a.tag as number) - (b.tag as number))
  return {
    read(r) {
      const out: KafkaStruct = {}
      for (const f of absent) out[f.name] = f.defaultValue()
      for (const f of taggedInOrder) out[f.name] = f.defaultValue()
      for (const f of present) out[f.name] = f.read(r)
      if (flexible) readTaggedFields(r, tagged, out)
      return out
    },
    write(w, v) {
      for (const f of present) {
        const value = v[f.name]
        f.write(w, value === undefined ? f.defaultValue() : value)
      }
      if (flexible) writeTaggedFields(w, taggedInOrder, v)
    },
  }
}

function readTaggedFields(r: Reader, tagged: ReadonlyMap<number, CompiledField>, out: KafkaStruct): void {
  const count = readUvarint(r)
  let previous = -1
  for (let i = 0; i < count; i++) {
    const tag = readUvarint(r)
    if (tag <= previous) r.fail(`Tagged fields out of order: tag ${tag} after ${previous}.`)
    previous = tag
    const size = readUvarint(r)
    r.need(size)
    const field = tagged.get(tag)
    if (field === undefined) {
      r.pos += size
      continue
    }
    const end = r.pos + size
    const outerEnd = r.end
    r.end = end
    try {
      out[field.name] = field.read(r)
      if (r.pos !== end) r.fail(`Tagged field ${field.name} is ${size} bytes but its value took ${size - (end - r.pos)}.`)
    } finally {
      r.end = outerEnd
    }
  }
}

function isDefault(field: CompiledField, value: unknown): boolean {
  return value === undefined || sameValue(field.defaultValue(), value)
}

/** Deep equality over decoded values (numbers, bigints, strings, Buffers, arrays, structs). */
function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return a.equals(b)
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => sameValue(x, b[i]))
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object' && !Buffer.isBuffer(a) && !Buffer.isBuffer(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)])
    for (const k of keys) if (!sameValue((a as KafkaStruct)[k], (b as KafkaStruct)[k])) return false
    return true
  }
  return false
}

function writeTaggedFields(w: KafkaWriter, taggedInOrder: readonly CompiledField[], v: KafkaStruct): void {
  const toWrite = taggedInOrder.filter((f) => !isDefault(f, v[f.name]))
  w.uvarint(toWrite.length)
  for (const f of toWrite) {
    const inner = new KafkaWriter()
    f.write(inner, v[f.name])
    const bytes = inner.toBuffer()
    w.uvarint(f.tag as number)
    w.uvarint(bytes.length)
    w.raw(bytes)
  }
}

// ---------------------------------------------------------------------------------------------
// Messages.

export interface CompiledMessage {
  readonly spec: MessageSpec
  readonly version: number
  readonly flexible: boolean
  decode(body: Buffer, offset?: number, errorName?: WireErrorName): KafkaStruct
  encode(w: KafkaWriter, v: KafkaStruct): void
}

const compiledCache = new WeakMap<MessageSpec, Map<number, CompiledMessage>>()

/** The codec of `spec` at `version`; compiled once. An unsupported version throws UNSUPPORTED_VERSION. */
export function messageCodec(spec: MessageSpec, version: number): CompiledMessage {
  let byVersion = compiledCache.get(spec)
  if (byVersion === undefined) {
    byVersion = new Map()
    compiledCache.set(spec, byVersion)
  }
  const cached = byVersion.get(version)
  if (cached !== undefined) return cached
  if (!inVersions(spec.validVersions, version)) {
    throw new StrandProtocolError('UNSUPPORTED_VERSION', `${spec.name} version ${version} is not supported (versions ${spec.validVersions}).`)
  }
  const flexible = inVersions(spec.flexibleVersions, version)
  const struct = compileStruct(spec.fields, version, flexible)
  const compiled: CompiledMessage = {
    spec,
    version,
    flexible,
    decode(body, offset = 0, errorName = 'INVALID_REQUEST') {
      const r = new Reader(body, { pos: offset, errorName })
      const v = struct.read(r)
      return v
    },
    encode(w, v) {
      struct.write(w, v)
    },
  }
  byVersion.set(version, compiled)
  return compiled
}

export { readUvarint, uvarintSize }
