// Compression of a record batch's records block (records.ts): none, gzip, deflate and brotli,
// from node:zlib (Kafka's code 2 is snappy; ours is deflate, which zlib has). Every inflate is
// bounded by BATCH_BYTES_MAX, so a "zip bomb" batch is a CORRUPT_MESSAGE error, not an allocation.

import { promisify } from 'node:util'
import zlib from 'node:zlib'
import { BATCH_BYTES_MAX, type Compression } from './batch-header.js'
import { StrandProtocolError } from './errors.js'

export function compress(kind: Compression, raw: Buffer): Buffer {
  switch (kind) {
    case 'gzip':
      return zlib.gzipSync(raw)
    case 'deflate':
      return zlib.deflateSync(raw)
    case 'brotli':
      return zlib.brotliCompressSync(raw, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 4 } })
    case 'none':
      return raw
  }
}

export function decompress(kind: Compression, packed: Buffer): Buffer {
  const limits = { maxOutputLength: BATCH_BYTES_MAX }
  try {
    switch (kind) {
      case 'gzip':
        return zlib.gunzipSync(packed, limits)
      case 'deflate':
        return zlib.inflateSync(packed, limits)
      case 'brotli':
        return zlib.brotliDecompressSync(packed, limits)
      case 'none':
        return packed
    }
  } catch (err) {
    throw new StrandProtocolError('CORRUPT_MESSAGE', `Cannot decompress ${kind} records: ${(err as Error).message}`, err)
  }
}

const gunzipAsync = promisify(zlib.gunzip)
const inflateAsync = promisify(zlib.inflate)
const brotliDecompressAsync = promisify(zlib.brotliDecompress)

/**
 * Output chunk of an off-loop inflate: each chunk is a callback on the event loop, and zlib's
 * default 16 KiB made a 64 MiB inflate 4096 of them (~50% slower than 256 KiB, measured).
 */
const INFLATE_CHUNK_BYTES = 256 * 1024

export async function decompressAsync(kind: Exclude<Compression, 'none'>, packed: Buffer): Promise<Buffer> {
  const limits = { maxOutputLength: BATCH_BYTES_MAX, chunkSize: INFLATE_CHUNK_BYTES }
  try {
    switch (kind) {
      case 'gzip':
        return await gunzipAsync(packed, limits)
      case 'deflate':
        return await inflateAsync(packed, limits)
      case 'brotli':
        return await brotliDecompressAsync(packed, limits)
    }
  } catch (err) {
    throw new StrandProtocolError('CORRUPT_MESSAGE', `Cannot decompress ${kind} records: ${(err as Error).message}`, err)
  }
}
