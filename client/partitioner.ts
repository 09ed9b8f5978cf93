// Picking a partition for a record, as Kafka's default partitioner does, so that keyed records
// land on the same partitions as they would from a Java (or librdkafka "murmur2_random") producer:
//
// - explicit partition: used as is;
// - keyed record: toPositive(murmur2(keyBytes)) % numPartitions (Utils.murmur2, seed 0x9747b28c);
// - null key: the sticky partitioner (KIP-480): one partition per topic until its batch is
//   closed, then another one chosen at random, so unkeyed records fill few large batches instead
//   of many small ones.

const MURMUR2_SEED = 0x9747b28c
const MURMUR2_M = 0x5bd1e995
const MURMUR2_R = 24

/** Kafka's Utils.murmur2: a signed 32-bit hash, little-endian 4-byte blocks. */
export function murmur2(data: Uint8Array): number {
  const length = data.length
  let h = (MURMUR2_SEED ^ length) | 0
  const blocks = length & ~3
  for (let i = 0; i < blocks; i += 4) {
    let k = (data[i] as number) | ((data[i + 1] as number) << 8) | ((data[i + 2] as number) << 16) | ((data[i + 3] as number) << 24)
    k = Math.imul(k, MURMUR2_M)
    k ^= k >>> MURMUR2_R
    k = Math.imul(k, MURMUR2_M)
    h = Math.imul(h, MURMUR2_M) ^ k
  }
  // Java's switch falls through from 3 to 1.
  const rest = length & 3
  if (rest === 3) h ^= (data[blocks + 2] as number) << 16
  if (rest >= 2) h ^= (data[blocks + 1] as number) << 8
  if (rest >= 1) {
    h ^= data[blocks] as number
    h = Math.imul(h, MURMUR2_M)
  }
  h ^= h >>> 13
  h = Math.imul(h, MURMUR2_M)
  h ^= h >>> 15
  return h | 0
}

/** Kafka's Utils.toPositive: clears the sign bit (not Math.abs, which fails on -2^31). */
export function toPositive(n: number): number {
  return n & 0x7fffffff
}

export function keyBytes(key: Buffer | string): Buffer {
  return typeof key === 'string' ? Buffer.from(key, 'utf8') : key
}

export function partitionForKey(key: Buffer | string, numPartitions: number): number {
  return toPositive(murmur2(keyBytes(key))) % numPartitions
}

/**
 * The sticky choice for unkeyed records, per topic. The producer calls `batchClosed` whenever a
 * batch of a topic is closed (full or sent); if it was the sticky partition, the next unkeyed
 * record picks a new one. The pick waits for that record, which knows the topic's partition count
 * (the producer learns of a closed batch where it does not).
 */
export class StickyPartitioner {
  /** Per topic: the current sticky partition, or -1 once its batch closed (pick another next). */
  readonly #sticky = new Map<string, StickyChoice>()
  /** Injected so tests are deterministic; returns [0, 1). */
  readonly #random: () => number

  constructor(options: { random?: () => number } = {}) {
    this.#random = options.random ?? Math.random
  }

  /** Called per unkeyed record: one map lookup while the choice stands. */
  partition(topic: string, numPartitions: number): number {
    let choice = this.#sticky.get(topic)
    if (choice === undefined) {
      choice = { current: -1, previous: -1 }
      this.#sticky.set(topic, choice)
    }
    if (choice.current >= 0 && choice.current < numPartitions) return choice.current
    choice.current = this.#pick(numPartitions, choice.previous)
    return choice.current
  }

  batchClosed(topic: string, partition: number): void {
    const choice = this.#sticky.get(topic)
    if (choice === undefined || choice.current !== partition) return
    choice.previous = partition
    choice.current = -1
  }

  /** A random partition other than `previous` (when there is another). */
  #pick(numPartitions: number, previous: number): number {
    let p = Math.floor(this.#random() * numPartitions) % numPartitions
    if (numPartitions > 1 && p === previous) p = (p + 1 + Math.floor(this.#random() * (numPartitions - 1))) % numPartitions
    return p
  }
}

interface StickyChoice {
  /** The partition unkeyed records go to; -1 when none is chosen yet or its batch closed. */
  current: number
  /** The partition whose batch closed last, which the next pick avoids; -1 if none. */
  previous: number
}
