// CRC-32C (client/protocol/crc32c.ts) against RFC 3720 appendix B.4's test vectors, the common
// "123456789" check value, and a bit-at-a-time reference on random buffers of every length class
// (the slicing-by-8 loop and its byte tail), including continuation across splits.

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
