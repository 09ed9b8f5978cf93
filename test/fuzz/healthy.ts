// The fuzzer's healthy client: a producer (acks=all, idempotent) sending at a steady pace and a
// consumer reading the topic from the start, with the longest time either went without progress.
// At the end every acknowledged record must be read back at its acknowledged offset.

import type { Consumer, Producer, Strand } from '../../client/index.js'
import type { Acked } from '../helpers/replication.js'
import { waitFor } from '../helpers/wait.js'

/** A batch of MESSAGES_PER_SEND every SEND_INTERVAL_MS, at most SENDS_INFLIGHT_MAX outstanding: a steady trickle, not a benchmark. */
const SEND_INTERVAL_MS = 20
const MESSAGES_PER_SEND = 5
const SENDS_INFLIGHT_MAX = 4
const PROGRESS_CHECK_MS = 100

/** The longest time a counter did not move while watched. */
class StallMeter {
  #last = -1
  #lastMovedAt = 0
  #maxMs = 0
  #timer: NodeJS.Timeout | undefined

  start(read: () => number): void {
    this.#last = read()
    this.#lastMovedAt = performance.now()
    this.#timer = setInterval(() => {
      const now = performance.now()
      const v = read()
      if (v !== this.#last) {
        this.#last = v
        this.#lastMovedAt = now
      }
      this.#maxMs = Math.max(this.#maxMs, now - this.#lastMovedAt)
    }, PROGRESS_CHECK_MS)
  }

  stop(): number {
    clearInterval(this.#timer)
    return Math.round(this.#maxMs)
  }
}

export class HealthyClient {
  readonly acked: Acked[] = []
  failedSends = 0
  /** Why the consumer's loop ended early (a non-retriable error), or null: reported as a failure, not thrown at the runner. */
  consumerError: string | null = null
  readonly #producer: Producer
  readonly #topic: string
  readonly #partitions: number
  readonly #consumer: Consumer
  readonly #consuming: Promise<void>
  /** `partition:offset` -> value, for every record the consumer handed out. */
  readonly #seen = new Map<string, string>()
  readonly #strand: Strand
  readonly #inflight = new Set<Promise<void>>()
  readonly #ackStall = new StallMeter()
  readonly #consumeStall = new StallMeter()
  #stopped = false
  #loop: Promise<void> = Promise.resolve()
  #sent = 0

  constructor(producerStrand: Strand, consumerStrand: Strand, options: { topic: string; partitions: number; requestTimeoutMs: number }) {
    this.#topic = options.topic
    this.#partitions = options.partitions
    this.#strand = producerStrand
    this.#producer = producerStrand.producer({ acks: 'all', lingerMs: 2, retries: 100, timeoutMs: options.requestTimeoutMs })
    const consumer = consumerStrand.consumer({ maxWaitMs: 100 })
    consumer.assign(Array.from({ length: options.partitions }, (_, partition) => ({ topic: options.topic, partition, offset: 'earliest' as const })))
    this.#consumer = consumer
    const seen = this.#seen
    this.#consuming = (async () => {
      try {
        for await (const batch of consumer) {
          for (const m of batch.messages) seen.set(`${batch.partition}:${m.offset}`, m.value?.toString() ?? '')
        }
      } catch (err) {
        const e = err as Error & { code?: string }
        this.consumerError = `${e.code ?? e.name}: ${e.message}`
      }
    })()
  }

  get seen(): number {
    return this.#seen.size
  }

  start(): void {
    this.#loop = (async () => {
      while (!this.#stopped) {
        if (this.#inflight.size < SENDS_INFLIGHT_MAX) this.#sendOne()
        await new Promise((resolve) => setTimeout(resolve, SEND_INTERVAL_MS))
      }
    })()
  }

  #sendOne(): void {
    const messages = Array.from({ length: MESSAGES_PER_SEND }, () => {
      const i = this.#sent++
      return { partition: i % this.#partitions, value: `h${i}` }
    })
    const send = this.#producer.sendSettled({ topic: this.#topic, messages }).then(
      (outcomes) => {
        outcomes.forEach((o, i) => {
          if (o.ok) this.acked.push({ partition: o.partition, offset: o.offset, value: messages[i]!.value })
          else this.failedSends++
        })
      },
      () => {
        this.failedSends += messages.length
      },
    )
    this.#inflight.add(send)
    void send.finally(() => this.#inflight.delete(send))
  }

  /** Starts measuring stalls (the fuzzing window). */
  watchStalls(): void {
    this.#ackStall.start(() => this.acked.length)
    this.#consumeStall.start(() => this.#seen.size)
  }

  /** Stops measuring: the longest ack and consume stalls, ms. */
  stalls(): { ackStallMsMax: number; consumeStallMsMax: number } {
    return { ackStallMsMax: this.#ackStall.stop(), consumeStallMsMax: this.#consumeStall.stop() }
  }

  /**
   * Stops producing, waits for the consumer to see every acknowledged record; returns how many it
   * did not, with a few of them (`partition:offset acked value / value read there`).
   */
  async finish(timeoutMs: number): Promise<{ lost: number; examples: string[] }> {
    this.#stopped = true
    await this.#loop
    await Promise.all(this.#inflight)
    await this.#producer.close()
    const missing = (): Acked[] => this.acked.filter((a) => this.#seen.get(`${a.partition}:${a.offset}`) !== a.value)
    await waitFor(() => missing().length === 0, { what: 'every acknowledged record read back', timeoutMs, intervalMs: 50 }).catch(() => undefined)
    const lost = missing()
    const examples = lost.slice(0, 5).map((a) => `${a.partition}:${a.offset} acked ${a.value}, read ${this.#seen.get(`${a.partition}:${a.offset}`) ?? 'nothing'}`)
    if (lost.length > 0) examples.push(...(await this.#positions()))
    // close() ends the loop even while it waits for records that will never come.
    await this.#consumer.close()
    await this.#consuming
    return { lost: lost.length, examples }
  }

  /** Per partition: last acknowledged and last read offsets, the consumer's position, and the partition's state. */
  async #positions(): Promise<string[]> {
    const admin = this.#strand.admin()
    try {
      const md = await admin.metadata([this.#topic]).catch(() => null)
      const out: string[] = []
      for (let p = 0; p < this.#partitions; p++) {
        const acked = this.acked.filter((a) => a.partition === p).reduce((m, a) => (a.offset > m ? a.offset : m), -1n)
        const read = [...this.#seen.keys()].filter((k) => k.startsWith(`${p}:`)).reduce((m, k) => (BigInt(k.slice(k.indexOf(':') + 1)) > m ? BigInt(k.slice(k.indexOf(':') + 1)) : m), -1n)
        const hw = await admin.listOffsets({ topic: this.#topic, partition: p, timestamp: 'latest' }).then((o) => String(o.offset), (err: Error) => err.message)
        const info = md?.topics.find((t) => t.name === this.#topic)?.partitions.find((x) => x.partition === p)
        out.push(`partition ${p}: last acked ${acked}, last read ${read}, consumer position ${String(this.#consumer.position({ topic: this.#topic, partition: p }))}, high watermark ${hw}, leader ${info?.leaderId}, ISR [${info?.isr.join(',')}]`)
      }
      return out
    } finally {
      await admin.close()
    }
  }
}
