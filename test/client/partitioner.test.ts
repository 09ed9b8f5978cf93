// The default partitioner must place keyed records exactly where Kafka's Java client does, so
// topics shared with other clients (and CDC keys by primary key) stay co-partitioned.

import t from 'tap'
import { keyBytes, murmur2, partitionForKey, StickyPartitioner, toPositive } from '../../client/partitioner.js'

// Kafka's own vectors: clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java, testMurmur2.
const KAFKA_MURMUR2_VECTORS: Array<[string, number]> = [
  ['21', -973932308],
  ['foobar', -790332482],
  ['a-little-bit-long-string', -985981536],
  ['a-little-bit-longer-string', -1486304829],
  ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
  ['abc', 479470107],
]

t.test('murmur2 matches Kafka Utils.murmur2 on its test vectors', async (t) => {
  for (const [input, expected] of KAFKA_MURMUR2_VECTORS) t.equal(murmur2(Buffer.from(input)), expected, `murmur2("${input}")`)
})

t.test('murmur2 covers every tail length and non-ASCII bytes', async (t) => {
  // Lengths 0..3 after the 4-byte blocks exercise each case of Java's fall-through switch.
  t.equal(murmur2(Buffer.alloc(0)), 275646681, 'empty input (the seed mixed with length 0)')
  for (const [input] of KAFKA_MURMUR2_VECTORS) t.equal(murmur2(new Uint8Array(Buffer.from(input))), murmur2(Buffer.from(input)), 'Uint8Array and Buffer agree')
  const high = Buffer.from([0xff, 0x80, 0x7f, 0x00, 0xfe])
  t.equal(murmur2(high), murmur2(Buffer.from(high)), 'deterministic on bytes >= 0x80')
  t.ok(Number.isInteger(murmur2(high)) && murmur2(high) >= -(2 ** 31) && murmur2(high) < 2 ** 31, 'a signed 32-bit result')
})

t.test('toPositive clears the sign bit like Kafka (not Math.abs)', async (t) => {
  t.equal(toPositive(-1), 0x7fffffff)
  t.equal(toPositive(-(2 ** 31)), 0)
  t.equal(toPositive(5), 5)
  t.equal(toPositive(-973932308), 1173551340)
})

t.test('a keyed record goes to toPositive(murmur2(key)) % numPartitions', async (t) => {
  for (const [input, hash] of KAFKA_MURMUR2_VECTORS) {
    for (const n of [1, 3, 6, 7, 100]) t.equal(partitionForKey(input, n), toPositive(hash) % n, `"${input}" over ${n} partitions`)
  }
  t.equal(partitionForKey('21', 6), 0)
  t.equal(partitionForKey('foobar', 7), partitionForKey(Buffer.from('foobar'), 7), 'a string key hashes its UTF-8 bytes')
  t.same(keyBytes('é'), Buffer.from([0xc3, 0xa9]), 'UTF-8, not UTF-16 or latin1')
})

/** A seeded sequence in [0, 1), so partition choices are reproducible. */
function sequence(values: number[]): () => number {
  let i = 0
  return () => values[i++ % values.length] as number
}

t.test('the sticky partitioner stays on one partition until its batch closes', async (t) => {
  const sticky = new StickyPartitioner({ random: sequence([0.5, 0.1, 0.9, 0.3]) })
  const first = sticky.partition('orders', 6)
  t.equal(first, 3)
  for (let i = 0; i < 10; i++) t.equal(sticky.partition('orders', 6), first, 'unchanged while the batch is open')
  sticky.batchClosed('orders', (first + 1) % 6)
  t.equal(sticky.partition('orders', 6), first, 'closing a batch of another partition does not move it')
  sticky.batchClosed('orders', first)
  const second = sticky.partition('orders', 6)
  t.not(second, first, 'a closed batch moves it to another partition')
  t.ok(second >= 0 && second < 6)
  t.equal(sticky.partition('other', 6), sticky.partition('other', 6), 'each topic has its own choice')
})

t.test('the sticky partitioner never repeats the closed partition when it has a choice', async (t) => {
  // random() = 0 would pick partition 0 every time; the choice must still move off it.
  const sticky = new StickyPartitioner({ random: () => 0 })
  t.equal(sticky.partition('t', 4), 0)
  for (let i = 0; i < 20; i++) {
    const before = sticky.partition('t', 4)
    sticky.batchClosed('t', before)
    t.not(sticky.partition('t', 4), before)
  }
  const single = new StickyPartitioner({ random: () => 0.99 })
  single.batchClosed('one', single.partition('one', 1))
  t.equal(single.partition('one', 1), 0, 'one partition: always 0')
})

t.test('unkeyed records spread over partitions as batches close', async (t) => {
  let seed = 42
  const sticky = new StickyPartitioner({ random: () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) })
  const seen = new Set<number>()
  for (let i = 0; i < 200; i++) {
    const p = sticky.partition('spread', 8)
    seen.add(p)
    sticky.batchClosed('spread', p)
  }
  t.equal(seen.size, 8, 'every partition gets batches')
})
