// What of a fetched partition's record batches the application gets: the messages at or after the
// fetch offset, without control records and, read_committed, without aborted transactions' records.
// Pure functions over decoded batches; the fetcher (fetcher.ts) calls them on every response, and
// consumer.ts re-exports messagesFrom, which the consumer module has always exported.

import type { FetchAbortedTransactions } from '../protocol/messages/fetch.js'
import { isControlBatch, isTransactionalBatch, type DecodedBatch } from '../protocol/records.js'
import type { ConsumedMessage } from './types.js'

/** A control batch whose record is an abort marker (key: version int16, type int16 0). */
function isAbortMarker(b: DecodedBatch): boolean {
  const key = b.records[0]?.key
  return key !== null && key !== undefined && key.length >= 4 && key.readInt16BE(2) === 0
}

/**
 * The messages of fetched batches at or after `fetchOffset` (a batch comes whole, so its first
 * records may be older). Control batches are never messages. With `aborted` (a read_committed
 * fetch's aborted transactions), the records of those transactions are dropped, as Kafka's
 * consumer does: a producer is aborted from the batch reaching its transaction's first offset
 * until its abort marker.
 */
export function messagesFrom(batches: readonly DecodedBatch[], fetchOffset: bigint, aborted: FetchAbortedTransactions = null): ConsumedMessage[] {
  const out: ConsumedMessage[] = []
  const pending = aborted === null || aborted.length === 0 ? null : [...aborted].sort((a, b) => (a.firstOffset < b.firstOffset ? -1 : a.firstOffset > b.firstOffset ? 1 : 0))
  let next = 0
  const abortedProducers = new Set<bigint>()
  for (const b of batches) {
    if (pending !== null) {
      const lastOffset = b.header.baseOffset + BigInt(b.header.lastOffsetDelta)
      while (next < pending.length && pending[next]!.firstOffset <= lastOffset) abortedProducers.add(pending[next++]!.producerId)
    }
    if (isControlBatch(b.header)) {
      if (abortedProducers.has(b.header.producerId) && isAbortMarker(b)) abortedProducers.delete(b.header.producerId)
      continue
    }
    if (isTransactionalBatch(b.header) && abortedProducers.has(b.header.producerId)) continue
    for (const r of b.records) {
      if (r.offset >= fetchOffset) out.push({ key: r.key, value: r.value, offset: r.offset, timestamp: r.timestamp, headers: r.headers })
    }
  }
  return out
}
