// A scripted cluster for producer tests without sockets: the part of Cluster the producer uses,
// one topic of two partitions led by node 1, and Produce requests held until the test answers
// (or fails) them, so a test decides exactly when and how each batch is acknowledged. The leader
// epoch its metadata gives the partitions is the test's to move (`leaderEpoch`).

import type { RetryOptions, TopicInfo } from '../../client/cluster.js'
import type { StrandProtocolError } from '../../client/errors.js'
import { ApiKey } from '../../client/protocol/apis.js'
import { errorCodeOf, type WireErrorName } from '../../client/protocol/errors.js'
import type { ProduceRequest, ProduceResponse } from '../../client/protocol/messages/produce.js'
import { readBatchHeader } from '../../client/protocol/records.js'
import { waitFor } from './wait.js'

export const TOPIC = 't'

/** One batch of a Produce request as the leader would see it. */
export interface SentBatch {
  partition: number
  /** The leader epoch the producer sent for the partition (Produce v1). */
  currentLeaderEpoch: number
  producerId: bigint
  baseSequence: number
  recordCount: number
  bytes: Buffer
}

/** A Produce request the test answers when it likes. */
export interface PendingProduce {
  batches: SentBatch[]
  answer: (outcomes: Array<{ error?: WireErrorName; baseOffset?: bigint }>) => void
  fail: (err: Error) => void
}

/** The part of Cluster the producer uses, with Produce requests held for the test to answer. */
export class ScriptedCluster {
  readonly retryOptions: RetryOptions = { retriesMax: 5, retryBackoffMs: 1, retryBackoffMsMax: 2 }
  readonly stale = false
  readonly produces: PendingProduce[] = []
  /** Every batch sent, in send order. */
  readonly sent: SentBatch[] = []
  initProducerIds = 0
  /** What InitProducerId answers with while set. */
  initError: StrandProtocolError | null = null
  /** The leader epoch the metadata gives every partition; a test moves it to stand for a leader change. */
  leaderEpoch = 0
  /** invalidate() calls: how often the producer asked for fresh metadata. */
  invalidations = 0
  #nextProducerId = 100n
  readonly #topic: TopicInfo = {
    name: TOPIC,
    internal: false,
    partitions: [0, 1].map((partition) => ({ partition, leaderId: 1, leaderEpoch: 0, replicas: [1], isr: [1], offlineReplicas: [] })),
  }

  async topic(): Promise<TopicInfo> {
    return this.#topic
  }

  cachedTopic(): TopicInfo {
    return this.#topic
  }

  cachedLeader(): number {
    return 1
  }

  cachedLeaderEpoch(): number {
    return this.leaderEpoch
  }

  invalidate(): void {
    this.invalidations++
  }

  async refresh(): Promise<void> {}

  retry<T>(attempt: (retry: number) => Promise<T>): Promise<T> {
    return attempt(0)
  }

  async requestAny(apiKey: number): Promise<unknown> {
    if (apiKey !== ApiKey.InitProducerId) throw new Error(`unexpected request ${apiKey}`)
    this.initProducerIds++
    if (this.initError !== null) throw this.initError
    return { throttleTimeMs: 0, errorCode: 0, producerId: this.#nextProducerId++, producerEpoch: 0 }
  }

  connectionTo(): { request: (apiKey: number, body: ProduceRequest) => Promise<ProduceResponse> } {
    return {
      request: (apiKey, body) => {
        if (apiKey !== ApiKey.Produce) throw new Error(`unexpected request ${apiKey}`)
        const batches = body.topics.flatMap((tp) =>
          tp.partitions.map((p) => {
            const h = readBatchHeader(p.records)
            return { partition: p.index, currentLeaderEpoch: p.currentLeaderEpoch, producerId: h.producerId, baseSequence: h.baseSequence, recordCount: h.recordCount, bytes: Buffer.from(p.records) }
          }),
        )
        this.sent.push(...batches)
        return new Promise<ProduceResponse>((resolve, reject) => {
          this.produces.push({
            batches,
            answer: (outcomes) =>
              resolve({
                throttleTimeMs: 0,
                topics: [
                  {
                    name: TOPIC,
                    partitions: batches.map((b, i) => ({
                      index: b.partition,
                      errorCode: outcomes[i]?.error === undefined ? 0 : errorCodeOf(outcomes[i]!.error!),
                      errorMessage: null,
                      baseOffset: outcomes[i]?.baseOffset ?? -1n,
                      logAppendTimeMs: -1n,
                      logStartOffset: 0n,
                    })),
                  },
                ],
              }),
            fail: reject,
          })
        })
      },
    }
  }

  close(): void {}

  /** Waits for the next Produce request and takes it. */
  async nextProduce(): Promise<PendingProduce> {
    await waitFor(() => this.produces.length > 0, { what: 'a Produce request' })
    return this.produces.shift()!
  }
}
