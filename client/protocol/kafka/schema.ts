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
//
// The byte level (unsigned varints, KafkaWriter) is writer.ts's, and the compilers of each
// primitive type field-types.ts's; this module walks a MessageSpec's fields onto them, with
// version ranges, nullability, defaults and tagged fields, and caches what it compiled.

import { StrandProtocolError, type WireErrorName } from '../errors.js'
import { Reader } from '../primitives.js'
import { elementBytesMin, lengthOf, PRIMITIVES, primitiveDefault, readPrimitive, writeLength, writePrimitive, type ReadFn, type WriteFn } from './field-types.js'
import { KafkaWriter, readUvarint } from './writer.js'

export { KafkaWriter, readUvarint, SPLICE_BYTES_MIN, uvarintSize } from './writer.js'

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
// Compilation: per (spec, version), closures for each field.

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
