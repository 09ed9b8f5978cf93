// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78): the checksum of Kafka's record batches
// (KIP-32 v2 format), which the Kafka wire listener (issue 19) must compute and verify. Node ships
// only zlib's CRC-32 (a different polynomial), so this is written here: slicing-by-8, eight
// 256-entry tables built once at load (8 KiB), eight bytes per step, then the tail a byte at a
// time. Measured 228 MiB/s on a 16 MiB buffer (zlib.crc32, native: 1,662 MiB/s, same run, on a
// loaded 2-core machine): enough to start with, not for the listener's full rate (not wired yet).
//
// `crc32c(buf, previous)` continues a checksum like zlib.crc32: crc32c(b, crc32c(a)) equals
// crc32c(a + b). Verified against RFC 3720 (iSCSI) appendix B.4's vectors in
// test/client/protocol/crc32c.test.ts.

const POLYNOMIAL = 0x82f63b78

const TABLES: Uint32Array[] = (() => {
  const tables = Array.from({ length: 8 }, () => new Uint32Array(256))
  const t0 = tables[0]!
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLYNOMIAL : c >>> 1
    t0[n] = c >>> 0
  }
  for (let n = 0; n < 256; n++) {
    let c = t0[n]!
    for (let k = 1; k < 8; k++) {
      c = t0[c & 0xff]! ^ (c >>> 8)
      tables[k]![n] = c >>> 0
    }
  }
  return tables
})()

/** The CRC-32C of `buf`, continuing `previous` (the CRC of the bytes before it; 0 to start). */
export function crc32c(buf: Uint8Array, previous = 0): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = TABLES as [Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array]
  let crc = ~previous >>> 0
  let i = 0
  const end8 = buf.length - (buf.length % 8)
  for (; i < end8; i += 8) {
    const lo = (crc ^ (buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24))) >>> 0
    crc =
      t7[lo & 0xff]! ^
      t6[(lo >>> 8) & 0xff]! ^
      t5[(lo >>> 16) & 0xff]! ^
      t4[lo >>> 24]! ^
      t3[buf[i + 4]!]! ^
      t2[buf[i + 5]!]! ^
      t1[buf[i + 6]!]! ^
      t0[buf[i + 7]!]!
  }
  for (; i < buf.length; i++) crc = t0[(crc ^ buf[i]!) & 0xff]! ^ (crc >>> 8)
  return ~crc >>> 0
}
