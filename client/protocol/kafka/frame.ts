// Kafka's request and response headers (RequestHeader.json, ResponseHeader.json). The frame
// itself (int32 size, then the body) is the same as Strand's, so the listener reuses
// client/protocol/frame.ts's decoder.
//
//   request header v1  = int16 apiKey, int16 apiVersion, int32 correlationId,
//                        nullable string clientId (int16 length, even in v2)
//   request header v2  = v1, then tagged fields            (flexible API versions)
//   response header v0 = int32 correlationId
//   response header v1 = v0, then tagged fields            (flexible API versions)
// ApiVersions responses always use header v0, so a client that does not know the broker's
// versions yet can read the answer (KIP-511).

import { StrandProtocolError } from '../errors.js'
import { CLIENT_ID_BYTES_MAX } from '../frame.js'
import { Reader } from '../primitives.js'
import { readUvarint } from './schema.js'

export const KAFKA_API_VERSIONS_KEY = 18

export interface KafkaRequestHeader {
  apiKey: number
  apiVersion: number
  correlationId: number
  clientId: string | null
}

/** The fixed part of the header (apiKey, apiVersion, correlationId): readable before the API is known. */
export function readKafkaRequestPrefix(frame: Buffer): Omit<KafkaRequestHeader, 'clientId'> {
  if (frame.length < 8) throw new StrandProtocolError('INVALID_REQUEST', `A request header is at least 8 bytes; this frame has ${frame.length}.`)
  return { apiKey: frame.readInt16BE(0), apiVersion: frame.readInt16BE(2), correlationId: frame.readInt32BE(4) }
}

/** The whole request header; `flexible` says whether the API version uses header v2. Returns the body's offset. */
export function readKafkaRequestHeader(frame: Buffer, flexible: boolean): { header: KafkaRequestHeader; bodyOffset: number } {
  const r = new Reader(frame, { errorName: 'INVALID_REQUEST' })
  const apiKey = r.int16()
  const apiVersion = r.int16()
  const correlationId = r.int32()
  const length = r.int16()
  let clientId: string | null = null
  if (length >= 0) {
    if (length > CLIENT_ID_BYTES_MAX) r.fail(`Client id of ${length} bytes is longer than ${CLIENT_ID_BYTES_MAX}.`)
    r.need(length)
    clientId = frame.toString('utf8', r.pos, r.pos + length)
    r.pos += length
  } else if (length !== -1) r.fail(`Negative client id length ${length}.`)
  if (flexible) skipTaggedFields(r)
  return { header: { apiKey, apiVersion, correlationId, clientId }, bodyOffset: r.pos }
}

function skipTaggedFields(r: Reader): void {
  const count = readUvarint(r)
  for (let i = 0; i < count; i++) {
    readUvarint(r)
    const size = readUvarint(r)
    r.need(size)
    r.pos += size
  }
}

/** A response header: 4 bytes of correlation id, then (header v1) an empty tagged-field section. */
export function kafkaResponseHeader(correlationId: number, headerV1: boolean): Buffer {
  const b = Buffer.allocUnsafe(headerV1 ? 5 : 4)
  b.writeInt32BE(correlationId, 0)
  if (headerV1) b[4] = 0
  return b
}

/** A request header (for clients and tests). */
export function kafkaRequestHeader(header: KafkaRequestHeader, flexible: boolean): Buffer {
  const id = header.clientId === null ? null : Buffer.from(header.clientId)
  const b = Buffer.allocUnsafe(10 + (id?.length ?? 0) + (flexible ? 1 : 0))
  b.writeInt16BE(header.apiKey, 0)
  b.writeInt16BE(header.apiVersion, 2)
  b.writeInt32BE(header.correlationId, 4)
  b.writeInt16BE(id === null ? -1 : id.length, 8)
  let pos = 10
  if (id !== null) pos += id.copy(b, 10)
  if (flexible) b[pos] = 0
  return b
}
