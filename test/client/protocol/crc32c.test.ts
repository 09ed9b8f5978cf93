// CRC-32C (client/protocol/crc32c.ts) against RFC 3720 appendix B.4's test vectors, the common
// "123456789" check value, and a bit-at-a-time reference on random buffers of every length class,
// including continuation across splits. The implementation reads 16-byte steps as bytes below
// 1 KiB and as little-endian words through a DataView from 1 KiB on, then an 8-byte step, a 4-byte
// step and single bytes: so every view offset mod 8 meets every length mod 16 on both sides of
// that switch, views end exactly at the end of their ArrayBuffer, and the bytes around a view
// would change the result if they were read.

import t from 'tap'
import { crc32c } from '../../../client/protocol/crc32c.js'
import { Rng, testSeed } from '../../helpers/random.js'

/** The definition, one bit at a time: slow and obviously right. */
function reference(buf: Uint8Array): number {
  let crc = 0xffffffff
  for (const byte of buf) {
    crc ^= byte
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1
  }
  return (crc ^ 0xffffffff) >>> 0
}

t.test('RFC 3720 B.4 test vectors', async (t) => {
  t.equal(crc32c(Buffer.alloc(32)), 0x8a9136aa, '32 bytes of zeroes')
  t.equal(crc32c(Buffer.alloc(32, 0xff)), 0x62a8ab43, '32 bytes of 0xff')
  t.equal(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => i))), 0x46dd794e, '32 incrementing bytes')
  t.equal(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i))), 0x113fdb5c, '32 decrementing bytes')
  const pdu = Buffer.from('01c000000000000000000000000000001400000000000400000000140000001828000000000000000200000000000000', 'hex')
  t.equal(crc32c(pdu), 0xd9963a56, 'an iSCSI read command PDU (48 bytes)')
  t.equal(crc32c(Buffer.from('123456789')), 0xe3069283, 'the check value of "123456789"')
  t.equal(crc32c(Buffer.alloc(0)), 0, 'nothing')
})

t.test(`agrees with the bitwise definition, whole and continued (seed ${testSeed()})`, async (t) => {
  const rng = new Rng(testSeed())
  let mismatches = 0
  for (let round = 0; round < 300; round++) {
    const buf = rng.bytes(rng.pick([rng.int(0, 16), rng.int(0, 200), rng.int(0, 5000)]))
    const expected = reference(buf)
    if (crc32c(buf) !== expected) mismatches++
    const split = rng.int(0, buf.length)
    if (crc32c(buf.subarray(split), crc32c(buf.subarray(0, split))) !== expected) mismatches++
    // A view at an odd offset into a larger buffer reads only its own bytes.
    const padded = Buffer.concat([Buffer.from([0xab]), buf, Buffer.from([0xcd])])
    if (crc32c(padded.subarray(1, 1 + buf.length)) !== expected) mismatches++
  }
  t.equal(mismatches, 0, '900 checksums equal the reference')
})

/** A view of `bytes` at byteOffset `offset` into a fresh ArrayBuffer, with `pad` bytes of 0x5a after it. */
function viewAt(bytes: Uint8Array, offset: number, pad = 3): Uint8Array {
  const backing = new Uint8Array(offset + bytes.length + pad).fill(0x5a)
  backing.set(bytes, offset)
  return backing.subarray(offset, offset + bytes.length)
}

/** The (offset, length) pairs, each view with and without padding after it, whose crc32c differs from the reference. */
function mismatchesAt(rng: Rng, lengths: readonly number[]): string[] {
  const failed: string[] = []
  for (const length of lengths) {
    const bytes = rng.bytes(length)
    const expected = reference(bytes)
    for (let offset = 0; offset < 8; offset++) {
      if (crc32c(viewAt(bytes, offset)) !== expected) failed.push(`offset ${offset} length ${length}`)
      // Ending flush with its ArrayBuffer: a word read past the view would throw or read nothing.
      if (crc32c(viewAt(bytes, offset, 0)) !== expected) failed.push(`offset ${offset} length ${length} (no padding)`)
    }
  }
  return failed
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i)

t.test(`every alignment 0..7 at every length 0..64 (seed ${testSeed()})`, async (t) => {
  const rng = new Rng(testSeed())
  t.same(mismatchesAt(rng, range(0, 64)), [], `${8 * 65 * 2} views equal the reference`)
})

t.test(`every alignment across the switch to word reads at 1 KiB, and beyond (seed ${testSeed()})`, async (t) => {
  const rng = new Rng(testSeed())
  t.same(mismatchesAt(rng, [...range(1000, 1060), ...range(4090, 4110), 65_536 + 13]), [], 'views equal the reference')
})

t.test(`continued across every split near the ends and the switch (seed ${testSeed()})`, async (t) => {
  const rng = new Rng(testSeed())
  const failed: string[] = []
  for (const length of [100, 1023, 1024, 1025, 2083]) {
    const bytes = rng.bytes(length)
    const expected = reference(bytes)
    for (let offset = 0; offset < 8; offset++) {
      const view = viewAt(bytes, offset)
      const splits = new Set([...range(0, 40), ...range(length - 40, length), ...range(1000, 1040), rng.int(0, length)].filter((s) => s >= 0 && s <= length))
      for (const split of splits) {
        if (crc32c(view.subarray(split), crc32c(view.subarray(0, split))) !== expected) failed.push(`length ${length} offset ${offset} split ${split}`)
      }
    }
  }
  t.same(failed, [], 'every continued checksum equals the whole one')
})

t.test('reads only its own bytes, from a Buffer, a Uint8Array or shared memory', async (t) => {
  const bytes = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7 + 3) & 0xff))
  for (const length of [5, 100, 1500]) {
    const expected = reference(bytes.subarray(0, length))
    // Different bytes either side of the view would change a checksum that read them.
    const a = new Uint8Array(length + 16).fill(0x11)
    const b = new Uint8Array(length + 16).fill(0xee)
    a.set(bytes.subarray(0, length), 7)
    b.set(bytes.subarray(0, length), 7)
    t.equal(crc32c(a.subarray(7, 7 + length)), expected, `${length} bytes inside 0x11 padding`)
    t.equal(crc32c(b.subarray(7, 7 + length)), expected, `${length} bytes inside 0xee padding`)
    const shared = new Uint8Array(new SharedArrayBuffer(length + 5))
    shared.set(bytes.subarray(0, length), 5)
    t.equal(crc32c(shared.subarray(5)), expected, `${length} bytes in a SharedArrayBuffer`)
  }
})
