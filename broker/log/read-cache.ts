// The tail read cache: the batches most recently appended to each log's active segment, kept in
// memory so the reads that follow an append at once (followers replicating it, consumers at the
// log end) are answered without a file read.
//
// Kafka leans on the OS page cache and sendfile for this. Here every file read is a round trip
// through libuv's thread pool (a few tens of microseconds of latency at best, more when the pool
// is busy with writes) plus a buffer allocation; at the tail, where nearly every fetch reads, that
// was a sizeable share of the brokers' CPU and of replication latency.
//
// One ReadCache per broker bounds the memory of all its logs' tails together (`bytesMax`): it
// keeps chunks in global append order and evicts the oldest first, wherever it belongs. Each log
// has a TailCache over its active segment: a contiguous run of whole appended chunks ending at the
// log end. A read it cannot answer in full from memory (an offset before its first chunk, or a
// cleared cache) goes to the segment files as before, so the cache changes only the speed of a
// read, never its result.
//
// Its size (log.read.cache.bytes, 8 MiB by default) is a GC setting as much as a memory one. The
// reads it serves come within milliseconds of the append, and a chunk it keeps longer than two
// young collections is promoted with its buffer, whose memory outside the heap then goes only
// at a mark-compact. V8 forces a young collection for every ~32 MB of new buffer memory, and a
// broker allocates a byte or two of buffers per byte it appends, so a cache much smaller than that
// lets chunks die young at any throughput. Measured at 480,000 records/s of acks=all (the bench's
// lag workload, 10 s): 32 MiB, 15 mark-compacts per broker (each ~30 ms of incremental marking,
// then a 2-4 ms pause) and a lag p99 of 6-7.5 ms; 16 MiB, 11-13; 8 MiB, 0-1 and 2.4-3.2 ms.

import { unpinned } from '../../client/protocol/primitives.js'

/** A batch within a cached chunk. */
export interface CachedBatch {
  /** Byte position in the chunk. */
  pos: number
  sizeBytes: number
  baseOffset: bigint
  lastOffset: bigint
}

interface Chunk {
  readonly owner: TailCache
  /** Emptied once released, so a dead chunk still queued in ReadCache holds no memory. */
  buf: Buffer
  /** Base offset of its first batch, and last offset of its last. */
  readonly baseOffset: bigint
  readonly lastOffset: bigint
  /** `lastOffset - baseOffset`, as a number (offsets within a chunk are close together). */
  readonly lastRel: number
  /**
   * With more than one batch: each batch's byte position and last offset (relative to
   * `baseOffset`), flattened; null for one batch (position 0, the chunk's own last offset). A chunk
   * lives long enough to be copied by a young GC or promoted, so it is kept to a few objects: with
   * the log's batch objects (each with two bigints) kept here, the cache was most of what a broker's
   * scavenges copied at 10,000 records/s.
   */
  readonly marks: number[] | null
  /** Still held by its owner (false once evicted or its owner was cleared). */
  live: boolean
}

const EMPTY = Buffer.alloc(0)

/** The broker-wide bound on cached bytes, and the order in which chunks are evicted. */
export class ReadCache {
  readonly bytesMax: number
  #bytes = 0
  /** Chunks in append order from `#head` on; dead ones are skipped when they reach the head. */
  #queue: Chunk[] = []
  #head = 0
  /** Reads answered from memory, and reads at a log's active segment that went to the files. */
  hits = 0
  misses = 0

  constructor(bytesMax: number) {
    if (!Number.isSafeInteger(bytesMax) || bytesMax < 0) throw new RangeError(`ReadCache bytesMax must be a non-negative integer, got ${bytesMax}`)
    this.bytesMax = bytesMax
  }

  /** Bytes held by every log's tail now. */
  get bytes(): number {
    return this.#bytes
  }

  /** A new, empty tail for one log. */
  tail(): TailCache {
    return new TailCache(this)
  }

  /** @internal TailCache's: account a chunk and evict the oldest chunks while over the bound. */
  admit(chunk: Chunk): void {
    this.#queue.push(chunk)
    this.#bytes += chunk.buf.length
    while (this.#bytes > this.bytesMax && this.#head < this.#queue.length) {
      const oldest = this.#queue[this.#head] as Chunk
      this.#queue[this.#head] = undefined as unknown as Chunk
      this.#head++
      if (oldest.live) oldest.owner.evictFirst(oldest)
    }
    // Compact the queue once its consumed front outweighs what is left.
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head)
      this.#head = 0
    }
  }

  /** @internal TailCache's: a chunk left its owner (evicted or cleared). */
  release(chunk: Chunk): void {
    chunk.live = false
    this.#bytes -= chunk.buf.length
    chunk.buf = EMPTY
  }
}

/** What a cached read returns; the same shape as a segment read. */
export interface CachedRead {
  records: Buffer
  /** Offset after the last batch returned. */
  nextOffset: bigint
}

/** One log's cached tail: whole appended chunks, contiguous, ending at the log end. */
export class TailCache {
  readonly #cache: ReadCache
  /** Live chunks from `#first` on, in log order. */
  #chunks: Chunk[] = []
  #first = 0

  constructor(cache: ReadCache) {
    this.#cache = cache
  }

  /** The first offset a read can be answered from memory for; null when empty. */
  get firstOffset(): bigint | null {
    const c = this.#chunks[this.#first]
    return c === undefined ? null : c.baseOffset
  }

  /**
   * Records an append that is now on disk: `buf` holds `batches` back to back and follows the
   * previously cached chunk in the log. `buf` must not change afterwards (it is kept, or copied
   * when it is a small view of a larger buffer).
   */
  append(buf: Buffer, batches: readonly CachedBatch[]): void {
    const first = batches[0]
    const last = batches[batches.length - 1]
    if (first === undefined || last === undefined || buf.length > this.#cache.bytesMax || first.pos !== 0 || last.pos + last.sizeBytes !== buf.length) {
      // Too big to keep (or not whole batches back to back): the cache would no longer end at the
      // log end, so it starts again empty.
      this.clear()
      return
    }
    let marks: number[] | null = null
    if (batches.length > 1) {
      marks = []
      for (const b of batches) marks.push(b.pos, Number(b.lastOffset - first.baseOffset))
    }
    // A small view of a large buffer (a follower's records, one partition of a whole fetch response) is copied, not pinned.
    const own = unpinned(buf)
    const chunk: Chunk = { owner: this, buf: own, baseOffset: first.baseOffset, lastOffset: last.lastOffset, lastRel: Number(last.lastOffset - first.baseOffset), marks, live: true }
    this.#chunks.push(chunk)
    this.#cache.admit(chunk)
  }

  /**
   * Whole batches from the one holding `offset` (or the first after it), up to `maxBytes` but at
   * least one batch, none at or past `maxOffset`: exactly what a segment read returns. Null when
   * there is nothing at or after `offset` below `maxOffset`; undefined when the cache does not
   * hold `offset` (the caller reads the files).
   */
  read(offset: bigint, maxBytes: number, maxOffset: bigint): CachedRead | null | undefined {
    const chunks = this.#chunks
    const start = this.#first
    if (start >= chunks.length || offset < chunks[start]!.baseOffset) {
      this.#cache.misses++
      return undefined
    }
    this.#cache.hits++
    // Newest chunk first: readers at the tail are the reason the cache exists.
    let ci = chunks.length - 1
    while (ci > start && chunks[ci]!.baseOffset > offset) ci--
    if (chunks[ci]!.lastOffset < offset) {
      // `offset` is past this chunk's batches: the next chunk's first batch, if any.
      ci++
      if (ci >= chunks.length) return null
    }
    const parts: Buffer[] = []
    let bytes = 0
    let nextOffset = -1n
    for (let firstChunk = true; ci < chunks.length; ci++, firstChunk = false) {
      const chunk = chunks[ci] as Chunk
      // Offsets within a chunk, relative to its base offset, as numbers.
      const fromRel = firstChunk && offset > chunk.baseOffset ? Number(offset - chunk.baseOffset) : 0
      const belowRel = maxOffset > chunk.lastOffset ? Infinity : Number(maxOffset - chunk.baseOffset)
      const n = chunk.marks === null ? 1 : chunk.marks.length / 2
      let bi = 0
      while (bi < n && lastRelOf(chunk, bi) < fromRel) bi++
      const from = posOf(chunk, bi)
      let to = from
      let lastRel = -1
      for (; bi < n; bi++) {
        const rel = lastRelOf(chunk, bi)
        const size = (bi + 1 < n ? posOf(chunk, bi + 1) : chunk.buf.length) - posOf(chunk, bi)
        if (rel >= belowRel || (bytes + (to - from) + size > maxBytes && (bytes > 0 || to > from))) break
        to += size
        lastRel = rel
      }
      if (to > from) {
        parts.push(chunk.buf.subarray(from, to))
        bytes += to - from
        nextOffset = bi === n ? chunk.lastOffset + 1n : chunk.baseOffset + BigInt(lastRel) + 1n
      }
      if (bi < n) break
    }
    if (parts.length === 0) return null
    return { records: parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, bytes), nextOffset }
  }

  /** Drops everything (truncation, a new active segment, close): reads go to the files until the next append. */
  clear(): void {
    for (let i = this.#first; i < this.#chunks.length; i++) this.#cache.release(this.#chunks[i] as Chunk)
    this.#chunks = []
    this.#first = 0
  }

  /** @internal ReadCache's: the broker-wide bound evicts this log's oldest chunk. */
  evictFirst(chunk: Chunk): void {
    if (this.#chunks[this.#first] !== chunk) throw new Error('read cache: an evicted chunk is not its log\'s oldest')
    this.#cache.release(chunk)
    this.#chunks[this.#first] = undefined as unknown as Chunk
    this.#first++
    if (this.#first > 64 && this.#first * 2 > this.#chunks.length) {
      this.#chunks = this.#chunks.slice(this.#first)
      this.#first = 0
    }
  }
}

/** Byte position of a chunk's batch `i`. */
function posOf(chunk: Chunk, i: number): number {
  return chunk.marks === null ? 0 : (chunk.marks[2 * i] as number)
}

/** Last offset of a chunk's batch `i`, relative to the chunk's base offset. */
function lastRelOf(chunk: Chunk, i: number): number {
  return chunk.marks === null ? chunk.lastRel : (chunk.marks[2 * i + 1] as number)
}
