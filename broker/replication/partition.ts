// One partition replica on this broker: its log, its leader epoch and its high watermark.
//
// Only the request handlers (through ReplicaManager) call it. With one broker the leader's ISR is
// itself, so the high watermark is the log end offset after each append; the replication issue
// replaces `#advanceHighWatermark` with the minimum log end offset over the ISR.

import assert from 'node:assert/strict'
import { StrandProtocolError } from '../../client/protocol/errors.js'
import { validateBatchRecords, verifyBatches } from '../../client/protocol/records.js'
import type { Log } from '../log/log.js'
import type { TopicConfig } from '../topic-config.js'

export interface AppendResult {
  baseOffset: bigint
  lastOffset: bigint
  logAppendTimeMs: bigint
  logStartOffset: bigint
}

export interface ReadResult {
  records: Buffer
  highWatermark: bigint
  logStartOffset: bigint
}

export class Partition {
  readonly topic: string
  readonly index: number
  readonly log: Log
  /** Topic config in force; changes only through the metadata layer. */
  config: TopicConfig
  /** Bumped on every leader change; stamped into appended batches (KIP-101). */
  leaderEpoch: number
  /** Offsets below it are committed and visible to consumers. */
  #highWatermark: bigint

  constructor(options: { topic: string; index: number; log: Log; config: TopicConfig; leaderEpoch: number }) {
    this.topic = options.topic
    this.index = options.index
    this.log = options.log
    this.config = options.config
    this.leaderEpoch = options.leaderEpoch
    this.#highWatermark = options.log.logEndOffset
  }

  get highWatermark(): bigint {
    return this.#highWatermark
  }

  get logEndOffset(): bigint {
    return this.log.logEndOffset
  }

  get logStartOffset(): bigint {
    return this.log.logStartOffset
  }

  /**
   * The leader's append: check the size limit and that every record parses (Kafka's
   * LogValidator: a valid CRC over garbage records would poison the partition for every
   * consumer), then hand the bytes to the log, which checks bounds and CRCs again before writing
   * and patches offsets and the leader epoch in place. Never re-encodes.
   */
  async appendAsLeader(records: Buffer): Promise<AppendResult> {
    if (records.length > this.config.maxMessageBytes) {
      throw new StrandProtocolError('MESSAGE_TOO_LARGE', `The payload is ${records.length} bytes; max.message.bytes is ${this.config.maxMessageBytes}.`)
    }
    for (const span of verifyBatches(records)) validateBatchRecords(records, span.pos, span.header, span.sizeBytes)
    const appended = await this.log.append(records, { assignOffsets: true, leaderEpoch: this.leaderEpoch })
    this.#advanceHighWatermark()
    return {
      baseOffset: appended.firstOffset,
      lastOffset: appended.lastOffset,
      logAppendTimeMs: BigInt(appended.logAppendTimeMs),
      logStartOffset: this.log.logStartOffset,
    }
  }

  #advanceHighWatermark(): void {
    const next = this.log.logEndOffset
    assert.ok(next >= this.#highWatermark, 'the high watermark never moves backwards')
    this.#highWatermark = next
  }

  /** Reads whole batches from `offset`, never past the high watermark (uncommitted data). */
  async read(offset: bigint, maxBytes: number): Promise<ReadResult> {
    const hw = this.#highWatermark
    const logStartOffset = this.log.logStartOffset
    if (offset < logStartOffset || offset > hw) {
      throw new StrandProtocolError('OFFSET_OUT_OF_RANGE', `Offset ${offset} is outside [${logStartOffset}, ${hw}] of ${this.topic}-${this.index}.`)
    }
    if (offset === hw) return { records: Buffer.alloc(0), highWatermark: hw, logStartOffset }
    const { records } = await this.log.read(offset, maxBytes, { maxOffset: hw })
    return { records, highWatermark: hw, logStartOffset }
  }
}
