// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78): the checksum of Kafka's record batches
// (KIP-32 v2 format), which the Kafka wire listener computes over every produced and fetched batch.
// Node ships only zlib's CRC-32 (a different polynomial), so this is written here, in plain
// JavaScript: slicing-by-16 over one flat table.
//
// The table is 16 rows of 256 int32s (16 KiB, small enough to stay in L1): row k, entry b, is the
// CRC register after byte b followed by k zero bytes. A 16-byte step looks up each byte in the row
// for the number of bytes after it in the step and XORs the 16 entries, so the only serial work
// between steps is the XOR of the register into the step's first four bytes; the other lookups
// overlap. Each choice below was measured (bench/crc32c.ts, `npm run bench:crc`, whose baseline is
// the slicing-by-8 this replaced, ~2x slower at 16 KiB and up) and kept because it won:
//   - one flat table over eight nested ones, and slicing-by-16 over slicing-by-8: one base
//     pointer, half the steps, the same loads per byte;
//   - Int32Array over Uint32Array for the table: no difference once optimized, and the register
//     stays an int32 (no `>>> 0` until the return), never a heap number in the tiers before;
//   - below DATA_VIEW_MIN_BYTES, bytes looked up straight from the Uint8Array; from it on, 32-bit
//     little-endian words read through a DataView (a quarter of the buffer loads). A DataView reads
//     at any alignment, so a batch's CRC range (it starts at byte 21) needs no bytewise head, and
//     it is right on a big-endian host; an Int32Array view was no faster and needs a 4-aligned start;
//   - the tail as one 8-byte and one 4-byte step, then at most 3 single bytes: up to 1.8x on odd
//     lengths (127 B) over 15 single bytes;
//   - each loop in a function of its own, so the one that runs long (wordSteps) is not the one
//     short calls go through: with both loops inside `crc32c`, about 1 process in 10 ran 128 B
//     calls 4x slower for good (V8 seemed left with only the on-stack-replacement code of a long
//     call); split, none did in 20;
//   - no unrolling to 32 bytes a loop iteration: no gain measured in this split form.
//
// `crc32c(buf, previous)` continues a checksum like zlib.crc32: crc32c(b, crc32c(a)) equals
// crc32c(a + b). Verified against RFC 3720 (iSCSI) appendix B.4's vectors, and against the bitwise
// definition at every alignment and length, in test/client/protocol/crc32c.test.ts.

const POLYNOMIAL = 0x82f63b78
/** Bytes per step, and rows in the table (one per byte of a step). */
const STEP_BYTES = 16
/**
 * From this length on the main loop reads words through a DataView. Creating the view costs more
 * than the word reads save below it (10% slower at 512 B), it is a tie at 1 KiB, and from 1.5 KiB
 * on the words win by 4-10%.
 */
const DATA_VIEW_MIN_BYTES = 1024

/** TABLE[k * 256 + b]: the register after byte b then k zero bytes (see the top of the file). */
const TABLE: Int32Array = (() => {
  const table = new Int32Array(STEP_BYTES * 256)
  for (let b = 0; b < 256; b++) {
    let c = b
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLYNOMIAL : c >>> 1
    table[b] = c
  }
  for (let k = 1; k < STEP_BYTES; k++) {
    for (let b = 0; b < 256; b++) {
      const c = table[(k - 1) * 256 + b]!
      table[k * 256 + b] = table[c & 0xff]! ^ (c >>> 8)
    }
  }
  return table
})()

/** The CRC-32C of `buf`, continuing `previous` (the CRC of the bytes before it; 0 to start). */
export function crc32c(buf: Uint8Array, previous = 0): number {
  const stepsEnd = buf.length - (buf.length % STEP_BYTES)
  const crc = buf.length >= DATA_VIEW_MIN_BYTES ? wordSteps(buf, ~previous, stepsEnd) : byteSteps(buf, ~previous, stepsEnd)
  return ~tail(buf, crc, stepsEnd) >>> 0
}

/**
 * The register after buf[0, end), end a multiple of 16, looking bytes up directly. The step is
 * written out here and in wordSteps rather than called: as functions of their own (which V8
 * seemed not to inline) the steps cost up to a tenth of the throughput from 2 KiB on.
 */
function byteSteps(buf: Uint8Array, crc: number, end: number): number {
  const T = TABLE
  for (let i = 0; i < end; i += STEP_BYTES) {
    crc =
      T[3840 + ((crc ^ buf[i]!) & 0xff)]! ^
      T[3584 + (((crc >>> 8) ^ buf[i + 1]!) & 0xff)]! ^
      T[3328 + (((crc >>> 16) ^ buf[i + 2]!) & 0xff)]! ^
      T[3072 + ((crc >>> 24) ^ buf[i + 3]!)]! ^
      T[2816 + buf[i + 4]!]! ^
      T[2560 + buf[i + 5]!]! ^
      T[2304 + buf[i + 6]!]! ^
      T[2048 + buf[i + 7]!]! ^
      T[1792 + buf[i + 8]!]! ^
      T[1536 + buf[i + 9]!]! ^
      T[1280 + buf[i + 10]!]! ^
      T[1024 + buf[i + 11]!]! ^
      T[768 + buf[i + 12]!]! ^
      T[512 + buf[i + 13]!]! ^
      T[256 + buf[i + 14]!]! ^
      T[buf[i + 15]!]!
  }
  return crc
}

/** The register after buf[0, end), end a multiple of 16, reading little-endian words. */
function wordSteps(buf: Uint8Array, crc: number, end: number): number {
  const T = TABLE
  const view = new DataView(buf.buffer, buf.byteOffset, end)
  for (let i = 0; i < end; i += STEP_BYTES) {
    const a = crc ^ view.getInt32(i, true)
    const b = view.getInt32(i + 4, true)
    const c = view.getInt32(i + 8, true)
    const d = view.getInt32(i + 12, true)
    crc =
      T[3840 + (a & 0xff)]! ^
      T[3584 + ((a >>> 8) & 0xff)]! ^
      T[3328 + ((a >>> 16) & 0xff)]! ^
      T[3072 + (a >>> 24)]! ^
      T[2816 + (b & 0xff)]! ^
      T[2560 + ((b >>> 8) & 0xff)]! ^
      T[2304 + ((b >>> 16) & 0xff)]! ^
      T[2048 + (b >>> 24)]! ^
      T[1792 + (c & 0xff)]! ^
      T[1536 + ((c >>> 8) & 0xff)]! ^
      T[1280 + ((c >>> 16) & 0xff)]! ^
      T[1024 + (c >>> 24)]! ^
      T[768 + (d & 0xff)]! ^
      T[512 + ((d >>> 8) & 0xff)]! ^
      T[256 + ((d >>> 16) & 0xff)]! ^
      T[d >>> 24]!
  }
  return crc
}

/** The register after buf[i, buf.length), fewer than 16 bytes: one 8-byte step, one 4-byte step, then bytes. */
function tail(buf: Uint8Array, crc: number, i: number): number {
  const T = TABLE
  if (buf.length - i >= 8) {
    crc =
      T[1792 + ((crc ^ buf[i]!) & 0xff)]! ^
      T[1536 + (((crc >>> 8) ^ buf[i + 1]!) & 0xff)]! ^
      T[1280 + (((crc >>> 16) ^ buf[i + 2]!) & 0xff)]! ^
      T[1024 + ((crc >>> 24) ^ buf[i + 3]!)]! ^
      T[768 + buf[i + 4]!]! ^
      T[512 + buf[i + 5]!]! ^
      T[256 + buf[i + 6]!]! ^
      T[buf[i + 7]!]!
    i += 8
  }
  if (buf.length - i >= 4) {
    crc =
      T[768 + ((crc ^ buf[i]!) & 0xff)]! ^
      T[512 + (((crc >>> 8) ^ buf[i + 1]!) & 0xff)]! ^
      T[256 + (((crc >>> 16) ^ buf[i + 2]!) & 0xff)]! ^
      T[(crc >>> 24) ^ buf[i + 3]!]!
    i += 4
  }
  for (; i < buf.length; i++) crc = T[(crc ^ buf[i]!) & 0xff]! ^ (crc >>> 8)
  return crc
}
